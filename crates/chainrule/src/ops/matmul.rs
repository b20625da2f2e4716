//! Matrix products: `C = op(A) · op(B)` with `op` the identity or the
//! transpose (flags, never transposed copies), 2-D or batched 3-D.
//!
//! Gradients (G = ∂L/∂C), each again a flagged product:
//! - `A` used as is: `∂A = G · op(B)ᵀ`; used transposed: `∂A = op(B) · Gᵀ`.
//! - `B` used as is: `∂B = op(A)ᵀ · G`; used transposed: `∂B = Gᵀ · op(A)`.

use crate::error::{Error, ErrorKind, Result};
use crate::float::Float;
use crate::graph::{BackwardCtx, Grads, Var};
use crate::kernels::matmul::{matmul, MatMulDims};
use crate::ops::Op;
use crate::shape::Shape;

impl<'g, F: Float> Var<'g, F> {
    /// The matrix product `a · b`: `[m, k] · [k, n] → [m, n]`, or batched
    /// `[B, m, k] · [B, k, n] → [B, m, n]` (a 2-D operand is shared by the
    /// whole batch).
    pub fn matmul(self, other: Var<'g, F>) -> Result<Var<'g, F>> {
        self.matmul_t(other, false, false)
    }

    /// `op(a) · op(b)`, where `ta` / `tb` use the operand transposed
    /// (its last two dimensions swapped) without copying it.
    pub fn matmul_t(self, other: Var<'g, F>, ta: bool, tb: bool) -> Result<Var<'g, F>> {
        self.check_same_graph(&other, "matmul")?;
        let (sa, sb) = (self.shape(), other.shape());
        let bad = || {
            Error::from(ErrorKind::MatMul {
                op: "matmul",
                lhs: sa,
                rhs: sb,
            })
        };
        if !(2..=3).contains(&sa.rank()) || !(2..=3).contains(&sb.rank()) {
            return Err(bad());
        }
        let (ma, ka) = matrix_dims(sa, ta);
        let (kb, nb) = matrix_dims(sb, tb);
        if ka != kb {
            return Err(bad());
        }
        match (sa.rank(), sb.rank()) {
            (2, 2) => Ok(product(self, other, ta, tb, 1, Shape::new(&[ma, nb])?)),
            (3, 2) if !ta => {
                // Fold the batch into the rows: one large product.
                let batch = sa.dims()[0];
                let flat = self.reshape(&[batch * ma, ka])?;
                flat.matmul_t(other, false, tb)?.reshape(&[batch, ma, nb])
            }
            (3, 3) => {
                let batch = sa.dims()[0];
                if sb.dims()[0] != batch {
                    return Err(bad());
                }
                Ok(product(
                    self,
                    other,
                    ta,
                    tb,
                    batch,
                    Shape::new(&[batch, ma, nb])?,
                ))
            }
            (3, 2) => {
                let b =
                    other.broadcast_to(Shape::new(&[sa.dims()[0], sb.dims()[0], sb.dims()[1]])?)?;
                self.matmul_t(b, ta, tb)
            }
            _ => {
                let a =
                    self.broadcast_to(Shape::new(&[sb.dims()[0], sa.dims()[0], sa.dims()[1]])?)?;
                a.matmul_t(other, ta, tb)
            }
        }
    }
}

/// `(rows, cols)` of `op(X)` for a 2-D or 3-D shape.
fn matrix_dims(s: Shape, transposed: bool) -> (usize, usize) {
    let d = s.dims();
    let (r, c) = (d[d.len() - 2], d[d.len() - 1]);
    if transposed {
        (c, r)
    } else {
        (r, c)
    }
}

/// Records a product whose shapes were checked (equal ranks, matching k).
fn product<'g, F: Float>(
    a: Var<'g, F>,
    b: Var<'g, F>,
    ta: bool,
    tb: bool,
    batch: usize,
    out: Shape,
) -> Var<'g, F> {
    let (m, k) = matrix_dims(a.shape(), ta);
    let n = out.dims()[out.rank() - 1];
    let dims = MatMulDims {
        batch,
        m,
        k,
        n,
        ta,
        tb,
        a_batched: batch > 1,
        b_batched: batch > 1,
    };
    a.graph
        .record(Op::MatMul { ta, tb }, &[a, b], out, |[x, y], o| {
            matmul(x, y, o, dims)
        })
}

/// The fused gradient-descent step of the product's second operand `B`
/// (see `graph/fused_sgd.rs`): `B ← B − lr·∂L/∂B`, where `∂L/∂B` is the
/// product [`matmul_backward`] records for input 1 (`op(A)ᵀ·G`, or
/// `Gᵀ·op(A)` when `B` is used transposed), added straight into `B`. For
/// 2-D operands, the product added (`-lr` times it) as
/// `graph/weight_step.rs` runs it: whether its first operand is `G` (else
/// `A`), and its geometry.
pub(crate) fn step_weight_dims(
    a_shape: Shape,
    w_shape: Shape,
    (ta, tb): (bool, bool),
) -> (bool, MatMulDims) {
    // op(A) is m×k, op(B) k×n, G m×n.
    let (m, k) = matrix_dims(a_shape, ta);
    let (_, n) = matrix_dims(w_shape, tb);
    let single = MatMulDims::single;
    if tb {
        (true, single(n, m, k, true, ta))
    } else {
        (false, single(k, m, n, !ta, false))
    }
}

/// Gradients of `op(A) · op(B)` as flagged products (see the module doc).
pub(crate) fn matmul_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    ta: bool,
    tb: bool,
) -> Result<Grads<'g, F>> {
    let (a, b, g) = (c.a, c.b, c.grad);
    let da = match (c.needs[0], ta) {
        (false, _) => None,
        (true, false) => Some(g.matmul_t(b, false, !tb)?),
        (true, true) => Some(b.matmul_t(g, tb, true)?),
    };
    let db = match (c.needs[1], tb) {
        (false, _) => None,
        (true, false) => Some(a.matmul_t(g, !ta, false)?),
        (true, true) => Some(g.matmul_t(a, true, ta)?),
    };
    Ok([da, db])
}
