//! The `chainrule` program end to end: training writes its files, runs are
//! reproducible, saved models evaluate and predict as they trained, and bad
//! input gives a clear error and a non-zero exit, never a panic.

use std::path::Path;
mod common;

use common::{chainrule, stderr, stdout};

fn train_iris(out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "train",
        "--data",
        "iris",
        "--epochs",
        "15",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = chainrule(&args);
    assert!(o.status.success(), "train failed: {}", stderr(&o));
    serde_json::from_str(stdout(&o).trim()).expect("one JSON object on stdout")
}

#[test]
fn train_writes_model_metrics_and_curves_reproducibly() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let summary = train_iris(&a, &[]);
    train_iris(&b, &[]);
    for key in [
        "data",
        "train_loss",
        "test_loss",
        "test_accuracy",
        "seconds",
        "model",
    ] {
        assert!(summary.get(key).is_some(), "--json lacks {key}: {summary}");
    }
    assert_eq!(summary["data"], "iris");
    for file in ["model.safetensors", "metrics.json", "curves.svg"] {
        assert!(a.join(file).is_file(), "{file} missing");
    }
    // Same seed and flags: bit-identical metrics and weights.
    let (ma, mb) = (
        std::fs::read(a.join("metrics.json")).unwrap(),
        std::fs::read(b.join("metrics.json")).unwrap(),
    );
    assert_eq!(ma, mb, "metrics.json differs between identical runs");
    assert_eq!(
        std::fs::read(a.join("model.safetensors")).unwrap(),
        std::fs::read(b.join("model.safetensors")).unwrap()
    );

    // metrics.json: every step (120 rows / 32 = 4 steps per epoch) and every epoch.
    let m: serde_json::Value = serde_json::from_slice(&ma).unwrap();
    let steps = m["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 15 * 4);
    assert_eq!(steps[0]["epoch"], 1);
    assert_eq!(steps[0]["step"], 1);
    assert_eq!(m["epochs"].as_array().unwrap().len(), 15);
    let last = &m["epochs"][14];
    assert_eq!(last["test_accuracy"], summary["test_accuracy"]);

    // Another seed gives another run.
    let c = dir.path().join("c");
    train_iris(&c, &["--seed", "1"]);
    assert_ne!(std::fs::read(c.join("metrics.json")).unwrap(), ma);
}

#[test]
fn eval_and_predict_reuse_the_trained_model() {
    let dir = tempfile::tempdir().unwrap();
    let summary = train_iris(dir.path(), &[]);
    let model = dir.path().join("model.safetensors");
    let o = chainrule(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        "iris",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    // The same split and standardization as training: the same test figures.
    assert_eq!(e["test_accuracy"], summary["test_accuracy"]);
    let (el, tl) = (
        e["test_loss"].as_f64().unwrap(),
        summary["test_loss"].as_f64().unwrap(),
    );
    assert!((el - tl).abs() < 1e-6 * tl.abs().max(1.0), "{el} vs {tl}");
    let confusion = e["confusion"].as_array().unwrap();
    assert_eq!(confusion.len(), 3);
    let total: u64 = confusion
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 30, "20% of 150 rows in the test split");

    // A typical setosa flower (first row of the data set) is class 0.
    let o = chainrule(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--input",
        "5.1,3.5,1.4,0.2",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let p: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(p["class"], 0);
    let probs: f64 = p["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!((probs - 1.0).abs() < 1e-9);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["train", "--data", "nope", "--out", out], "nope"),
        (
            vec!["train", "--data", "iris", "--hidden", "8,x", "--out", out],
            "hidden",
        ),
        (
            vec![
                "train",
                "--data",
                "iris",
                "--activation",
                "swish",
                "--out",
                out,
            ],
            "swish",
        ),
        (
            vec!["train", "--data", "iris", "--lr", "-1", "--out", out],
            "lr",
        ),
        (
            vec!["train", "--data", "iris", "--epochs", "0", "--out", out],
            "epochs",
        ),
        (
            vec!["train", "--data", "iris", "--loss", "bce", "--out", out],
            "two classes",
        ),
        (
            vec!["train", "--data", "diabetes", "--loss", "cce", "--out", out],
            "class labels",
        ),
        (
            vec!["train", "--data", "csv:/nonexistent/file.csv", "--out", out],
            "/nonexistent/file.csv",
        ),
        (
            vec![
                "train",
                "--data",
                "iris",
                "--test-fraction",
                "1.5",
                "--out",
                out,
            ],
            "test-fraction",
        ),
        (
            vec!["eval", "--model", "/nonexistent.safetensors"],
            "/nonexistent.safetensors",
        ),
        (
            vec!["train", "--data", "iris", "--threads", "0", "--out", out],
            "threads",
        ),
    ];
    for (args, needle) in cases {
        let o = chainrule(&args);
        let err = stderr(&o);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: error does not mention '{needle}': {err}"
        );
    }
    // A ragged CSV names file, line and field count.
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, "1,2,0\n3,4,1\n5,1\n").unwrap();
    let spec = format!("csv:{}", csv.display());
    let o = chainrule(&["train", "--data", &spec, "--out", out]);
    let err = stderr(&o);
    assert!(
        !o.status.success() && err.contains("bad.csv") && err.contains("line 3"),
        "{err}"
    );
    // Predict with the wrong number of inputs.
    let model_dir = dir.path().join("m");
    train_iris(&model_dir, &[]);
    let model = model_dir.join("model.safetensors");
    let o = chainrule(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--input",
        "1,2",
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("expects 4"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn worked_example_prints_every_value() {
    let o = chainrule(&["example"]);
    assert!(o.status.success());
    let text = stdout(&o);
    for value in [
        "0.377500000",
        "0.593269992",
        "0.751365070",
        "0.061819329",
        "-0.092897768",
        "-0.000448326",
        "0.054718772",
    ] {
        assert!(text.contains(value), "missing {value}:\n{text}");
    }
}

#[test]
fn gradcheck_passes_and_reports_every_parameter() {
    let o = chainrule(&[
        "gradcheck",
        "--layers",
        "3,5,2",
        "--activation",
        "sigmoid",
        "--loss",
        "cce",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(r["passed"], true);
    let names: Vec<&str> = r["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
    for p in r["params"].as_array().unwrap() {
        assert_eq!(p["verdict"], "correct");
        assert!(p["max_rel_error"].as_f64().unwrap() < 1e-5);
    }
    // A usage error is exit status 2, not 1 (reserved for a failed check).
    let o = chainrule(&["gradcheck", "--loss", "bce", "--layers", "3,5,2"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn anomaly_mode_names_the_operation_that_overflowed() {
    // Plain SGD with a learning rate of 1e6 on unscaled regression targets
    // overflows f32 within a few steps.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let o = chainrule(&[
        "train",
        "--data",
        "diabetes",
        "--optimizer",
        "sgd",
        "--lr",
        "1e6",
        "--detect-anomaly",
        "--quiet",
        "--out",
        out,
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("training stopped at epoch 1, step"), "{err}");
    assert!(
        err.contains("anomaly: ") && err.contains("(node ") && err.contains("Hint:"),
        "{err}"
    );
    assert!(
        !dir.path().join("model.safetensors").exists(),
        "no model is written from a broken run"
    );
}

#[test]
fn grad_report_records_every_layer_without_changing_training() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    train_iris(&a, &["--grad-report"]);
    train_iris(&b, &[]);
    assert_eq!(
        std::fs::read(a.join("model.safetensors")).unwrap(),
        std::fs::read(b.join("model.safetensors")).unwrap()
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("metrics.json")).unwrap()).unwrap();
    for e in m["epochs"].as_array().unwrap() {
        let layers = e["grad_report"].as_array().unwrap();
        // 4 → 64 → 32 → 3: three linear layers, layer 1 nearest the input.
        assert_eq!(layers.len(), 3);
        assert_eq!(layers[0]["layer"], 1);
        for key in [
            "grad_norm",
            "mean_abs_grad",
            "grad_to_weight",
            "saturated_fraction",
            "dead_fraction",
            "verdict",
            "reason",
        ] {
            assert!(layers[0].get(key).is_some(), "missing {key}");
        }
    }
}
