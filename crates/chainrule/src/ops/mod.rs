//! Operations. Each file holds one family: for every operation its forward
//! (a method on [`Var`](crate::Var) that checks shapes and runs a kernel),
//! its backward rule (written in the engine's own differentiable operations,
//! so gradients of gradients work), and its formula in the doc comment.
//!
//! [`Op`] names every operation; `Op::backward` is the one-line-per-op
//! dispatch table from a recorded node to its rule.

mod activation;
mod arith;
mod bias;
mod conv;
mod custom;
mod index;
mod layout;
mod local;
mod loss;
mod math;
pub(crate) mod matmul;
mod norm;
mod pool;
mod reduce;
mod softmax;

use crate::error::Result;
use crate::float::Float;
use crate::graph::{BackwardCtx, Grads};

use crate::shape::MAX_RANK;
pub use bias::BiasAct;
pub use conv::{Conv2dArgs, Conv2dParams};
pub use custom::{CustomOp, CustomOpId};
pub use norm::BatchNormTrain;
pub use pool::{Pool2dArgs, Pool2dParams};
use strum::EnumIter;
use strum::{EnumDiscriminants, IntoEnumIterator, IntoStaticStr};

/// The operation that produced a node, with its non-tensor arguments.
///
/// Every variant has a fieldless twin in [`OpKind`] (generated, so it
/// cannot be forgotten) whose snake_case name is the operation's name
/// ([`Op::name`]); the few names that differ from the variant's are written
/// next to the variant.
#[derive(Clone, Copy, Debug, PartialEq, EnumDiscriminants)]
#[strum_discriminants(
    name(OpKind),
    derive(EnumIter, IntoStaticStr, Hash),
    strum(serialize_all = "snake_case")
)]
pub enum Op {
    /// An input or variable created from a tensor.
    Leaf,
    /// A parameter (persistent leaf).
    Param,
    Add,
    Sub,
    Mul,
    Div,
    Neg,
    AddScalar(f64),
    MulScalar(f64),
    /// `x^p` for a constant `p`.
    #[strum_discriminants(strum(serialize = "pow"))]
    PowScalar(f64),
    /// `x^y` elementwise, both operands recorded (broadcasting).
    #[strum_discriminants(strum(serialize = "pow_var"))]
    Pow,
    Exp,
    Log,
    Sqrt,
    Abs,
    /// −1, 0 or 1; derivative zero.
    Sign,
    Sin,
    Cos,
    Sigmoid,
    /// `g · y · (1 − y)` from `(g, y)`: the fused backward of sigmoid.
    SigmoidBackward,
    Tanh,
    /// `g · (1 − y²)` from `(g, y)`: the fused backward of tanh.
    TanhBackward,
    Relu,
    LeakyRelu(f64),
    Softplus,
    /// `min(max(x, lo), hi)`.
    Clamp(f64, f64),
    /// 1 where `lo ≤ x ≤ hi`, else 0; derivative zero.
    ClampMask(f64, f64),
    /// 1 where `x > 0`, else the given slope; derivative zero.
    StepMask(f64),
    #[strum_discriminants(strum(serialize = "matmul"))]
    MatMul {
        ta: bool,
        tb: bool,
    },
    /// `act(z + b)` with a bias row, fused (a dense layer's end).
    BiasAct(BiasAct),
    Reshape,
    Permute([u8; MAX_RANK]),
    BroadcastTo,
    /// Sums a broadcast gradient back to the shape it was broadcast from.
    SumTo,
    Detach,
    #[strum_discriminants(strum(serialize = "sum"))]
    SumAxis {
        axis: u8,
        keepdim: bool,
    },
    #[strum_discriminants(strum(serialize = "max"))]
    MaxAxis {
        axis: u8,
        keepdim: bool,
    },
    /// One-hot mask of the first maximum along an axis; derivative zero.
    #[strum_discriminants(strum(serialize = "argmax_mask"))]
    ArgMaxMask {
        axis: u8,
    },
    Softmax {
        axis: u8,
    },
    LogSoftmax {
        axis: u8,
    },
    /// `out[i] = x[i, labels[i]]`; the labels are stored on the tape.
    GatherRows {
        start: u32,
        len: u32,
    },
    /// The adjoint of `GatherRows`: a zero matrix with `g[i]` at `[i, labels[i]]`.
    ScatterRows {
        start: u32,
        len: u32,
    },
    Concat {
        axis: u8,
    },
    Slice {
        axis: u8,
        start: u32,
    },
    /// The adjoint of `Slice`: zeros around the input along an axis.
    Pad {
        axis: u8,
        start: u32,
    },
    /// Mean (or sum) of squared differences of two equal shapes, fused.
    MseLoss {
        mean: bool,
    },
    /// Softmax cross-entropy of logits with stored labels, fused.
    CrossEntropy {
        start: u32,
        len: u32,
        mean: bool,
    },
    /// A user-defined operation registered on the graph.
    Custom(u16),
    /// 2-D convolution of `(x, w)` (im2col onto the GEMM).
    Conv2d(Conv2dArgs),
    /// The adjoint of `Conv2d` in `x`, from `(g, w)`; `in_hw` is `x`'s
    /// height and width.
    Conv2dInputGrad {
        params: Conv2dArgs,
        in_hw: [u32; 2],
    },
    /// The adjoint of `Conv2d` in `w`, from `(x, g)`; `kernel` is `w`'s
    /// height and width.
    Conv2dWeightGrad {
        params: Conv2dArgs,
        kernel: [u32; 2],
    },
    /// 2-D max pooling (first maximum of each window).
    MaxPool2d(Pool2dArgs),
    /// `(x, g)`: `g` added at each window's maximum of `x`; the backward of
    /// `MaxPool2d`.
    MaxPool2dScatter(Pool2dArgs),
    /// `(x, h)`: `h` read at each window's maximum of `x`; the adjoint of
    /// `MaxPool2dScatter`.
    MaxPool2dGather(Pool2dArgs),
    /// 2-D average pooling (padding counted in the divisor).
    AvgPool2d(Pool2dArgs),
    /// The adjoint of `AvgPool2d`; `in_hw` is the pooled input's height and
    /// width.
    AvgPool2dAdjoint {
        params: Pool2dArgs,
        in_hw: [u32; 2],
    },
}

/// The name of every operation, as [`Op::name`] gives it, in the order
/// the variants are declared.
pub fn all_op_names() -> impl Iterator<Item = &'static str> {
    OpKind::iter().map(OpKind::name)
}

impl OpKind {
    /// The operation's short lowercase name (`"matmul"`, `"sigmoid"`, …).
    pub fn name(self) -> &'static str {
        self.into()
    }
}

impl Op {
    /// Which operation this is, without its arguments.
    pub fn kind(&self) -> OpKind {
        OpKind::from(self)
    }

    /// A short lowercase name (`"matmul"`, `"sigmoid"`, …).
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// The dispatch table: one line per operation, naming its backward rule.
    pub(crate) fn backward<'g, F: Float>(&self, c: &BackwardCtx<'g, F>) -> Result<Grads<'g, F>> {
        match *self {
            Op::Leaf
            | Op::Param
            | Op::Detach
            | Op::Sign
            | Op::StepMask(_)
            | Op::ClampMask(..)
            | Op::ArgMaxMask { .. } => Ok([None, None]),
            Op::Add => arith::add_backward(c),
            Op::Sub => arith::sub_backward(c),
            Op::Mul => arith::mul_backward(c),
            Op::Div => arith::div_backward(c),
            Op::Neg => arith::neg_backward(c),
            Op::AddScalar(_) => arith::add_scalar_backward(c),
            Op::MulScalar(s) => arith::mul_scalar_backward(c, s),
            Op::PowScalar(p) => math::pow_backward(c, p),
            Op::Pow => math::pow_var_backward(c),
            Op::Exp => math::exp_backward(c),
            Op::Log => math::log_backward(c),
            Op::Sqrt => math::sqrt_backward(c),
            Op::Abs => math::abs_backward(c),
            Op::Sin => math::sin_backward(c),
            Op::Cos => math::cos_backward(c),
            Op::Sigmoid => activation::sigmoid_backward(c),
            Op::SigmoidBackward => activation::sigmoid_backward_backward(c),
            Op::Tanh => activation::tanh_backward(c),
            Op::TanhBackward => activation::tanh_backward_backward(c),
            Op::Relu => activation::relu_backward(c),
            Op::LeakyRelu(slope) => activation::leaky_relu_backward(c, slope),
            Op::Softplus => activation::softplus_backward(c),
            Op::Clamp(lo, hi) => math::clamp_backward(c, lo, hi),
            Op::MatMul { ta, tb } => matmul::matmul_backward(c, ta, tb),
            Op::BiasAct(act) => bias::bias_act_backward(c, act),
            Op::Reshape => layout::reshape_backward(c),
            Op::Permute(perm) => layout::permute_backward(c, perm),
            Op::BroadcastTo => layout::broadcast_to_backward(c),
            Op::SumTo => layout::sum_to_backward(c),
            Op::SumAxis { axis, keepdim } => reduce::sum_axis_backward(c, axis as usize, keepdim),
            Op::MaxAxis { axis, keepdim } => reduce::max_axis_backward(c, axis as usize, keepdim),
            Op::Softmax { axis } => softmax::softmax_backward(c, axis as usize),
            Op::LogSoftmax { axis } => softmax::log_softmax_backward(c, axis as usize),
            Op::GatherRows { start, len } => index::gather_rows_backward(c, (start, len)),
            Op::ScatterRows { start, len } => index::scatter_rows_backward(c, (start, len)),
            Op::Concat { axis } => index::concat_backward(c, axis as usize),
            Op::Slice { axis, start } => index::slice_backward(c, axis as usize, start as usize),
            Op::Pad { axis, start } => index::pad_backward(c, axis as usize, start as usize),
            Op::MseLoss { mean } => loss::mse_backward(c, mean),
            Op::CrossEntropy { start, len, mean } => {
                loss::cross_entropy_backward(c, (start, len), mean)
            }
            Op::Custom(id) => custom::custom_backward(c, id),
            Op::Conv2d(p) => conv::conv2d_backward(c, p),
            Op::Conv2dInputGrad { params, .. } => conv::conv2d_input_grad_backward(c, params),
            Op::Conv2dWeightGrad { params, .. } => conv::conv2d_weight_grad_backward(c, params),
            Op::MaxPool2d(p) => pool::max_pool2d_backward(c, p),
            Op::MaxPool2dScatter(p) => pool::max_pool2d_scatter_backward(c, p),
            Op::MaxPool2dGather(p) => pool::max_pool2d_gather_backward(c, p),
            Op::AvgPool2d(p) => pool::avg_pool2d_backward(c, p),
            Op::AvgPool2dAdjoint { params, .. } => pool::avg_pool2d_adjoint_backward(c, params),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names are public (JSON, drawings, errors): generating them must
    /// keep the names they had when they were written by hand.
    #[test]
    fn op_names_are_the_published_ones() {
        let names: Vec<&str> = all_op_names().collect();
        assert_eq!(
            names,
            [
                "leaf",
                "param",
                "add",
                "sub",
                "mul",
                "div",
                "neg",
                "add_scalar",
                "mul_scalar",
                "pow",
                "pow_var",
                "exp",
                "log",
                "sqrt",
                "abs",
                "sign",
                "sin",
                "cos",
                "sigmoid",
                "sigmoid_backward",
                "tanh",
                "tanh_backward",
                "relu",
                "leaky_relu",
                "softplus",
                "clamp",
                "clamp_mask",
                "step_mask",
                "matmul",
                "bias_act",
                "reshape",
                "permute",
                "broadcast_to",
                "sum_to",
                "detach",
                "sum",
                "max",
                "argmax_mask",
                "softmax",
                "log_softmax",
                "gather_rows",
                "scatter_rows",
                "concat",
                "slice",
                "pad",
                "mse_loss",
                "cross_entropy",
                "custom",
                "conv2d",
                "conv2d_input_grad",
                "conv2d_weight_grad",
                "max_pool2d",
                "max_pool2d_scatter",
                "max_pool2d_gather",
                "avg_pool2d",
                "avg_pool2d_adjoint",
            ]
        );
        assert_eq!(
            Op::MatMul {
                ta: true,
                tb: false
            }
            .name(),
            "matmul"
        );
        assert_eq!(Op::PowScalar(2.0).name(), "pow");
        // The convolution and pooling arguments are packed so that `Op`
        // stays as small as it was (24 bytes, two f64 of `Clamp`).
        assert_eq!(std::mem::size_of::<Op>(), 24);
        assert_eq!(Op::Pow.name(), "pow_var");
        assert_eq!(
            Op::SumAxis {
                axis: 0,
                keepdim: false
            }
            .name(),
            "sum"
        );
    }
}
