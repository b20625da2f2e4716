//! Fused losses: one node for the forward pass of the mean squared error
//! and of softmax cross-entropy, as PyTorch's `mse_loss` and
//! `cross_entropy` are. Their backward rules are written in the engine's
//! operations, so second-order gradients still work.

use crate::error::{Error, ErrorKind, Result};
use crate::float::Float;
use crate::graph::{BackwardCtx, Grads, Var};
use crate::ops::Op;
use crate::shape::Shape;

impl<'g, F: Float> Var<'g, F> {
    /// `mean((p − t)²)` (or the sum, `mean = false`) of equal shapes, as one
    /// node. ∂/∂p = 2(p − t)·g / n (n = element count for the mean, 1 for
    /// the sum); ∂/∂t = −∂/∂p.
    pub fn mse_loss(self, target: Var<'g, F>, mean: bool) -> Result<Var<'g, F>> {
        self.check_same_graph(&target, "mse_loss")?;
        let (sp, st) = (self.shape(), target.shape());
        if sp != st {
            return Err(Error::from(ErrorKind::ShapeMismatch {
                op: "mse_loss",
                lhs: sp,
                rhs: st,
                reason: "the prediction and the target must have one shape",
            }));
        }
        let scale = if mean {
            1.0 / sp.numel().max(1) as f64
        } else {
            1.0
        };
        let s = F::from_f64(scale);
        Ok(self.graph.record(
            Op::MseLoss { mean },
            &[self, target],
            Shape::scalar(),
            |[p, t], out| {
                let total: F = p.iter().zip(t).map(|(&a, &b)| (a - b) * (a - b)).sum();
                out[0] = total * s;
            },
        ))
    }

    /// Softmax cross-entropy of logits `[n, classes]` with one label per row,
    /// fused with a stable log-softmax: `mean_i (logsumexp(zᵢ) − zᵢ[yᵢ])` (or
    /// the sum). ∂/∂z = (softmax(z) − onehot(y))·g / n.
    pub fn cross_entropy_loss(self, labels: &[usize], mean: bool) -> Result<Var<'g, F>> {
        let shape = self.shape();
        let (n, c) = match shape.dims() {
            &[n, c] => (n, c),
            _ => {
                return Err(Error::from(ErrorKind::Invalid {
                    op: "cross_entropy",
                    detail: "expected logits [rows, classes]".into(),
                    shape,
                }))
            }
        };
        if labels.len() != n {
            return Err(Error::from(ErrorKind::Invalid {
                op: "cross_entropy",
                detail: format!("{} labels given for {n} rows", labels.len()),
                shape,
            }));
        }
        if let Some((row, &l)) = labels.iter().enumerate().find(|(_, &l)| l >= c) {
            return Err(Error::from(ErrorKind::Invalid {
                op: "cross_entropy",
                detail: format!("label {l} in row {row} is not below the {c} classes"),
                shape,
            }));
        }
        let (start, len) = self.graph.store_indices(labels);
        let s = F::from_f64(if mean { 1.0 / n.max(1) as f64 } else { 1.0 });
        Ok(self.graph.record(
            Op::CrossEntropy { start, len, mean },
            &[self],
            Shape::scalar(),
            |[z, _], out| {
                let mut total = F::zero();
                for (row, &y) in z.chunks_exact(c.max(1)).zip(labels) {
                    let m = row.iter().fold(F::neg_infinity(), |m, &v| m.max(v));
                    // logsumexp − z_y = ln Σ e^(z − m) − (z_y − m): both
                    // terms small, so nothing cancels at logits of ±1e4.
                    let log_sum = row.iter().map(|&v| (v - m).exp()).sum::<F>().ln();
                    total += log_sum - (row[y] - m);
                }
                out[0] = total * s;
            },
        ))
    }
}

/// The scalar gradient `g` spread over `shape`.
fn spread<'g, F: Float>(g: Var<'g, F>, shape: Shape) -> Result<Var<'g, F>> {
    g.expand_to(shape)
}

/// `∂mse = (2(p − t)·g/n, −2(p − t)·g/n)`.
pub(crate) fn mse_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    mean: bool,
) -> Result<Grads<'g, F>> {
    let shape = c.a.shape();
    let scale = if mean {
        2.0 / shape.numel().max(1) as f64
    } else {
        2.0
    };
    let dp =
        c.a.sub(c.b)?
            .mul_scalar(scale)
            .mul(spread(c.grad, shape)?)?;
    let dt = if c.needs[1] { Some(dp.neg()) } else { None };
    Ok([Some(dp), dt])
}

/// `∂cross_entropy = (softmax(z) − onehot(y))·g/n`.
pub(crate) fn cross_entropy_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    labels: (u32, u32),
    mean: bool,
) -> Result<Grads<'g, F>> {
    let shape = c.a.shape();
    let n = shape.dims()[0];
    let onehot =
        c.a.graph
            .record(Op::Leaf, &[], Shape::new(&[n])?, |_, o| o.fill(F::one()))
            .scatter_rows(labels, shape.dims()[1])?;
    let scale = if mean { 1.0 / n.max(1) as f64 } else { 1.0 };
    let dz =
        c.a.softmax(1)?
            .sub(onehot)?
            .mul_scalar(scale)
            .mul(spread(c.grad, shape)?)?;
    Ok([Some(dz), None])
}
