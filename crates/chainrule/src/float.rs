//! The element type: `f32` for speed, `f64` for checking. One trait, two
//! implementations; everything in the engine is generic over it.

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

/// A floating-point element type (`f32` or `f64`).
pub trait Float:
    num_traits::Float
    + Default
    + Debug
    + Display
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + Send
    + Sync
    + 'static
{
    /// `"f32"` or `"f64"`.
    const NAME: &'static str;
    /// Converts from `f64`, rounding to nearest.
    fn from_f64(v: f64) -> Self;
    /// Converts to `f64` exactly.
    fn as_f64(self) -> f64;
    /// General matrix product `C = alpha * A B + beta * C` on strided
    /// row-major views (`rs*` row strides, `cs*` column strides, in elements).
    ///
    /// The caller guarantees that every index reached through the sizes and
    /// strides lies inside the slices (checked by [`crate::kernels::matmul`]).
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: &[Self],
        rsa: usize,
        csa: usize,
        b: &[Self],
        rsb: usize,
        csb: usize,
        beta: Self,
        c: &mut [Self],
        rsc: usize,
    );
}

impl Float for f32 {
    const NAME: &'static str = "f32";
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn as_f64(self) -> f64 {
        self as f64
    }
    fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: &[f32],
        rsa: usize,
        csa: usize,
        b: &[f32],
        rsb: usize,
        csb: usize,
        beta: f32,
        c: &mut [f32],
        rsc: usize,
    ) {
        // SAFETY: `kernels::matmul` checked that every element addressed by
        // (m, k, n) and the strides lies inside `a`, `b` and `c`.
        unsafe {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                a.as_ptr(),
                rsa as isize,
                csa as isize,
                b.as_ptr(),
                rsb as isize,
                csb as isize,
                beta,
                c.as_mut_ptr(),
                rsc as isize,
                1,
            )
        }
    }
}

impl Float for f64 {
    const NAME: &'static str = "f64";
    fn from_f64(v: f64) -> Self {
        v
    }
    fn as_f64(self) -> f64 {
        self
    }
    fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: &[f64],
        rsa: usize,
        csa: usize,
        b: &[f64],
        rsb: usize,
        csb: usize,
        beta: f64,
        c: &mut [f64],
        rsc: usize,
    ) {
        // SAFETY: `kernels::matmul` checked that every element addressed by
        // (m, k, n) and the strides lies inside `a`, `b` and `c`.
        unsafe {
            matrixmultiply::dgemm(
                m,
                k,
                n,
                1.0,
                a.as_ptr(),
                rsa as isize,
                csa as isize,
                b.as_ptr(),
                rsb as isize,
                csb as isize,
                beta,
                c.as_mut_ptr(),
                rsc as isize,
                1,
            )
        }
    }
}
