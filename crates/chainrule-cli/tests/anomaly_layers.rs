//! Anomaly mode names the layer where the first NaN or infinity was born,
//! with its place in the architecture string, for every layer type.

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
