//! Elementwise loops: `out[i] = f(x[i])` and `out[i] = f(a[i], b[i])`.

use crate::float::Float;

/// `out[i] = f(x[i])`.
#[inline]
pub fn map<F: Float>(x: &[F], out: &mut [F], f: impl Fn(F) -> F) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = f(v);
    }
}

/// `out[i] = f(a[i], b[i])` for equal-length inputs.
#[inline]
pub fn zip<F: Float>(a: &[F], b: &[F], out: &mut [F], f: impl Fn(F, F) -> F) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = f(x, y);
    }
}

/// `acc[i] += x[i]`.
#[inline]
pub fn add_assign<F: Float>(acc: &mut [F], x: &[F]) {
    for (a, &v) in acc.iter_mut().zip(x) {
        *a += v;
    }
}
