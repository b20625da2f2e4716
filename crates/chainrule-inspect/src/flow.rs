//! Gradient-flow diagnosis: how much gradient reaches each layer of any
//! [`Network`], and whether it vanishes or explodes on the way back.
//!
//! [`measure_network`] runs one forward pass observing every layer
//! ([`Network::forward_observed`]), keeping every **weight layer**'s
//! (linear or convolution) output `z` (its pre-activation) and the
//! activation `a` that follows it (past any batch norm, layer norm or
//! dropout in between), computes the loss, runs the engine's backward pass,
//! and reports per weight layer `k` (1 = nearest the input, the lesson's
//! numbering: layer k holds Wk; layers inside residual blocks counted in
//! order, and named by their place in the architecture):
//!
//! - `grad_norm`: the L2 norm of the weight gradient ∂L/∂W (bias excluded);
//! - `mean_abs_grad`: the mean |∂L/∂W| over the weight's entries;
//! - `grad_to_weight`: `grad_norm / ‖W‖` (∞ for a non-zero gradient on an
//!   all-zero weight, 0 when both are zero);
//! - `saturated_fraction`: for a sigmoid after the layer, the fraction of
//!   outputs (rows × units) outside `[0.05, 0.95]` (where σ' = a(1 − a) is
//!   below 0.0475, a fifth of its peak 0.25); for tanh, outputs with
//!   `|a| > 0.95` (1 − a² below 0.0975); 0 for other activations;
//! - `dead_fraction`: for a ReLU after the layer, the fraction of units
//!   (features; for an image output, channels) whose input to the ReLU is
//!   ≤ 0 on every row of the batch, at every position of a channel (no
//!   gradient reaches their weights at all); 0 for other activations;
//! - `delta_norm`: ‖∂L/∂z‖ over the batch, and `delta_ratio`, it divided by
//!   the last layer's;
//! - a [`Verdict`] and a one-line reason.
//!
//! # Thresholds
//!
//! The verdict follows the **backpropagated gradient** `‖∂L/∂z_k‖` (the
//! error signal at layer `k`'s pre-activation over the batch, `delta_norm`),
//! compared with the same at the **last** linear layer, which has passed
//! through no hidden activation: `ratio = ‖∂L/∂z_k‖ / ‖∂L/∂z_last‖`
//! (`delta_ratio`). It is what the chain rule multiplies by W_jᵀ and act'(z_j)
//! once per layer (and adds the skip path to, in a residual block), so it
//! shows vanishing and exploding directly, and it
//! does not depend on how the rows' contributions to ∂L/∂W happen to cancel
//! (the weight-gradient ratio of the same network varies 100-fold with the
//! batch size and the targets; this one by less than 3×). Checked in this
//! order:
//!
//! 1. a weight gradient or ∂L/∂z that is NaN or infinite → `exploding`;
//! 2. a weight gradient that is exactly zero → `vanishing` (the layer cannot
//!    learn from this batch at all);
//! 3. `ratio <` [`VANISHING_RATIO`] (1e-2) → `vanishing`. Each sigmoid
//!    multiplies the gradient by σ' ≤ 1/4, so five sigmoid layers bring it
//!    to about 1e-3 (measured: 5e-4 to 1.5e-3 for a 32-unit Xavier network
//!    over seeds, batch sizes and losses), while a ReLU stack with Kaiming
//!    initialisation keeps it between 0.2 and 1.3;
//! 4. `ratio >` [`EXPLODING_RATIO`] (1e2) → `exploding`;
//! 5. `grad_to_weight >` [`EXPLODING_GRAD_TO_WEIGHT`] (1e3) with a non-zero
//!    weight → `exploding`: one SGD step of learning rate 1e-3 would move the
//!    weights by more than their own size (a fresh ReLU network on
//!    unscaled targets reaches about 30 at its output layer, which is not
//!    pathological);
//! 6. otherwise `healthy`.
//!
//! The measurement leaves the parameters untouched and the gradients
//! zeroed, so it can run between training epochs ([`layer_report`]).
//!
//! [`chain`] builds the lesson's Example 3: `n` one-unit layers whose
//! outputs all equal a chosen value, and reads from the backward pass the
//! local factor each layer passes back (σ'(z) = 0.9 · 0.1 = 0.09 for outputs
//! of 0.9) and the cumulative gradient (0.09⁵ ≈ 5.9e-6 at layer 1).

use chainrule::{Float, Graph};
use chainrule_nn::data::Dataset;
use chainrule_nn::mlp::Mlp;
use chainrule_nn::network::{mlp_specs, Mode, Network};
use chainrule_nn::trainer::Model;
use chainrule_nn::{Activation, Init, Result};

use serde_json::{json, Value};

mod batch;
mod chain;
mod pass;
mod verdicts;
pub use crate::number::short;
pub use batch::{batch_from_dataset, default_init, random_batch, FlowBatch, Objective};
pub use chain::{
    chain, chain_network, chain_of, inverse, ChainKind, ChainLayer, ChainReport,
    BATCH_NORM_OFFSETS, BATCH_NORM_TARGETS,
};
pub(crate) use pass::run_pass;
pub(crate) use verdicts::report_of;

/// Below this fraction of the last layer's backpropagated gradient
/// ‖∂L/∂z‖ a layer's gradient is `vanishing`.
pub const VANISHING_RATIO: f64 = 1e-2;
/// Above this multiple of the last layer's backpropagated gradient ‖∂L/∂z‖
/// a layer's gradient is `exploding`.
pub const EXPLODING_RATIO: f64 = 1e2;
/// Above this ratio of gradient norm to weight norm a layer's gradient is
/// `exploding`.
pub const EXPLODING_GRAD_TO_WEIGHT: f64 = 1e3;
/// A sigmoid output below this, or above `1 −` this, is saturated.
pub const SIGMOID_SATURATION: f64 = 0.05;
/// A tanh output of magnitude above this is saturated.
pub const TANH_SATURATION: f64 = 0.95;

/// How the gradient reaching a layer compares with what it should be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Far smaller than the output layer's, or zero.
    Vanishing,
    /// Within the thresholds.
    Healthy,
    /// Far larger than the output layer's or than the weights, or not finite.
    Exploding,
}

impl Verdict {
    /// `vanishing`, `healthy` or `exploding`.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Vanishing => "vanishing",
            Verdict::Healthy => "healthy",
            Verdict::Exploding => "exploding",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The measurements of one weight layer (linear or convolution).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerFlow {
    /// 1 for the weight layer nearest the input (the lesson's numbering:
    /// layer k holds Wk).
    pub layer: usize,
    /// Its place in the architecture: the number people count (`3.1`, the
    /// first layer of the third layer's residual body), its text
    /// (`linear(32)`) and the character where it is written.
    pub number: String,
    pub text: String,
    pub at: usize,
    /// The state_dict names of its weight and bias, e.g. `0.weight`,
    /// `0.bias` (the bias empty when the layer has none).
    pub weight_key: String,
    pub bias_key: String,
    /// Per-example input and output shapes (`[64]`, `[4, 8, 8]`).
    pub input_shape: Vec<usize>,
    pub output_shape: Vec<usize>,
    /// Values per example in and out.
    pub in_features: usize,
    pub out_features: usize,
    /// The activation applied to this layer's output, if any.
    pub activation: Option<Activation>,
    /// ‖∂L/∂W‖₂ over the weight's entries.
    pub grad_norm: f64,
    /// mean |∂L/∂W| over the weight's entries.
    pub mean_abs_grad: f64,
    /// ‖W‖₂.
    pub weight_norm: f64,
    /// `grad_norm / weight_norm`.
    pub grad_to_weight: f64,
    /// ‖∂L/∂z‖₂ over the batch: the backpropagated gradient (error signal)
    /// at this layer's pre-activation.
    pub delta_norm: f64,
    /// `delta_norm` divided by the last layer's (NaN if that is zero or not
    /// finite): what the verdict is decided on.
    pub delta_ratio: f64,
    /// Fraction of saturated sigmoid/tanh outputs (rows × units).
    pub saturated_fraction: f64,
    /// Fraction of ReLU units (features; channels of an image output) whose
    /// input is ≤ 0 on every row (and every position of a channel).
    pub dead_fraction: f64,
    pub verdict: Verdict,
    /// One line, e.g. "layer 1 gradient 4.0e-7 of layer 5: vanishing; 93%
    /// of sigmoid units saturated" (the gradient compared being ‖∂L/∂z‖).
    pub reason: String,
}

/// The measurements of every weight layer, input first.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowReport {
    /// The loss of the measured batch.
    pub loss: f64,
    /// The number of rows of the batch.
    pub rows: usize,
    pub layers: Vec<LayerFlow>,
}

impl FlowReport {
    /// `{"layers": [{"layer", "number", "text", "weight", "bias",
    /// "input_shape", "output_shape", "delta_norm", "delta_ratio",
    /// "grad_norm", "mean_abs_grad", "grad_to_weight", "saturated_fraction",
    /// "dead_fraction", "verdict", "reason"}, …]}`; numbers that are not
    /// finite are `null`, a missing bias is `null`.
    pub fn to_json(&self) -> Value {
        json!({ "layers": self.layers_json() })
    }

    /// The `layers` array of [`FlowReport::to_json`].
    pub fn layers_json(&self) -> Value {
        Value::Array(
            self.layers
                .iter()
                .map(|l| {
                    json!({
                        "layer": l.layer,
                        "number": l.number,
                        "text": l.text,
                        "weight": l.weight_key,
                        "bias": (!l.bias_key.is_empty()).then_some(&l.bias_key),
                        "input_shape": l.input_shape,
                        "output_shape": l.output_shape,
                        "delta_norm": num(l.delta_norm),
                        "delta_ratio": num(l.delta_ratio),
                        "grad_norm": num(l.grad_norm),
                        "mean_abs_grad": num(l.mean_abs_grad),
                        "grad_to_weight": num(l.grad_to_weight),
                        "saturated_fraction": num(l.saturated_fraction),
                        "dead_fraction": num(l.dead_fraction),
                        "verdict": l.verdict.name(),
                        "reason": l.reason,
                    })
                })
                .collect(),
        )
    }

    /// Layer `k` (1-based).
    pub fn layer(&self, k: usize) -> Option<&LayerFlow> {
        k.checked_sub(1).and_then(|i| self.layers.get(i))
    }
}

pub(crate) fn num(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        Value::Null
    }
}

/// The gradient flow of a training model on `rows` of `data` (already
/// standardized as the model expects), for `chainrule train --grad-report`
/// and `diagnose --model`: the network in training mode (batch statistics,
/// dropout active, as a training step sees it), its buffers untouched. The
/// parameters are left unchanged and the gradients zeroed (gradients
/// accumulated before the call are discarded); the graph is cleared.
pub fn layer_report<F: Float>(
    model: &mut Model<F>,
    data: &Dataset,
    rows: &[usize],
) -> Result<FlowReport> {
    model.check_data(data)?;
    let batch = batch_from_dataset(data, rows, model.loss, model.network.out_features())?;
    let mode = model.network.mode();
    model.network.set_mode(Mode::Train);
    let report = measure_network(&mut model.graph, &model.network, &batch);
    model.network.set_mode(mode);
    report
}

/// Measures the gradient flow of `network` (whose parameters live in
/// `graph`, in the network's mode, its buffers untouched) on `batch`.
/// Parameters are left unchanged; gradients are zeroed and the graph
/// cleared before and after.
pub fn measure_network<F: Float>(
    graph: &mut Graph<F>,
    network: &Network<F>,
    batch: &FlowBatch,
) -> Result<FlowReport> {
    let pass = run_pass(graph, network, batch)?;
    Ok(report_of(&pass))
}

/// [`measure_network`] for a multilayer perceptron: the same network built
/// from its spec with its parameter values, measured in training mode.
pub fn measure<F: Float>(graph: &mut Graph<F>, mlp: &Mlp, batch: &FlowBatch) -> Result<FlowReport> {
    let mut g = Graph::<F>::new();
    let network = Network::new(
        &mut g,
        &mlp_specs(&mlp.spec),
        &mlp.spec.sizes[..1],
        Init::Zeros,
        0,
    )?;
    for ((_, to), (_, from)) in network.parameters().iter().zip(mlp_parameters(mlp)) {
        g.set_param(*to, &graph.param_value(from)?)?;
    }
    measure_network(&mut g, &network, batch)
}

/// An MLP's parameters in registration order (weight then bias per linear).
fn mlp_parameters(mlp: &Mlp) -> Vec<((), chainrule::ParamId)> {
    mlp.linears()
        .flat_map(|l| [l.weight, l.bias])
        .map(|p| ((), p))
        .collect()
}
