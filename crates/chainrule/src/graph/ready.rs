//! Gradient-ready notification: a backward pass that tells its caller,
//! while the reverse loop still runs, the moment each parameter's gradient
//! is final — what data-parallel training needs to start summing a bucket
//! of gradients across processes while the rest of the backward pass is
//! still computing (PyTorch's DistributedDataParallel's overlap).
//!
//! The tape is in creation order, and every contribution to a parameter's
//! gradient comes from the backward rule of a node that consumes it. The
//! reverse loop visits nodes from the last to the first, so a parameter's
//! gradient is final once the loop has passed its lowest-index consumer.
//! Before the loop, one forward scan of the tape finds every parameter's
//! lowest-index consumer; the schedule (consumer, parameter) is sorted from
//! the last consumer to the first, and the loop walks it with a cursor.
//! The schedule lives on the tape and keeps its capacity, so a warm step
//! with a hook allocates nothing; a backward pass without a hook never
//! builds it.

use super::parameters::ParamId;
use super::tape::{Graph, NONE};
use super::var::Var;
use crate::error::Result;
use crate::float::Float;

/// The caller's hook, `ready(parameter, gradient)`: called once per
/// parameter that receives a gradient, as soon as that gradient is final.
pub type ReadyHook<'h, F> = &'h mut dyn FnMut(ParamId, &[F]);

/// The reverse loop's side of the schedule: the hook and how far the
/// schedule has been walked.
pub(super) struct Ready<'h, F: Float> {
    hook: ReadyHook<'h, F>,
    next: usize,
}

impl<'g, F: Float> Var<'g, F> {
    /// As [`Var::backward`], calling `ready(parameter, gradient)` during the
    /// reverse loop as soon as each parameter's gradient is final: right
    /// after the backward rule of the parameter's lowest-index consumer.
    /// Every parameter that needs and receives a gradient is reported
    /// exactly once; parameters whose last contribution comes from the same
    /// node are reported from the last parameter to the first.
    ///
    /// The slice is the gradient this backward pass computed (what
    /// [`crate::Graph::param_grad`] reads afterwards when the gradients were
    /// zeroed before). The hook runs while the graph is borrowed: it must
    /// not call the graph.
    pub fn backward_notify(&self, ready: ReadyHook<'_, F>) -> Result<()> {
        let seed = self.seed(None)?;
        let ready = Ready {
            hook: ready,
            next: 0,
        };
        super::backward::run_notify(self.graph, *self, seed, ready)
    }
}

impl<'h, F: Float> Ready<'h, F> {
    /// Builds the schedule for a reverse loop from node `top`: for every
    /// parameter, the node after whose backward rule its gradient is final
    /// (its lowest-index consumer, or itself when nothing up to `top`
    /// consumes it), sorted from the last such node to the first, ties from
    /// the last parameter to the first.
    pub(super) fn plan(&mut self, graph: &Graph<F>, top: usize) {
        let mut tape = graph.tape.borrow_mut();
        let t = &mut *tape;
        let n = t.n_params;
        t.ready.clear();
        t.ready.extend((0..n as u32).map(|p| (NONE, p)));
        for i in n..=top {
            for k in t.nodes[i].inputs {
                if (k as usize) < n && t.ready[k as usize].0 == NONE {
                    t.ready[k as usize].0 = i as u32;
                }
            }
        }
        for entry in t.ready.iter_mut() {
            if entry.0 == NONE {
                entry.0 = entry.1;
            }
        }
        t.ready.sort_unstable_by(|a, b| b.cmp(a));
        self.next = 0;
    }

    /// Reports every parameter whose gradient became final with node `i`'s
    /// backward rule (called after the loop has handled node `i`).
    pub(super) fn passed(&mut self, graph: &Graph<F>, i: usize) {
        let tape = graph.tape.borrow();
        while let Some(&(at, p)) = tape.ready.get(self.next) {
            if at as usize != i {
                break;
            }
            self.next += 1;
            let (slot, node) = (tape.slots[p as usize], &tape.nodes[p as usize]);
            if slot == NONE || !node.requires_grad {
                continue;
            }
            let from = tape.nodes[slot as usize].offset;
            let grad = &tape.values[from..from + node.shape.numel()];
            (self.hook)(graph.param_id(p as usize), grad);
        }
    }
}
