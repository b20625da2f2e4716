//! Any network drawn layer by layer: a small CNN with a residual block,
//! its boxes and edges checked against numbers worked out by hand, the
//! Mermaid and DOT checked structurally, the SVG's boxes apart, the PNG
//! decoded.

use chainrule::Graph;
use chainrule_inspect::draw::{self, layers::BoxKind, LayerGraph};
use chainrule_nn::network::{parse_arch, Network};
use chainrule_nn::{Init, LossKind};
use graphviz_rust::dot_structures::{Graph as DotGraph, Stmt, Subgraph};
use std::collections::{BTreeSet, HashSet};

const ARCH: &str = "conv2d(4,3,pad=1),relu,residual(conv2d(4,3,pad=1),relu),flatten,linear(3)";

fn network() -> (Graph<f64>, Network<f64>) {
    let mut g = Graph::new();
    let specs = parse_arch(ARCH).unwrap();
    let net = Network::new(&mut g, &specs, &[1, 8, 8], Init::KaimingUniform, 7).unwrap();
    (g, net)
}

/// A box as the test reads it: id, number, text, output shape, parameters.
type Row = (String, Option<String>, String, Vec<usize>, Option<usize>);

fn layer_graph() -> LayerGraph {
    let (_, net) = network();
    draw::layer_view(&net, Some(LossKind::Cce), "a small CNN")
}

#[test]
fn one_box_per_layer_with_hand_counted_parameters() {
    let lg = layer_graph();
    // (id, number, text, output per example, parameters)
    let (out_c, in_c, k) = (4, 1, 3);
    let conv1 = out_c * in_c * k * k + out_c; // 40
    let conv2 = 4 * 4 * 3 * 3 + 4; // 148
    let linear = 4 * 8 * 8 * 3 + 3; // 771
    let want: BTreeSet<Row> = [
        ("input", None, "input", vec![1, 8, 8], None),
        (
            "l1",
            Some("1"),
            "conv2d(4,3,pad=1)",
            vec![4, 8, 8],
            Some(conv1),
        ),
        ("l2", Some("2"), "relu", vec![4, 8, 8], Some(0)),
        (
            "l3_1",
            Some("3.1"),
            "conv2d(4,3,pad=1)",
            vec![4, 8, 8],
            Some(conv2),
        ),
        ("l3_2", Some("3.2"), "relu", vec![4, 8, 8], Some(0)),
        ("l3_add", Some("3"), "add: x + body(x)", vec![4, 8, 8], None),
        ("l4", Some("4"), "flatten", vec![256], Some(0)),
        ("l5", Some("5"), "linear(3)", vec![3], Some(linear)),
        ("output", None, "output", vec![3], None),
        ("target", None, "target", vec![], None),
        ("loss", None, "loss", vec![], None),
    ]
    .into_iter()
    .map(|(i, n, t, s, p)| (i.to_string(), n.map(String::from), t.to_string(), s, p))
    .collect();
    let got: BTreeSet<_> = lg
        .boxes
        .iter()
        .map(|b| {
            (
                b.id.clone(),
                b.number.clone(),
                b.text.clone(),
                b.shape.clone(),
                b.params,
            )
        })
        .collect();
    assert_eq!(got, want);
    // The residual block is one group holding its body and the add.
    assert_eq!(lg.groups.len(), 1);
    assert!(lg.groups[0].residual);
    assert!(
        lg.groups[0].label.contains(&format!("{conv2} params")),
        "{}",
        lg.groups[0].label
    );
    let inside: BTreeSet<&str> = lg
        .boxes
        .iter()
        .filter(|b| b.group == Some(0))
        .map(|b| b.id.as_str())
        .collect();
    assert_eq!(inside, BTreeSet::from(["l3_1", "l3_2", "l3_add"]));
    let lines = lg.boxes[lg.find("l1").unwrap()].lines();
    assert_eq!(lines, vec!["1  conv2d(4,3,pad=1)", "out 4×8×8 · 40 params"]);
    assert_eq!(lg.boxes[lg.find("l3_add").unwrap()].kind, BoxKind::Add);
}

#[test]
fn edges_carry_shapes_and_the_skip_goes_into_the_add() {
    let lg = layer_graph();
    let got: BTreeSet<(String, String, Option<String>, bool)> = lg
        .edges
        .iter()
        .map(|e| {
            (
                lg.boxes[e.from].id.clone(),
                lg.boxes[e.to].id.clone(),
                e.label.clone(),
                e.skip,
            )
        })
        .collect();
    let s = |a: &str, b: &str, l: Option<&str>, skip: bool| {
        (a.to_string(), b.to_string(), l.map(String::from), skip)
    };
    let want = BTreeSet::from([
        s("input", "l1", Some("1×8×8"), false),
        s("l1", "l2", Some("4×8×8"), false),
        s("l2", "l3_1", Some("4×8×8"), false),
        s("l3_1", "l3_2", Some("4×8×8"), false),
        s("l3_2", "l3_add", Some("4×8×8"), false),
        s("l2", "l3_add", Some("skip 4×8×8"), true),
        s("l3_add", "l4", Some("4×8×8"), false),
        s("l4", "l5", Some("256"), false),
        s("l5", "output", Some("3"), false),
        s("output", "loss", Some("3"), false),
        s("target", "loss", None, false),
    ]);
    assert_eq!(got, want);
}

/// Mermaid: balanced `subgraph`/`end`, every edge's ends declared.
fn check_mermaid(text: &str) -> usize {
    assert!(text.starts_with("flowchart TB\n"));
    let mut depth = 0i32;
    let mut subgraphs = 0;
    let mut declared = HashSet::new();
    let mut ends = Vec::new();
    for l in text.lines().skip(1).map(str::trim) {
        if l.starts_with("%%")
            || l.starts_with("classDef ")
            || l.starts_with("class ")
            || l.starts_with("style ")
            || l.starts_with("linkStyle ")
            || l.starts_with("direction ")
        {
            continue;
        }
        if l.starts_with("subgraph ") {
            depth += 1;
            subgraphs += 1;
            continue;
        }
        if l == "end" {
            depth -= 1;
            assert!(depth >= 0, "end without subgraph");
            continue;
        }
        if let Some(arrow) = ["-->", "==>"].iter().find(|a| l.contains(*a)) {
            let (a, rest) = l.split_once(arrow).unwrap();
            let rest = rest.trim();
            let b = match rest.strip_prefix('|') {
                Some(r) => r.split_once('|').unwrap().1.trim(),
                None => rest,
            };
            ends.push(a.trim().to_string());
            ends.push(b.to_string());
            continue;
        }
        let (id, label) = l.split_once('[').unwrap_or_else(|| panic!("line {l}"));
        assert!(label.starts_with('"') && label.ends_with("\"]"), "{l}");
        declared.insert(id.to_string());
    }
    assert_eq!(depth, 0, "unbalanced subgraphs");
    for e in ends {
        assert!(declared.contains(&e), "{e} is not declared");
    }
    subgraphs
}

fn clusters(stmts: &[Stmt], out: &mut Vec<String>) {
    for s in stmts {
        if let Stmt::Subgraph(Subgraph { id, stmts }) = s {
            out.push(format!("{id:?}"));
            clusters(stmts, out);
        }
    }
}

#[test]
fn mermaid_and_dot_are_well_formed() {
    let lg = layer_graph();
    assert_eq!(check_mermaid(&draw::layer_mermaid(&lg)), 1);
    let dot = draw::layer_dot(&lg);
    let parsed = graphviz_rust::parse(&dot).unwrap_or_else(|e| panic!("{e}\n{dot}"));
    let DotGraph::DiGraph { stmts, .. } = parsed else {
        panic!("not a digraph")
    };
    let mut found = Vec::new();
    clusters(&stmts, &mut found);
    assert_eq!(found.len(), 1);
    assert!(found[0].contains("cluster_g0"));
    // The ops view: one group per layer that records operations, nested.
    let (g, net) = network();
    let ops = draw::ops_view(&g, &net, Some(LossKind::Cce), "ops").unwrap();
    // conv, relu, residual (conv, relu), flatten, linear, loss.
    assert_eq!(ops.groups.len(), 8);
    assert_eq!(check_mermaid(&draw::layer_mermaid(&ops)), 8);
    let parsed = graphviz_rust::parse(&draw::layer_dot(&ops)).unwrap();
    let DotGraph::DiGraph { stmts, .. } = parsed else {
        panic!("not a digraph")
    };
    let mut found = Vec::new();
    clusters(&stmts, &mut found);
    assert_eq!(found.len(), 8);
}

#[test]
fn ops_view_groups_each_layers_operations() {
    let (g, net) = network();
    let ops = draw::ops_view(&g, &net, Some(LossKind::Cce), "ops").unwrap();
    let group_of = |label: &str| ops.groups.iter().position(|g| g.label == label).unwrap();
    let in_group = |q: usize| -> Vec<&str> {
        ops.boxes
            .iter()
            .filter(|b| b.group == Some(q))
            .map(|b| b.text.as_str())
            .collect()
    };
    let conv = in_group(group_of("1  conv2d(4,3,pad=1)"));
    assert!(
        conv.contains(&"conv2d") && conv.contains(&"0.weight") && conv.contains(&"0.bias"),
        "{conv:?}"
    );
    let res = group_of("3  residual: x + body(x)");
    assert_eq!(in_group(res), vec!["add"]);
    let body = group_of("3.1  conv2d(4,3,pad=1)");
    assert_eq!(ops.groups[body].parent, Some(res));
    assert!(in_group(body).contains(&"2.body.0.weight"));
    let loss = group_of("loss");
    assert_eq!(ops.boxes.last().unwrap().group, Some(loss));
    assert_eq!(ops.boxes.last().unwrap().kind, BoxKind::Loss);
}

/// `(x, y, w, h)` of every `<rect class="CLASS" …>`.
fn rects(svg: &str, class: &str) -> Vec<(f64, f64, f64, f64)> {
    let attr = |tag: &str, name: &str| -> f64 {
        tag.split(&format!(" {name}=\""))
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .parse()
            .unwrap()
    };
    svg.split("<rect ")
        .skip(1)
        .map(|t| t.split('>').next().unwrap())
        .filter(|t| t.contains(&format!("class=\"{class}\"")))
        .map(|t| {
            (
                attr(t, "x"),
                attr(t, "y"),
                attr(t, "width"),
                attr(t, "height"),
            )
        })
        .collect()
}

fn overlap(a: (f64, f64, f64, f64), b: (f64, f64, f64, f64)) -> bool {
    a.0 < b.0 + b.2 && b.0 < a.0 + a.2 && a.1 < b.1 + b.3 && b.1 < a.1 + a.3
}

fn check_svg(lg: &LayerGraph) -> String {
    let svg = draw::layer_svg(lg);
    let boxes = rects(&svg, "box");
    assert_eq!(boxes.len(), lg.boxes.len());
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            assert!(!overlap(*a, *b), "{a:?} overlaps {b:?}");
        }
    }
    // Text fits its box: 13-unit DejaVu Sans Mono, 10 units of padding.
    let char_w = 13.0 * 1233.0 / 2048.0;
    for (b, r) in lg.boxes.iter().zip(&boxes) {
        for line in b.lines() {
            assert!(
                line.chars().count() as f64 * char_w + 20.0 <= r.2 + 0.5,
                "{line} in {r:?}"
            );
        }
    }
    // Every box lies within its groups' rectangles; groups of the same
    // parent stay apart.
    let groups = rects(&svg, "group");
    assert_eq!(groups.len(), lg.groups.len());
    let inside = |a: (f64, f64, f64, f64), g: (f64, f64, f64, f64)| {
        a.0 >= g.0 && a.1 >= g.1 && a.0 + a.2 <= g.0 + g.2 && a.1 + a.3 <= g.1 + g.3
    };
    let by_depth: Vec<usize> = {
        let mut o: Vec<usize> = (0..lg.groups.len()).collect();
        o.sort_by_key(|&q| lg.depth(q));
        o
    };
    for (b, r) in lg.boxes.iter().zip(&boxes) {
        for q in lg.chain(b.group) {
            let k = by_depth.iter().position(|&x| x == q).unwrap();
            assert!(inside(*r, groups[k]), "{} outside group {q}", b.id);
        }
    }
    svg
}

#[test]
fn svg_boxes_apart_and_png_decodes() {
    let lg = layer_graph();
    let svg = check_svg(&lg);
    let (w, h) = draw::svg_size(&svg);
    let png = draw::svg_to_png(&svg, 1.0).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let dim = |k: usize| u32::from_be_bytes(png[k..k + 4].try_into().unwrap());
    assert_eq!((dim(16), dim(20)), (w.ceil() as u32, h.ceil() as u32));
    assert!(h > w, "top to bottom: {w}×{h}");
    let (g, net) = network();
    check_svg(&draw::ops_view(&g, &net, Some(LossKind::Cce), "ops").unwrap());
}

#[test]
fn lenet_and_a_deep_network_stay_readable() {
    let lenet = "conv2d(6,5,pad=2),relu,maxpool2d(2),conv2d(16,5),relu,maxpool2d(2),flatten,\
                 linear(120),relu,linear(84),relu,linear(10)";
    let deep = (0..10)
        .map(|_| "linear(16),relu")
        .collect::<Vec<_>>()
        .join(",")
        + ",linear(1)";
    for (arch, shape) in [(lenet.to_string(), vec![1, 28, 28]), (deep, vec![16])] {
        let mut g = Graph::new();
        let net = Network::<f64>::new(
            &mut g,
            &parse_arch(&arch).unwrap(),
            &shape,
            Init::KaimingUniform,
            0,
        )
        .unwrap();
        let lg = draw::layer_view(&net, Some(LossKind::Cce), &arch);
        let svg = check_svg(&lg);
        let (w, h) = draw::svg_size(&svg);
        assert!(w < 1200.0 && h > w, "{w}×{h}");
        check_svg(&draw::ops_view(&g, &net, Some(LossKind::Cce), "ops").unwrap());
    }
}
