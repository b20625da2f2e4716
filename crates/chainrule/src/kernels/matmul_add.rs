//! `C ← C + s·op(A)·op(B)`: a product added, scaled, into an existing
//! matrix (one matrix, no batch). The fused gradient-descent step updates a
//! weight with it (`W ← W − lr·op(A)ᵀG`, see `graph/fused_sgd.rs`), so that
//! the weight gradient is never written out and read back.
//!
//! Paths as in [`super::matmul`]: a plain loop for tiny products, a
//! streaming outer product for `k = 1` (a batch of one row), and our GEMM
//! in its `C += A·B` mode, on a scaled copy of the smaller operand, for the
//! rest. No path allocates once its per-thread buffer has grown.

use super::matmul::{small_product, MatMulDims, SMALL_PRODUCT};

thread_local! {
    /// The scaled copy of the smaller operand, reused from call to call.
    static SCALED: super::scratch::Buffer = const { std::cell::RefCell::new(Vec::new()) };
}
use crate::float::Float;

/// `c += s · op(A) op(B)` for a single product (`d.batch == 1`).
pub fn matmul_add<F: Float>(a: &[F], b: &[F], c: &mut [F], d: MatMulDims, s: F) {
    let MatMulDims { m, k, n, .. } = d;
    assert!(
        d.batch == 1 && a.len() >= m * k && b.len() >= k * n && c.len() >= m * n,
        "matmul_add: operands shorter than {m}×{k}·{k}×{n}"
    );
    let ((rsa, csa), (rsb, csb)) = d.strides();
    let c = &mut c[..m * n];
    if k == 0 {
    } else if m * n * k < SMALL_PRODUCT {
        small_product(a, b, &d, |at, v| c[at] += s * v);
    } else if k == 1 {
        // op(A) and op(B) are contiguous vectors whatever their flags.
        super::gemv::outer_add(&a[..m], &b[..n], s, c);
    } else {
        gemm_add_rows(m, k, n, (a, rsa, csa), (b, rsb, csb), c, s);
    }
}

/// `c += s·op(A) op(B)` through the tuned GEMM in its `C += A·B` mode
/// (split over threads as [`super::matmul`] splits a product), on a scaled
/// copy of the smaller operand's storage, strides kept: for a weight step
/// that is usually the output gradient, a fraction of the weight's size.
fn gemm_add_rows<F: Float>(
    m: usize,
    k: usize,
    n: usize,
    (a, rsa, csa): (&[F], usize, usize),
    (b, rsb, csb): (&[F], usize, usize),
    c: &mut [F],
    s: F,
) {
    let scale_a = m * k <= k * n;
    let len = if scale_a { m * k } else { k * n };
    super::scratch::with(&SCALED, len, |scaled: &mut [F]| {
        // Both operands are dense (row- or column-major): their first
        // m·k (k·n) stored values are the whole matrix.
        let from = if scale_a { &a[..len] } else { &b[..len] };
        super::elementwise::map(from, scaled, |v| s * v);
        let (a, b) = if scale_a {
            (&scaled[..], b)
        } else {
            (a, &scaled[..])
        };
        super::matmul::gemm_rows(m, k, n, (a, rsa, csa), (b, rsb, csb), c, true, true);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values that are multiples of 1/8 in [-2, 2): every product and sum
    /// below is exact in f32 and f64 whatever the order.
    fn values(len: usize, seed: usize) -> Vec<f64> {
        (0..len)
            .map(|i| ((i * 29 + seed * 7) % 32) as f64 / 8.0 - 2.0)
            .collect()
    }

    #[test]
    fn a_scaled_product_is_added_on_every_path() {
        // Tiny (loop), k = 1 (outer product), and large (GEMM, one and
        // several row blocks), with every flag combination.
        // (40, 60, 300) scales op(A), the others op(B).
        for &(m, k, n) in &[
            (3, 4, 5),
            (70, 1, 90),
            (64, 48, 40),
            (40, 60, 300),
            (300, 70, 130),
        ] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let (a, b, c0) = (values(m * k, 1), values(k * n, 2), values(m * n, 3));
                let s = -0.5;
                // By the definition, in f64 (exact here).
                let mut expect = c0.clone();
                for i in 0..m {
                    for j in 0..n {
                        let mut acc = 0.0;
                        for p in 0..k {
                            let x = if ta { a[p * m + i] } else { a[i * k + p] };
                            let y = if tb { b[j * k + p] } else { b[p * n + j] };
                            acc += x * y;
                        }
                        expect[i * n + j] += s * acc;
                    }
                }
                super::super::threads::set_num_threads(2);
                let mut c = c0.clone();
                matmul_add(&a, &b, &mut c, MatMulDims::single(m, k, n, ta, tb), s);
                assert_eq!(c, expect, "f64 {m}x{k}x{n} ta {ta} tb {tb}");
                let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
                let mut c32 = f(&c0);
                matmul_add(
                    &f(&a),
                    &f(&b),
                    &mut c32,
                    MatMulDims::single(m, k, n, ta, tb),
                    s as f32,
                );
                assert_eq!(c32, f(&expect), "f32 {m}x{k}x{n} ta {ta} tb {tb}");
            }
        }
    }
}
