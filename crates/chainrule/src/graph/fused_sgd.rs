//! A step of plain gradient descent fused into the backward pass:
//! `θ ← θ − lr·∂L/∂θ` for every parameter, where a weight that feeds exactly
//! one matrix product is updated *inside* the product that computes its
//! gradient (`W ← W − lr·op(A)ᵀG`, one pass over `W`) instead of writing
//! `∂L/∂W` to memory and reading it back for the update. At a batch of one
//! row that write and read were half of a step (W5's batch 1: the outer
//! product 18 % and the update 34 % of the samples); at W2's batch 128 the
//! update alone was 5 %.
//!
//! Which weights are fused is decided per backward pass, from the tape:
//! a parameter used by one node up to the output, that node a 2-D product
//! whose other operand is not a parameter. Every other parameter (biases,
//! shared weights, a weight inside a convolution) gets its gradient as in
//! [`Var::backward`] and is stepped after the loop. The gradients of fused
//! weights are never stored, so anything that reads gradients (clipping,
//! a gradient report, another optimizer) must use `backward`.

use super::tape::{Graph, Tape};
use super::var::Var;
use crate::error::{Error, ErrorKind, Result};
use crate::float::Float;
use crate::ops::Op;

impl<'g, F: Float> Var<'g, F> {
    /// Backpropagates from this scalar and takes one step of plain gradient
    /// descent with learning rate `lr` on every parameter it depends on:
    /// the same step as [`Var::backward`] followed by `θ ← θ − lr·∂L/∂θ`
    /// (up to the rounding of the fused products), in one pass.
    ///
    /// The parameters must hold no gradient when it is called
    /// ([`Graph::zero_grad`]); afterwards, the parameters that were not
    /// fused hold this pass's gradient (zero them before the next step).
    /// With anomaly detection on, nothing is fused.
    pub fn backward_sgd(&self, lr: f64) -> Result<()> {
        let graph = self.graph;
        if let Some(p) = graph.tape.borrow().first_param_with_grad() {
            return Err(Error::from(ErrorKind::GradientsPending {
                op: "backward_sgd",
                param: p,
            }));
        }
        let seed = self.seed(None)?;
        let lr = F::from_f64(lr);
        let fuse = if graph.detect_anomaly() {
            None
        } else {
            plan(&mut graph.tape.borrow_mut(), self.id as usize);
            Some(lr)
        };
        super::backward::run_fused(graph, *self, seed, fuse)?;
        // The parameters that were not fused: their gradients are final.
        graph.tape.borrow_mut().descend(lr);
        Ok(())
    }
}

/// Counts, for every parameter, the nodes up to `top` that use it (a node
/// using it twice counts twice), into the tape's reusable `uses`.
fn plan<F: Float>(t: &mut Tape<F>, top: usize) {
    let n = t.n_params;
    t.uses.clear();
    t.uses.resize(n, 0);
    for i in n..=top {
        for k in t.nodes[i].inputs {
            if (k as usize) < n {
                t.uses[k as usize] += 1;
            }
        }
    }
    // Which step runs last (here, not on a helper: `weight_step.rs`):
    // found again only when the tape's shape changed. A training loop
    // records the same tape every step, and a stale answer would only
    // send one more step to the helper, never change a result.
    let key = (top, t.nodes.len());
    if t.last_fused.0 != key {
        t.last_fused = (
            key,
            (n..=top).find(|&i| fusable(t, i)).unwrap_or(usize::MAX),
        );
    }
}

/// Whether node `i` (a product `op(A)·op(B)`) may update its second
/// operand in place: `B` a parameter used by this node alone, `A` neither
/// a parameter nor a view of one, both matrices (not a batch of them).
pub(super) fn fusable<F: Float>(t: &Tape<F>, i: usize) -> bool {
    let node = &t.nodes[i];
    let [a, b] = node.inputs.map(|k| k as usize);
    // `A`'s values must lie in the arena, above the parameters: a view of
    // a parameter (reshape, detach) is a node of its own but shares the
    // parameter's storage.
    matches!(node.op, Op::MatMul { .. })
        && b < t.n_params
        && a >= t.n_params
        && t.nodes[a].offset >= t.params_len
        && t.uses.get(b) == Some(&1)
        && t.nodes[b].requires_grad
        && node.shape.rank() == 2
        && t.nodes[a].shape.rank() == 2
        && t.nodes[b].shape.rank() == 2
}

impl<F: Float> Graph<F> {
    /// Whether the fused step would fuse parameter `p`'s update into its
    /// product, for a backward pass from `output` (for tests and
    /// explanations).
    pub fn fuses_update(&self, output: Var<'_, F>, p: super::ParamId) -> bool {
        let mut tape = self.tape.borrow_mut();
        plan(&mut tape, output.id as usize);
        let index = p.index();
        (tape.n_params..=output.id as usize)
            .any(|i| tape.nodes[i].inputs[1] as usize == index && fusable(&tape, i))
    }
}
