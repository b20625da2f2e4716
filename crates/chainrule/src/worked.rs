//! The lesson's worked example 1 as a reusable network: 2 inputs, 2 sigmoid
//! hidden units, 1 sigmoid output, mean squared error, with the lesson's
//! weights (`W1 = [[0.15, 0.20], [0.25, 0.30]]`, `b1 = [0.35, 0.35]`,
//! `W2 = [[0.40, 0.45]]`, `b2 = [0.60]`, input `[0.05, 0.10]`, target 1).
//! It is also benchmark workload W1.

use crate::error::Result;
use crate::float::Float;
use crate::graph::{Graph, ParamId, Var};
use crate::tensor::Tensor;

/// The parameters of the 2-2-1 network (weights stored `[out, in]`).
#[derive(Clone, Copy, Debug)]
pub struct TinyNet {
    pub w1: ParamId,
    pub b1: ParamId,
    pub w2: ParamId,
    pub b2: ParamId,
}

/// Every intermediate value of one forward pass.
#[derive(Clone, Copy, Debug)]
pub struct TinyTrace<'g, F: Float> {
    /// Input `[1, 2]`.
    pub x: Var<'g, F>,
    /// Hidden pre-activation `z1 = x W1ᵀ + b1`, `[1, 2]`.
    pub z1: Var<'g, F>,
    /// Hidden activation `h = σ(z1)`.
    pub h: Var<'g, F>,
    /// Output pre-activation `z2 = h W2ᵀ + b2`, `[1, 1]`.
    pub z2: Var<'g, F>,
    /// Prediction `ŷ = σ(z2)`.
    pub y: Var<'g, F>,
    /// `L = mean((ŷ − t)²)`.
    pub loss: Var<'g, F>,
}

impl TinyNet {
    /// The input of the worked example.
    pub const INPUT: [f64; 2] = [0.05, 0.10];
    /// The target of the worked example.
    pub const TARGET: f64 = 1.0;

    /// Registers the worked example's weights as parameters of `g`.
    pub fn new<F: Float>(g: &mut Graph<F>) -> Result<Self> {
        Ok(TinyNet {
            w1: g.parameter(&Tensor::from_f64(&[0.15, 0.20, 0.25, 0.30], &[2, 2])?),
            b1: g.parameter(&Tensor::from_f64(&[0.35, 0.35], &[2])?),
            w2: g.parameter(&Tensor::from_f64(&[0.40, 0.45], &[1, 2])?),
            b2: g.parameter(&Tensor::from_f64(&[0.60], &[1])?),
        })
    }

    /// The forward pass for input `x` (`[1, 2]`) and target `t` (`[1, 1]`),
    /// keeping every intermediate value.
    pub fn forward<'g, F: Float>(
        &self,
        g: &'g Graph<F>,
        x: &Tensor<F>,
        t: &Tensor<F>,
    ) -> Result<TinyTrace<'g, F>> {
        let x = g.input(x);
        let z1 = x
            .matmul_t(g.param(self.w1)?, false, true)?
            .add(g.param(self.b1)?)?;
        let h = z1.sigmoid();
        let z2 = h
            .matmul_t(g.param(self.w2)?, false, true)?
            .add(g.param(self.b2)?)?;
        let y = z2.sigmoid();
        let loss = y.mse_loss(g.input(t), true)?;
        Ok(TinyTrace {
            x,
            z1,
            h,
            z2,
            y,
            loss,
        })
    }

    /// The worked example's input and target tensors.
    pub fn example_data<F: Float>() -> Result<(Tensor<F>, Tensor<F>)> {
        Ok((
            Tensor::from_f64(&Self::INPUT, &[1, 2])?,
            Tensor::from_f64(&[Self::TARGET], &[1, 1])?,
        ))
    }
}

/// Plain gradient descent on every parameter with a gradient:
/// `θ ← θ − lr · ∂L/∂θ`.
/// Large parameters are updated in parallel blocks (the update is bound by
/// memory bandwidth, which one core does not saturate).
pub fn sgd_update<F: Float>(g: &mut Graph<F>, lr: f64) {
    g.tape.get_mut().descend(F::from_f64(lr));
}

/// One training step of the network (forward, backward, update, clear);
/// returns the loss before the update.
pub fn train_step<F: Float>(
    g: &mut Graph<F>,
    net: &TinyNet,
    x: &Tensor<F>,
    t: &Tensor<F>,
    lr: f64,
) -> Result<F> {
    g.zero_grad();
    let loss = {
        let trace = net.forward(g, x, t)?;
        trace.loss.backward()?;
        trace.loss.item()?
    };
    sgd_update(g, lr);
    g.zero_grad();
    g.clear();
    Ok(loss)
}
