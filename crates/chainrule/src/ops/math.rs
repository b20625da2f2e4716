//! Elementwise functions: power with a constant exponent, exp, log, sqrt,
//! abs (with its sign mask), sin and cos.

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
