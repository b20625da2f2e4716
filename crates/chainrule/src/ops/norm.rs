//! Normalization and dropout, written as compositions of the engine's own
//! operations (reshape, sum, sub, mul, add, pow, a constant input), so that
//! their gradients of every order come from the engine with no rule of
//! their own to get wrong.
//!
//! - Batch norm (training) over axis 1 of `x [N, C, …]`, statistics over
//!   every other axis (`n = N · Π…` elements per channel):
//!   `μ = Σx / n`, `σ² = Σ(x − μ)² / n` (biased), `y = (x − μ) · s + β` with
//!   `s = γ / √(σ² + ε)`. `x` is viewed as `[N, C, L]`; the sums reduce
//!   axis 2 then axis 0 with `keepdim` (`[1, C, 1]`, broadcasting against
//!   the view), and `1/√(σ² + ε)` is computed once per channel (a `pow`
//!   of the `[1, C, 1]` variance) and folded with `γ` before the one
//!   full-size multiply. Full-size operations: `x − μ`, its square, the
//!   multiply by `s` and the add of `β`.
//! - Batch norm (evaluation) with running statistics `m`, `v`:
//!   `y = x · s + (β − m · s)`, `s = γ / √(v + ε)`; the shift is computed
//!   per channel, so the full-size work is one multiply and one add.
//! - Layer norm over the last `k` dimensions (`K` elements): `x` viewed as
//!   `[M, K]`, `μ` and `σ²` (biased) over axis 1, `y = (x − μ)/√(σ² + ε)
//!   · γ + β` with `γ`, `β` of the trailing shape.
//! - Inverted dropout: `y = x ⊙ (m / (1 − p))`, `mᵢ = [unit_at(key, i) ≥ p]`;
//!   the scaled mask is one constant input node (no gradient), so the
//!   backward rule is the product rule's `g ⊙ m / (1 − p)`.

use crate::error::{Error, ErrorKind, Result};
use crate::float::Float;
use crate::graph::Var;
use crate::ops::Op;
use crate::rng;
use crate::shape::{Shape, MAX_RANK};

/// What [`Var::batch_norm_train`] returns: the normalized output and the
/// batch statistics (for the running averages).
#[derive(Clone, Copy, Debug)]
pub struct BatchNormTrain<'g, F: Float> {
    /// `(x − μ)/√(σ² + ε) · γ + β`, the shape of `x`.
    pub output: Var<'g, F>,
    /// `[C]` batch mean.
    pub mean: Var<'g, F>,
    /// `[C]` biased batch variance.
    pub var: Var<'g, F>,
    /// Elements per channel (`N·H·W`), for the unbiased running variance
    /// `n/(n − 1) · var`.
    pub count: usize,
}

/// Checks that an optional `γ` or `β` has shape `want`.
fn check_affine<'g, F: Float>(
    op: &'static str,
    x: Var<'g, F>,
    what: &str,
    v: Option<Var<'g, F>>,
    want: &[usize],
) -> Result<()> {
    let Some(v) = v else { return Ok(()) };
    x.check_same_graph(&v, op)?;
    if v.shape().dims() != want {
        return Err(Error::from(ErrorKind::Invalid {
            op,
            detail: format!("{what} has shape {}, expected {want:?}", v.shape()),
            shape: x.shape(),
        }));
    }
    Ok(())
}

/// `(N, C, L)` of an input `[N, C]`, `[N, C, L]` or `[N, C, H, W]`.
fn channel_dims(op: &'static str, xs: Shape) -> Result<(usize, usize, usize)> {
    match *xs.dims() {
        [n, c] => Ok((n, c, 1)),
        [n, c, l] => Ok((n, c, l)),
        [n, c, h, w] => Ok((n, c, h * w)),
        _ => Err(Error::from(ErrorKind::Invalid {
            op,
            detail: "expected an input [N, C], [N, C, L] or [N, C, H, W]".into(),
            shape: xs,
        })),
    }
}

impl<'g, F: Float> Var<'g, F> {
    /// Training-mode batch norm over axis 1 of `x [N, C]`, `[N, C, L]` or
    /// `[N, C, H, W]`: statistics over every axis but 1, biased variance;
    /// `y = (x − μ)/√(σ² + ε) · γ + β`, `γ` and `β` `[C]`, optional.
    pub fn batch_norm_train(
        self,
        gamma: Option<Var<'g, F>>,
        beta: Option<Var<'g, F>>,
        eps: f64,
    ) -> Result<BatchNormTrain<'g, F>> {
        const OP: &str = "batch_norm_train";
        let xs = self.shape();
        let (n, c, l) = channel_dims(OP, xs)?;
        check_affine(OP, self, "gamma", gamma, &[c])?;
        check_affine(OP, self, "beta", beta, &[c])?;
        let count = n * l;
        if count == 0 {
            return Err(Error::from(ErrorKind::Invalid {
                op: OP,
                detail: "no element per channel to take statistics over".into(),
                shape: xs,
            }));
        }
        let x3 = self.reshape(&[n, c, l])?;
        // Σ over axes 2 and 0, kept as [1, C, 1].
        let per_channel = |v: Var<'g, F>| -> Result<Var<'g, F>> {
            let rows = if l > 1 { v.sum_axis(2, true)? } else { v };
            rows.sum_axis(0, true)
        };
        let inv_count = 1.0 / count as f64;
        let mean = per_channel(x3)?.mul_scalar(inv_count);
        let centered = x3.sub(mean)?;
        let var = per_channel(centered.square())?.mul_scalar(inv_count);
        let inv_std = var.add_scalar(eps).pow(-0.5);
        let scale = match gamma {
            Some(g) => inv_std.mul(g.reshape(&[1, c, 1])?)?,
            None => inv_std,
        };
        let mut y = centered.mul(scale)?;
        if let Some(b) = beta {
            y = y.add(b.reshape(&[1, c, 1])?)?;
        }
        Ok(BatchNormTrain {
            output: y.reshape_to(xs)?,
            mean: mean.reshape(&[c])?,
            var: var.reshape(&[c])?,
            count,
        })
    }

    /// Evaluation-mode batch norm: as [`Var::batch_norm_train`] with the
    /// given running statistics (`[C]` each) instead of the batch's.
    pub fn batch_norm_eval(
        self,
        running_mean: Var<'g, F>,
        running_var: Var<'g, F>,
        gamma: Option<Var<'g, F>>,
        beta: Option<Var<'g, F>>,
        eps: f64,
    ) -> Result<Var<'g, F>> {
        const OP: &str = "batch_norm_eval";
        let xs = self.shape();
        let (_, c, _) = channel_dims(OP, xs)?;
        check_affine(OP, self, "running_mean", Some(running_mean), &[c])?;
        check_affine(OP, self, "running_var", Some(running_var), &[c])?;
        check_affine(OP, self, "gamma", gamma, &[c])?;
        check_affine(OP, self, "beta", beta, &[c])?;
        // [1, C, 1, …] of x's rank.
        let mut dims = [1usize; MAX_RANK];
        dims[1] = c;
        let per_channel = &dims[..xs.rank()];
        let inv_std = running_var.add_scalar(eps).pow(-0.5);
        let scale = match gamma {
            Some(g) => inv_std.mul(g)?,
            None => inv_std,
        };
        let shift = running_mean.mul(scale)?.neg();
        let shift = match beta {
            Some(b) => shift.add(b)?,
            None => shift,
        };
        self.mul(scale.reshape(per_channel)?)?
            .add(shift.reshape(per_channel)?)
    }

    /// Layer norm over the last `axes` dimensions (biased variance);
    /// `γ` and `β`, optional, have the shape of those dimensions.
    pub fn layer_norm(
        self,
        axes: usize,
        gamma: Option<Var<'g, F>>,
        beta: Option<Var<'g, F>>,
        eps: f64,
    ) -> Result<Var<'g, F>> {
        const OP: &str = "layer_norm";
        let xs = self.shape();
        let rank = xs.rank();
        if axes == 0 || axes >= rank {
            return Err(Error::from(ErrorKind::Invalid {
                op: OP,
                detail: format!(
                    "cannot normalize over the last {axes} axes of a rank-{rank} input \
                     (1 to rank − 1 axes, the first is the batch)"
                ),
                shape: xs,
            }));
        }
        let trailing = &xs.dims()[rank - axes..];
        let k: usize = trailing.iter().product();
        if k == 0 {
            return Err(Error::from(ErrorKind::Invalid {
                op: OP,
                detail: "the normalized dimensions hold no element".into(),
                shape: xs,
            }));
        }
        check_affine(OP, self, "gamma", gamma, trailing)?;
        check_affine(OP, self, "beta", beta, trailing)?;
        let x2 = self.reshape(&[xs.numel() / k, k])?;
        let inv_k = 1.0 / k as f64;
        let mean = x2.sum_axis(1, true)?.mul_scalar(inv_k);
        let centered = x2.sub(mean)?;
        let var = centered.square().sum_axis(1, true)?.mul_scalar(inv_k);
        let mut y = centered.mul(var.add_scalar(eps).pow(-0.5))?;
        if let Some(g) = gamma {
            y = y.mul(g.reshape(&[k])?)?;
        }
        if let Some(b) = beta {
            y = y.add(b.reshape(&[k])?)?;
        }
        y.reshape_to(xs)
    }

    /// Inverted dropout: `x · m / (1 − p)` with `mᵢ = 1` if
    /// `rng::unit_at(key, i) ≥ p`, else 0 (`i` the flat index). `p` in
    /// `[0, 1)`; `p = 0` returns `x` itself. The scaled mask is a constant
    /// input (no gradient): ∂x = `g · m / (1 − p)`.
    pub fn dropout(self, p: f64, key: u64) -> Result<Var<'g, F>> {
        let xs = self.shape();
        if !(0.0..1.0).contains(&p) {
            return Err(Error::from(ErrorKind::Invalid {
                op: "dropout",
                detail: format!("the drop probability {p} is not in [0, 1)"),
                shape: xs,
            }));
        }
        if p == 0.0 {
            return Ok(self);
        }
        let scale = F::from_f64(1.0 / (1.0 - p));
        let mask = self.graph.record(Op::Leaf, &[], xs, |_, m| {
            for (i, slot) in m.iter_mut().enumerate() {
                *slot = if rng::unit_at(key, i as u64) >= p {
                    scale
                } else {
                    F::zero()
                };
            }
        });
        self.mul(mask)
    }
}
