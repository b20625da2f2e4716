//! Register-blocked microkernels: `C[MR×NR] (+)= Ã·B̃` for one packed
//! sliver of `op(A)` (`kc` steps of `MR` values) and one of `op(B)` (`kc`
//! steps of `NR` values), see [`super::pack`]. The `MR × NR` accumulators
//! live in vector registers for the whole `kc` loop; each step loads `NR`
//! values of `B̃` as whole vectors, broadcasts each of the `MR` values of
//! `Ã` and issues `MR · NR / lanes` fused multiply-adds.
//!
//! Register budget (why these shapes): AVX-512 has 32 vector registers, so
//! 12 rows × 2 vectors = 24 accumulators, 2 for `B̃` and one broadcast fit
//! with room to spare; AVX2 has 16, so 6 × 2 = 12 accumulators + 2 + 1.
//! Measured against 8 × 2 and 14 × 2 (f32, AVX-512) on the shapes of
//! `examples/gemm_ab.rs`, 12 × 2 was fastest or tied.
//!
//! The portable kernel is plain Rust over small arrays (the compiler
//! vectorizes it for the baseline target).

/// Where one microtile's result goes: `rows × cols` (at most `MR × NR`) of
/// `C` from `c`, with row stride `rsc` and column stride `csc` (elements).
/// `accumulate`: add to `C` (later `kc` blocks) rather than overwrite it
/// (the first, which must not read `C`: its contents are unspecified).
#[derive(Clone, Copy, Debug)]
pub(super) struct Tile<T> {
    pub c: *mut T,
    pub rsc: usize,
    pub csc: usize,
    pub rows: usize,
    pub cols: usize,
    pub accumulate: bool,
}

/// A microkernel: `(kc, ã, b̃, tile)`.
///
/// # Safety
/// `ã` holds `kc · MR` and `b̃` `kc · NR` readable values; the tile's
/// `rows × cols` elements of `C` are valid for writes (and reads when
/// accumulating) and touched by no other thread; the processor has the
/// kernel's target features.
pub(super) type MicroFn<T> = unsafe fn(usize, *const T, *const T, &Tile<T>);

/// Writes a finished `MR × NR` tile (row-major, `nr` per row) to the
/// valid part of `C`: the edge tiles and non-unit column strides.
///
/// # Safety
/// As [`MicroFn`] for `tile`.
#[inline(always)]
unsafe fn scatter<T: Copy + std::ops::Add<Output = T>>(acc: &[T], nr: usize, tile: &Tile<T>) {
    for i in 0..tile.rows {
        for j in 0..tile.cols {
            // SAFETY: i < rows and j < cols address the tile's part of C,
            // which the caller vouches for.
            unsafe {
                let dst = tile.c.add(i * tile.rsc + j * tile.csc);
                let v = acc[i * nr + j];
                *dst = if tile.accumulate { *dst + v } else { v };
            }
        }
    }
}

/// The portable kernel's shape (f32 and f64 alike).
pub(super) const PORTABLE_MR: usize = 4;
pub(super) const PORTABLE_NR: usize = 8;

/// The portable microkernel for any float.
///
/// # Safety
/// See [`MicroFn`].
pub(super) unsafe fn portable<T>(kc: usize, a: *const T, b: *const T, tile: &Tile<T>)
where
    T: Copy + Default + std::ops::Add<Output = T> + std::ops::Mul<Output = T>,
{
    const MR: usize = PORTABLE_MR;
    const NR: usize = PORTABLE_NR;
    let mut acc = [[T::default(); NR]; MR];
    for p in 0..kc {
        // SAFETY: p < kc, and the slivers hold kc·MR and kc·NR values.
        let (av, bv) = unsafe {
            (
                *(a.add(p * MR) as *const [T; MR]),
                *(b.add(p * NR) as *const [T; NR]),
            )
        };
        for i in 0..MR {
            for j in 0..NR {
                acc[i][j] = acc[i][j] + av[i] * bv[j];
            }
        }
    }
    // SAFETY: `[[T; NR]; MR]` is laid out as MR·NR contiguous values.
    let flat = unsafe { std::slice::from_raw_parts(acc.as_ptr() as *const T, MR * NR) };
    // SAFETY: the caller's contract covers the tile.
    unsafe { scatter(flat, NR, tile) }
}

/// One x86 kernel: `$mr` rows × 2 vectors of `$lanes` lanes.
#[cfg(target_arch = "x86_64")]
macro_rules! x86_kernel {
    ($name:ident, $t:ty, $feat:literal, $mr:expr, $lanes:expr,
     $zero:ident, $load:ident, $set1:ident, $fma:ident, $add:ident, $store:ident) => {
        /// A register-blocked kernel (see the module's notes).
        ///
        /// # Safety
        /// See [`MicroFn`]; the processor must have the named features.
        #[target_feature(enable = $feat)]
        pub(super) unsafe fn $name(kc: usize, a: *const $t, b: *const $t, tile: &Tile<$t>) {
            use std::arch::x86_64::*;
            const MR: usize = $mr;
            const L: usize = $lanes;
            const NR: usize = 2 * L;
            let mut acc = [[$zero(); 2]; MR];
            let (mut a, mut b) = (a, b);
            for _ in 0..kc {
                // SAFETY: each of the kc steps reads MR values of ã and NR
                // of b̃, which the slivers hold; unaligned loads.
                unsafe {
                    let b0 = $load(b);
                    let b1 = $load(b.add(L));
                    for row in acc.iter_mut() {
                        let ai = $set1(*a);
                        row[0] = $fma(ai, b0, row[0]);
                        row[1] = $fma(ai, b1, row[1]);
                        a = a.add(1);
                    }
                    b = b.add(NR);
                }
            }
            if tile.rows == MR && tile.cols == NR && tile.csc == 1 {
                for (i, row) in acc.iter().enumerate() {
                    // SAFETY: a full tile with unit column stride: row i's
                    // NR elements are contiguous and the caller's.
                    unsafe {
                        let dst = tile.c.add(i * tile.rsc);
                        let (mut v0, mut v1) = (row[0], row[1]);
                        if tile.accumulate {
                            v0 = $add(v0, $load(dst));
                            v1 = $add(v1, $load(dst.add(L)));
                        }
                        $store(dst, v0);
                        $store(dst.add(L), v1);
                    }
                }
            } else {
                let mut flat = [0.0 as $t; MR * NR];
                for (i, row) in acc.iter().enumerate() {
                    // SAFETY: row i's NR values lie inside `flat`.
                    unsafe {
                        $store(flat.as_mut_ptr().add(i * NR), row[0]);
                        $store(flat.as_mut_ptr().add(i * NR + L), row[1]);
                    }
                }
                // SAFETY: the caller's contract covers the tile.
                unsafe { scatter(&flat, NR, tile) }
            }
        }
    };
}

/// Rows of the AVX-512 kernels (f32: 12 × 32, f64: 12 × 16).
pub(super) const AVX512_MR: usize = 12;
/// Rows of the AVX2 kernels (f32: 6 × 16, f64: 6 × 8).
pub(super) const AVX2_MR: usize = 6;

#[cfg(target_arch = "x86_64")]
x86_kernel!(
    avx512_f32,
    f32,
    "avx512f,fma",
    AVX512_MR,
    16,
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_add_ps,
    _mm512_storeu_ps
);
#[cfg(target_arch = "x86_64")]
x86_kernel!(
    avx512_f64,
    f64,
    "avx512f,fma",
    AVX512_MR,
    8,
    _mm512_setzero_pd,
    _mm512_loadu_pd,
    _mm512_set1_pd,
    _mm512_fmadd_pd,
    _mm512_add_pd,
    _mm512_storeu_pd
);
#[cfg(target_arch = "x86_64")]
x86_kernel!(
    avx2_f32,
    f32,
    "avx2,fma",
    AVX2_MR,
    8,
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_add_ps,
    _mm256_storeu_ps
);
#[cfg(target_arch = "x86_64")]
x86_kernel!(
    avx2_f64,
    f64,
    "avx2,fma",
    AVX2_MR,
    4,
    _mm256_setzero_pd,
    _mm256_loadu_pd,
    _mm256_set1_pd,
    _mm256_fmadd_pd,
    _mm256_add_pd,
    _mm256_storeu_pd
);
