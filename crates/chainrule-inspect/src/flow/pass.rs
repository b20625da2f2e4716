//! One forward and backward pass of a network on a measured batch, keeping
//! what the verdicts need of every weight layer (linear or convolution): its
//! weight and weight gradient, its output `z` (the pre-activation) and
//! ∂L/∂z, and the activation that follows it.

use super::{FlowBatch, Objective};
use chainrule::{Float, Graph, Var};
use chainrule_nn::loss::LossTarget;
use chainrule_nn::network::{Layer, LayerRow, Network};
use chainrule_nn::{Activation, Error, Result};
use std::collections::HashMap;

/// What one pass leaves for one weight layer, in f64.
pub(crate) struct LayerPass {
    pub row: LayerRow,
    pub weight_key: String,
    /// Empty for a layer without a bias.
    pub bias_key: String,
    /// Per-example shapes of the layer's input and output.
    pub input_shape: Vec<usize>,
    pub output_shape: Vec<usize>,
    /// The activation after the layer (past any norm or dropout layers
    /// between them), if any.
    pub activation: Option<Activation>,
    pub weight: Vec<f64>,
    pub weight_grad: Vec<f64>,
    /// ∂L/∂z at the layer's output `z`, `rows × units`.
    pub z_grad: Vec<f64>,
    /// The activation's input (`z`, or what a norm layer made of it), for
    /// the dead-unit count, and ∂L/∂ of it.
    pub pre: Vec<f64>,
    pub pre_grad: Vec<f64>,
    /// The activation's output (`z` where there is none).
    pub a: Vec<f64>,
    /// Values per example of `z`.
    pub units: usize,
}

pub(crate) struct Pass {
    pub loss: f64,
    pub rows: usize,
    pub layers: Vec<LayerPass>,
    /// ∂L/∂input, `rows × in_features`.
    pub input_grad: Vec<f64>,
    /// ∂L/∂ of each top-level layer's output (not those inside residual
    /// blocks), in order.
    pub top_grads: Vec<Vec<f64>>,
}

/// Runs `network` (parameters in `graph`, in its mode, buffers untouched)
/// on `batch`; gradients are zeroed and the graph cleared before and after.
pub(crate) fn run_pass<F: Float>(
    graph: &mut Graph<F>,
    network: &Network<F>,
    batch: &FlowBatch,
) -> Result<Pass> {
    check_batch(network, batch)?;
    network.check_pass_size("diagnose", batch.rows)?;
    graph.clear();
    graph.zero_grad();
    let result = forward_backward(graph, network, batch);
    graph.zero_grad();
    graph.clear();
    result
}

fn check_batch<F: Float>(network: &Network<F>, batch: &FlowBatch) -> Result<()> {
    let (rows, d, k) = (batch.rows, network.in_features(), network.out_features());
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

/// The state_dict path of the layer after `path` in the same sequence
/// (`3.body.1` → `3.body.2`).
fn next_sibling(path: &str) -> Option<String> {
    let (prefix, last) = match path.rfind('.') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("", path),
    };
    let i: usize = last.parse().ok()?;
    Some(format!("{prefix}{}", i + 1))
}

/// One observed layer: its row and layer, and its input and output.
struct Seen<'a, 'g, F: Float> {
    row: &'a LayerRow,
    layer: &'a Layer,
    input: Var<'g, F>,
    output: Var<'g, F>,
}

fn forward_backward<F: Float>(
    g: &Graph<F>,
    network: &Network<F>,
    batch: &FlowBatch,
) -> Result<Pass> {
    let rows = batch.rows;
    let dims: Vec<usize> = std::iter::once(rows)
        .chain(network.input_shape().iter().copied())
        .collect();
    // A variable, so that ∂L/∂input is computed too.
    let x = g.variable(&chainrule::Tensor::from_vec(
        cast::<F>(&batch.inputs),
        &dims,
    )?);
    x.retain_grad();
    let summary = network.summary();
    let layers_of = layers_by_index(network.layers());
    let mut seen: Vec<Option<Seen<'_, '_, F>>> = (0..summary.len()).map(|_| None).collect();
    let out = network.forward_observed(g, x, &mut |v| {
        v.output.retain_grad();
        if let (Some(slot), Some(&layer)) = (seen.get_mut(v.index), layers_of.get(v.index)) {
            *slot = Some(Seen {
                row: &summary[v.index],
                layer,
                input: v.input,
                output: v.output,
            });
        }
    })?;
    out.retain_grad();
    let k = network.out_features();
    let out_act = network.output_activation();
    let l = match &batch.objective {
        Objective::Mse(t) => {
            let t = g.input_from(&[rows, k], &cast::<F>(t))?;
            chainrule_nn::LossKind::Mse.of_output(out_act, out, LossTarget::Values(t))?
        }
        Objective::Bce(t) => {
            let t = g.input_from(&[rows, k], &cast::<F>(t))?;
            chainrule_nn::LossKind::Bce.of_output(out_act, out, LossTarget::Values(t))?
        }
        Objective::Cce(labels) => {
            chainrule_nn::LossKind::Cce.of_output(out_act, out, LossTarget::Classes(labels))?
        }
        Objective::OutputSum => out.sum(),
    };
    l.backward()?;
    let by_path: HashMap<&str, usize> = summary
        .iter()
        .enumerate()
        .map(|(i, r)| (r.path.as_str(), i))
        .collect();
    let mut layers = Vec::new();
    for s in seen.iter().flatten() {
        let (weight, bias) = match s.layer {
            Layer::Linear(lin) => (lin.weight, lin.bias),
            Layer::Conv2d(c) => (c.weight, c.bias),
            _ => continue,
        };
        let after = activation_after(&s.row.path, &by_path, &seen);
        let w = values(g.param_value(weight)?.data());
        let weight_grad = match g.param_grad(weight) {
            Ok(t) => values(t.data()),
            Err(_) => vec![0.0; w.len()],
        };
        let (activation, pre, a) = match after {
            Some((act, a)) => (Some(act), a.input, a.output),
            None => (None, s.output, s.output),
        };
        layers.push(LayerPass {
            row: s.row.clone(),
            weight_key: format!("{}.weight", s.row.path),
            bias_key: bias.map_or(String::new(), |_| format!("{}.bias", s.row.path)),
            input_shape: s.input.shape().dims()[1..].to_vec(),
            output_shape: s.output.shape().dims()[1..].to_vec(),
            activation,
            weight: w,
            weight_grad,
            z_grad: grad_or_zeros(s.output),
            pre: values(&pre.to_vec()),
            pre_grad: grad_or_zeros(pre),
            a: values(&a.to_vec()),
            units: s.output.shape().numel() / rows.max(1),
        });
    }
    let top_grads = seen
        .iter()
        .flatten()
        .filter(|s| !s.row.path.contains('.'))
        .map(|s| grad_or_zeros(s.output))
        .collect();
    Ok(Pass {
        loss: l.item()?.as_f64(),
        rows,
        layers,
        input_grad: grad_or_zeros(x),
        top_grads,
    })
}

/// The activation that follows the layer at `path` in its sequence, past
/// norm and dropout layers, and how it was seen.
fn activation_after<'s, 'a, 'g, F: Float>(
    path: &str,
    by_path: &HashMap<&str, usize>,
    seen: &'s [Option<Seen<'a, 'g, F>>],
) -> Option<(Activation, &'s Seen<'a, 'g, F>)> {
    let mut at = next_sibling(path)?;
    loop {
        let s = seen.get(*by_path.get(at.as_str())?)?.as_ref()?;
        match s.layer {
            Layer::Activation(Activation::Identity) => return None,
            Layer::Activation(a) => return Some((*a, s)),
            Layer::BatchNorm(_) | Layer::LayerNorm(_) | Layer::Dropout { .. } => {
                at = next_sibling(&at)?;
            }
            _ => return None,
        }
    }
}

/// The built layers in summary order (post-order: a residual block's body
/// before the block).
fn layers_by_index(layers: &[Layer]) -> Vec<&Layer> {
    fn walk<'a>(layers: &'a [Layer], out: &mut Vec<&'a Layer>) {
        for l in layers {
            if let Layer::Residual(body) = l {
                walk(body, out);
            }
            out.push(l);
        }
    }
    let mut out = Vec::new();
    walk(layers, &mut out);
    out
}
