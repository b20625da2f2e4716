//! Gradient-flow diagnosis checked against hand arithmetic and closed forms:
//! the lesson's chain (σ' = 0.9 · 0.1 = 0.09 per layer, 0.09⁵ at layer 1),
//! one-layer networks worked by hand, saturation and dead units counted by
//! hand, and the verdicts on deep sigmoid and ReLU stacks.

use chainrule::{Graph, Tensor};
use chainrule_inspect::flow::{
    self, chain, default_init, layer_report, measure, random_batch, FlowBatch, Objective, Verdict,
};
use chainrule_inspect::flow_chart;
use chainrule_nn::data::{Dataset, Targets};
use chainrule_nn::trainer::{Model, TrainConfig};
use chainrule_nn::{Activation, Init, LossKind, Mlp, MlpSpec};

fn close(a: f64, b: f64, tol: f64) {
    assert!(
        (a - b).abs() <= tol * b.abs().max(1.0),
        "{a} vs {b} (tolerance {tol})"
    );
}

fn rel_close(a: f64, b: f64, tol: f64) {
    assert!(
        (a - b).abs() <= tol * b.abs(),
        "{a} vs {b} (relative {tol})"
    );
}

fn network(sizes: &[usize], act: Activation, init: Init, seed: u64) -> (Graph<f64>, Mlp) {
    let mut g = Graph::new();
    let spec = MlpSpec {
        sizes: sizes.to_vec(),
        activation: act,
        output_activation: Activation::Identity,
    };
    let mlp = Mlp::new(&mut g, spec, init, seed).unwrap();
    (g, mlp)
}

fn set(g: &mut Graph<f64>, p: chainrule::ParamId, values: &[f64], dims: &[usize]) {
    g.set_param(p, &Tensor::from_f64(values, dims).unwrap())
        .unwrap();
}

// ----- Example 3 ----------------------------------------------------------

#[test]
fn sigmoid_chain_at_0_9_passes_back_0_09_per_layer() {
    let r = chain(5, 0.9, Activation::Sigmoid).unwrap();
    assert_eq!(r.layers.len(), 5);
    // σ'(z) = σ(z)(1 − σ(z)) = 0.9 × 0.1 = 0.09 at every unit.
    let factor = 0.9 * 0.1;
    // Cumulative at layer k: one factor per unit from k to 5, by hand:
    // 0.09, 0.0081, 0.000729, 0.00006561, 0.0000059049.
    let by_hand = [0.000_005_904_9, 0.000_065_61, 0.000_729, 0.0081, 0.09];
    for (l, want) in r.layers.iter().zip(by_hand) {
        close(l.output, 0.9, 1e-12);
        // z = ln(0.9 / 0.1) = ln 9.
        close(l.pre_activation, 9f64.ln(), 1e-12);
        close(l.local_factor, factor, 1e-9);
        rel_close(l.cumulative, want, 1e-9);
    }
    rel_close(r.layers[0].cumulative, 5.9049e-6, 1e-9);
    // Layer 1's weight gradient is 0.09⁴ of layer 5's: vanishing.
    assert_eq!(r.flow.layers[0].verdict, Verdict::Vanishing);
    assert!(
        r.flow.layers[0].reason.contains("vanishing"),
        "{}",
        r.flow.layers[0].reason
    );
    rel_close(r.flow.layers[0].delta_ratio, 0.000_065_61, 1e-9);
}

#[test]
fn sigmoid_chain_at_0_5_passes_back_a_quarter_per_layer() {
    let r = chain(5, 0.5, Activation::Sigmoid).unwrap();
    for (i, l) in r.layers.iter().enumerate() {
        close(l.pre_activation, 0.0, 1e-12);
        close(l.local_factor, 0.25, 1e-9);
        // 0.25^(6 − k): 1/1024 at layer 1.
        let want = 1.0 / f64::from(1u32 << (2 * (5 - i)));
        rel_close(l.cumulative, want, 1e-9);
    }
    rel_close(r.layers[0].cumulative, 9.765_625e-4, 1e-9);
}

#[test]
fn relu_and_tanh_chains() {
    // ReLU at output 0.9: z = 0.9 > 0, derivative 1, nothing lost.
    let r = chain(5, 0.9, Activation::Relu).unwrap();
    for (l, f) in r.layers.iter().zip(&r.flow.layers) {
        close(l.local_factor, 1.0, 1e-12);
        close(l.cumulative, 1.0, 1e-12);
        assert_eq!(f.verdict, Verdict::Healthy, "{}", f.reason);
    }
    // tanh at output 0.5: 1 − 0.5² = 0.75 per unit, 0.75³ = 0.421875 at
    // layer 1 of three.
    let r = chain(3, 0.5, Activation::Tanh).unwrap();
    for l in &r.layers {
        close(l.local_factor, 0.75, 1e-9);
    }
    rel_close(r.layers[0].cumulative, 0.421_875, 1e-9);
    let j = r.to_json();
    assert_eq!(j["chain"].as_array().unwrap().len(), 3);
    assert_eq!(j["activation"], "tanh");
}

#[test]
fn impossible_chains_are_errors() {
    assert!(chain(0, 0.9, Activation::Sigmoid).is_err());
    for bad in [0.0, 1.0, 1.5, -0.1, f64::NAN, f64::INFINITY] {
        let e = chain(5, bad, Activation::Sigmoid).unwrap_err().to_string();
        assert!(e.starts_with("chain-output:"), "{e}");
    }
    assert!(chain(5, 1.0, Activation::Tanh).is_err());
    assert!(chain(5, 0.0, Activation::Relu).is_err());
}

// ----- numbers by hand ----------------------------------------------------

#[test]
fn one_linear_layer_by_hand() {
    // y = x Wᵀ + b with W = [1, 2], b = 0, x = [1, 1]: p = 3, MSE against
    // 0 gives L = 9, ∂L/∂p = 2 · 3 = 6, ∂L/∂W = 6 · x = [6, 6].
    let (mut g, mlp) = network(&[2, 1], Activation::Identity, Init::Zeros, 0);
    let lin = *mlp.linears().next().unwrap();
    set(&mut g, lin.weight, &[1.0, 2.0], &[1, 2]);
    let batch = FlowBatch {
        rows: 1,
        inputs: vec![1.0, 1.0],
        objective: Objective::Mse(vec![0.0]),
    };
    let r = measure(&mut g, &mlp, &batch).unwrap();
    close(r.loss, 9.0, 1e-12);
    let l = &r.layers[0];
    close(l.grad_norm, 6.0 * 2f64.sqrt(), 1e-12);
    close(l.mean_abs_grad, 6.0, 1e-12);
    close(l.weight_norm, 5f64.sqrt(), 1e-12);
    close(l.grad_to_weight, 6.0 * 2f64.sqrt() / 5f64.sqrt(), 1e-12);
    close(l.delta_norm, 6.0, 1e-12);
    assert_eq!(l.verdict, Verdict::Healthy);
    assert_eq!((l.saturated_fraction, l.dead_fraction), (0.0, 0.0));
}

#[test]
fn saturated_and_dead_units_counted_by_hand() {
    // Sigmoid, W1 = [[10], [0], [−10], [1]], inputs 1 and 2:
    // outputs σ(10), σ(0) = 0.5, σ(−10), σ(1) ≈ 0.731 for x = 1 and
    // σ(20), 0.5, σ(−20), σ(2) ≈ 0.881 for x = 2: 4 of 8 saturated.
    let (mut g, mlp) = network(&[1, 4, 1], Activation::Sigmoid, Init::Constant(0.5), 0);
    let w1 = mlp.linears().next().unwrap().weight;
    set(&mut g, w1, &[10.0, 0.0, -10.0, 1.0], &[4, 1]);
    let batch = FlowBatch {
        rows: 2,
        inputs: vec![1.0, 2.0],
        objective: Objective::Mse(vec![0.0, 1.0]),
    };
    let r = measure(&mut g, &mlp, &batch).unwrap();
    close(r.layers[0].saturated_fraction, 0.5, 1e-12);
    assert_eq!(r.layers[0].dead_fraction, 0.0);
    assert!(r.layers[0]
        .reason
        .contains("50% of sigmoid units saturated"));

    // tanh with the same weights: tanh(10), 0, tanh(−10), tanh(1) ≈ 0.76
    // and tanh(20), 0, tanh(−20), tanh(2) ≈ 0.964: 5 of 8 beyond 0.95.
    let (mut g, mlp) = network(&[1, 4, 1], Activation::Tanh, Init::Constant(0.5), 0);
    let w1 = mlp.linears().next().unwrap().weight;
    set(&mut g, w1, &[10.0, 0.0, -10.0, 1.0], &[4, 1]);
    let r = measure(&mut g, &mlp, &batch).unwrap();
    close(r.layers[0].saturated_fraction, 5.0 / 8.0, 1e-12);

    // ReLU with W1 = [[1], [−1], [0], [2]] and inputs 1, 2: unit 2 is
    // negative and unit 3 zero on both rows, so 2 of 4 units are dead.
    let (mut g, mlp) = network(&[1, 4, 1], Activation::Relu, Init::Constant(0.5), 0);
    let w1 = mlp.linears().next().unwrap().weight;
    set(&mut g, w1, &[1.0, -1.0, 0.0, 2.0], &[4, 1]);
    let r = measure(&mut g, &mlp, &batch).unwrap();
    close(r.layers[0].dead_fraction, 0.5, 1e-12);
    assert_eq!(r.layers[0].saturated_fraction, 0.0);
    assert!(
        r.layers[0].reason.contains("50% of ReLU units dead"),
        "{}",
        r.layers[0].reason
    );
}

#[test]
fn all_ones_identity_stack_explodes_by_hand() {
    // Identity layers 4 wide with every weight 1: ∂L/∂z is multiplied by
    // Wᵀ = ones each step back. From the 1-output layer: ‖δ₅‖ = 2‖δ₆‖
    // (four equal entries), then ×4 per layer: ‖δ₁‖ = 2 · 4⁴ ‖δ₆‖ = 512.
    let (mut g, mlp) = network(
        &[4, 4, 4, 4, 4, 4, 1],
        Activation::Identity,
        Init::Constant(1.0),
        0,
    );
    let batch = random_batch(4, 1, LossKind::Mse, 8, 3).unwrap();
    let r = measure(&mut g, &mlp, &batch).unwrap();
    rel_close(r.layers[0].delta_ratio, 512.0, 1e-9);
    rel_close(r.layers[1].delta_ratio, 128.0, 1e-9);
    rel_close(r.layers[2].delta_ratio, 32.0, 1e-9);
    assert_eq!(r.layers[0].verdict, Verdict::Exploding);
    assert_eq!(r.layers[1].verdict, Verdict::Exploding);
    assert!(
        r.layers[0]
            .reason
            .starts_with("layer 1 gradient 512 of layer 6: exploding"),
        "{}",
        r.layers[0].reason
    );
}

#[test]
fn non_finite_and_zero_gradients() {
    let (mut g, mlp) = network(&[2, 3, 1], Activation::Relu, Init::KaimingUniform, 1);
    let batch = FlowBatch {
        rows: 1,
        inputs: vec![f64::NAN, 1.0],
        objective: Objective::Mse(vec![0.0]),
    };
    let r = measure(&mut g, &mlp, &batch).unwrap();
    assert!(r.layers.iter().all(|l| l.verdict == Verdict::Exploding));
    let j = r.to_json();
    assert!(j["layers"][0]["grad_norm"].is_null());

    // Every first-layer weight zero, ReLU: the hidden units output 0, so
    // no gradient reaches the first layer's weights (nor the second's).
    let (mut g, mlp) = network(&[2, 3, 1], Activation::Relu, Init::Zeros, 1);
    let batch = random_batch(2, 1, LossKind::Mse, 4, 0).unwrap();
    let r = measure(&mut g, &mlp, &batch).unwrap();
    assert_eq!(r.layers[0].grad_norm, 0.0);
    assert_eq!(r.layers[0].verdict, Verdict::Vanishing);
    assert_eq!(r.layers[0].dead_fraction, 1.0);
}

// ----- verdicts on deep stacks ---------------------------------------------

#[test]
fn five_sigmoid_layers_vanish_where_relu_stays_healthy() {
    let sizes = [32, 32, 32, 32, 32, 32, 1];
    for loss in [LossKind::Mse, LossKind::Bce] {
        for rows in [1, 16, 64, 256] {
            for seed in 0..8 {
                let batch = random_batch(32, 1, loss, rows, seed).unwrap();
                let (mut g, mlp) = network(
                    &sizes,
                    Activation::Sigmoid,
                    default_init(Activation::Sigmoid),
                    seed,
                );
                let r = measure(&mut g, &mlp, &batch).unwrap();
                assert_eq!(
                    r.layers[0].verdict,
                    Verdict::Vanishing,
                    "sigmoid {loss:?} rows {rows} seed {seed}: {}",
                    r.layers[0].reason
                );
                // σ' ≤ 1/4 five times: at most 0.25⁵ ≈ 1e-3 of the
                // output's, times what the weights pass on.
                assert!(r.layers[0].delta_ratio < 3e-3);
                let (mut g, mlp) = network(
                    &sizes,
                    Activation::Relu,
                    default_init(Activation::Relu),
                    seed,
                );
                let r = measure(&mut g, &mlp, &batch).unwrap();
                for l in &r.layers {
                    assert_eq!(
                        l.verdict,
                        Verdict::Healthy,
                        "relu {loss:?} rows {rows} seed {seed}: {}",
                        l.reason
                    );
                }
            }
        }
    }
}

#[test]
fn json_has_exactly_the_documented_keys() {
    let (mut g, mlp) = network(&[3, 4, 2], Activation::Tanh, Init::XavierUniform, 0);
    let batch = random_batch(3, 2, LossKind::Cce, 5, 0).unwrap();
    let r = measure(&mut g, &mlp, &batch).unwrap();
    let j = r.to_json();
    let top: Vec<&String> = j.as_object().unwrap().keys().collect();
    assert_eq!(top, ["layers"]);
    let layers = j["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    let mut want = [
        "layer",
        "number",
        "text",
        "weight",
        "bias",
        "input_shape",
        "output_shape",
        "delta_norm",
        "delta_ratio",
        "grad_norm",
        "mean_abs_grad",
        "grad_to_weight",
        "saturated_fraction",
        "dead_fraction",
        "verdict",
        "reason",
    ];
    want.sort_unstable();
    for (i, l) in layers.iter().enumerate() {
        let mut keys: Vec<&str> = l.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(keys, want);
        assert_eq!(l["layer"], i + 1);
        // Layer k's weight is sequence element 2(k − 1): Linear, Tanh, Linear.
        assert_eq!(l["weight"], format!("{}.weight", 2 * i));
        assert_eq!(l["bias"], format!("{}.bias", 2 * i));
        assert!(["vanishing", "healthy", "exploding"].contains(&l["verdict"].as_str().unwrap()));
    }
}

// ----- the trainer hook -----------------------------------------------------

fn tiny_data() -> Dataset {
    // Eight rows of two features, label 1 where x₀ + x₁ > 0.
    let features: Vec<f64> = (0..16).map(|i| ((i * 7 % 11) as f64 - 5.0) / 3.0).collect();
    let labels = features
        .chunks(2)
        .map(|r| usize::from(r[0] + r[1] > 0.0))
        .collect();
    Dataset::new(
        "tiny",
        2,
        features,
        Targets::Classes { labels, classes: 2 },
        vec![],
    )
    .unwrap()
}

fn check_hook<F: chainrule::Float>() {
    let data = tiny_data();
    let config = TrainConfig {
        hidden: vec![5, 4],
        activation: Activation::Sigmoid,
        ..TrainConfig::default()
    };
    let mut model = Model::<F>::new(&data, &config).unwrap();
    let params = model.network.parameters();
    let before: Vec<Vec<F>> = params
        .iter()
        .map(|(_, p)| model.graph.param_value(*p).unwrap().into_vec())
        .collect();
    let tape = model.graph.len();
    let r = layer_report(&mut model, &data, &[0, 3, 5, 7]).unwrap();
    assert_eq!(r.layers.len(), 3);
    assert_eq!(r.rows, 4);
    assert!(r.layers.iter().all(|l| l.grad_norm > 0.0));
    for ((_, p), b) in params.iter().zip(&before) {
        assert_eq!(&model.graph.param_value(*p).unwrap().into_vec(), b);
        assert!(
            model.graph.param_grad(*p).is_err(),
            "gradients are left zeroed"
        );
    }
    assert_eq!(model.graph.len(), tape, "the graph is cleared");
    // The same rows again give the same report.
    assert_eq!(layer_report(&mut model, &data, &[0, 3, 5, 7]).unwrap(), r);
    assert!(layer_report(&mut model, &data, &[8]).is_err());
    assert!(layer_report(&mut model, &data, &[]).is_err());
}

#[test]
fn layer_report_leaves_a_model_unchanged() {
    check_hook::<f64>();
    check_hook::<f32>();
}

#[test]
fn mismatched_batches_are_errors_not_panics() {
    let (mut g, mlp) = network(&[3, 4, 2], Activation::Relu, Init::KaimingUniform, 0);
    let bad = [
        FlowBatch {
            rows: 2,
            inputs: vec![0.0; 5],
            objective: Objective::OutputSum,
        },
        FlowBatch {
            rows: 0,
            inputs: vec![],
            objective: Objective::OutputSum,
        },
        FlowBatch {
            rows: 1,
            inputs: vec![0.0; 3],
            objective: Objective::Mse(vec![0.0]),
        },
        FlowBatch {
            rows: 1,
            inputs: vec![0.0; 3],
            objective: Objective::Cce(vec![2]),
        },
    ];
    for b in &bad {
        assert!(measure(&mut g, &mlp, b).is_err(), "{b:?}");
    }
    assert!(random_batch(3, 1, LossKind::Cce, 4, 0).is_err());
    assert!(random_batch(3, 2, LossKind::Mse, 0, 0).is_err());
}

// ----- the chart --------------------------------------------------------------

#[test]
fn charts_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let sig = chain(5, 0.9, Activation::Sigmoid).unwrap();
    let relu = chain(5, 0.9, Activation::Relu).unwrap();
    let path = dir.path().join("chain.svg");
    flow_chart::chain_chart(&path, "chain", &[&sig, &relu]).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("<rect"), "{svg}");
    assert!(svg.contains("sigmoid (outputs 0.9)") && svg.contains("relu (outputs 0.9)"));
    // 5.9e-6 printed above the first sigmoid bar.
    assert!(svg.contains("5.9e-6"));

    let (mut g, mlp) = network(&[4, 4, 1], Activation::Sigmoid, Init::XavierUniform, 0);
    let r = measure(
        &mut g,
        &mlp,
        &random_batch(4, 1, LossKind::Mse, 4, 0).unwrap(),
    )
    .unwrap();
    let path = dir.path().join("flow.svg");
    flow_chart::flow_chart(&path, "flow", &[("sigmoid", &r)]).unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() > 500);

    // Zero, negative, tiny, huge and non-finite values are drawn without
    // failing.
    let bars = flow_chart::Bars {
        label: "odd".into(),
        values: vec![0.0, -1.0, 1e-300, 1e300, f64::NAN, f64::INFINITY],
        verdicts: vec![],
        threshold: Some(0.0),
        weight_keys: vec![],
    };
    let path = dir.path().join("odd.svg");
    flow_chart::bar_chart(&path, "odd", "y", &[bars]).unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() > 0);
    flow_chart::bar_chart(&dir.path().join("empty.svg"), "empty", "y", &[]).unwrap();
    assert!(flow_chart::bar_chart(&dir.path().join("no/such/dir.svg"), "x", "y", &[]).is_err());
}

#[test]
fn short_numbers() {
    assert_eq!(flow::short(0.09), "0.09");
    assert_eq!(flow::short(0.0204), "0.0204");
    assert_eq!(flow::short(1.0), "1");
    assert_eq!(flow::short(5.9049e-6), "5.9e-6");
    assert_eq!(flow::short(512.0), "512");
    assert_eq!(flow::short(0.0), "0");
}
