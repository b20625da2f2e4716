//! `chainrule diagnose` end to end: the lesson's Example 3 in one command,
//! vanishing gradients in a sigmoid stack that a ReLU stack does not have,
//! the JSON keys, the chart files, saved models, and bad flags as errors.

use std::path::Path;
mod common;

use common::{chainrule, chainrule_in, stderr, stdout, train_quietly};

fn json(args: &[&str]) -> serde_json::Value {
    let o = chainrule(args);
    assert!(o.status.success(), "{args:?} failed: {}", stderr(&o));
    serde_json::from_str(stdout(&o).trim()).expect("one JSON object on stdout")
}

fn close(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol * b.abs().max(1e-300), "{a} vs {b}");
}

fn non_empty_svg(path: &Path) -> String {
    let svg = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(svg.starts_with("<svg") && svg.contains("<rect"), "{svg}");
    svg
}

const DEEP: &str = "32,32,32,32,32,32,1";

#[test]
fn five_sigmoid_layers_vanish_and_relu_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sigmoid.svg");
    let sig = json(&[
        "diagnose",
        "--layers",
        DEEP,
        "--activation",
        "sigmoid",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    let layers = sig["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 6);
    assert_eq!(layers[0]["verdict"], "vanishing", "{sig}");
    assert!(layers[0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("layer 1 gradient "));
    assert_eq!(layers[5]["verdict"], "healthy");
    non_empty_svg(&out);

    let out = dir.path().join("relu.svg");
    let relu = json(&[
        "diagnose",
        "--layers",
        DEEP,
        "--activation",
        "relu",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    for l in relu["layers"].as_array().unwrap() {
        assert_eq!(l["verdict"], "healthy", "{l}");
    }
    non_empty_svg(&out);

    // Other seeds, a BCE loss and another batch size agree.
    for seed in ["1", "2", "3"] {
        for (loss, batch) in [("mse", "16"), ("bce", "128")] {
            let out = dir.path().join(format!("{seed}-{loss}.svg"));
            let both = json(&[
                "diagnose",
                "--layers",
                DEEP,
                "--compare",
                "relu",
                "--seed",
                seed,
                "--loss",
                loss,
                "--batch",
                batch,
                "--json",
                "--out",
                out.to_str().unwrap(),
            ]);
            assert_eq!(both["layers"][0]["verdict"], "vanishing", "{both}");
            assert_eq!(both["compare"][0]["activation"], "relu");
            assert_eq!(
                both["compare"][0]["layers"][0]["verdict"], "healthy",
                "{both}"
            );
        }
    }
}

#[test]
fn json_has_exactly_the_documented_keys() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.svg");
    let j = json(&[
        "diagnose",
        "--layers",
        "8,8,3",
        "--activation",
        "tanh",
        "--loss",
        "cce",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    let top: Vec<&String> = j.as_object().unwrap().keys().collect();
    assert_eq!(top, ["layers"]);
    let mut want = [
        "bias",
        "dead_fraction",
        "delta_norm",
        "delta_ratio",
        "input_shape",
        "number",
        "output_shape",
        "text",
        "grad_norm",
        "grad_to_weight",
        "layer",
        "mean_abs_grad",
        "reason",
        "saturated_fraction",
        "verdict",
        "weight",
    ];
    want.sort_unstable();
    let layers = j["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    for (i, l) in layers.iter().enumerate() {
        let mut keys: Vec<&str> = l.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(keys, want);
        assert_eq!(l["layer"], i + 1);
        for k in [
            "grad_norm",
            "mean_abs_grad",
            "grad_to_weight",
            "saturated_fraction",
            "dead_fraction",
        ] {
            assert!(l[k].as_f64().unwrap() >= 0.0);
        }
    }
}

#[test]
fn example_3_in_one_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("chain.svg");
    let args = [
        "diagnose",
        "--chain",
        "5",
        "--chain-output",
        "0.9",
        "--compare",
        "relu",
        "--out",
        out.to_str().unwrap(),
    ];
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let j = json(&with_json);
    // σ'(z) = 0.9 × 0.1 = 0.09 per unit; 0.09⁵ = 5.9049e-6 at layer 1
    // (0.09² = 0.0081, 0.0081² = 6.561e-5, × 0.09 = 5.9049e-6).
    let chain = j["chain"].as_array().unwrap();
    assert_eq!(chain.len(), 5);
    for c in chain {
        close(c["local_factor"].as_f64().unwrap(), 0.09, 1e-9);
        close(c["output"].as_f64().unwrap(), 0.9, 1e-12);
    }
    close(chain[0]["cumulative"].as_f64().unwrap(), 5.9049e-6, 1e-9);
    close(chain[4]["cumulative"].as_f64().unwrap(), 0.09, 1e-9);
    assert_eq!(j["layers"][0]["verdict"], "vanishing");
    // ReLU at 0.9: derivative 1, nothing lost.
    assert_eq!(j["compare"][0]["activation"], "relu");
    for c in j["compare"][0]["chain"].as_array().unwrap() {
        close(c["local_factor"].as_f64().unwrap(), 1.0, 1e-12);
        close(c["cumulative"].as_f64().unwrap(), 1.0, 1e-12);
    }
    for l in j["compare"][0]["layers"].as_array().unwrap() {
        assert_eq!(l["verdict"], "healthy");
    }
    let svg = non_empty_svg(&out);
    assert!(svg.contains("sigmoid") && svg.contains("relu"));

    // The table shows the same numbers.
    let o = chainrule(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let first = text
        .lines()
        .find(|l| l.trim_start().starts_with("1 "))
        .expect("a row for layer 1");
    assert!(first.contains("0.090000"), "{first}");
    assert!(first.contains("5.9049e-6"), "{first}");
    assert!(first.contains("1.000000"), "{first}");
}

#[test]
fn chain_at_one_half_loses_a_quarter_per_layer() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("half.svg");
    let j = json(&[
        "diagnose",
        "--chain",
        "5",
        "--chain-output",
        "0.5",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    // σ'(0) = 0.5 × 0.5 = 0.25; 0.25⁵ = 1/1024 = 9.765625e-4.
    for c in j["chain"].as_array().unwrap() {
        close(c["local_factor"].as_f64().unwrap(), 0.25, 1e-9);
    }
    close(
        j["chain"][0]["cumulative"].as_f64().unwrap(),
        9.765625e-4,
        1e-9,
    );
    assert!(j.get("compare").is_none());
}

#[test]
fn default_chart_goes_to_runs() {
    let dir = tempfile::tempdir().unwrap();
    let o = chainrule_in(Some(dir.path()), &["diagnose", "--chain", "5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let path = dir.path().join("runs/diagnose-chain5-sigmoid-0.9.svg");
    non_empty_svg(&path);
    assert!(stdout(&o).contains("runs/diagnose-chain5-sigmoid-0.9.svg"));
    let o = chainrule_in(
        Some(dir.path()),
        &["diagnose", "--layers", "4,4,1", "--compare", "relu"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    non_empty_svg(&dir.path().join("runs/diagnose-sigmoid-4-4-1-vs-relu.svg"));
    let text = stdout(&o);
    assert!(text.contains("side by side"), "{text}");
    assert!(
        text.contains("verdict") && text.contains("reason"),
        "{text}"
    );
}

#[test]
fn a_saved_model_on_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let model = train_quietly("iris", &run, &["--epochs", "1", "--hidden", "8,8"]);
    let out = dir.path().join("model.svg");
    let j = json(&[
        "diagnose",
        "--model",
        model.to_str().unwrap(),
        "--data",
        "iris",
        "--batch",
        "32",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    // 4 → 8 → 8 → 3: three linear layers.
    assert_eq!(j["layers"].as_array().unwrap().len(), 3);
    non_empty_svg(&out);
    // The model's own data shape is checked.
    let o = chainrule(&[
        "diagnose",
        "--model",
        model.to_str().unwrap(),
        "--data",
        "digits",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).starts_with("error: "), "{}", stderr(&o));
}

#[test]
fn bad_flags_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.svg");
    let out = out.to_str().unwrap();
    let cases: [(&[&str], &str); 22] = [
        (&["--layers", "3,x"], "layers:"),
        (&["--layers", "3"], "layers:"),
        (&["--layers", "3,0,1"], "layers:"),
        (&["--activation", "swish"], "activation:"),
        (&["--compare", "swish"], "compare:"),
        (&["--loss", "cce"], "loss:"),
        (&["--batch", "0"], "invalid value '0' for '--batch"),
        (&["--init", "bogus"], "init:"),
        (&["--chain", "0"], "invalid value '0' for '--chain"),
        (&["--chain", "5", "--chain-output", "1.5"], "chain-output:"),
        (&["--chain", "5", "--layers", "3,3"], "layers:"),
        (&["--chain-output", "0.5"], "chain-output:"),
        (
            &["--model", "missing.safetensors"],
            "missing.safetensors: I/O error",
        ),
        (&["--data", "iris"], "data:"),
        (&["--chain", "5", "--compare", "resnet"], "compare:"),
        (&["--compare", "residual"], "compare:"),
        (&["--arch", "linear(4),relu,linear("], "architecture:"),
        (
            &["--arch", "linear(4)", "--input-shape", "0"],
            "input-shape:",
        ),
        (
            &["--arch", "conv2d(2,3)", "--input-shape", "1x8x8"],
            "arch:",
        ),
        (&["--arch", "linear(4)", "--compare", "relu"], "compare:"),
        (&["--arch", "linear(4)", "--layers", "3,3"], "layers:"),
        (&["--chain", "3", "--arch", "linear(1)"], "arch:"),
    ];
    for (args, setting) in cases {
        let mut all = vec!["diagnose"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--out", out]);
        let o = chainrule(&all);
        let err = stderr(&o);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(
            err.starts_with(&format!("error: {setting}")),
            "{args:?}: {err}"
        );
    }
    let o = chainrule(&[
        "diagnose",
        "--model",
        "missing.safetensors",
        "--data",
        "iris",
    ]);
    assert!(!o.status.success());
    assert!(!stderr(&o).contains("panicked"));
}

#[test]
fn item_06_diagnose_reads_the_data_the_model_file_records() {
    let dir = tempfile::tempdir().unwrap();
    let model = train_quietly("iris", &dir.path().join("run"), &["--epochs", "1"]);
    let svg = dir.path().join("d.svg");
    let o = chainrule(&[
        "diagnose",
        "--model",
        model.to_str().unwrap(),
        "--out",
        svg.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Named as when --data iris is given.
    let with_data = chainrule(&[
        "diagnose",
        "--model",
        model.to_str().unwrap(),
        "--data",
        "iris",
        "--out",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(stdout(&o), stdout(&with_data));
    assert!(stdout(&o).contains("iris"), "{}", stdout(&o));
}

/// Example 3 finished: the chain with a skip connection around every unit
/// and with batch norm before every activation, side by side.
#[test]
fn chain_compares_the_cures_residual_and_batchnorm() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cures.svg");
    let args = [
        "diagnose",
        "--chain",
        "5",
        "--chain-output",
        "0.9",
        "--compare",
        "relu,residual,batchnorm",
        "--out",
        out.to_str().unwrap(),
    ];
    let j = json(&[&args[..], &["--json"]].concat());
    let compare = j["compare"].as_array().unwrap();
    assert_eq!(compare.len(), 3);
    assert_eq!(j["layers"][0]["verdict"], "vanishing");
    let (relu, residual, batchnorm) = (&compare[0], &compare[1], &compare[2]);
    assert_eq!(
        (relu["kind"].as_str(), relu["activation"].as_str()),
        (Some("plain"), Some("relu"))
    );
    assert_eq!(residual["kind"], "residual");
    assert_eq!(batchnorm["kind"], "batchnorm");
    // Each residual block passes back 1 + σ'(z) = 1 + 0.9 × 0.1 = 1.09;
    // layer 1's ∂L/∂z is 0.09 × 1.09⁴ = 0.127043… of the output gradient.
    for c in residual["chain"].as_array().unwrap() {
        close(c["local_factor"].as_f64().unwrap(), 1.09, 1e-12);
    }
    close(
        residual["chain"][0]["cumulative"].as_f64().unwrap(),
        0.09 * 1.09f64.powi(4),
        1e-12,
    );
    for cure in [residual, batchnorm] {
        assert_eq!(cure["layers"][0]["verdict"], "healthy", "{cure}");
    }
    let svg = non_empty_svg(&out);
    assert!(svg.contains("residual sigmoid") && svg.contains("batchnorm sigmoid"));
    let o = chainrule(&args);
    let text = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        text.contains(
            "by hand, residual sigmoid: each block passes back 1 + w·act'(z) = 1 + 0.09 = 1.09"
        ),
        "{text}"
    );
}

/// 20 sigmoid layers against the same with residual blocks and with batch
/// norm: layer 1 vanishes without, and is healthy with either.
#[test]
fn twenty_sigmoid_layers_against_residual_and_batchnorm() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("deep.svg");
    let j = json(&[
        "diagnose",
        "--arch",
        "plain=repeat(20,linear(32),sigmoid),linear(1)",
        "--arch",
        "residual=linear(32),sigmoid,repeat(19,residual(linear(32),sigmoid)),linear(1)",
        "--arch",
        "batchnorm=repeat(20,linear(32),batchnorm1d,sigmoid),linear(1)",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    let plain = j["layers"].as_array().unwrap();
    assert_eq!(plain.len(), 21);
    assert_eq!(plain[0]["verdict"], "vanishing", "{}", plain[0]);
    assert!(plain[0]["delta_ratio"].as_f64().unwrap() < 1e-9);
    let compare = j["compare"].as_array().unwrap();
    assert_eq!(compare[0]["name"], "residual");
    assert_eq!(compare[1]["name"], "batchnorm");
    for c in compare {
        let l1 = &c["layers"][0];
        assert_eq!(l1["verdict"], "healthy", "{l1}");
        assert!(l1["delta_ratio"].as_f64().unwrap() > 0.1, "{l1}");
    }
    // Layers inside residual blocks are named by their place.
    assert_eq!(compare[0]["layers"][1]["number"], "3.1");
    assert_eq!(compare[0]["layers"][1]["weight"], "2.body.0.weight");
    non_empty_svg(&out);
}

/// A CNN model file: its conv and linear layers, with shapes.
#[test]
fn a_cnn_model_is_diagnosed_on_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("cnn");
    let o = chainrule(&[
        "train",
        "--data",
        "digits",
        "--arch",
        "conv2d(4,3,pad=1),batchnorm2d,relu,maxpool2d(2),flatten,linear(10)",
        "--epochs",
        "1",
        "--out",
        run.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let model = run.join("model.safetensors");
    let out = dir.path().join("cnn.svg");
    let j = json(&[
        "diagnose",
        "--model",
        model.to_str().unwrap(),
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    let layers = j["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    assert_eq!(layers[0]["text"], "conv2d(4,3,pad=1)");
    assert_eq!(layers[0]["input_shape"], serde_json::json!([1, 8, 8]));
    assert_eq!(layers[0]["output_shape"], serde_json::json!([4, 8, 8]));
    assert_eq!(layers[1]["weight"], "5.weight");
    assert_eq!(layers[1]["input_shape"], serde_json::json!([64]));
    // The ReLU after the batch norm is the conv layer's activation.
    assert!(layers[0]["dead_fraction"].as_f64().unwrap() >= 0.0);
    for l in layers {
        assert_eq!(l["verdict"], "healthy", "{l}");
    }
}
