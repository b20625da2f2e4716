//! Reductions: sum and mean over everything or one axis (with or without
//! keepdim), and max along an axis.

use crate::error::{Error, ErrorKind, Result};
use crate::float::Float;
use crate::graph::{BackwardCtx, Grads, Var};
use crate::kernels::reduce;
use crate::ops::Op;
use crate::shape::Shape;

impl<'g, F: Float> Var<'g, F> {
    /// The sum of every element, a scalar. ∂/∂xᵢ = 1.
    pub fn sum(self) -> Var<'g, F> {
        let n = self.shape().numel();
        // A flat view of n elements always exists and has axis 0.
        match self.reshape(&[n]).and_then(|flat| flat.sum_axis(0, false)) {
            Ok(v) => v,
            Err(_) => self.graph.zeros(Shape::scalar()),
        }
    }

    /// The mean of every element, a scalar. ∂/∂xᵢ = 1/n.
    pub fn mean(self) -> Var<'g, F> {
        let n = self.shape().numel().max(1);
        self.sum().mul_scalar(1.0 / n as f64)
    }

    /// Sums along `axis`; `keepdim` keeps it with size 1.
    /// ∂/∂x[…, j, …] = g[…, …] (the gradient broadcast back along the axis).
    pub fn sum_axis(self, axis: usize, keepdim: bool) -> Result<Var<'g, F>> {
        let from = self.shape();
        from.check_axis("sum", axis)?;
        let to = reduced_shape(from, axis, keepdim);
        Ok(self.graph.record(
            Op::SumAxis {
                axis: axis as u8,
                keepdim,
            },
            &[self],
            to,
            |[x, _], out| reduce::sum_axis(x, from, axis, out),
        ))
    }

    /// The mean along `axis`. ∂/∂x[…, j, …] = g / size.
    pub fn mean_axis(self, axis: usize, keepdim: bool) -> Result<Var<'g, F>> {
        self.shape().check_axis("mean", axis)?;
        let size = self.shape().dims()[axis].max(1);
        Ok(self.sum_axis(axis, keepdim)?.mul_scalar(1.0 / size as f64))
    }

    /// The maximum along `axis`. ∂: the gradient goes to the first maximal
    /// element of each slice, zero elsewhere.
    pub fn max_axis(self, axis: usize, keepdim: bool) -> Result<Var<'g, F>> {
        let from = self.shape();
        from.check_axis("max", axis)?;
        if from.dims()[axis] == 0 {
            return Err(Error::from(ErrorKind::Invalid {
                op: "max",
                detail: format!("axis {axis} is empty: a maximum needs at least one element"),
                shape: from,
            }));
        }
        let to = reduced_shape(from, axis, keepdim);
        Ok(self.graph.record(
            Op::MaxAxis {
                axis: axis as u8,
                keepdim,
            },
            &[self],
            to,
            |[x, _], out| reduce::max_axis(x, from, axis, out),
        ))
    }

    /// A one-hot mask of the first maximum along `axis` (derivative zero).
    pub fn argmax_mask(self, axis: usize) -> Result<Var<'g, F>> {
        let shape = self.shape();
        shape.check_axis("argmax_mask", axis)?;
        Ok(self.graph.record(
            Op::ArgMaxMask { axis: axis as u8 },
            &[self],
            shape,
            |[x, _], out| reduce::argmax_mask(x, shape, axis, out),
        ))
    }
}

fn reduced_shape(from: Shape, axis: usize, keepdim: bool) -> Shape {
    if keepdim {
        from.with_dim(axis, 1)
    } else {
        from.without_dim(axis)
    }
}

/// The reduced gradient with its axis restored as size 1, ready to broadcast.
fn with_axis_kept<'g, F: Float>(g: Var<'g, F>, input: Shape, axis: usize) -> Result<Var<'g, F>> {
    g.reshape_to(input.with_dim(axis, 1))
}

/// `∂sum_axis = broadcast(g)` along the axis.
pub(crate) fn sum_axis_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    axis: usize,
    _keepdim: bool,
) -> Result<Grads<'g, F>> {
    let shape = c.a.shape();
    Ok([
        Some(with_axis_kept(c.grad, shape, axis)?.broadcast_to(shape)?),
        None,
    ])
}

/// `∂max_axis = argmax_mask(x) · broadcast(g)`.
pub(crate) fn max_axis_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    axis: usize,
    _keepdim: bool,
) -> Result<Grads<'g, F>> {
    let g = with_axis_kept(c.grad, c.a.shape(), axis)?;
    Ok([Some(c.a.argmax_mask(axis)?.mul(g)?), None])
}
