//! Elementwise loops: `out[i] = f(x[i])` and `out[i] = f(a[i], b[i])`.
//!
//! Long loops run as 16-wide AVX-512 or 8-wide AVX2 code where the
//! processor has it (chosen at run time; the program itself targets
//! baseline x86-64). The same operations run on every path (no fused
//! multiply-add is introduced), so results do not depend on the path.

use crate::float::Float;

/// Loops shorter than this stay on the portable path (the run-time check
/// costs more than it saves).
const WIDE: usize = 64;

/// The widest vector path this processor offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    Portable,
    Avx2,
    Avx512,
}

/// The vector path for a loop of `len` elements.
#[inline]
pub fn width(len: usize) -> Width {
    #[cfg(target_arch = "x86_64")]
    {
        if len < WIDE {
            Width::Portable
        } else if std::arch::is_x86_feature_detected!("avx512f") {
            Width::Avx512
        } else if std::arch::is_x86_feature_detected!("avx2") {
            Width::Avx2
        } else {
            Width::Portable
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = len;
        Width::Portable
    }
}

/// `out[i] = f(x[i])`.
#[inline]
pub fn map<F: Float>(x: &[F], out: &mut [F], f: impl Fn(F) -> F) {
    match width(out.len()) {
        // SAFETY: `width` checked that the processor has the feature.
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { map_avx512(x, out, f) },
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { map_avx2(x, out, f) },
        _ => map_loop(x, out, f),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn map_avx512<F: Float>(x: &[F], out: &mut [F], f: impl Fn(F) -> F) {
    map_loop(x, out, f);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn map_avx2<F: Float>(x: &[F], out: &mut [F], f: impl Fn(F) -> F) {
    map_loop(x, out, f);
}

#[inline(always)]
fn map_loop<F: Float>(x: &[F], out: &mut [F], f: impl Fn(F) -> F) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = f(v);
    }
}

/// `out[i] = f(a[i], b[i])` for equal-length inputs.
#[inline]
pub fn zip<F: Float>(a: &[F], b: &[F], out: &mut [F], f: impl Fn(F, F) -> F) {
    match width(out.len()) {
        // SAFETY: `width` checked that the processor has the feature.
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { zip_avx512(a, b, out, f) },
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { zip_avx2(a, b, out, f) },
        _ => zip_loop(a, b, out, f),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn zip_avx512<F: Float>(a: &[F], b: &[F], out: &mut [F], f: impl Fn(F, F) -> F) {
    zip_loop(a, b, out, f);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn zip_avx2<F: Float>(a: &[F], b: &[F], out: &mut [F], f: impl Fn(F, F) -> F) {
    zip_loop(a, b, out, f);
}

#[inline(always)]
fn zip_loop<F: Float>(a: &[F], b: &[F], out: &mut [F], f: impl Fn(F, F) -> F) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = f(x, y);
    }
}

/// `out[r·n + j] = f(z[r·n + j], row[j])` for every row `r` of `z`, where
/// `n = row.len()` (a bias row applied to a matrix; one dispatch for the
/// whole matrix, however short its rows).
#[inline]
pub fn zip_rows<F: Float>(z: &[F], row: &[F], out: &mut [F], f: impl Fn(F, F) -> F) {
    match width(out.len()) {
        // SAFETY: `width` checked that the processor has the feature.
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { zip_rows_avx512(z, row, out, f) },
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { zip_rows_avx2(z, row, out, f) },
        _ => zip_rows_loop(z, row, out, f),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn zip_rows_avx512<F: Float>(z: &[F], row: &[F], out: &mut [F], f: impl Fn(F, F) -> F) {
    zip_rows_loop(z, row, out, f);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn zip_rows_avx2<F: Float>(z: &[F], row: &[F], out: &mut [F], f: impl Fn(F, F) -> F) {
    zip_rows_loop(z, row, out, f);
}

#[inline(always)]
fn zip_rows_loop<F: Float>(z: &[F], row: &[F], out: &mut [F], f: impl Fn(F, F) -> F) {
    let n = row.len();
    if n == 0 {
        return;
    }
    for (zr, or) in z.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        zip_loop(zr, row, or, &f);
    }
}

/// `acc[i] += x[i]`.
#[inline]
pub fn add_assign<F: Float>(acc: &mut [F], x: &[F]) {
    zip_in_place(acc, x, |a, v| a + v);
}

/// `acc[i] = f(acc[i], x[i])`.
#[inline]
pub fn zip_in_place<F: Float>(acc: &mut [F], x: &[F], f: impl Fn(F, F) -> F) {
    match width(acc.len()) {
        // SAFETY: `width` checked that the processor has the feature.
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { zip_in_place_avx512(acc, x, f) },
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { zip_in_place_avx2(acc, x, f) },
        _ => zip_in_place_loop(acc, x, f),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn zip_in_place_avx512<F: Float>(acc: &mut [F], x: &[F], f: impl Fn(F, F) -> F) {
    zip_in_place_loop(acc, x, f);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn zip_in_place_avx2<F: Float>(acc: &mut [F], x: &[F], f: impl Fn(F, F) -> F) {
    zip_in_place_loop(acc, x, f);
}

#[inline(always)]
fn zip_in_place_loop<F: Float>(acc: &mut [F], x: &[F], f: impl Fn(F, F) -> F) {
    for (a, &v) in acc.iter_mut().zip(x) {
        *a = f(*a, v);
    }
}
