//! The forward pass of a [`Network`] in its [`Mode`], with batch norm's
//! running statistics updated in place in training mode.

use super::layer::{BnBuffers, Layer, LayerRow};
use super::{dropout_key, ops, Mode, Network};
use crate::activation::Activation;
use crate::error::{Error, Result};
use chainrule::{BatchNormTrain, BiasAct, Float, Graph, Var};
use std::ops::Range;

/// Batch norm's buffers during a pass: updated (a training step) or only
/// read.
enum Stats<'a, F: Float> {
    Update(&'a mut [BnBuffers<F>]),
    Read(&'a [BnBuffers<F>]),
}

impl<F: Float> Stats<'_, F> {
    fn get(&self, i: usize) -> &BnBuffers<F> {
        match self {
            Stats::Update(b) => &b[i],
            Stats::Read(b) => &b[i],
        }
    }
}

struct Pass {
    mode: Mode,
    seed: u64,
    step: u64,
}

/// What a pass tells about each layer it runs, in summary order (post-order:
/// a residual block's body before the block).
trait Sink<'g, F: Float> {
    /// Whether a linear layer may be fused with the activation after it
    /// (then the activation is reported with no nodes of its own).
    fn fuse(&self) -> bool;
    fn layer(
        &mut self,
        index: usize,
        layer: &Layer,
        input: Var<'g, F>,
        output: Var<'g, F>,
        nodes: Range<usize>,
    );
}

/// Keeps each layer's node span (a training step; allocates nothing).
struct Spans<'a>(&'a mut [Range<usize>]);

impl<'g, F: Float> Sink<'g, F> for Spans<'_> {
    fn fuse(&self) -> bool {
        true
    }
    fn layer(
        &mut self,
        index: usize,
        _: &Layer,
        _: Var<'g, F>,
        _: Var<'g, F>,
        nodes: Range<usize>,
    ) {
        if let Some(s) = self.0.get_mut(index) {
            *s = nodes;
        }
    }
}

/// Reports nothing.
struct Quiet;

impl<'g, F: Float> Sink<'g, F> for Quiet {
    fn fuse(&self) -> bool {
        true
    }
    fn layer(&mut self, _: usize, _: &Layer, _: Var<'g, F>, _: Var<'g, F>, _: Range<usize>) {}
}

/// The most values a pass that keeps every layer's input, output and
/// gradient for inspection may hold (2^26: about 0.5 GiB in f64, before
/// gradients).
pub const MAX_VALUES_PER_PASS: usize = 1 << 26;

/// One layer of an observed pass ([`Network::forward_observed`]).
pub struct LayerVisit<'a, 'g, F: Float> {
    /// Its index in [`Network::summary`].
    pub index: usize,
    /// Its path, text, output shape and position in the architecture.
    pub row: &'a LayerRow,
    pub layer: &'a Layer,
    /// What it was given and what it gave (for a residual block, `x` and
    /// `x + body(x)`).
    pub input: Var<'g, F>,
    pub output: Var<'g, F>,
    /// The graph nodes it recorded (a residual block's span holds its
    /// body's).
    pub nodes: Range<usize>,
}

struct Observer<'a, 'o, 'g, F: Float> {
    rows: &'a [LayerRow],
    on_layer: &'o mut dyn FnMut(LayerVisit<'_, 'g, F>),
}

impl<'g, F: Float> Sink<'g, F> for Observer<'_, '_, 'g, F> {
    fn fuse(&self) -> bool {
        false
    }
    fn layer(
        &mut self,
        index: usize,
        layer: &Layer,
        input: Var<'g, F>,
        output: Var<'g, F>,
        nodes: Range<usize>,
    ) {
        if let Some(row) = self.rows.get(index) {
            (self.on_layer)(LayerVisit {
                index,
                row,
                layer,
                input,
                output,
                nodes,
            });
        }
    }
}

impl<F: Float> Network<F> {
    /// The network on `x` (`[batch, …input shape]`) in its mode; in
    /// [`Mode::Train`] batch norm's running statistics are updated (once
    /// per call: call it once per training step). Each layer's graph nodes
    /// are kept for [`Network::layer_of_node`].
    pub fn forward<'g>(&mut self, g: &'g Graph<F>, x: Var<'g, F>) -> Result<Var<'g, F>> {
        let pass = self.pass();
        let mut stats = match self.mode {
            Mode::Train => Stats::Update(&mut self.bn),
            Mode::Eval => Stats::Read(&self.bn),
        };
        let mut sink = Spans(&mut self.spans);
        sequence(&self.layers, g, x, &pass, &mut stats, &mut sink, &mut 0)
    }

    /// The network on `x` in its mode, leaving every buffer as it is (a
    /// pass for inspection or gradient checks).
    pub fn forward_frozen<'g>(&self, g: &'g Graph<F>, x: Var<'g, F>) -> Result<Var<'g, F>> {
        let mut stats = Stats::Read(&self.bn);
        sequence(
            &self.layers,
            g,
            x,
            &self.pass(),
            &mut stats,
            &mut Quiet,
            &mut 0,
        )
    }

    /// [`Network::forward_frozen`], calling `on_layer` after each layer
    /// with its input and output (in summary order: a residual block's
    /// layers before the block). Nothing is fused, so a linear layer's
    /// output is its pre-activation and the activation after it is a layer
    /// of its own; the values equal [`Network::forward`]'s.
    pub fn forward_observed<'g>(
        &self,
        g: &'g Graph<F>,
        x: Var<'g, F>,
        on_layer: &mut dyn FnMut(LayerVisit<'_, 'g, F>),
    ) -> Result<Var<'g, F>> {
        let mut stats = Stats::Read(&self.bn);
        let mut sink = Observer {
            rows: &self.rows,
            on_layer,
        };
        sequence(
            &self.layers,
            g,
            x,
            &self.pass(),
            &mut stats,
            &mut sink,
            &mut 0,
        )
    }

    /// The layer (its index in [`Network::summary`], innermost first) whose
    /// forward pass recorded graph node `node` in the last
    /// [`Network::forward`] on this graph, e.g. to name where anomaly mode
    /// saw a NaN. A linear layer fused with its activation owns both.
    pub fn layer_of_node(&self, node: usize) -> Option<usize> {
        self.spans.iter().position(|s| s.contains(&node))
    }

    /// Values one example takes through the whole network: its input and
    /// every layer's output (saturating), what a pass that keeps every
    /// intermediate (inspection) holds per example.
    pub fn values_per_example(&self) -> usize {
        self.rows
            .iter()
            .map(|r| r.output.iter().product::<usize>())
            .fold(
                self.input_shape.iter().product::<usize>(),
                usize::saturating_add,
            )
    }

    /// Refuses a pass over `rows` examples that keeps every intermediate
    /// (`tool` names who asks) when it would hold more than
    /// [`MAX_VALUES_PER_PASS`] values, before anything is allocated.
    pub fn check_pass_size(&self, tool: &str, rows: usize) -> Result<()> {
        let values = self.values_per_example().saturating_mul(rows.max(1));
        if values > MAX_VALUES_PER_PASS {
            return Err(Error::config(
                "arch",
                format!(
                    "{tool} keeps every layer's values: {rows} example(s) through this network hold {values} values, over the limit of {MAX_VALUES_PER_PASS}"
                ),
            ));
        }
        Ok(())
    }

    /// The first graph node after the last [`Network::forward`]'s layers.
    pub fn forward_end(&self) -> usize {
        self.spans.iter().map(|s| s.end).max().unwrap_or(0)
    }

    fn pass(&self) -> Pass {
        Pass {
            mode: self.mode,
            seed: self.seed,
            step: self.step,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn sequence<'g, F: Float>(
    layers: &[Layer],
    g: &'g Graph<F>,
    x: Var<'g, F>,
    pass: &Pass,
    stats: &mut Stats<'_, F>,
    sink: &mut dyn Sink<'g, F>,
    next: &mut usize,
) -> Result<Var<'g, F>> {
    let mut h = x;
    let mut it = layers.iter().peekable();
    while let Some(layer) = it.next() {
        let start = g.len();
        let input = h;
        let mut fused_with = None;
        h = match layer {
            Layer::Linear(lin) => {
                let fused = match it.peek() {
                    Some(Layer::Activation(a)) if sink.fuse() => a.fused(),
                    _ => None,
                };
                let w = g.param(lin.weight)?;
                let z = h.matmul_t(w, false, true)?;
                match (lin.bias, fused) {
                    (Some(b), Some(act)) => {
                        fused_with = it.next();
                        z.bias_act(g.param(b)?, act)?
                    }
                    (Some(b), None) => z.bias_act(g.param(b)?, BiasAct::Identity)?,
                    (None, _) => z,
                }
            }
            Layer::Conv2d(c) => {
                let b = c.bias.map(|b| g.param(b)).transpose()?;
                ops::conv2d(h, g.param(c.weight)?, b, &c.spec)?
            }
            Layer::MaxPool2d(p) => ops::max_pool2d(h, p)?,
            Layer::AvgPool2d(p) => ops::avg_pool2d(h, p)?,
            Layer::GlobalAvgPool2d => ops::global_avg_pool2d(h)?,
            Layer::Flatten => ops::flatten(h)?,
            Layer::BatchNorm(bn) => {
                let gamma = bn.gamma.map(|p| g.param(p)).transpose()?;
                let beta = bn.beta.map(|p| g.param(p)).transpose()?;
                match pass.mode {
                    Mode::Train => {
                        let t = ops::batch_norm_train(h, gamma, beta, bn.norm.eps)?;
                        if let Stats::Update(bufs) = stats {
                            update_running(&mut bufs[bn.index], &t, bn.norm.momentum)?;
                        }
                        t.output
                    }
                    Mode::Eval => {
                        let b = stats.get(bn.index);
                        let c = [bn.channels];
                        let mean = g.input_from(&c, &b.running_mean)?;
                        let var = g.input_from(&c, &b.running_var)?;
                        ops::batch_norm_eval(h, mean, var, gamma, beta, bn.norm.eps)?
                    }
                }
            }
            Layer::LayerNorm(ln) => {
                let gamma = ln.gamma.map(|p| g.param(p)).transpose()?;
                let beta = ln.beta.map(|p| g.param(p)).transpose()?;
                ops::layer_norm(h, ln.axes, gamma, beta, ln.norm.eps)?
            }
            Layer::Dropout { p, path_hash } => {
                if pass.mode == Mode::Eval || *p == 0.0 {
                    h
                } else {
                    ops::dropout(h, *p, dropout_key(pass.seed, pass.step, *path_hash))?
                }
            }
            Layer::Activation(Activation::Identity) => h,
            Layer::Activation(a) => a.apply(h),
            Layer::Residual(body) => {
                let y = sequence(body, g, h, pass, stats, sink, next)?;
                h.add(y)?
            }
        };
        sink.layer(*next, layer, input, h, start..g.len());
        *next += 1;
        if let Some(act) = fused_with {
            let end = g.len();
            sink.layer(*next, act, h, h, end..end);
            *next += 1;
        }
    }
    Ok(h)
}

/// PyTorch's update: `running = (1 − m)·running + m·batch`, the variance
/// from the unbiased batch variance `var·n/(n − 1)`, and one more batch
/// tracked. The batch statistics are read into the buffers' scratch space,
/// so a warm step allocates nothing here.
fn update_running<F: Float>(
    b: &mut BnBuffers<F>,
    t: &BatchNormTrain<'_, F>,
    momentum: f64,
) -> Result<()> {
    if t.count < 2 {
        return Err(Error::config(
            "batchnorm",
            format!(
                "training needs more than one value per channel, the batch gives {} \
                 (use a larger batch size)",
                t.count
            ),
        ));
    }
    ops::read_into(&t.mean, &mut b.scratch_mean)?;
    ops::read_into(&t.var, &mut b.scratch_var)?;
    let n = t.count as f64;
    let unbiased = n / (n - 1.0);
    let keep = 1.0 - momentum;
    for (r, &m) in b.running_mean.iter_mut().zip(&b.scratch_mean) {
        *r = F::from_f64(keep * r.as_f64() + momentum * m.as_f64());
    }
    for (r, &v) in b.running_var.iter_mut().zip(&b.scratch_var) {
        *r = F::from_f64(keep * r.as_f64() + momentum * v.as_f64() * unbiased);
    }
    b.num_batches_tracked += 1;
    Ok(())
}
