//! The same flags mean the same network in every command (issue 10, item
//! 4), and every command numbers its layers as the lesson does (item 11):
//! layer 1 is the first weight layer, `0.weight` in the state_dict.

mod common;

use common::{chainrule, stderr, stdout};
use std::path::Path;

fn ok(args: &[&str]) -> String {
    let o = chainrule(args);
    assert!(o.status.success(), "{args:?} failed: {}", stderr(&o));
    stdout(&o)
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

/// Writes F64 tensors as a safetensors file, by hand from the format's
/// description (8-byte little-endian header length, JSON header, data), so
/// that the test does not read weights through the code it checks.
fn write_safetensors(path: &Path, tensors: &[(&str, &[usize], &[f64])]) {
    let mut header = Vec::new();
    let mut data = Vec::new();
    for (name, shape, values) in tensors {
        assert_eq!(shape.iter().product::<usize>(), values.len());
        let start = data.len();
        for v in *values {
            data.extend_from_slice(&v.to_le_bytes());
        }
        header.push(format!(
            r#""{name}":{{"dtype":"F64","shape":{shape:?},"data_offsets":[{start},{}]}}"#,
            data.len()
        ));
    }
    let mut text = format!("{{{}}}", header.join(","));
    while text.len() % 8 != 0 {
        text.push(' ');
    }
    let mut bytes = (text.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(text.as_bytes());
    bytes.extend_from_slice(&data);
    std::fs::write(path, bytes).unwrap();
}

// A 2-3-2 network with sigmoid hidden units; weights exact in f32 too.
const W1: [f64; 6] = [0.5, -0.25, 0.75, 1.0, -0.5, 0.125];
const B1: [f64; 3] = [0.125, -0.375, 0.25];
const W2: [f64; 6] = [1.0, -0.5, 0.25, -0.75, 0.5, 1.25];
const B2: [f64; 2] = [0.25, -0.125];

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// The logits of the network for input `x`, by hand: z = W2·σ(W1·x + b1) + b2.
fn logits(x: [f64; 2]) -> [f64; 2] {
    let h: Vec<f64> = (0..3)
        .map(|j| sigmoid(W1[2 * j] * x[0] + W1[2 * j + 1] * x[1] + B1[j]))
        .collect();
    let z = |i: usize| (0..3).map(|j| W2[3 * i + j] * h[j]).sum::<f64>() + B2[i];
    [z(0), z(1)]
}

/// Softmax cross-entropy over logits: logsumexp(z) − z[class].
fn cross_entropy(z: [f64; 2], class: usize) -> f64 {
    (z[0].exp() + z[1].exp()).ln() - z[class]
}

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol * want.abs().max(1.0),
        "{what}: got {got}, want {want}"
    );
}

fn explain_cce(weights: &Path, x: [f64; 2], class: usize) -> serde_json::Value {
    let input = format!("{},{}", x[0], x[1]);
    let target = class.to_string();
    json(&[
        "explain",
        "--init",
        weights.to_str().unwrap(),
        "--layers",
        "2,3,2",
        "--loss",
        "cce",
        "--input",
        &input,
        "--target",
        &target,
        "--format",
        "json",
    ])
}

#[test]
fn item_04_explain_cce_reads_logits_as_train_does() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("w.safetensors");
    write_safetensors(
        &weights,
        &[
            ("0.weight", &[3, 2], &W1),
            ("0.bias", &[3], &B1),
            ("2.weight", &[2, 3], &W2),
            ("2.bias", &[2], &B2),
        ],
    );
    let rows = [([0.5, -1.0], 1usize), ([0.25, 0.75], 0usize)];

    // explain: softmax cross-entropy over the logits, checked by hand.
    let mut explained = Vec::new();
    for (x, class) in rows {
        let j = explain_cce(&weights, x, class);
        let z = logits(x);
        let want = cross_entropy(z, class);
        close(j["loss"].as_f64().unwrap(), want, 1e-12, "explain's loss");
        // ∂L/∂b2 = softmax(z) − onehot(class).
        let p1 = 1.0 / (1.0 + (z[0] - z[1]).exp());
        let p = [1.0 - p1, p1];
        let grad: Vec<f64> = j["gradients"]["2.bias"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        for i in 0..2 {
            let want = p[i] - f64::from(u8::from(i == class));
            close(grad[i], want, 1e-12, "∂L/∂b2");
        }
        assert!(
            j["network"].as_str().unwrap().contains("identity output"),
            "{}",
            j["network"]
        );
        explained.push(want);
    }

    // train with the same weights and flags: its first step's loss (before
    // any update) is the mean over the two rows of the same losses.
    let csv = dir.path().join("two.csv");
    std::fs::write(&csv, "x1,x2,y\n0.5,-1,1\n0.25,0.75,0\n").unwrap();
    let out = dir.path().join("run");
    let data = format!("csv:{}", csv.display());
    ok(&[
        "train",
        "--data",
        &data,
        "--hidden",
        "3",
        "--activation",
        "sigmoid",
        "--loss",
        "cce",
        "--init",
        weights.to_str().unwrap(),
        "--epochs",
        "1",
        "--batch-size",
        "2",
        "--no-shuffle",
        "--no-standardize",
        "--test-fraction",
        "0",
        "--optimizer",
        "sgd",
        "--lr",
        "0.001",
        "--out",
        out.to_str().unwrap(),
    ]);
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    let first = metrics["steps"][0]["loss"].as_f64().unwrap();
    let mean = (explained[0] + explained[1]) / 2.0;
    // train computes in f32.
    close(first, mean, 1e-6, "train's first loss");

    // A sigmoid output under cross-entropy is not the network train
    // builds: refused, not silently computed.
    let o = chainrule(&[
        "explain",
        "--init",
        weights.to_str().unwrap(),
        "--layers",
        "2,3,2",
        "--loss",
        "cce",
        "--output-activation",
        "sigmoid",
        "--input",
        "0.5,-1",
        "--target",
        "1",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("output activation must be identity"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn item_04_worked_example_keeps_the_lessons_sigmoid_output() {
    // The lesson's network (sigmoid output, MSE): its numbers unchanged.
    let j = json(&["explain", "--format", "json"]);
    close(
        j["loss"].as_f64().unwrap(),
        0.0618193,
        1e-6,
        "worked example",
    );
    // The same network from flags needs the sigmoid output asked for;
    // without it --loss mse means a linear output, as in train.
    let args = |out: Option<&'static str>| {
        let mut a = vec![
            "explain", "--layers", "2,2,1", "--input", "0.05,0.1", "--target", "1", "--format",
            "json",
        ];
        if let Some(o) = out {
            a.extend(["--output-activation", o]);
        }
        a
    };
    let linear = json(&args(None));
    assert!(linear["network"]
        .as_str()
        .unwrap()
        .contains("identity output"));
    let sig = json(&args(Some("sigmoid")));
    assert!(sig["network"].as_str().unwrap().contains("sigmoid output"));
}

/// The explain JSON node whose state_dict key is `key`.
fn node_with_key<'a>(j: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    j["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["key"] == key)
        .unwrap_or_else(|| panic!("no node {key}"))
}

#[test]
fn item_11_layer_1_is_0_weight_everywhere() {
    // explain: W1 is 0.weight and belongs to layer 1; W2 (2.weight) to layer 2.
    let j = json(&["explain", "--format", "json"]);
    let w1 = node_with_key(&j, "0.weight");
    assert_eq!(w1["name"], "W1");
    assert!(
        w1["role"].as_str().unwrap().starts_with("layer 1 "),
        "{}",
        w1["role"]
    );
    let w2 = node_with_key(&j, "2.weight");
    assert!(
        w2["role"].as_str().unwrap().starts_with("layer 2 "),
        "{}",
        w2["role"]
    );
    // Every layer named in explain's roles is 1 or 2 (no layer 0, 3 or 4).
    for n in j["nodes"].as_array().unwrap() {
        if let Some(role) = n["role"].as_str() {
            if let Some(rest) = role.strip_prefix("layer ") {
                let k = rest.split(' ').next().unwrap();
                assert!(k == "1" || k == "2", "role {role}");
            }
        }
    }
    let table = ok(&["explain"]);
    assert!(!table.contains("layer 0"), "{table}");

    // diagnose, JSON and table: layer 1 is 0.weight, layer 3 is 4.weight.
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("flow.svg");
    let args = [
        "diagnose",
        "--layers",
        "4,5,3,2",
        "--out",
        svg.to_str().unwrap(),
    ];
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let d = json(&json_args);
    let layers = d["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    for (i, key) in ["0", "2", "4"].iter().enumerate() {
        assert_eq!(layers[i]["layer"], i + 1);
        assert_eq!(layers[i]["weight"], format!("{key}.weight"));
        assert_eq!(layers[i]["bias"], format!("{key}.bias"));
    }
    let table = ok(&args);
    let row = table
        .lines()
        .find(|l| l.trim_start().starts_with("1 "))
        .expect("a row for layer 1");
    // Layer 1 is the architecture's first layer, linear(5), holding 0.weight.
    assert!(
        row.contains("1 linear(5)") && row.contains(" 0.weight "),
        "{row}"
    );
    // The chart writes each layer's state_dict weight under its number.
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.contains("0.weight") && picture.contains("4.weight"));

    // metrics.json's grad_report: the same numbering.
    let out = dir.path().join("run");
    ok(&[
        "train",
        "--data",
        "iris",
        "--epochs",
        "1",
        "--hidden",
        "5,4",
        "--grad-report",
        "--out",
        out.to_str().unwrap(),
    ]);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    let report = m["epochs"][0]["grad_report"].as_array().unwrap();
    assert_eq!(report[0]["layer"], 1);
    assert_eq!(report[0]["weight"], "0.weight");
    assert_eq!(report[2]["layer"], 3);
    assert_eq!(report[2]["weight"], "4.weight");
}
