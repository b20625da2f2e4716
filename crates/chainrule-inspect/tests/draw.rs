//! The drawings of worked examples 1 and 2: Mermaid checked structurally,
//! DOT parsed by a DOT parser (and by Graphviz's `dot` when installed), SVG
//! parsed back, PNG rendered.

use chainrule_inspect::draw;
use chainrule_inspect::trace::{explain_expression, explain_network, worked_example_1, Trace};
use graphviz_rust::dot_structures::{EdgeTy, Graph, Id, Stmt, Vertex};
use std::collections::HashSet;

fn example_2() -> Trace {
    explain_expression("(x + y) * (x - 1)", "x=3,y=2")
        .unwrap()
        .trace
}

fn example_1() -> Trace {
    let (mut m, setup) = worked_example_1(0.5).unwrap();
    explain_network(&mut m, &setup).unwrap().trace
}

/// The pieces of a Mermaid flowchart line we write: a node with a quoted
/// label, an edge (solid or dotted, optionally labelled), or a styling line.
fn check_mermaid(text: &str) -> (HashSet<String>, usize, usize) {
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("flowchart ") || header.starts_with("graph "),
        "header: {header}"
    );
    let mut declared = HashSet::new();
    let mut edges: Vec<(String, String, bool)> = Vec::new();
    let mut styled = Vec::new();
    let mut link_styles = Vec::new();
    let id_ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    for line in lines {
        let l = line.trim();
        if l.is_empty() || l.starts_with("%%") {
            continue;
        }
        if let Some(rest) = l.strip_prefix("classDef ") {
            assert!(rest.split_whitespace().count() == 2, "classDef: {l}");
            continue;
        }
        if let Some(rest) = l.strip_prefix("class ") {
            let (ids, class) = rest.split_once(' ').unwrap();
            assert!(id_ok(class));
            styled.extend(ids.split(',').map(str::to_string));
            continue;
        }
        if let Some(rest) = l.strip_prefix("linkStyle ") {
            let (idx, _) = rest.split_once(' ').unwrap();
            link_styles.extend(idx.split(',').map(|i| i.parse::<usize>().unwrap()));
            continue;
        }
        if let Some((id, label)) = l.split_once("[\"") {
            assert!(id_ok(id), "node id: {l}");
            let label = label
                .strip_suffix("\"]")
                .unwrap_or_else(|| panic!("label not closed: {l}"));
            // Quoted and escaped: no raw quote, bracket of HTML or hash.
            for bad in ['"', '<', '>'] {
                let cleaned = label.replace("<br/>", "");
                assert!(!cleaned.contains(bad), "unescaped {bad:?} in {l}");
            }
            assert!(
                label.split('#').skip(1).all(|p| p.contains(';')),
                "bare # in {l}"
            );
            assert!(declared.insert(id.to_string()), "declared twice: {id}");
            continue;
        }
        let (from, arrow_rest, dotted) = if let Some((a, b)) = l.split_once(" -.->") {
            (a, b, true)
        } else if let Some((a, b)) = l.split_once(" --> ") {
            (a, b, false)
        } else {
            panic!("unrecognized line: {l}");
        };
        let to = match arrow_rest.trim_start().strip_prefix('|') {
            Some(labelled) => {
                let (label, to) = labelled.split_once("| ").unwrap();
                assert!(label.starts_with('"') && label.ends_with('"'), "{l}");
                assert!(!label[1..label.len() - 1].contains('"'));
                to
            }
            None => arrow_rest.trim(),
        };
        assert!(id_ok(from) && id_ok(to), "edge: {l}");
        edges.push((from.to_string(), to.to_string(), dotted));
    }
    for (a, b, _) in &edges {
        assert!(declared.contains(a), "edge from undeclared {a}");
        assert!(declared.contains(b), "edge to undeclared {b}");
    }
    for s in &styled {
        assert!(declared.contains(s), "class on undeclared {s}");
    }
    for &i in &link_styles {
        assert!(
            i < edges.len() && edges[i].2,
            "linkStyle {i} is not a backward edge"
        );
    }
    let back = edges.iter().filter(|e| e.2).count();
    (declared, edges.len() - back, back)
}

#[test]
fn mermaid_of_example_2_is_valid() {
    let t = example_2();
    let m = draw::mermaid(&t, Some("f = (x + y) * (x - 1) \"quoted\" #1 <b>"));
    let (nodes, forward, backward) = check_mermaid(&m);
    assert_eq!(nodes.len(), 5);
    assert_eq!(forward, 5, "x→x+y, y→x+y, x→x−1, two into f");
    assert_eq!(backward, 5, "one per gradient contribution");
    // Values and gradients of scalars are written out; x shows both paths.
    assert!(
        m.contains("n0[\"x<br/>variable · scalar<br/>value 3<br/>grad 7 (⊕ 2 paths)\"]"),
        "{m}"
    );
    assert!(m.contains("class n4 output"));
    assert!(m.contains("n4 -.->|\"5\"| n3"), "{m}");
}

#[test]
fn mermaid_of_example_1_is_valid() {
    let t = example_1();
    let m = draw::mermaid(&t, None);
    let (nodes, forward, backward) = check_mermaid(&m);
    assert_eq!(nodes.len(), t.nodes.len());
    let inputs: usize = t.nodes.iter().map(|n| n.inputs.len()).sum();
    assert_eq!(forward, inputs);
    let contributions: usize = t.nodes.iter().map(|n| n.incoming.len()).sum();
    assert_eq!(backward, contributions);
    assert!(backward >= 10);
    assert!(m.contains("0.weight (W1)"));
}

#[test]
fn escapes() {
    assert_eq!(
        draw::mermaid_escape("a\"b#c<d>&"),
        "a#quot;b#35;c#lt;d#gt;#amp;"
    );
    assert_eq!(draw::dot_escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

fn id_text(id: &Id) -> String {
    match id {
        Id::Html(s) | Id::Escaped(s) | Id::Plain(s) | Id::Anonymous(s) => s.clone(),
    }
}

fn check_dot(text: &str) -> (usize, usize) {
    let g = graphviz_rust::parse(text).unwrap_or_else(|e| panic!("invalid DOT: {e}\n{text}"));
    let Graph::DiGraph { stmts, .. } = g else {
        panic!("not a digraph")
    };
    let mut nodes = HashSet::new();
    let mut edges = Vec::new();
    for s in &stmts {
        match s {
            Stmt::Node(n) => {
                nodes.insert(id_text(&n.id.0));
                assert!(n.attributes.iter().any(|a| id_text(&a.0) == "label"));
            }
            Stmt::Edge(e) => {
                let EdgeTy::Pair(Vertex::N(a), Vertex::N(b)) = &e.ty else {
                    panic!("unexpected edge {e:?}")
                };
                edges.push((id_text(&a.0), id_text(&b.0)));
            }
            _ => {}
        }
    }
    for (a, b) in &edges {
        assert!(nodes.contains(a) && nodes.contains(b), "{a} -> {b}");
    }
    // Graphviz itself, when it is installed (not required).
    if let Ok(mut child) = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "dot: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (nodes.len(), edges.len())
}

#[test]
fn dot_of_example_2_parses() {
    let d = draw::dot(&example_2(), Some("f = (x + y) * (x - 1) \"at\" x=3"));
    assert_eq!(check_dot(&d), (5, 10));
    assert!(d.contains("style=dotted"));
    assert!(d.contains("penwidth=3"), "the output is highlighted");
}

#[test]
fn dot_of_example_1_parses() {
    let t = example_1();
    let (nodes, edges) = check_dot(&draw::dot(&t, Some("worked example 1")));
    assert_eq!(nodes, t.nodes.len());
    assert_eq!(edges, draw::edges(&t).len());
    assert!(edges > 20);
}

#[test]
fn svg_and_png_render() {
    for t in [example_2(), example_1()] {
        let svg = draw::svg(&t, Some("a title with <tags> & \"quotes\""));
        let tree = resvg::usvg::Tree::from_str(&svg, &resvg::usvg::Options::default())
            .unwrap_or_else(|e| panic!("invalid SVG: {e}"));
        assert!(tree.size().width() > 100.0);
        for n in &t.nodes {
            assert!(svg.contains(&format!("<g id=\"n{}\">", n.id)));
        }
        assert!(svg.contains("stroke-dasharray"), "backward edges dashed");
        let png = draw::png(&t, Some("title"), 1.0).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
        assert!(w as f32 >= tree.size().width().floor());
    }
}

#[test]
fn layout_puts_inputs_before_their_consumers() {
    let t = example_1();
    for direction in [draw::Direction::LeftToRight, draw::Direction::TopToBottom] {
        let l = draw::layout_in(&t, direction);
        assert!(l.width > 0.0 && l.height > 0.0);
        let col = |id: usize| l.nodes.iter().find(|p| p.id == id).unwrap().column;
        for n in &t.nodes {
            for &i in &n.inputs {
                assert!(col(i) < col(n.id), "{} before {}", i, n.id);
            }
        }
        // No two boxes overlap.
        for a in &l.nodes {
            for b in &l.nodes {
                if a.id != b.id {
                    let apart = a.y + a.h <= b.y
                        || b.y + b.h <= a.y
                        || a.x + a.w <= b.x
                        || b.x + b.w <= a.x;
                    assert!(apart, "{} and {} overlap", a.id, b.id);
                }
            }
        }
    }
}

// ----- Item 9: pictures a person can read -------------------------------------
//
// These read the SVG that is drawn (not the layout's own bookkeeping): the
// boxes (`<rect rx="6">`), the edges (`<path fill="none">`, M/L/C commands,
// sampled along their curves), and the edge labels (11-point red text, its
// extent from the font's fixed advance of 1233/2048 em).

fn attr(element: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let rest = element.split(&key).nth(1)?;
    Some(rest.split('"').next()?.to_string())
}

fn num_attr(element: &str, name: &str) -> f64 {
    attr(element, name).unwrap().parse().unwrap()
}

/// The elements `<tag ...>` of an SVG, with their text content.
fn elements<'a>(svg: &'a str, tag: &str) -> Vec<(&'a str, &'a str)> {
    let open = format!("<{tag} ");
    svg.match_indices(&open)
        .map(|(i, _)| {
            let rest = &svg[i..];
            let end = rest.find('>').unwrap();
            let content = rest[end + 1..].split('<').next().unwrap_or("");
            (&rest[..end], content)
        })
        .collect()
}

#[derive(Debug, Clone, Copy)]
struct Box2 {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

impl Box2 {
    fn strictly_contains(&self, p: (f64, f64), margin: f64) -> bool {
        p.0 > self.x0 + margin
            && p.0 < self.x1 - margin
            && p.1 > self.y0 + margin
            && p.1 < self.y1 - margin
    }
}

fn node_boxes(svg: &str) -> Vec<Box2> {
    elements(svg, "rect")
        .into_iter()
        .filter(|(e, _)| attr(e, "rx").as_deref() == Some("6"))
        .map(|(e, _)| {
            let (x, y) = (num_attr(e, "x"), num_attr(e, "y"));
            Box2 {
                x0: x,
                y0: y,
                x1: x + num_attr(e, "width"),
                y1: y + num_attr(e, "height"),
            }
        })
        .collect()
}

/// Points along every edge: straight pieces and cubic curves sampled
/// finely.
fn edge_samples(svg: &str) -> Vec<Vec<(f64, f64)>> {
    let mut all = Vec::new();
    for (e, _) in elements(svg, "path") {
        if attr(e, "fill").as_deref() != Some("none") {
            continue;
        }
        let d = attr(e, "d").unwrap();
        let tokens = d.split([' ', ',']).filter(|s| !s.is_empty());
        let mut cmd = 'M';
        let mut nums: Vec<f64> = Vec::new();
        let mut at = (0.0, 0.0);
        let mut pts = Vec::new();
        for tok in tokens {
            let (c, rest) = match tok.chars().next().unwrap() {
                c if c.is_ascii_alphabetic() => (Some(c), &tok[1..]),
                _ => (None, tok),
            };
            if let Some(c) = c {
                cmd = c;
                nums.clear();
            }
            if rest.is_empty() {
                continue;
            }
            nums.push(rest.parse().unwrap());
            let need = match cmd {
                'M' | 'L' => 2,
                'C' => 6,
                other => panic!("unexpected path command {other} in {d}"),
            };
            if nums.len() < need {
                continue;
            }
            match cmd {
                'M' => at = (nums[0], nums[1]),
                'L' => {
                    for k in 0..=40 {
                        let s = k as f64 / 40.0;
                        pts.push((at.0 + s * (nums[0] - at.0), at.1 + s * (nums[1] - at.1)));
                    }
                    at = (nums[0], nums[1]);
                }
                _ => {
                    let p = [
                        at,
                        (nums[0], nums[1]),
                        (nums[2], nums[3]),
                        (nums[4], nums[5]),
                    ];
                    for k in 0..=80 {
                        let s = k as f64 / 80.0;
                        let b = |i: usize| {
                            let c = [
                                (1.0 - s).powi(3),
                                3.0 * s * (1.0 - s).powi(2),
                                3.0 * s * s * (1.0 - s),
                                s.powi(3),
                            ];
                            (0..4)
                                .map(|j| c[j] * if i == 0 { p[j].0 } else { p[j].1 })
                                .sum::<f64>()
                        };
                        pts.push((b(0), b(1)));
                    }
                    at = p[3];
                }
            }
            nums.clear();
        }
        all.push(pts);
    }
    all
}

/// The rectangles of the edge labels (11-point text in the backward red).
fn label_boxes(svg: &str) -> Vec<(String, Box2)> {
    elements(svg, "text")
        .into_iter()
        .filter(|(e, _)| {
            attr(e, "font-size").as_deref() == Some("11")
                && attr(e, "fill").as_deref() == Some("#dc2626")
        })
        .map(|(e, text)| {
            let (x, y) = (num_attr(e, "x"), num_attr(e, "y"));
            let w = text.chars().count() as f64 * 11.0 * 1233.0 / 2048.0;
            // Ascent of digits and signs about 0.75 em above the baseline.
            (
                text.to_string(),
                Box2 {
                    x0: x,
                    y0: y - 8.5,
                    x1: x + w,
                    y1: y + 1.0,
                },
            )
        })
        .collect()
}

fn traces_to_draw() -> Vec<(&'static str, Trace)> {
    let expr = |e: &str, at: &str| explain_expression(e, at).unwrap().trace;
    vec![
        ("x*x*x", expr("x*x*x", "x=2")),
        ("(x+y)*(x-1)", example_2()),
        ("worked example 1", example_1()),
        (
            "long edges",
            expr("exp(x)*y + sin(x*y)/(y + x*x) - x", "x=0.5,y=2"),
        ),
    ]
}

fn all_drawings() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, t) in traces_to_draw() {
        out.push((format!("{name} (auto)"), draw::svg(&t, Some(name))));
        for d in [draw::Direction::LeftToRight, draw::Direction::TopToBottom] {
            let l = draw::layout_in(&t, d);
            out.push((format!("{name} ({d:?})"), draw::svg_of(&t, &l, Some(name))));
        }
    }
    out
}

#[test]
fn item_09_edges_never_pass_under_a_box() {
    for (name, svg) in all_drawings() {
        let boxes = node_boxes(&svg);
        let edges = edge_samples(&svg);
        assert!(
            boxes.len() >= 3 && edges.len() >= 6,
            "{name}: parsed nothing"
        );
        for (k, pts) in edges.iter().enumerate() {
            for &p in pts {
                for b in &boxes {
                    assert!(
                        !b.strictly_contains(p, 1.0),
                        "{name}: edge {k} passes under the box {b:?} at {p:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn item_09_x_cubed_square_box_shows_two_inputs() {
    // f = x*x*x: the edge x → f must not touch the x² box, so x² has two
    // arrows in (x, x) and f two (x², x).
    let t = explain_expression("x*x*x", "x=2").unwrap().trace;
    let svg = draw::svg(&t, None);
    let boxes = node_boxes(&svg);
    let square = t
        .nodes
        .iter()
        .position(|n| n.inputs.len() == 2 && n.id != t.output)
        .unwrap();
    let b = boxes[square];
    let touching = edge_samples(&svg)
        .iter()
        .filter(|pts| {
            pts.iter().any(|&(x, y)| {
                x >= b.x0 - 0.5 && x <= b.x1 + 0.5 && y >= b.y0 - 0.5 && y <= b.y1 + 0.5
            })
        })
        .count();
    // Two forward and two backward lines in, one of each out.
    assert_eq!(touching, 6, "{svg}");
}

#[test]
fn item_09_edge_labels_are_not_crossed_by_lines() {
    for (name, svg) in all_drawings() {
        let labels = label_boxes(&svg);
        let boxes = node_boxes(&svg);
        let edges = edge_samples(&svg);
        if name.starts_with("x*x*x") || name.starts_with("(x+y)") {
            assert!(labels.len() >= 3, "{name}: scalar gradients are labelled");
        }
        for (text, l) in &labels {
            for pts in &edges {
                for &p in pts {
                    assert!(
                        !l.strictly_contains(p, 0.0),
                        "{name}: label {text} at {l:?} is crossed at {p:?}"
                    );
                }
            }
            for b in &boxes {
                let apart = l.x1 <= b.x0 || b.x1 <= l.x0 || l.y1 <= b.y0 || b.y1 <= l.y0;
                assert!(apart, "{name}: label {text} overlaps a box");
            }
        }
    }
}

#[test]
fn item_09_worked_example_fits_a_screen() {
    // It was 2599×300 units (5198×600 pixels at 2 pixels a unit), one
    // long row. Now ranks run top to bottom when that fits a landscape
    // screen better, and the longer side stays within 1400 units, so that
    // `chainrule graph --out g.png` (1.4 to 2 pixels a unit) stays within
    // 2000 pixels (checked in the CLI's tests/pictures.rs).
    let svg = draw::svg(&example_1(), Some("Worked example 1: a 2-2-1 network"));
    let (w, h) = draw::svg_size(&svg);
    assert!(w.max(h) <= 1400.0 && w.min(h) >= 300.0, "{w}×{h}");
    assert_eq!(
        draw::layout(&example_1()).direction,
        draw::Direction::TopToBottom
    );
    // A small expression stays one row, left to right.
    let t = explain_expression("x*x*x", "x=2").unwrap().trace;
    assert_eq!(draw::layout(&t).direction, draw::Direction::LeftToRight);
}
