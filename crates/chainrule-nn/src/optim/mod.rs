//! Optimizers (SGD with momentum, Nesterov and weight decay; Adam; AdamW),
//! learning-rate schedules and gradient clipping. Updates are in place on
//! the graph's parameters; each optimizer keeps its state per parameter.

mod adam;
mod schedule;
mod sgd;
mod state;

pub use adam::Adam;
pub use schedule::Schedule;
pub use sgd::Sgd;
pub use state::OptimizerState;

use chainrule::{Float, Graph};

/// Something that updates parameters from their gradients.
pub trait Optimizer<F: Float> {
    /// Applies one update to every parameter that has a gradient.
    fn step(&mut self, g: &mut Graph<F>);
    /// The current learning rate.
    fn lr(&self) -> f64;
    /// Sets the learning rate (schedules call this between epochs).
    fn set_lr(&mut self, lr: f64);
    /// The state carried between steps (momentum, moments, step count),
    /// for checkpoints.
    fn export_state(&self) -> OptimizerState<F>;
    /// Restores a state from [`Optimizer::export_state`] of an optimizer of
    /// the same kind; refuses a state of another kind.
    fn import_state(&mut self, state: &OptimizerState<F>) -> crate::Result<()>;
    /// The learning rate when a step is exactly `θ ← θ − lr·∂L/∂θ` (plain
    /// gradient descent, no state), which the trainer may then fuse into
    /// the backward pass ([`chainrule::Var::backward_sgd`]); `None` for
    /// every other rule.
    fn plain_descent_lr(&self) -> Option<f64> {
        None
    }
}

/// Per-parameter state vectors, created on first use (indexed by the
/// parameter's registration order), so a warm step allocates nothing.
#[derive(Clone, Debug, Default)]
pub(crate) struct Slots<F: Float> {
    slots: Vec<Vec<F>>,
}

impl<F: Float> Slots<F> {
    /// The state of parameter `index` with `len` elements (zeros at first).
    pub(crate) fn get(&mut self, index: usize, len: usize) -> &mut Vec<F> {
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, Vec::new);
        }
        let s = &mut self.slots[index];
        if s.len() != len {
            s.clear();
            s.resize(len, F::zero());
        }
        s
    }

    /// Every state vector (for checkpoints).
    pub fn all(&self) -> &[Vec<F>] {
        &self.slots
    }

    /// Slots holding `slots` (restored from a checkpoint).
    pub(crate) fn from_vecs(slots: Vec<Vec<F>>) -> Self {
        Slots { slots }
    }
}

/// Scales all gradients so that their global L2 norm is at most
/// `max_norm`; returns the norm before clipping (PyTorch's
/// `clip_grad_norm_`, with its 1e-6 guard: scale = max_norm / (norm + 1e-6)).
pub fn clip_grad_norm<F: Float>(g: &mut Graph<F>, max_norm: f64) -> f64 {
    let mut total = 0.0f64;
    g.for_each_grad(|_, grad| total += grad.iter().map(|v| v.as_f64() * v.as_f64()).sum::<f64>());
    let norm = total.sqrt();
    let scale = max_norm / (norm + 1e-6);
    if scale < 1.0 {
        let s = F::from_f64(scale);
        g.update_grads(|_, grad| grad.iter_mut().for_each(|v| *v *= s));
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use chainrule::Tensor;

    #[test]
    fn clipping_scales_to_the_global_norm() {
        let mut g = Graph::<f64>::new();
        let a = g.parameter(&Tensor::zeros(&[2]).unwrap());
        let b = g.parameter(&Tensor::zeros(&[1]).unwrap());
        {
            // Gradients [3, 0] and [4]: global norm 5.
            let (va, vb) = (g.param(a).unwrap(), g.param(b).unwrap());
            let w = g.input(&Tensor::from_vec(vec![3.0, 0.0], &[2]).unwrap());
            let loss = va
                .mul(w)
                .unwrap()
                .sum()
                .add(vb.mul_scalar(4.0).sum())
                .unwrap();
            loss.backward().unwrap();
        }
        let norm = clip_grad_norm(&mut g, 1.0);
        assert!((norm - 5.0).abs() < 1e-12);
        let ga = g.param_grad(a).unwrap().into_vec();
        let gb = g.param_grad(b).unwrap().into_vec();
        let scale = 1.0 / (5.0 + 1e-6);
        assert!((ga[0] - 3.0 * scale).abs() < 1e-12 && (gb[0] - 4.0 * scale).abs() < 1e-12);
    }
}
