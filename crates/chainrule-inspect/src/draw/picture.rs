//! The graph as a picture: SVG drawn from the [`layout`](super::layout),
//! and PNG rasterized from that SVG.

use super::layout::{
    layout, Direction, Layout, CHAR_W, FONT_SIZE, LABEL_FONT, LINE_H, PAD_X, PAD_Y,
};
use super::{edges, fill_of, DrawError, FONT, FONT_FAMILY};
use crate::trace::Trace;
use std::collections::HashMap;
use std::fmt::Write;

const MARGIN: f64 = 24.0;

/// `s` safe in SVG text and attributes (control characters but tab as
/// spaces).
pub(super) fn xml_escape(s: &str) -> String {
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

fn clip_to(s: &str, max: usize) -> String {
    if s.chars().count() <= max.max(2) {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.max(2) - 1).collect();
        t.push('…');
        t
    }
}

/// An SVG path through `points` (already shifted by `(dx, dy)`): straight
/// where two points share the coordinate across the ranks, else a curve
/// that leaves and arrives along the ranks' axis and stays within the
/// rectangle of its two ends.
fn path_data(points: &[(f64, f64)], direction: Direction, dx: f64, dy: f64) -> String {
    let mut d = String::new();
    for (k, &(x, y)) in points.iter().enumerate() {
        let (x, y) = (x + dx, y + dy);
        if k == 0 {
            let _ = write!(d, "M{x:.1},{y:.1}");
            continue;
        }
        let (px, py) = (points[k - 1].0 + dx, points[k - 1].1 + dy);
        let straight = match direction {
            Direction::LeftToRight => (py - y).abs() < 0.05,
            Direction::TopToBottom => (px - x).abs() < 0.05,
        };
        if straight {
            let _ = write!(d, " L{x:.1},{y:.1}");
        } else {
            let (c1, c2) = match direction {
                Direction::LeftToRight => {
                    let m = (px + x) / 2.0;
                    ((m, py), (m, y))
                }
                Direction::TopToBottom => {
                    let m = (py + y) / 2.0;
                    ((px, m), (x, m))
                }
            };
            let _ = write!(
                d,
                " C{:.1},{:.1} {:.1},{:.1} {x:.1},{y:.1}",
                c1.0, c1.1, c2.0, c2.1
            );
        }
    }
    d
}

/// The graph as a standalone SVG picture, laid out by [`layout`].
pub fn svg(t: &Trace, title: Option<&str>) -> String {
    svg_of(t, &layout(t), title)
}

/// The SVG of a given layout.
pub fn svg_of(t: &Trace, l: &Layout, title: Option<&str>) -> String {
    let title_h = if title.is_some() { 34.0 } else { 10.0 };
    let legend_h = 34.0;
    let top = title_h + 10.0;
    let height = top + l.height + legend_h + MARGIN;
    // Wide enough for the title (up to 100 characters) and the legend.
    let title_w = title.map_or(0.0, |t| t.chars().count().min(100) as f64 * 15.0 * 0.602);
    let width = (l.width + 2.0 * MARGIN)
        .max(title_w + 2.0 * MARGIN)
        .max(560.0);
    // Centre narrow drawings under the title.
    let left = (width - l.width) / 2.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\" font-family=\"{FONT_FAMILY}, monospace\" font-size=\"{FONT_SIZE}\">",
        w = width.ceil(),
        h = height.ceil()
    );
    s.push_str("  <defs>\n");
    s.push_str("    <marker id=\"fwd\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#475569\"/></marker>\n");
    s.push_str("    <marker id=\"bwd\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#dc2626\"/></marker>\n");
    s.push_str("  </defs>\n");
    let _ = writeln!(
        s,
        "  <rect x=\"0\" y=\"0\" width=\"{:.0}\" height=\"{:.0}\" fill=\"#ffffff\"/>",
        width.ceil(),
        height.ceil()
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
    // Lines first, boxes over them (they never meet), labels last.
    let mut labels = String::new();
    for r in &l.routes {
        let d = path_data(&r.points, l.direction, left, top);
        if r.backward {
            let _ = writeln!(
                s,
                "  <path class=\"edge backward\" d=\"{d}\" fill=\"none\" stroke=\"#dc2626\" stroke-width=\"1.3\" stroke-dasharray=\"5,4\" marker-end=\"url(#bwd)\"/>"
            );
        } else {
            let _ = writeln!(
                s,
                "  <path class=\"edge forward\" d=\"{d}\" fill=\"none\" stroke=\"#475569\" stroke-width=\"1.4\" marker-end=\"url(#fwd)\"/>"
            );
        }
        if let Some((text, b)) = &r.label {
            let _ = writeln!(
                labels,
                "  <rect class=\"label\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"2\" fill=\"#ffffff\" fill-opacity=\"0.9\"/>\n  <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{LABEL_FONT}\" fill=\"#dc2626\">{}</text>",
                b.x + left,
                b.y + top,
                b.w,
                b.h,
                b.x + left + 3.0,
                b.y + top + b.h - 4.0,
                xml_escape(text)
            );
        }
    }
    let nodes: HashMap<usize, _> = t.nodes.iter().map(|n| (n.id, n)).collect();
    for p in &l.nodes {
        let Some(n) = nodes.get(&p.id) else { continue };
        let (fill, stroke) = fill_of(n, t.output);
        let sw = if n.id == t.output { 3.0 } else { 1.2 };
        let (x, y) = (p.x + left, p.y + top);
        let _ = writeln!(
            s,
            "  <g id=\"n{}\">\n    <rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"6\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{sw}\"/>",
            p.id, p.w, p.h
        );
        let _ = writeln!(
            s,
            "    <line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{stroke}\" stroke-width=\"0.6\"/>",
            x + 4.0,
            y + PAD_Y + LINE_H + 3.0,
            x + p.w - 4.0,
            y + PAD_Y + LINE_H + 3.0
        );
        let mut grad = false;
        for (k, line) in p.lines.iter().enumerate() {
            // Continuation lines (indented) keep their first line's colour.
            if !line.starts_with(' ') {
                grad = line.starts_with("grad");
            }
            let color = match k {
                0 => "#0f172a",
                1 => "#64748b",
                _ if grad => "#b91c1c",
                _ => "#1e293b",
            };
            let _ = writeln!(
                s,
                "    <text x=\"{:.1}\" y=\"{:.1}\" fill=\"{color}\" xml:space=\"preserve\">{}</text>",
                x + PAD_X,
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
    // Every edge of the trace is drawn (the layout routes them all).
    debug_assert_eq!(l.routes.len(), edges(t).len());
    s
}

/// The SVG of [`svg`] rasterized to PNG (`scale` pixels per SVG unit),
/// text drawn with the embedded DejaVu Sans Mono.
pub fn png(t: &Trace, title: Option<&str>, scale: f32) -> Result<Vec<u8>, DrawError> {
    svg_to_png(&svg(t, title), scale)
}

/// The `width` and `height` of an SVG's root element, in SVG units
/// (0 where missing).
pub fn svg_size(svg: &str) -> (f64, f64) {
    let head = svg.split('>').next().unwrap_or("");
    let attr = |name: &str| -> f64 {
        head.split(&format!(" {name}=\""))
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    (attr("width"), attr("height"))
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
    let scale = if scale.is_finite() && scale > 0.0 {
        scale
    } else {
        1.0
    };
    let too_big = |w: f64, h: f64| {
        DrawError::Render(format!(
            "a {w:.0}×{h:.0} picture is too large (at most 16384 pixels a side); \
             write an SVG instead (--out FILE.svg)"
        ))
    };
    // Refuse before parsing: a huge SVG takes long to parse.
    let (w, h) = svg_size(svg);
    let (w, h) = ((w * scale as f64).ceil(), (h * scale as f64).ceil());
    if w > 16384.0 || h > 16384.0 {
        return Err(too_big(w, h));
    }
    let tree = usvg::Tree::from_str(svg, &opt).map_err(|e| DrawError::Render(e.to_string()))?;
    let size = tree.size();
    let (w, h) = (
        (size.width() * scale).ceil() as u32,
        (size.height() * scale).ceil() as u32,
    );
    if w == 0 || h == 0 || w > 16384 || h > 16384 {
        return Err(too_big(w as f64, h as f64));
    }
    let mut pixmap = tiny_skia::Pixmap::new(w, h).ok_or_else(|| too_big(w as f64, h as f64))?;
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
