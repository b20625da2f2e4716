//! Fused bias + activation, the way a dense layer ends:
//! `y = act(z + b)`, with the bias row `b` (one value per column) added to
//! every row of `z`, in one pass and one node. Unfused, the same layer
//! takes three: the bias broadcast to `z`'s shape (a copy), the addition
//! and the activation.
//!
//! The bias is a row by definition of the op, not by broadcasting: its
//! shape must be `[n]` or `[1, n]` for a `z` whose last axis has `n`.
//!
//! Gradients (G = ∂L/∂y), through the activation's own backward op so
//! that gradients of gradients work:
//! - `∂z = G ⊙ act'(y)`: `G` (identity), `G · [y > 0]` (ReLU),
//!   `tanh_backward(G, y)`, `sigmoid_backward(G, y)`;
//! - `∂b = Σ_rows ∂z` (`sum_to` the bias's shape).

use crate::error::{Error, ErrorKind, Result};
use crate::float::Float;
use crate::graph::{BackwardCtx, Grads, Var};
use crate::kernels::elementwise::zip_rows;
use crate::ops::activation::{relu, sigmoid};
use crate::ops::Op;

/// The activation fused after the bias.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BiasAct {
    /// `z + b`.
    Identity,
    /// `max(0, z + b)`.
    Relu,
    /// `tanh(z + b)`.
    Tanh,
    /// `σ(z + b)`.
    Sigmoid,
}

impl BiasAct {
    /// `"identity"`, `"relu"`, `"tanh"` or `"sigmoid"`.
    pub fn name(&self) -> &'static str {
        match self {
            BiasAct::Identity => "identity",
            BiasAct::Relu => "relu",
            BiasAct::Tanh => "tanh",
            BiasAct::Sigmoid => "sigmoid",
        }
    }
}

impl<'g, F: Float> Var<'g, F> {
    /// `act(z + b)` with the bias row `b` added to every row of `z` (see
    /// the module doc for the gradients). `b` must be `[n]` or `[1, n]`
    /// where `n` is `z`'s last dimension.
    pub fn bias_act(self, b: Var<'g, F>, act: BiasAct) -> Result<Var<'g, F>> {
        self.check_same_graph(&b, "bias_act")?;
        let (zs, bs) = (self.shape(), b.shape());
        let n = zs.dims().last().copied().unwrap_or(0);
        let is_row = match bs.dims() {
            [m] => *m == n,
            [1, m] => *m == n,
            _ => false,
        };
        if zs.rank() == 0 || !is_row {
            return Err(Error::from(ErrorKind::ShapeMismatch {
                op: "bias_act",
                lhs: zs,
                rhs: bs,
                reason:
                    "the bias must be one row, [n] or [1, n], for an input whose last axis has n",
            }));
        }
        Ok(self
            .graph
            .record(Op::BiasAct(act), &[self, b], zs, |[z, b], out| match act {
                BiasAct::Identity => zip_rows(z, b, out, |x, c| x + c),
                BiasAct::Relu => zip_rows(z, b, out, |x, c| relu(x + c)),
                BiasAct::Tanh => zip_rows(z, b, out, |x, c| (x + c).engine_tanh()),
                BiasAct::Sigmoid => zip_rows(z, b, out, |x, c| sigmoid(x + c)),
            }))
    }
}

/// `(∂z, ∂b) = (G ⊙ act'(y), Σ_rows G ⊙ act'(y))`.
pub(crate) fn bias_act_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    act: BiasAct,
) -> Result<Grads<'g, F>> {
    let (g, y) = (c.grad, c.out);
    let dz = match act {
        BiasAct::Identity => g,
        BiasAct::Relu => g.mul(y.step_mask(0.0))?,
        BiasAct::Tanh => g.tanh_backward_of(y)?,
        BiasAct::Sigmoid => g.sigmoid_backward_of(y)?,
    };
    let db = if c.needs[1] {
        Some(dz.sum_to(c.b.shape())?)
    } else {
        None
    };
    Ok([c.needs[0].then_some(dz), db])
}
