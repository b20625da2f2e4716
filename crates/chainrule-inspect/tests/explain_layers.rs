//! `explain` on networks that are not MLPs: tiny networks with chosen
//! weights, each element's numbers worked out by hand in the test.

use chainrule::Tensor;
use chainrule_inspect::trace::{explain_layers, ElementExplanation, LayersSetup, Line};
use chainrule_nn::network::parse_arch;
use chainrule_nn::trainer::Model;
use chainrule_nn::{Init, LossKind};

/// A model of `arch` on examples of `shape`, zero weights, MSE.
fn model(arch: &str, shape: &[usize]) -> Model<f64> {
    let specs = parse_arch(arch).unwrap();
    Model::from_arch(&specs, shape, Init::Zeros, 0, LossKind::Mse).unwrap()
}

/// Sets the parameter named `key` (`0.weight`) to `values`.
fn set(m: &mut Model<f64>, key: &str, values: &[f64]) {
    let (_, p) = m
        .network
        .parameters()
        .into_iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no parameter {key}"));
    let dims = m.graph.param_value(p).unwrap().shape().dims().to_vec();
    m.graph
        .set_param(p, &Tensor::from_vec(values.to_vec(), &dims).unwrap())
        .unwrap();
}

fn setup(input: &[f64], target: &[f64], element: &str) -> LayersSetup {
    LayersSetup {
        title: "test".into(),
        input: input.to_vec(),
        source: None,
        target: target.to_vec(),
        loss: LossKind::Mse,
        lr: 0.5,
        element: Some(element.into()),
    }
}

fn element(m: &mut Model<f64>, s: &LayersSetup) -> ElementExplanation {
    explain_layers(m, s).unwrap().element.unwrap()
}

/// The line whose `what` is exactly `what`.
fn line<'a>(lines: &'a [Line], what: &str) -> &'a Line {
    lines
        .iter()
        .find(|l| l.what == what)
        .unwrap_or_else(|| panic!("no line '{what}' in {lines:#?}"))
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-12, "{a} vs {b}");
}

// 1 channel 3×3 input, 2×2 kernel, stride 1, pad 1: a 4×4 output.
// x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], w = [[0.5, −1], [2, 0.25]], b = 0.1.
fn conv_model() -> (Model<f64>, LayersSetup) {
    let mut m = model("conv2d(1,2,pad=1),flatten", &[1, 3, 3]);
    set(&mut m, "0.weight", &[0.5, -1.0, 2.0, 0.25]);
    set(&mut m, "0.bias", &[0.1]);
    let x: Vec<f64> = (1..=9).map(f64::from).collect();
    (m, setup(&x, &[0.0; 16], "1:0,1,1"))
}

#[test]
fn a_conv_element_lists_every_term_and_sums_to_the_engine_value() {
    let (mut m, s) = conv_model();
    let e = element(&mut m, &s);
    assert_eq!(e.name, "y[0,1,1]");
    // y[0,1,1] reads rows 1·1−1+ki = ki, columns kj: x[0,0,0] = 1,
    // x[0,0,1] = 2, x[0,1,0] = 4, x[0,1,1] = 5.
    let terms = [
        ("w[0,0,0,0]·x[0,0,0]", "0.5·1", 0.5),
        ("w[0,0,0,1]·x[0,0,1]", "(-1)·2", -2.0),
        ("w[0,0,1,0]·x[0,1,0]", "2·4", 8.0),
        ("w[0,0,1,1]·x[0,1,1]", "0.25·5", 1.25),
    ];
    for (what, formula, value) in terms {
        let l = line(&e.forward, what);
        assert_eq!(l.formula, formula);
        close(l.value.unwrap(), value);
    }
    close(line(&e.forward, "bias b[0]").value.unwrap(), 0.1);
    // 0.1 + 0.5 − 2 + 8 + 1.25 = 7.85
    close(
        line(&e.forward, "sum of the terms above").value.unwrap(),
        7.85,
    );
    close(line(&e.forward, "y[0,1,1] (engine)").value.unwrap(), 7.85);
    close(e.value.unwrap(), 7.85);
    // L = mean of 16 squares with target 0: ∂L/∂y = 2y/16 = 7.85/8.
    let gy = 7.85 / 8.0;
    close(e.grad.unwrap(), gy);
    let l = line(&e.backward, "∂L/∂w[0,0,1,1] += ∂L/∂y·x[0,1,1]");
    close(l.value.unwrap(), gy * 5.0);
    close(line(&e.backward, "∂L/∂b[0] += ∂L/∂y").value.unwrap(), gy);
    // The input is data: no gradient to it.
    assert!(e
        .backward
        .iter()
        .any(|l| l.what == "the input x needs no gradient"));
}

#[test]
fn a_corner_conv_element_says_which_taps_fall_on_the_padding() {
    let (mut m, mut s) = conv_model();
    s.element = Some("1:0,0,0".into());
    let e = element(&mut m, &s);
    // Only ki = kj = 1 lands inside: 0.1 + 0.25·x[0,0,0] = 0.35.
    let terms: Vec<&Line> = e
        .forward
        .iter()
        .filter(|l| l.what.starts_with("w["))
        .collect();
    assert_eq!(terms.len(), 1, "{terms:#?}");
    assert_eq!(terms[0].what, "w[0,0,1,1]·x[0,0,0]");
    assert!(e
        .forward
        .iter()
        .any(|l| l.what == "3 taps fall on the padding (x = 0) and add nothing"));
    close(e.value.unwrap(), 0.35);
}

/// A 1×1 convolution of weight 1 first, so that the pooled input needs a
/// gradient and the engine's ∂L/∂x shows where the gradient went.
fn pool_model(pool: &str) -> Model<f64> {
    let mut m = model(&format!("conv2d(1,1),{pool},flatten"), &[1, 2, 4]);
    set(&mut m, "0.weight", &[1.0]);
    m
}

// x = [[3, 7, 7, 1], [2, 7, 0, 5]]: the first 2×2 window holds 3, 7, 2, 7.
const POOL_X: [f64; 8] = [3.0, 7.0, 7.0, 1.0, 2.0, 7.0, 0.0, 5.0];

#[test]
fn max_pool_takes_the_first_of_tied_maxima_and_sends_it_the_whole_gradient() {
    let mut m = pool_model("maxpool2d(2)");
    let e = element(&mut m, &setup(&POOL_X, &[0.0, 0.0], "2:0,0,0"));
    for (what, v) in [
        ("x[0,0,0]", 3.0),
        ("x[0,0,1]", 7.0),
        ("x[0,1,0]", 2.0),
        ("x[0,1,1]", 7.0),
    ] {
        close(line(&e.forward, what).value.unwrap(), v);
    }
    let max = line(
        &e.forward,
        "the max (the first of equal values wins, as PyTorch)",
    );
    assert_eq!(max.formula, "x[0,0,1]");
    close(e.value.unwrap(), 7.0);
    // Outputs [7, 7], target 0: ∂L/∂y = 2·7/2 = 7, all of it to x[0,0,1].
    close(e.grad.unwrap(), 7.0);
    close(
        line(&e.backward, "∂L/∂x[0,0,1] += ∂L/∂y (the max only)")
            .value
            .unwrap(),
        7.0,
    );
    close(
        line(&e.backward, "∂L/∂x[0,0,1] (engine, every window)")
            .value
            .unwrap(),
        7.0,
    );
    close(
        line(&e.backward, "∂L/∂x[0,1,1] (engine, every window)")
            .value
            .unwrap(),
        0.0,
    );
    close(
        line(&e.backward, "∂L/∂x[0,0,0] (engine, every window)")
            .value
            .unwrap(),
        0.0,
    );
}

#[test]
fn avg_pool_divides_the_window_sum_and_splits_the_gradient_equally() {
    let mut m = pool_model("avgpool2d(2)");
    let e = element(&mut m, &setup(&POOL_X, &[0.0, 0.0], "2:0,0,1"));
    // The second window: 7, 1, 0, 5: sum 13, mean 3.25.
    close(line(&e.forward, "sum of the window").value.unwrap(), 13.0);
    let mean = line(&e.forward, "sum / divisor");
    assert_eq!(mean.formula, "13/4");
    close(mean.value.unwrap(), 3.25);
    close(e.value.unwrap(), 3.25);
    // Outputs [(3+7+2+7)/4, 3.25] = [4.75, 3.25]; ∂L/∂y = y = 3.25; each
    // of the four positions gets 3.25/4.
    close(e.grad.unwrap(), 3.25);
    let share = line(&e.backward, "each of the 4 positions gets ∂L/∂y / 4");
    close(share.value.unwrap(), 0.8125);
    close(
        line(&e.backward, "∂L/∂x[0,1,3] (engine, every window)")
            .value
            .unwrap(),
        0.8125,
    );
}

#[test]
fn batch_norm_in_eval_mode_uses_the_running_statistics() {
    let mut m = model("batchnorm1d,linear(1)", &[2]);
    set(&mut m, "0.weight", &[2.0, 3.0]);
    set(&mut m, "0.bias", &[0.1, -0.2]);
    set(&mut m, "1.weight", &[1.0, 1.0]);
    {
        let b = &mut m.network.batch_norm_buffers_mut()[0];
        b.running_mean = vec![0.5, -1.0];
        b.running_var = vec![4.0, 0.25];
    }
    let e = element(&mut m, &setup(&[2.5, 0.0], &[0.0], "1:0"));
    close(line(&e.forward, "running_mean[0] μ").value.unwrap(), 0.5);
    close(line(&e.forward, "running_var[0] σ²").value.unwrap(), 4.0);
    close(line(&e.forward, "γ[0]").value.unwrap(), 2.0);
    close(line(&e.forward, "β[0]").value.unwrap(), 0.1);
    // (2.5 − 0.5)/√(4 + 1e-5)·2 + 0.1
    let y0 = 2.0 / (4.0f64 + 1e-5).sqrt() * 2.0 + 0.1;
    close(e.value.unwrap(), y0);
    close(line(&e.forward, "y = x̂·γ + β").value.unwrap(), y0);
    // The other channel: (0 + 1)/√(0.25 + 1e-5)·3 − 0.2; the linear layer
    // adds both, L = z², ∂L/∂y0 = 2z.
    let y1 = 1.0 / (0.25f64 + 1e-5).sqrt() * 3.0 - 0.2;
    let gy = 2.0 * (y0 + y1);
    close(e.grad.unwrap(), gy);
    // ∂L/∂x = ∂L/∂y·γ/√(σ² + ε); the input is data, so the engine has none.
    assert!(e.backward.iter().all(|l| !l.what.starts_with("∂L/∂x")));
    let xhat = 2.0 / (4.0f64 + 1e-5).sqrt();
    close(
        line(&e.backward, "∂L/∂γ[0] += ∂L/∂y·x̂").value.unwrap(),
        gy * xhat,
    );
}

#[test]
fn a_residual_block_sends_the_gradient_back_on_two_paths_that_add_up() {
    // Layer 1 is the identity (so x needs a gradient); the body is
    // linear(2) with W = [[1, 2], [3, 4]], no bias change from 0.
    let mut m = model("linear(2),residual(linear(2))", &[2]);
    set(&mut m, "0.weight", &[1.0, 0.0, 0.0, 1.0]);
    set(&mut m, "1.body.0.weight", &[1.0, 2.0, 3.0, 4.0]);
    let e = element(&mut m, &setup(&[1.0, 1.0], &[0.0, 0.0], "2:0"));
    // x = [1, 1], body(x) = W·x = [3, 7], y = [4, 8].
    close(line(&e.forward, "x[0]").value.unwrap(), 1.0);
    close(line(&e.forward, "body(x)[0]").value.unwrap(), 3.0);
    close(e.value.unwrap(), 4.0);
    // L = mean(y²) over 2: ∂L/∂y = y = [4, 8]. Skip path to x[0]: 4; body
    // path: (Wᵀ·∂L/∂y)[0] = 1·4 + 3·8 = 28; together 32.
    close(e.grad.unwrap(), 4.0);
    let skip = line(&e.backward, "skip path: ∂L/∂y·1 reaches x[0] (engine)");
    close(skip.value.unwrap(), 4.0);
    let body = line(
        &e.backward,
        "body path: back through the body's layers to x[0] (engine)",
    );
    close(body.value.unwrap(), 28.0);
    let total = line(
        &e.backward,
        "∂L/∂x[0] = skip + body: two paths add up (engine)",
    );
    assert_eq!(total.formula, "4 + 28");
    close(total.value.unwrap(), 32.0);
}

#[test]
fn the_layer_walk_numbers_residual_bodies_and_keeps_each_gradient() {
    let mut m = model("linear(2),residual(linear(2),relu),linear(1)", &[2]);
    let mut s = setup(&[1.0, -1.0], &[0.5], "1:0");
    s.element = None;
    let x = explain_layers(&mut m, &s).unwrap();
    let numbers: Vec<&str> = x.layers.iter().map(|l| l.number.as_str()).collect();
    assert_eq!(numbers, ["1", "2.1", "2.2", "2", "3"]);
    let keys: Vec<&str> = x.params.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "0.weight",
            "0.bias",
            "1.body.0.weight",
            "1.body.0.bias",
            "2.weight",
            "2.bias"
        ]
    );
    let table = x.to_table(chainrule_inspect::trace::Show { full: false });
    assert!(table.contains("evaluation mode"), "{table}");
    let json = x.to_json(chainrule_inspect::trace::Show { full: false });
    assert_eq!(json["layers"].as_array().unwrap().len(), 5);
    assert_eq!(json["mode"], "eval");
}

#[test]
fn bad_elements_are_errors_that_name_the_layer_and_its_shape() {
    let (mut m, mut s) = conv_model();
    let cases = [
        ("1-0", "is not LAYER:INDEX"),
        ("9:0", "there is no layer '9'; the layers are 1, 2"),
        (
            "1:0,4,0",
            "layer 1 conv2d(1,2,pad=1) (character 0): index 4 on axis 1 is out of range for the output shape [1, 4, 4] (0..4)",
        ),
        ("1:0,1", "give 3 indices (or 1 for a whole channel), got 2"),
        ("1:a", "'a' is not an index"),
        ("2:16", "index 16 on axis 0 is out of range for the output shape [16]"),
    ];
    for (text, want) in cases {
        s.element = Some(text.into());
        let err = explain_layers(&mut m, &s).unwrap_err().to_string();
        assert!(err.contains(want), "{text}: {err}");
    }
}

#[test]
fn a_whole_channel_is_summarized_with_its_kernel() {
    let (mut m, mut s) = conv_model();
    s.element = Some("1:0".into());
    let e = element(&mut m, &s);
    assert_eq!(e.name, "y[0]");
    assert!(e.value.is_none());
    assert_eq!(
        line(&e.forward, "kernel w[0]").formula,
        "[[[0.5, -1], [2, 0.25]]]"
    );
}
