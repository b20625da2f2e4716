//! Softmax and log-softmax along an axis, numerically stable (the maximum
//! is subtracted first, so logits of ±1e4 are fine).

use crate::error::Result;
use crate::float::Float;
use crate::graph::{BackwardCtx, Grads, Var};
use crate::kernels::softmax as kernel;
use crate::ops::Op;

impl<'g, F: Float> Var<'g, F> {
    /// `softmax(x)ᵢ = e^xᵢ / Σⱼ e^xⱼ` along `axis`.
    /// ∂: `y ⊙ (g − Σ(g ⊙ y))`, the sum along the axis.
    pub fn softmax(self, axis: usize) -> Result<Var<'g, F>> {
        let shape = self.shape();
        shape.check_axis("softmax", axis)?;
        Ok(self.graph.record(
            Op::Softmax { axis: axis as u8 },
            &[self],
            shape,
            |[x, _], out| kernel::softmax_axis(x, shape, axis, out),
        ))
    }

    /// `log_softmax(x)ᵢ = xᵢ − log Σⱼ e^xⱼ` along `axis`.
    /// ∂: `g − e^y ⊙ Σ g`, the sum along the axis.
    pub fn log_softmax(self, axis: usize) -> Result<Var<'g, F>> {
        let shape = self.shape();
        shape.check_axis("log_softmax", axis)?;
        Ok(self.graph.record(
            Op::LogSoftmax { axis: axis as u8 },
            &[self],
            shape,
            |[x, _], out| kernel::log_softmax_axis(x, shape, axis, out),
        ))
    }
}

/// `∂softmax = y ⊙ (g − Σ(g ⊙ y))`.
pub(crate) fn softmax_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    axis: usize,
) -> Result<Grads<'g, F>> {
    let y = c.out;
    let dot = c.grad.mul(y)?.sum_axis(axis, true)?;
    Ok([Some(y.mul(c.grad.sub(dot)?)?), None])
}

/// `∂log_softmax = g − e^y ⊙ Σ g`.
pub(crate) fn log_softmax_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    axis: usize,
) -> Result<Grads<'g, F>> {
    let total = c.grad.sum_axis(axis, true)?;
    Ok([Some(c.grad.sub(c.out.exp().mul(total)?)?), None])
}
