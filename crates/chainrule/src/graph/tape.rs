//! The tape: nodes addressed by index, values in one flat arena that is
//! reused from step to step, parameters kept in a persistent prefix
//! (registered and read in `parameters.rs`).
//!
//! Layout of a [`Graph`]:
//! - `nodes[0..n_params]` are parameters; their values occupy
//!   `values[0..params_len]`; their gradients stay where the backward pass
//!   computed them, or the same offsets of `param_grads` once they must
//!   outlive the arena (see `param_grads.rs`). They survive
//!   [`Graph::clear`].
//! - every later node is one recorded operation (or an input). Its value is
//!   `values[offset..offset + numel]`; views (reshape, detach) share their
//!   input's range. `clear` truncates the tape back to the parameters; the
//!   arena keeps its size, so after the first step nothing is allocated.

use super::param_grads::GradAt;
use super::var::Var;
use crate::anomaly::{self, Anomaly, Phase};
use crate::error::{Error, ErrorKind, Result};
use crate::float::Float;
use crate::ops::{CustomOp, Op};
use crate::shape::Shape;
use crate::stats::Summary;
use crate::tensor::Tensor;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) const NONE: u32 = u32::MAX;

static NEXT_GRAPH_ID: AtomicU64 = AtomicU64::new(1);

/// One recorded operation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    pub op: Op,
    pub inputs: [u32; 2],
    pub shape: Shape,
    pub offset: usize,
    pub requires_grad: bool,
    pub retain_grad: bool,
}

/// A read-only description of one node, for drawing and inspecting graphs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NodeInfo {
    /// The node's index on the tape (its creation order).
    pub id: usize,
    /// The operation that produced it.
    pub op: Op,
    /// The indices of its inputs.
    pub inputs: [Option<usize>; 2],
    /// Its shape.
    pub shape: Shape,
    /// Whether gradients flow through it.
    pub requires_grad: bool,
}

pub(crate) struct Tape<F: Float> {
    pub nodes: Vec<Node>,
    /// The value arena; `values.len()` is the high-water mark, `used` the
    /// part in use by the current tape.
    pub values: Vec<F>,
    pub used: usize,
    pub n_params: usize,
    pub params_len: usize,
    pub param_grads: Vec<F>,
    /// Where each parameter's gradient lives (see `param_grads.rs`).
    pub param_grad_at: Vec<GradAt>,
    /// Per node: the node holding its delivered gradient (leaves and
    /// retained intermediates), or `NONE`.
    pub grads: Vec<u32>,
    /// Backward working state: per node, the node holding the gradient
    /// accumulated so far, and whether that node belongs to the slot alone
    /// (so later contributions may be added in place).
    pub slots: Vec<u32>,
    pub slot_owned: Vec<bool>,
    /// Integer arguments of operations (class labels of gathers).
    pub indices: Vec<usize>,
    /// While tracing a backward pass: every gradient contribution as
    /// `(consumer, input, position, gradient node)`.
    pub trace: Option<Vec<[u32; 4]>>,
    /// A backward pass with a gradient-ready hook: per parameter, the node
    /// after whose backward rule its gradient is final, in the order the
    /// reverse loop reaches them (see `ready.rs`).
    pub ready: Vec<(u32, u32)>,
    /// A fused gradient-descent step: per parameter, how many nodes up to
    /// the output use it (see `fused_sgd.rs`).
    pub uses: Vec<u32>,
    /// The lowest node whose weight the fused step updates in place (the
    /// last one the reverse loop reaches), or `usize::MAX`, for the tape
    /// of `(top, nodes)` it was found on.
    pub last_fused: ((usize, usize), usize),
}

impl<F: Float> Tape<F> {
    /// `len` values of the arena from `offset`, without a reference to the
    /// rest of it (a helper thread may be stepping a weight there during a
    /// backward pass: see `weight_step.rs`).
    ///
    /// # Panics
    /// If the range is not inside the arena.
    pub fn range(&self, offset: usize, len: usize) -> &[F] {
        assert!(
            offset + len <= self.values.len(),
            "a value lies in the arena"
        );
        // SAFETY: the range lies inside `values` (checked); a pending step
        // writes only a weight that no node read during the pass is (its
        // one product's rule has run; a registered op's rule waits for it).
        unsafe { std::slice::from_raw_parts(self.values.as_ptr().add(offset), len) }
    }
}

/// A computational graph of `F` values, recorded as operations run.
///
/// Values are recorded by calling operations on [`Var`] handles. Parameters
/// ([`Graph::parameter`]) persist; everything else lives until
/// [`Graph::clear`], which ends a training step.
pub struct Graph<F: Float> {
    pub(crate) tape: RefCell<Tape<F>>,
    grad_enabled: Cell<bool>,
    pub(super) id: u64,
    detect_anomaly: Cell<bool>,
    /// Forward, or the node whose backward rule is running.
    pub(crate) phase: Cell<Phase>,
    anomaly: RefCell<Option<Anomaly>>,
    /// Operations registered with [`Graph::register_op`].
    pub(crate) custom_ops: RefCell<Vec<Rc<dyn CustomOp<F>>>>,
    /// A fused weight step running on a helper thread (see
    /// `weight_step.rs`).
    pub(crate) deferred: RefCell<Option<crate::kernels::background::Pending>>,
}

impl<F: Float> Default for Graph<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: Float> Graph<F> {
    /// An empty graph with gradient recording on.
    pub fn new() -> Self {
        Graph {
            tape: RefCell::new(Tape {
                nodes: Vec::new(),
                values: Vec::new(),
                used: 0,
                n_params: 0,
                params_len: 0,
                param_grads: Vec::new(),
                param_grad_at: Vec::new(),
                grads: Vec::new(),
                slots: Vec::new(),
                slot_owned: Vec::new(),
                indices: Vec::new(),
                trace: None,
                ready: Vec::new(),
                uses: Vec::new(),
                last_fused: ((usize::MAX, 0), usize::MAX),
            }),
            grad_enabled: Cell::new(true),
            id: NEXT_GRAPH_ID.fetch_add(1, Ordering::Relaxed),
            detect_anomaly: Cell::new(false),
            phase: Cell::new(Phase::Forward),
            anomaly: RefCell::new(None),
            custom_ops: RefCell::new(Vec::new()),
            deferred: RefCell::new(None),
        }
    }

    // ----- recording -------------------------------------------------------

    /// Records a node computed by `kernel` from the values of `inputs` into a
    /// fresh range of the arena (whose old contents the kernel overwrites).
    pub(crate) fn record(
        &self,
        op: Op,
        inputs: &[Var<'_, F>],
        shape: Shape,
        kernel: impl FnOnce([&[F]; 2], &mut [F]),
    ) -> Var<'_, F> {
        self.record_indexed(op, inputs, shape, (0, 0), |x, _, out| kernel(x, out))
    }

    /// [`Graph::record`] for a kernel that also reads the integer arguments
    /// stored at `indices` by [`Graph::store_indices`] (lent to it in
    /// place: a copy would allocate on every step).
    pub(crate) fn record_indexed(
        &self,
        op: Op,
        inputs: &[Var<'_, F>],
        shape: Shape,
        (start, len): (u32, u32),
        kernel: impl FnOnce([&[F]; 2], &[usize], &mut [F]),
    ) -> Var<'_, F> {
        let requires_grad = self.grad_enabled.get() && inputs.iter().any(|v| v.requires_grad());
        let mut tape = self.tape.borrow_mut();
        let t = &mut *tape;
        let offset = t.used;
        let n = shape.numel();
        if t.values.len() < offset + n {
            if offset + n > t.values.capacity() {
                // The arena moves: no weight step may be reading it.
                self.finish_deferred();
            }
            t.values.resize(offset + n, F::zero());
        }
        t.used = offset + n;
        // The inputs' ranges and the output's, and no reference to the
        // rest of the arena: a helper thread may be stepping a weight
        // there (see `weight_step.rs`).
        let base = t.values.as_mut_ptr();
        let slice_of = |k: usize| -> &[F] {
            inputs.get(k).map_or(&[][..], |v| {
                let node = &t.nodes[v.id as usize];
                let numel = node.shape.numel();
                assert!(
                    node.offset + numel <= offset,
                    "an input lies below its output"
                );
                // SAFETY: the range lies inside `values` (below `offset`),
                // written by no one while the kernel runs (the output is
                // above it; a pending weight step writes only a weight
                // that no later built-in rule reads, and a registered op's
                // rule waits for it first: see `weight_step.rs`).
                unsafe { std::slice::from_raw_parts(base.add(node.offset), numel) }
            })
        };
        // SAFETY: `offset .. offset + n` lies inside `values` (resized
        // above), disjoint from every input, and new: nothing else reads it.
        let out = unsafe { std::slice::from_raw_parts_mut(base.add(offset), n) };
        let indices = &t.indices[start as usize..(start + len) as usize];
        kernel([slice_of(0), slice_of(1)], indices, out);
        if self.detect_anomaly.get()
            && self.anomaly.borrow().is_none()
            && out.iter().any(|v| !v.is_finite())
        {
            let ins: Vec<Summary> = (0..inputs.len())
                .map(|k| Summary::of(slice_of(k)))
                .collect();
            let output = Summary::of(out);
            let (cause, hint) = anomaly::explain(op, &ins, &output, F::max_value().ln().as_f64());
            let node = t.nodes.len();
            *self.anomaly.borrow_mut() = Some(Anomaly {
                node,
                op,
                phase: self.phase.get(),
                output,
                inputs: ins,
                cause,
                hint,
            });
        }
        let id = push_node(t, op, inputs, shape, offset, requires_grad);
        Var::new(self, id)
    }

    /// Waits for a fused weight step running on a helper thread, if any
    /// (see `weight_step.rs`).
    pub(crate) fn finish_deferred(&self) {
        let pending = self.deferred.borrow_mut().take();
        if let Some(pending) = pending {
            pending.wait();
        }
    }

    /// Records a node that shares its input's values (reshape, detach).
    pub(crate) fn record_view(
        &self,
        op: Op,
        input: Var<'_, F>,
        shape: Shape,
        requires_grad: bool,
    ) -> Var<'_, F> {
        let requires_grad = requires_grad && self.grad_enabled.get() && input.requires_grad();
        let mut tape = self.tape.borrow_mut();
        let offset = tape.nodes[input.id as usize].offset;
        let id = push_node(&mut tape, op, &[input], shape, offset, requires_grad);
        Var::new(self, id)
    }

    /// Records a leaf holding a copy of `values`.
    fn leaf(&self, values: &[F], shape: Shape, requires_grad: bool) -> Var<'_, F> {
        let v = self.record(Op::Leaf, &[], shape, |_, out| out.copy_from_slice(values));
        self.tape.borrow_mut().nodes[v.id as usize].requires_grad = requires_grad;
        v
    }

    /// Stores integer arguments (class labels) and returns their position.
    pub(crate) fn store_indices(&self, indices: &[usize]) -> (u32, u32) {
        let mut tape = self.tape.borrow_mut();
        let start = tape.indices.len();
        tape.indices.extend_from_slice(indices);
        (start as u32, indices.len() as u32)
    }

    /// Reads integer arguments stored by [`Graph::store_indices`].
    pub(crate) fn with_indices<R>(
        &self,
        (start, len): (u32, u32),
        f: impl FnOnce(&[usize]) -> R,
    ) -> R {
        let tape = self.tape.borrow();
        f(&tape.indices[start as usize..(start + len) as usize])
    }

    // ----- inputs ----------------------------------------------------------

    /// A constant input (no gradient), holding a copy of `t`.
    pub fn input(&self, t: &Tensor<F>) -> Var<'_, F> {
        self.leaf(t.data(), t.shape(), false)
    }

    /// A leaf that requires a gradient, holding a copy of `t`; its gradient
    /// is read with [`Var::grad`] after [`Var::backward`].
    pub fn variable(&self, t: &Tensor<F>) -> Var<'_, F> {
        self.leaf(t.data(), t.shape(), true)
    }

    /// A constant input of the given shape holding a copy of `values`
    /// (no intermediate [`Tensor`], so a training loop can reuse one buffer).
    pub fn input_from(&self, dims: &[usize], values: &[F]) -> Result<Var<'_, F>> {
        let shape = Shape::for_op("input", dims)?;
        if values.len() != shape.numel() {
            return Err(Error::from(ErrorKind::DataLength {
                op: "input",
                len: values.len(),
                shape,
                numel: shape.numel(),
            }));
        }
        Ok(self.leaf(values, shape, false))
    }

    /// A constant scalar.
    pub fn scalar(&self, value: F) -> Var<'_, F> {
        self.leaf(&[value], Shape::scalar(), false)
    }

    /// A scalar leaf that requires a gradient.
    pub fn scalar_variable(&self, value: F) -> Var<'_, F> {
        self.leaf(&[value], Shape::scalar(), true)
    }

    /// A constant of zeros.
    pub fn zeros(&self, shape: Shape) -> Var<'_, F> {
        self.record(Op::Leaf, &[], shape, |_, out| out.fill(F::zero()))
    }

    // ----- step lifetime ---------------------------------------------------

    /// Ends a step: discards every node but the parameters. The value arena
    /// keeps its capacity, so the next step allocates nothing.
    pub fn clear(&mut self) {
        let tape = self.tape.get_mut();
        // Gradients still in the arena move out before it is reused.
        tape.store_param_grads();
        tape.nodes.truncate(tape.n_params);
        tape.used = tape.params_len;
        tape.grads.truncate(tape.n_params);
        tape.grads.fill(NONE);
        tape.indices.clear();
        *self.anomaly.get_mut() = None;
    }

    /// The number of nodes on the tape (parameters included).
    pub fn len(&self) -> usize {
        self.tape.borrow().nodes.len()
    }

    /// Whether the tape holds no node at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A description of every node, in creation order.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        let tape = self.tape.borrow();
        tape.nodes
            .iter()
            .enumerate()
            .map(|(id, n)| NodeInfo {
                id,
                op: n.op,
                inputs: n.inputs.map(|i| (i != NONE).then_some(i as usize)),
                shape: n.shape,
                requires_grad: n.requires_grad,
            })
            .collect()
    }

    /// The handle of node `id` (as listed by [`Graph::nodes`]).
    pub fn var(&self, id: usize) -> Result<Var<'_, F>> {
        if id < self.len() {
            Ok(Var::new(self, id as u32))
        } else {
            Err(Error::from(ErrorKind::ForeignHandle {
                op: "var",
                detail: format!("node {id} does not exist (the tape holds {})", self.len()),
            }))
        }
    }

    /// Bytes held by the value arena and the tape (capacity, not use).
    pub fn memory_bytes(&self) -> usize {
        let t = self.tape.borrow();
        t.values.capacity() * std::mem::size_of::<F>()
            + t.param_grads.capacity() * std::mem::size_of::<F>()
            + t.nodes.capacity() * std::mem::size_of::<Node>()
            + (t.grads.capacity() + t.slots.capacity()) * 4
            + t.slot_owned.capacity()
            + t.indices.capacity() * std::mem::size_of::<usize>()
    }

    // ----- anomaly mode ----------------------------------------------------

    /// Turns anomaly mode on or off: while on, every operation's output is
    /// checked (forward and backward) and the first NaN or infinity is kept
    /// as an [`Anomaly`]; backward passes and [`Graph::check_anomaly`] then
    /// fail with it. Off by default (the check reads every value).
    pub fn set_detect_anomaly(&self, on: bool) {
        self.detect_anomaly.set(on);
    }

    /// Whether anomaly mode is on.
    pub fn detect_anomaly(&self) -> bool {
        self.detect_anomaly.get()
    }

    /// The first non-finite value recorded in anomaly mode, if any.
    pub fn anomaly(&self) -> Option<Anomaly> {
        self.anomaly.borrow().clone()
    }

    /// An error describing the first non-finite value, if anomaly mode saw one.
    pub fn check_anomaly(&self) -> Result<()> {
        match self.anomaly.borrow().as_ref() {
            Some(a) => Err(Error::from(ErrorKind::Anomaly(Box::new(a.clone())))),
            None => Ok(()),
        }
    }

    // ----- gradient mode ---------------------------------------------------

    /// Whether new operations record gradients.
    pub fn is_grad_enabled(&self) -> bool {
        self.grad_enabled.get()
    }

    /// Turns gradient recording off until the returned guard is dropped:
    /// values computed meanwhile do not require gradients (inference).
    pub fn no_grad(&self) -> NoGradGuard<'_, F> {
        NoGradGuard {
            graph: self,
            previous: self.grad_enabled.replace(false),
        }
    }

    pub(crate) fn set_grad_enabled(&self, on: bool) -> bool {
        self.grad_enabled.replace(on)
    }

    pub(crate) fn same_graph(&self, other: &Graph<F>) -> bool {
        self.id == other.id
    }
}

/// Restores gradient recording when dropped (see [`Graph::no_grad`]).
pub struct NoGradGuard<'g, F: Float> {
    graph: &'g Graph<F>,
    previous: bool,
}

impl<F: Float> Drop for NoGradGuard<'_, F> {
    fn drop(&mut self) {
        self.graph.grad_enabled.set(self.previous);
    }
}

pub(super) fn push_node<F: Float>(
    t: &mut Tape<F>,
    op: Op,
    inputs: &[Var<'_, F>],
    shape: Shape,
    offset: usize,
    requires_grad: bool,
) -> u32 {
    let id = t.nodes.len() as u32;
    let input = |k: usize| inputs.get(k).map_or(NONE, |v| v.id);
    t.nodes.push(Node {
        op,
        inputs: [input(0), input(1)],
        shape,
        offset,
        requires_grad,
        retain_grad: false,
    });
    id
}
