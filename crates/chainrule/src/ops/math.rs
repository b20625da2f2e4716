//! Elementwise functions: powers (with a constant or a recorded exponent),
//! exp, log, sqrt, abs (with its sign mask), sin and cos.
//!
//! Powers have their real meaning wherever it exists, as `f64::powf` and
//! `torch.pow`: `(−2)^2 = 4`, `0^2 = 0`, `(−8)^(1/3)` is NaN (no real
//! power for a negative base and a non-integer exponent).

use crate::error::Result;
use crate::float::Float;
use crate::graph::{BackwardCtx, Grads, Var};
use crate::ops::Op;

impl<'g, F: Float> Var<'g, F> {
    /// `x^p` for a constant `p`. ∂/∂x = p · x^(p−1).
    pub fn pow(self, p: f64) -> Var<'g, F> {
        let e = F::from_f64(p);
        self.unary(Op::PowScalar(p), |x| x.powf(e))
    }

    /// `x^y` elementwise with a recorded exponent (broadcasting):
    /// - ∂/∂x = y · x^(y−1), taken as 0 where y = 0 (so `0^0` has
    ///   derivative 0, not `0 · 0^(−1)` = NaN);
    /// - ∂/∂y = x^y · ln x, taken as 0 where x = 0 and y ≥ 0 (`0^y` is
    ///   constant in y there), and NaN for a negative base, whose powers
    ///   are real only at isolated exponents.
    ///
    /// These are the conventions of PyTorch's `pow_backward_self` and
    /// `pow_backward_exponent`.
    pub fn pow_var(self, exponent: Var<'g, F>) -> Result<Var<'g, F>> {
        self.binary(exponent, Op::Pow, |x, y| x.powf(y))
    }

    /// `eˣ`. ∂/∂x = eˣ = out.
    pub fn exp(self) -> Var<'g, F> {
        self.unary(Op::Exp, |x| x.exp())
    }

    /// `ln x`. ∂/∂x = 1/x.
    pub fn log(self) -> Var<'g, F> {
        self.unary(Op::Log, |x| x.ln())
    }

    /// `√x`. ∂/∂x = 1 / (2√x) = 0.5 / out.
    pub fn sqrt(self) -> Var<'g, F> {
        self.unary(Op::Sqrt, |x| x.sqrt())
    }

    /// `|x|`. ∂/∂x = sign(x) (0 at 0, as PyTorch).
    pub fn abs(self) -> Var<'g, F> {
        self.unary(Op::Abs, |x| x.abs())
    }

    /// `sign(x)` ∈ {−1, 0, 1}: derivative zero (a constant mask).
    pub fn sign(self) -> Var<'g, F> {
        self.unary(Op::Sign, |x| {
            if x > F::zero() {
                F::one()
            } else if x < F::zero() {
                -F::one()
            } else {
                F::zero()
            }
        })
    }

    /// `min(max(x, lo), hi)`. ∂/∂x = 1 for `lo ≤ x ≤ hi`, else 0 (as PyTorch).
    pub fn clamp(self, lo: f64, hi: f64) -> Var<'g, F> {
        let (l, h) = (F::from_f64(lo), F::from_f64(hi));
        self.unary(Op::Clamp(lo, hi), |x| x.max(l).min(h))
    }

    /// 1 where `lo ≤ x ≤ hi`, else 0: the derivative of [`Var::clamp`],
    /// a constant with respect to `x`.
    pub fn clamp_mask(self, lo: f64, hi: f64) -> Var<'g, F> {
        let (l, h) = (F::from_f64(lo), F::from_f64(hi));
        self.unary(Op::ClampMask(lo, hi), |x| {
            if x >= l && x <= h {
                F::one()
            } else {
                F::zero()
            }
        })
    }

    /// `sin x`. ∂/∂x = cos x.
    pub fn sin(self) -> Var<'g, F> {
        self.unary(Op::Sin, |x| x.sin())
    }

    /// `cos x`. ∂/∂x = −sin x.
    pub fn cos(self) -> Var<'g, F> {
        self.unary(Op::Cos, |x| x.cos())
    }
}

/// `∂(x^p) = g · p · x^(p−1)`.
pub(crate) fn pow_backward<'g, F: Float>(c: &BackwardCtx<'g, F>, p: f64) -> Result<Grads<'g, F>> {
    let local = if p == 0.0 {
        c.a.mul_scalar(0.0)
    } else {
        c.a.pow(p - 1.0).mul_scalar(p)
    };
    Ok([Some(c.grad.mul(local)?), None])
}

/// `∂(x^y) = (g · y · x^(y−1), g · out · ln x)` with PyTorch's conventions
/// (see [`Var::pow_var`]), written in differentiable operations so that
/// second derivatives work. The conventions are applied by moving the base
/// away from 0 where the formula would give `0 · ∞`: masks (`[x = 0]`,
/// `[y = 0]`, `[y ≥ 0]`, derivative zero) add 1 to the base exactly there,
/// where the factor in front (`y`, resp. `out` = 0 or 1, with ln 1 = 0)
/// makes the result 0.
pub(crate) fn pow_var_backward<'g, F: Float>(c: &BackwardCtx<'g, F>) -> Result<Grads<'g, F>> {
    let (x, y) = (c.a, c.b);
    let x_is_zero = x.clamp_mask(0.0, 0.0);
    let gx = if c.needs[0] {
        // [x = 0]·[y = 0]: there 0·(0 + 1)^(−1) = 0.
        let shift = x_is_zero.mul(y.clamp_mask(0.0, 0.0))?;
        let local = y.mul(x.add(shift)?.pow_var(y.add_scalar(-1.0))?)?;
        Some(c.grad.mul(local)?)
    } else {
        None
    };
    let gy = if c.needs[1] {
        // [x = 0]·[y ≥ 0]: there out·ln(0 + 1) = 0.
        let shift = x_is_zero.mul(y.clamp_mask(0.0, f64::INFINITY))?;
        let local = c.out.mul(x.add(shift)?.log())?;
        Some(c.grad.mul(local)?)
    } else {
        None
    };
    Ok([gx, gy])
}

/// `∂(eˣ) = g · out`.
pub(crate) fn exp_backward<'g, F: Float>(c: &BackwardCtx<'g, F>) -> Result<Grads<'g, F>> {
    Ok([Some(c.grad.mul(c.out)?), None])
}

/// `∂(ln x) = g / x`.
pub(crate) fn log_backward<'g, F: Float>(c: &BackwardCtx<'g, F>) -> Result<Grads<'g, F>> {
    Ok([Some(c.grad.div(c.a)?), None])
}

/// `∂(√x) = 0.5 · g / out`.
pub(crate) fn sqrt_backward<'g, F: Float>(c: &BackwardCtx<'g, F>) -> Result<Grads<'g, F>> {
    Ok([Some(c.grad.div(c.out)?.mul_scalar(0.5)), None])
}

/// `∂|x| = g · sign(x)`.
pub(crate) fn abs_backward<'g, F: Float>(c: &BackwardCtx<'g, F>) -> Result<Grads<'g, F>> {
    Ok([Some(c.grad.mul(c.a.sign())?), None])
}

/// `∂(sin x) = g · cos x`.
pub(crate) fn sin_backward<'g, F: Float>(c: &BackwardCtx<'g, F>) -> Result<Grads<'g, F>> {
    Ok([Some(c.grad.mul(c.a.cos())?), None])
}

/// `∂(cos x) = −g · sin x`.
pub(crate) fn cos_backward<'g, F: Float>(c: &BackwardCtx<'g, F>) -> Result<Grads<'g, F>> {
    Ok([Some(c.grad.mul(c.a.sin())?.neg()), None])
}

/// `∂clamp = g · [lo ≤ x ≤ hi]`.
pub(crate) fn clamp_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    lo: f64,
    hi: f64,
) -> Result<Grads<'g, F>> {
    Ok([Some(c.grad.mul(c.a.clamp_mask(lo, hi))?), None])
}
