//! Parameter gradients: where each one lives after a backward pass, and
//! the accessors optimizers use.
//!
//! A backward pass leaves a parameter's gradient in the arena node that
//! computed it ([`GradAt::Arena`]), so delivering it copies nothing. It
//! moves to the persistent `param_grads` buffer ([`GradAt::Stored`]) only
//! when it must outlive that node or change: at [`Graph::clear`] (unless
//! [`Graph::zero_grad`] came first, as in a step that updates, zeroes, then
//! clears), before a second backward pass adds to it, and before
//! [`Graph::update_grads`] writes to it (an arena node may be the gradient
//! of several parameters at once).

use super::parameters::ParamId;
use super::tape::{Graph, Tape, NONE};
use crate::error::{Error, ErrorKind, Result};
use crate::float::Float;
use crate::kernels::elementwise;
use crate::tensor::Tensor;

/// Parameters are updated in parallel blocks of at least this many elements.
const PARALLEL_UPDATE: usize = 1 << 15;

/// Where a parameter's gradient is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GradAt {
    /// No gradient since the last `zero_grad`.
    None,
    /// In `param_grads`, at the parameter's own offset.
    Stored,
    /// In the arena, at this offset (above the parameters).
    Arena(usize),
}

impl<F: Float> Tape<F> {
    /// Parameter `i`'s value range (also its range in `param_grads`).
    fn param_range(&self, i: usize) -> std::ops::Range<usize> {
        let node = self.nodes[i];
        node.offset..node.offset + node.shape.numel()
    }

    /// Parameter `i`'s gradient, wherever it is.
    fn param_grad_slice(&self, i: usize) -> Option<&[F]> {
        let range = self.param_range(i);
        match self.param_grad_at[i] {
            GradAt::None => None,
            GradAt::Stored => Some(&self.param_grads[range]),
            GradAt::Arena(from) => Some(&self.values[from..from + range.len()]),
        }
    }

    /// Plain gradient descent, `θ ← θ − lr · ∂L/∂θ`, on every parameter
    /// that has a gradient. Large parameters are updated in parallel blocks
    /// of at least [`PARALLEL_UPDATE`] elements (the update is bound by
    /// memory bandwidth, which one core does not saturate).
    pub(crate) fn descend(&mut self, lr: F) {
        for i in 0..self.n_params {
            if let Some((value, grad)) = self.value_and_grad(i) {
                crate::kernels::team::zip_blocks(value, grad, PARALLEL_UPDATE, |v, g| {
                    elementwise::zip_in_place(v, g, |v, d| v - lr * d)
                });
            }
        }
    }

    /// The first parameter that holds a gradient, if any.
    pub(super) fn first_param_with_grad(&self) -> Option<usize> {
        (0..self.n_params).find(|&i| self.param_grad_at[i] != GradAt::None)
    }

    /// Parameter `i`'s value (writable) and gradient.
    fn value_and_grad(&mut self, i: usize) -> Option<(&mut [F], &[F])> {
        let range = self.param_range(i);
        match self.param_grad_at[i] {
            GradAt::None => None,
            GradAt::Stored => Some((&mut self.values[range.clone()], &self.param_grads[range])),
            GradAt::Arena(from) => {
                // Parameters lie below `params_len`, arena gradients above.
                let (params, arena) = self.values.split_at_mut(self.params_len);
                let start = from - self.params_len;
                Some((
                    &mut params[range.clone()],
                    &arena[start..start + range.len()],
                ))
            }
        }
    }

    /// The persistent gradient buffer, allocated on first use (a training
    /// loop that zeroes gradients before clearing never needs it).
    fn allocate_stored_grads(&mut self) {
        if self.param_grads.len() < self.params_len {
            self.param_grads.resize(self.params_len, F::zero());
        }
    }

    /// Moves parameter `i`'s gradient out of the arena, if it is there.
    #[inline]
    fn store_param_grad(&mut self, i: usize) {
        if let GradAt::Arena(from) = self.param_grad_at[i] {
            let range = self.param_range(i);
            let n = range.len();
            self.allocate_stored_grads();
            self.param_grads[range].copy_from_slice(&self.values[from..from + n]);
            self.param_grad_at[i] = GradAt::Stored;
        }
    }

    /// Moves every gradient still in the arena out of it.
    pub(crate) fn store_param_grads(&mut self) {
        for i in 0..self.n_params {
            if let GradAt::Arena(_) = self.param_grad_at[i] {
                self.store_param_grad(i);
            }
        }
    }

    /// Delivers the gradient computed at arena offset `from` to parameter
    /// `i`: it stays there if the parameter had none, else it is added to
    /// the one stored.
    pub(crate) fn deliver_param_grad(&mut self, i: usize, from: usize) {
        let range = self.param_range(i);
        let n = range.len();
        match self.param_grad_at[i] {
            GradAt::None => {
                self.param_grad_at[i] = GradAt::Arena(from);
                if from < self.params_len {
                    // A view of a parameter's own value would change under
                    // an update: copy it out at once.
                    self.store_param_grad(i);
                }
            }
            GradAt::Stored | GradAt::Arena(_) => {
                self.store_param_grad(i);
                elementwise::add_assign(&mut self.param_grads[range], &self.values[from..from + n]);
            }
        }
    }
}

impl<F: Float> Graph<F> {
    /// A copy of a parameter's accumulated gradient.
    pub fn param_grad(&self, p: ParamId) -> Result<Tensor<F>> {
        let i = self.check_param(p, "param_grad")?;
        let tape = self.tape.borrow();
        let Some(grad) = tape.param_grad_slice(i) else {
            return Err(Error::from(ErrorKind::NoGrad {
                what: format!("parameter #{i}"),
            }));
        };
        Tensor::from_shape_vec(tape.nodes[i].shape, grad.to_vec())
    }

    /// Calls `f(param, value, gradient)` for every parameter that has a
    /// gradient, so that an optimizer can update values in place.
    pub fn update_params(&mut self, mut f: impl FnMut(ParamId, &mut [F], &[F])) {
        let n = self.tape.get_mut().n_params;
        for i in 0..n {
            let id = self.param_id(i);
            if let Some((value, grad)) = self.tape.get_mut().value_and_grad(i) {
                f(id, value, grad);
            }
        }
    }

    /// Calls `f(param, gradient)` for every parameter that has a gradient.
    pub fn for_each_grad(&self, mut f: impl FnMut(ParamId, &[F])) {
        let tape = self.tape.borrow();
        for i in 0..tape.n_params {
            if let Some(grad) = tape.param_grad_slice(i) {
                f(self.param_id(i), grad);
            }
        }
    }

    /// Calls `f(param, gradient)` with the gradient writable (clipping,
    /// scaling), for every parameter that has one.
    pub fn update_grads(&mut self, mut f: impl FnMut(ParamId, &mut [F])) {
        let n = self.tape.get_mut().n_params;
        for i in 0..n {
            let id = self.param_id(i);
            let tape = self.tape.get_mut();
            tape.store_param_grad(i);
            if tape.param_grad_at[i] == GradAt::Stored {
                let range = tape.param_range(i);
                f(id, &mut tape.param_grads[range]);
            }
        }
    }

    /// Forgets every parameter gradient (the next backward pass writes them
    /// afresh; nothing is zero-filled). Called before [`Graph::clear`], it
    /// also spares `clear` moving the gradients out of the arena.
    pub fn zero_grad(&mut self) {
        let tape = self.tape.get_mut();
        tape.param_grad_at.fill(GradAt::None);
        tape.grads.fill(NONE);
    }
}
