//! The two degenerate products of a batch of one row, which a GEMM handles
//! badly: a row vector times a matrix (`m = 1`: the forward pass and the
//! input gradient at batch 1) and an outer product (`k = 1`: the weight
//! gradient at batch 1). Both are bound by memory, not arithmetic: each
//! element of the matrix is read (or written) once, so they stream it
//! without packing it or (for `B` used transposed) copying it first. At W5's
//! batch 1 (784-512-256-10) the transposed copy alone took a fifth of the
//! step.
//!
//! The loops are written so that the compiler vectorizes them; they run as
//! AVX-512 or AVX2 code with fused multiply-adds where the processor has
//! them (chosen at run time; the GEMM they replace also fuses).

use super::elementwise::{width, Width};
use crate::float::Float;

/// Lanes of independent accumulators in a dot product: two AVX-512
/// registers of f32, enough to hide the latency of the additions.
const LANES: usize = 32;

/// `out = x · op(B)` for a row `x` of `k` elements: `B` stored `[k, n]`
/// (`tb = false`) or `[n, k]` used transposed (`tb = true`).
pub fn row_times_matrix<F: Float>(x: &[F], b: &[F], k: usize, n: usize, tb: bool, out: &mut [F]) {
    debug_assert!(x.len() >= k && b.len() >= k * n && out.len() >= n);
    let (x, b, out) = (&x[..k], &b[..k * n], &mut out[..n]);
    match width(k * n) {
        // SAFETY: `width` checked that the processor has the features.
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { row_times_matrix_avx512(x, b, tb, out) },
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { row_times_matrix_avx2(x, b, tb, out) },
        _ => row_times_matrix_loop(x, b, tb, out),
    }
}

/// `out[i·n + j] = a[i] · b[j]` (`out` is `[m, n]`, `m = a.len()`, `n = b.len()`).
pub fn outer<F: Float>(a: &[F], b: &[F], out: &mut [F]) {
    debug_assert!(out.len() >= a.len() * b.len());
    match width(out.len()) {
        // SAFETY: `width` checked that the processor has the features.
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { outer_avx512(a, b, out) },
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { outer_avx2(a, b, out) },
        _ => outer_loop(a, b, out),
    }
}

/// `out[i·n + j] += (s·a[i]) · b[j]`: the outer product added, scaled, to
/// `out` (a fused gradient-descent step at a batch of one row).
pub fn outer_add<F: Float>(a: &[F], b: &[F], s: F, out: &mut [F]) {
    debug_assert!(out.len() >= a.len() * b.len());
    match width(out.len()) {
        // SAFETY: `width` checked that the processor has the features.
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { outer_add_avx512(a, b, s, out) },
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { outer_add_avx2(a, b, s, out) },
        _ => outer_add_loop(a, b, s, out),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn outer_add_avx512<F: Float>(a: &[F], b: &[F], s: F, out: &mut [F]) {
    outer_add_loop(a, b, s, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn outer_add_avx2<F: Float>(a: &[F], b: &[F], s: F, out: &mut [F]) {
    outer_add_loop(a, b, s, out);
}

#[inline(always)]
fn outer_add_loop<F: Float>(a: &[F], b: &[F], s: F, out: &mut [F]) {
    for (row, &ai) in out.chunks_exact_mut(b.len()).zip(a) {
        let sa = s * ai;
        for (o, &bj) in row.iter_mut().zip(b) {
            *o = bj.mul_add(sa, *o);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn row_times_matrix_avx512<F: Float>(x: &[F], b: &[F], tb: bool, out: &mut [F]) {
    row_times_matrix_loop(x, b, tb, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn row_times_matrix_avx2<F: Float>(x: &[F], b: &[F], tb: bool, out: &mut [F]) {
    row_times_matrix_loop(x, b, tb, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn outer_avx512<F: Float>(a: &[F], b: &[F], out: &mut [F]) {
    outer_loop(a, b, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn outer_avx2<F: Float>(a: &[F], b: &[F], out: &mut [F]) {
    outer_loop(a, b, out);
}

#[inline(always)]
fn row_times_matrix_loop<F: Float>(x: &[F], b: &[F], tb: bool, out: &mut [F]) {
    if tb {
        // out[j] = x · B[j, ·]: a dot product with each contiguous row.
        for (o, row) in out.iter_mut().zip(b.chunks_exact(x.len())) {
            *o = dot(x, row);
        }
    } else {
        // out = Σ_p x[p] B[p, ·], four rows of B per pass over `out`.
        let n = out.len();
        out.fill(F::zero());
        let mut rows = b.chunks_exact(4 * n);
        let mut xs = x.chunks_exact(4);
        for (quad, xq) in (&mut rows).zip(&mut xs) {
            let (r0, rest) = quad.split_at(n);
            let (r1, rest) = rest.split_at(n);
            let (r2, r3) = rest.split_at(n);
            let (x0, x1, x2, x3) = (xq[0], xq[1], xq[2], xq[3]);
            for j in 0..n {
                let acc = r0[j].mul_add(x0, out[j]);
                let acc = r1[j].mul_add(x1, acc);
                let acc = r2[j].mul_add(x2, acc);
                out[j] = r3[j].mul_add(x3, acc);
            }
        }
        for (row, &xp) in rows.remainder().chunks_exact(n).zip(xs.remainder()) {
            for (o, &v) in out.iter_mut().zip(row) {
                *o = v.mul_add(xp, *o);
            }
        }
    }
}

/// `Σ x[p] y[p]` in [`LANES`] independent partial sums.
#[inline(always)]
fn dot<F: Float>(x: &[F], y: &[F]) -> F {
    let mut acc = [F::zero(); LANES];
    let (xc, yc) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (xs, ys) in xc.zip(yc) {
        for l in 0..LANES {
            acc[l] = xs[l].mul_add(ys[l], acc[l]);
        }
    }
    let mut tail = F::zero();
    for (&a, &b) in xr.iter().zip(yr) {
        tail = a.mul_add(b, tail);
    }
    // Pairwise halving keeps the reduction vectorized.
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for l in 0..width {
            let upper = acc[l + width];
            acc[l] += upper;
        }
    }
    acc[0] + tail
}

#[inline(always)]
fn outer_loop<F: Float>(a: &[F], b: &[F], out: &mut [F]) {
    for (row, &ai) in out.chunks_exact_mut(b.len()).zip(a) {
        for (o, &bj) in row.iter_mut().zip(b) {
            *o = ai * bj;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values in [-1, 1) with a short period, exact in f32.
    fn values(len: usize, seed: usize) -> Vec<f64> {
        (0..len)
            .map(|i| ((i * 37 + seed * 11) % 64) as f64 / 32.0 - 1.0)
            .collect()
    }

    fn check_row_times_matrix(k: usize, n: usize, tb: bool) {
        let (x, b) = (values(k, 1), values(k * n, 2));
        // f64 reference by the definition, summed in order.
        let expect: Vec<f64> = (0..n)
            .map(|j| {
                (0..k)
                    .map(|p| x[p] * if tb { b[j * k + p] } else { b[p * n + j] })
                    .sum()
            })
            .collect();
        let (xf, bf): (Vec<f32>, Vec<f32>) = (
            x.iter().map(|&v| v as f32).collect(),
            b.iter().map(|&v| v as f32).collect(),
        );
        let mut out = vec![f32::NAN; n];
        row_times_matrix(&xf, &bf, k, n, tb, &mut out);
        for (j, (&o, &e)) in out.iter().zip(&expect).enumerate() {
            // Inputs are multiples of 2^-5, products of 2^-10: every partial
            // sum below 2^13 is exact in f32, whatever the order.
            assert_eq!(o as f64, e, "k {k} n {n} tb {tb} column {j}");
        }
        let mut out64 = vec![f64::NAN; n];
        row_times_matrix(&x, &b, k, n, tb, &mut out64);
        assert_eq!(out64, expect);
    }

    #[test]
    fn a_row_times_a_matrix_is_every_column_dot_product() {
        // Shapes with remainders in every loop: k not a multiple of 4 or of
        // the lanes, n below and above a vector's width.
        for &(k, n) in &[
            (1, 1),
            (3, 5),
            (4, 64),
            (7, 9),
            (33, 17),
            (784, 512),
            (70, 130),
        ] {
            check_row_times_matrix(k, n, false);
            check_row_times_matrix(k, n, true);
        }
    }

    #[test]
    fn an_outer_product_is_every_pairwise_product() {
        let (a, b) = (values(13, 3), values(70, 4));
        let mut out = vec![f64::NAN; 13 * 70];
        outer(&a, &b, &mut out);
        for i in 0..13 {
            for j in 0..70 {
                assert_eq!(out[i * 70 + j], a[i] * b[j]);
            }
        }
    }
}
