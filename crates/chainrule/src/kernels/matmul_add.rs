//! `C ← C + s·op(A)·op(B)`: a product added, scaled, into an existing
//! matrix (one matrix, no batch). The fused gradient-descent step updates a
//! weight with it (`W ← W − lr·op(A)ᵀG`, see `graph/fused_sgd.rs`), so that
//! the weight gradient is never written out and read back.
//!
//! Paths as in [`super::matmul`]: a plain loop for tiny products, a
//! streaming outer product for `k = 1` (a batch of one row), and our GEMM
//! in its `C += A·B` mode, on a scaled copy of the smaller operand, for the
//! rest. No path allocates once its per-thread buffer has grown.

use super::matmul::MatMulDims;
use crate::float::Float;

/// Products with fewer multiply-adds than this use the plain loop.
const SMALL_PRODUCT: usize = 4096;

/// `c += s · op(A) op(B)` for a single product (`d.batch == 1`).
pub fn matmul_add<F: Float>(a: &[F], b: &[F], c: &mut [F], d: MatMulDims, s: F) {
    debug_assert_eq!(d.batch, 1);
    let MatMulDims { m, k, n, .. } = d;
    let (rsa, csa) = if d.ta { (1, m) } else { (k, 1) };
    let (rsb, csb) = if d.tb { (1, k) } else { (n, 1) };
    let c = &mut c[..m * n];
    if k == 0 {
    } else if m * n * k < SMALL_PRODUCT {
        for i in 0..m {
            for j in 0..n {
                let mut acc = F::zero();
                for p in 0..k {
                    acc += a[i * rsa + p * csa] * b[p * rsb + j * csb];
                }
                c[i * n + j] += s * acc;
            }
        }
    } else if k == 1 {
        // op(A) and op(B) are contiguous vectors whatever their flags.
        super::gemv::outer_add(&a[..m], &b[..n], s, c);
    } else {
        gemm_add_rows(m, k, n, (a, rsa, csa), (b, rsb, csb), c, s);
    }
}

thread_local! {
    /// The scaled copy of the smaller operand, reused from call to call.
    static SCALED: super::scratch::Buffer = const { std::cell::RefCell::new(Vec::new()) };
}

/// A pointer that may cross to a worker thread: each worker adds to a
/// disjoint block of rows of `c`.
#[derive(Clone, Copy)]
struct Shared<F>(*mut F);
// SAFETY: only used for disjoint writes, joined before the borrow ends.
unsafe impl<F> Send for Shared<F> {}
unsafe impl<F> Sync for Shared<F> {}

/// `c += s·op(A) op(B)` through our GEMM (`C += A·B` mode): the smaller
/// operand is copied, scaled by `s`, into a per-thread buffer (for a
/// weight step that is the output gradient, a fraction of the weight's
/// size), and large products are split by rows of `c` over the team.
fn gemm_add_rows<F: Float>(
    m: usize,
    k: usize,
    n: usize,
    (a, rsa, csa): (&[F], usize, usize),
    (b, rsb, csb): (&[F], usize, usize),
    c: &mut [F],
    s: F,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    let scale_a = m * k <= k * n;
    let len = if scale_a { m * k } else { k * n };
    super::scratch::with(&SCALED, len, |scaled: &mut [F]| {
        // The scaled operand, row-major.
        let (a, rsa, csa, b, rsb, csb) = if scale_a {
            scaled_copy(a, m, k, rsa, csa, s, scaled);
            (&scaled[..], k, 1, b, rsb, csb)
        } else {
            scaled_copy(b, k, n, rsb, csb, s, scaled);
            (a, rsa, csa, &scaled[..], n, 1)
        };
        let threads = super::threads::threads_for(m * n * k)
            .min(m.div_ceil(16))
            .max(1);
        let block = m.div_ceil(threads);
        let (pa, pb, pc) = (
            a.as_ptr() as usize,
            b.as_ptr() as usize,
            Shared(c.as_mut_ptr()),
        );
        let run = |t: usize| {
            let first = t * block;
            let rows = block.min(m - first);
            let (pa, pb, pc) = (pa as *const F, pb as *const F, pc);
            // SAFETY: `a`, `b` and `c` hold m·k, k·n and m·n elements
            // (checked above; the scaled copy is row-major with exactly
            // that many), which is all the strides address; block `t` reads
            // rows first..first+rows of op(A) and adds to the same rows of
            // `c`, disjoint from every other block's; the borrows outlive
            // the join below.
            unsafe {
                super::gemm::gemm_into(
                    rows,
                    k,
                    n,
                    pa.add(first * rsa),
                    rsa,
                    csa,
                    pb,
                    rsb,
                    csb,
                    pc.0.add(first * n),
                    n,
                    1,
                    true,
                )
            }
        };
        if threads == 1 {
            run(0);
        } else {
            super::team::run_parts(threads, &run);
        }
    })
}

/// `out[i·cols + j] = s · x[i·rs + j·cs]`: a strided matrix copied
/// row-major and scaled.
fn scaled_copy<F: Float>(
    x: &[F],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
    s: F,
    out: &mut [F],
) {
    for i in 0..rows {
        let row = &mut out[i * cols..(i + 1) * cols];
        if cs == 1 {
            super::elementwise::map(&x[i * rs..i * rs + cols], row, |v| s * v);
        } else {
            for (j, o) in row.iter_mut().enumerate() {
                *o = s * x[i * rs + j * cs];
            }
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn dims(m: usize, k: usize, n: usize, ta: bool, tb: bool) -> MatMulDims {
        MatMulDims {
            batch: 1,
            m,
            k,
            n,
            ta,
            tb,
            a_batched: false,
            b_batched: false,
        }
    }

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
        for &(m, k, n) in &[(3, 4, 5), (70, 1, 90), (64, 48, 40), (300, 70, 130)] {
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
                matmul_add(&a, &b, &mut c, dims(m, k, n, ta, tb), s);
                assert_eq!(c, expect, "f64 {m}x{k}x{n} ta {ta} tb {tb}");
                let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
                let mut c32 = f(&c0);
                matmul_add(&f(&a), &f(&b), &mut c32, dims(m, k, n, ta, tb), s as f32);
                assert_eq!(c32, f(&expect), "f32 {m}x{k}x{n} ta {ta} tb {tb}");
            }
        }
    }
}
