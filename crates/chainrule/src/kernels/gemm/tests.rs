//! Products checked against the definition, `C[i][j] = Σ_p op(A)[i][p]
//! op(B)[p][j]` summed in f64 by a triple loop. The inputs are small
//! integers, so every partial sum is exact in f32 as in f64 and any
//! summation order gives the reference exactly: the checks are equalities.

use super::*;

/// Deterministic integers in −4..=4 (a linear congruential generator).
fn ints(len: usize, seed: u64) -> Vec<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) % 9) as f64 - 4.0
        })
        .collect()
}

/// Every kernel this processor can run for `T`, portable first.
fn kernels<T: Float>() -> Vec<Kernel<T>> {
    let mut all: Vec<Kernel<T>> = Vec::new();
    let f32 = TypeId::of::<T>() == TypeId::of::<f32>();
    // SAFETY (all three casts): `T` is f32 when `f32` holds, else f64, so
    // each pointer is a `MicroFn<T>`.
    let cast = |p: *const ()| unsafe { std::mem::transmute::<*const (), MicroFn<T>>(p) };
    let lanes = if f32 { 16 } else { 8 };
    let portable = cast(if f32 {
        micro::portable::<f32> as MicroFn<f32> as *const ()
    } else {
        micro::portable::<f64> as MicroFn<f64> as *const ()
    });
    all.push(Kernel::new(
        micro::PORTABLE_MR,
        micro::PORTABLE_NR,
        portable,
        portable,
    ));
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2() {
            all.push(Kernel::new(
                micro::AVX2_MR,
                lanes,
                cast(if f32 {
                    micro::avx2_f32 as MicroFn<f32> as *const ()
                } else {
                    micro::avx2_f64 as MicroFn<f64> as *const ()
                }),
                cast(if f32 {
                    micro::avx2_f32_direct as MicroFn<f32> as *const ()
                } else {
                    micro::avx2_f64_direct as MicroFn<f64> as *const ()
                }),
            ));
        }
        if has_avx512() {
            all.push(Kernel::new(
                micro::AVX512_MR,
                2 * lanes,
                cast(if f32 {
                    micro::avx512_f32 as MicroFn<f32> as *const ()
                } else {
                    micro::avx512_f64 as MicroFn<f64> as *const ()
                }),
                cast(if f32 {
                    micro::avx512_f32_direct as MicroFn<f32> as *const ()
                } else {
                    micro::avx512_f64_direct as MicroFn<f64> as *const ()
                }),
            ));
        }
    }
    let _ = lanes;
    all
}

/// A `rows × cols` matrix stored row-major with row stride `cols + 3`
/// (`transposed`: stored column-major with column stride `rows + 2`), or
/// with every element two apart (`spread`); returns the storage and the
/// view of the logical matrix.
fn store<T: Float>(m: &[f64], rows: usize, cols: usize, layout: u8) -> (Vec<T>, usize, usize) {
    let (len, rs, cs) = match layout {
        0 => (rows * (cols + 3), cols + 3, 1),
        1 => ((rows + 2) * cols, 1, rows + 2),
        _ => (2 * rows * cols, 2 * cols, 2),
    };
    let mut s = vec![T::from_f64(f64::NAN); len.max(1)];
    for i in 0..rows {
        for j in 0..cols {
            s[i * rs + j * cs] = T::from_f64(m[i * cols + j]);
        }
    }
    (s, rs, cs)
}

/// With `add`, C starts as other small integers and the product is added
/// to them (`C += A·B`).
fn check<T: Float>(kern: &Kernel<T>, (m, k, n): (usize, usize, usize), la: u8, lb: u8, add: bool) {
    let a = ints(m * k, (m * 1000 + k) as u64);
    let b = ints(k * n, (k * 1000 + n) as u64);
    let mut reference = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            for p in 0..k {
                reference[i * n + j] += a[i * k + p] * b[p * n + j];
            }
        }
    }
    let (sa, rsa, csa) = store::<T>(&a, m, k, la);
    let (sb, rsb, csb) = store::<T>(&b, k, n, lb);
    // C with a row stride past n: the gaps must stay untouched, and C
    // starts as NaN: a kernel that read it on the first block would fail.
    let rsc = n + 5;
    let mut c = vec![T::from_f64(f64::NAN); m * rsc];
    if add {
        let c0 = ints(m * n, (n * 1000 + m) as u64);
        for i in 0..m {
            for j in 0..n {
                c[i * rsc + j] = T::from_f64(c0[i * n + j]);
                reference[i * n + j] += c0[i * n + j];
            }
        }
    }
    // SAFETY: the views address the matrices inside their storage; c holds
    // m rows of rsc ≥ n elements.
    unsafe {
        drive(
            kern,
            m,
            k,
            n,
            Strided {
                ptr: sa.as_ptr(),
                rs: rsa,
                cs: csa,
            },
            Strided {
                ptr: sb.as_ptr(),
                rs: rsb,
                cs: csb,
            },
            c.as_mut_ptr(),
            rsc,
            1,
            add,
            dot::suits(m, k, n, csa, rsb),
        )
    };
    for i in 0..m {
        for j in 0..n {
            assert_eq!(
                c[i * rsc + j].as_f64(),
                reference[i * n + j],
                "{} mr {} {m}×{k}×{n} layouts {la}/{lb} add {add} at ({i}, {j})",
                T::NAME,
                kern.mr
            );
        }
        assert!(c[i * rsc + n..(i + 1) * rsc].iter().all(|v| v.is_nan()));
    }
}

/// Shapes with remainders of every block: MR (4, 6, 12), NR (8, 16, 32),
/// KC (256), MC (f32 192, f64 96), NC (f32 512, f64 256), the transposed
/// orientation (few columns), the dot-product path (long depth), and
/// degenerate sizes.
const SHAPES: [(usize, usize, usize); 16] = [
    // Long depth next to a small C: the dot-product path when op(A) is
    // row-major and op(B) column-major.
    (3, 300, 5),
    (6, 1100, 9),
    (1, 1, 1),
    (2, 3, 5),
    (12, 8, 32),
    (13, 7, 33),
    (11, 17, 31),
    (25, 1, 47),
    (7, 20, 3),
    (130, 9, 10),
    (97, 258, 19),
    (193, 5, 40),
    (37, 300, 65),
    (5, 3, 530),
    (14, 257, 260),
    (200, 70, 515),
];

fn all_shapes<T: Float>() {
    for kern in kernels::<T>() {
        for &(m, k, n) in &SHAPES {
            for (la, lb) in [(0, 0), (1, 0), (0, 1), (1, 1), (2, 2)] {
                check(&kern, (m, k, n), la, lb, false);
            }
            // C += A·B (the flag changes only the first block's store),
            // (0, 1) for the dot-product path.
            for (la, lb) in [(0, 0), (0, 1), (1, 1)] {
                check(&kern, (m, k, n), la, lb, true);
            }
        }
    }
}

#[test]
fn f32_products_equal_the_definition_on_every_kernel() {
    all_shapes::<f32>();
}

#[test]
fn f64_products_equal_the_definition_on_every_kernel() {
    all_shapes::<f64>();
}

#[test]
fn zero_depth_gives_zeros() {
    let mut c = [f32::NAN; 6];
    let none: [f32; 0] = [];
    // SAFETY: k = 0 reads nothing; c holds 2×3.
    unsafe {
        gemm_into(
            2,
            0,
            3,
            none.as_ptr(),
            0,
            1,
            none.as_ptr(),
            3,
            1,
            c.as_mut_ptr(),
            3,
            1,
            false,
            false,
        )
    };
    assert_eq!(c, [0.0; 6]);
}
