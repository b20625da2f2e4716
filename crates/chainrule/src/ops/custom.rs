//! User-defined operations: a forward kernel and a backward rule written
//! in the engine's own operations, registered on a graph. They take part in
//! everything built-in operations do (gradient checks, second-order
//! gradients, anomaly mode, drawings).

use crate::error::{Error, ErrorKind, Result};
use crate::float::Float;
use crate::graph::{BackwardCtx, Grads, Graph, Var};
use crate::ops::Op;
use crate::shape::Shape;
use std::rc::Rc;

/// An operation defined outside the engine, of one or two inputs.
pub trait CustomOp<F: Float> {
    /// A short name, shown in traces and drawings.
    fn name(&self) -> &str;
    /// The output shape for the input shapes (an error if they do not fit).
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape>;
    /// Computes every output value from the input values.
    fn forward(&self, inputs: &[&[F]], shapes: &[Shape], out: &mut [F]);
    /// The gradients of the inputs, written with differentiable operations
    /// on `ctx.grad`, `ctx.a`, `ctx.b` and `ctx.out` (so that second-order
    /// gradients work); `None` where an input needs none.
    fn backward<'g>(&self, ctx: &BackwardCtx<'g, F>) -> Result<Grads<'g, F>>;
}

/// A handle to an operation registered with [`Graph::register_op`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CustomOpId(pub(crate) u16);

impl<F: Float> Graph<F> {
    /// Registers a custom operation for use with [`Var::custom`].
    pub fn register_op(&self, op: Rc<dyn CustomOp<F>>) -> Result<CustomOpId> {
        let mut ops = self.custom_ops.borrow_mut();
        let id = u16::try_from(ops.len()).map_err(|_| {
            Error::from(ErrorKind::Invalid {
                op: "register_op",
                detail: "more than 65,535 custom operations".into(),
                shape: Shape::scalar(),
            })
        })?;
        ops.push(op);
        Ok(CustomOpId(id))
    }

    /// The registered operation `id` (as a node's [`Op::Custom`] names it).
    pub fn custom_op(&self, id: u16) -> Result<Rc<dyn CustomOp<F>>> {
        self.custom_ops
            .borrow()
            .get(id as usize)
            .cloned()
            .ok_or_else(|| {
                Error::from(ErrorKind::ForeignHandle {
                    op: "custom",
                    detail: format!("custom operation #{id} is not registered on this graph"),
                })
            })
    }

    /// The display name of an operation (a custom one's own name).
    pub fn op_name(&self, op: Op) -> String {
        match op {
            Op::Custom(id) => self
                .custom_op(id)
                .map(|o| o.name().to_string())
                .unwrap_or_else(|_| "custom".into()),
            other => other.name().to_string(),
        }
    }
}

impl<'g, F: Float> Var<'g, F> {
    /// Applies a registered custom operation to `self` (and `other`).
    pub fn custom(self, id: CustomOpId, other: Option<Var<'g, F>>) -> Result<Var<'g, F>> {
        let op = self.graph.custom_op(id.0)?;
        let inputs: Vec<Var<'g, F>> = match other {
            Some(o) => {
                self.check_same_graph(&o, "custom")?;
                vec![self, o]
            }
            None => vec![self],
        };
        let shapes: Vec<Shape> = inputs.iter().map(|v| v.shape()).collect();
        let shape = op.output_shape(&shapes)?;
        Ok(self
            .graph
            .record(Op::Custom(id.0), &inputs, shape, |ins, out| {
                op.forward(&ins[..shapes.len()], &shapes, out)
            }))
    }
}

/// Dispatches to the registered operation's rule.
pub(crate) fn custom_backward<'g, F: Float>(
    c: &BackwardCtx<'g, F>,
    id: u16,
) -> Result<Grads<'g, F>> {
    c.out.graph.custom_op(id)?.backward(c)
}
