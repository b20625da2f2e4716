//! Gradient-flow diagnosis: how much gradient reaches each layer of an
//! [`Mlp`], and whether it vanishes or explodes on the way back.
//!
//! [`measure`] runs one forward pass layer by layer over `mlp.layers`,
//! keeping every linear layer's pre-activation `z` and the activation `a`
//! that follows it, computes the loss, runs the engine's backward pass, and
//! reports per **linear** layer `k` (1 = nearest the input):
//!
//! - `grad_norm`: the L2 norm of the weight gradient ∂L/∂W (bias excluded);
//! - `mean_abs_grad`: the mean |∂L/∂W| over the weight's entries;
//! - `grad_to_weight`: `grad_norm / ‖W‖` (∞ for a non-zero gradient on an
//!   all-zero weight, 0 when both are zero);
//! - `saturated_fraction`: for a sigmoid after the layer, the fraction of
//!   outputs (rows × units) outside `[0.05, 0.95]` (where σ' = a(1 − a) is
//!   below 0.0475, a fifth of its peak 0.25); for tanh, outputs with
//!   `|a| > 0.95` (1 − a² below 0.0975); 0 for other activations;
//! - `dead_fraction`: for a ReLU after the layer, the fraction of units whose
//!   pre-activation is ≤ 0 on every row of the batch (no gradient reaches
//!   their weights at all); 0 for other activations;
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
//! once per layer, so it shows vanishing and exploding directly, and it
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

use chainrule::{Float, Graph, Var};
use chainrule_nn::data::Dataset;
use chainrule_nn::loss::LossTarget;
use chainrule_nn::mlp::{Layer, Mlp};
use chainrule_nn::trainer::Model;
use chainrule_nn::{Activation, Error, LossKind, Module, Result};
use serde_json::{json, Value};

mod batch;
mod chain;
pub use batch::{batch_from_dataset, default_init, random_batch, FlowBatch, Objective};
pub use chain::{chain, chain_network, inverse, ChainLayer, ChainReport};

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

/// The measurements of one linear layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerFlow {
    /// 1 for the layer nearest the input (the lesson's numbering: layer k
    /// holds Wk).
    pub layer: usize,
    /// The state_dict names of its weight and bias, e.g. `0.weight`, `0.bias`.
    pub weight_key: String,
    pub bias_key: String,
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
    /// Fraction of ReLU units with a pre-activation ≤ 0 on every row.
    pub dead_fraction: f64,
    pub verdict: Verdict,
    /// One line, e.g. "layer 1 gradient 4.0e-7 of layer 5: vanishing; 93%
    /// of sigmoid units saturated" (the gradient compared being ‖∂L/∂z‖).
    pub reason: String,
}

/// The measurements of every linear layer, input first.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowReport {
    /// The loss of the measured batch.
    pub loss: f64,
    /// The number of rows of the batch.
    pub rows: usize,
    pub layers: Vec<LayerFlow>,
}

impl FlowReport {
    /// `{"layers": [{"layer", "weight", "bias", "grad_norm", "mean_abs_grad",
    /// "grad_to_weight", "saturated_fraction", "dead_fraction", "verdict",
    /// "reason"}, …]}`; numbers that are not finite are `null`.
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
                        "weight": l.weight_key,
                        "bias": l.bias_key,
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

fn num(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        Value::Null
    }
}

/// The gradient flow of a training model on `rows` of `data` (already
/// standardized as the model expects), for `chainrule train --grad-report`.
/// The parameters are left unchanged and the gradients zeroed (gradients
/// accumulated before the call are discarded); the graph is cleared.
pub fn layer_report<F: Float>(
    model: &mut Model<F>,
    data: &Dataset,
    rows: &[usize],
) -> Result<FlowReport> {
    model.check_data(data)?;
    let mlp = model.mlp_for("grad-report")?;
    let batch = batch_from_dataset(data, rows, model.loss, mlp.out_features())?;
    measure(&mut model.graph, &mlp, &batch)
}

/// Measures the gradient flow of `mlp` (whose parameters live in `graph`)
/// on `batch`. Parameters are left unchanged; gradients are zeroed and the
/// graph cleared before and after.
pub fn measure<F: Float>(graph: &mut Graph<F>, mlp: &Mlp, batch: &FlowBatch) -> Result<FlowReport> {
    let pass = run_pass(graph, mlp, batch)?;
    Ok(report_of(&pass))
}

// ----- the pass ---------------------------------------------------------

/// What one forward and backward pass leaves for one linear layer, in f64.
struct LayerPass {
    weight_key: String,
    bias_key: String,
    in_features: usize,
    out_features: usize,
    activation: Option<Activation>,
    weight: Vec<f64>,
    weight_grad: Vec<f64>,
    /// Pre-activation `z` and ∂L/∂z, `rows × out`.
    z: Vec<f64>,
    z_grad: Vec<f64>,
    /// The activation's output `a` (`z` where there is none) and ∂L/∂a.
    a: Vec<f64>,
    a_grad: Vec<f64>,
}

struct Pass {
    loss: f64,
    rows: usize,
    layers: Vec<LayerPass>,
}

fn run_pass<F: Float>(graph: &mut Graph<F>, mlp: &Mlp, batch: &FlowBatch) -> Result<Pass> {
    check_batch(mlp, batch)?;
    graph.clear();
    graph.zero_grad();
    let result = forward_backward(graph, mlp, batch);
    graph.zero_grad();
    graph.clear();
    result
}

fn check_batch(mlp: &Mlp, batch: &FlowBatch) -> Result<()> {
    let (rows, d, k) = (batch.rows, mlp.in_features(), mlp.out_features());
    if rows == 0 {
        return Err(Error::config("batch", "must be at least 1 row"));
    }
    if batch.inputs.len() != rows * d {
        return Err(Error::config(
            "batch",
            format!(
                "{} input values for {rows} rows of {d} features",
                batch.inputs.len()
            ),
        ));
    }
    let targets = match &batch.objective {
        Objective::Mse(t) | Objective::Bce(t) => Some(t.len()),
        Objective::Cce(labels) => {
            if let Some(&l) = labels.iter().find(|&&l| l >= k) {
                return Err(Error::config(
                    "batch",
                    format!("label {l} is not below the {k} outputs"),
                ));
            }
            if labels.len() != rows {
                return Err(Error::config(
                    "batch",
                    format!("{} labels for {rows} rows", labels.len()),
                ));
            }
            None
        }
        Objective::OutputSum => None,
    };
    if let Some(n) = targets.filter(|&n| n != rows * k) {
        return Err(Error::config(
            "batch",
            format!("{n} targets for {rows} rows of {k} outputs"),
        ));
    }
    Ok(())
}

fn values<F: Float>(v: &[F]) -> Vec<f64> {
    v.iter().map(|x| x.as_f64()).collect()
}

fn cast<F: Float>(v: &[f64]) -> Vec<F> {
    v.iter().map(|&x| F::from_f64(x)).collect()
}

/// A gradient, or zeros where none reached the value.
fn grad_or_zeros<F: Float>(v: Var<'_, F>) -> Vec<f64> {
    match v.grad() {
        Ok(t) => values(t.data()),
        Err(_) => vec![0.0; v.shape().numel()],
    }
}

fn forward_backward<F: Float>(g: &Graph<F>, mlp: &Mlp, batch: &FlowBatch) -> Result<Pass> {
    let rows = batch.rows;
    let x = g.input_from(&[rows, mlp.in_features()], &cast::<F>(&batch.inputs))?;
    // Per linear layer: the layer, z, and the activation that follows it.
    type Rec<'g, F> = (
        chainrule_nn::Linear,
        Var<'g, F>,
        Option<(Activation, Var<'g, F>)>,
    );
    let mut recs: Vec<Rec<'_, F>> = Vec::new();
    let mut h = x;
    let mut after_linear = false;
    for layer in &mlp.layers {
        match layer {
            Layer::Linear(lin) => {
                h = lin.forward(g, h)?;
                h.retain_grad();
                recs.push((*lin, h, None));
                after_linear = true;
            }
            Layer::Activation(act) => {
                h = act.apply(h);
                h.retain_grad();
                if after_linear {
                    if let Some(rec) = recs.last_mut() {
                        rec.2 = Some((*act, h));
                    }
                }
                after_linear = false;
            }
        }
    }
    h.retain_grad();
    let k = mlp.out_features();
    // The loss reads the output as the loss decides (as in train).
    let out_act = mlp.spec.output_activation;
    let l = match &batch.objective {
        Objective::Mse(t) => {
            let t = g.input_from(&[rows, k], &cast::<F>(t))?;
            LossKind::Mse.of_output(out_act, h, LossTarget::Values(t))?
        }
        Objective::Bce(t) => {
            let t = g.input_from(&[rows, k], &cast::<F>(t))?;
            LossKind::Bce.of_output(out_act, h, LossTarget::Values(t))?
        }
        Objective::Cce(labels) => {
            LossKind::Cce.of_output(out_act, h, LossTarget::Classes(labels))?
        }
        Objective::OutputSum => h.sum(),
    };
    l.backward()?;
    let mut layers = Vec::with_capacity(recs.len());
    for ((lin, z, act), numbered) in recs.into_iter().zip(mlp.numbered_linears()) {
        let weight = values(g.param_value(lin.weight)?.data());
        let weight_grad = match g.param_grad(lin.weight) {
            Ok(t) => values(t.data()),
            Err(_) => vec![0.0; weight.len()],
        };
        let a_var = act.map_or(z, |(_, a)| a);
        layers.push(LayerPass {
            weight_key: numbered.weight_key(),
            bias_key: numbered.bias_key(),
            in_features: lin.in_features,
            out_features: lin.out_features,
            activation: act.map(|(a, _)| a),
            weight,
            weight_grad,
            z: z.to_vec().iter().map(|v| v.as_f64()).collect(),
            z_grad: grad_or_zeros(z),
            a: a_var.to_vec().iter().map(|v| v.as_f64()).collect(),
            a_grad: grad_or_zeros(a_var),
        });
    }
    Ok(Pass {
        loss: l.item()?.as_f64(),
        rows,
        layers,
    })
}

// ----- statistics and verdicts -------------------------------------------

fn l2(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn saturated_fraction(activation: Option<Activation>, a: &[f64]) -> f64 {
    let saturated = |x: f64| match activation {
        Some(Activation::Sigmoid) => !(SIGMOID_SATURATION..=1.0 - SIGMOID_SATURATION).contains(&x),
        Some(Activation::Tanh) => x.abs() > TANH_SATURATION,
        _ => false,
    };
    if a.is_empty() {
        return 0.0;
    }
    a.iter().filter(|&&x| saturated(x)).count() as f64 / a.len() as f64
}

fn dead_fraction(activation: Option<Activation>, z: &[f64], rows: usize, units: usize) -> f64 {
    if activation != Some(Activation::Relu) || units == 0 || rows == 0 {
        return 0.0;
    }
    let dead = (0..units)
        .filter(|&j| (0..rows).all(|r| z[r * units + j] <= 0.0))
        .count();
    dead as f64 / units as f64
}

/// A number in a reason: plain with three significant digits between 0.01
/// and 1000, else scientific with two.
pub fn short(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if x == 0.0 {
        return "0".into();
    }
    let a = x.abs();
    if (0.01..1000.0).contains(&a) {
        let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{x:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        format!("{x:.1e}")
    }
}

fn percent(f: f64) -> String {
    let p = 100.0 * f;
    if p > 0.0 && p < 0.5 {
        "<1%".into()
    } else {
        format!("{p:.0}%")
    }
}

fn report_of(pass: &Pass) -> FlowReport {
    let n = pass.layers.len();
    let last_norm = pass.layers.last().map_or(f64::NAN, |l| l2(&l.z_grad));
    let reference_ok = last_norm.is_finite() && last_norm > 0.0;
    let layers = pass
        .layers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let k = i + 1;
            let grad_norm = l2(&p.weight_grad);
            let weight_norm = l2(&p.weight);
            let mean_abs_grad = if p.weight_grad.is_empty() {
                0.0
            } else {
                p.weight_grad.iter().map(|g| g.abs()).sum::<f64>() / p.weight_grad.len() as f64
            };
            let grad_to_weight = if weight_norm > 0.0 {
                grad_norm / weight_norm
            } else if grad_norm == 0.0 {
                0.0
            } else {
                f64::INFINITY
            };
            let delta_norm = l2(&p.z_grad);
            let ratio = if reference_ok {
                delta_norm / last_norm
            } else {
                f64::NAN
            };
            let saturated = saturated_fraction(p.activation, &p.a);
            let dead = dead_fraction(p.activation, &p.z, pass.rows, p.out_features);
            let (verdict, mut reason) = verdict(
                k,
                n,
                grad_norm.max(delta_norm),
                grad_norm,
                ratio,
                weight_norm,
                grad_to_weight,
            );
            if saturated > 0.0 {
                let name = p.activation.map_or(String::new(), |a| a.name());
                reason += &format!("; {} of {name} units saturated", percent(saturated));
            }
            if dead > 0.0 {
                reason += &format!("; {} of ReLU units dead", percent(dead));
            }
            LayerFlow {
                layer: k,
                weight_key: p.weight_key.clone(),
                bias_key: p.bias_key.clone(),
                in_features: p.in_features,
                out_features: p.out_features,
                activation: p.activation,
                grad_norm,
                mean_abs_grad,
                weight_norm,
                grad_to_weight,
                delta_norm,
                delta_ratio: ratio,
                saturated_fraction: saturated,
                dead_fraction: dead,
                verdict,
                reason,
            }
        })
        .collect();
    FlowReport {
        loss: pass.loss,
        rows: pass.rows,
        layers,
    }
}

/// The verdict of layer `k` of `n` and its reason (see the module docs);
/// `largest` is the larger of the weight-gradient and ∂L/∂z norms (NaN if
/// either is).
fn verdict(
    k: usize,
    n: usize,
    largest: f64,
    grad_norm: f64,
    ratio: f64,
    weight_norm: f64,
    grad_to_weight: f64,
) -> (Verdict, String) {
    use Verdict::*;
    if !largest.is_finite() || !grad_norm.is_finite() {
        return (
            Exploding,
            format!("layer {k} gradient is not finite: exploding"),
        );
    }
    if grad_norm == 0.0 {
        return (
            Vanishing,
            format!("layer {k} weight gradient is exactly 0: vanishing"),
        );
    }
    let relative = if k == n {
        format!("layer {k} is the reference (nearest the output)")
    } else if ratio.is_finite() {
        format!("layer {k} gradient {} of layer {n}", short(ratio))
    } else {
        format!("layer {k} gradient (layer {n} has none to compare)")
    };
    if k != n && ratio < VANISHING_RATIO {
        return (Vanishing, format!("{relative}: vanishing"));
    }
    if k != n && ratio > EXPLODING_RATIO {
        return (Exploding, format!("{relative}: exploding"));
    }
    if weight_norm > 0.0 && grad_to_weight > EXPLODING_GRAD_TO_WEIGHT {
        return (
            Exploding,
            format!(
                "{relative}; weight gradient {}× the weight norm: exploding",
                short(grad_to_weight)
            ),
        );
    }
    (Healthy, format!("{relative}: healthy"))
}
