//! Local derivatives for teaching: `∂out/∂input` element by element,
//! computed by each operation's own backward rule (never a second copy of
//! the derivatives), for the operations whose Jacobian is diagonal.

use crate::error::Result;
use crate::float::Float;
use crate::graph::{BackwardCtx, Graph, Var};
use crate::ops::Op;

impl Op {
    /// Whether the operation acts element by element on inputs of its
    /// output's shape, so that `∂out/∂input` is one number per element (a
    /// diagonal Jacobian).
    pub fn is_elementwise(&self) -> bool {
        match self {
            Op::Add
            | Op::Sub
            | Op::Mul
            | Op::Div
            | Op::Neg
            | Op::AddScalar(_)
            | Op::MulScalar(_)
            | Op::PowScalar(_)
            | Op::Pow
            | Op::Exp
            | Op::Log
            | Op::Sqrt
            | Op::Abs
            | Op::Sign
            | Op::Sin
            | Op::Cos
            | Op::Sigmoid
            | Op::SigmoidBackward
            | Op::Tanh
            | Op::TanhBackward
            | Op::Relu
            | Op::LeakyRelu(_)
            | Op::Softplus
            | Op::Clamp(..)
            | Op::ClampMask(..)
            | Op::StepMask(_)
            | Op::Detach => true,
            Op::Leaf
            | Op::Param
            | Op::MatMul { .. }
            | Op::BiasAct(_)
            | Op::Reshape
            | Op::Permute(_)
            | Op::BroadcastTo
            | Op::SumTo
            | Op::SumAxis { .. }
            | Op::MaxAxis { .. }
            | Op::ArgMaxMask { .. }
            | Op::Softmax { .. }
            | Op::LogSoftmax { .. }
            | Op::GatherRows { .. }
            | Op::ScatterRows { .. }
            | Op::Concat { .. }
            | Op::Slice { .. }
            | Op::Pad { .. }
            | Op::MseLoss { .. }
            | Op::CrossEntropy { .. }
            | Op::Custom(_)
            | Op::Conv2d(_)
            | Op::Conv2dInputGrad { .. }
            | Op::Conv2dWeightGrad { .. }
            | Op::MaxPool2d(_)
            | Op::MaxPool2dScatter(_)
            | Op::MaxPool2dGather(_)
            | Op::AvgPool2d(_)
            | Op::AvgPool2dAdjoint { .. } => false,
        }
    }
}

impl<F: Float> Graph<F> {
    /// The local derivative of `node` with respect to each of its inputs,
    /// element by element, where it is one number per input element: for an
    /// elementwise operation (`∂outᵢ/∂inputᵢ`) and for any operation with a
    /// one-element output (`∂out/∂inputᵢ`). `None` for a missing input or
    /// an operation whose Jacobian is not diagonal.
    ///
    /// The numbers come from the operation's own backward rule applied to a
    /// gradient of ones (the vector-Jacobian product with ones is the
    /// Jacobian's diagonal when it is diagonal), recorded without gradient
    /// tracking, so they are what the backward pass uses. They are nodes of
    /// this graph, readable until it is cleared.
    pub fn local_derivatives<'g>(&'g self, node: Var<'g, F>) -> Result<[Option<Var<'g, F>>; 2]> {
        let op = node.op();
        let shape = node.shape();
        if !(op.is_elementwise() || shape.numel() == 1) {
            return Ok([None, None]);
        }
        let inputs = {
            let tape = self.tape.borrow();
            let n = tape.nodes.len();
            tape.nodes[node.id as usize]
                .inputs
                .map(|i| ((i as usize) < n).then(|| Var::new(self, i)))
        };
        let Some(a) = inputs[0] else {
            return Ok([None, None]);
        };
        let needs = inputs.map(|i| i.is_some());
        let previous = self.set_grad_enabled(false);
        let ones = self.record(Op::Leaf, &[], shape, |_, o| o.fill(F::one()));
        let ctx = BackwardCtx {
            out: node,
            grad: ones,
            a,
            b: inputs[1].unwrap_or(a),
            needs,
        };
        let result = op.backward(&ctx);
        self.set_grad_enabled(previous);
        let grads = result?;
        Ok([0, 1].map(|k| {
            // An identically zero derivative (a mask, detach) has no node.
            match (needs[k], grads[k]) {
                (false, _) => None,
                (true, Some(g)) => Some(g),
                (true, None) => inputs[k].map(|i| self.zeros(i.shape())),
            }
        }))
    }
}
