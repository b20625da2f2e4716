//! The training-time tools cover every layer type: anomaly mode names the
//! layer where the first NaN or infinity was born, with its place in the
//! architecture string, and `--grad-report` measures every weight layer.

mod common;
use common::*;

/// Trains one epoch of digits with `arch` at learning rate `lr` in anomaly
/// mode and returns the error it stops with.
fn stops_with(arch: &str, lr: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = chainrule(&[
        "train",
        "--data",
        "digits",
        "--arch",
        arch,
        "--optimizer",
        "sgd",
        "--lr",
        lr,
        "--epochs",
        "1",
        "--detect-anomaly",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        !out.join("model.safetensors").exists(),
        "no model is written from a broken run"
    );
    err
}

#[test]
fn an_infinity_born_in_batch_norms_variance_names_the_batch_norm() {
    // After one step of learning rate 1e30 the convolution's outputs are
    // about 1e30; batch norm squares their deviations for the variance,
    // which overflows f32 (3.4e38): the product is born inside layer 2.
    let arch = "conv2d(4,3,pad=1),batchnorm2d,relu,flatten,linear(10)";
    let err = stops_with(arch, "1e30");
    assert!(
        err.contains("training stopped at epoch 1, step 2, in layer 2 batchnorm2d (character 18): anomaly: mul"),
        "{err}"
    );
    // Character 18 is where `batchnorm2d` starts.
    assert_eq!(&arch[18..29], "batchnorm2d");
}

#[test]
fn an_infinity_born_in_a_convolution_names_the_convolution() {
    // Weights of about 1e37 times pixels up to 16 overflow in the product.
    let err = stops_with("conv2d(4,3,pad=1),relu,flatten,linear(10)", "1e38");
    assert!(
        err.contains("in layer 1 conv2d(4,3,pad=1) (character 0): anomaly: conv2d"),
        "{err}"
    );
}

#[test]
fn a_layer_inside_a_residual_block_is_numbered_with_dots() {
    let arch = "flatten,linear(16),residual(linear(16),batchnorm1d,relu),linear(10)";
    let err = stops_with(arch, "1e30");
    // The body's linear(16), the first layer of layer 3, starts at
    // character 28; its product of inputs of about 1e30 with weights of
    // about 1e29 overflows.
    assert!(
        err.contains("in layer 3.1 linear(16) (character 28): anomaly: matmul"),
        "{err}"
    );
    assert_eq!(&arch[28..38], "linear(16)");
}

#[test]
fn grad_report_measures_convolutions_and_layers_inside_residual_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let arch = "conv2d(4,3,pad=1),batchnorm2d,relu,residual(conv2d(4,3,pad=1),relu),maxpool2d(2),flatten,dropout(0.1),linear(10)";
    let o = chainrule(&[
        "train",
        "--data",
        "digits",
        "--arch",
        arch,
        "--epochs",
        "2",
        "--grad-report",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    for epoch in m["epochs"].as_array().unwrap() {
        let report = epoch["grad_report"].as_array().unwrap();
        // Three weight layers: the convolution, the one in the residual
        // body, and the linear output.
        let keys: Vec<&str> = report
            .iter()
            .map(|l| l["weight"].as_str().unwrap())
            .collect();
        assert_eq!(keys, ["0.weight", "3.body.0.weight", "7.weight"]);
        let numbers: Vec<&str> = report
            .iter()
            .map(|l| l["number"].as_str().unwrap())
            .collect();
        assert_eq!(numbers, ["1", "4.1", "8"]);
        assert_eq!(report[0]["output_shape"], serde_json::json!([4, 8, 8]));
        assert_eq!(report[2]["input_shape"], serde_json::json!([64]));
        for l in report {
            let norm = l["delta_norm"].as_f64().unwrap();
            assert!(norm.is_finite() && norm > 0.0, "{l}");
            assert!(l["verdict"].is_string(), "{l}");
        }
        // The reference layer's ratio is exactly 1.
        assert_eq!(report[2]["delta_ratio"], 1.0);
    }
}
