//! A [`LayerGraph`] as Mermaid (`flowchart TB`, one `subgraph` per group)
//! and as Graphviz DOT (`rankdir=TB`, one `subgraph cluster_…` per group).
//! Each box is declared inside its innermost group; the edges follow.

use super::layer_picture::{box_colors, group_colors};
use super::layers::LayerGraph;
use super::{dot_escape, mermaid_escape, FONT_FAMILY};
use std::fmt::Write;

/// The groups whose parent is `parent`, and the boxes directly in it.
fn members(lg: &LayerGraph, parent: Option<usize>) -> (Vec<usize>, Vec<usize>) {
    let groups = (0..lg.groups.len())
        .filter(|&q| lg.groups[q].parent == parent)
        .collect();
    let boxes = (0..lg.boxes.len())
        .filter(|&i| lg.boxes[i].group == parent)
        .collect();
    (groups, boxes)
}

/// The network as a Mermaid flowchart, top to bottom.
pub fn layer_mermaid(lg: &LayerGraph) -> String {
    let mut s = String::from("flowchart TB\n");
    for line in lg
        .title
        .lines()
        .chain(lg.note.iter().flat_map(|n| n.lines()))
    {
        let _ = writeln!(s, "  %% {line}");
    }
    mermaid_level(lg, None, 1, &mut s);
    let mut skips = Vec::new();
    for (k, e) in lg.edges.iter().enumerate() {
        let (a, b) = (&lg.boxes[e.from].id, &lg.boxes[e.to].id);
        let arrow = if e.skip { "==>" } else { "-->" };
        match &e.label {
            Some(l) => {
                let _ = writeln!(s, "  {a} {arrow}|\"{}\"| {b}", mermaid_escape(l));
            }
            None => {
                let _ = writeln!(s, "  {a} {arrow} {b}");
            }
        }
        if e.skip {
            skips.push(k.to_string());
        }
    }
    let mut kinds: Vec<String> = Vec::new();
    for b in &lg.boxes {
        let class = format!("{:?}", b.kind).to_lowercase();
        if !kinds.contains(&class) {
            let (fill, stroke) = box_colors(b.kind);
            let _ = writeln!(s, "  classDef {class} fill:{fill},stroke:{stroke}");
            kinds.push(class);
        }
    }
    for class in &kinds {
        let ids: Vec<&str> = lg
            .boxes
            .iter()
            .filter(|b| &format!("{:?}", b.kind).to_lowercase() == class)
            .map(|b| b.id.as_str())
            .collect();
        let _ = writeln!(s, "  class {} {class}", ids.join(","));
    }
    for (q, g) in lg.groups.iter().enumerate() {
        let (fill, stroke, _) = group_colors(g.residual);
        let _ = writeln!(s, "  style g{q} fill:{fill},stroke:{stroke}");
    }
    if !skips.is_empty() {
        let _ = writeln!(
            s,
            "  linkStyle {} stroke:#0284c7,stroke-width:2px,color:#0369a1",
            skips.join(",")
        );
    }
    s
}

fn mermaid_level(lg: &LayerGraph, parent: Option<usize>, depth: usize, s: &mut String) {
    let pad = "  ".repeat(depth);
    let (groups, boxes) = members(lg, parent);
    for i in boxes {
        let b = &lg.boxes[i];
        let label: Vec<String> = b.lines().iter().map(|l| mermaid_escape(l)).collect();
        let _ = writeln!(s, "{pad}{}[\"{}\"]", b.id, label.join("<br/>"));
    }
    for q in groups {
        let _ = writeln!(
            s,
            "{pad}subgraph g{q}[\"{}\"]",
            mermaid_escape(&lg.groups[q].label)
        );
        let _ = writeln!(s, "{pad}  direction TB");
        mermaid_level(lg, Some(q), depth + 1, s);
        let _ = writeln!(s, "{pad}end");
    }
}

/// The network as a Graphviz digraph, top to bottom.
pub fn layer_dot(lg: &LayerGraph) -> String {
    let mut s = String::from("digraph chainrule {\n  rankdir=TB;\n  compound=true;\n");
    let title = match &lg.note {
        Some(n) => format!("{}\n{n}", lg.title),
        None => lg.title.clone(),
    };
    if !title.is_empty() {
        let _ = writeln!(s, "  label=\"{}\";\n  labelloc=t;", dot_escape(&title));
    }
    let _ = writeln!(
        s,
        "  node [shape=box, style=\"rounded,filled\", fontname=\"{FONT_FAMILY}\", fontsize=11];"
    );
    let _ = writeln!(s, "  edge [fontname=\"{FONT_FAMILY}\", fontsize=10];");
    dot_level(lg, None, 1, &mut s);
    for e in &lg.edges {
        let (a, b) = (&lg.boxes[e.from].id, &lg.boxes[e.to].id);
        let mut attrs = Vec::new();
        if let Some(l) = &e.label {
            attrs.push(format!("label=\"{}\"", dot_escape(l)));
        }
        if e.skip {
            attrs.push("color=\"#0284c7\", fontcolor=\"#0369a1\", penwidth=2".to_string());
        }
        if lg.boxes[e.from].side {
            // Beside the box it feeds, not above it.
            attrs.push("constraint=false".to_string());
        }
        if attrs.is_empty() {
            let _ = writeln!(s, "  {a} -> {b};");
        } else {
            let _ = writeln!(s, "  {a} -> {b} [{}];", attrs.join(", "));
        }
    }
    s.push_str("}\n");
    s
}

fn dot_level(lg: &LayerGraph, parent: Option<usize>, depth: usize, s: &mut String) {
    let pad = "  ".repeat(depth);
    let (groups, boxes) = members(lg, parent);
    for i in boxes {
        let b = &lg.boxes[i];
        let (fill, stroke) = box_colors(b.kind);
        let _ = writeln!(
            s,
            "{pad}{} [label=\"{}\", fillcolor=\"{fill}\", color=\"{stroke}\"];",
            b.id,
            dot_escape(&b.lines().join("\n"))
        );
    }
    for q in groups {
        let g = &lg.groups[q];
        let (fill, stroke, ink) = group_colors(g.residual);
        let _ = writeln!(s, "{pad}subgraph cluster_g{q} {{");
        let _ = writeln!(
            s,
            "{pad}  label=\"{}\"; labeljust=l; style=\"rounded,filled{}\"; fillcolor=\"{fill}\"; color=\"{stroke}\"; fontcolor=\"{ink}\"; fontname=\"{FONT_FAMILY}\";",
            dot_escape(&g.label),
            if g.residual { ",dashed" } else { "" }
        );
        dot_level(lg, Some(q), depth + 1, s);
        let _ = writeln!(s, "{pad}}}");
    }
}
