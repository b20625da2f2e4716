//! Step-by-step traces of a forward and backward pass, generated from the
//! recorded graph ([`Graph::nodes`]) and the backward pass's contributions
//! ([`Graph::backward_trace`]): for every node its formula and value, the
//! local derivative towards each input, the gradient arriving from each
//! consumer and the total where several paths add up.
//!
//! [`explain_expression`] traces a scalar expression, [`explain_network`]
//! one training step of an MLP (forward, backward, an SGD update and the
//! loss after it). Both render as a terminal table, Markdown or JSON.

use crate::expr::{self, ExprError};
use crate::formula::{self, num, wrap};
use chainrule::{Float, Graph, Op, Summary, Var};
use chainrule_nn::loss::LossTarget;
use chainrule_nn::mlp::Layer;
use chainrule_nn::model_io;
use chainrule_nn::trainer::Model;
use chainrule_nn::{Error as NnError, LossKind, Module};
use serde_json::{json, Map, Value};
use std::collections::{BTreeSet, HashMap, HashSet};

/// What a node is called in a trace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Label {
    /// The name used in formulas (`x`, `W1`, `z1`, `L`).
    pub name: String,
    /// A parameter's state_dict name (`0.weight`).
    pub key: Option<String>,
    /// Where it belongs (`layer 0 (linear)`, `loss (mse)`).
    pub role: Option<String>,
}

/// Labels by node id; nodes without one are named after their formula.
pub type Labels = HashMap<usize, Label>;

/// What kind of node a trace row is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A leaf that requires a gradient (an expression's variable).
    Variable,
    /// A leaf without gradient (an input, a target, a constant).
    Constant,
    /// A parameter of a network.
    Parameter,
    /// A recorded operation.
    Operation,
}

impl NodeKind {
    fn name(&self) -> &'static str {
        match self {
            NodeKind::Variable => "variable",
            NodeKind::Constant => "constant",
            NodeKind::Parameter => "parameter",
            NodeKind::Operation => "operation",
        }
    }
}

/// A node's local derivative towards one of its inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct Local {
    /// The input's node id.
    pub input: usize,
    /// Which input (0 or 1).
    pub position: usize,
    /// `∂out/∂input` as text, for elementwise operations.
    pub formula: Option<String>,
    /// Its value per element, for elementwise operations.
    pub value: Option<Vec<f64>>,
    /// The gradient sent to the input, as text (the chain rule's step).
    pub backward: String,
}

/// One gradient contribution that reached a node from one consumer.
#[derive(Clone, Debug, PartialEq)]
pub struct Incoming {
    /// The consumer's node id.
    pub from: usize,
    /// Which input of the consumer this node is.
    pub position: usize,
    /// The contribution as text.
    pub formula: String,
    /// Its values.
    pub value: Vec<f64>,
}

/// Everything known about one node.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceNode {
    pub id: usize,
    pub name: String,
    pub key: Option<String>,
    pub role: Option<String>,
    pub kind: NodeKind,
    pub op: Op,
    pub inputs: Vec<usize>,
    pub shape: Vec<usize>,
    /// The forward formula in terms of the inputs' names (empty for leaves).
    pub formula: String,
    pub value: Vec<f64>,
    pub locals: Vec<Local>,
    /// The contributions that reached it, in the order the reverse loop made
    /// them.
    pub incoming: Vec<Incoming>,
    /// The total gradient of the output with respect to it.
    pub grad: Option<Vec<f64>>,
    pub requires_grad: bool,
}

impl TraceNode {
    /// The name with the state_dict name first, if any: `0.weight (W1)`.
    pub fn display_name(&self) -> String {
        match &self.key {
            Some(k) if *k != self.name => format!("{k} ({})", self.name),
            _ => self.name.clone(),
        }
    }

    /// Whether it holds one number.
    pub fn is_scalar(&self) -> bool {
        self.value.len() == 1
    }
}

/// A traced forward and backward pass.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// The output and every node it depends on, by id.
    pub nodes: Vec<TraceNode>,
    /// The output's id.
    pub output: usize,
    /// Whether a backward pass ran (the output depends on something that
    /// requires a gradient).
    pub has_backward: bool,
}

impl Trace {
    /// Traces the forward values of `output` and everything it depends on,
    /// and (when it requires a gradient) runs [`Graph::backward_trace`] from
    /// it. Nodes are named by `labels`, else by their formula when short,
    /// else `v{id}`.
    pub fn record<F: Float>(
        g: &Graph<F>,
        output: Var<'_, F>,
        labels: &Labels,
    ) -> chainrule::Result<Trace> {
        let infos = g.nodes();
        let out = output.id();
        let mut needed = BTreeSet::new();
        let mut stack = vec![out];
        while let Some(i) = stack.pop() {
            if needed.insert(i) {
                stack.extend(infos[i].inputs.iter().flatten().copied());
            }
        }
        let bt = if output.requires_grad() {
            Some(g.backward_trace(output)?)
        } else {
            None
        };
        let values = |id: usize| -> chainrule::Result<Vec<f64>> {
            Ok(g.var(id)?
                .to_vec()
                .into_iter()
                .map(|v| v.as_f64())
                .collect())
        };
        // Names, inputs first.
        let mut names: HashMap<usize, String> = HashMap::new();
        let mut used: HashSet<String> = labels.values().map(|l| l.name.clone()).collect();
        for &id in &needed {
            let info = &infos[id];
            let name = match labels.get(&id) {
                Some(l) => l.name.clone(),
                None => {
                    let auto = match info.op {
                        Op::Leaf if !info.requires_grad && info.shape.numel() == 1 => {
                            num(values(id)?[0])
                        }
                        Op::Leaf | Op::Param => format!("v{id}"),
                        op => {
                            let ins: Vec<&str> = info
                                .inputs
                                .iter()
                                .flatten()
                                .map(|i| names.get(i).map_or("?", String::as_str))
                                .collect();
                            formula::forward(op, &ins, info.shape.numel() == 1)
                        }
                    };
                    if auto.chars().count() <= 18 && !used.contains(&auto) {
                        auto
                    } else {
                        format!("v{id}")
                    }
                }
            };
            used.insert(name.clone());
            names.insert(id, name);
        }
        let out_name = names.get(&out).cloned().unwrap_or_else(|| "f".into());
        let grad_of = |name: &str| formula::grad_text(&out_name, name);
        let mut nodes = Vec::with_capacity(needed.len());
        for &id in &needed {
            let info = &infos[id];
            let name = names[&id].clone();
            let inputs: Vec<usize> = info.inputs.iter().flatten().copied().collect();
            let in_names: Vec<&str> = inputs.iter().map(|i| names[i].as_str()).collect();
            let value = values(id)?;
            let scalar = value.len() == 1;
            let kind = match info.op {
                Op::Param => NodeKind::Parameter,
                Op::Leaf if info.requires_grad => NodeKind::Variable,
                Op::Leaf => NodeKind::Constant,
                _ => NodeKind::Operation,
            };
            let formula = match kind {
                NodeKind::Operation => formula::forward(info.op, &in_names, scalar),
                _ => String::new(),
            };
            // The numbers from the engine's own backward rules.
            let engine_locals = g.local_derivatives(g.var(id)?)?;
            let locals = inputs
                .iter()
                .enumerate()
                .map(|(k, &input)| {
                    let text = formula::local(info.op, k, &in_names, &name, scalar);
                    let value = match (&text, engine_locals[k]) {
                        (Some(_), Some(d)) => Some(values(d.id())?),
                        _ => None,
                    };
                    Ok(Local {
                        input,
                        position: k,
                        formula: text,
                        value,
                        backward: formula::backward(
                            info.op,
                            k,
                            &in_names,
                            &name,
                            &grad_of(&name),
                            scalar,
                        ),
                    })
                })
                .collect::<chainrule::Result<Vec<Local>>>()?;
            let mut incoming = Vec::new();
            let mut grad = None;
            if let Some(bt) = &bt {
                for c in bt.contributions.iter().filter(|c| c.input == id) {
                    let consumer = &infos[c.consumer];
                    let c_inputs: Vec<&str> = consumer
                        .inputs
                        .iter()
                        .flatten()
                        .map(|i| names.get(i).map_or("?", String::as_str))
                        .collect();
                    let c_name = names.get(&c.consumer).map_or("?", String::as_str);
                    incoming.push(Incoming {
                        from: c.consumer,
                        position: c.position,
                        formula: formula::backward(
                            consumer.op,
                            c.position,
                            &c_inputs,
                            c_name,
                            &grad_of(c_name),
                            consumer.shape.numel() == 1,
                        ),
                        value: values(c.grad)?,
                    });
                }
                if let Some(Some(gid)) = bt.grads.get(id) {
                    grad = Some(values(*gid)?);
                }
            }
            let label = labels.get(&id);
            nodes.push(TraceNode {
                id,
                name,
                key: label.and_then(|l| l.key.clone()),
                role: label.and_then(|l| l.role.clone()),
                kind,
                op: info.op,
                inputs,
                shape: info.shape.dims().to_vec(),
                formula,
                value,
                locals,
                incoming,
                grad,
                requires_grad: info.requires_grad,
            });
        }
        Ok(Trace {
            nodes,
            output: out,
            has_backward: bt.is_some(),
        })
    }

    /// The node with id `id`.
    pub fn node(&self, id: usize) -> Option<&TraceNode> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The first node named `name` (or with state_dict name `name`).
    pub fn find(&self, name: &str) -> Option<&TraceNode> {
        self.nodes
            .iter()
            .find(|n| n.name == name || n.key.as_deref() == Some(name))
    }

    /// The output node.
    pub fn output_node(&self) -> Option<&TraceNode> {
        self.node(self.output)
    }

    /// The output's name (`f`, `L`).
    pub fn output_name(&self) -> &str {
        self.output_node().map_or("f", |n| n.name.as_str())
    }

    /// `∂f/∂name`.
    pub fn grad_name(&self, name: &str) -> String {
        formula::grad_text(self.output_name(), name)
    }

    fn name_of(&self, id: usize) -> &str {
        self.node(id).map_or("?", |n| n.name.as_str())
    }
}

// ----- values as text and JSON ------------------------------------------------

/// How values are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Show {
    /// Every value, however large the tensor.
    pub full: bool,
}

impl Show {
    /// Tensors with more elements than this are summarized unless `full`.
    pub const SUMMARIZE_ABOVE: usize = 12;

    fn summarize(&self, n: usize) -> bool {
        !self.full && n > Self::SUMMARIZE_ABOVE
    }
}

/// Values as nested brackets in their shape, or (when large) a summary.
pub fn fmt_values(shape: &[usize], values: &[f64], show: Show) -> String {
    if values.len() == 1 {
        return num(values[0]);
    }
    if show.summarize(values.len()) {
        return fmt_summary(shape, values);
    }
    nested_text(shape, values)
}

/// `[64, 784] min …, max …, mean …, norm …`.
pub fn fmt_summary(shape: &[usize], values: &[f64]) -> String {
    let s = Summary::of(values);
    let mut out = format!(
        "{} min {}, max {}, mean {}, norm {}",
        dims_text(shape),
        num(s.min),
        num(s.max),
        num(s.mean),
        num(s.norm)
    );
    if s.non_finite() > 0 {
        out.push_str(&format!(", {} non-finite", s.non_finite()));
    }
    out
}

/// `[2, 3]`.
pub fn dims_text(shape: &[usize]) -> String {
    let d: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", d.join(", "))
}

/// Values as nested brackets in their shape: `[[1, 2], [3, 4]]`.
pub fn nested_text(shape: &[usize], values: &[f64]) -> String {
    if shape.len() <= 1 || values.is_empty() {
        let items: Vec<String> = values.iter().map(|v| num(*v)).collect();
        return format!("[{}]", items.join(", "));
    }
    let inner: usize = shape[1..].iter().product::<usize>().max(1);
    let parts: Vec<String> = values
        .chunks(inner)
        .map(|c| nested_text(&shape[1..], c))
        .collect();
    format!("[{}]", parts.join(", "))
}

fn number(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// Values as JSON arrays nested in their shape (a number for a scalar).
pub fn nested_json(shape: &[usize], values: &[f64]) -> Value {
    if shape.is_empty() {
        return values.first().map_or(Value::Null, |v| number(*v));
    }
    if shape.len() == 1 {
        return Value::Array(values.iter().map(|v| number(*v)).collect());
    }
    let inner: usize = shape[1..].iter().product::<usize>().max(1);
    Value::Array(
        values
            .chunks(inner)
            .map(|c| nested_json(&shape[1..], c))
            .collect(),
    )
}

fn values_json(shape: &[usize], values: &[f64], show: Show) -> Value {
    if show.summarize(values.len()) {
        let s = Summary::of(values);
        json!({
            "shape": shape,
            "summary": {"min": number(s.min), "max": number(s.max), "mean": number(s.mean), "norm": number(s.norm), "non_finite": s.non_finite()},
        })
    } else {
        nested_json(shape, values)
    }
}

/// One node as JSON.
pub fn node_json(t: &Trace, n: &TraceNode, show: Show) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(n.id));
    o.insert("name".into(), json!(n.name));
    if let Some(k) = &n.key {
        o.insert("key".into(), json!(k));
    }
    if let Some(r) = &n.role {
        o.insert("role".into(), json!(r));
    }
    o.insert("kind".into(), json!(n.kind.name()));
    o.insert("op".into(), json!(n.op.name()));
    o.insert("formula".into(), json!(n.formula));
    o.insert("inputs".into(), json!(n.inputs));
    o.insert("shape".into(), json!(n.shape));
    o.insert("value".into(), values_json(&n.shape, &n.value, show));
    let locals: Vec<Value> = n
        .locals
        .iter()
        .map(|l| {
            let in_shape = t.node(l.input).map_or(&n.shape, |i| &i.shape);
            json!({
                "input": l.input,
                "input_name": t.name_of(l.input),
                "position": l.position,
                "formula": l.formula,
                "value": l.value.as_ref().map(|v| values_json(in_shape, v, show)),
                "backward": l.backward,
                "input_shape": in_shape,
            })
        })
        .collect();
    o.insert("local_derivatives".into(), Value::Array(locals));
    let incoming: Vec<Value> = n
        .incoming
        .iter()
        .map(|c| {
            json!({
                "from": c.from,
                "from_name": t.name_of(c.from),
                "position": c.position,
                "formula": c.formula,
                "value": values_json(&n.shape, &c.value, show),
            })
        })
        .collect();
    o.insert("incoming".into(), Value::Array(incoming));
    o.insert(
        "grad".into(),
        n.grad
            .as_ref()
            .map_or(Value::Null, |g| values_json(&n.shape, g, show)),
    );
    o.insert("paths".into(), json!(n.incoming.len()));
    o.insert("accumulated".into(), json!(n.incoming.len() > 1));
    Value::Object(o)
}

fn nodes_json(t: &Trace, show: Show) -> Value {
    Value::Array(t.nodes.iter().map(|n| node_json(t, n, show)).collect())
}

// ----- reports: rows rendered as a table or Markdown ------------------------

/// One row of a report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    pub step: String,
    pub node: String,
    pub what: String,
    pub formula: String,
    pub value: String,
    /// A detail under the row above (a gradient's single path).
    pub sub: bool,
}

/// A titled group of rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Section {
    pub title: String,
    pub rows: Vec<Row>,
}

/// A whole explanation as text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub title: String,
    pub intro: Vec<String>,
    pub sections: Vec<Section>,
    pub outro: Vec<String>,
}

const HEADERS: [&str; 5] = ["#", "node", "what happens", "formula", "value"];

fn cells(r: &Row) -> [String; 5] {
    let node = if r.sub {
        format!("  ↳ {}", r.node)
    } else {
        r.node.clone()
    };
    [
        r.step.clone(),
        node,
        r.what.clone(),
        r.formula.clone(),
        r.value.clone(),
    ]
}

fn width(s: &str) -> usize {
    s.chars().count()
}

impl Report {
    /// A plain-text table for the terminal.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        out.push_str(&self.title);
        out.push('\n');
        for l in &self.intro {
            out.push_str(&format!("  {l}\n"));
        }
        // One set of column widths for every section, so they line up.
        let mut w = HEADERS.map(width);
        for s in &self.sections {
            for r in &s.rows {
                for (k, c) in cells(r).iter().enumerate() {
                    w[k] = w[k].max(width(c));
                }
            }
        }
        for s in &self.sections {
            out.push('\n');
            out.push_str(&s.title);
            out.push('\n');
            let line = |c: &[String; 5]| {
                let mut l = String::from("  ");
                for k in 0..5 {
                    let cell = &c[k];
                    if k == 0 {
                        l.push_str(&" ".repeat(w[0] - width(cell)));
                        l.push_str(cell);
                    } else if k == 4 {
                        l.push_str(cell);
                    } else {
                        l.push_str(cell);
                        l.push_str(&" ".repeat(w[k] - width(cell)));
                    }
                    if k < 4 {
                        l.push_str("  ");
                    }
                }
                l.trim_end().to_string() + "\n"
            };
            out.push_str(&line(&HEADERS.map(String::from)));
            for r in &s.rows {
                out.push_str(&line(&cells(r)));
            }
        }
        if !self.outro.is_empty() {
            out.push('\n');
            for l in &self.outro {
                out.push_str(&format!("  {l}\n"));
            }
        }
        out
    }

    /// GitHub-flavoured Markdown: a heading, then one table per section.
    pub fn to_markdown(&self) -> String {
        let esc = |s: &str| s.replace('\\', "\\\\").replace('|', "\\|");
        let code = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("`{}`", esc(&s.replace('`', "'")))
            }
        };
        let mut out = format!("# {}\n\n", esc(&self.title));
        for l in &self.intro {
            out.push_str(&format!("- {}\n", esc(l)));
        }
        for s in &self.sections {
            out.push_str(&format!("\n## {}\n\n", esc(&s.title)));
            out.push_str("| # | node | what happens | formula | value |\n");
            out.push_str("|--:|---|---|---|---|\n");
            for r in &s.rows {
                let node = if r.sub {
                    format!("↳ {}", code(&r.node))
                } else {
                    code(&r.node)
                };
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    esc(&r.step),
                    node,
                    esc(&r.what),
                    code(&r.formula),
                    code(&r.value)
                ));
            }
        }
        if !self.outro.is_empty() {
            out.push('\n');
            for l in &self.outro {
                out.push_str(&format!("{}\n\n", esc(l)));
            }
        }
        out
    }
}

fn what_of(n: &TraceNode) -> String {
    let mut base = match n.kind {
        NodeKind::Operation => formula::describe(n.op),
        NodeKind::Parameter => "parameter".into(),
        NodeKind::Variable => "variable".into(),
        NodeKind::Constant => "constant".into(),
    };
    if matches!(n.op, Op::BroadcastTo | Op::Reshape | Op::SumTo) {
        base = format!("{base} to {}", dims_text(&n.shape));
    }
    match (&n.role, n.kind) {
        (Some(r), NodeKind::Operation) => format!("{r}: {base}"),
        (Some(r), _) => r.clone(),
        (None, _) => base,
    }
}

/// The forward pass: one row per node, inputs first.
pub fn forward_rows(t: &Trace, show: Show) -> Vec<Row> {
    t.nodes
        .iter()
        .map(|n| {
            let formula = match n.kind {
                NodeKind::Operation if n.formula == n.name => n.formula.clone(),
                NodeKind::Operation => format!("{} = {}", n.name, n.formula),
                _ => String::new(),
            };
            Row {
                step: n.id.to_string(),
                node: n.display_name(),
                what: what_of(n),
                formula,
                value: fmt_values(&n.shape, &n.value, show),
                sub: false,
            }
        })
        .collect()
}

/// The text of one contribution, with the numbers put in for scalars:
/// `∂f/∂(x + y)·1 = 2·1`.
fn contribution_text(t: &Trace, n: &TraceNode, c: &Incoming) -> String {
    let consumer = match t.node(c.from) {
        Some(x) => x,
        None => return c.formula.clone(),
    };
    let local = consumer.locals.iter().find(|l| l.position == c.position);
    match (local, &consumer.grad) {
        (Some(l), Some(g)) if n.is_scalar() && g.len() == 1 => match (&l.formula, &l.value) {
            // A factor of ±1 needs no numbers: the value column says it.
            (Some(lf), Some(lv)) if lf != "1" && lf != "−1" && lv.len() == 1 => {
                format!("{} = {}·{}", c.formula, num(g[0]), wrap(&num(lv[0])))
            }
            _ => c.formula.clone(),
        },
        _ => c.formula.clone(),
    }
}

/// Terms added up: `0.8 − 0.235` rather than `0.8 + -0.235`.
fn sum_text(parts: &[String]) -> String {
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        match (i, p.strip_prefix('-')) {
            (0, _) => out.push_str(p),
            (_, Some(magnitude)) => out.push_str(&format!(" − {magnitude}")),
            (_, None) => out.push_str(&format!(" + {p}")),
        }
    }
    out
}

/// The backward pass: one row per node with a gradient, output first;
/// where several paths add up, one indented row per path under the total.
pub fn backward_rows(t: &Trace, show: Show) -> Vec<Row> {
    let mut rows = Vec::new();
    for n in t.nodes.iter().rev() {
        let Some(g) = &n.grad else { continue };
        let node = match &n.key {
            Some(k) if *k != n.name => format!("{} ({k})", t.grad_name(&n.name)),
            _ => t.grad_name(&n.name),
        };
        let total = fmt_values(&n.shape, g, show);
        if n.id == t.output {
            rows.push(Row {
                step: n.id.to_string(),
                node,
                what: "seed: the output's gradient with respect to itself".into(),
                formula: "1".into(),
                value: total,
                sub: false,
            });
            continue;
        }
        match n.incoming.len() {
            0 => rows.push(Row {
                step: n.id.to_string(),
                node,
                what: "no contribution".into(),
                formula: String::new(),
                value: total,
                sub: false,
            }),
            1 => {
                let c = &n.incoming[0];
                rows.push(Row {
                    step: n.id.to_string(),
                    node,
                    what: format!("from {}", t.name_of(c.from)),
                    formula: contribution_text(t, n, c),
                    value: total,
                    sub: false,
                });
            }
            k => {
                let parts: Vec<String> = n
                    .incoming
                    .iter()
                    .map(|c| {
                        if n.is_scalar() && c.value.len() == 1 {
                            num(c.value[0])
                        } else {
                            format!("from {}", t.name_of(c.from))
                        }
                    })
                    .collect();
                rows.push(Row {
                    step: n.id.to_string(),
                    node,
                    what: format!("⊕ {k} paths add up"),
                    formula: sum_text(&parts),
                    value: total,
                    sub: false,
                });
                for (i, c) in n.incoming.iter().enumerate() {
                    rows.push(Row {
                        step: String::new(),
                        node: format!("path {}: from {}", i + 1, t.name_of(c.from)),
                        what: String::new(),
                        formula: contribution_text(t, n, c),
                        value: fmt_values(&n.shape, &c.value, show),
                        sub: true,
                    });
                }
            }
        }
    }
    rows
}

// ----- expressions ------------------------------------------------------------

/// A traced scalar expression.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpressionExplanation {
    /// The expression as given.
    pub expression: String,
    /// The variables' values, in order of first appearance.
    pub at: Vec<(String, f64)>,
    pub trace: Trace,
    /// The expression's value.
    pub value: f64,
    /// `∂f/∂v` for every variable, in order of first appearance.
    pub gradients: Vec<(String, f64)>,
}

/// Parses `src`, records it at the values `at` (`x=3,y=2`), and traces its
/// forward and backward pass. The output is named `f`.
pub fn explain_expression(src: &str, at: &str) -> Result<ExpressionExplanation, ExprError> {
    let e = expr::parse(src)?;
    let values = expr::parse_values(at)?;
    let g = Graph::<f64>::new();
    let rec = expr::record(&g, &e, &values)?;
    let mut labels = Labels::new();
    for (name, v) in &rec.variables {
        labels.insert(
            v.id(),
            Label {
                name: name.clone(),
                key: None,
                role: None,
            },
        );
    }
    labels.entry(rec.output.id()).or_insert_with(|| Label {
        name: "f".into(),
        key: None,
        role: None,
    });
    let trace = Trace::record(&g, rec.output, &labels)?;
    let value = rec.output.item()?;
    let gradients = rec
        .variables
        .iter()
        .map(|(name, v)| {
            let d = trace
                .node(v.id())
                .and_then(|n| n.grad.as_ref())
                .and_then(|g| g.first().copied())
                .unwrap_or(0.0);
            (name.clone(), d)
        })
        .collect();
    let at = rec
        .variables
        .iter()
        .map(|(n, _)| {
            let v = values
                .iter()
                .find(|(m, _)| m == n)
                .map_or(f64::NAN, |x| x.1);
            (n.clone(), v)
        })
        .collect();
    Ok(ExpressionExplanation {
        expression: src.to_string(),
        at,
        trace,
        value,
        gradients,
    })
}

impl ExpressionExplanation {
    /// The report: forward pass, local derivatives, backward pass.
    pub fn report(&self, show: Show) -> Report {
        let t = &self.trace;
        let at: Vec<String> = self
            .at
            .iter()
            .map(|(n, v)| format!("{n} = {}", num(*v)))
            .collect();
        let mut intro = vec![format!("f = {}", self.expression)];
        if !at.is_empty() {
            intro.push(format!("at {}", at.join(", ")));
        }
        let mut sections = vec![Section {
            title: "Forward pass (inputs first)".into(),
            rows: forward_rows(t, show),
        }];
        let locals = local_rows(t, show);
        if !locals.is_empty() {
            sections.push(Section {
                title: "Local derivatives (each node with respect to each of its inputs)".into(),
                rows: locals,
            });
        }
        if t.has_backward {
            sections.push(Section {
                title: "Backward pass (chain rule, from f back to the variables)".into(),
                rows: backward_rows(t, show),
            });
        }
        let mut outro = vec![format!("f = {}", num(self.value))];
        for (n, d) in &self.gradients {
            let paths = t.find(n).map_or(0, |x| x.incoming.len());
            let note = if paths > 1 {
                format!(" ({paths} paths added up)")
            } else {
                String::new()
            };
            outro.push(format!("∂f/∂{n} = {}{note}", num(*d)));
        }
        Report {
            title: "Expression".into(),
            intro,
            sections,
            outro,
        }
    }

    /// `{"expression", "at", "value", "gradients", "nodes"}`.
    pub fn to_json(&self, show: Show) -> Value {
        let mut grads = Map::new();
        for (n, d) in &self.gradients {
            grads.insert(n.clone(), number(*d));
        }
        let mut at = Map::new();
        for (n, v) in &self.at {
            at.insert(n.clone(), number(*v));
        }
        json!({
            "expression": self.expression,
            "at": at,
            "value": number(self.value),
            "gradients": grads,
            "nodes": nodes_json(&self.trace, show),
        })
    }
}

/// One row per (node, input): the local derivative's formula and value.
pub fn local_rows(t: &Trace, show: Show) -> Vec<Row> {
    let mut rows = Vec::new();
    for n in &t.nodes {
        // Derivatives with respect to constants are not needed (nor shown).
        let needed = |l: &&Local| t.node(l.input).is_some_and(|i| i.requires_grad);
        for l in n.locals.iter().filter(needed) {
            let input = t.name_of(l.input);
            let d = formula::partial_text(&n.name, input);
            let in_shape = t.node(l.input).map_or(&n.shape, |i| &i.shape);
            let (formula, value) = match (&l.formula, &l.value) {
                (Some(f), Some(v)) => (format!("{d} = {f}"), fmt_values(in_shape, v, show)),
                (Some(f), None) => (format!("{d} = {f}"), String::new()),
                _ => (
                    format!("sends {}", l.backward),
                    "(not elementwise)".to_string(),
                ),
            };
            rows.push(Row {
                step: n.id.to_string(),
                node: n.display_name(),
                what: format!("{}, input {}", formula::describe(n.op), l.position + 1),
                formula,
                value,
                sub: false,
            });
        }
    }
    rows
}

// ----- networks -----------------------------------------------------------------

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
    let mlp = &model.mlp;
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
    let d = model.mlp.in_features();
    let outputs = model.mlp.out_features();
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
    for (key, p) in Module::<f64>::parameters(&model.mlp) {
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
    for (p, step) in Module::<f64>::parameters(&model.mlp).iter().zip(&params) {
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
    let sizes: Vec<String> = model.mlp.spec.sizes.iter().map(|s| s.to_string()).collect();
    let architecture = format!(
        "{} MLP, {} hidden, {} output",
        sizes.join("-"),
        model.mlp.spec.activation.name(),
        model.mlp.spec.output_activation.name()
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
fn record_with_roles<F: Float>(
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
    use chainrule_nn::{Activation, Init, Mlp, MlpSpec};
    let mut scratch = Graph::<f64>::new();
    let net = TinyNet::new(&mut scratch)?;
    let mut graph = Graph::<f64>::new();
    let spec = MlpSpec {
        sizes: vec![2, 2, 1],
        activation: Activation::Sigmoid,
        output_activation: Activation::Sigmoid,
    };
    let mlp = Mlp::new(&mut graph, spec, Init::Zeros, 0)?;
    let values = [net.w1, net.b1, net.w2, net.b2];
    for ((_, p), src) in Module::<f64>::parameters(&mlp).into_iter().zip(values) {
        graph.set_param(p, &scratch.param_value(src)?)?;
    }
    let model = Model {
        graph,
        mlp,
        loss: LossKind::Mse,
        standardizer: None,
    };
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
        let target = if self.loss_kind == LossKind::Cce {
            format!(
                "class {}",
                num(self.target.first().copied().unwrap_or(f64::NAN))
            )
        } else {
            fmt_values(&[self.target.len()], &self.target, show)
        };
        intro.push(format!("target t = {target}"));
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
