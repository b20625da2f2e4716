//! The computational graph of a [`Trace`] drawn as Mermaid (like the
//! lesson's diagrams), Graphviz DOT, or SVG with a layered layout of its own
//! ([`layout`]: ranks by depth from the inputs, long edges routed through
//! gaps, left to right or top to bottom to fit a screen), and PNG
//! rasterized from that SVG with `resvg` and an embedded font, so no
//! Graphviz is needed.
//!
//! Every node shows its name (and formula), operation, shape, value and
//! gradient: the numbers for small tensors, a summary for larger ones.
//! Forward edges are solid; backward edges (one per gradient contribution,
//! labelled with its value for scalars) are dotted; the output (loss) node
//! is highlighted.
//!
//! Any network can also be drawn layer by layer ([`layers`]: one box per
//! layer, residual blocks as groups, or each layer's operations grouped),
//! top to bottom ([`layer_layout`](mod@layer_layout), [`layer_picture`], [`layer_text`]).

use crate::formula::num;
use crate::trace::{dims_text, nested_text, NodeKind, Trace, TraceNode};
use chainrule::Summary;
use std::fmt::Write;

pub mod layer_layout;
pub mod layer_picture;
pub mod layer_text;
pub mod layers;
mod layout;
mod picture;

pub use layer_layout::{layer_layout, LayerLayout};
pub use layer_picture::layer_svg;
pub use layer_text::{layer_dot, layer_mermaid};
pub use layers::{layer_view, ops_view, LayerGraph};
pub use layout::{layout, layout_in, Direction, Layout, Placed, Rect, Route, TRACK_HALF};
pub use picture::{png, svg, svg_of, svg_size, svg_to_png};

/// DejaVu Sans Mono (Bitstream Vera licence, see
/// `assets/DejaVuSansMono-LICENSE.txt`), used to render text in PNGs.
pub static FONT: &[u8] = include_bytes!("../assets/DejaVuSansMono.ttf");

/// The font family named in SVGs.
pub const FONT_FAMILY: &str = "DejaVu Sans Mono";

/// Tensors with at most this many elements show their values in a node.
const SHOW_VALUES_UP_TO: usize = 4;

/// Why a picture could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DrawError {
    /// The SVG could not be parsed back (a bug) or rendered.
    #[error("cannot render the PNG: {0}")]
    Render(String),
}

fn values_text(shape: &[usize], v: &[f64]) -> String {
    if v.len() == 1 {
        return num(v[0]);
    }
    if v.len() <= SHOW_VALUES_UP_TO {
        return nested_text(shape, v);
    }
    let s = Summary::of(v);
    format!(
        "mean {}, norm {}, range [{}, {}]",
        num(s.mean),
        num(s.norm),
        num(s.min),
        num(s.max)
    )
}

fn kind_text(n: &TraceNode) -> String {
    let shape = if n.shape.is_empty() {
        "scalar".to_string()
    } else {
        dims_text(&n.shape)
    };
    let what = match n.kind {
        NodeKind::Operation => n.op.name().to_string(),
        NodeKind::Parameter => "parameter".into(),
        NodeKind::Variable => "variable".into(),
        NodeKind::Constant => "constant".into(),
    };
    format!("{what} · {shape}")
}

/// The lines of a node's label: name (= formula), op · shape, value, grad.
pub fn label_lines(n: &TraceNode) -> Vec<String> {
    let mut title = n.display_name();
    if n.kind == NodeKind::Operation && n.formula != n.name {
        title = format!("{title} = {}", n.formula);
    }
    let mut lines = vec![title, kind_text(n)];
    lines.push(format!("value {}", values_text(&n.shape, &n.value)));
    if let Some(g) = &n.grad {
        let paths = match n.incoming.len() {
            0 | 1 => String::new(),
            k => format!(" (⊕ {k} paths)"),
        };
        lines.push(format!("grad {}{paths}", values_text(&n.shape, g)));
    }
    lines
}

/// A forward edge (input → consumer) or a backward one (consumer → input,
/// carrying a gradient contribution).
#[derive(Clone, Debug, PartialEq)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    /// Which input of the consumer.
    pub position: usize,
    pub backward: bool,
    /// For backward edges of scalars: the contribution's value.
    pub label: Option<String>,
}

/// Every edge of the drawing: forward edges first (in node order), then
/// the backward ones in the order the reverse loop made them.
pub fn edges(t: &Trace) -> Vec<Edge> {
    let mut out = Vec::new();
    for n in &t.nodes {
        for (k, &i) in n.inputs.iter().enumerate() {
            if t.node(i).is_some() {
                out.push(Edge {
                    from: i,
                    to: n.id,
                    position: k,
                    backward: false,
                    label: None,
                });
            }
        }
    }
    let mut back: Vec<(usize, Edge)> = Vec::new();
    for n in &t.nodes {
        for c in &n.incoming {
            if t.node(c.from).is_none() {
                continue;
            }
            back.push((
                c.from,
                Edge {
                    from: c.from,
                    to: n.id,
                    position: c.position,
                    backward: true,
                    label: (c.value.len() == 1).then(|| num(c.value[0])),
                },
            ));
        }
    }
    // Output first, as the reverse loop runs.
    back.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.position.cmp(&b.1.position)));
    out.extend(back.into_iter().map(|(_, e)| e));
    out
}

// ----- Mermaid ------------------------------------------------------------------

/// Escapes text for a quoted Mermaid label (entity codes, which Mermaid
/// decodes): `#`, `"`, `<`, `>`, `&`.
pub fn mermaid_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A Mermaid flowchart (`flowchart LR`).
pub fn mermaid(t: &Trace, title: Option<&str>) -> String {
    let mut s = String::from("flowchart LR\n");
    if let Some(title) = title {
        for line in title.lines() {
            let _ = writeln!(s, "  %% {line}");
        }
    }
    for n in &t.nodes {
        let label: Vec<String> = label_lines(n).iter().map(|l| mermaid_escape(l)).collect();
        let _ = writeln!(s, "  n{}[\"{}\"]", n.id, label.join("<br/>"));
    }
    let all = edges(t);
    let mut back = Vec::new();
    for (i, e) in all.iter().enumerate() {
        if e.backward {
            back.push(i.to_string());
            match &e.label {
                Some(l) => {
                    let _ = writeln!(s, "  n{} -.->|\"{}\"| n{}", e.from, mermaid_escape(l), e.to);
                }
                None => {
                    let _ = writeln!(s, "  n{} -.-> n{}", e.from, e.to);
                }
            }
        } else {
            let _ = writeln!(s, "  n{} --> n{}", e.from, e.to);
        }
    }
    s.push_str("  classDef output fill:#fde68a,stroke:#b45309,stroke-width:3px\n");
    s.push_str("  classDef param fill:#dbeafe,stroke:#1d4ed8\n");
    s.push_str("  classDef variable fill:#dcfce7,stroke:#15803d\n");
    s.push_str("  classDef constant fill:#f1f5f9,stroke:#94a3b8\n");
    for class in ["param", "variable", "constant"] {
        let ids: Vec<String> = t
            .nodes
            .iter()
            .filter(|n| n.id != t.output && class_of(n) == class)
            .map(|n| format!("n{}", n.id))
            .collect();
        if !ids.is_empty() {
            let _ = writeln!(s, "  class {} {class}", ids.join(","));
        }
    }
    let _ = writeln!(s, "  class n{} output", t.output);
    if !back.is_empty() {
        let _ = writeln!(
            s,
            "  linkStyle {} stroke:#dc2626,color:#dc2626",
            back.join(",")
        );
    }
    s
}

fn class_of(n: &TraceNode) -> &'static str {
    match n.kind {
        NodeKind::Parameter => "param",
        NodeKind::Variable => "variable",
        NodeKind::Constant => "constant",
        NodeKind::Operation => "op",
    }
}

// ----- DOT ------------------------------------------------------------------------

/// Escapes text for a quoted DOT string.
pub fn dot_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

fn fill_of(n: &TraceNode, output: usize) -> (&'static str, &'static str) {
    if n.id == output {
        return ("#fde68a", "#b45309");
    }
    match n.kind {
        NodeKind::Parameter => ("#dbeafe", "#1d4ed8"),
        NodeKind::Variable => ("#dcfce7", "#15803d"),
        NodeKind::Constant => ("#f1f5f9", "#94a3b8"),
        NodeKind::Operation => ("#ffffff", "#334155"),
    }
}

/// A Graphviz digraph (left to right).
pub fn dot(t: &Trace, title: Option<&str>) -> String {
    let mut s = String::from("digraph chainrule {\n  rankdir=LR;\n");
    if let Some(title) = title {
        let _ = writeln!(s, "  label=\"{}\";\n  labelloc=t;", dot_escape(title));
    }
    let _ = writeln!(
        s,
        "  node [shape=box, style=\"rounded,filled\", fontname=\"{FONT_FAMILY}\", fontsize=11];"
    );
    s.push_str("  edge [fontname=\"DejaVu Sans Mono\", fontsize=10];\n");
    for n in &t.nodes {
        let (fill, stroke) = fill_of(n, t.output);
        let pen = if n.id == t.output { 3 } else { 1 };
        let _ = writeln!(
            s,
            "  n{} [label=\"{}\", fillcolor=\"{fill}\", color=\"{stroke}\", penwidth={pen}];",
            n.id,
            dot_escape(&label_lines(n).join("\n"))
        );
    }
    for e in edges(t) {
        if e.backward {
            let label = e
                .label
                .map(|l| format!(", label=\"{}\"", dot_escape(&l)))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "  n{} -> n{} [style=dotted, color=\"#dc2626\", fontcolor=\"#dc2626\", constraint=false{label}];",
                e.from, e.to
            );
        } else {
            let _ = writeln!(s, "  n{} -> n{};", e.from, e.to);
        }
    }
    s.push_str("}\n");
    s
}
