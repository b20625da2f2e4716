//! Networks beyond the MLP follow PyTorch: from the initial weights PyTorch
//! wrote (batch-norm buffers included), `chainrule train --arch … --init FILE
//! --optimizer sgd --no-shuffle --test-fraction 0` makes the same per-step
//! losses and ends on the same weights and buffers as `torch.optim.SGD`
//! did, and the trained model predicts PyTorch's logits.
//!
//! Two networks, recorded by `bench/interop/arch_fixtures.py` (versions in
//! the JSON files) under `crates/chainrule-nn/tests/data/torch_arch/`:
//! - A: conv, batch norm, a residual block, max pooling, dropout(0);
//! - B: bias-free, dilated and grouped convolutions, average and padded max
//!   pooling, layer norm in a residual, global average pooling, batchnorm1d,
//!   leaky ReLU, tanh and sigmoid.
//!
//! The bound is the 1e-4 relative; PyTorch's own f32 run is within
//! 3e-7 (losses) and 7e-6 (weights) of its f64 run (recorded in the files).

use std::path::{Path, PathBuf};
mod common;

use chainrule_nn::model_file;
use common::{chainrule, floats, json_file, stderr, stdout};
use serde_json::Value;

const TOLERANCE: f64 = 1e-4;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../chainrule-nn/tests/data/torch_arch")
        .join(name)
}

/// Runs the recorded command with the fixture's initial weights, writing to
/// `out`; returns the record.
fn train_like_pytorch(name: &str, out: &Path) -> Value {
    let record = json_file(&fixture(&format!("{name}.json")));
    let init = fixture(record["init"].as_str().unwrap());
    let mut args: Vec<String> = Vec::new();
    let command = record["command"].as_array().unwrap();
    let mut words = command.iter().skip(1).map(|w| w.as_str().unwrap());
    while let Some(w) = words.next() {
        args.push(w.to_string());
        if w == "--init" {
            words.next();
            args.push(init.display().to_string());
        }
    }
    args.extend(["--out".into(), out.display().to_string(), "--quiet".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = chainrule(&args);
    assert!(o.status.success(), "{args:?} failed: {}", stderr(&o));
    record
}

fn relative(ours: f64, theirs: f64, scale: f64) -> f64 {
    (ours - theirs).abs() / scale.max(1e-30)
}

fn follows(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let record = train_like_pytorch(name, &out);

    // Every step's loss (before that step's update).
    let metrics = json_file(&out.join("metrics.json"));
    let ours: Vec<f64> = metrics["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["loss"].as_f64().unwrap())
        .collect();
    let torch = floats(&record["losses_f32"]);
    assert_eq!(ours.len(), torch.len(), "{name}: number of steps");
    assert_eq!(torch.len(), 57, "1,797 rows in batches of 32");
    let worst = ours
        .iter()
        .zip(&torch)
        .map(|(o, t)| relative(*o, *t, t.abs()))
        .fold(0.0, f64::max);
    assert!(worst <= TOLERANCE, "{name}: worst loss gap {worst:e}");

    // The final weights and buffers, each tensor relative to its largest value.
    let file = model_file::load_with_ints(&out.join("model.safetensors")).unwrap();
    for t in record["final_f32"].as_array().unwrap() {
        let tname = t["name"].as_str().unwrap();
        let shape: Vec<usize> = t["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        if t["dtype"] == "int64" {
            let ours = file
                .ints
                .iter()
                .find(|i| i.name == tname)
                .unwrap_or_else(|| panic!("{name}: no integer tensor {tname}"));
            assert_eq!(ours.shape, shape, "{name}: shape of {tname}");
            let want = t["values"]
                .as_i64()
                .or_else(|| t["values"].as_array().map(|a| a[0].as_i64().unwrap()))
                .unwrap();
            assert_eq!(ours.data, [want], "{name}: {tname}");
            continue;
        }
        let ours = file
            .tensors
            .iter()
            .find(|n| n.name == tname)
            .unwrap_or_else(|| panic!("{name}: no tensor {tname} in the model file"));
        assert_eq!(ours.shape, shape, "{name}: shape of {tname}");
        let want = floats(&t["values"]);
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let gap = ours
            .data
            .iter()
            .zip(&want)
            .map(|(o, w)| relative(*o as f64, *w, scale))
            .fold(0.0, f64::max);
        assert!(gap <= TOLERANCE, "{name}: {tname} differs by {gap:e}");
    }
    let expected = record["final_f32"].as_array().unwrap().len();
    assert_eq!(
        file.tensors.len() + file.ints.len(),
        expected,
        "{name}: the model file holds exactly PyTorch's state_dict"
    );

    // The trained model in evaluation mode predicts PyTorch's logits for
    // raw inputs (standardized by the model file's record).
    let model = out.join("model.safetensors");
    let predict = &record["predict"];
    let inputs = predict["raw_inputs"].as_array().unwrap();
    let logits = predict["logits_f32_from_raw"].as_array().unwrap();
    for (row, (input, want)) in inputs.iter().zip(logits).enumerate() {
        let text: Vec<String> = floats(input).iter().map(|v| v.to_string()).collect();
        let text = text.join(",");
        let o = chainrule(&[
            "predict",
            "--model",
            model.to_str().unwrap(),
            "--input",
            &text,
            "--json",
        ]);
        assert!(o.status.success(), "{name}: predict failed: {}", stderr(&o));
        let printed: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        let ours = floats(&printed["output"]);
        let want = floats(want);
        assert_eq!(ours.len(), want.len());
        for (o, w) in ours.iter().zip(&want) {
            assert!(
                (o - w).abs() <= TOLERANCE * (1.0 + w.abs()),
                "{name}: row {row}: logit {o}, PyTorch {w}"
            );
        }
    }
}

#[test]
fn cnn_with_batch_norm_residual_and_dropout_follows_pytorch() {
    follows("A");
}

#[test]
fn every_other_layer_kind_follows_pytorch() {
    follows("B");
}

#[test]
fn a_float_batch_counter_is_named_as_the_wrong_dtype_not_missing() {
    // `{k: v.float() for k, v in state_dict.items()}` stores
    // num_batches_tracked as F32; PyTorch's own file stores it as I64.
    let file = model_file::load_with_ints(&fixture("A_init.safetensors")).unwrap();
    let mut tensors = file.tensors.clone();
    for t in &file.ints {
        tensors.push(model_file::NamedTensor {
            name: t.name.clone(),
            shape: t.shape.clone(),
            data: t.data.iter().map(|&v| v as f32).collect(),
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("float.safetensors");
    model_file::save_with_ints(&path, &tensors, &[], &Default::default()).unwrap();
    let record = json_file(&fixture("A.json"));
    let o = chainrule(&[
        "train",
        "--arch",
        record["arch"].as_str().unwrap(),
        "--init",
        path.to_str().unwrap(),
        "--epochs",
        "1",
        "--out",
        dir.path().join("run").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(
            "tensor '1.num_batches_tracked' is stored as a float type, the architecture needs I64"
        ),
        "{}",
        stderr(&o)
    );
}
