//! Products whose both operands run along the depth (`op(A)` row-major,
//! `op(B)` column-major: `A · Bᵀ` with `B` stored row-major) and whose
//! depth is long next to the result: a convolution's weight gradient,
//! `dY [O, B·P] · colsᵀ` with `B·P` in the thousands and `O × K` small.
//! Each `C[i][j]` is a dot product of two contiguous rows, so nothing is
//! packed: blocks of 2 rows of `op(A)` × 4 columns of `op(B)` keep 8
//! vector accumulators (6 loads per 8 fused multiply-adds), and the depth
//! is cut into chunks whose rows stay in L2 across the blocks.

use super::pack::Strided;
use crate::float::Float;

/// Lanes per accumulator: one AVX-512 vector of f32 (two of f64, two
/// AVX2 vectors of f32; the compiler splits the arrays).
const W: usize = 16;

/// Depth per chunk: a block's 2 + 4 rows of 512 f32 (2 KiB each) and the
/// next blocks' stay in L1/L2; C is read back once per chunk (measured:
/// 256 and 2048 ran the same on W4's 6×10192×25 product).
const CHUNK: usize = 512;

/// Whether [`dots`] suits this product: both operands contiguous along
/// the depth, which is at least 16 times the larger side of `C`.
pub(super) fn suits(m: usize, k: usize, n: usize, csa: usize, rsb: usize) -> bool {
    csa == 1 && rsb == 1 && k >= 16 * m.max(n)
}

/// Whether both operands are contiguous along the depth, which [`dots`]
/// needs (a block of a product that [`suits`] keeps its layout).
pub(super) fn layout_suits<T>(a: &Strided<T>, b: &Strided<T>) -> bool {
    a.cs == 1 && b.rs == 1
}

/// `C = op(A) op(B)` (with `add`, `C += op(A) op(B)`) by dot products of
/// rows (see the module's notes), on the widest vector path this processor
/// has.
///
/// # Safety
/// As [`super::gemm_into`], with [`layout_suits`] true.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn dots<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: Strided<T>,
    b: Strided<T>,
    c: *mut T,
    rsc: usize,
    csc: usize,
    add: bool,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if super::has_avx512() && std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
            let (a, b) = (a.cast::<f32>(), b.cast::<f32>());
            // SAFETY: the caller's contract; T is f32 (checked above), so
            // the casts relabel the element type as itself.
            return unsafe { dots_avx512_f32(m, k, n, a, b, c as *mut f32, rsc, csc, add) };
        }
        if super::has_avx512() {
            // SAFETY: the caller's contract; the processor has the features.
            return unsafe { dots_avx512(m, k, n, a, b, c, rsc, csc, add) };
        }
        if super::has_avx2() {
            // SAFETY: as above.
            return unsafe { dots_avx2(m, k, n, a, b, c, rsc, csc, add) };
        }
    }
    // SAFETY: the caller's contract.
    unsafe { dots_loop(m, k, n, a, b, c, rsc, csc, add) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn dots_avx512<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: Strided<T>,
    b: Strided<T>,
    c: *mut T,
    rsc: usize,
    csc: usize,
    add: bool,
) {
    // SAFETY: the caller's contract.
    unsafe { dots_loop(m, k, n, a, b, c, rsc, csc, add) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn dots_avx2<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: Strided<T>,
    b: Strided<T>,
    c: *mut T,
    rsc: usize,
    csc: usize,
    add: bool,
) {
    // SAFETY: the caller's contract.
    unsafe { dots_loop(m, k, n, a, b, c, rsc, csc, add) }
}

/// [`dots_loop`] for f32 with AVX-512 intrinsics: the generic blocks keep
/// half their accumulators in memory there.
///
/// # Safety
/// As [`dots`]; the processor has AVX-512F and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn dots_avx512_f32(
    m: usize,
    k: usize,
    n: usize,
    a: Strided<f32>,
    b: Strided<f32>,
    c: *mut f32,
    rsc: usize,
    csc: usize,
    add: bool,
) {
    for p0 in (0..k).step_by(CHUNK) {
        let depth = CHUNK.min(k - p0);
        let first = p0 == 0 && !add;
        for i0 in (0..m).step_by(2) {
            for j0 in (0..n).step_by(4) {
                let (rows, cols) = (2.min(m - i0), 4.min(n - j0));
                // SAFETY: as in `dots_loop`.
                unsafe {
                    let (a0, b0) = (a.at(i0, p0), b.at(p0, j0));
                    let out = c.add(i0 * rsc + j0 * csc);
                    match (rows, cols) {
                        (2, 4) => block_avx512::<2, 4>(a0, b0, depth, out, rsc, csc, first),
                        (2, 3) => block_avx512::<2, 3>(a0, b0, depth, out, rsc, csc, first),
                        (2, 2) => block_avx512::<2, 2>(a0, b0, depth, out, rsc, csc, first),
                        (2, _) => block_avx512::<2, 1>(a0, b0, depth, out, rsc, csc, first),
                        (_, 4) => block_avx512::<1, 4>(a0, b0, depth, out, rsc, csc, first),
                        (_, 3) => block_avx512::<1, 3>(a0, b0, depth, out, rsc, csc, first),
                        (_, 2) => block_avx512::<1, 2>(a0, b0, depth, out, rsc, csc, first),
                        _ => block_avx512::<1, 1>(a0, b0, depth, out, rsc, csc, first),
                    }
                }
            }
        }
    }
}

/// [`block`] for f32 with AVX-512 intrinsics.
///
/// # Safety
/// As [`block`]; the processor has AVX-512F and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
#[inline]
// Index loops over the fixed R × S register block read clearest.
#[allow(clippy::needless_range_loop)]
unsafe fn block_avx512<const R: usize, const S: usize>(
    a: Strided<f32>,
    b: Strided<f32>,
    depth: usize,
    c: *mut f32,
    rsc: usize,
    csc: usize,
    first: bool,
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); S]; R];
    let full = depth / 16 * 16;
    for p in (0..full).step_by(16) {
        let mut av = [_mm512_setzero_ps(); R];
        let mut bv = [_mm512_setzero_ps(); S];
        // SAFETY: p + 16 ≤ depth: inside each row (the caller's contract).
        unsafe {
            for (r, v) in av.iter_mut().enumerate() {
                *v = _mm512_loadu_ps(a.ptr.add(r * a.rs + p));
            }
            for (s, v) in bv.iter_mut().enumerate() {
                *v = _mm512_loadu_ps(b.ptr.add(s * b.cs + p));
            }
        }
        for r in 0..R {
            for s in 0..S {
                acc[r][s] = _mm512_fmadd_ps(av[r], bv[s], acc[r][s]);
            }
        }
    }
    for r in 0..R {
        for s in 0..S {
            let mut sum = _mm512_reduce_add_ps(acc[r][s]);
            for p in full..depth {
                // SAFETY: p < depth.
                sum += unsafe { *a.ptr.add(r * a.rs + p) * *b.ptr.add(s * b.cs + p) };
            }
            // SAFETY: (r, s) is in the caller's block of C.
            unsafe {
                let dst = c.add(r * rsc + s * csc);
                *dst = if first { sum } else { *dst + sum };
            }
        }
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn dots_loop<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: Strided<T>,
    b: Strided<T>,
    c: *mut T,
    rsc: usize,
    csc: usize,
    add: bool,
) {
    for p0 in (0..k).step_by(CHUNK) {
        let depth = CHUNK.min(k - p0);
        let first = p0 == 0 && !add;
        for i0 in (0..m).step_by(2) {
            for j0 in (0..n).step_by(4) {
                let (rows, cols) = (2.min(m - i0), 4.min(n - j0));
                // SAFETY: rows i0.. and columns j0.. of the depth range
                // p0..p0 + depth lie inside A and B, and the block's
                // elements of C are the caller's.
                unsafe {
                    let (a0, b0) = (a.at(i0, p0), b.at(p0, j0));
                    let out = c.add(i0 * rsc + j0 * csc);
                    match (rows, cols) {
                        (2, 4) => block::<T, 2, 4>(a0, b0, depth, out, rsc, csc, first),
                        (2, 3) => block::<T, 2, 3>(a0, b0, depth, out, rsc, csc, first),
                        (2, 2) => block::<T, 2, 2>(a0, b0, depth, out, rsc, csc, first),
                        (2, _) => block::<T, 2, 1>(a0, b0, depth, out, rsc, csc, first),
                        (_, 4) => block::<T, 1, 4>(a0, b0, depth, out, rsc, csc, first),
                        (_, 3) => block::<T, 1, 3>(a0, b0, depth, out, rsc, csc, first),
                        (_, 2) => block::<T, 1, 2>(a0, b0, depth, out, rsc, csc, first),
                        _ => block::<T, 1, 1>(a0, b0, depth, out, rsc, csc, first),
                    }
                }
            }
        }
    }
}

/// `C[r][s] (+)= Σ_p A[r][p] B[p][s]` for `R × S` results over `depth`.
///
/// # Safety
/// Rows `0..R` of `a` and columns `0..S` of `b` hold `depth` values each
/// (unit stride along the depth); the `R × S` elements of `c` are the
/// caller's.
#[inline(always)]
// Index loops over the fixed R × S register block read clearest.
#[allow(clippy::needless_range_loop)]
unsafe fn block<T: Float, const R: usize, const S: usize>(
    a: Strided<T>,
    b: Strided<T>,
    depth: usize,
    c: *mut T,
    rsc: usize,
    csc: usize,
    first: bool,
) {
    let mut acc = [[[T::zero(); W]; S]; R];
    let full = depth / W * W;
    for p in (0..full).step_by(W) {
        // SAFETY: p + W ≤ depth: inside each row (the caller's contract).
        let (av, bv): ([[T; W]; R], [[T; W]; S]) = unsafe {
            (
                std::array::from_fn(|r| *(a.ptr.add(r * a.rs + p) as *const [T; W])),
                std::array::from_fn(|s| *(b.ptr.add(s * b.cs + p) as *const [T; W])),
            )
        };
        for r in 0..R {
            for s in 0..S {
                for l in 0..W {
                    acc[r][s][l] = av[r][l].mul_add(bv[s][l], acc[r][s][l]);
                }
            }
        }
    }
    for r in 0..R {
        for s in 0..S {
            // A pairwise sum by halves (lanes of registers, no memory).
            let mut lanes = acc[r][s];
            let mut width = W;
            while width > 1 {
                width /= 2;
                for l in 0..width {
                    let upper = lanes[l + width];
                    lanes[l] += upper;
                }
            }
            let mut sum = lanes[0];
            for p in full..depth {
                // SAFETY: p < depth.
                sum += unsafe { *a.ptr.add(r * a.rs + p) * *b.ptr.add(s * b.cs + p) };
            }
            // SAFETY: (r, s) is in the caller's block of C.
            unsafe {
                let dst = c.add(r * rsc + s * csc);
                *dst = if first { sum } else { *dst + sum };
            }
        }
    }
}
