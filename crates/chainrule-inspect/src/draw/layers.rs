//! Any network drawn layer by layer: the graph of boxes, groups and edges
//! that [`layer_layout`](mod@super::layer_layout) places and
//! [`layer_picture`](super::layer_picture) / [`layer_text`](super::layer_text)
//! draw.
//!
//! - [`layer_view`]: one box per layer (its number, text, output shape per
//!   example and parameter count), the input, the output and the loss; a
//!   residual block is a group holding its body, with the skip edge going
//!   around it into an `add` box, where the two paths meet. Built from the
//!   network's summary alone: nothing runs.
//! - [`ops_view`]: every layer expanded to the operations it records on the
//!   graph in one forward pass on one example (and the loss after it), one
//!   group per layer.

use chainrule::{Float, Graph, Op};
use chainrule_nn::loss::LossTarget;
use chainrule_nn::network::{Layer, LayerRow};
use chainrule_nn::{LossKind, Network, Result};
use std::collections::HashMap;

/// What a box stands for (it chooses the colours).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoxKind {
    Input,
    Layer,
    /// Where a residual block's skip and body meet: `x + body(x)`.
    Add,
    Output,
    Target,
    Loss,
    /// An operation on the graph (the ops view).
    Op,
    Param,
    Constant,
}

/// One box of the drawing.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerBox {
    /// A short identifier, unique in the drawing (`input`, `l3_1`, `n42`).
    pub id: String,
    pub kind: BoxKind,
    /// The layer's number as people count (`3.1`), for layers and adds.
    pub number: Option<String>,
    /// The layer's text (`conv2d(4,3,pad=1)`), the operation's name, or
    /// what the box is (`input`, `loss`).
    pub text: String,
    /// Its output's shape: per example in the layer view, the whole tensor
    /// (batch of one) in the ops view.
    pub shape: Vec<usize>,
    /// The layer's parameter count (layer boxes).
    pub params: Option<usize>,
    /// A further line (the loss's reading, a parameter's name).
    pub detail: Option<String>,
    /// The innermost group holding it.
    pub group: Option<usize>,
    /// Drawn beside the box it feeds rather than above it (parameters,
    /// constants, the target).
    pub side: bool,
}

impl LayerBox {
    /// The lines written in the box.
    pub fn lines(&self) -> Vec<String> {
        let head = match &self.number {
            Some(n) => format!("{n}  {}", self.text),
            None => self.text.clone(),
        };
        let mut second = match self.kind {
            BoxKind::Layer | BoxKind::Add | BoxKind::Output => {
                format!("out {}", shape_text(&self.shape))
            }
            BoxKind::Loss => "scalar".to_string(),
            BoxKind::Target if self.shape.is_empty() => self.detail.clone().unwrap_or_default(),
            _ => shape_text(&self.shape),
        };
        if let Some(p) = self.params.filter(|&p| p > 0) {
            second.push_str(&format!(" · {} params", thousands(p)));
        }
        let mut lines = vec![head, second];
        if !(self.kind == BoxKind::Target && self.shape.is_empty()) {
            lines.extend(self.detail.clone());
        }
        lines
    }
}

/// A group of boxes: a residual block, or one layer's operations.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub label: String,
    pub parent: Option<usize>,
    pub residual: bool,
}

/// An edge: a tensor flowing from one box into another.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerEdge {
    pub from: usize,
    pub to: usize,
    /// The shape flowing along (layer view).
    pub label: Option<String>,
    /// A residual block's skip connection.
    pub skip: bool,
}

/// A network drawn as boxes, groups and edges, boxes in an order where
/// every edge runs forward.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LayerGraph {
    pub title: String,
    /// A second line under the title.
    pub note: Option<String>,
    pub boxes: Vec<LayerBox>,
    pub groups: Vec<Group>,
    pub edges: Vec<LayerEdge>,
}

impl LayerGraph {
    /// The index of the box with identifier `id`.
    pub fn find(&self, id: &str) -> Option<usize> {
        self.boxes.iter().position(|b| b.id == id)
    }

    /// The depth of group `g` (0 for a top-level group).
    pub fn depth(&self, g: usize) -> usize {
        let mut d = 0;
        let mut p = self.groups[g].parent;
        while let Some(q) = p {
            d += 1;
            p = self.groups[q].parent;
        }
        d
    }

    /// Group `g` and its ancestors, innermost first.
    pub fn chain(&self, g: Option<usize>) -> Vec<usize> {
        let mut out = Vec::new();
        let mut p = g;
        while let Some(q) = p {
            out.push(q);
            p = self.groups[q].parent;
        }
        out
    }

    fn push(&mut self, b: LayerBox) -> usize {
        self.boxes.push(b);
        self.boxes.len() - 1
    }

    fn edge(&mut self, from: usize, to: usize, label: Option<String>, skip: bool) {
        self.edges.push(LayerEdge {
            from,
            to,
            label,
            skip,
        });
    }
}

/// `4×8×8`, `scalar` for no dimension.
pub fn shape_text(shape: &[usize]) -> String {
    if shape.is_empty() {
        return "scalar".into();
    }
    let d: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    d.join("×")
}

/// `61706` → `61,706`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (k, c) in s.chars().enumerate() {
        if k > 0 && (s.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn plain(id: String, kind: BoxKind, text: &str, shape: Vec<usize>) -> LayerBox {
    LayerBox {
        id,
        kind,
        number: None,
        text: text.to_string(),
        shape,
        params: None,
        detail: None,
        group: None,
        side: false,
    }
}

/// The identifier of a layer's box: `l3_1` for layer 3.1.
fn layer_id(row: &LayerRow) -> String {
    format!("l{}", row.number().replace('.', "_"))
}

/// The loss box and the target beside it, fed by `from` (the output).
fn loss_boxes(lg: &mut LayerGraph, from: usize, outputs: usize, loss: LossKind, reading: &str) {
    let out_shape = vec![outputs];
    let mut target = plain(
        "target".into(),
        BoxKind::Target,
        "target",
        out_shape.clone(),
    );
    target.side = true;
    if loss == LossKind::Cce {
        target.shape = Vec::new();
        target.detail = Some("a class index".into());
    }
    let t = lg.push(target);
    let mut l = plain("loss".into(), BoxKind::Loss, "loss", Vec::new());
    l.detail = Some(reading.to_string());
    let l = lg.push(l);
    lg.edge(from, l, Some(shape_text(&out_shape)), false);
    lg.edge(t, l, None, false);
}

/// How `loss` reads the network's output, or `None` where it cannot
/// (the output is not flat, or not what the loss takes).
fn loss_reading<F: Float>(net: &Network<F>, loss: Option<LossKind>) -> Option<(LossKind, String)> {
    let loss = loss?;
    if net.output_shape().len() != 1 {
        return None;
    }
    let reading = loss.reading(net.output_activation()).ok()?;
    Some((loss, loss.describe(reading).to_string()))
}

/// One box per layer; see the [module](self) documentation. With `loss`,
/// the output feeds a loss box (and a target beside it).
pub fn layer_view<F: Float>(net: &Network<F>, loss: Option<LossKind>, title: &str) -> LayerGraph {
    let mut lg = LayerGraph {
        title: title.to_string(),
        ..LayerGraph::default()
    };
    let input = lg.push(plain(
        "input".into(),
        BoxKind::Input,
        "input",
        net.input_shape().to_vec(),
    ));
    let rows = net.summary();
    let mut next = 0;
    let last = sequence(
        &mut lg,
        net.layers(),
        rows,
        &mut next,
        input,
        net.input_shape(),
        None,
    );
    lg.note = Some(if lg.groups.is_empty() {
        "shapes per example".into()
    } else {
        "shapes per example; a residual block's skip path goes around its body".into()
    });
    let out_shape = net.output_shape().to_vec();
    let output = lg.push(plain(
        "output".into(),
        BoxKind::Output,
        "output",
        out_shape.clone(),
    ));
    lg.edge(last, output, Some(shape_text(&out_shape)), false);
    if let Some((kind, reading)) = loss_reading(net, loss) {
        loss_boxes(&mut lg, output, out_shape[0], kind, &reading);
    }
    lg
}

/// The boxes of `layers` after box `from` (whose output has `shape`), in
/// summary order; returns the last box.
fn sequence(
    lg: &mut LayerGraph,
    layers: &[Layer],
    rows: &[LayerRow],
    next: &mut usize,
    mut from: usize,
    shape: &[usize],
    group: Option<usize>,
) -> usize {
    let mut shape = shape.to_vec();
    for layer in layers {
        match layer {
            Layer::Residual(body) => {
                lg.groups.push(Group {
                    label: String::new(),
                    parent: group,
                    residual: true,
                });
                let g = lg.groups.len() - 1;
                let body_end = sequence(lg, body, rows, next, from, &shape, Some(g));
                let Some(row) = rows.get(*next) else {
                    return from;
                };
                *next += 1;
                lg.groups[g].label = format!(
                    "{}  residual: x + body(x) · {} params",
                    row.number(),
                    thousands(row.params)
                );
                let mut add = plain(
                    format!("{}_add", layer_id(row)),
                    BoxKind::Add,
                    "add",
                    row.output.clone(),
                );
                add.number = Some(row.number());
                add.text = "add: x + body(x)".into();
                add.group = Some(g);
                let add = lg.push(add);
                let body_shape = if body_end == from {
                    shape.clone()
                } else {
                    lg.boxes[body_end].shape.clone()
                };
                lg.edge(body_end, add, Some(shape_text(&body_shape)), false);
                if body_end != from {
                    lg.edge(
                        from,
                        add,
                        Some(format!("skip {}", shape_text(&shape))),
                        true,
                    );
                }
                from = add;
                shape = row.output.clone();
            }
            _ => {
                let Some(row) = rows.get(*next) else {
                    return from;
                };
                *next += 1;
                let mut b = plain(layer_id(row), BoxKind::Layer, &row.text, row.output.clone());
                b.number = Some(row.number());
                b.params = Some(row.params);
                b.group = group;
                let b = lg.push(b);
                lg.edge(from, b, Some(shape_text(&shape)), false);
                from = b;
                shape = row.output.clone();
            }
        }
    }
    from
}

/// Every layer expanded to the operations it records in a forward pass on
/// one example of zeros (and the loss's after it), one group per layer;
/// parameters and constants beside the operation they feed. `g` is the
/// graph holding the network's parameters; the pass is recorded on it.
pub fn ops_view<F: Float>(
    g: &Graph<F>,
    net: &Network<F>,
    loss: Option<LossKind>,
    title: &str,
) -> Result<LayerGraph> {
    let mut dims = vec![1];
    dims.extend_from_slice(net.input_shape());
    let zeros = vec![F::zero(); dims.iter().product()];
    let x = g.input_from(&dims, &zeros)?;
    let start = g.len();
    // Each node's layer (summary index): the innermost, since a residual
    // block's span holds its body's and is reported after it.
    let mut owner: HashMap<usize, usize> = HashMap::new();
    let out = net.forward_observed(g, x, &mut |v| {
        for n in v.nodes.clone() {
            owner.entry(n).or_insert(v.index);
        }
    })?;
    let forward_end = g.len();
    let reading = loss_reading(net, loss);
    if let Some((kind, _)) = &reading {
        let outputs = net.out_features();
        match kind {
            LossKind::Cce => {
                kind.of_output(net.output_activation(), out, LossTarget::Classes(&[0]))?
            }
            _ => {
                let t = g.input_from(&[1, outputs], &vec![F::zero(); outputs])?;
                kind.of_output(net.output_activation(), out, LossTarget::Values(t))?
            }
        };
    }
    let rows = net.summary();
    let infos = g.nodes();
    let names: HashMap<usize, String> = net
        .parameters()
        .into_iter()
        .map(|(name, p)| (p.index(), name))
        .collect();

    let mut lg = LayerGraph {
        title: title.to_string(),
        ..LayerGraph::default()
    };
    // One group per layer that recorded something (and every residual
    // block), parents by path.
    let mut used = vec![false; rows.len()];
    for &i in owner.values() {
        used[i] = true;
    }
    let mut group_of_row: Vec<Option<usize>> = vec![None; rows.len()];
    let by_path: HashMap<&str, usize> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.path.as_str(), i))
        .collect();
    // Pre-order (parents before children): sort by path depth.
    let mut order: Vec<usize> = (0..rows.len()).filter(|&i| used[i]).collect();
    order.sort_by_key(|&i| rows[i].path.matches(".body.").count());
    for i in order {
        let row = &rows[i];
        let parent = row
            .path
            .rsplit_once(".body.")
            .and_then(|(p, _)| by_path.get(p))
            .and_then(|&p| group_of_row[p]);
        let residual = row.text.starts_with("residual");
        lg.groups.push(Group {
            label: if residual {
                format!("{}  residual: x + body(x)", row.number())
            } else {
                format!("{}  {}", row.number(), row.text)
            },
            parent,
            residual,
        });
        group_of_row[i] = Some(lg.groups.len() - 1);
    }
    let empty: Vec<String> = (0..rows.len())
        .filter(|&i| !used[i] && !rows[i].text.starts_with("residual"))
        .map(|i| format!("{} {}", rows[i].number(), rows[i].text))
        .collect();
    if !empty.is_empty() {
        lg.note = Some(format!(
            "no operation of their own here: {}",
            empty.join(", ")
        ));
    }
    let loss_group = (forward_end < g.len()).then(|| {
        lg.groups.push(Group {
            label: "loss".into(),
            parent: None,
            residual: false,
        });
        lg.groups.len() - 1
    });

    // The nodes drawn: the input, every node of the pass and loss, and the
    // parameters they read (placed just before their first reader).
    let mut index: HashMap<usize, usize> = HashMap::new();
    let x_box = lg.push(plain(
        "input".into(),
        BoxKind::Input,
        "input x",
        dims.clone(),
    ));
    index.insert(x.id(), x_box);
    for info in &infos[start..] {
        let group = match owner.get(&info.id) {
            Some(&i) => group_of_row[i],
            None if info.id >= forward_end => loss_group,
            None => None,
        };
        for p in info.inputs.iter().flatten() {
            if index.contains_key(p) || infos[*p].op != Op::Param {
                continue;
            }
            let mut b = plain(
                format!("n{p}"),
                BoxKind::Param,
                "parameter",
                infos[*p].shape.dims().to_vec(),
            );
            b.text = names
                .get(p)
                .cloned()
                .unwrap_or_else(|| format!("parameter {p}"));
            b.group = group;
            b.side = true;
            index.insert(*p, lg.push(b));
        }
        let (kind, text) = match info.op {
            Op::Leaf => (BoxKind::Constant, "constant"),
            Op::Param => (BoxKind::Param, "parameter"),
            op => (BoxKind::Op, op.name()),
        };
        let mut b = plain(
            format!("n{}", info.id),
            kind,
            text,
            info.shape.dims().to_vec(),
        );
        b.group = group;
        b.side = kind == BoxKind::Constant;
        if info.id == out.id() {
            b.detail = Some("the network's output".into());
        }
        index.insert(info.id, lg.push(b));
    }
    if let Some((_, r)) = &reading {
        if let Some(last) = lg.boxes.last_mut() {
            last.kind = BoxKind::Loss;
            last.detail = Some(format!("loss: {r}"));
        }
    }
    for info in &infos[start..] {
        for p in info.inputs.iter().flatten() {
            if let (Some(&a), Some(&b)) = (index.get(p), index.get(&info.id)) {
                lg.edge(a, b, None, false);
            }
        }
    }
    Ok(lg)
}
