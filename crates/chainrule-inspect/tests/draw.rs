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
fn layout_puts_inputs_left_of_their_consumers() {
    let t = example_1();
    let (placed, w, h) = draw::layout(&t);
    assert!(w > 0.0 && h > 0.0);
    let col = |id: usize| placed.iter().find(|p| p.id == id).unwrap().column;
    for n in &t.nodes {
        for &i in &n.inputs {
            assert!(col(i) < col(n.id), "{} before {}", i, n.id);
        }
    }
    // No two boxes overlap within a column.
    for a in &placed {
        for b in &placed {
            if a.id != b.id && a.column == b.column {
                assert!(a.y + a.h <= b.y || b.y + b.h <= a.y);
            }
        }
    }
}
