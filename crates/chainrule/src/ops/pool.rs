//! 2-D pooling over `x [N, C, H, W]` (PyTorch's semantics, floor mode):
//! window `(i, j)` covers rows `i·s − p .. i·s − p + kh` and columns
//! likewise; `Ho = (H + 2p − kh)/s + 1`; padding at most half the kernel.
//!
//! - `max_pool2d(x)[i, j] = x[a(i, j)]`, `a` the window's first maximum in
//!   row-major order (padding counts as −∞). ∂x = `max_pool2d_scatter(x, g)`:
//!   `g` added at each window's `a` (zeros elsewhere). The scatter is linear
//!   in `g` with adjoint `max_pool2d_gather(x, h)[i, j] = h[a(i, j)]`, whose
//!   adjoint is the scatter again; both are piecewise constant in `x`, so
//!   their derivative in `x` is zero (max pooling is `gather(x, x)`).
//! - `avg_pool2d(x)[i, j] = Σ_window x / (kh · kw)` (padding counts as zeros,
//!   `count_include_pad`). Linear: ∂x = `avg_pool2d_adjoint(g)`, each
//!   `g[i, j] / (kh · kw)` spread over its window; the adjoint's rule is
//!   `avg_pool2d` again.
//! - `global_avg_pool2d(x) [N, C]`, the mean over `H · W`, and `flatten`
//!   are compositions of reshape, sum and a scale.

use crate::error::{Error, ErrorKind, Result};
use crate::float::Float;
use crate::graph::{BackwardCtx, Grads, Var};
use crate::kernels::pool::{self as kernel, PoolGeom};
use crate::ops::conv::out_len;
use crate::ops::Op;
use crate::shape::Shape;

/// Window size, stride and padding per (row, column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dParams {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl Pool2dParams {
    /// The largest kernel, stride and padding a recorded pooling takes
    /// (they are packed into 16 bits, see [`Pool2dArgs`]).
    pub const MAX_VALUE: usize = u16::MAX as usize;
}

/// [`Pool2dParams`] packed into 12 bytes, as an [`Op`] stores them (each
/// value up to 65,535; larger ones are refused when the pooling is
/// recorded).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool2dArgs {
    kernel: [u16; 2],
    stride: [u16; 2],
    padding: [u16; 2],
}

impl Pool2dArgs {
    /// The parameters in their public form.
    pub fn params(&self) -> Pool2dParams {
        let wide = |v: [u16; 2]| v.map(usize::from);
        Pool2dParams {
            kernel: wide(self.kernel),
            stride: wide(self.stride),
            padding: wide(self.padding),
        }
    }
}

/// Checks `p` against the input shape `x` and returns the packed
/// parameters and the geometry.
fn geometry(op: &'static str, x: Shape, p: Pool2dParams) -> Result<(Pool2dArgs, PoolGeom)> {
    let invalid = |detail: String| {
        Error::from(ErrorKind::Invalid {
            op,
            detail,
            shape: x,
        })
    };
    let &[n, c, h, w] = x.dims() else {
        return Err(invalid("expected an input [N, C, H, W]".into()));
    };
    if p.kernel.contains(&0) || p.stride.contains(&0) {
        return Err(invalid(format!(
            "kernel {:?} and stride {:?} must be at least 1",
            p.kernel, p.stride
        )));
    }
    if p.padding[0] > p.kernel[0] / 2 || p.padding[1] > p.kernel[1] / 2 {
        return Err(invalid(format!(
            "padding {:?} must be at most half the kernel {:?}",
            p.padding, p.kernel
        )));
    }
    let narrow = |v: [usize; 2]| -> Option<[u16; 2]> {
        Some([u16::try_from(v[0]).ok()?, u16::try_from(v[1]).ok()?])
    };
    let (Some(kernel), Some(stride), Some(padding)) =
        (narrow(p.kernel), narrow(p.stride), narrow(p.padding))
    else {
        return Err(invalid(format!("{p:?}: values are limited to 65535")));
    };
    let (Some(ho), Some(wo)) = (
        out_len(h, p.kernel[0], p.stride[0], p.padding[0], 1),
        out_len(w, p.kernel[1], p.stride[1], p.padding[1], 1),
    ) else {
        return Err(invalid(format!(
            "the kernel {:?} is larger than the padded input ({h} + 2·{}, {w} + 2·{})",
            p.kernel, p.padding[0], p.padding[1]
        )));
    };
    let args = Pool2dArgs {
        kernel,
        stride,
        padding,
    };
    let geo = PoolGeom {
        planes: n * c,
        h,
        w,
        ho,
        wo,
        kernel: p.kernel,
        stride: p.stride,
        padding: p.padding,
    };
    Ok((args, geo))
}

fn out_shape(x: Shape, geo: &PoolGeom) -> Result<Shape> {
    Shape::new(&[x.dims()[0], x.dims()[1], geo.ho, geo.wo])
}

fn check_same(op: &'static str, expected: Shape, got: Shape, reason: &'static str) -> Result<()> {
    if expected != got {
        return Err(Error::from(ErrorKind::ShapeMismatch {
            op,
            lhs: expected,
            rhs: got,
            reason,
        }));
    }
    Ok(())
}

impl<'g, F: Float> Var<'g, F> {
    /// Max pooling of `x [N, C, H, W]` → `[N, C, Ho, Wo]` (PyTorch's
    /// semantics: padding counts as −∞; ties go to the first maximum in
    /// row-major window order). ∂x = `max_pool2d_scatter(x, g)`.
    pub fn max_pool2d(self, p: Pool2dParams) -> Result<Var<'g, F>> {
        let xs = self.shape();
        let (args, geo) = geometry("max_pool2d", xs, p)?;
        let out = out_shape(xs, &geo)?;
        Ok(self
            .graph
            .record(Op::MaxPool2d(args), &[self], out, |[x, _], o| {
                kernel::max_pool_gather(&geo, x, x, o)
            }))
    }

    /// `self` is the pooled input `x`; `g [N, C, Ho, Wo]` is scattered to
    /// each window's first maximum of `x` (zeros elsewhere, overlapping
    /// windows add): the gradient of [`Var::max_pool2d`]. Shape of `x`.
    pub fn max_pool2d_scatter(self, g: Var<'g, F>, p: Pool2dParams) -> Result<Var<'g, F>> {
        const OP: &str = "max_pool2d_scatter";
        self.check_same_graph(&g, OP)?;
        let xs = self.shape();
        let (args, geo) = geometry(OP, xs, p)?;
        let gs = out_shape(xs, &geo)?;
        check_same(OP, gs, g.shape(), "the gradient must have the pooled shape")?;
        Ok(self
            .graph
            .record(Op::MaxPool2dScatter(args), &[self, g], xs, |[x, g], o| {
                kernel::max_pool_scatter(&geo, x, g, o)
            }))
    }

    /// `self` is the pooled input `x`; `h` (shape of `x`) is read at each
    /// window's first maximum of `x`: the adjoint of
    /// [`Var::max_pool2d_scatter`] in its gradient. `[N, C, Ho, Wo]`.
    pub fn max_pool2d_gather(self, h: Var<'g, F>, p: Pool2dParams) -> Result<Var<'g, F>> {
        const OP: &str = "max_pool2d_gather";
        self.check_same_graph(&h, OP)?;
        let xs = self.shape();
        let (args, geo) = geometry(OP, xs, p)?;
        check_same(
            OP,
            xs,
            h.shape(),
            "the gathered value must have the input's shape",
        )?;
        let out = out_shape(xs, &geo)?;
        Ok(self
            .graph
            .record(Op::MaxPool2dGather(args), &[self, h], out, |[x, h], o| {
                kernel::max_pool_gather(&geo, x, h, o)
            }))
    }

    /// Average pooling of `x [N, C, H, W]` → `[N, C, Ho, Wo]` with PyTorch's
    /// `count_include_pad=True`: every window's sum over `kh · kw`.
    /// ∂x = `avg_pool2d_adjoint(g)`.
    pub fn avg_pool2d(self, p: Pool2dParams) -> Result<Var<'g, F>> {
        let xs = self.shape();
        let (args, geo) = geometry("avg_pool2d", xs, p)?;
        let out = out_shape(xs, &geo)?;
        Ok(self
            .graph
            .record(Op::AvgPool2d(args), &[self], out, |[x, _], o| {
                kernel::avg_pool(&geo, x, o)
            }))
    }

    /// The adjoint of [`Var::avg_pool2d`]: `self` is a gradient
    /// `[N, C, Ho, Wo]`, each value divided by `kh · kw` and added over its
    /// window of an input `[N, C, H, W]` with `[H, W] = in_hw`.
    pub fn avg_pool2d_adjoint(self, p: Pool2dParams, in_hw: [usize; 2]) -> Result<Var<'g, F>> {
        const OP: &str = "avg_pool2d_adjoint";
        let gs = self.shape();
        let &[n, c, _, _] = gs.dims() else {
            return Err(Error::from(ErrorKind::Invalid {
                op: OP,
                detail: "expected a gradient [N, C, Ho, Wo]".into(),
                shape: gs,
            }));
        };
        let xs = Shape::new(&[n, c, in_hw[0], in_hw[1]])?;
        let (args, geo) = geometry(OP, xs, p)?;
        check_same(
            OP,
            out_shape(xs, &geo)?,
            gs,
            "the gradient must have the pooled shape",
        )?;
        let op = Op::AvgPool2dAdjoint {
            params: args,
            in_hw: in_hw.map(|d| d as u32),
        };
        Ok(self.graph.record(op, &[self], xs, |[g, _], o| {
            kernel::avg_pool_adjoint(&geo, g, o)
        }))
    }

    /// `[N, C, H, W]` → `[N, C]`, the mean over `H · W` (a reshape to
    /// `[N, C, H·W]`, a sum over the last axis and a scale by `1/(H·W)`).
    pub fn global_avg_pool2d(self) -> Result<Var<'g, F>> {
        let xs = self.shape();
        let &[n, c, h, w] = xs.dims() else {
            return Err(Error::from(ErrorKind::Invalid {
                op: "global_avg_pool2d",
                detail: "expected an input [N, C, H, W]".into(),
                shape: xs,
            }));
        };
        if h * w == 0 {
            return Err(Error::from(ErrorKind::Invalid {
                op: "global_avg_pool2d",
                detail: "the mean of an empty plane is undefined".into(),
                shape: xs,
            }));
        }
        let sum = self.reshape(&[n, c, h * w])?.sum_axis(2, false)?;
        Ok(sum.mul_scalar(1.0 / (h * w) as f64))
    }

    /// `[N, d1, d2, …]` → `[N, d1·d2·…]`, a reshape (no copy).
    pub fn flatten(self) -> Result<Var<'g, F>> {
        let xs = self.shape();
        let Some((&n, rest)) = xs.dims().split_first() else {
            return Err(Error::from(ErrorKind::Invalid {
                op: "flatten",
                detail: "a scalar has no batch axis to keep".into(),
                shape: xs,
            }));
        };
        self.reshape(&[n, rest.iter().product()])
    }
}

/// `∂max_pool2d = max_pool2d_scatter(x, g)`.
pub(crate) fn max_pool2d_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    args: Pool2dArgs,
) -> Result<Grads<'g, F>> {
    Ok([Some(c.a.max_pool2d_scatter(c.grad, args.params())?), None])
}

/// `∂scatter(x, g)` with upstream `h`: `(0, gather(x, h))`.
pub(crate) fn max_pool2d_scatter_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    args: Pool2dArgs,
) -> Result<Grads<'g, F>> {
    let dg = if c.needs[1] {
        Some(c.a.max_pool2d_gather(c.grad, args.params())?)
    } else {
        None
    };
    Ok([None, dg])
}

/// `∂gather(x, h)` with upstream `k`: `(0, scatter(x, k))`.
pub(crate) fn max_pool2d_gather_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    args: Pool2dArgs,
) -> Result<Grads<'g, F>> {
    let dh = if c.needs[1] {
        Some(c.a.max_pool2d_scatter(c.grad, args.params())?)
    } else {
        None
    };
    Ok([None, dh])
}

/// `∂avg_pool2d = avg_pool2d_adjoint(g)`.
pub(crate) fn avg_pool2d_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    args: Pool2dArgs,
) -> Result<Grads<'g, F>> {
    let d = c.a.shape();
    let in_hw = [d.dims()[2], d.dims()[3]];
    Ok([Some(c.grad.avg_pool2d_adjoint(args.params(), in_hw)?), None])
}

/// `∂avg_pool2d_adjoint = avg_pool2d(h)`.
pub(crate) fn avg_pool2d_adjoint_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    args: Pool2dArgs,
) -> Result<Grads<'g, F>> {
    Ok([Some(c.grad.avg_pool2d(args.params())?), None])
}
