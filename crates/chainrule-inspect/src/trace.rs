//! Step-by-step traces of a forward and backward pass, generated from the
//! recorded graph ([`Graph::nodes`]) and the backward pass's contributions
//! ([`Graph::backward_trace`]): for every node its formula and value, the
//! local derivative towards each input, the gradient arriving from each
//! consumer and the total where several paths add up.
//!
//! [`explain_expression`] traces a scalar expression, [`explain_network`]
//! one training step of an MLP (forward, backward, an SGD update and the
//! loss after it). Both render as a terminal table, Markdown or JSON.
//!
//! This file records a [`Trace`]; `values` writes numbers as text and JSON,
//! `report` renders rows, `expression` and `network` trace the two kinds of
//! subject.

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

mod element;
mod element_pool;
mod element_text;
mod expression;
mod layers;
mod layers_report;
mod network;
mod report;
mod values;

pub use element::{parse_element, ElementExplanation, ElementSpec, Line};
pub use expression::*;
pub use layers::*;
pub use network::*;
pub use report::*;
pub use values::*;

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
