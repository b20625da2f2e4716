//! Indexing: gathering one column per row (class labels) and its adjoint,
//! concatenation and slicing along an axis and the padding that undoes a
//! slice.

use crate::error::{Error, ErrorKind, Result};
use crate::float::Float;
use crate::graph::{BackwardCtx, Grads, Var};
use crate::kernels::layout;
use crate::ops::Op;
use crate::shape::Shape;

impl<'g, F: Float> Var<'g, F> {
    /// `out[i] = x[i, labels[i]]` for `x` of shape `[n, c]`: the logit or
    /// log-probability of each row's class. ∂: `g[i]` at `[i, labels[i]]`,
    /// zero elsewhere.
    pub fn gather_rows(self, labels: &[usize]) -> Result<Var<'g, F>> {
        let shape = self.shape();
        let (n, c) = match shape.dims() {
            &[n, c] => (n, c),
            _ => {
                return Err(Error::from(ErrorKind::Invalid {
                    op: "gather_rows",
                    detail: "expected a matrix [rows, classes]".into(),
                    shape,
                }))
            }
        };
        if labels.len() != n {
            return Err(Error::from(ErrorKind::Invalid {
                op: "gather_rows",
                detail: format!("{} labels given for {n} rows", labels.len()),
                shape,
            }));
        }
        if let Some((row, &l)) = labels.iter().enumerate().find(|(_, &l)| l >= c) {
            return Err(Error::from(ErrorKind::Invalid {
                op: "gather_rows",
                detail: format!("label {l} in row {row} is not below the {c} classes"),
                shape,
            }));
        }
        let (start, len) = self.graph.store_indices(labels);
        let out = Shape::new(&[n])?;
        Ok(self
            .graph
            .record(Op::GatherRows { start, len }, &[self], out, |[x, _], o| {
                for (i, (slot, &l)) in o.iter_mut().zip(labels).enumerate() {
                    *slot = x[i * c + l];
                }
            }))
    }

    /// The adjoint of [`Var::gather_rows`]: a `[n, classes]` matrix of zeros
    /// with `self[i]` at `[i, labels[i]]`.
    pub(crate) fn scatter_rows(self, labels: (u32, u32), classes: usize) -> Result<Var<'g, F>> {
        let n = self.shape().numel();
        let out = Shape::new(&[n, classes])?;
        Ok(self.graph.record_indexed(
            Op::ScatterRows {
                start: labels.0,
                len: labels.1,
            },
            &[self],
            out,
            labels,
            |[g, _], stored, o| {
                o.fill(F::zero());
                for (i, &l) in stored.iter().enumerate() {
                    o[i * classes + l] = g[i];
                }
            },
        ))
    }

    /// Joins `self` and `other` along `axis`; the other dimensions must
    /// agree. ∂: the gradient sliced back into the two parts.
    pub fn concat(self, other: Var<'g, F>, axis: usize) -> Result<Var<'g, F>> {
        self.check_same_graph(&other, "concat")?;
        let (sa, sb) = (self.shape(), other.shape());
        sa.check_axis("concat", axis)?;
        if sa.rank() != sb.rank() || sa.with_dim(axis, 0) != sb.with_dim(axis, 0) {
            return Err(Error::from(ErrorKind::ShapeMismatch {
                op: "concat",
                lhs: sa,
                rhs: sb,
                reason: "all dimensions but the joined one must agree",
            }));
        }
        let (outer, la, inner) = sa.split_at_axis(axis);
        let lb = sb.dims()[axis];
        let out = sa.with_dim(axis, la + lb);
        Ok(self.graph.record(
            Op::Concat { axis: axis as u8 },
            &[self, other],
            out,
            |[x, y], o| layout::concat_axis(x, y, outer, inner, la, lb, o),
        ))
    }

    /// Joins several values along `axis` (pairwise concatenation).
    pub fn concat_all(parts: &[Var<'g, F>], axis: usize) -> Result<Var<'g, F>> {
        let (first, rest) = parts.split_first().ok_or_else(|| {
            Error::from(ErrorKind::Invalid {
                op: "concat",
                detail: "nothing to concatenate".into(),
                shape: Shape::scalar(),
            })
        })?;
        rest.iter().try_fold(*first, |acc, &p| acc.concat(p, axis))
    }

    /// Elements `start..end` along `axis`. ∂: the gradient padded with zeros.
    pub fn slice(self, axis: usize, start: usize, end: usize) -> Result<Var<'g, F>> {
        let shape = self.shape();
        shape.check_axis("slice", axis)?;
        let size = shape.dims()[axis];
        if start > end || end > size {
            return Err(Error::from(ErrorKind::Invalid {
                op: "slice",
                detail: format!("range {start}..{end} on axis {axis} of size {size}"),
                shape,
            }));
        }
        let out = shape.with_dim(axis, end - start);
        Ok(self.graph.record(
            Op::Slice {
                axis: axis as u8,
                start: start as u32,
            },
            &[self],
            out,
            |[x, _], o| layout::slice_axis(x, shape, axis, start, end - start, o),
        ))
    }

    /// Places `self` at `start` along `axis` in zeros of size `size` there:
    /// the adjoint of [`Var::slice`]. ∂: the gradient sliced.
    fn pad(self, axis: usize, start: usize, size: usize) -> Var<'g, F> {
        let shape = self.shape();
        let len = shape.dims()[axis];
        let out = shape.with_dim(axis, size);
        self.graph.record(
            Op::Pad {
                axis: axis as u8,
                start: start as u32,
            },
            &[self],
            out,
            |[x, _], o| layout::pad_axis(x, out, axis, start, len, o),
        )
    }
}

/// `∂gather_rows = scatter_rows(g)`.
pub(crate) fn gather_rows_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    labels: (u32, u32),
) -> Result<Grads<'g, F>> {
    let classes = c.a.shape().dims()[1];
    Ok([Some(c.grad.scatter_rows(labels, classes)?), None])
}

/// `∂scatter_rows = gather_rows(g)`.
pub(crate) fn scatter_rows_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    labels: (u32, u32),
) -> Result<Grads<'g, F>> {
    let stored: Vec<usize> = c.grad.graph.with_indices(labels, |l| l.to_vec());
    Ok([Some(c.grad.gather_rows(&stored)?), None])
}

/// `∂concat = (g[..la], g[la..])` along the axis.
pub(crate) fn concat_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    axis: usize,
) -> Result<Grads<'g, F>> {
    let la = c.a.shape().dims()[axis];
    let total = c.grad.shape().dims()[axis];
    let ga = if c.needs[0] {
        Some(c.grad.slice(axis, 0, la)?)
    } else {
        None
    };
    let gb = if c.needs[1] {
        Some(c.grad.slice(axis, la, total)?)
    } else {
        None
    };
    Ok([ga, gb])
}

/// `∂slice = pad(g)`.
pub(crate) fn slice_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    axis: usize,
    start: usize,
) -> Result<Grads<'g, F>> {
    let size = c.a.shape().dims()[axis];
    Ok([Some(c.grad.pad(axis, start, size)), None])
}

/// `∂pad = slice(g)`.
pub(crate) fn pad_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    axis: usize,
    start: usize,
) -> Result<Grads<'g, F>> {
    let len = c.a.shape().dims()[axis];
    Ok([Some(c.grad.slice(axis, start, start + len)?), None])
}
