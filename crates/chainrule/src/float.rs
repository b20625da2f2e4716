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
    /// The tanh every op uses: f64 the C library's `tanh`; f32 a
    /// vectorizable rational approximation (see [`tanh_f32`]), so that the
    /// elementwise kernels run it on their vector paths.
    fn engine_tanh(self) -> Self;
}

/// tanh for f32 as a rational function of x (odd polynomial of degree 13
/// over an even one of degree 6) on [−7.9053, 7.9053], ±1 beyond (where
/// tanh is within 2 ulp of ±1 in f32); the minimax coefficients are the ones published
/// with Eigen's and XLA's float tanh. Maximum error a few ulp; no branch,
/// so loops over it vectorize. Small |x| returns x exactly.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    const CLAMP: f32 = 7.905_311;
    const A1: f32 = 4.893_524_6e-3;
    const A3: f32 = 6.372_619_3e-4;
    const A5: f32 = 1.485_722_4e-5;
    const A7: f32 = 5.122_297e-8;
    const A9: f32 = -8.604_672e-11;
    const A11: f32 = 2.000_188e-13;
    const A13: f32 = -2.760_768_5e-16;
    const B0: f32 = 4.893_525e-3;
    const B2: f32 = 2.268_434_6e-3;
    const B4: f32 = 1.185_347_1e-4;
    const B6: f32 = 1.198_258_4e-6;
    // `clamp` keeps a NaN, which then flows through p / q.
    let c = x.clamp(-CLAMP, CLAMP);
    let x2 = c * c;
    let mut p = x2 * A13 + A11;
    p = x2 * p + A9;
    p = x2 * p + A7;
    p = x2 * p + A5;
    p = x2 * p + A3;
    p = x2 * p + A1;
    p *= c;
    let mut q = x2 * B6 + B4;
    q = x2 * q + B2;
    q = x2 * q + B0;
    let r = p / q;
    let r = if x.abs() > CLAMP { 1f32.copysign(x) } else { r };
    if x.abs() < 4e-4 {
        x
    } else {
        r
    }
}

impl Float for f32 {
    const NAME: &'static str = "f32";
    #[inline(always)]
    fn engine_tanh(self) -> f32 {
        tanh_f32(self)
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn as_f64(self) -> f64 {
        self as f64
    }
}

impl Float for f64 {
    const NAME: &'static str = "f64";
    #[inline(always)]
    fn engine_tanh(self) -> f64 {
        self.tanh()
    }
    fn from_f64(v: f64) -> Self {
        v
    }
    fn as_f64(self) -> f64 {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::{tanh_f32, Float};
    use crate::kernels::elementwise::{map, zip, zip_in_place, zip_rows};

    /// Values of every kind: ordinary, tiny, huge, ±∞, NaN.
    fn awkward(len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| match i % 11 {
                0 => f32::NAN,
                1 => f32::INFINITY,
                2 => -f32::INFINITY,
                3 => 1e-7 * i as f32,
                4 => -3e4,
                _ => (crate::rng::sym_at(7, i as u64) * 9.0) as f32,
            })
            .collect()
    }

    #[test]
    fn vector_paths_give_the_scalar_results_bit_for_bit() {
        // Lengths around the vector widths and the wide-path threshold, so
        // that whole vectors, remainders and the portable path all run.
        for len in [0, 1, 7, 8, 15, 16, 17, 63, 64, 65, 100, 129, 1000] {
            let x = awkward(len);
            let y: Vec<f32> = x.iter().map(|v| v * 0.5 - 1.0).collect();
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            let scalar: Vec<f32> = x.iter().map(|&v| tanh_f32(v)).collect();
            let mut out = vec![0.0; len];
            map(&x, &mut out, f32::engine_tanh);
            assert_eq!(bits(&out), bits(&scalar), "map tanh, len {len}");
            // A bias row of zeros: tanh(z + 0) row by row.
            if len > 0 && len % 8 == 0 {
                let row = vec![0.0f32; 8];
                zip_rows(&x, &row, &mut out, |v, c| (v + c).engine_tanh());
                assert_eq!(bits(&out), bits(&scalar), "zip_rows tanh, len {len}");
            }

            let f = |a: f32, b: f32| (a * b - a) / (b + 3.0);
            let scalar: Vec<f32> = x.iter().zip(&y).map(|(&a, &b)| f(a, b)).collect();
            zip(&x, &y, &mut out, f);
            assert_eq!(bits(&out), bits(&scalar), "zip, len {len}");
            let mut acc = x.clone();
            zip_in_place(&mut acc, &y, f);
            assert_eq!(bits(&acc), bits(&scalar), "zip_in_place, len {len}");
            let g = |a: f32| if a < 0.0 { 0.0 } else { a * a + 1.0 };
            let scalar: Vec<f32> = x.iter().map(|&a| g(a)).collect();
            map(&x, &mut out, g);
            assert_eq!(bits(&out), bits(&scalar), "map, len {len}");
        }
    }

    #[test]
    fn fast_tanh_is_within_a_few_ulp_of_the_exact_value() {
        // Against f64's tanh rounded to f32, over a dense grid of [-10, 10].
        let mut worst = 0.0f64;
        for i in -200_000..=200_000 {
            let x = i as f32 * 5e-5;
            let exact = (x as f64).tanh();
            let ulp = (exact as f32).abs().max(f32::MIN_POSITIVE) as f64 * f32::EPSILON as f64;
            worst = worst.max((tanh_f32(x) as f64 - exact).abs() / ulp);
        }
        assert!(worst <= 4.0, "max error {worst} ulp");
        assert_eq!(tanh_f32(20.0), 1.0);
        assert_eq!(tanh_f32(-1e4), -1.0);
        assert!(tanh_f32(f32::NAN).is_nan());
        assert_eq!(tanh_f32(1e-6), 1e-6);
    }
}
