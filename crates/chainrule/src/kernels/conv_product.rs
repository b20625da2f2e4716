//! The two product shapes of a small batched convolution, on the calling
//! thread and with no allocation: the tuned GEMM packs its operands into
//! memory it allocates per call at these shapes, and at a few ten thousand
//! multiply-adds the packing is most of the work.
//!
//! - [`product_nn`]: `c [m, n] = op(a) [m, k] · b [k, n]`, `b` row-major
//!   (the columns of a chunk of images side by side, `n` long), `op(a)`
//!   read through strides; four rows of `c` are updated together over a
//!   tile of columns, so that each row of `b` is read once per four rows.
//! - [`product_nt`]: `c [m, n] = a [m, l] · b [n, l]ᵀ`, dot products of
//!   long rows (the weight gradient, summed over every column of every
//!   image), accumulated in 16 lanes.
//!
//! Both run as AVX-512 or AVX2 code where the processor has it (chosen at
//! run time, as the elementwise kernels are); the operations and their
//! order are the same on every path.

use super::elementwise::{width, Width};
use crate::float::Float;

/// Columns of `c` updated together (four rows of this many stay in L1).
const TILE: usize = 512;

/// Lanes of the dot-product accumulators.
const LANES: usize = 16;

/// `c [m, n] = op(a) · b`: `op(a)[i, p] = a[i·rsa + p·csa]`, `b [k, n]`
/// row-major.
pub fn product_nn<F: Float>(
    a: &[F],
    (rsa, csa): (usize, usize),
    b: &[F],
    c: &mut [F],
    (m, k, n): (usize, usize, usize),
) {
    match width(n) {
        // SAFETY: `width` checked that the processor has the feature.
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { nn_avx512(a, (rsa, csa), b, c, (m, k, n)) },
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { nn_avx2(a, (rsa, csa), b, c, (m, k, n)) },
        _ => nn_loop(a, (rsa, csa), b, c, (m, k, n)),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn nn_avx512<F: Float>(
    a: &[F],
    s: (usize, usize),
    b: &[F],
    c: &mut [F],
    d: (usize, usize, usize),
) {
    nn_loop(a, s, b, c, d);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn nn_avx2<F: Float>(
    a: &[F],
    s: (usize, usize),
    b: &[F],
    c: &mut [F],
    d: (usize, usize, usize),
) {
    nn_loop(a, s, b, c, d);
}

#[inline(always)]
fn nn_loop<F: Float>(
    a: &[F],
    (rsa, csa): (usize, usize),
    b: &[F],
    c: &mut [F],
    (m, k, n): (usize, usize, usize),
) {
    let c = &mut c[..m * n];
    c.fill(F::zero());
    for j0 in (0..n).step_by(TILE) {
        let t = TILE.min(n - j0);
        let mut i = 0;
        while i + 4 <= m {
            let (c0, rest) = c[i * n..].split_at_mut(n);
            let (c1, rest) = rest.split_at_mut(n);
            let (c2, c3) = rest.split_at_mut(n);
            let (c0, c1) = (&mut c0[j0..j0 + t], &mut c1[j0..j0 + t]);
            let (c2, c3) = (&mut c2[j0..j0 + t], &mut c3[j0..j0 + t]);
            for p in 0..k {
                let at = |r: usize| a[(i + r) * rsa + p * csa];
                let (a0, a1, a2, a3) = (at(0), at(1), at(2), at(3));
                let row = &b[p * n + j0..p * n + j0 + t];
                for ((((o0, o1), o2), o3), &v) in c0
                    .iter_mut()
                    .zip(c1.iter_mut())
                    .zip(c2.iter_mut())
                    .zip(c3.iter_mut())
                    .zip(row)
                {
                    *o0 += a0 * v;
                    *o1 += a1 * v;
                    *o2 += a2 * v;
                    *o3 += a3 * v;
                }
            }
            i += 4;
        }
        for i in i..m {
            let out = &mut c[i * n + j0..i * n + j0 + t];
            for p in 0..k {
                let ai = a[i * rsa + p * csa];
                let row = &b[p * n + j0..p * n + j0 + t];
                for (o, &v) in out.iter_mut().zip(row) {
                    *o += ai * v;
                }
            }
        }
    }
}

/// `c [m, n] = a [m, l] · b [n, l]ᵀ`, both row-major.
pub fn product_nt<F: Float>(a: &[F], b: &[F], c: &mut [F], (m, l, n): (usize, usize, usize)) {
    match width(l) {
        // SAFETY: `width` checked that the processor has the feature.
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { nt_avx512(a, b, c, (m, l, n)) },
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { nt_avx2(a, b, c, (m, l, n)) },
        _ => nt_loop(a, b, c, (m, l, n)),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn nt_avx512<F: Float>(a: &[F], b: &[F], c: &mut [F], d: (usize, usize, usize)) {
    nt_loop(a, b, c, d);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn nt_avx2<F: Float>(a: &[F], b: &[F], c: &mut [F], d: (usize, usize, usize)) {
    nt_loop(a, b, c, d);
}

#[inline(always)]
fn nt_loop<F: Float>(a: &[F], b: &[F], c: &mut [F], (m, l, n): (usize, usize, usize)) {
    let whole = l - l % LANES;
    for i in 0..m {
        let ar = &a[i * l..(i + 1) * l];
        for j in 0..n {
            let br = &b[j * l..(j + 1) * l];
            let mut acc = [F::zero(); LANES];
            for (x, y) in ar[..whole]
                .chunks_exact(LANES)
                .zip(br[..whole].chunks_exact(LANES))
            {
                for q in 0..LANES {
                    acc[q] += x[q] * y[q];
                }
            }
            for (q, (&x, &y)) in ar[whole..].iter().zip(&br[whole..]).enumerate() {
                acc[q] += x * y;
            }
            // Pairwise over the lanes.
            let mut width = LANES;
            while width > 1 {
                width /= 2;
                for q in 0..width {
                    acc[q] += acc[q + width];
                }
            }
            c[i * n + j] = acc[0];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_products_agree_with_the_definition() {
        let mut seed = 0u64;
        let mut next = move || {
            seed += 1;
            crate::rng::sym_at(7, seed)
        };
        for (m, k, n) in [(1, 1, 1), (3, 5, 7), (4, 9, 600), (9, 3, 1100), (6, 25, 40)] {
            let a: Vec<f64> = (0..m * k).map(|_| next()).collect();
            let b: Vec<f64> = (0..k * n).map(|_| next()).collect();
            let want = |i: usize, j: usize, at: &dyn Fn(usize, usize) -> f64| {
                (0..k).map(|p| at(i, p) * b[p * n + j]).sum::<f64>()
            };
            // op(a) = a, then op(a) = (aᵀ stored [k, m])ᵀ.
            let at: Vec<f64> = (0..k * m).map(|q| a[(q % m) * k + q / m]).collect();
            for (src, strides) in [(&a, (k, 1)), (&at, (1, m))] {
                let mut c = vec![f64::NAN; m * n];
                product_nn(src, strides, &b, &mut c, (m, k, n));
                for i in 0..m {
                    for j in 0..n {
                        let w = want(i, j, &|i, p| a[i * k + p]);
                        assert!((c[i * n + j] - w).abs() < 1e-12, "{m}×{k}×{n}");
                    }
                }
            }
            // The same product as a · (bᵀ stored [n, k])ᵀ.
            let bt: Vec<f64> = (0..n * k).map(|q| b[(q % k) * n + q / k]).collect();
            let mut c = vec![f64::NAN; m * n];
            product_nt(&a, &bt, &mut c, (m, k, n));
            for i in 0..m {
                for j in 0..n {
                    let w = want(i, j, &|i, p| a[i * k + p]);
                    assert!((c[i * n + j] - w).abs() < 1e-12, "nt {m}×{k}×{n}");
                }
            }
        }
    }
}
