//! Arithmetic: add, sub, mul, div with NumPy broadcasting, negation, and
//! scalar add/multiply.
//!
//! Broadcasting happens in exactly one place, [`Var::binary`]: operands of
//! different shapes are first expanded with `broadcast_to`, whose backward
//! rule (`sum_to`) undoes the expansion. The rules below therefore only ever
//! see equal shapes.

use crate::error::Result;
use crate::float::Float;
use crate::graph::{BackwardCtx, Grads, Var};
use crate::kernels::elementwise::{map, zip};
use crate::ops::Op;
use crate::shape::Shape;

// `add`, `sub`, `mul` and `div` check shapes and return `Result`, so they
// cannot be the `std::ops` traits, whose methods cannot fail.
#[allow(clippy::should_implement_trait)]
impl<'g, F: Float> Var<'g, F> {
    /// Records an elementwise binary operation, broadcasting both operands
    /// to their common shape first.
    pub(crate) fn binary(
        self,
        other: Var<'g, F>,
        op: Op,
        f: impl Fn(F, F) -> F + Sync,
    ) -> Result<Var<'g, F>> {
        self.check_same_graph(&other, op.name())?;
        let (sa, sb) = (self.shape(), other.shape());
        let shape = if sa == sb {
            sa
        } else {
            Shape::broadcast(op.name(), sa, sb)?
        };
        let a = self.expand_to(shape)?;
        let b = other.expand_to(shape)?;
        Ok(self
            .graph
            .record(op, &[a, b], shape, |[x, y], out| zip(x, y, out, f)))
    }

    /// This value with `shape` (which it broadcasts to): itself, a view when
    /// only leading ones are added (no copy), else `broadcast_to`.
    pub(crate) fn expand_to(self, shape: Shape) -> Result<Var<'g, F>> {
        let own = self.shape();
        if own == shape {
            Ok(self)
        } else if own.numel() == shape.numel() {
            self.reshape_to(shape)
        } else {
            self.broadcast_to(shape)
        }
    }

    /// Records an elementwise unary operation.
    pub(crate) fn unary(self, op: Op, f: impl Fn(F) -> F + Sync) -> Var<'g, F> {
        self.graph
            .record(op, &[self], self.shape(), |[x, _], out| map(x, out, f))
    }

    /// `a + b` (broadcasting). ∂/∂a = 1, ∂/∂b = 1.
    pub fn add(self, other: Var<'g, F>) -> Result<Var<'g, F>> {
        self.binary(other, Op::Add, |x, y| x + y)
    }

    /// `a − b` (broadcasting). ∂/∂a = 1, ∂/∂b = −1.
    pub fn sub(self, other: Var<'g, F>) -> Result<Var<'g, F>> {
        self.binary(other, Op::Sub, |x, y| x - y)
    }

    /// `a · b` elementwise (broadcasting). ∂/∂a = b, ∂/∂b = a.
    pub fn mul(self, other: Var<'g, F>) -> Result<Var<'g, F>> {
        self.binary(other, Op::Mul, |x, y| x * y)
    }

    /// `a / b` elementwise (broadcasting). ∂/∂a = 1/b, ∂/∂b = −a/b² = −out/b.
    pub fn div(self, other: Var<'g, F>) -> Result<Var<'g, F>> {
        self.binary(other, Op::Div, |x, y| x / y)
    }

    /// `−x`. ∂/∂x = −1.
    pub fn neg(self) -> Var<'g, F> {
        self.unary(Op::Neg, |x| -x)
    }

    /// `x + s` for a constant `s`. ∂/∂x = 1.
    pub fn add_scalar(self, s: f64) -> Var<'g, F> {
        let c = F::from_f64(s);
        self.unary(Op::AddScalar(s), |x| x + c)
    }

    /// `x · s` for a constant `s`. ∂/∂x = s.
    pub fn mul_scalar(self, s: f64) -> Var<'g, F> {
        let c = F::from_f64(s);
        self.unary(Op::MulScalar(s), |x| x * c)
    }

    /// `x²`, as `x · x` (two paths into one node).
    pub fn square(self) -> Var<'g, F> {
        // Equal shapes: broadcasting cannot fail.
        self.graph
            .record(Op::Mul, &[self, self], self.shape(), |[x, _], out| {
                map(x, out, |v| v * v)
            })
    }
}

/// `∂(a + b) = (g, g)`.
pub(crate) fn add_backward<'g, F: Float>(c: &BackwardCtx<'g, F>) -> Result<Grads<'g, F>> {
    Ok([Some(c.grad), Some(c.grad)])
}

/// `∂(a − b) = (g, −g)`.
pub(crate) fn sub_backward<'g, F: Float>(c: &BackwardCtx<'g, F>) -> Result<Grads<'g, F>> {
    Ok([Some(c.grad), c.needs[1].then(|| c.grad.neg())])
}

/// `∂(a · b) = (g · b, g · a)`.
pub(crate) fn mul_backward<'g, F: Float>(c: &BackwardCtx<'g, F>) -> Result<Grads<'g, F>> {
    let ga = if c.needs[0] {
        Some(c.grad.mul(c.b)?)
    } else {
        None
    };
    let gb = if c.needs[1] {
        Some(c.grad.mul(c.a)?)
    } else {
        None
    };
    Ok([ga, gb])
}

/// `∂(a / b) = (g / b, −g · out / b)`.
pub(crate) fn div_backward<'g, F: Float>(c: &BackwardCtx<'g, F>) -> Result<Grads<'g, F>> {
    let ga = if c.needs[0] {
        Some(c.grad.div(c.b)?)
    } else {
        None
    };
    let gb = if c.needs[1] {
        Some(c.grad.mul(c.out)?.div(c.b)?.neg())
    } else {
        None
    };
    Ok([ga, gb])
}

/// `∂(−x) = −g`.
pub(crate) fn neg_backward<'g, F: Float>(c: &BackwardCtx<'g, F>) -> Result<Grads<'g, F>> {
    Ok([Some(c.grad.neg()), None])
}

/// `∂(x + s) = g`.
pub(crate) fn add_scalar_backward<'g, F: Float>(c: &BackwardCtx<'g, F>) -> Result<Grads<'g, F>> {
    Ok([Some(c.grad), None])
}

/// `∂(x · s) = g · s`.
pub(crate) fn mul_scalar_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    s: f64,
) -> Result<Grads<'g, F>> {
    Ok([Some(c.grad.mul_scalar(s)), None])
}
