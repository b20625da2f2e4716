//! A graph's parameters: values that survive [`Graph::clear`], kept in
//! the arena's persistent prefix (see `tape.rs`), and the handles through
//! which a training step reads and replaces them.

use super::param_grads::GradAt;
use super::tape::{push_node, Graph};
use super::var::Var;
use crate::error::{Error, ErrorKind, Result};
use crate::float::Float;
use crate::ops::Op;
use crate::shape::Shape;
use crate::tensor::Tensor;

/// A handle to a parameter: valid across [`Graph::clear`], for the graph that
/// created it only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParamId {
    pub(super) graph: u64,
    pub(super) index: u32,
}

impl ParamId {
    /// The parameter's position in registration order.
    pub fn index(&self) -> usize {
        self.index as usize
    }
}

impl<F: Float> Graph<F> {
    /// Registers a parameter: a value that survives [`Graph::clear`], whose
    /// gradient accumulates over backward passes until [`Graph::zero_grad`].
    /// Any recorded (non-parameter) nodes are discarded first.
    pub fn parameter(&mut self, t: &Tensor<F>) -> ParamId {
        self.clear();
        let t_ref = self.tape.get_mut();
        let offset = t_ref.params_len;
        let n = t.shape().numel();
        if t_ref.values.len() < offset + n {
            t_ref.values.resize(offset + n, F::zero());
        }
        t_ref.values[offset..offset + n].copy_from_slice(t.data());
        t_ref.params_len += n;
        t_ref.used = t_ref.params_len;
        t_ref.param_grad_at.push(GradAt::None);
        let index = push_node(t_ref, Op::Param, &[], t.shape(), offset, true);
        t_ref.n_params += 1;
        ParamId {
            graph: self.id,
            index,
        }
    }

    pub(super) fn check_param(&self, p: ParamId, op: &'static str) -> Result<usize> {
        if p.graph != self.id || p.index as usize >= self.tape.borrow().n_params {
            return Err(Error::from(ErrorKind::ForeignHandle {
                op,
                detail: format!("parameter #{} belongs to another graph", p.index),
            }));
        }
        Ok(p.index as usize)
    }

    /// The handle through which a parameter enters this step's computation.
    pub fn param(&self, p: ParamId) -> Result<Var<'_, F>> {
        let i = self.check_param(p, "param")?;
        Ok(Var::new(self, i as u32))
    }

    /// Every parameter, in registration order.
    pub fn params(&self) -> Vec<ParamId> {
        (0..self.tape.borrow().n_params as u32)
            .map(|index| ParamId {
                graph: self.id,
                index,
            })
            .collect()
    }

    /// A copy of a parameter's value.
    pub fn param_value(&self, p: ParamId) -> Result<Tensor<F>> {
        let i = self.check_param(p, "param_value")?;
        let tape = self.tape.borrow();
        let node = tape.nodes[i];
        let data = tape.range(node.offset, node.shape.numel()).to_vec();
        Tensor::from_shape_vec(node.shape, data)
    }

    /// Replaces a parameter's value; the shape must match.
    pub fn set_param(&mut self, p: ParamId, t: &Tensor<F>) -> Result<()> {
        let i = self.check_param(p, "set_param")?;
        let tape = self.tape.get_mut();
        let node = tape.nodes[i];
        if node.shape != t.shape() {
            return Err(Error::from(ErrorKind::ShapeMismatch {
                op: "set_param",
                lhs: node.shape,
                rhs: t.shape(),
                reason: "a parameter keeps its shape",
            }));
        }
        tape.values[node.offset..node.offset + node.shape.numel()].copy_from_slice(t.data());
        Ok(())
    }

    /// The shape of a parameter.
    pub fn param_shape(&self, p: ParamId) -> Result<Shape> {
        let i = self.check_param(p, "param_shape")?;
        Ok(self.tape.borrow().nodes[i].shape)
    }

    /// The handle of parameter number `index` (registration order).
    pub(super) fn param_id(&self, index: usize) -> ParamId {
        ParamId {
            graph: self.id,
            index: index as u32,
        }
    }
}
