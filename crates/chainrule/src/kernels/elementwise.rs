//! Elementwise loops: `out[i] = f(x[i])` and `out[i] = f(a[i], b[i])`.
//!
//! Long loops run as 8-wide AVX2 code where the processor has it (chosen
//! at run time; the program itself targets baseline x86-64). The same
//! operations run either way, so results do not depend on the path.

use crate::float::Float;

/// Loops shorter than this stay on the portable path (the run-time check
/// costs more than it saves).
const WIDE: usize = 64;

/// Whether the AVX2 path may run.
#[inline]
fn wide(len: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        len >= WIDE && std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = len;
        false
    }
}

/// `out[i] = f(x[i])`.
#[inline]
pub fn map<F: Float>(x: &[F], out: &mut [F], f: impl Fn(F) -> F) {
    #[cfg(target_arch = "x86_64")]
    if wide(out.len()) {
        // SAFETY: `wide` checked that the processor has AVX2.
        unsafe { map_avx2(x, out, f) };
        return;
    }
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
    #[cfg(target_arch = "x86_64")]
    if wide(out.len()) {
        // SAFETY: `wide` checked that the processor has AVX2.
        unsafe { zip_avx2(a, b, out, f) };
        return;
    }
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

/// `acc[i] += x[i]`.
#[inline]
pub fn add_assign<F: Float>(acc: &mut [F], x: &[F]) {
    zip_in_place(acc, x, |a, v| a + v);
}

/// `acc[i] = f(acc[i], x[i])`.
#[inline]
fn zip_in_place<F: Float>(acc: &mut [F], x: &[F], f: impl Fn(F, F) -> F) {
    #[cfg(target_arch = "x86_64")]
    if wide(acc.len()) {
        // SAFETY: `wide` checked that the processor has AVX2.
        unsafe { zip_in_place_avx2(acc, x, f) };
        return;
    }
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
