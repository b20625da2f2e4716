//! Activations: sigmoid, tanh, ReLU and leaky ReLU.
//!
//! Sigmoid and tanh save their output and differentiate through a fused
//! backward operation (`sigmoid_backward`, `tanh_backward`, as in PyTorch)
//! which has a backward rule of its own, so fusion and higher-order
//! gradients live together. ReLU's derivative is a constant mask.

use crate::error::Result;
use crate::float::Float;
use crate::graph::{BackwardCtx, Grads, Var};
use crate::kernels::elementwise::zip;
use crate::ops::Op;

/// σ(x) = 1 / (1 + e^−x), evaluated without overflow for large |x|.
#[inline]
pub(crate) fn sigmoid<F: Float>(x: F) -> F {
    if x >= F::zero() {
        F::one() / (F::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (F::one() + e)
    }
}

/// `max(0, x)` as a select, not a branch (it vectorizes, and random signs
/// would mispredict); a NaN stays NaN.
#[inline]
pub(crate) fn relu<F: Float>(x: F) -> F {
    if x < F::zero() {
        F::zero()
    } else {
        x
    }
}

impl<'g, F: Float> Var<'g, F> {
    /// `σ(x) = 1 / (1 + e^−x)`. ∂/∂x = σ(x)(1 − σ(x)) = out · (1 − out).
    pub fn sigmoid(self) -> Var<'g, F> {
        self.unary(Op::Sigmoid, sigmoid)
    }

    /// `tanh x`. ∂/∂x = 1 − tanh²x = 1 − out².
    pub fn tanh(self) -> Var<'g, F> {
        self.unary(Op::Tanh, F::engine_tanh)
    }

    /// `max(0, x)`. ∂/∂x = 1 for x > 0, else 0 (0 at the kink, as PyTorch).
    /// A NaN input stays NaN, so a broken value is never hidden.
    pub fn relu(self) -> Var<'g, F> {
        self.unary(Op::Relu, relu)
    }

    /// `x` for x > 0, else `slope · x`. ∂/∂x = 1 for x > 0, else `slope`.
    pub fn leaky_relu(self, slope: f64) -> Var<'g, F> {
        let s = F::from_f64(slope);
        self.unary(
            Op::LeakyRelu(slope),
            |x| if x > F::zero() { x } else { s * x },
        )
    }

    /// `softplus(x) = ln(1 + eˣ)`, computed as `max(x, 0) + ln(1 + e^−|x|)`
    /// so that it is exact for large |x|. ∂/∂x = σ(x).
    pub fn softplus(self) -> Var<'g, F> {
        self.unary(Op::Softplus, |x| {
            x.max(F::zero()) + (-x.abs()).exp().ln_1p()
        })
    }

    /// 1 where `x > 0`, else `slope`: the derivative of (leaky) ReLU, a
    /// constant with respect to `x`.
    pub fn step_mask(self, slope: f64) -> Var<'g, F> {
        let s = F::from_f64(slope);
        self.unary(Op::StepMask(slope), |x| {
            if x > F::zero() {
                F::one()
            } else {
                s
            }
        })
    }

    /// `g · y · (1 − y)`: sigmoid's backward from its output `y`.
    /// ∂/∂g = y(1 − y); ∂/∂y = g(1 − 2y).
    pub fn sigmoid_backward_of(self, y: Var<'g, F>) -> Result<Var<'g, F>> {
        self.fused_pair(y, Op::SigmoidBackward, |g, y| g * y * (F::one() - y))
    }

    /// `g · (1 − y²)`: tanh's backward from its output `y`.
    /// ∂/∂g = 1 − y²; ∂/∂y = −2gy.
    pub fn tanh_backward_of(self, y: Var<'g, F>) -> Result<Var<'g, F>> {
        self.fused_pair(y, Op::TanhBackward, |g, y| g * (F::one() - y * y))
    }

    /// An elementwise operation of two equal-shape operands (no broadcasting).
    fn fused_pair(self, y: Var<'g, F>, op: Op, f: impl Fn(F, F) -> F + Sync) -> Result<Var<'g, F>> {
        self.check_same_graph(&y, op.name())?;
        let shape = self.shape();
        if y.shape() != shape {
            return Err(crate::Error::from(crate::ErrorKind::ShapeMismatch {
                op: op.name(),
                lhs: shape,
                rhs: y.shape(),
                reason: "the gradient and the output must have one shape",
            }));
        }
        Ok(self
            .graph
            .record(op, &[self, y], shape, |[g, y], out| zip(g, y, out, f)))
    }
}

/// `∂σ = sigmoid_backward(g, out)`.
pub(crate) fn sigmoid_backward<'g, F: Float>(c: &BackwardCtx<'g, F>) -> Result<Grads<'g, F>> {
    Ok([Some(c.grad.sigmoid_backward_of(c.out)?), None])
}

/// Backward of `h = g·y(1−y)`: `(gg · y(1−y), gg · g · (1 − 2y))`.
pub(crate) fn sigmoid_backward_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
) -> Result<Grads<'g, F>> {
    let (g, y) = (c.a, c.b);
    let dg = if c.needs[0] {
        Some(c.grad.sigmoid_backward_of(y)?)
    } else {
        None
    };
    let dy = if c.needs[1] {
        Some(c.grad.mul(g)?.mul(y.mul_scalar(-2.0).add_scalar(1.0))?)
    } else {
        None
    };
    Ok([dg, dy])
}

/// `∂tanh = tanh_backward(g, out)`.
pub(crate) fn tanh_backward<'g, F: Float>(c: &BackwardCtx<'g, F>) -> Result<Grads<'g, F>> {
    Ok([Some(c.grad.tanh_backward_of(c.out)?), None])
}

/// Backward of `h = g(1−y²)`: `(gg · (1 − y²), −2 · gg · g · y)`.
pub(crate) fn tanh_backward_backward<'g, F: Float>(c: &BackwardCtx<'g, F>) -> Result<Grads<'g, F>> {
    let (g, y) = (c.a, c.b);
    let dg = if c.needs[0] {
        Some(c.grad.tanh_backward_of(y)?)
    } else {
        None
    };
    let dy = if c.needs[1] {
        Some(c.grad.mul(g)?.mul(y)?.mul_scalar(-2.0))
    } else {
        None
    };
    Ok([dg, dy])
}

/// `∂relu = g · [x > 0]`.
pub(crate) fn relu_backward<'g, F: Float>(c: &BackwardCtx<'g, F>) -> Result<Grads<'g, F>> {
    Ok([Some(c.grad.mul(c.a.step_mask(0.0))?), None])
}

/// `∂leaky_relu = g · (x > 0 ? 1 : slope)`.
pub(crate) fn leaky_relu_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    slope: f64,
) -> Result<Grads<'g, F>> {
    Ok([Some(c.grad.mul(c.a.step_mask(slope))?), None])
}

/// `∂softplus = g · σ(x)`.
pub(crate) fn softplus_backward<'g, F: Float>(c: &BackwardCtx<'g, F>) -> Result<Grads<'g, F>> {
    Ok([Some(c.grad.mul(c.a.sigmoid())?), None])
}
