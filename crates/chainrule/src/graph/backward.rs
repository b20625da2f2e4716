//! Backpropagation: one reverse loop over the tape, applying each node's
//! backward rule (from [`crate::ops`]) and summing the gradients that reach a
//! node through several paths.
//!
//! Gradients are themselves nodes of the graph. Normally they are recorded
//! with gradient tracking off, so they are plain values; with
//! `create_graph` the backward pass is recorded like any computation and can
//! be differentiated again (higher-order gradients).

use super::ready::Ready;
use super::tape::{Graph, NONE};
use super::var::Var;
use crate::anomaly::Phase;
use crate::error::{Error, ErrorKind, Result};
use crate::float::Float;
use crate::kernels::elementwise;
use crate::ops::Op;
use crate::tensor::Tensor;

/// The gradients a backward rule returns, one per input (`None`: not needed
/// or identically zero).
pub type Grads<'g, F> = [Option<Var<'g, F>>; 2];

/// What a backward rule sees of the node it differentiates.
pub struct BackwardCtx<'g, F: Float> {
    /// The node's own value.
    pub out: Var<'g, F>,
    /// The gradient of the loss with respect to `out`.
    pub grad: Var<'g, F>,
    /// First input.
    pub a: Var<'g, F>,
    /// Second input (equal to `a` for unary operations).
    pub b: Var<'g, F>,
    /// Which inputs need a gradient.
    pub needs: [bool; 2],
}

/// What to do with the gradients once the loop is done.
#[derive(Clone, Copy, PartialEq)]
enum Delivery {
    /// Store them on leaves, parameters and retained values (`backward`).
    Store,
    /// Leave them in the slots for the caller to read (`gradients`).
    Return,
}

impl<'g, F: Float> Var<'g, F> {
    /// Backpropagates from this scalar: every leaf, parameter and retained
    /// value it depends on receives `∂self/∂value`, added to what it
    /// already holds.
    pub fn backward(&self) -> Result<()> {
        self.backward_checked(None, false)
    }

    /// Backpropagates from a non-scalar with the given seed gradient (the
    /// vector of a vector-Jacobian product), which must have this shape.
    pub fn backward_with(&self, seed: &Tensor<F>) -> Result<()> {
        self.backward_checked(Some(seed), false)
    }

    /// As [`Var::backward`], but records the backward pass so that the
    /// gradients ([`Var::grad_var`]) can be differentiated again.
    pub fn backward_create_graph(&self) -> Result<()> {
        self.backward_checked(None, true)
    }

    fn backward_checked(&self, seed: Option<&Tensor<F>>, create_graph: bool) -> Result<()> {
        let seed = self.seed(seed)?;
        run(self.graph, *self, seed, create_graph, Delivery::Store)
    }

    /// The seed gradient node: ones for a scalar, else the given tensor.
    pub(super) fn seed(&self, seed: Option<&Tensor<F>>) -> Result<Var<'g, F>> {
        if !self.requires_grad() {
            return Err(Error::from(ErrorKind::NoGradRequired {
                what: format!(
                    "node {} ({}, shape {})",
                    self.id,
                    self.op().name(),
                    self.shape()
                ),
            }));
        }
        let shape = self.shape();
        match seed {
            None if shape.numel() == 1 => Ok(self
                .graph
                .record(Op::Leaf, &[], shape, |_, o| o[0] = F::one())),
            None => Err(Error::from(ErrorKind::NotScalar { shape })),
            Some(t) if t.shape() == shape => Ok(self.graph.input(t)),
            Some(t) => Err(Error::from(ErrorKind::ShapeMismatch {
                op: "backward",
                lhs: shape,
                rhs: t.shape(),
                reason: "the seed gradient must have the output's shape",
            })),
        }
    }
}

impl<F: Float> Graph<F> {
    /// The gradients of the scalar `output` with respect to each of
    /// `inputs` (zeros for an input it does not depend on), returned as
    /// nodes, without touching stored gradients — like
    /// `torch.autograd.grad`. With `create_graph` they can be differentiated
    /// again (Hessian-vector products, d²y/dx²).
    pub fn gradients<'g>(
        &'g self,
        output: Var<'g, F>,
        inputs: &[Var<'g, F>],
        create_graph: bool,
    ) -> Result<Vec<Var<'g, F>>> {
        for v in inputs {
            output.check_same_graph(v, "gradients")?;
        }
        let seed = output.seed(None)?;
        run(self, output, seed, create_graph, Delivery::Return)?;
        let slots: Vec<u32> = {
            let tape = self.tape.borrow();
            inputs.iter().map(|v| tape.slots[v.id as usize]).collect()
        };
        Ok(inputs
            .iter()
            .zip(slots)
            .map(|(v, s)| {
                if s == NONE {
                    self.zeros(v.shape())
                } else {
                    Var::new(self, s)
                }
            })
            .collect())
    }
}

/// One gradient that flowed from a node to one of its inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contribution {
    /// The node whose backward rule produced it.
    pub consumer: usize,
    /// The input that received it.
    pub input: usize,
    /// Which input of the consumer (0 or 1).
    pub position: usize,
    /// The node holding the contribution's value.
    pub grad: usize,
}

/// Everything a backward pass computed, node by node: for teaching and
/// drawing, where several paths add up.
#[derive(Clone, Debug, PartialEq)]
pub struct BackwardTrace {
    /// For every node up to the output: the node holding its total gradient.
    pub grads: Vec<Option<usize>>,
    /// Every contribution, in the order the reverse loop made them.
    pub contributions: Vec<Contribution>,
}

impl<F: Float> Graph<F> {
    /// Backpropagates from the scalar `output` and returns every node's
    /// gradient and every contribution (without storing gradients on
    /// leaves). The gradient nodes stay readable until the graph is cleared.
    pub fn backward_trace<'g>(&'g self, output: Var<'g, F>) -> Result<BackwardTrace> {
        let seed = output.seed(None)?;
        self.tape.borrow_mut().trace = Some(Vec::new());
        let result = run(self, output, seed, false, Delivery::Return);
        let mut tape = self.tape.borrow_mut();
        let raw = tape.trace.take().unwrap_or_default();
        result?;
        let grads = tape.slots[..=output.id as usize]
            .iter()
            .map(|&s| (s != NONE).then_some(s as usize))
            .collect();
        let contributions = raw
            .into_iter()
            .map(|[c, i, p, g]| Contribution {
                consumer: c as usize,
                input: i as usize,
                position: p as usize,
                grad: g as usize,
            })
            .collect();
        Ok(BackwardTrace {
            grads,
            contributions,
        })
    }
}

/// The reverse loop from `root` (seeded with `seed`) down to the first node.
fn run<'g, F: Float>(
    graph: &'g Graph<F>,
    root: Var<'g, F>,
    seed: Var<'g, F>,
    create_graph: bool,
    delivery: Delivery,
) -> Result<()> {
    run_with(graph, root, seed, create_graph, delivery, None, None)
}

/// [`run`] storing the gradients, with `ready` told of each parameter's
/// gradient as soon as it is final (see `ready.rs`).
pub(super) fn run_notify<'g, F: Float>(
    graph: &'g Graph<F>,
    root: Var<'g, F>,
    seed: Var<'g, F>,
    mut ready: Ready<'_, F>,
) -> Result<()> {
    ready.plan(graph, root.id as usize);
    run_with(
        graph,
        root,
        seed,
        false,
        Delivery::Store,
        Some(&mut ready),
        None,
    )
}

/// [`run`] storing the gradients, with the weights that `fused_sgd.rs`
/// planned as fusable stepped in place by learning rate `fuse` (none
/// when `None`).
pub(super) fn run_fused<'g, F: Float>(
    graph: &'g Graph<F>,
    root: Var<'g, F>,
    seed: Var<'g, F>,
    fuse: Option<F>,
) -> Result<()> {
    run_with(graph, root, seed, false, Delivery::Store, None, fuse)
}

/// The reverse loop with its optional hook (`ready`) and fused step
/// (`fuse`), then the delivery of the gradients.
fn run_with<'g, F: Float>(
    graph: &'g Graph<F>,
    root: Var<'g, F>,
    seed: Var<'g, F>,
    create_graph: bool,
    delivery: Delivery,
    ready: Option<&mut Ready<'_, F>>,
    fuse: Option<F>,
) -> Result<()> {
    let top = root.id as usize;
    {
        let mut tape = graph.tape.borrow_mut();
        let n = tape.nodes.len();
        tape.slots.clear();
        tape.slots.resize(n, NONE);
        tape.slot_owned.clear();
        tape.slot_owned.resize(n, false);
        tape.slots[top] = seed.id;
    }
    graph.check_anomaly()?;
    let previous = graph.set_grad_enabled(create_graph);
    let result = {
        // Waits for a weight step still running on a helper thread when
        // the loop ends, on every path (see `weight_step.rs`).
        let _finish = FinishDeferred(graph);
        reverse_loop(graph, top, create_graph, ready, fuse)
    };
    let result = result.and_then(|()| match delivery {
        Delivery::Store => deliver(graph, top),
        Delivery::Return => Ok(()),
    });
    graph.set_grad_enabled(previous);
    graph.phase.set(Phase::Forward);
    result
}

/// Waits, when dropped, for the graph's deferred weight step.
struct FinishDeferred<'g, F: Float>(&'g Graph<F>);

impl<F: Float> Drop for FinishDeferred<'_, F> {
    fn drop(&mut self) {
        // Dropping the token waits without panicking (this may run while
        // unwinding); a step that panicked shows as a wrong weight only in
        // that case, and `finish_deferred` reports it on the normal path.
        if std::thread::panicking() {
            drop(self.0.deferred.borrow_mut().take());
        } else {
            self.0.finish_deferred();
        }
    }
}

fn reverse_loop<F: Float>(
    graph: &Graph<F>,
    top: usize,
    create_graph: bool,
    mut ready: Option<&mut Ready<'_, F>>,
    fuse: Option<F>,
) -> Result<()> {
    for i in (0..=top).rev() {
        backward_node(graph, i, create_graph, fuse)?;
        if let Some(r) = ready.as_deref_mut() {
            r.passed(graph, i);
        }
    }
    Ok(())
}

/// Node `i`'s backward rule, its gradients added into its inputs' slots
/// (nothing when no gradient reached it or none of its inputs needs one).
/// With `fuse` (a learning rate), a product whose weight `fused_sgd.rs`
/// may step in place leaves that weight's gradient to the fused step.
fn backward_node<F: Float>(
    graph: &Graph<F>,
    i: usize,
    create_graph: bool,
    fuse: Option<F>,
) -> Result<()> {
    let (node, slot, mut needs, fused) = {
        let tape = graph.tape.borrow();
        let slot = tape.slots[i];
        let node = &tape.nodes[i];
        if slot == NONE || !node.requires_grad {
            return Ok(());
        }
        let needs = node
            .inputs
            .map(|k| k != NONE && tape.nodes[k as usize].requires_grad);
        let fused = match fuse {
            Some(lr) if needs[1] && super::fused_sgd::fusable(&tape, i) => Some(lr),
            _ => None,
        };
        ((node.op, node.inputs), slot, needs, fused)
    };
    if fused.is_some() {
        needs[1] = false;
    }
    backward_rule(graph, i, node, slot, needs, create_graph)?;
    if let (Some(lr), Op::MatMul { ta, tb }) = (fused, node.0) {
        // After the rule: ∂A, computed above, read the weight before its
        // step. All but the last fused step may run beside the rest of the
        // pass.
        let defer = i != graph.tape.borrow().last_fused.1;
        super::weight_step::step_weight(graph, node.1, slot, (ta, tb), lr, defer);
    }
    Ok(())
}

/// The backward rule of node `i` with the inputs `needs` marks.
fn backward_rule<F: Float>(
    graph: &Graph<F>,
    i: usize,
    node: (Op, [u32; 2]),
    slot: u32,
    needs: [bool; 2],
    create_graph: bool,
) -> Result<()> {
    if !(needs[0] || needs[1]) {
        return Ok(());
    }
    let (op, inputs) = node;
    let a = Var::new(graph, inputs[0]);
    let b = if inputs[1] == NONE {
        a
    } else {
        Var::new(graph, inputs[1])
    };
    let ctx = BackwardCtx {
        out: Var::new(graph, i as u32),
        grad: Var::new(graph, slot),
        a,
        b,
        needs,
    };
    graph.phase.set(Phase::Backward {
        of_node: i,
        of_op: op,
    });
    if let Op::Custom(_) = op {
        // A registered op's rule is the user's code: it may read or use
        // any parameter, so no weight step may be running beside it (see
        // `weight_step.rs`).
        graph.finish_deferred();
    }
    let grads = op.backward(&ctx)?;
    for (k, g) in grads.into_iter().enumerate() {
        if let (true, Some(g)) = (needs[k], g) {
            if let Some(trace) = graph.tape.borrow_mut().trace.as_mut() {
                trace.push([i as u32, inputs[k], k as u32, g.id]);
            }
            accumulate(graph, op, inputs[k], g, create_graph)?;
        }
    }
    if graph.detect_anomaly() {
        graph.check_anomaly()?;
    }
    Ok(())
}

/// Adds gradient `g` into the slot of node `target`.
fn accumulate<F: Float>(
    graph: &Graph<F>,
    op: Op,
    target: u32,
    g: Var<'_, F>,
    create_graph: bool,
) -> Result<()> {
    let t = target as usize;
    let (slot, owned, target_shape) = {
        let tape = graph.tape.borrow();
        (tape.slots[t], tape.slot_owned[t], tape.nodes[t].shape)
    };
    let g_shape = g.shape();
    if g_shape != target_shape {
        return Err(Error::from(ErrorKind::ShapeMismatch {
            op: op.name(),
            lhs: target_shape,
            rhs: g_shape,
            reason: "internal error: a backward rule returned a gradient of the wrong shape",
        }));
    }
    if slot == NONE {
        graph.tape.borrow_mut().slots[t] = g.id;
        return Ok(());
    }
    if owned && !create_graph && add_in_place(graph, slot, g.id) {
        return Ok(());
    }
    let sum = Var::new(graph, slot).add(g)?;
    let mut tape = graph.tape.borrow_mut();
    tape.slots[t] = sum.id;
    tape.slot_owned[t] = !create_graph;
    Ok(())
}

/// `values[acc] += values[g]` when the two ranges are disjoint.
fn add_in_place<F: Float>(graph: &Graph<F>, acc: u32, g: u32) -> bool {
    let mut tape = graph.tape.borrow_mut();
    let (a, b) = (tape.nodes[acc as usize], tape.nodes[g as usize]);
    let n = a.shape.numel();
    let (lo, hi) = (a.offset.min(b.offset), a.offset.max(b.offset));
    if lo + n > hi {
        return false;
    }
    assert!(hi + n <= tape.values.len(), "a gradient lies in the arena");
    // The two ranges only, never a reference to the whole arena (a helper
    // thread may be stepping a weight there: see `weight_step.rs`).
    let base = tape.values.as_mut_ptr();
    // SAFETY: both ranges lie inside `values` and are disjoint (checked
    // above); the accumulated one is a sum this pass recorded and owns
    // (never the gradient a pending weight step reads: that one belongs to
    // a product whose rule has run, and nothing adds into it after), the
    // other a gradient no one writes while it is read.
    let (acc, x) = unsafe {
        (
            std::slice::from_raw_parts_mut(base.add(a.offset), n),
            std::slice::from_raw_parts(base.add(b.offset) as *const F, n),
        )
    };
    elementwise::add_assign(acc, x);
    true
}

/// Moves the slots of leaves, parameters and retained values into their
/// stored gradients.
fn deliver<F: Float>(graph: &Graph<F>, top: usize) -> Result<()> {
    // Leaves seen for the second time need an addition recorded on the
    // graph, which cannot happen under the borrow: they are rare (repeated
    // backward passes), so they are collected and done after.
    let mut sums: Vec<(usize, u32, u32)> = Vec::new();
    {
        let mut tape = graph.tape.borrow_mut();
        let t = &mut *tape;
        if t.grads.len() <= top {
            t.grads.resize(top + 1, NONE);
        }
        for i in 0..=top {
            let slot = t.slots[i];
            if slot == NONE {
                continue;
            }
            let node = &t.nodes[i];
            let keeps = node.retain_grad || matches!(node.op, Op::Leaf | Op::Param);
            if !node.requires_grad || !keeps {
                continue;
            }
            if i < t.n_params {
                let from = t.nodes[slot as usize].offset;
                t.deliver_param_grad(i, from);
                t.grads[i] = slot;
            } else if t.grads[i] == NONE {
                t.grads[i] = slot;
            } else {
                sums.push((i, t.grads[i], slot));
            }
        }
    }
    for (i, stored, slot) in sums {
        let total = Var::new(graph, stored).add(Var::new(graph, slot))?.id;
        graph.tape.borrow_mut().grads[i] = total;
    }
    Ok(())
}
