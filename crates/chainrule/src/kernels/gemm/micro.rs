//! Register-blocked microkernels: `C[MR×NR] (+)= Ã·B̃` for one packed
//! sliver of `op(A)` (`kc` steps of `MR` values) and one of `op(B)` (`kc`
//! steps of `NR` values), see [`super::pack`]. The `MR × NR` accumulators
//! live in vector registers for the whole `kc` loop; each step loads `NR`
//! values of `B̃` as whole vectors, broadcasts each of the `MR` values of
//! `Ã` and issues `MR · NR / lanes` fused multiply-adds.
//!
//! Register budget (why these shapes): AVX-512 has 32 vector registers;
//! 8 rows × 2 vectors = 16 accumulators, 2 for `B̃` and one broadcast
//! (Zen 4 issues one 512-bit FMA per cycle at a latency of 4, so 16
//! independent chains keep it busy). 12 × 2 (24 accumulators) fits too,
//! but measured slower at the training shapes (`examples/gemm_ab.rs`):
//! 0.73–0.87 of the gemm crate against 0.91–0.97 for 8 × 2 on W3's
//! 32×64×64 and 128×1024×1024, since 128 or 32 rows are a multiple of 8
//! and not of 12. AVX2 has 16 registers: 6 × 2 = 12 accumulators + 2 + 1.
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

/// A microkernel: `(kc, ã, ars, aps, b̃, bps, tile)`, where row `i` of step
/// `p` of `Ã` is at `ã + i·ars + p·aps` (a packed sliver: `ars = 1`,
/// `aps = MR`, which the packed kernels assume; the direct ones read a
/// strided `op(A)` in place, `ars` and `aps` its row and column strides), and
/// step `p` of `B̃` is the `NR` contiguous values at `b̃ + p·bps` (packed:
/// `bps = NR`; a row-major `op(B)` read in place: its row stride).
///
/// # Safety
/// `ã` and `b̃` address `kc · MR` and `kc · NR` readable values as
/// above; the tile's
/// `rows × cols` elements of `C` are valid for writes (and reads when
/// accumulating) and touched by no other thread; the processor has the
/// kernel's target features.
pub(super) type MicroFn<T> = unsafe fn(usize, *const T, usize, usize, *const T, usize, &Tile<T>);

/// Writes a finished `MR × NR` tile (row-major, `nr` per row) to the
/// valid part of `C`: the tiles cut at the last columns and those with a
/// non-unit column stride.
///
/// # Safety
/// As [`MicroFn`] for `tile`.
#[inline(always)]
unsafe fn scatter<T: Copy + std::ops::Add<Output = T>>(acc: &[T], nr: usize, tile: &Tile<T>) {
    for i in 0..tile.rows {
        let row = &acc[i * nr..i * nr + tile.cols];
        // SAFETY: i < rows and j < cols address the tile's part of C,
        // which the caller vouches for.
        unsafe {
            let dst = tile.c.add(i * tile.rsc);
            if tile.accumulate {
                for (j, &v) in row.iter().enumerate() {
                    *dst.add(j * tile.csc) = *dst.add(j * tile.csc) + v;
                }
            } else {
                for (j, &v) in row.iter().enumerate() {
                    *dst.add(j * tile.csc) = v;
                }
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
pub(super) unsafe fn portable<T>(
    kc: usize,
    a: *const T,
    ars: usize,
    aps: usize,
    b: *const T,
    bps: usize,
    tile: &Tile<T>,
) where
    T: Copy + Default + std::ops::Add<Output = T> + std::ops::Mul<Output = T>,
{
    const MR: usize = PORTABLE_MR;
    const NR: usize = PORTABLE_NR;
    let mut acc = [[T::default(); NR]; MR];
    for p in 0..kc {
        // SAFETY: p < kc, and the slivers address kc·MR and kc·NR values.
        let (av, bv) = unsafe {
            (
                std::array::from_fn::<T, MR, _>(|i| *a.add(i * ars + p * aps)),
                *(b.add(p * bps) as *const [T; NR]),
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

/// The body of an x86 kernel: `$mr` rows × 2 vectors of `$lanes` lanes,
/// row `i` of `Ã` at `a + i·ars`, step `p` at `a + p·aps`.
#[cfg(target_arch = "x86_64")]
macro_rules! x86_body {
    ($t:ty, $mr:expr, $lanes:expr, $kc:ident, $a:ident, $ars:expr, $aps:expr, $b:ident, $bps:ident,
     $tile:ident,
     $zero:ident, $load:ident, $set1:ident, $fma:ident, $add:ident, $store:ident) => {{
        use std::arch::x86_64::*;
        const MR: usize = $mr;
        const L: usize = $lanes;
        const NR: usize = 2 * L;
        let (ars, aps) = ($ars, $aps);
        let mut acc = [[$zero(); 2]; MR];
        let (mut a, mut b) = ($a, $b);
        if $kc >= PREFETCH_C_FROM {
            // The tile of C is read (accumulating) or written (a store
            // also brings its line in) after the kc steps: asking for its
            // lines now lets them come from memory while the steps run. A
            // weight stepped in place (64 MiB at W5's h = 4096) is far
            // larger than the caches, and unasked each row's lines would
            // be waited for one after the other.
            let tile = $tile;
            debug_assert!(tile.cols > 0, "a tile has columns");
            for i in 0..tile.rows {
                let row = tile.c.wrapping_add(i * tile.rsc);
                for j in [0, L.min(tile.cols - 1), tile.cols - 1] {
                    // A prefetch is a hint: it never faults, and
                    // the address is only computed (wrapping), not used.
                    _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(j * tile.csc) as *const i8);
                }
            }
        }
        for _ in 0..$kc {
            // SAFETY: each of the kc steps reads MR values of ã and NR of
            // b̃, which the slivers hold; unaligned loads.
            unsafe {
                let b0 = $load(b);
                let b1 = $load(b.add(L));
                for (i, row) in acc.iter_mut().enumerate() {
                    let ai = $set1(*a.add(i * ars));
                    row[0] = $fma(ai, b0, row[0]);
                    row[1] = $fma(ai, b1, row[1]);
                }
                a = a.add(aps);
                b = b.add($bps);
            }
        }
        let tile = $tile;
        if tile.cols == NR && tile.csc == 1 {
            // Whole rows with unit column stride (the edge tile of the
            // last rows too): vector stores.
            for (i, row) in acc.iter().enumerate().take(tile.rows) {
                // SAFETY: row i < rows of the tile, NR contiguous elements
                // of C, the caller's.
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
    }};
}

/// Two x86 kernels: `$packed` reads a packed `Ã` sliver, `$direct` reads
/// `Ã` in place (see [`MicroFn`]).
#[cfg(target_arch = "x86_64")]
macro_rules! x86_kernel {
    ($packed:ident, $direct:ident, $t:ty, $feat:literal, $mr:expr, $lanes:expr,
     $($intr:ident),*) => {
        /// A register-blocked kernel on a packed `Ã` (see the module's
        /// notes).
        ///
        /// # Safety
        /// See [`MicroFn`]; the processor must have the named features.
        #[target_feature(enable = $feat)]
        pub(super) unsafe fn $packed(
            kc: usize,
            a: *const $t,
            _ars: usize,
            _aps: usize,
            b: *const $t,
            bps: usize,
            tile: &Tile<$t>,
        ) {
            x86_body!($t, $mr, $lanes, kc, a, 1, $mr, b, bps, tile, $($intr),*)
        }

        /// A register-blocked kernel on `Ã` read in place (see the
        /// module's notes).
        ///
        /// # Safety
        /// See [`MicroFn`]; the processor must have the named features.
        #[target_feature(enable = $feat)]
        pub(super) unsafe fn $direct(
            kc: usize,
            a: *const $t,
            ars: usize,
            aps: usize,
            b: *const $t,
            bps: usize,
            tile: &Tile<$t>,
        ) {
            x86_body!($t, $mr, $lanes, kc, a, ars, aps, b, bps, tile, $($intr),*)
        }
    };
}

/// The depth from which a kernel prefetches its tile of `C` (a short one
/// finds it in cache: W3's products, 64 deep, stay in L1).
const PREFETCH_C_FROM: usize = 128;

/// Rows of the AVX-512 kernels (f32: 8 × 32, f64: 8 × 16).
pub(super) const AVX512_MR: usize = 8;
/// Rows of the AVX2 kernels (f32: 6 × 16, f64: 6 × 8).
pub(super) const AVX2_MR: usize = 6;

#[cfg(target_arch = "x86_64")]
x86_kernel!(
    avx512_f32,
    avx512_f32_direct,
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
    avx512_f64_direct,
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
    avx2_f32_direct,
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
    avx2_f64_direct,
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
