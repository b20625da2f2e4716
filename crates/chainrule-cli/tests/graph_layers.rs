//! `chainrule graph` for any network: a CNN trained one epoch drawn layer
//! by layer (and expanded to its operations), a fresh `--arch` network,
//! and clear errors.

mod common;

use common::{chainrule, stderr, stdout, train_quietly};
use std::path::Path;

const CNN: &str = "conv2d(4,3,pad=1),relu,maxpool2d(2),flatten,linear(10)";

fn ok(args: &[&str]) -> String {
    let o = chainrule(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

fn fails(args: &[&str], needle: &str) {
    let o = chainrule(args);
    assert!(!o.status.success(), "{args:?} succeeded");
    let e = stderr(&o);
    assert!(e.contains(needle), "{args:?}: '{needle}' not in {e}");
    assert!(!e.contains("panicked"), "{e}");
}

fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert!(b.starts_with(b"\x89PNG\r\n\x1a\n"));
    let dim = |k: usize| u32::from_be_bytes(b[k..k + 4].try_into().unwrap());
    (dim(16), dim(20))
}

#[test]
fn a_trained_cnn_drawn_layer_by_layer() {
    let dir = tempfile::tempdir().unwrap();
    let model = train_quietly("digits", dir.path(), &["--arch", CNN, "--epochs", "1"]);
    let m = model.to_str().unwrap();
    let mermaid = ok(&["graph", "--model", m]);
    assert!(mermaid.starts_with("flowchart TB\n"), "{mermaid}");
    // conv2d(4,3,pad=1) on 1×8×8: 4·1·3·3 + 4 = 40; maxpool halves 8×8;
    // flatten gives 4·4·4 = 64; linear(10): 64·10 + 10 = 650.
    for line in [
        "l1[\"1  conv2d(4,3,pad=1)<br/>out 4×8×8 · 40 params\"]",
        "l3[\"3  maxpool2d(2)<br/>out 4×4×4\"]",
        "l4[\"4  flatten<br/>out 64\"]",
        "l5[\"5  linear(10)<br/>out 10 · 650 params\"]",
        "input -->|\"1×8×8\"| l1",
        "l4 -->|\"64\"| l5",
        "output -->|\"10\"| loss",
    ] {
        assert!(mermaid.contains(line), "{line} not in {mermaid}");
    }
    let dot = ok(&["graph", "--model", m, "--format", "dot"]);
    assert!(
        dot.starts_with("digraph chainrule {\n  rankdir=TB;"),
        "{dot}"
    );
    // --ops: one cluster per layer that records operations, and the loss.
    let ops = ok(&["graph", "--model", m, "--ops"]);
    assert_eq!(ops.matches("subgraph ").count(), 6, "{ops}");
    assert_eq!(ops.lines().filter(|l| l.trim() == "end").count(), 6);
    assert!(ops.contains("[\"conv2d<br/>1×4×8×8\"]"), "{ops}");
    let ops_dot = ok(&["graph", "--model", m, "--ops", "--format", "dot"]);
    assert_eq!(ops_dot.matches("subgraph cluster_").count(), 6);
    // Pictures.
    let svg = dir.path().join("cnn.svg");
    ok(&["graph", "--model", m, "--out", svg.to_str().unwrap()]);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.contains("40 params"));
    let png = dir.path().join("cnn.png");
    ok(&[
        "graph",
        "--model",
        m,
        "--ops",
        "--out",
        png.to_str().unwrap(),
        "--scale",
        "1",
    ]);
    let (w, h) = png_size(&png);
    assert!(w > 300 && h > w, "{w}×{h}");
}

#[test]
fn a_fresh_residual_network_from_arch() {
    let arch = "conv2d(4,3,pad=1),relu,residual(conv2d(4,3,pad=1),relu),flatten,linear(3)";
    let m = ok(&["graph", "--arch", arch, "--input-shape", "1x8x8"]);
    assert!(
        m.contains("subgraph g0[\"3  residual: x + body(x) · 148 params\"]"),
        "{m}"
    );
    assert!(m.contains("l2 ==>|\"skip 4×8×8\"| l3_add"), "{m}");
    // The same with a comma shape and a feature count for a flat network.
    assert_eq!(ok(&["graph", "--arch", arch, "--input-shape", "1,8,8"]), m);
    let flat = ok(&[
        "graph",
        "--arch",
        "linear(4),relu,linear(1)",
        "--input-shape",
        "3",
    ]);
    assert!(flat.contains("out 4 · 16 params"), "{flat}");
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("res.png");
    ok(&[
        "graph",
        "--arch",
        arch,
        "--input-shape",
        "1x8x8",
        "--out",
        png.to_str().unwrap(),
    ]);
    let (w, h) = png_size(&png);
    assert!(h > w && h <= 2000, "{w}×{h}");
}

#[test]
fn an_mlp_model_keeps_its_op_level_drawing() {
    let dir = tempfile::tempdir().unwrap();
    let model = train_quietly("iris", dir.path(), &["--hidden", "4", "--epochs", "1"]);
    let m = model.to_str().unwrap();
    let trace = ok(&[
        "graph",
        "--model",
        m,
        "--input",
        "5.1,3.5,1.4,0.2",
        "--target",
        "0",
    ]);
    assert!(trace.starts_with("flowchart LR\n"));
    let layers = ok(&["graph", "--model", m, "--by-layer"]);
    assert!(
        layers.starts_with("flowchart TB\n") && layers.contains("linear(4)"),
        "{layers}"
    );
}

#[test]
fn bad_requests_are_clear_errors() {
    fails(
        &["graph", "--arch", "conv2d(4,3", "--input-shape", "1x8x8"],
        "arch",
    );
    fails(
        &[
            "graph",
            "--arch",
            "conv2d(4,3),flatten",
            "--input-shape",
            "1x2x2",
        ],
        "conv2d",
    );
    fails(
        &["graph", "--arch", "linear(2)", "--input-shape", "1xbx8"],
        "not a shape",
    );
    fails(
        &["graph", "--arch", "linear(2)", "--input-shape", "0x8"],
        "size of 0",
    );
    fails(
        &["graph", "--arch", "linear(2)", "--input-shape", ""],
        "input-shape",
    );
    fails(&["graph", "--arch", "linear(2)"], "--input-shape");
    fails(
        &["graph", "--model", "/no/such/model.safetensors"],
        "no such file",
    );
    fails(
        &["graph", "--ops", "--expr", "x + 1", "--at", "x=1"],
        "--ops",
    );
    fails(&["graph", "--by-layer"], "--model FILE or --arch");
    fails(
        &[
            "graph",
            "--arch",
            "linear(2)",
            "--input-shape",
            "3",
            "--input",
            "1,2,3",
        ],
        "--input",
    );
}
