//! Model files a user can trust: training from PyTorch's weights follows
//! PyTorch's SGD step for step, SGD means no momentum unless asked, a model
//! file records the data and split it was trained on (and `eval` uses them),
//! `predict` names the class, weights that are not finite are refused, and
//! models PyTorch wrote predict what PyTorch computed.
//!
//! The PyTorch figures are in `crates/chainrule-nn/tests/data/torch/`,
//! written by `bench/interop/torch_fixtures.py` (versions recorded there).

use std::path::{Path, PathBuf};
mod common;

use chainrule::{Graph, Tensor};
use chainrule_nn::model_file::{self, NamedTensor};
use chainrule_nn::trainer::{make_optimizer, OptimizerKind, TrainConfig};
use common::{chainrule, floats, json_file, stderr, stdout};
use serde_json::Value;

fn torch_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../chainrule-nn/tests/data/torch")
        .join(name)
}

fn run_ok(args: &[&str]) -> (String, String) {
    let o = chainrule(args);
    assert!(o.status.success(), "{args:?} failed: {}", stderr(&o));
    (stdout(&o), stderr(&o))
}

fn run_err(args: &[&str]) -> String {
    let o = chainrule(args);
    assert!(!o.status.success(), "{args:?} should fail: {}", stdout(&o));
    stderr(&o)
}

// ------------------------------------------------------------------ item 3

/// `train --init` from PyTorch's initial weights, with PyTorch's flags, and
/// every step's loss from metrics.json.
fn losses_from_pytorch_init(out: &Path, extra: &[&str]) -> Vec<f64> {
    let record = json_file(&torch_fixture("iris_sgd.json"));
    let init = torch_fixture(record["init"].as_str().unwrap());
    let mut args: Vec<String> = vec!["train".into()];
    for f in record["flags"].as_array().unwrap() {
        args.push(f.as_str().unwrap().to_string());
    }
    args.extend(["--init".into(), init.display().to_string()]);
    args.extend(["--out".into(), out.display().to_string(), "--json".into()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_ok(&args);
    let metrics = json_file(&out.join("metrics.json"));
    metrics["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["loss"].as_f64().unwrap())
        .collect()
}

fn assert_same_trajectory(ours: &[f64], torch: &[f64], what: &str) {
    assert_eq!(ours.len(), torch.len(), "{what}: number of steps");
    assert_eq!(torch.len(), 30, "3 epochs of 10 batches (the last partial)");
    for (step, (o, t)) in ours.iter().zip(torch).enumerate() {
        assert!(
            (o - t).abs() <= 1e-5,
            "{what}: step {} loss {o}, PyTorch {t}",
            step + 1
        );
    }
}

#[test]
fn item_03_sgd_from_pytorch_weights_follows_pytorch_step_by_step() {
    let record = json_file(&torch_fixture("iris_sgd.json"));
    let dir = tempfile::tempdir().unwrap();
    // No --momentum: torch.optim.SGD's default, momentum 0.
    let plain = losses_from_pytorch_init(&dir.path().join("plain"), &[]);
    assert_same_trajectory(
        &plain,
        &floats(&record["losses_momentum_0"]),
        "sgd (default momentum)",
    );
    let heavy = losses_from_pytorch_init(&dir.path().join("heavy"), &["--momentum", "0.9"]);
    assert_same_trajectory(
        &heavy,
        &floats(&record["losses_momentum_0.9"]),
        "sgd --momentum 0.9",
    );
}

#[test]
fn item_03_sgd_default_is_plain_gradient_descent() {
    // Loss Σ c ⊙ w has the constant gradient c. Two steps of plain gradient
    // descent from w = 0: w = −2·lr·c = [−0.2, 0.4] for lr 0.1, c = [1, −2].
    // (Momentum 0.9 would give −lr·c − lr·1.9·c = [−0.29, 0.58].)
    let config = TrainConfig {
        optimizer: OptimizerKind::Sgd,
        lr: 0.1,
        ..TrainConfig::default()
    };
    assert_eq!(config.momentum, 0.0);
    let mut opt = make_optimizer::<f64>(&config);
    let mut g = Graph::<f64>::new();
    let w = g.parameter(&Tensor::zeros(&[2]).unwrap());
    for _ in 0..2 {
        g.zero_grad();
        {
            let wv = g.param(w).unwrap();
            let c = g.input(&Tensor::from_f64(&[1.0, -2.0], &[2]).unwrap());
            wv.mul(c).unwrap().sum().backward().unwrap();
        }
        g.clear();
        opt.step(&mut g);
    }
    let got = g.param_value(w).unwrap().into_vec();
    assert!(
        (got[0] + 0.2).abs() < 1e-12 && (got[1] - 0.4).abs() < 1e-12,
        "{got:?}"
    );
}

// ------------------------------------------------------------------ item 6

fn train_iris(out: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "train",
        "--data",
        "iris",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (out, _) = run_ok(&args);
    serde_json::from_str(out.trim()).unwrap()
}

#[test]
fn item_06_eval_scores_the_split_the_model_was_trained_with() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train_iris(&run, &["--seed", "5", "--epochs", "5"]);
    let metrics = json_file(&run.join("metrics.json"));
    let last = metrics["epochs"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    let model = run.join("model.safetensors");

    // No --data, --seed or --test-fraction: all from the model file.
    let (out, err) = run_ok(&["eval", "--model", model.to_str().unwrap(), "--json"]);
    assert!(!err.contains("warning"), "{err}");
    let e: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(e["data"], "iris");
    assert_eq!(e["seed"], 5);
    assert_eq!(e["split_as_recorded"], true);
    assert_eq!(e["test_accuracy"], last["test_accuracy"]);
    let (el, tl) = (
        e["test_loss"].as_f64().unwrap(),
        last["test_loss"].as_f64().unwrap(),
    );
    assert!((el - tl).abs() <= 1e-6 * tl.abs().max(1.0), "{el} vs {tl}");
    let total: u64 = e["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 30, "the 30 held-out rows of 150");

    // The text output says where the split came from.
    let (out, _) = run_ok(&["eval", "--model", model.to_str().unwrap()]);
    assert!(
        out.starts_with("iris split with --seed 5 --test-fraction 0.2 (as recorded in "),
        "{out}"
    );
}

#[test]
fn item_06_eval_warns_when_asked_for_another_split() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train_iris(&run, &["--seed", "5", "--epochs", "5"]);
    let model = run.join("model.safetensors");
    let m = model.to_str().unwrap();

    let (out, err) = run_ok(&["eval", "--model", m, "--seed", "1", "--json"]);
    assert!(
        err.contains(
            "warning: the model was trained with --seed 5 --test-fraction 0.2; --seed 1 \
             --test-fraction 0.2 gives another split, whose test rows may include rows the \
             model trained on"
        ),
        "{err}"
    );
    let e: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(e["seed"], 1);
    assert_eq!(e["split_as_recorded"], false);
    assert_eq!(e["warnings"].as_array().unwrap().len(), 1);

    // Repeating the recorded values is no warning.
    let (_, err) = run_ok(&["eval", "--model", m, "--seed", "5", "--data", "iris"]);
    assert!(!err.contains("warning"), "{err}");

    let (_, err) = run_ok(&["eval", "--model", m, "--test-fraction", "0.5"]);
    assert!(
        err.contains("--test-fraction 0.5 gives another split"),
        "{err}"
    );
}

#[test]
fn item_06_eval_warns_when_the_data_has_changed_since_training() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("points.csv");
    let rows: String = (0..40)
        .map(|i| format!("{},{},{}\n", i % 7, (i * 3) % 5, i % 2))
        .collect();
    std::fs::write(&csv, &rows).unwrap();
    let spec = format!("csv:{}", csv.display());
    let run = dir.path().join("run");
    run_ok(&[
        "train",
        "--data",
        &spec,
        "--loss",
        "bce",
        "--epochs",
        "2",
        "--out",
        run.to_str().unwrap(),
        "--quiet",
    ]);
    let model = run.join("model.safetensors");
    let m = model.to_str().unwrap();
    let (_, err) = run_ok(&["eval", "--model", m]);
    assert!(!err.contains("warning"), "{err}");

    // One value changed: another fingerprint.
    std::fs::write(&csv, rows.replacen("0,0,0", "0,1,0", 1)).unwrap();
    let (_, err) = run_ok(&["eval", "--model", m]);
    assert!(
        err.contains(&format!(
            "warning: {spec} has changed since the model was trained: 40 rows with fingerprint \
             xxh3-128:"
        )),
        "{err}"
    );
}

#[test]
fn item_06_a_model_file_without_a_data_record_needs_data() {
    // Written by PyTorch: an architecture, but no record of its data. Eval
    // must not guess (it used to evaluate on digits).
    let model = torch_fixture("mlp_relu.safetensors");
    let m = model.to_str().unwrap();
    let err = run_err(&["eval", "--model", m]);
    assert!(
        err.contains("does not record the data it was trained on") && err.contains("--data"),
        "{err}"
    );
    let (out, _) = run_ok(&["eval", "--model", m, "--data", "iris"]);
    assert!(
        out.starts_with("iris split with --seed 0 --test-fraction 0.2 (from the flags"),
        "{out}"
    );
}

#[test]
fn item_06_the_data_fingerprint_is_the_documented_hash_of_the_rows() {
    // Computed by bench/interop/torch_fixtures.py with the xxhash package
    // from the byte layout documented in model_io/record.rs.
    let want = json_file(&torch_fixture("fingerprints.json"));
    let model = torch_fixture("mlp_relu.safetensors");
    let (out, _) = run_ok(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        "iris",
        "--json",
    ]);
    let e: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(e["fingerprint"], want["iris"]);
}

// ----------------------------------------------------------------- item 10

#[test]
fn item_10_predict_class_names() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train_iris(&run, &[]);
    let model = run.join("model.safetensors");
    let names = ["setosa", "versicolor", "virginica"];
    // A typical flower of each kind (rows 1, 51 and 101 of the data set).
    for (input, want) in [
        ("5.1,3.5,1.4,0.2", 0),
        ("7.0,3.2,4.7,1.4", 1),
        ("6.3,3.3,6.0,2.5", 2),
    ] {
        let m = model.to_str().unwrap();
        let (out, _) = run_ok(&["predict", "--model", m, "--input", input, "--json"]);
        let p: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(p["class"], want, "{input}");
        assert_eq!(p["class_name"], names[want], "{input}");
        let (out, _) = run_ok(&["predict", "--model", m, "--input", input]);
        assert!(
            out.contains(&format!("class {want} ({})", names[want])),
            "{out}"
        );
    }
}

// ----------------------------------------------------------------- item 14

/// A copy of a PyTorch fixture with one weight replaced.
fn poisoned(dir: &Path, fixture: &str, tensor: &str, element: usize, value: f32) -> String {
    let (mut tensors, meta): (Vec<NamedTensor>, _) =
        model_file::load(&torch_fixture(fixture)).unwrap();
    let t = tensors.iter_mut().find(|t| t.name == tensor).unwrap();
    t.data[element] = value;
    let path = dir.join(format!("poisoned-{fixture}"));
    model_file::save(&path, &tensors, &meta.unwrap_or_default()).unwrap();
    path.display().to_string()
}

#[test]
fn item_14_weights_that_are_not_finite_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // 2.weight is 5 × 6: element 19 is [3, 1].
    let nan = poisoned(dir.path(), "mlp_relu.safetensors", "2.weight", 19, f32::NAN);
    let want = format!("{nan}: tensor '2.weight' holds NaN at [3, 1] (element 19)");
    let err = run_err(&["predict", "--model", &nan, "--input", "1,2,3,4"]);
    assert!(err.contains(&want), "predict: {err}");
    let err = run_err(&["eval", "--model", &nan, "--data", "iris"]);
    assert!(err.contains(&want), "eval: {err}");
    for args in [
        vec!["explain", "--model", &nan],
        vec!["gradcheck", "--model", &nan, "--data", "iris"],
        vec!["diagnose", "--model", &nan, "--data", "iris"],
    ] {
        let err = run_err(&args);
        assert!(err.contains(&want), "{}: {err}", args[0]);
    }

    // --init: 0.weight is 8 × 4: element 11 is [2, 3].
    let inf = poisoned(
        dir.path(),
        "iris_sgd_init.safetensors",
        "0.weight",
        11,
        f32::INFINITY,
    );
    let out = dir.path().join("run");
    let err = run_err(&[
        "train",
        "--data",
        "iris",
        "--hidden",
        "8",
        "--activation",
        "tanh",
        "--epochs",
        "1",
        "--init",
        &inf,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        err.contains(&format!(
            "{inf}: tensor '0.weight' holds +infinity at [2, 3] (element 11)"
        )),
        "--init: {err}"
    );
}

// ---------------------------------------------------------------- interop

#[test]
fn predict_on_models_pytorch_wrote_gives_what_pytorch_computed() {
    let record = json_file(&torch_fixture("predict.json"));
    let mut checked = 0;
    for m in record["models"].as_array().unwrap() {
        if m["metadata"].is_null() {
            continue; // predict needs the architecture in the file
        }
        let model = torch_fixture(m["file"].as_str().unwrap());
        let inputs = m["inputs"].as_array().unwrap();
        for (k, input) in inputs.iter().enumerate() {
            let text: Vec<String> = floats(input).iter().map(|v| v.to_string()).collect();
            let (out, _) = run_ok(&[
                "predict",
                "--model",
                model.to_str().unwrap(),
                "--input",
                &text.join(","),
                "--json",
            ]);
            let p: Value = serde_json::from_str(out.trim()).unwrap();
            // predict's JSON key, and the fixture's.
            for (ours_key, key) in [("output", "outputs"), ("probabilities", "probabilities")] {
                let ours = floats(&p[ours_key]);
                let torch = floats(&m[key][k]);
                assert_eq!(ours.len(), torch.len());
                for (o, t) in ours.iter().zip(&torch) {
                    assert!(
                        (o - t).abs() <= 2e-6 * (1.0 + t.abs()),
                        "{}: {key} {ours:?}, PyTorch {torch:?}",
                        m["file"]
                    );
                }
            }
            assert_eq!(p["class"], m["classes"][k], "{}", m["file"]);
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        6 * 3,
        "six models with metadata, three inputs each"
    );
}
