//! Matrix products with transpose flags (no transposed copies): `C = op(A)
//! op(B)` where `op` is the identity or the transpose, batched over a
//! leading dimension. Large products go to our blocked, packed GEMM
//! (`kernels/gemm`, which allocates nothing once warm); tiny ones (the
//! worked example's 2×2) to a plain loop that has no packing overhead; a
//! single row (`m = 1`) or an outer product (`k = 1`) to the streaming
//! loops of `kernels/gemv.rs`.

use super::scratch;
use crate::float::Float;
use std::sync::atomic::{AtomicU8, Ordering};

/// The geometry of one (batched) product.
#[derive(Clone, Copy, Debug)]
pub struct MatMulDims {
    /// Number of products in the batch.
    pub batch: usize,
    /// Rows of `op(A)` and of `C`.
    pub m: usize,
    /// Columns of `op(A)`, rows of `op(B)`.
    pub k: usize,
    /// Columns of `op(B)` and of `C`.
    pub n: usize,
    /// `A` is stored as `[k, m]` and used transposed.
    pub ta: bool,
    /// `B` is stored as `[n, k]` and used transposed.
    pub tb: bool,
    /// Whether `A` has its own matrix per batch entry (else one shared).
    pub a_batched: bool,
    /// Whether `B` has its own matrix per batch entry (else one shared).
    pub b_batched: bool,
}

impl MatMulDims {
    /// One product (no batch) of `op(A)` m×k by `op(B)` k×n, each used
    /// transposed where flagged.
    pub fn single(m: usize, k: usize, n: usize, ta: bool, tb: bool) -> Self {
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

    /// The (row, column) strides of op(A) as an m×k matrix and of op(B)
    /// as a k×n matrix.
    #[inline]
    pub(super) fn strides(&self) -> ((usize, usize), (usize, usize)) {
        let (m, k, n) = (self.m, self.k, self.n);
        (
            if self.ta { (1, m) } else { (k, 1) },
            if self.tb { (1, k) } else { (n, 1) },
        )
    }
}

/// Products with fewer multiply-adds than this use the plain loop.
pub(super) const SMALL_PRODUCT: usize = 4096;

/// The plain loop for tiny products: `store(i·n + j, Σ_p op(A)[i,p]·op(B)[p,j])`
/// for every element of the m×n result.
#[inline]
pub(super) fn small_product<F: Float>(
    a: &[F],
    b: &[F],
    d: &MatMulDims,
    mut store: impl FnMut(usize, F),
) {
    let ((rsa, csa), (rsb, csb)) = d.strides();
    for i in 0..d.m {
        for j in 0..d.n {
            let mut acc = F::zero();
            for p in 0..d.k {
                acc += a[i * rsa + p * csa] * b[p * rsb + j * csb];
            }
            store(i * d.n + j, acc);
        }
    }
}

/// `out[b] = op(A[b]) op(B[b])` for every batch entry.
pub fn matmul<F: Float>(a: &[F], b: &[F], out: &mut [F], d: MatMulDims) {
    matmul_on(a, b, out, d, true);
}

/// [`matmul`] on the calling thread only: for kernels that already run
/// their own parts on the team (a chunk of a batched convolution), where a
/// nested split would find the team busy.
pub(crate) fn matmul_here<F: Float>(a: &[F], b: &[F], out: &mut [F], d: MatMulDims) {
    matmul_on(a, b, out, d, false);
}

/// [`matmul`], split over threads only if `parallel`.
fn matmul_on<F: Float>(a: &[F], b: &[F], out: &mut [F], d: MatMulDims, parallel: bool) {
    let MatMulDims { m, k, n, .. } = d;
    let ((rsa, csa), (rsb, csb)) = d.strides();
    for bi in 0..d.batch {
        let a = if d.a_batched {
            &a[bi * m * k..(bi + 1) * m * k]
        } else {
            &a[..m * k]
        };
        let b = if d.b_batched {
            &b[bi * k * n..(bi + 1) * k * n]
        } else {
            &b[..k * n]
        };
        let c = &mut out[bi * m * n..(bi + 1) * m * n];
        if k == 0 {
            c.fill(F::zero());
        } else if m * n * k < SMALL_PRODUCT {
            small_product(a, b, &d, |at, v| c[at] = v);
        } else if m == 1 {
            // A row vector (batch 1): op(A)'s k elements are contiguous
            // whether A is stored [1, k] or [k, 1].
            super::gemv::row_times_matrix(a, b, k, n, d.tb, c);
        } else if k == 1 {
            // An outer product (a weight gradient at batch 1): op(A) and
            // op(B) are contiguous vectors whatever their flags.
            super::gemv::outer(&a[..m], &b[..n], c);
        } else if d.tb && m * n * k < TRANSPOSE_BELOW && !own_gemm() {
            with_scratch(k * n, |bt: &mut [F]| {
                // B is stored [n, k]; bt = Bᵀ, stored [k, n].
                super::transpose::transpose(b, n, k, bt);
                gemm_rows(m, k, n, (a, rsa, csa), (bt, n, 1), c, false, parallel);
            });
        } else {
            gemm_rows(m, k, n, (a, rsa, csa), (b, rsb, csb), c, false, parallel);
        }
    }
}

/// Small products with `B` used transposed run faster on the gemm crate
/// with a transposed copy of `B` (ours packs it fast, so it takes the
/// flag as is): that GEMM packs a strided operand slowly, and at these sizes the
/// packing is most of the product (W3's 32×64·(64×64)ᵀ: 2.5 µs as is,
/// 1.95 µs as a 0.5 µs transposition and a 1.45 µs plain product). Large
/// products amortize their packing and keep the flag.
const TRANSPOSE_BELOW: usize = 1 << 18;

thread_local! {
    /// The transposed operand, reused from call to call.
    static SCRATCH: scratch::Buffer = const { std::cell::RefCell::new(Vec::new()) };
}

/// `f` on `len` elements of this thread's [`SCRATCH`] buffer (see
/// [`scratch::with`]).
fn with_scratch<F: Float, R>(len: usize, f: impl FnOnce(&mut [F]) -> R) -> R {
    scratch::with(&SCRATCH, len, f)
}

/// A pointer that may cross to a worker thread: each worker writes a
/// disjoint block of the output.
#[derive(Clone, Copy)]
struct Shared<F>(*mut F);
// SAFETY: only used for disjoint writes, joined before the borrow ends.
unsafe impl<F> Send for Shared<F> {}
unsafe impl<F> Sync for Shared<F> {}

/// Which GEMM the large products use: [`Backend::Auto`] (the default)
/// is ours (see [`own_gemm`]); the others force one, for the A/B
/// benchmark (`examples/gemm_ab.rs`).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Auto = 0,
    Own = 1,
    Crate = 2,
}

static BACKEND: AtomicU8 = AtomicU8::new(Backend::Auto as u8);

/// Sets the GEMM behind [`matmul`] (benchmarks only).
#[doc(hidden)]
pub fn set_backend(b: Backend) {
    BACKEND.store(b as u8, Ordering::Relaxed);
}

/// Whether a product runs on our GEMM ([`super::gemm`]: blocked, packed,
/// allocating nothing once warm) rather than the gemm crate's (which
/// allocates its packing buffers on every call). Ours by default, at every
/// shape: `examples/gemm_ab.rs` measures both.
fn own_gemm() -> bool {
    BACKEND.load(Ordering::Relaxed) != Backend::Crate as u8
}

/// `c = op(A) op(B)` (with `add`, `c += op(A) op(B)`) through the tuned
/// GEMM. A large product is split over threads along the dimension whose
/// operand is larger, so that no thread packs the big operand whole: by
/// rows of `c` when `op(A)` is the larger, by columns when `op(B)` is (each
/// block is one GEMM call); on the calling thread unless `parallel`.
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_rows<F: Float>(
    m: usize,
    k: usize,
    n: usize,
    (a, rsa, csa): (&[F], usize, usize),
    (b, rsb, csb): (&[F], usize, usize),
    c: &mut [F],
    add: bool,
    parallel: bool,
) {
    debug_assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    let by_columns = k * n > m * k;
    let span = if by_columns { n } else { m };
    let wanted = if parallel {
        super::threads::threads_for(m * n * k)
    } else {
        1
    };
    let threads = wanted.min(span.div_ceil(16)).max(1);
    let block = span.div_ceil(threads);
    let own = own_gemm();
    // Decided on the whole product, not per block (see `uses_dots`).
    let dots = super::gemm::uses_dots(m, k, n, csa, rsb);
    let (pa, pb, pc) = (
        a.as_ptr() as usize,
        b.as_ptr() as usize,
        Shared(c.as_mut_ptr()),
    );
    let run = |t: usize| {
        let first = t * block;
        let count = block.min(span - first);
        let (pa, pb) = (pa as *const F, pb as *const F);
        // SAFETY: `a`, `b` and `c` hold m·k, k·n and m·n elements, which is
        // all the strides address; block `t` covers rows (or columns)
        // first..first+count of op(A) (or op(B)) and of `c`, disjoint from
        // every other block's part of `c`; the borrow of `c` outlives the
        // join below.
        unsafe {
            let c = pc;
            let gemm_strided = if own {
                super::gemm::gemm_into::<F>
            } else {
                gemm_strided::<F>
            };
            if by_columns {
                gemm_strided(
                    m,
                    k,
                    count,
                    pa,
                    rsa,
                    csa,
                    pb.add(first * csb),
                    rsb,
                    csb,
                    c.0.add(first),
                    n,
                    1,
                    add,
                    dots,
                );
            } else {
                gemm_strided(
                    count,
                    k,
                    n,
                    pa.add(first * rsa),
                    rsa,
                    csa,
                    pb,
                    rsb,
                    csb,
                    c.0.add(first * n),
                    n,
                    1,
                    add,
                    dots,
                );
            }
        }
    };
    if threads == 1 {
        run(0);
    } else {
        super::team::run_parts(threads, &run);
    }
}

/// `C = A B` (`C` overwritten) on strided views given as raw pointers
/// (`rs*` row strides, `cs*` column strides, in elements), through the
/// gemm crate on the calling thread: the A/B reference for our own
/// [`super::gemm`] (`set_backend(Backend::Crate)`). It was chosen over
/// matrixmultiply at W2's and W3's shapes: 131–173 against 112–153
/// GFLOP/s on one core.
///
/// # Safety
/// Every element addressed by `(m, k, n)` and the strides must lie inside
/// live allocations, and no other thread may access the part of `c`
/// written (`c + i·rsc + j·csc` for `i < m`, `j < n`).
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_strided<F: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: *const F,
    rsa: usize,
    csa: usize,
    b: *const F,
    rsb: usize,
    csb: usize,
    c: *mut F,
    rsc: usize,
    csc: usize,
    add: bool,
    _dots: bool,
) {
    // SAFETY: the caller's contract is gemm's; `F` is f32 or f64, both of
    // which gemm implements (dst = 0·dst + 1·A·B, dst not read; with
    // `add`, dst = 1·dst + 1·A·B).
    let keep = if add { F::one() } else { F::zero() };
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            csc as isize,
            rsc as isize,
            add,
            a,
            csa as isize,
            rsa as isize,
            b,
            csb as isize,
            rsb as isize,
            keep,
            F::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_large_paths_agree_with_hand_arithmetic() {
        // [[1, 2], [3, 4]] @ [[5, 6], [7, 8]] = [[19, 22], [43, 50]].
        let mut c = [0.0f64; 4];
        matmul(
            &[1.0, 2.0, 3.0, 4.0],
            &[5.0, 6.0, 7.0, 8.0],
            &mut c,
            MatMulDims::single(2, 2, 2, false, false),
        );
        assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
        // Transposed A: stored [[1, 3], [2, 4]].
        matmul(
            &[1.0, 3.0, 2.0, 4.0],
            &[5.0, 6.0, 7.0, 8.0],
            &mut c,
            MatMulDims::single(2, 2, 2, true, false),
        );
        assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
        // Large: all-ones 40x30 @ 30x50 gives 30 everywhere, through GEMM,
        // with B stored transposed.
        let a = vec![1.0f32; 40 * 30];
        let b = vec![1.0f32; 50 * 30];
        let mut c = vec![0.0f32; 40 * 50];
        matmul(&a, &b, &mut c, MatMulDims::single(40, 30, 50, false, true));
        assert!(c.iter().all(|&v| v == 30.0));
    }

    #[test]
    fn small_products_with_b_transposed_agree_with_hand_arithmetic() {
        // The transposed-copy path (W3's shape): A[i][p] = i, B stored
        // [n, k] with B[j][p] = j − p, so C[i][j] = Σ_p i·(j − p)
        // = i·(k·j − k(k−1)/2). In f32 every value here is exact.
        let (m, k, n) = (32, 64, 64);
        let a: Vec<f32> = (0..m * k).map(|idx| (idx / k) as f32).collect();
        let b: Vec<f32> = (0..n * k)
            .map(|idx| (idx / k) as f32 - (idx % k) as f32)
            .collect();
        let mut c = vec![f32::NAN; m * n];
        matmul(&a, &b, &mut c, MatMulDims::single(m, k, n, false, true));
        for i in 0..m {
            for j in 0..n {
                let expected = i as f32 * (k as f32 * j as f32 - (k * (k - 1) / 2) as f32);
                assert_eq!(c[i * n + j], expected, "({i}, {j})");
            }
        }
    }

    #[test]
    fn the_bits_do_not_depend_on_the_thread_count() {
        // x·Wᵀ at 128×784·(32×784)ᵀ: whole, the product is blocked; split
        // in four blocks of 32 rows, each block alone would suit the
        // dot-product path, which sums in another order. Non-integer
        // values, so that the order shows in the bits.
        let (m, k, n) = (128, 784, 32);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7919) % 1000) as f32 / 997.0 - 0.5)
            .collect();
        let b: Vec<f32> = (0..n * k)
            .map(|i| ((i * 104_729) % 1000) as f32 / 991.0 - 0.5)
            .collect();
        let run = |threads| {
            super::super::threads::set_num_threads(threads);
            let mut c = vec![f32::NAN; m * n];
            matmul(&a, &b, &mut c, MatMulDims::single(m, k, n, false, true));
            c
        };
        let (one, four) = (run(1), run(4));
        super::super::threads::set_num_threads(0);
        assert!(one
            .iter()
            .zip(&four)
            .all(|(x, y)| x.to_bits() == y.to_bits()));
    }

    #[test]
    fn threaded_blocks_agree_with_hand_arithmetic() {
        // A large product split over threads, A used transposed: with
        // A[p][i] = i + p and B = ones, C[i][j] = Σ_p (i + p) = k·i + k(k−1)/2.
        super::super::threads::set_num_threads(2);
        let (m, k, n) = (300, 100, 80);
        let a: Vec<f64> = (0..k * m).map(|idx| ((idx % m) + idx / m) as f64).collect();
        let b = vec![1.0f64; k * n];
        let mut c = vec![0.0f64; m * n];
        matmul(&a, &b, &mut c, MatMulDims::single(m, k, n, true, false));
        for i in 0..m {
            let expected = (k * i) as f64 + (k * (k - 1) / 2) as f64;
            assert!(
                c[i * n..(i + 1) * n].iter().all(|&v| v == expected),
                "row {i}"
            );
        }
        // Split by columns (op(B) the larger), B used transposed:
        // B[j][p] = j − p, A = ones → C[i][j] = Σ_p (j − p) = k·j − k(k−1)/2.
        let (m, k, n) = (40, 100, 600);
        let a = vec![1.0f64; m * k];
        let b: Vec<f64> = (0..n * k)
            .map(|idx| (idx / k) as f64 - (idx % k) as f64)
            .collect();
        let mut c = vec![0.0f64; m * n];
        matmul(&a, &b, &mut c, MatMulDims::single(m, k, n, false, true));
        for i in 0..m {
            for j in 0..n {
                assert_eq!(
                    c[i * n + j],
                    (k * j) as f64 - (k * (k - 1) / 2) as f64,
                    "({i}, {j})"
                );
            }
        }
        super::super::threads::set_num_threads(0);
    }
}
