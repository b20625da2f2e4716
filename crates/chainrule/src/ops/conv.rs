//! 2-D convolution (cross-correlation) and its two adjoints.
//!
//! `y = conv2d(x, w)` with `x [N, C, H, W]`, `w [O, C/G, kh, kw]` (`G`
//! groups), `y [N, O, Ho, Wo]`, `Ho = (H + 2p − d(kh − 1) − 1)/s + 1` (and
//! `Wo` likewise):
//!
//! ```text
//! y[n, o, i, j] = Σ_{c in o's group, a, b} w[o, c, a, b] · x[n, c, i·s − p + a·d, j·s − p + b·d]
//! ```
//!
//! (zero outside the input). The forward runs im2col onto the GEMM
//! (`kernels/conv.rs`).
//!
//! Gradients come from the bilinear form `B(x, w, g) = ⟨g, conv2d(x, w)⟩`,
//! linear in each argument:
//! - `∂x = IG(g, w) = ∂B/∂x` (`conv2d_input_grad`, col2im of `wᵀ · g`);
//! - `∂w = WG(x, g) = ∂B/∂w` (`conv2d_weight_grad`, `g · colsᵀ`).
//!
//! The adjoints are themselves operations whose rules are again one of the
//! three, so gradients of any order work: for `IG(g, w)` with upstream `h`,
//! `∂g = conv2d(h, w)` and `∂w = WG(h, g)`; for `WG(x, g)` with upstream
//! `k`, `∂x = IG(g, k)` and `∂g = conv2d(x, k)`.

use crate::error::{Error, ErrorKind, Result};
use crate::float::Float;
use crate::graph::{BackwardCtx, Grads, Var};
use crate::kernels::conv::{self as kernel, ConvGeom};
use crate::ops::Op;
use crate::shape::Shape;

/// Stride, padding and dilation per (row, column); `groups` divides both
/// channel counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dParams {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl Conv2dParams {
    /// The largest stride, padding and dilation a recorded convolution
    /// takes (they are packed into bytes, see [`Conv2dArgs`]).
    pub const MAX_STEP: usize = u8::MAX as usize;
    /// The largest number of groups a recorded convolution takes.
    pub const MAX_GROUPS: usize = u16::MAX as usize;
}

impl Default for Conv2dParams {
    /// Stride 1, padding 0, dilation 1, one group.
    fn default() -> Self {
        Conv2dParams {
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
        }
    }
}

/// [`Conv2dParams`] packed into 8 bytes, as an [`Op`] stores them (so that
/// `Op` stays 24 bytes): stride, padding and dilation up to 255, groups up
/// to 65,535 (larger values are refused when the convolution is recorded).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dArgs {
    stride: [u8; 2],
    padding: [u8; 2],
    dilation: [u8; 2],
    groups: u16,
}

impl Conv2dArgs {
    /// The parameters in their public form.
    pub fn params(&self) -> Conv2dParams {
        let wide = |v: [u8; 2]| v.map(usize::from);
        Conv2dParams {
            stride: wide(self.stride),
            padding: wide(self.padding),
            dilation: wide(self.dilation),
            groups: usize::from(self.groups),
        }
    }

    /// Checks and packs `p` for `op` on input shape `shape`.
    fn pack(op: &'static str, p: Conv2dParams, shape: Shape) -> Result<Self> {
        let invalid = |detail: String| Error::from(ErrorKind::Invalid { op, detail, shape });
        if p.stride.contains(&0) || p.dilation.contains(&0) || p.groups == 0 {
            return Err(invalid(format!(
                "stride {:?}, dilation {:?} and groups {} must be at least 1",
                p.stride, p.dilation, p.groups
            )));
        }
        let narrow = |v: [usize; 2]| -> Option<[u8; 2]> {
            Some([u8::try_from(v[0]).ok()?, u8::try_from(v[1]).ok()?])
        };
        match (
            narrow(p.stride),
            narrow(p.padding),
            narrow(p.dilation),
            u16::try_from(p.groups),
        ) {
            (Some(stride), Some(padding), Some(dilation), Ok(groups)) => Ok(Conv2dArgs {
                stride,
                padding,
                dilation,
                groups,
            }),
            _ => Err(invalid(format!(
                "{p:?}: stride, padding and dilation are limited to 255 and groups to 65535"
            ))),
        }
    }
}

/// The output length of a convolution (or pooling) along one dimension, if
/// the (dilated) kernel fits in the padded input.
pub(crate) fn out_len(
    size: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    dil: usize,
) -> Option<usize> {
    let span = dil * (kernel.checked_sub(1)?) + 1;
    let padded = size + 2 * pad;
    (padded >= span).then(|| (padded - span) / stride + 1)
}

/// The checked geometry of a convolution of an input `[n, c, h, w]` (shape
/// `x` in messages) by a weight `[o, c/groups, kh, kw]`.
fn geometry(
    op: &'static str,
    x: Shape,
    [n, c, h, w]: [usize; 4],
    wshape: Shape,
    args: Conv2dArgs,
) -> Result<ConvGeom> {
    let p = args.params();
    let invalid = |detail: String| {
        Error::from(ErrorKind::Invalid {
            op,
            detail,
            shape: x,
        })
    };
    let &[o, cg, kh, kw] = wshape.dims() else {
        return Err(invalid(format!(
            "the weight {wshape} must be [out channels, in channels / groups, kh, kw]"
        )));
    };
    if c % p.groups != 0 || o % p.groups != 0 || cg * p.groups != c {
        return Err(invalid(format!(
            "the weight {wshape} with {} groups does not fit {c} input channels \
             (groups must divide both channel counts and weight dim 1 must be C/groups)",
            p.groups
        )));
    }
    let (ho, wo) = match (
        out_len(h, kh, p.stride[0], p.padding[0], p.dilation[0]),
        out_len(w, kw, p.stride[1], p.padding[1], p.dilation[1]),
    ) {
        (Some(ho), Some(wo)) => (ho, wo),
        _ => {
            return Err(invalid(format!(
                "the kernel of weight {wshape} (dilation {:?}) is larger than the padded input \
                 ({h} + 2·{}, {w} + 2·{})",
                p.dilation, p.padding[0], p.padding[1]
            )))
        }
    };
    Ok(ConvGeom {
        n,
        c,
        h,
        w,
        o,
        kh,
        kw,
        ho,
        wo,
        stride: p.stride,
        padding: p.padding,
        dilation: p.dilation,
        groups: p.groups,
    })
}

/// `[N, C, H, W]` of a rank-4 shape.
fn dims4(op: &'static str, what: &str, s: Shape) -> Result<[usize; 4]> {
    match *s.dims() {
        [n, c, h, w] => Ok([n, c, h, w]),
        _ => Err(Error::from(ErrorKind::Invalid {
            op,
            detail: format!("expected {what} [N, C, H, W]"),
            shape: s,
        })),
    }
}

/// Checks that `g` is the output shape `[N, O, Ho, Wo]` of geometry `geo`.
fn check_output(op: &'static str, geo: &ConvGeom, g: Shape) -> Result<()> {
    if g.dims() != [geo.n, geo.o, geo.ho, geo.wo] {
        return Err(Error::from(ErrorKind::Invalid {
            op,
            detail: format!(
                "the output gradient {g} is not the convolution's output [{}, {}, {}, {}]",
                geo.n, geo.o, geo.ho, geo.wo
            ),
            shape: g,
        }));
    }
    Ok(())
}

fn u32s(v: [usize; 2]) -> [u32; 2] {
    v.map(|d| d as u32)
}

impl<'g, F: Float> Var<'g, F> {
    /// 2-D convolution: `x [N, C, H, W]`, `w [O, C/groups, kh, kw]` →
    /// `[N, O, Ho, Wo]` with `Ho = (H + 2p − d(kh − 1) − 1)/s + 1`. No bias.
    /// ∂x = `conv2d_input_grad(g, w)`, ∂w = `conv2d_weight_grad(x, g)`.
    pub fn conv2d(self, w: Var<'g, F>, p: Conv2dParams) -> Result<Var<'g, F>> {
        const OP: &str = "conv2d";
        self.check_same_graph(&w, OP)?;
        let xs = self.shape();
        let args = Conv2dArgs::pack(OP, p, xs)?;
        let geo = geometry(OP, xs, dims4(OP, "an input", xs)?, w.shape(), args)?;
        let out = Shape::new(&[geo.n, geo.o, geo.ho, geo.wo])?;
        Ok(self
            .graph
            .record(Op::Conv2d(args), &[self, w], out, |[x, w], o| {
                kernel::conv2d(&geo, x, w, o)
            }))
    }

    /// [`Var::conv2d`] plus an optional bias `b [O]` added to every output
    /// channel (as `[1, O, 1, 1]`, broadcast).
    pub fn conv2d_bias(
        self,
        w: Var<'g, F>,
        b: Option<Var<'g, F>>,
        p: Conv2dParams,
    ) -> Result<Var<'g, F>> {
        let y = self.conv2d(w, p)?;
        let Some(b) = b else { return Ok(y) };
        self.check_same_graph(&b, "conv2d_bias")?;
        let o = y.shape().dims()[1];
        if b.shape().dims() != [o] {
            return Err(Error::from(ErrorKind::ShapeMismatch {
                op: "conv2d_bias",
                lhs: w.shape(),
                rhs: b.shape(),
                reason: "the bias must be [O], one value per output channel of the weight",
            }));
        }
        y.add(b.reshape(&[1, o, 1, 1])?)
    }

    /// The adjoint of [`Var::conv2d`] in its input: `self` is an output
    /// gradient `g [N, O, Ho, Wo]`, the result `∂⟨g, conv2d(x, w)⟩/∂x`, of
    /// shape `[N, C, H, W]` with `[H, W] = in_hw` (col2im of `wᵀ · g`).
    pub fn conv2d_input_grad(
        self,
        w: Var<'g, F>,
        p: Conv2dParams,
        in_hw: [usize; 2],
    ) -> Result<Var<'g, F>> {
        const OP: &str = "conv2d_input_grad";
        self.check_same_graph(&w, OP)?;
        let (gs, ws) = (self.shape(), w.shape());
        let args = Conv2dArgs::pack(OP, p, gs)?;
        let [n, _, _, _] = dims4(OP, "an output gradient", gs)?;
        let c = ws.dims().get(1).copied().unwrap_or(0) * p.groups;
        let xdims = [n, c, in_hw[0], in_hw[1]];
        let xs = Shape::new(&xdims)?;
        let geo = geometry(OP, xs, xdims, ws, args)?;
        check_output(OP, &geo, gs)?;
        let op = Op::Conv2dInputGrad {
            params: args,
            in_hw: u32s(in_hw),
        };
        Ok(self.graph.record(op, &[self, w], xs, |[g, w], o| {
            kernel::conv2d_input_grad(&geo, g, w, o)
        }))
    }

    /// The adjoint of [`Var::conv2d`] in its weight: `self` is the input
    /// `x [N, C, H, W]`, `g [N, O, Ho, Wo]` an output gradient, the result
    /// `∂⟨g, conv2d(x, w)⟩/∂w` of shape `[O, C/groups, kh, kw]` with
    /// `[kh, kw] = kernel`.
    pub fn conv2d_weight_grad(
        self,
        g: Var<'g, F>,
        p: Conv2dParams,
        kernel: [usize; 2],
    ) -> Result<Var<'g, F>> {
        const OP: &str = "conv2d_weight_grad";
        self.check_same_graph(&g, OP)?;
        let (xs, gs) = (self.shape(), g.shape());
        let args = Conv2dArgs::pack(OP, p, xs)?;
        let xdims = dims4(OP, "an input", xs)?;
        let [_, o, _, _] = dims4(OP, "an output gradient", gs)?;
        if p.groups == 0 || xdims[1] % p.groups != 0 {
            return Err(Error::from(ErrorKind::Invalid {
                op: OP,
                detail: format!(
                    "{} groups do not divide {} input channels",
                    p.groups, xdims[1]
                ),
                shape: xs,
            }));
        }
        let ws = Shape::new(&[o, xdims[1] / p.groups, kernel[0], kernel[1]])?;
        let geo = geometry(OP, xs, xdims, ws, args)?;
        check_output(OP, &geo, gs)?;
        let op = Op::Conv2dWeightGrad {
            params: args,
            kernel: u32s(kernel),
        };
        Ok(self.graph.record(op, &[self, g], ws, |[x, g], o| {
            kernel::conv2d_weight_grad(&geo, x, g, o)
        }))
    }
}

/// `∂conv2d = (IG(g, w), WG(x, g))`.
pub(crate) fn conv2d_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    args: Conv2dArgs,
) -> Result<Grads<'g, F>> {
    let p = args.params();
    let (xd, wd) = (c.a.shape(), c.b.shape());
    let dx = if c.needs[0] {
        Some(
            c.grad
                .conv2d_input_grad(c.b, p, [xd.dims()[2], xd.dims()[3]])?,
        )
    } else {
        None
    };
    let dw = if c.needs[1] {
        Some(c.a.conv2d_weight_grad(c.grad, p, [wd.dims()[2], wd.dims()[3]])?)
    } else {
        None
    };
    Ok([dx, dw])
}

/// `∂IG(g, w)` with upstream `h`: `(conv2d(h, w), WG(h, g))`.
pub(crate) fn conv2d_input_grad_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    args: Conv2dArgs,
) -> Result<Grads<'g, F>> {
    let p = args.params();
    let h = c.grad;
    let dg = if c.needs[0] {
        Some(h.conv2d(c.b, p)?)
    } else {
        None
    };
    let dw = if c.needs[1] {
        let wd = c.b.shape();
        Some(h.conv2d_weight_grad(c.a, p, [wd.dims()[2], wd.dims()[3]])?)
    } else {
        None
    };
    Ok([dg, dw])
}

/// `∂WG(x, g)` with upstream `k`: `(IG(g, k), conv2d(x, k))`.
pub(crate) fn conv2d_weight_grad_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    args: Conv2dArgs,
) -> Result<Grads<'g, F>> {
    let p = args.params();
    let k = c.grad;
    let dx = if c.needs[0] {
        let xd = c.a.shape();
        Some(c.b.conv2d_input_grad(k, p, [xd.dims()[2], xd.dims()[3]])?)
    } else {
        None
    };
    let dg = if c.needs[1] {
        Some(c.a.conv2d(k, p)?)
    } else {
        None
    };
    Ok([dx, dg])
}
