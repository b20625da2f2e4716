//! `Var`: a copyable handle to one node of a [`Graph`]. Operations are
//! methods on it (defined beside their backward rules in [`crate::ops`]);
//! this file holds only reading values and gradients back out.

use super::tape::{Graph, NONE};
use crate::error::{Error, ErrorKind, Result};
use crate::float::Float;
use crate::ops::Op;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// A value on the tape of a [`Graph`]: 16 bytes, `Copy`, valid until the
/// graph is cleared (the borrow checker enforces it).
#[derive(Clone, Copy)]
pub struct Var<'g, F: Float> {
    pub(crate) graph: &'g Graph<F>,
    pub(crate) id: u32,
}

impl<'g, F: Float> Var<'g, F> {
    pub(crate) fn new(graph: &'g Graph<F>, id: u32) -> Self {
        Var { graph, id }
    }

    /// The graph this value lives on.
    pub fn graph(&self) -> &'g Graph<F> {
        self.graph
    }

    /// The node's index on the tape (creation order).
    pub fn id(&self) -> usize {
        self.id as usize
    }

    /// The shape.
    pub fn shape(&self) -> Shape {
        self.graph.tape.borrow().nodes[self.id as usize].shape
    }

    /// The operation that produced this value.
    pub fn op(&self) -> Op {
        self.graph.tape.borrow().nodes[self.id as usize].op
    }

    /// Whether gradients flow back through this value.
    pub fn requires_grad(&self) -> bool {
        self.graph.tape.borrow().nodes[self.id as usize].requires_grad
    }

    /// Calls `f` with the values, without copying them.
    pub(crate) fn with_values<R>(&self, f: impl FnOnce(&[F]) -> R) -> R {
        let tape = self.graph.tape.borrow();
        let node = tape.nodes[self.id as usize];
        f(tape.range(node.offset, node.shape.numel()))
    }

    /// A copy of the values, row-major.
    pub fn to_vec(&self) -> Vec<F> {
        self.with_values(|v| v.to_vec())
    }

    /// Copies the values, row-major, into `out` (which must hold exactly
    /// as many elements) without allocating: for reading statistics such
    /// as batch norm's mean and variance in every step.
    pub fn read_into(&self, out: &mut [F]) -> Result<()> {
        let shape = self.shape();
        if out.len() != shape.numel() {
            return Err(Error::from(ErrorKind::DataLength {
                op: "read_into",
                len: out.len(),
                shape,
                numel: shape.numel(),
            }));
        }
        self.with_values(|v| out.copy_from_slice(v));
        Ok(())
    }

    /// A copy of the value as a [`Tensor`].
    pub fn value(&self) -> Tensor<F> {
        let shape = self.shape();
        // The arena range has exactly `shape.numel()` elements.
        Tensor::from_shape_vec(shape, self.to_vec()).unwrap_or_else(|_| Tensor::scalar(F::nan()))
    }

    /// The single value of a one-element tensor.
    pub fn item(&self) -> Result<F> {
        let shape = self.shape();
        if shape.numel() != 1 {
            return Err(Error::from(ErrorKind::NotAScalar { op: "item", shape }));
        }
        Ok(self.with_values(|v| v[0]))
    }

    /// Asks that this intermediate value's gradient be kept by
    /// [`Var::backward`] (leaves and parameters keep theirs anyway).
    pub fn retain_grad(&self) {
        self.graph.tape.borrow_mut().nodes[self.id as usize].retain_grad = true;
    }

    /// The node holding the delivered gradient, if any.
    fn grad_node(&self) -> Option<u32> {
        let tape = self.graph.tape.borrow();
        tape.grads
            .get(self.id as usize)
            .copied()
            .filter(|&g| g != NONE)
    }

    /// The gradient delivered by [`Var::backward`]: for parameters the
    /// accumulated gradient, for leaves and retained values the gradient of
    /// the last backward passes (summed).
    pub fn grad(&self) -> Result<Tensor<F>> {
        let n_params = self.graph.tape.borrow().n_params;
        if (self.id as usize) < n_params {
            let p = self.graph.params()[self.id as usize];
            return self.graph.param_grad(p);
        }
        match self.grad_node() {
            Some(g) => Ok(Var::new(self.graph, g).value()),
            None => Err(self.no_grad_error()),
        }
    }

    /// The gradient as a node of the graph: after
    /// [`Var::backward_create_graph`] it can be differentiated again.
    pub fn grad_var(&self) -> Result<Var<'g, F>> {
        match self.grad_node() {
            Some(g) => Ok(Var::new(self.graph, g)),
            None => Err(self.no_grad_error()),
        }
    }

    fn no_grad_error(&self) -> Error {
        Error::from(ErrorKind::NoGrad {
            what: format!(
                "node {} ({}, shape {})",
                self.id,
                self.op().name(),
                self.shape()
            ),
        })
    }

    pub(crate) fn check_same_graph(&self, other: &Var<'g, F>, op: &'static str) -> Result<()> {
        if self.graph.same_graph(other.graph) {
            Ok(())
        } else {
            Err(Error::from(ErrorKind::ForeignHandle {
                op,
                detail: "the operands belong to different graphs".to_string(),
            }))
        }
    }
}

impl<F: Float> std::fmt::Debug for Var<'_, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Var#{}({}, {}, {:?})",
            self.id,
            self.op().name(),
            self.shape(),
            self.to_vec()
        )
    }
}
