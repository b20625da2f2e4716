//! Explaining one example through any [`Network`], layer by layer: each
//! layer's output (forward), the loss, each layer's `∂L/∂output` and each
//! parameter's gradient (backward), and the SGD update; optionally one
//! output element written out in full ([`super::element`]).
//!
//! The network runs in evaluation mode: batch norm uses its running
//! statistics (a batch of one example has no variance) and dropout is the
//! identity, which is what `predict` computes for a row. Every number comes
//! from the recorded graph ([`Network::forward_observed`] and the engine's
//! backward pass, [`Trace::record`]).

use super::element::{self, ElementExplanation, ElementSpec};
use super::*;
use chainrule_nn::network::{arch_text, Layer, LayerRow, Mode, Network};
use std::ops::Range;

/// What to feed a network, one example.
#[derive(Clone, Debug, PartialEq)]
pub struct LayersSetup {
    /// A title (which network this is).
    pub title: String,
    /// One example, raw (standardized first if the model says so), in the
    /// network's input shape, row-major.
    pub input: Vec<f64>,
    /// Where the example came from (`row 3 of digits`), if not typed in.
    pub source: Option<String>,
    /// One value per output (mse, bce) or one class index (cce).
    pub target: Vec<f64>,
    pub loss: LossKind,
    /// Learning rate of the SGD step.
    pub lr: f64,
    /// `LAYER:INDEX` of one output element to write out (`--element`).
    pub element: Option<String>,
}

/// One layer of the pass.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerStep {
    /// `3.1`: as people count, residual bodies joined by dots.
    pub number: String,
    /// The state_dict path (`2.body.0`).
    pub path: String,
    /// The layer's text in the architecture (`conv2d(4,3,pad=1)`).
    pub text: String,
    /// The per-example output shape.
    pub shape: Vec<usize>,
    /// The graph node of its output.
    pub node: usize,
    pub output: Vec<f64>,
    /// `∂L/∂output` (none where nothing needs a gradient).
    pub grad: Option<Vec<f64>>,
    /// What evaluation mode does to it (`dropout is the identity`).
    pub note: Option<String>,
}

/// One example through a network: forward, backward and an SGD step.
#[derive(Clone, Debug, PartialEq)]
pub struct LayersExplanation {
    pub title: String,
    /// The architecture's text.
    pub architecture: String,
    /// Notes on evaluation mode.
    pub notes: Vec<String>,
    pub loss_kind: LossKind,
    /// How the loss was computed (`cross-entropy on logits, class 3`).
    pub loss_text: String,
    pub input: Vec<f64>,
    pub input_shape: Vec<usize>,
    pub source: Option<String>,
    /// The input after the model's standardization, if it has one.
    pub standardized: Option<Vec<f64>>,
    pub target: Vec<f64>,
    pub layers: Vec<LayerStep>,
    pub loss: f64,
    pub params: Vec<ParamStep>,
    pub lr: f64,
    pub loss_after: f64,
    pub element: Option<ElementExplanation>,
    /// Every node of the step (for drawings).
    pub trace: Trace,
}

/// One layer as [`Network::forward_observed`] reported it.
#[derive(Clone, Debug)]
pub struct Visit {
    pub row: LayerRow,
    pub layer: Layer,
    /// The graph nodes of its input and output.
    pub input: usize,
    pub output: usize,
    pub nodes: Range<usize>,
}

/// Checks the target against the loss and the number of outputs.
fn check_target(loss: LossKind, outputs: usize, target: &[f64]) -> chainrule_nn::Result<()> {
    if loss == LossKind::Cce {
        let ok = target.len() == 1
            && target[0] >= 0.0
            && target[0].fract() == 0.0
            && (target[0] as usize) < outputs;
        if !ok || outputs < 2 {
            return Err(NnError::config(
                "target",
                format!(
                    "cross-entropy needs one class index in 0..{outputs} (and at least 2 outputs), got {target:?}"
                ),
            ));
        }
    } else if target.len() != outputs || target.iter().any(|v| !v.is_finite()) {
        return Err(NnError::config(
            "target",
            format!(
                "{} needs {outputs} finite target value(s), got {target:?}",
                loss.name()
            ),
        ));
    }
    Ok(())
}

/// What evaluation mode does to a layer, if anything.
fn eval_note(layer: &Layer) -> Option<String> {
    match layer {
        Layer::BatchNorm(_) => Some("evaluation mode: running statistics".into()),
        Layer::Dropout { p, .. } => Some(format!(
            "evaluation mode: the identity (p = {p} in training)"
        )),
        _ => None,
    }
}

/// A recorded pass: the visits, the loss, how it was computed, and the
/// target leaf (none for class indices).
type Recording<'g> = (Vec<Visit>, Var<'g, f64>, String, Option<usize>);

/// Records the forward pass (observed), the loss and the trace of the
/// backward pass; returns the visits, the trace and the loss text.
fn record<'g>(
    g: &'g Graph<f64>,
    network: &Network<f64>,
    x: &[f64],
    setup: &LayersSetup,
) -> chainrule_nn::Result<Recording<'g>> {
    let mut dims = vec![1];
    dims.extend_from_slice(network.input_shape());
    let xv = g.input_from(&dims, x)?;
    let mut visits = Vec::new();
    let out = network.forward_observed(g, xv, &mut |v| {
        visits.push(Visit {
            row: v.row.clone(),
            layer: v.layer.clone(),
            input: v.input.id(),
            output: v.output.id(),
            nodes: v.nodes.clone(),
        })
    })?;
    let act = network.output_activation();
    let described = setup.loss.describe(setup.loss.reading(act)?);
    let class = [setup.target.first().copied().unwrap_or(0.0) as usize];
    let (l, text, target) = match setup.loss {
        LossKind::Cce => (
            setup
                .loss
                .of_output(act, out, LossTarget::Classes(&class))?,
            format!("{described}, class {}", class[0]),
            None,
        ),
        _ => {
            let t = g.input_from(&[1, network.out_features()], &setup.target)?;
            (
                setup.loss.of_output(act, out, LossTarget::Values(t))?,
                described.to_string(),
                Some(t.id()),
            )
        }
    };
    Ok((visits, l, text, target))
}

/// Names for the trace: `x`, `t`, parameters by their state_dict names,
/// layer outputs `y{number}`, the loss `L`; every node a layer recorded has
/// the layer's description as its role.
fn labels_of(
    g: &Graph<f64>,
    network: &Network<f64>,
    visits: &[Visit],
    loss: usize,
    target: Option<usize>,
) -> Labels {
    let mut labels = Labels::new();
    if let Some(first) = visits.first() {
        labels.insert(
            first.input,
            Label {
                name: "x".into(),
                key: None,
                role: Some("input".into()),
            },
        );
    }
    for (key, p) in network.parameters() {
        if let Ok(v) = g.param(p) {
            labels.insert(
                v.id(),
                Label {
                    name: key.clone(),
                    key: Some(key.clone()),
                    role: Some(format!("parameter {key} {}", v.shape())),
                },
            );
        }
    }
    for v in visits {
        labels.entry(v.output).or_insert_with(|| Label {
            name: format!("y{}", v.row.number()),
            key: None,
            role: Some(v.row.describe()),
        });
        for id in v.nodes.clone() {
            labels.entry(id).or_insert_with(|| Label {
                name: String::new(),
                key: None,
                role: Some(v.row.describe()),
            });
        }
    }
    labels.insert(
        loss,
        Label {
            name: "L".into(),
            key: None,
            role: Some("loss".into()),
        },
    );
    if let Some(t) = target {
        labels.insert(
            t,
            Label {
                name: "t".into(),
                key: None,
                role: Some("target".into()),
            },
        );
    }
    labels
}

/// Traces `model` on one example in evaluation mode: every layer's output,
/// the loss, every layer's `∂L/∂output`, every parameter's gradient and the
/// SGD update `θ ← θ − lr·∂L/∂θ` (left applied, as
/// [`explain_network`] does), and the `--element` asked for.
pub fn explain_layers(
    model: &mut Model<f64>,
    setup: &LayersSetup,
) -> chainrule_nn::Result<LayersExplanation> {
    model.network.check_pass_size("explain", 1)?;
    let d = model.network.in_features();
    if setup.input.len() != d {
        return Err(NnError::config(
            "input",
            format!(
                "{} values given, the network takes {d} (an example of shape {})",
                setup.input.len(),
                dims_text(model.network.input_shape())
            ),
        ));
    }
    if setup.input.iter().any(|v| !v.is_finite()) {
        return Err(NnError::config(
            "input",
            "every value must be a finite number",
        ));
    }
    check_target(setup.loss, model.network.out_features(), &setup.target)?;
    if !(setup.lr.is_finite() && setup.lr > 0.0) {
        return Err(NnError::config(
            "lr",
            format!("must be a positive number, got {}", setup.lr),
        ));
    }
    let spec: Option<ElementSpec> = setup
        .element
        .as_deref()
        .map(|e| element::parse_element(e, model.network.summary()))
        .transpose()?;
    let mut x = setup.input.clone();
    let standardized = model.standardizer.as_ref().map(|s| {
        s.apply_row(&mut x);
        x.clone()
    });
    let mode = model.network.mode();
    model.network.set_mode(Mode::Eval);
    let result = step(model, setup, &x, spec.as_ref());
    model.network.set_mode(mode);
    model.graph.clear();
    let (layers, trace, loss_text, params, element) = result?;
    let loss = trace
        .output_node()
        .and_then(|n| n.value.first().copied())
        .unwrap_or(f64::NAN);
    // The SGD step, then the loss after it.
    for (p, s) in model.network.parameters().iter().zip(&params) {
        let t = chainrule::Tensor::from_vec(s.updated.clone(), &s.shape)?;
        model.graph.set_param(p.1, &t)?;
    }
    model.network.set_mode(Mode::Eval);
    let loss_after = {
        let g = &model.graph;
        let _off = g.no_grad();
        record(g, &model.network, &x, setup).and_then(|(_, l, _, _)| Ok(l.item()?))
    };
    model.network.set_mode(mode);
    model.graph.clear();
    let mut notes =
        vec!["evaluation mode, as predict: batch norm uses its running statistics".to_string()];
    if layers.iter().any(|l| l.text.starts_with("dropout")) {
        notes.push("dropout is the identity in evaluation mode".into());
    }
    Ok(LayersExplanation {
        title: setup.title.clone(),
        architecture: arch_text(model.network.specs()),
        notes,
        loss_kind: setup.loss,
        loss_text,
        input: setup.input.clone(),
        input_shape: model.network.input_shape().to_vec(),
        source: setup.source.clone(),
        standardized,
        target: setup.target.clone(),
        layers,
        loss,
        params,
        lr: setup.lr,
        loss_after: loss_after?,
        element,
        trace,
    })
}

type Stepped = (
    Vec<LayerStep>,
    Trace,
    String,
    Vec<ParamStep>,
    Option<ElementExplanation>,
);

/// The recorded step on the model's graph (in evaluation mode).
fn step(
    model: &mut Model<f64>,
    setup: &LayersSetup,
    x: &[f64],
    spec: Option<&ElementSpec>,
) -> chainrule_nn::Result<Stepped> {
    model.graph.clear();
    let g = &model.graph;
    let network = &model.network;
    let (visits, l, loss_text, target) = record(g, network, x, setup)?;
    let labels = labels_of(g, network, &visits, l.id(), target);
    let trace = record_with_roles(g, l, &labels)?;
    let by_id: HashMap<usize, &TraceNode> = trace.nodes.iter().map(|n| (n.id, n)).collect();
    let layers = visits
        .iter()
        .map(|v| {
            let n = by_id.get(&v.output);
            LayerStep {
                number: v.row.number(),
                path: v.row.path.clone(),
                text: v.row.text.clone(),
                shape: v.row.output.clone(),
                node: v.output,
                output: n.map(|n| n.value.clone()).unwrap_or_default(),
                grad: n.and_then(|n| n.grad.clone()),
                note: eval_note(&v.layer),
            }
        })
        .collect();
    let mut params = Vec::new();
    for (key, p) in network.parameters() {
        let id = g.param(p)?.id();
        let value = g.param_value(p)?;
        let shape = value.shape().dims().to_vec();
        let value: Vec<f64> = value.into_vec();
        let grad = by_id
            .get(&id)
            .and_then(|n| n.grad.clone())
            .unwrap_or_else(|| vec![0.0; value.len()]);
        let updated = value
            .iter()
            .zip(&grad)
            .map(|(v, d)| v - setup.lr * d)
            .collect();
        params.push(ParamStep {
            name: key.clone(),
            key,
            node: id,
            shape,
            value,
            grad,
            updated,
        });
    }
    let element = match spec {
        Some(s) => Some(element::explain_element(
            &element::Recorded {
                g,
                network,
                visits: &visits,
                nodes: &by_id,
            },
            s,
        )?),
        None => None,
    };
    drop(by_id);
    Ok((layers, trace, loss_text, params, element))
}
