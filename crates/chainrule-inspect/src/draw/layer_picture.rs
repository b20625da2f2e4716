//! A [`LayerGraph`] as an SVG picture, laid out by
//! [`layer_layout`](mod@super::layer_layout): groups as labelled rectangles
//! behind their boxes, lines, boxes, then the edges' labels. PNGs come from
//! this SVG through [`svg_to_png`](super::svg_to_png).

use super::layer_layout::{layer_layout, Area, EdgeRoute, LayerLayout, GROUP_LABEL_H};
use super::layers::{BoxKind, LayerGraph};
use super::layout::{CHAR_W, FONT_SIZE, LABEL_FONT, LINE_H, PAD_X, PAD_Y};
use super::picture::xml_escape;
use super::FONT_FAMILY;
use std::fmt::Write;

const MARGIN: f64 = 24.0;
/// The radius of a lane's corners.
const CORNER: f64 = 8.0;

/// Title lines longer than this wrap.
const TITLE_CHARS: usize = 80;

/// `text` in lines of at most `max` characters, broken after a comma or at
/// a space where it can be (continuation lines indented).
fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut rest: Vec<char> = line.chars().collect();
        while rest.len() > max {
            let cut = (max / 2..max)
                .rev()
                .find(|&k| rest[k] == ',' || rest[k] == ' ')
                .map_or(max, |k| k + 1);
            out.push(
                rest[..cut]
                    .iter()
                    .collect::<String>()
                    .trim_end()
                    .to_string(),
            );
            let mut next = vec![' ', ' '];
            next.extend(rest[cut..].iter().skip_while(|c| **c == ' '));
            rest = next;
        }
        out.push(rest.into_iter().collect());
    }
    out
}

/// Fill and stroke of a box.
pub fn box_colors(kind: BoxKind) -> (&'static str, &'static str) {
    match kind {
        BoxKind::Input => ("#dcfce7", "#15803d"),
        BoxKind::Layer | BoxKind::Op => ("#ffffff", "#334155"),
        BoxKind::Add => ("#e0f2fe", "#0369a1"),
        BoxKind::Output => ("#f1f5f9", "#475569"),
        BoxKind::Target | BoxKind::Constant => ("#f1f5f9", "#94a3b8"),
        BoxKind::Loss => ("#fde68a", "#b45309"),
        BoxKind::Param => ("#dbeafe", "#1d4ed8"),
    }
}

/// Fill, stroke and label colour of a group.
pub fn group_colors(residual: bool) -> (&'static str, &'static str, &'static str) {
    if residual {
        ("#f0f9ff", "#0284c7", "#0369a1")
    } else {
        ("#f8fafc", "#94a3b8", "#475569")
    }
}

/// A line through `points` shifted by `(dx, dy)`: a curve between two
/// points (leaving and arriving vertically), else straight pieces with
/// rounded corners.
fn path_data(points: &[(f64, f64)], route: EdgeRoute, dx: f64, dy: f64) -> String {
    let p: Vec<(f64, f64)> = points.iter().map(|&(x, y)| (x + dx, y + dy)).collect();
    let mut d = format!("M{:.1},{:.1}", p[0].0, p[0].1);
    if p.len() == 2 {
        let (a, b) = (p[0], p[1]);
        if route == EdgeRoute::Down && (a.0 - b.0).abs() > 0.05 {
            let m = (a.1 + b.1) / 2.0;
            let _ = write!(
                d,
                " C{:.1},{m:.1} {:.1},{m:.1} {:.1},{:.1}",
                a.0, b.0, b.0, b.1
            );
        } else {
            let _ = write!(d, " L{:.1},{:.1}", b.0, b.1);
        }
        return d;
    }
    for k in 1..p.len() {
        let (x, y) = p[k];
        if k + 1 == p.len() {
            let _ = write!(d, " L{x:.1},{y:.1}");
            break;
        }
        // Round the corner at p[k]: stop short of it, curve to just past it.
        let toward = |from: (f64, f64), to: (f64, f64), r: f64| {
            let (ux, uy) = (to.0 - from.0, to.1 - from.1);
            let len = (ux * ux + uy * uy).sqrt().max(1e-9);
            let r = r.min(len / 2.0);
            (from.0 + ux / len * r, from.1 + uy / len * r)
        };
        let before = toward(p[k], p[k - 1], CORNER);
        let after = toward(p[k], p[k + 1], CORNER);
        let _ = write!(
            d,
            " L{:.1},{:.1} Q{x:.1},{y:.1} {:.1},{:.1}",
            before.0, before.1, after.0, after.1
        );
    }
    d
}

/// The network drawing as a standalone SVG.
pub fn layer_svg(lg: &LayerGraph) -> String {
    layer_svg_of(lg, &layer_layout(lg))
}

/// The SVG of a given layout.
pub fn layer_svg_of(lg: &LayerGraph, l: &LayerLayout) -> String {
    let title_w = 15.0 * 1233.0 / 2048.0;
    let note_w = CHAR_W;
    let title = wrap(&lg.title, TITLE_CHARS);
    let note = lg
        .note
        .as_deref()
        .map(|n| wrap(n, TITLE_CHARS))
        .unwrap_or_default();
    let head = 16.0 + 20.0 * title.len() as f64 + 18.0 * note.len() as f64;
    let text_w = title
        .iter()
        .map(|t| t.chars().count() as f64 * title_w)
        .chain(note.iter().map(|n| n.chars().count() as f64 * note_w))
        .fold(0.0, f64::max);
    let width = (l.width + 2.0 * MARGIN)
        .max(text_w + 2.0 * MARGIN)
        .max(360.0);
    let height = head + l.height + 2.0 * MARGIN;
    let left = (width - l.width) / 2.0;
    let top = head + MARGIN;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\" font-family=\"{FONT_FAMILY}, monospace\" font-size=\"{FONT_SIZE}\">",
        w = width.ceil(),
        h = height.ceil()
    );
    s.push_str("  <defs>\n");
    for (id, color) in [("fwd", "#475569"), ("skip", "#0284c7")] {
        let _ = writeln!(
            s,
            "    <marker id=\"{id}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{color}\"/></marker>"
        );
    }
    s.push_str("  </defs>\n");
    let _ = writeln!(
        s,
        "  <rect x=\"0\" y=\"0\" width=\"{:.0}\" height=\"{:.0}\" fill=\"#ffffff\"/>",
        width.ceil(),
        height.ceil()
    );
    let mut ty = MARGIN + 4.0;
    for t in &title {
        let _ = writeln!(
            s,
            "  <text x=\"{MARGIN}\" y=\"{ty:.1}\" font-size=\"15\" fill=\"#0f172a\" xml:space=\"preserve\">{}</text>",
            xml_escape(t)
        );
        ty += 20.0;
    }
    for n in &note {
        let _ = writeln!(
            s,
            "  <text x=\"{MARGIN}\" y=\"{ty:.1}\" fill=\"#64748b\" xml:space=\"preserve\">{}</text>",
            xml_escape(n)
        );
        ty += 18.0;
    }
    let at = |a: &Area| (a.x + left, a.y + top);
    // Groups, outermost first (inner ones drawn over them).
    let mut order: Vec<usize> = (0..lg.groups.len()).collect();
    order.sort_by_key(|&q| lg.depth(q));
    for q in order {
        let g = &lg.groups[q];
        let a = &l.groups[q];
        let (x, y) = at(a);
        let (fill, stroke, ink) = group_colors(g.residual);
        let dash = if g.residual {
            " stroke-dasharray=\"6,4\""
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "  <g class=\"group\" id=\"g{q}\">\n    <rect class=\"group\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"8\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.2\"{dash}/>\n    <text x=\"{:.1}\" y=\"{:.1}\" fill=\"{ink}\" xml:space=\"preserve\">{}</text>\n  </g>",
            a.w,
            a.h,
            x + 10.0,
            y + GROUP_LABEL_H - 3.0,
            xml_escape(&g.label)
        );
    }
    // Lines under the boxes; labels last.
    let mut labels = String::new();
    for line in &l.edges {
        let e = &lg.edges[line.edge];
        let d = path_data(&line.points, line.route, left, top);
        let (class, color, width, marker) = if e.skip {
            ("edge skip", "#0284c7", 2.0, "skip")
        } else {
            ("edge", "#475569", 1.4, "fwd")
        };
        let _ = writeln!(
            s,
            "  <path class=\"{class}\" d=\"{d}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"{width}\" marker-end=\"url(#{marker})\"/>"
        );
        if let Some((text, a)) = &line.label {
            let (x, y) = at(a);
            let ink = if e.skip { "#0369a1" } else { "#475569" };
            let _ = writeln!(
                labels,
                "  <rect class=\"label\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"2\" fill=\"#ffffff\" fill-opacity=\"0.9\"/>\n  <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{LABEL_FONT}\" fill=\"{ink}\">{}</text>",
                a.w,
                a.h,
                x + 3.0,
                y + a.h - 4.0,
                xml_escape(text)
            );
        }
    }
    for (i, b) in lg.boxes.iter().enumerate() {
        let a = &l.boxes[i];
        let (x, y) = at(a);
        let (fill, stroke) = box_colors(b.kind);
        let sw = if b.kind == BoxKind::Loss { 2.5 } else { 1.2 };
        let _ = writeln!(
            s,
            "  <g id=\"{}\">\n    <rect class=\"box\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"6\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{sw}\"/>",
            xml_escape(&b.id),
            a.w,
            a.h
        );
        for (k, line) in l.lines[i].iter().enumerate() {
            let (color, weight) = match k {
                0 => ("#0f172a", " font-weight=\"bold\""),
                _ => ("#475569", ""),
            };
            let _ = writeln!(
                s,
                "    <text x=\"{:.1}\" y=\"{:.1}\" fill=\"{color}\"{weight} xml:space=\"preserve\">{}</text>",
                x + PAD_X,
                y + PAD_Y + LINE_H * (k as f64 + 1.0) - 4.0,
                xml_escape(line)
            );
        }
        s.push_str("  </g>\n");
    }
    s.push_str(&labels);
    s.push_str("</svg>\n");
    s
}
