//! `chainrule explain` and `chainrule graph` end to end: the worked
//! examples' numbers through the JSON output, every format, any network,
//! and clear errors (never a panic) on bad input.

mod common;

use common::{chainrule, stderr, stdout};

fn ok(args: &[&str]) -> String {
    let o = chainrule(args);
    assert!(o.status.success(), "{args:?} failed: {}", stderr(&o));
    stdout(&o)
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

/// Fails with a message containing `needle`, without panicking.
fn fails(args: &[&str], needle: &str) {
    let o = chainrule(args);
    let err = stderr(&o);
    assert!(!o.status.success(), "{args:?} succeeded: {}", stdout(&o));
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert!(
        err.contains(needle),
        "{args:?}: expected '{needle}' in: {err}"
    );
}

fn flat(v: &serde_json::Value) -> Vec<f64> {
    match v {
        serde_json::Value::Number(n) => vec![n.as_f64().unwrap()],
        serde_json::Value::Array(a) => a.iter().flat_map(flat).collect(),
        other => panic!("not numbers: {other}"),
    }
}

fn close(got: &serde_json::Value, want: &[f64], what: &str) {
    let got = flat(got);
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= 5e-6 * w.abs().max(1e-4),
            "{what}: {g} vs {w}"
        );
    }
}

fn node<'a>(j: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    j["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node {name}"))
}

#[test]
fn worked_example_1_through_the_cli() {
    let j = json(&["explain", "--format", "json"]);
    close(&node(&j, "z1")["value"], &[0.3775, 0.3925], "z1");
    close(&node(&j, "h1")["value"], &[0.593270, 0.596884], "h");
    close(&node(&j, "z2")["value"], &[1.105906], "z2");
    close(&node(&j, "ŷ")["value"], &[0.751365], "ŷ");
    close(&j["loss"], &[0.0618193], "L");
    close(&node(&j, "ŷ")["grad"], &[-0.497270], "∂L/∂ŷ");
    close(&node(&j, "z2")["grad"], &[-0.0928978], "δ2");
    close(
        &j["gradients"]["2.weight"],
        &[-0.0551135, -0.0554492],
        "∂L/∂W2",
    );
    close(&j["gradients"]["2.bias"], &[-0.0928978], "∂L/∂b2");
    close(&node(&j, "z1")["grad"], &[-0.00896652, -0.0100586], "δ1");
    close(
        &j["gradients"]["0.weight"],
        &[-0.000448326, -0.000896652, -0.000502930, -0.00100586],
        "∂L/∂W1",
    );
    close(
        &j["update"]["loss_after"],
        &[0.0547188],
        "loss after the step",
    );
    // The same network spelled out with flags gives the same gradients
    // when its weights are the example's: --lr changes only the step.
    let j2 = json(&["explain", "--format", "json", "--lr", "0.1"]);
    assert_eq!(j2["gradients"], j["gradients"]);
    assert_ne!(j2["update"]["loss_after"], j["update"]["loss_after"]);
}

#[test]
fn worked_example_2_through_the_cli() {
    let j = json(&[
        "explain",
        "--expr",
        "(x + y) * (x - 1)",
        "--at",
        "x=3,y=2",
        "--format",
        "json",
    ]);
    assert_eq!(j["expression"], "(x + y) * (x - 1)");
    assert_eq!(j["value"], 10.0);
    assert_eq!(j["gradients"]["x"], 7.0);
    assert_eq!(j["gradients"]["y"], 2.0);
    assert_eq!(node(&j, "x")["paths"], 2);
}

#[test]
fn tables_and_markdown() {
    let t = ok(&["explain"]);
    for needle in [
        "Forward pass",
        "Backward pass",
        "0.weight (W1)",
        "z1 = x·W1ᵀ + ",
        "∂L/∂W1 (0.weight)",
        "loss 0.0618193 → 0.0547188 after one step",
    ] {
        assert!(t.contains(needle), "table lacks {needle}:\n{t}");
    }
    let t = ok(&["explain", "--expr", "(x + y) * (x - 1)", "--at", "x=3,y=2"]);
    assert!(t.contains("⊕ 2 paths add up"), "{t}");
    let md = ok(&["explain", "--format", "markdown"]);
    assert!(md.starts_with("# Worked example 1"));
    assert!(md.contains("| # | node | what happens | formula | value |"));
}

#[test]
fn any_network_from_flags() {
    let j = json(&[
        "explain",
        "--layers",
        "3,4,2",
        "--activation",
        "tanh",
        "--output-activation",
        "identity",
        "--loss",
        "cce",
        "--input",
        "0.1,-0.2,0.3",
        "--target",
        "1",
        "--seed",
        "3",
        "--format",
        "json",
    ]);
    assert_eq!(j["loss_kind"], "cce");
    assert_eq!(flat(&j["gradients"]["0.weight"]).len(), 12);
    assert_eq!(flat(&j["gradients"]["2.weight"]).len(), 8);
    assert!(j["update"]["loss_after"].as_f64().unwrap() < j["loss"].as_f64().unwrap());
    // A larger layer is summarized in the table unless --full.
    let args = [
        "explain",
        "--layers",
        "8,16,1",
        "--input",
        "1,2,3,4,5,6,7,8",
        "--target",
        "0.5",
    ];
    let short = ok(&args);
    assert!(short.contains("[16, 8] min "), "{short}");
    let mut full_args = args.to_vec();
    full_args.push("--full");
    assert!(!ok(&full_args).contains("[16, 8] min "));
}

#[test]
fn a_trained_model_file_and_init_weights() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    ok(&[
        "train",
        "--data",
        "iris",
        "--epochs",
        "1",
        "--hidden",
        "5",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    let model = out.join("model.safetensors");
    let m = model.to_str().unwrap();
    let j = json(&[
        "explain",
        "--model",
        m,
        "--input",
        "5.1,3.5,1.4,0.2",
        "--target",
        "0",
        "--format",
        "json",
    ]);
    assert_eq!(j["loss_kind"], "cce");
    assert!(j["standardized_input"].is_array());
    assert!(j["loss"].as_f64().unwrap() > 0.0);
    // --init reads the same weights into an architecture given by flags.
    let j2 = json(&[
        "explain",
        "--init",
        m,
        "--layers",
        "4,5,3",
        "--activation",
        "relu",
        "--output-activation",
        "identity",
        "--loss",
        "cce",
        "--input",
        "1,2,3,4",
        "--target",
        "2",
        "--format",
        "json",
    ]);
    // Shapes and finiteness here; the values are checked against a network
    // worked by hand in `init_weights_give_the_hand_computed_loss_and_gradients`.
    let g2 = numbers(&j2["gradients"]["2.weight"]);
    assert_eq!(g2.len(), 3 * 5, "{g2:?}");
    assert!(
        g2.iter().all(|v| v.is_finite()) && g2.iter().any(|v| *v != 0.0),
        "{g2:?}"
    );
    fails(
        &["explain", "--model", m, "--input", "1,2", "--target", "0"],
        "4 inputs",
    );
    fails(
        &[
            "explain", "--model", m, "--input", "1,2,3,4", "--target", "7",
        ],
        "class index",
    );
    fails(&["explain", "--model", m, "--target", "0"], "--input");
    // graph of a model: a picture file.
    let png = dir.path().join("model.png");
    ok(&[
        "graph",
        "--model",
        m,
        "--input",
        "5.1,3.5,1.4,0.2",
        "--target",
        "0",
        "--format",
        "png",
        "--scale",
        "1",
        "--out",
        png.to_str().unwrap(),
    ]);
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
}

#[test]
fn graph_formats() {
    let ex2 = ["--expr", "(x + y) * (x - 1)", "--at", "x=3,y=2"];
    let mut args = vec!["graph"];
    args.extend(ex2);
    let m = ok(&args);
    assert!(m.starts_with("flowchart LR\n"), "{m}");
    assert!(m.contains("class n4 output"));
    let mut dot_args = args.clone();
    dot_args.extend(["--format", "dot"]);
    let d = ok(&dot_args);
    assert!(d.starts_with("digraph chainrule {") && d.trim_end().ends_with('}'));
    let dir = tempfile::tempdir().unwrap();
    for format in ["svg", "png", "mermaid", "dot"] {
        let path = dir.path().join(format!("g.{format}"));
        let mut a = args.clone();
        a.extend(["--format", format, "--out", path.to_str().unwrap()]);
        ok(&a);
        let bytes = std::fs::read(&path).unwrap();
        match format {
            "svg" => assert!(bytes.starts_with(b"<svg")),
            "png" => assert!(bytes.starts_with(b"\x89PNG")),
            _ => assert!(!bytes.is_empty()),
        }
    }
    // The network of worked example 1, the default.
    assert!(ok(&["graph"]).contains("L = "));
    fails(&["graph", "--format", "png"], "--out");
    fails(&["graph", "--format", "gif"], "gif");
}

#[test]
fn bad_input_is_a_clear_error() {
    fails(
        &["explain", "--expr", "x + 1 )", "--at", "x=1"],
        "unexpected ')' at column 7",
    );
    fails(
        &["explain", "--expr", "(x + 1", "--at", "x=1"],
        "missing ')'",
    );
    fails(
        &["explain", "--expr", "x * foo(x)", "--at", "x=1"],
        "unknown function 'foo'",
    );
    fails(
        &["explain", "--expr", "x * 1.2.3", "--at", "x=1"],
        "bad number '1.2.3'",
    );
    fails(&["explain", "--expr", "x * y", "--at", "x=1"], "'y'");
    fails(&["explain", "--expr", "x * y"], "--at");
    fails(
        &["explain", "--expr", "x", "--at", "x=oops"],
        "not a finite number",
    );
    fails(&["explain", "--expr", "x", "--at", "x"], "NAME=VALUE");
    fails(&["explain", "--expr", "", "--at", "x=1"], "empty");
    fails(
        &["explain", "--expr", "x", "--at", "x=1", "--layers", "2,1"],
        "cannot be used with",
    );
    fails(
        &[
            "explain",
            "--model",
            "/nonexistent/model.safetensors",
            "--input",
            "1",
            "--target",
            "1",
        ],
        "nonexistent",
    );
    fails(
        &[
            "explain", "--layers", "2,0,1", "--input", "1,2", "--target", "1",
        ],
        "layers",
    );
    fails(
        &[
            "explain", "--layers", "2,2", "--input", "1,x", "--target", "1",
        ],
        "'x'",
    );
    fails(&["explain", "--layers", "2,1"], "--input");
    fails(
        &[
            "explain", "--input", "1,2", "--target", "1", "--loss", "hinge",
        ],
        "unknown loss",
    );
    fails(&["explain", "--lr", "-1"], "lr");
    fails(&["explain", "--activation", "relu"], "--layers");
    // Values that overflow are shown, not hidden, and nothing panics.
    let j = json(&[
        "explain", "--expr", "exp(x)", "--at", "x=1000", "--format", "json",
    ]);
    assert!(j["value"].is_null(), "inf is null in JSON: {j}");
    let t = ok(&["explain", "--expr", "log(x)", "--at", "x=-1"]);
    assert!(t.contains("NaN"), "{t}");
}

/// A 2-2-2 network written by hand (weights below), as PyTorch would store
/// it: no metadata, `[out, in]` weights.
fn hand_network(path: &std::path::Path) {
    use chainrule_nn::model_file::{save, NamedTensor};
    let t = |name: &str, shape: &[usize], data: &[f32]| NamedTensor {
        name: name.to_string(),
        shape: shape.to_vec(),
        data: data.to_vec(),
    };
    save(
        path,
        &[
            t("0.weight", &[2, 2], &[1.0, -1.0, 0.5, 2.0]),
            t("0.bias", &[2], &[0.0, -1.0]),
            t("2.weight", &[2, 2], &[1.0, 0.0, -1.0, 0.5]),
            t("2.bias", &[2], &[0.5, 0.0]),
        ],
        &Default::default(),
    )
    .unwrap();
}

/// Flattens a JSON number or (nested) array of numbers.
fn numbers(v: &serde_json::Value) -> Vec<f64> {
    match v {
        serde_json::Value::Array(a) => a.iter().flat_map(numbers).collect(),
        n => vec![n.as_f64().unwrap_or_else(|| panic!("not a number: {n}"))],
    }
}

#[test]
fn init_weights_give_the_hand_computed_loss_and_gradients() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hand.safetensors");
    hand_network(&file);
    let j = json(&[
        "explain",
        "--init",
        file.to_str().unwrap(),
        "--layers",
        "2,2,2",
        "--activation",
        "relu",
        "--output-activation",
        "identity",
        "--loss",
        "cce",
        "--input",
        "1,2",
        "--target",
        "1",
        "--format",
        "json",
    ]);
    // By hand: z1 = W1·x + b1 = [1 − 2 + 0, 0.5 + 4 − 1] = [−1, 3.5],
    // h = relu(z1) = [0, 3.5], z2 = W2·h + b2 = [0.5, 1.75].
    // Softmax of z2: p = [q, 1 − q] with q = 1 / (1 + e^1.25);
    // loss −ln(1 − q) = ln(1 + e^−1.25).
    // ∂L/∂z2 = p − onehot(1) = [q, −q]; ∂L/∂W2 = ∂L/∂z2 ⊗ h = [[0, 3.5q],
    // [0, −3.5q]]; ∂L/∂h = W2ᵀ·[q, −q] = [2q, −0.5q]; ReLU passes only the
    // second: ∂L/∂z1 = [0, −0.5q]; ∂L/∂W1 = ∂L/∂z1 ⊗ x = [[0, 0], [−0.5q, −q]].
    let q = 1.0 / (1.0 + 1.25f64.exp());
    let want: [(&str, Vec<f64>); 4] = [
        ("0.weight", vec![0.0, 0.0, -0.5 * q, -q]),
        ("0.bias", vec![0.0, -0.5 * q]),
        ("2.weight", vec![0.0, 3.5 * q, 0.0, -3.5 * q]),
        ("2.bias", vec![q, -q]),
    ];
    let close = |got: f64, want: f64| (got - want).abs() <= 1e-12 * want.abs().max(1.0);
    let loss = j["loss"].as_f64().unwrap();
    assert!(close(loss, (1.0 + (-1.25f64).exp()).ln()), "loss {loss}");
    for (name, w) in want {
        let got = numbers(&j["gradients"][name]);
        assert_eq!(got.len(), w.len(), "{name}: {got:?}");
        for (g, w) in got.iter().zip(&w) {
            assert!(close(*g, *w), "{name}: got {got:?}, want {w:?}");
        }
    }
}
