//! Layout: reshape (a view, no copy), permute and transpose, broadcast_to
//! and its adjoint sum_to (the one place where broadcasting is undone), and
//! detach.

use crate::error::{Error, ErrorKind, Result};
use crate::float::Float;
use crate::graph::{BackwardCtx, Grads, Var};
use crate::kernels::layout;
use crate::ops::Op;
use crate::shape::{Shape, MAX_RANK};

impl<'g, F: Float> Var<'g, F> {
    /// The same values with new dimensions (same element count); shares the
    /// storage. ∂: the gradient reshaped back.
    pub fn reshape(self, dims: &[usize]) -> Result<Var<'g, F>> {
        self.reshape_to(Shape::for_op("reshape", dims)?)
    }

    /// As [`Var::reshape`], for a shape already built.
    pub(crate) fn reshape_to(self, to: Shape) -> Result<Var<'g, F>> {
        let from = self.shape();
        if from == to {
            return Ok(self);
        }
        if to.numel() != from.numel() {
            return Err(Error::from(ErrorKind::ShapeMismatch {
                op: "reshape",
                lhs: from,
                rhs: to,
                reason: "the element counts differ",
            }));
        }
        Ok(self.graph.record_view(Op::Reshape, self, to, true))
    }

    /// Output dimension `d` is input dimension `perm[d]`. ∂: the gradient
    /// permuted by the inverse permutation.
    pub fn permute(self, perm: &[usize]) -> Result<Var<'g, F>> {
        let from = self.shape();
        let rank = from.rank();
        let mut seen = [false; MAX_RANK];
        let valid = perm.len() == rank
            && perm
                .iter()
                .all(|&p| p < rank && !std::mem::replace(&mut seen[p], true));
        if !valid {
            return Err(Error::from(ErrorKind::Invalid {
                op: "permute",
                detail: format!("{perm:?} is not a permutation of the {rank} axes"),
                shape: from,
            }));
        }
        let mut packed = [0u8; MAX_RANK];
        let mut dims = [0usize; MAX_RANK];
        for (d, &p) in perm.iter().enumerate() {
            packed[d] = p as u8;
            dims[d] = from.dims()[p];
        }
        let to = Shape::new(&dims[..rank])?;
        Ok(self
            .graph
            .record(Op::Permute(packed), &[self], to, |[x, _], out| {
                layout::permute(x, from, to, perm, out)
            }))
    }

    /// Swaps two axes.
    pub fn transpose(self, axis0: usize, axis1: usize) -> Result<Var<'g, F>> {
        let s = self.shape();
        s.check_axis("transpose", axis0)?;
        s.check_axis("transpose", axis1)?;
        let mut perm: Vec<usize> = (0..s.rank()).collect();
        perm.swap(axis0, axis1);
        self.permute(&perm)
    }

    /// Expands to `shape` under NumPy's broadcasting rule. ∂: the gradient
    /// summed over the broadcast dimensions (`sum_to`).
    pub fn broadcast_to(self, shape: Shape) -> Result<Var<'g, F>> {
        let from = self.shape();
        if !from.broadcasts_to(shape) {
            return Err(Error::from(ErrorKind::Broadcast {
                op: "broadcast_to",
                lhs: from,
                rhs: shape,
            }));
        }
        Ok(self
            .graph
            .record(Op::BroadcastTo, &[self], shape, |[x, _], out| {
                layout::broadcast(x, from, shape, out)
            }))
    }

    /// Sums over the dimensions along which `shape` was broadcast to this
    /// one: the adjoint of [`Var::broadcast_to`]. ∂: the gradient broadcast.
    pub fn sum_to(self, shape: Shape) -> Result<Var<'g, F>> {
        let from = self.shape();
        if !shape.broadcasts_to(from) {
            return Err(Error::from(ErrorKind::Broadcast {
                op: "sum_to",
                lhs: from,
                rhs: shape,
            }));
        }
        Ok(self.graph.record(Op::SumTo, &[self], shape, |[x, _], out| {
            layout::sum_to(x, from, shape, out)
        }))
    }

    /// The same values, cut off from the graph: no gradient flows back
    /// through the result. Shares the storage.
    pub fn detach(self) -> Var<'g, F> {
        self.graph
            .record_view(Op::Detach, self, self.shape(), false)
    }
}

/// `∂reshape = reshape(g, input shape)`.
pub(crate) fn reshape_backward<'g, F: Float>(c: &BackwardCtx<'g, F>) -> Result<Grads<'g, F>> {
    Ok([Some(c.grad.reshape_to(c.a.shape())?), None])
}

/// `∂permute(perm) = permute(g, perm⁻¹)`.
pub(crate) fn permute_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    perm: [u8; MAX_RANK],
) -> Result<Grads<'g, F>> {
    let rank = c.a.shape().rank();
    let mut inverse = [0usize; MAX_RANK];
    for d in 0..rank {
        inverse[perm[d] as usize] = d;
    }
    Ok([Some(c.grad.permute(&inverse[..rank])?), None])
}

/// `∂broadcast_to = sum_to(g, input shape)`.
pub(crate) fn broadcast_to_backward<'g, F: Float>(c: &BackwardCtx<'g, F>) -> Result<Grads<'g, F>> {
    Ok([Some(c.grad.sum_to(c.a.shape())?), None])
}

/// `∂sum_to = broadcast_to(g, input shape)`.
pub(crate) fn sum_to_backward<'g, F: Float>(c: &BackwardCtx<'g, F>) -> Result<Grads<'g, F>> {
    Ok([Some(c.grad.broadcast_to(c.a.shape())?), None])
}
