//! Compatibility with PyTorch, checked in every run against files PyTorch
//! wrote: `tests/data/torch/`, written by `bench/interop/torch_fixtures.py`
//! (the versions of PyTorch, safetensors and NumPy that wrote them are in
//! `predict.json`). Each file's tensors, and the outputs PyTorch computed for
//! fixed inputs, are recorded beside it; no Python is needed here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chainrule_nn::mlp::MlpSpec;
use chainrule_nn::model_file::{load, to_bytes};
use chainrule_nn::model_io::load_model;
use chainrule_nn::{Activation, LossKind};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/torch")
}

/// `predict.json`: one entry per model file PyTorch wrote.
fn models() -> Vec<Value> {
    let text = std::fs::read_to_string(fixtures().join("predict.json")).unwrap();
    let record: Value = serde_json::from_str(&text).unwrap();
    assert!(
        record["versions"]["torch"].as_str().is_some(),
        "the torch version is recorded"
    );
    let models = record["models"].as_array().unwrap().clone();
    assert_eq!(models.len(), 7, "every fixture is checked");
    models
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

#[test]
fn files_pytorch_wrote_load_with_their_names_shapes_and_values() {
    for m in models() {
        let file = m["file"].as_str().unwrap();
        let (tensors, metadata) = load(&fixtures().join(file)).unwrap();
        let want = m["tensors"].as_array().unwrap();
        assert_eq!(tensors.len(), want.len(), "{file}");
        // PyTorch's save_file stores the tensors sorted by name: load keeps
        // the file's order.
        for (t, w) in tensors.iter().zip(want) {
            assert_eq!(t.name, w["name"].as_str().unwrap(), "{file}");
            assert_eq!(t.shape, usizes(&w["shape"]), "{file} {}", t.name);
            // f32 values exactly; f64 values rounded to the nearest f32.
            let values: Vec<u32> = floats(&w["values"])
                .iter()
                .map(|&v| (v as f32).to_bits())
                .collect();
            let got: Vec<u32> = t.data.iter().map(|v| v.to_bits()).collect();
            assert_eq!(got, values, "{file} {}", t.name);
        }
        let want_meta: Option<BTreeMap<String, String>> =
            serde_json::from_value(m["metadata"].clone()).unwrap();
        assert_eq!(metadata, want_meta, "{file}");
    }
}

#[test]
fn models_pytorch_wrote_compute_the_outputs_pytorch_computed() {
    for m in models() {
        let file = m["file"].as_str().unwrap();
        // A file without metadata (a bare state_dict) needs the architecture.
        let fallback = m["metadata"].is_null().then(|| {
            let spec = MlpSpec {
                sizes: usizes(&m["layers"]),
                activation: Activation::parse(m["activation"].as_str().unwrap()).unwrap(),
                output_activation: Activation::Identity,
            };
            (spec, LossKind::Cce)
        });
        let mut model = load_model::<f32>(&fixtures().join(file), fallback).unwrap();
        let inputs = m["inputs"].as_array().unwrap();
        let outputs = m["outputs"].as_array().unwrap();
        assert_eq!(inputs.len(), outputs.len());
        for (input, want) in inputs.iter().zip(outputs) {
            let got = model.predict(&floats(input)).unwrap();
            let want = floats(want);
            assert_eq!(got.len(), want.len(), "{file}");
            for (g, w) in got.iter().zip(&want) {
                // f32 arithmetic in another order (and, for the f64 file,
                // f32 weights): a few ulps.
                let g = f64::from(*g);
                assert!(
                    (g - w).abs() <= 2e-6 * (1.0 + w.abs()),
                    "{file}: input {input}: output {g} but PyTorch computed {w}"
                );
            }
        }
    }
}

#[test]
fn files_without_metadata_are_written_byte_for_byte_as_pytorch_writes_them() {
    // plain_relu.safetensors is a bare state_dict: save_file sorts the
    // tensors by name and writes no __metadata__; chainrule, given the
    // tensors in that order, must write the very same bytes.
    let path = fixtures().join("plain_relu.safetensors");
    let (tensors, metadata) = load(&path).unwrap();
    assert_eq!(metadata, None);
    let ours = to_bytes(&tensors, &BTreeMap::new(), "plain").unwrap();
    assert_eq!(ours, std::fs::read(&path).unwrap());
}
