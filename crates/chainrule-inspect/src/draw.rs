//! The computational graph of a [`Trace`] drawn as Mermaid (like the
//! lesson's diagrams), Graphviz DOT, or SVG with a layered layout of its own
//! (nodes in columns by depth from the inputs), and PNG rasterized from that
//! SVG with `resvg` and an embedded font, so no Graphviz is needed.
//!
//! Every node shows its name (and formula), operation, shape, value and
//! gradient: the numbers for small tensors, a summary for larger ones.
//! Forward edges are solid; backward edges (one per gradient contribution,
//! labelled with its value for scalars) are dotted; the output (loss) node
//! is highlighted.

use crate::formula::num;
use crate::trace::{dims_text, nested_text, NodeKind, Trace, TraceNode};
use chainrule::Summary;
use std::collections::HashMap;
use std::fmt::Write;

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

// ----- SVG ------------------------------------------------------------------------

const FONT_SIZE: f64 = 13.0;
/// DejaVu Sans Mono advances every glyph by 1233/2048 em.
const CHAR_W: f64 = FONT_SIZE * 1233.0 / 2048.0;
const LINE_H: f64 = 17.0;
const PAD_X: f64 = 10.0;
const PAD_Y: f64 = 8.0;
const COL_GAP: f64 = 90.0;
const ROW_GAP: f64 = 30.0;
const MARGIN: f64 = 24.0;
/// Longest label line, in characters (longer ones are cut with `…`).
const MAX_CHARS: usize = 80;

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn clip(s: &str) -> String {
    if s.chars().count() <= MAX_CHARS {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX_CHARS - 1).collect();
        t.push('…');
        t
    }
}

/// Where each node goes: its column and its box.
#[derive(Clone, Debug, PartialEq)]
pub struct Placed {
    pub id: usize,
    pub column: usize,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    pub lines: Vec<String>,
}

/// A layered layout: operations in columns by their depth from the inputs,
/// each leaf one column before its first consumer; within a column, nodes
/// ordered by the mean position of their neighbours (a few sweeps).
pub fn layout(t: &Trace) -> (Vec<Placed>, f64, f64) {
    let index: HashMap<usize, usize> = t.nodes.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
    let n = t.nodes.len();
    let mut depth = vec![0usize; n];
    for (i, node) in t.nodes.iter().enumerate() {
        depth[i] = node
            .inputs
            .iter()
            .filter_map(|id| index.get(id))
            .map(|&j| depth[j] + 1)
            .max()
            .unwrap_or(0);
    }
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, node) in t.nodes.iter().enumerate() {
        for id in &node.inputs {
            if let Some(&j) = index.get(id) {
                consumers[j].push(i);
            }
        }
    }
    for i in 0..n {
        if t.nodes[i].inputs.is_empty() {
            if let Some(d) = consumers[i].iter().map(|&c| depth[c]).min() {
                depth[i] = d.saturating_sub(1);
            }
        }
    }
    let columns = depth.iter().copied().max().map_or(0, |d| d + 1);
    let mut cols: Vec<Vec<usize>> = vec![Vec::new(); columns];
    for (i, &d) in depth.iter().enumerate() {
        cols[d].push(i);
    }
    // Barycentre sweeps: left to right by inputs, right to left by consumers.
    let mut pos = vec![0f64; n];
    let set_pos = |cols: &Vec<Vec<usize>>, pos: &mut Vec<f64>| {
        for c in cols {
            let len = c.len().max(1) as f64;
            for (r, &i) in c.iter().enumerate() {
                pos[i] = (r as f64 + 0.5) / len;
            }
        }
    };
    set_pos(&cols, &mut pos);
    // Orders column `c` by the mean position of each node's neighbours
    // (its own position when it has none), then renumbers every column.
    let reorder = |cols: &mut Vec<Vec<usize>>,
                   pos: &mut Vec<f64>,
                   c: usize,
                   neighbours: &dyn Fn(usize) -> Vec<usize>| {
        let key = |i: usize| -> f64 {
            let nb = neighbours(i);
            if nb.is_empty() {
                pos[i]
            } else {
                nb.iter().map(|&j| pos[j]).sum::<f64>() / nb.len() as f64
            }
        };
        let mut keyed: Vec<(f64, usize)> = cols[c].iter().map(|&i| (key(i), i)).collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        cols[c] = keyed.into_iter().map(|(_, i)| i).collect();
        set_pos(cols, pos);
    };
    let inputs_and_consumers = |i: usize| -> Vec<usize> {
        t.nodes[i]
            .inputs
            .iter()
            .filter_map(|id| index.get(id).copied())
            .chain(consumers[i].iter().copied())
            .collect()
    };
    let consumers_of = |i: usize| -> Vec<usize> { consumers[i].clone() };
    for _ in 0..4 {
        for c in 1..columns {
            reorder(&mut cols, &mut pos, c, &inputs_and_consumers);
        }
        for c in (0..columns.saturating_sub(1)).rev() {
            reorder(&mut cols, &mut pos, c, &consumers_of);
        }
    }
    let lines: Vec<Vec<String>> = t
        .nodes
        .iter()
        .map(|node| label_lines(node).iter().map(|l| clip(l)).collect())
        .collect();
    let size = |i: usize| -> (f64, f64) {
        let chars = lines[i]
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(1);
        (
            chars as f64 * CHAR_W + 2.0 * PAD_X,
            lines[i].len() as f64 * LINE_H + 2.0 * PAD_Y,
        )
    };
    let col_w: Vec<f64> = cols
        .iter()
        .map(|c| c.iter().map(|&i| size(i).0).fold(0.0, f64::max))
        .collect();
    let col_h: Vec<f64> = cols
        .iter()
        .map(|c| {
            c.iter().map(|&i| size(i).1).sum::<f64>() + ROW_GAP * (c.len().saturating_sub(1)) as f64
        })
        .collect();
    let height = col_h.iter().copied().fold(0.0, f64::max);
    let mut placed = Vec::with_capacity(n);
    let mut x = MARGIN;
    for (c, col) in cols.iter().enumerate() {
        let mut y = (height - col_h[c]) / 2.0;
        for &i in col {
            let (w, h) = size(i);
            placed.push(Placed {
                id: t.nodes[i].id,
                column: c,
                x: x + (col_w[c] - w) / 2.0,
                y,
                w,
                h,
                lines: lines[i].clone(),
            });
            y += h + ROW_GAP;
        }
        x += col_w[c] + COL_GAP;
    }
    let width = x - COL_GAP + MARGIN;
    (placed, width.max(2.0 * MARGIN), height)
}

/// The graph as a standalone SVG picture.
pub fn svg(t: &Trace, title: Option<&str>) -> String {
    let (placed, width, body_h) = layout(t);
    let title_h = if title.is_some() { 34.0 } else { 10.0 };
    let legend_h = 34.0;
    let top = title_h + 10.0;
    let height = top + body_h + legend_h + MARGIN;
    let width = width.max(560.0);
    let at: HashMap<usize, &Placed> = placed.iter().map(|p| (p.id, p)).collect();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\" font-family=\"{FONT_FAMILY}, monospace\" font-size=\"{FONT_SIZE}\">",
        w = width,
        h = height
    );
    s.push_str("  <defs>\n");
    s.push_str("    <marker id=\"fwd\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#475569\"/></marker>\n");
    s.push_str("    <marker id=\"bwd\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#dc2626\"/></marker>\n");
    s.push_str("  </defs>\n");
    let _ = writeln!(
        s,
        "  <rect x=\"0\" y=\"0\" width=\"{width:.0}\" height=\"{height:.0}\" fill=\"#ffffff\"/>"
    );
    if let Some(title) = title {
        let _ = writeln!(
            s,
            "  <text x=\"{MARGIN}\" y=\"26\" font-size=\"15\" fill=\"#0f172a\">{}</text>",
            xml_escape(&clip_to(
                title,
                ((width - 2.0 * MARGIN) / (15.0 * 0.602)) as usize
            ))
        );
    }
    // Edges under the boxes.
    let all = edges(t);
    // Backward edges arriving at one node come in one below the other.
    let mut arrivals: HashMap<usize, usize> = HashMap::new();
    let mut slot = Vec::with_capacity(all.len());
    for e in &all {
        if e.backward {
            let k = arrivals.entry(e.to).or_insert(0);
            slot.push(*k);
            *k += 1;
        } else {
            slot.push(0);
        }
    }
    let mut labels = String::new();
    for (e, &k) in all.iter().zip(&slot) {
        let (Some(a), Some(b)) = (at.get(&e.from), at.get(&e.to)) else {
            continue;
        };
        let off = if e.position == 0 { -4.0 } else { 4.0 };
        if e.backward {
            // From the consumer's left side back to the input's right side,
            // below the forward edge.
            let (x1, y1) = (a.x, top + a.y + a.h / 2.0 + 8.0 + off);
            let arrive = (b.h / 2.0 + 6.0 + 15.0 * k as f64).min(b.h - 4.0);
            let (x2, y2) = (b.x + b.w, top + b.y + arrive);
            let dx = ((x1 - x2).abs() / 2.0).max(30.0);
            let _ = writeln!(
                s,
                "  <path d=\"M{x1:.1},{y1:.1} C{:.1},{y1:.1} {:.1},{y2:.1} {x2:.1},{y2:.1}\" fill=\"none\" stroke=\"#dc2626\" stroke-width=\"1.3\" stroke-dasharray=\"5,4\" marker-end=\"url(#bwd)\"/>",
                x1 - dx,
                x2 + dx
            );
            if let Some(l) = &e.label {
                // The label near the receiving end, where it cannot be
                // mistaken for another path's.
                let (lx, ly) = (x2 + 10.0, y2 - 3.0);
                let _ = writeln!(
                    labels,
                    "  <text x=\"{lx:.1}\" y=\"{ly:.1}\" font-size=\"11\" fill=\"#dc2626\" stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\">{}</text>",
                    xml_escape(l)
                );
            }
        } else {
            let (x1, y1) = (a.x + a.w, top + a.y + a.h / 2.0 - 6.0);
            let (x2, y2) = (b.x, top + b.y + b.h / 2.0 - 6.0 + off);
            let dx = ((x2 - x1).abs() / 2.0).max(30.0);
            let _ = writeln!(
                s,
                "  <path d=\"M{x1:.1},{y1:.1} C{:.1},{y1:.1} {:.1},{y2:.1} {x2:.1},{y2:.1}\" fill=\"none\" stroke=\"#475569\" stroke-width=\"1.4\" marker-end=\"url(#fwd)\"/>",
                x1 + dx,
                x2 - dx
            );
        }
    }
    for p in &placed {
        let Some(n) = t.node(p.id) else { continue };
        let (fill, stroke) = fill_of(n, t.output);
        let sw = if n.id == t.output { 3.0 } else { 1.2 };
        let y = top + p.y;
        let _ = writeln!(
            s,
            "  <g id=\"n{}\">\n    <rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"6\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{sw}\"/>",
            p.id, p.x, p.w, p.h
        );
        let _ = writeln!(
            s,
            "    <line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{stroke}\" stroke-width=\"0.6\"/>",
            p.x + 4.0,
            y + PAD_Y + LINE_H + 3.0,
            p.x + p.w - 4.0,
            y + PAD_Y + LINE_H + 3.0
        );
        for (k, line) in p.lines.iter().enumerate() {
            let color = match k {
                0 => "#0f172a",
                1 => "#64748b",
                _ if line.starts_with("grad") => "#b91c1c",
                _ => "#1e293b",
            };
            let _ = writeln!(
                s,
                "    <text x=\"{:.1}\" y=\"{:.1}\" fill=\"{color}\">{}</text>",
                p.x + PAD_X,
                y + PAD_Y + LINE_H * (k as f64 + 1.0) - 4.0 + if k > 0 { 3.0 } else { 0.0 },
                xml_escape(line)
            );
        }
        s.push_str("  </g>\n");
    }
    s.push_str(&labels);
    // Legend.
    let ly = height - MARGIN - 8.0;
    let _ = writeln!(
        s,
        "  <path d=\"M{MARGIN},{y:.1} h40\" stroke=\"#475569\" stroke-width=\"1.4\" marker-end=\"url(#fwd)\"/>\n  <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#334155\">forward: values</text>",
        MARGIN + 50.0,
        ly + 4.0,
        y = ly
    );
    let x2 = MARGIN + 50.0 + 17.0 * CHAR_W + 30.0;
    let _ = writeln!(
        s,
        "  <path d=\"M{x2:.1},{ly:.1} h40\" stroke=\"#dc2626\" stroke-width=\"1.3\" stroke-dasharray=\"5,4\" marker-end=\"url(#bwd)\"/>\n  <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#b91c1c\">backward: gradient contributions</text>",
        x2 + 50.0,
        ly + 4.0
    );
    s.push_str("</svg>\n");
    s
}

fn clip_to(s: &str, max: usize) -> String {
    if s.chars().count() <= max.max(2) {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.max(2) - 1).collect();
        t.push('…');
        t
    }
}

/// The SVG of [`svg`] rasterized to PNG (`scale` pixels per SVG unit),
/// text drawn with the embedded DejaVu Sans Mono.
pub fn png(t: &Trace, title: Option<&str>, scale: f32) -> Result<Vec<u8>, DrawError> {
    svg_to_png(&svg(t, title), scale)
}

/// Rasterizes an SVG to PNG with the embedded font as the default and
/// monospace family.
pub fn svg_to_png(svg: &str, scale: f32) -> Result<Vec<u8>, DrawError> {
    use resvg::{tiny_skia, usvg};
    let mut opt = usvg::Options {
        font_family: FONT_FAMILY.to_string(),
        ..usvg::Options::default()
    };
    {
        let db = opt.fontdb_mut();
        db.load_font_data(FONT.to_vec());
        db.set_monospace_family(FONT_FAMILY);
        db.set_sans_serif_family(FONT_FAMILY);
        db.set_serif_family(FONT_FAMILY);
    }
    let tree = usvg::Tree::from_str(svg, &opt).map_err(|e| DrawError::Render(e.to_string()))?;
    let scale = if scale.is_finite() && scale > 0.0 {
        scale
    } else {
        1.0
    };
    let size = tree.size();
    let (w, h) = (
        (size.width() * scale).ceil() as u32,
        (size.height() * scale).ceil() as u32,
    );
    let too_big = || {
        DrawError::Render(format!(
            "a {w}×{h} picture is too large (at most 16384 pixels a side); use --format svg"
        ))
    };
    if w == 0 || h == 0 || w > 16384 || h > 16384 {
        return Err(too_big());
    }
    let mut pixmap = tiny_skia::Pixmap::new(w, h).ok_or_else(too_big)?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| DrawError::Render(e.to_string()))
}
