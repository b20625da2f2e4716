//! Tracing one training step of an MLP: forward, loss, backward, the SGD
//! update and the loss after it, with the lesson's layer numbering.

use super::*;

/// What to feed a network.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkSetup {
    /// A title (which network this is).
    pub title: String,
    /// One input row (raw: standardized first if the model says so).
    pub input: Vec<f64>,
    /// The target: one value per output for MSE and BCE, one class index
    /// for cross-entropy.
    pub target: Vec<f64>,
    pub loss: LossKind,
    /// Learning rate of the SGD step.
    pub lr: f64,
}

/// One parameter through the step.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamStep {
    /// The state_dict name (`0.weight`).
    pub key: String,
    /// The name in formulas (`W1`).
    pub name: String,
    pub node: usize,
    pub shape: Vec<usize>,
    pub value: Vec<f64>,
    pub grad: Vec<f64>,
    /// The value after `θ − lr·∂L/∂θ`.
    pub updated: Vec<f64>,
}

/// One traced training step of a network.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkExplanation {
    pub title: String,
    pub architecture: String,
    pub loss_kind: LossKind,
    /// How the loss was computed (`mse`, `bce on probabilities`, …).
    pub loss_text: String,
    pub input: Vec<f64>,
    /// The input after the model's standardization, if it has one.
    pub standardized: Option<Vec<f64>>,
    pub target: Vec<f64>,
    pub trace: Trace,
    pub loss: f64,
    pub params: Vec<ParamStep>,
    pub lr: f64,
    pub loss_after: f64,
}

/// Records the forward pass and the loss; fills `labels` with generated
/// names: `x`, `t`, `W{k}`/`b{k}` (keyed by state_dict name), `z{k}` for
/// linear outputs, `h{k}` for hidden activations, `ŷ` for the prediction,
/// `L` for the loss; every other node is named by the trace from its
/// formula. Returns the loss and how it was computed.
fn record_step<'g>(
    g: &'g Graph<f64>,
    model: &Model<f64>,
    x: &[f64],
    target: &[f64],
    loss_kind: LossKind,
    labels: &mut Labels,
) -> chainrule_nn::Result<(Var<'g, f64>, String)> {
    fn put(labels: &mut Labels, id: usize, name: &str, key: Option<String>, role: &str) {
        labels.insert(
            id,
            Label {
                name: name.into(),
                key,
                role: Some(role.into()),
            },
        );
    }
    /// Gives every node from `from` on that has no label the role `role`
    /// (an empty name: the trace names it from its formula).
    fn roles(labels: &mut Labels, from: usize, to: usize, role: &str) {
        for id in from..to {
            labels.entry(id).or_insert_with(|| Label {
                name: String::new(),
                key: None,
                role: Some(role.into()),
            });
        }
    }
    let mlp = &model.mlp_for("explain")?;
    let xv = g.input_from(&[1, x.len()], x)?;
    put(labels, xv.id(), "x", None, "input");
    // The lesson's numbering: layer k holds Wk and bk (state_dict names
    // beside them), its activation belongs to it.
    for l in mlp.numbered_linears() {
        let k = l.number;
        let (w, b) = (g.param(l.linear.weight)?, g.param(l.linear.bias)?);
        let role = format!("layer {k} (linear)");
        put(
            labels,
            w.id(),
            &format!("W{k}"),
            Some(l.weight_key()),
            &format!("{role} weight {}", w.shape()),
        );
        put(
            labels,
            b.id(),
            &format!("b{k}"),
            Some(l.bias_key()),
            &format!("{role} bias {}", b.shape()),
        );
    }
    let n_layers = mlp.layers.len();
    let mut h = xv;
    for (i, layer) in mlp.layers.iter().enumerate() {
        let before = g.len();
        let k = mlp.layer_number(i);
        let (name, role) = match layer {
            Layer::Linear(lin) => {
                h = Module::<f64>::forward(lin, g, h)?;
                (format!("z{k}"), format!("layer {k} (linear)"))
            }
            Layer::Activation(a) => {
                h = a.apply(h);
                (format!("h{k}"), format!("layer {k} ({})", a.name()))
            }
        };
        if i + 1 == n_layers {
            put(labels, h.id(), "ŷ", None, &format!("{role}, output"));
        } else {
            put(labels, h.id(), &name, None, &role);
        }
        roles(labels, before, g.len(), &role);
    }
    let before = g.len();
    let outputs = mlp.out_features();
    let mut target_leaf = |g: &'g Graph<f64>| -> chainrule_nn::Result<Var<'g, f64>> {
        let t = g.input_from(&[1, outputs], target)?;
        put(labels, t.id(), "t", None, "target");
        Ok(t)
    };
    // How the loss reads the output is decided by the loss (as in train).
    let output_activation = mlp.spec.output_activation;
    let described = loss_kind.describe(loss_kind.reading(output_activation)?);
    let class = [target.first().copied().unwrap_or(0.0) as usize];
    let (l, text) = match loss_kind {
        LossKind::Mse | LossKind::Bce => {
            let t = LossTarget::Values(target_leaf(g)?);
            let l = loss_kind.of_output(output_activation, h, t)?;
            (l, described.to_string())
        }
        LossKind::Cce => {
            let l = loss_kind.of_output(output_activation, h, LossTarget::Classes(&class))?;
            (l, format!("{described}, class {}", class[0]))
        }
    };
    let role = format!("loss ({text})");
    put(labels, l.id(), "L", None, &role);
    name_loss_parts(g, before, l.id(), labels, &role);
    roles(labels, before, g.len(), &role);
    Ok((l, text))
}

/// A loss built from elementwise operations (nodes `from..=loss`) ends in
/// the mean `(1/n)·Σ ℓ`, recorded as flatten, sum and scale: names them as
/// a learner writes them (ℓ the per-element loss, vec(ℓ) its elements in a
/// row, Σℓ their sum, p the clamped probability) instead of numbered nodes.
fn name_loss_parts(g: &Graph<f64>, from: usize, loss: usize, labels: &mut Labels, role: &str) {
    let infos = g.nodes();
    let input = |id: usize| infos[id].inputs[0];
    let Some(sum) = input(loss).filter(|_| matches!(infos[loss].op, Op::MulScalar(_))) else {
        return;
    };
    if !matches!(infos[sum].op, Op::SumAxis { .. }) {
        return;
    }
    let mut name = |id: usize, text: &str, what: &str| {
        if labels.get(&id).is_none_or(|l| l.name.is_empty()) {
            labels.insert(
                id,
                Label {
                    name: text.into(),
                    key: None,
                    role: Some(format!("{role}: {what}")),
                },
            );
        }
    };
    name(sum, "Σℓ", "the sum of the per-element losses");
    // BCE on probabilities reads ŷ clamped away from 0 and 1 (log 0).
    for info in &infos[from..loss] {
        if matches!(info.op, Op::Clamp(..)) {
            name(info.id, "p", "ŷ clamped away from 0 and 1 (log 0 is −∞)");
        }
    }
    match input(sum) {
        Some(flat) if matches!(infos[flat].op, Op::Reshape) => {
            name(flat, "vec(ℓ)", "the per-element losses in one row");
            if let Some(per) = input(flat) {
                name(per, "ℓ", "the per-element loss");
            }
        }
        Some(per) => name(per, "ℓ", "the per-element loss"),
        None => {}
    }
}

/// Traces one training step of `model` on one example: the forward pass,
/// the loss, the backward pass, the SGD update `θ ← θ − lr·∂L/∂θ` and the
/// loss after it. The model's parameters are left updated.
pub fn explain_network(
    model: &mut Model<f64>,
    setup: &NetworkSetup,
) -> chainrule_nn::Result<NetworkExplanation> {
    let mlp = model.mlp_for("explain")?;
    let d = mlp.in_features();
    let outputs = mlp.out_features();
    if setup.input.len() != d {
        return Err(NnError::config(
            "input",
            format!(
                "{} values given, the network has {d} inputs",
                setup.input.len()
            ),
        ));
    }
    if setup.input.iter().any(|v| !v.is_finite()) {
        return Err(NnError::config(
            "input",
            "every value must be a finite number",
        ));
    }
    match setup.loss {
        LossKind::Cce => {
            let ok = setup.target.len() == 1
                && setup.target[0] >= 0.0
                && setup.target[0].fract() == 0.0
                && (setup.target[0] as usize) < outputs;
            if !ok || outputs < 2 {
                return Err(NnError::config(
                    "target",
                    format!(
                        "cross-entropy needs one class index in 0..{outputs} (and at least 2 outputs), got {:?}",
                        setup.target
                    ),
                ));
            }
        }
        _ => {
            if setup.target.len() != outputs || setup.target.iter().any(|v| !v.is_finite()) {
                return Err(NnError::config(
                    "target",
                    format!(
                        "{} needs {outputs} finite target value(s), got {:?}",
                        setup.loss.name(),
                        setup.target
                    ),
                ));
            }
        }
    }
    if !(setup.lr.is_finite() && setup.lr > 0.0) {
        return Err(NnError::config(
            "lr",
            format!("must be a positive number, got {}", setup.lr),
        ));
    }
    let mut x = setup.input.clone();
    let standardized = model.standardizer.as_ref().map(|s| {
        s.apply_row(&mut x);
        x.clone()
    });
    model.graph.clear();
    let (trace, loss_text) = {
        let g = &model.graph;
        let mut labels = Labels::new();
        let (l, text) = record_step(g, model, &x, &setup.target, setup.loss, &mut labels)?;
        let trace = record_with_roles(g, l, &labels)?;
        (trace, text)
    };
    let loss = trace
        .output_node()
        .and_then(|n| n.value.first().copied())
        .unwrap_or(f64::NAN);
    let mut params = Vec::new();
    for (key, p) in Module::<f64>::parameters(&mlp) {
        let id = model.graph.param(p)?.id();
        let Some(n) = trace.node(id) else { continue };
        let grad = n.grad.clone().unwrap_or_else(|| vec![0.0; n.value.len()]);
        let updated = n
            .value
            .iter()
            .zip(&grad)
            .map(|(v, d)| v - setup.lr * d)
            .collect();
        params.push(ParamStep {
            key,
            name: n.name.clone(),
            node: id,
            shape: n.shape.clone(),
            value: n.value.clone(),
            grad,
            updated,
        });
    }
    model.graph.clear();
    for (p, step) in Module::<f64>::parameters(&mlp).iter().zip(&params) {
        let t = chainrule::Tensor::from_vec(step.updated.clone(), &step.shape)?;
        model.graph.set_param(p.1, &t)?;
    }
    let loss_after = {
        let g = &model.graph;
        let _off = g.no_grad();
        let mut scratch = Labels::new();
        let (l, _) = record_step(g, model, &x, &setup.target, setup.loss, &mut scratch)?;
        l.item()?
    };
    model.graph.clear();
    let sizes: Vec<String> = mlp.spec.sizes.iter().map(|s| s.to_string()).collect();
    let architecture = format!(
        "{} MLP, {} hidden, {} output",
        sizes.join("-"),
        mlp.spec.activation.name(),
        mlp.spec.output_activation.name()
    );
    Ok(NetworkExplanation {
        title: setup.title.clone(),
        architecture,
        loss_kind: setup.loss,
        loss_text,
        input: setup.input.clone(),
        standardized,
        target: setup.target.clone(),
        trace,
        loss,
        params,
        lr: setup.lr,
        loss_after,
    })
}

/// [`Trace::record`] where labels with an empty name only give a role: the
/// trace names those nodes itself and the role is kept.
pub(super) fn record_with_roles<F: Float>(
    g: &Graph<F>,
    output: Var<'_, F>,
    labels: &Labels,
) -> chainrule::Result<Trace> {
    let named: Labels = labels
        .iter()
        .filter(|(_, l)| !l.name.is_empty())
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    let mut trace = Trace::record(g, output, &named)?;
    for n in &mut trace.nodes {
        if let Some(l) = labels.get(&n.id) {
            if n.role.is_none() {
                n.role = l.role.clone();
            }
        }
    }
    Ok(trace)
}

/// The network of worked example 1 (2-2-1, sigmoid hidden and output, the
/// lesson's weights) as a [`Model`], with its input, target and MSE loss.
pub fn worked_example_1(lr: f64) -> chainrule_nn::Result<(Model<f64>, NetworkSetup)> {
    use chainrule::worked::TinyNet;
    use chainrule_nn::{Activation, Init, MlpSpec};
    let mut scratch = Graph::<f64>::new();
    let net = TinyNet::new(&mut scratch)?;
    let spec = MlpSpec {
        sizes: vec![2, 2, 1],
        activation: Activation::Sigmoid,
        output_activation: Activation::Sigmoid,
    };
    let mut model = Model::<f64>::from_spec(spec, Init::Zeros, 0, LossKind::Mse)?;
    let values = [net.w1, net.b1, net.w2, net.b2];
    for ((_, p), src) in model.network.parameters().into_iter().zip(values) {
        model.graph.set_param(p, &scratch.param_value(src)?)?;
    }
    let setup = NetworkSetup {
        title: "Worked example 1: a 2-2-1 network, sigmoid hidden and output".into(),
        input: TinyNet::INPUT.to_vec(),
        target: vec![TinyNet::TARGET],
        loss: LossKind::Mse,
        lr,
    };
    Ok((model, setup))
}

/// Loads a model file for [`explain_network`] (values in f64).
pub fn load_model(path: &std::path::Path) -> chainrule_nn::Result<Model<f64>> {
    model_io::load_model::<f64>(path, None)
}

impl NetworkExplanation {
    /// The report: forward pass, backward pass, the SGD step.
    pub fn report(&self, show: Show) -> Report {
        let t = &self.trace;
        let mut intro = vec![
            format!("network: {}", self.architecture),
            format!("loss: {}", self.loss_text),
            format!(
                "input x = {}",
                fmt_values(&[self.input.len()], &self.input, show)
            ),
        ];
        if let Some(s) = &self.standardized {
            intro.push(format!(
                "standardized with the model's statistics: {}",
                fmt_values(&[s.len()], s, show)
            ));
        }
        intro.push(format!(
            "target t = {}",
            target_text(self.loss_kind, &self.target, show)
        ));
        let update_rows = self
            .params
            .iter()
            .map(|p| Row {
                step: p.node.to_string(),
                node: format!("{} ({})", p.key, p.name),
                what: format!("{} ← {} − {}·∂L/∂{}", p.name, p.name, num(self.lr), p.name),
                formula: String::new(),
                value: fmt_values(&p.shape, &p.updated, show),
                sub: false,
            })
            .collect();
        Report {
            title: self.title.clone(),
            intro,
            sections: vec![
                Section {
                    title: "Forward pass (inputs first)".into(),
                    rows: forward_rows(t, show),
                },
                Section {
                    title: "Backward pass (chain rule, from L back to the parameters)".into(),
                    rows: backward_rows(t, show),
                },
                Section {
                    title: format!("Gradient descent step, θ ← θ − {}·∂L/∂θ", num(self.lr)),
                    rows: update_rows,
                },
            ],
            outro: vec![format!(
                "loss {} → {} after one step",
                num(self.loss),
                num(self.loss_after)
            )],
        }
    }

    /// `{"title", "network", "loss_kind", "input", "target", "loss",
    /// "gradients": {"0.weight": [[…]], …}, "update", "nodes"}`.
    pub fn to_json(&self, show: Show) -> Value {
        let mut grads = Map::new();
        let mut updated = Map::new();
        for p in &self.params {
            grads.insert(p.key.clone(), nested_json(&p.shape, &p.grad));
            updated.insert(p.key.clone(), nested_json(&p.shape, &p.updated));
        }
        json!({
            "title": self.title,
            "network": self.architecture,
            "loss_kind": self.loss_kind.name(),
            "loss_formula": self.loss_text,
            "input": self.input,
            "standardized_input": self.standardized,
            "target": self.target,
            "loss": number(self.loss),
            "gradients": grads,
            "update": {
                "lr": self.lr,
                "parameters": updated,
                "loss_after": number(self.loss_after),
            },
            "nodes": nodes_json(&self.trace, show),
        })
    }
}
