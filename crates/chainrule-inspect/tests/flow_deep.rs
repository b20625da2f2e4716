//! The lesson's Example 3 finished: the vanishing gradient of deep sigmoid
//! networks, and the two cures (residual connections, batch normalization)
//! measured on one-unit chains worked by hand and on 20-layer networks.

use chainrule::Graph;
use chainrule_inspect::flow::{
    chain_of, measure_network, random_batch, ChainKind, FlowReport, Verdict,
};
use chainrule_nn::arch;
use chainrule_nn::network::Network;
use chainrule_nn::{Activation, Init, LossKind};

fn rel_close(a: f64, b: f64, tol: f64) {
    assert!(
        (a - b).abs() <= tol * b.abs().max(1e-300),
        "{a} vs {b} (relative tolerance {tol})"
    );
}

fn deep(text: &str, seed: u64) -> FlowReport {
    let specs = arch::parse(text).unwrap();
    let mut g = Graph::<f64>::new();
    let net = Network::new(&mut g, &specs, &[32], Init::XavierUniform, seed).unwrap();
    let batch = random_batch(32, 1, LossKind::Mse, 64, seed).unwrap();
    measure_network(&mut g, &net, &batch).unwrap()
}

const PLAIN: &str = "repeat(20,linear(32),sigmoid),linear(1)";
const RESIDUAL: &str = "linear(32),sigmoid,repeat(19,residual(linear(32),sigmoid)),linear(1)";
const BATCH_NORM: &str = "repeat(20,linear(32),batchnorm1d,sigmoid),linear(1)";

#[test]
fn twenty_sigmoid_layers_vanish_and_both_cures_keep_layer_1_healthy() {
    for seed in 0..3 {
        let plain = deep(PLAIN, seed);
        let residual = deep(RESIDUAL, seed);
        let batch_norm = deep(BATCH_NORM, seed);
        for r in [&plain, &residual, &batch_norm] {
            // 21 weight layers: 20 hidden and the output.
            assert_eq!(r.layers.len(), 21);
            let last = r.layers[20].delta_norm;
            for l in &r.layers {
                // The ratio the verdict reads is the measured norms' ratio.
                rel_close(l.delta_ratio, l.delta_norm / last, 1e-12);
            }
        }
        // Each sigmoid passes back σ' ≤ 1/4 and Xavier weights do not make
        // it up: 19 layers bring ‖∂L/∂z‖ below 1e-9 of the output layer's.
        let l1 = &plain.layers[0];
        assert_eq!(l1.verdict, Verdict::Vanishing, "{}", l1.reason);
        assert!(l1.delta_ratio < 1e-9, "{}", l1.delta_ratio);
        // Reasons count weight layers as the tables' layer column does.
        assert!(
            l1.reason
                .starts_with("layer 1 gradient 2.1e-13 of layer 21: vanishing")
                || seed != 0,
            "{}",
            l1.reason
        );
        assert!(l1.reason.contains("vanishing"), "{}", l1.reason);
        assert!(
            plain.layers[9].reason.starts_with("layer 10 gradient"),
            "{}",
            plain.layers[9].reason
        );
        // The skip path adds the gradient back at every block; batch norm
        // divides it by the spread the sigmoid shrank.
        for (name, r) in [("residual", &residual), ("batchnorm", &batch_norm)] {
            let l1 = &r.layers[0];
            assert_eq!(
                l1.verdict,
                Verdict::Healthy,
                "{name} seed {seed}: {}",
                l1.reason
            );
            assert!(
                (0.1..10.0).contains(&l1.delta_ratio),
                "{name} seed {seed}: {}",
                l1.delta_ratio
            );
            assert!(
                r.layers.iter().all(|l| l.verdict == Verdict::Healthy),
                "{name}"
            );
        }
        // Layers are named by their place in the architecture.
        assert_eq!(residual.layers[1].number, "3.1");
        assert_eq!(residual.layers[1].weight_key, "2.body.0.weight");
        assert_eq!(residual.layers[1].text, "linear(32)");
        assert_eq!(batch_norm.layers[1].weight_key, "3.weight");
        assert_eq!(batch_norm.layers[0].activation, Some(Activation::Sigmoid));
    }
}

#[test]
fn residual_chain_passes_back_one_plus_the_sigmoid_slope_by_hand() {
    let r = chain_of(ChainKind::Residual, 5, 0.9, Activation::Sigmoid).unwrap();
    // h_k = h_{k−1} + σ(w·h_{k−1} + b_k) with σ(·) = 0.9 at every unit:
    // ∂h_k/∂h_{k−1} = 1 + w·σ'(z) = 1 + 0.9 × 0.1 = 1.09.
    for (k, l) in r.layers.iter().enumerate() {
        rel_close(l.output, 0.9, 1e-12);
        rel_close(l.local_factor, 1.09, 1e-12);
        // ∂L/∂z_k = σ'(z_k) · 1.09^(5 − k) with ∂L/∂h_5 = 1.
        rel_close(l.cumulative, 0.09 * 1.09f64.powi(4 - k as i32), 1e-12);
    }
    // Layer 1's ‖∂L/∂z‖ is 1.09⁴ = 1.41158161 of layer 5's: healthy, where
    // the plain chain's is 0.09⁴ = 6.561e-5: vanishing.
    rel_close(r.flow.layers[0].delta_ratio, 1.411_581_61, 1e-12);
    assert_eq!(r.flow.layers[0].verdict, Verdict::Healthy);
    let plain = chain_of(ChainKind::Plain, 5, 0.9, Activation::Sigmoid).unwrap();
    assert_eq!(plain.flow.layers[0].verdict, Verdict::Vanishing);
    assert_eq!(r.label(), "residual sigmoid");
}

/// The batch-norm chain's forward and backward pass written out in f64
/// from the textbook formulas (batch statistics with the biased variance,
/// ε = 1e-5, γ = 1, β = ln 9, MSE over the 8 rows), independent of the
/// engine: returns per unit ‖∂L/∂h_{k−1}‖ ÷ ‖∂L/∂h_k‖, ‖∂L/∂u_k‖ ÷
/// ‖∂L/∂h_5‖ (u the activation's input) and ‖∂L/∂z_k‖ (z the linear output).
fn batch_norm_chain_by_hand(x: &[f64], t: &[f64], n: usize) -> Vec<(f64, f64, f64)> {
    let eps = 1e-5;
    let beta = 9f64.ln();
    let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let mut h = x.to_vec();
    let mut saved = Vec::new();
    for _ in 0..n {
        let z = h.clone(); // w = 1, b = 0
        let mu = mean(&z);
        let var = z.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / z.len() as f64;
        let s = (var + eps).sqrt();
        let zh: Vec<f64> = z.iter().map(|v| (v - mu) / s).collect();
        let a: Vec<f64> = zh.iter().map(|v| sigmoid(v + beta)).collect();
        saved.push((zh, a.clone(), s));
        h = a;
    }
    let rows = x.len() as f64;
    let mut dh: Vec<f64> = h.iter().zip(t).map(|(a, t)| 2.0 * (a - t) / rows).collect();
    let out = norm(&dh);
    let mut per_unit = Vec::new();
    for (zh, a, s) in saved.iter().rev() {
        let du: Vec<f64> = dh.iter().zip(a).map(|(g, a)| g * a * (1.0 - a)).collect();
        let m = mean(&du);
        let mz = mean(&du.iter().zip(zh).map(|(g, z)| g * z).collect::<Vec<_>>());
        let dz: Vec<f64> = du
            .iter()
            .zip(zh)
            .map(|(g, z)| (g - m - z * mz) / s)
            .collect();
        let local = norm(&dz) / norm(&dh);
        per_unit.push((local, norm(&du) / out, norm(&dz)));
        dh = dz;
    }
    per_unit.reverse();
    per_unit
}

#[test]
fn batch_norm_chain_matches_the_formulas_worked_in_f64() {
    use chainrule_inspect::flow::{BATCH_NORM_OFFSETS, BATCH_NORM_TARGETS};
    let r = chain_of(ChainKind::BatchNorm, 5, 0.9, Activation::Sigmoid).unwrap();
    let x: Vec<f64> = BATCH_NORM_OFFSETS.iter().map(|d| 0.9 + d).collect();
    let by_hand = batch_norm_chain_by_hand(&x, &BATCH_NORM_TARGETS, 5);
    for (l, (local, cumulative, dz)) in r.layers.iter().zip(&by_hand) {
        rel_close(l.local_factor, *local, 1e-9);
        rel_close(l.cumulative, *cumulative, 1e-9);
        rel_close(r.flow.layers[l.layer - 1].delta_norm, *dz, 1e-9);
        // Centred where the plain chain's units sit: z ≈ ln 9.
        assert!(
            (l.pre_activation - 9f64.ln()).abs() < 1e-9,
            "{}",
            l.pre_activation
        );
    }
    // Layer 1 keeps a gradient comparable with layer 5's: healthy.
    let l1 = &r.flow.layers[0];
    rel_close(l1.delta_ratio, by_hand[0].2 / by_hand[4].2, 1e-9);
    assert_eq!(l1.verdict, Verdict::Healthy, "{}", l1.reason);
    assert_eq!(r.rows, 8);
}

#[test]
fn a_convolution_counts_dead_channels_not_dead_positions() {
    use chainrule::Tensor;
    use chainrule_inspect::flow::{FlowBatch, Objective};
    // conv2d(2,1) on 1×2×2 images: channel 0 copies x, channel 1 is
    // −x − 10.
    let specs = arch::parse("conv2d(2,1),relu,flatten,linear(1)").unwrap();
    let mut g = Graph::<f64>::new();
    let net = Network::new(&mut g, &specs, &[1, 2, 2], Init::XavierUniform, 0).unwrap();
    let params = net.parameters();
    g.set_param(
        params[0].1,
        &Tensor::from_f64(&[1.0, -1.0], &[2, 1, 1, 1]).unwrap(),
    )
    .unwrap();
    g.set_param(params[1].1, &Tensor::from_f64(&[0.0, -10.0], &[2]).unwrap())
        .unwrap();
    // Position 0 is negative on both rows, the others positive: channel 0
    // is ≤ 0 only at position 0 (alive: it learns from the other three),
    // channel 1 (−x − 10, x within ±4) is ≤ 0 everywhere (dead). One
    // channel of two: 50 %. (By position it would be 5 of 8.)
    let batch = FlowBatch {
        rows: 2,
        inputs: vec![-1.0, 2.0, 3.0, 4.0, -1.0, 1.0, 2.0, 2.0],
        objective: Objective::Mse(vec![0.5, -0.5]),
    };
    let r = measure_network(&mut g, &net, &batch).unwrap();
    let l1 = &r.layers[0];
    assert_eq!(l1.dead_fraction, 0.5, "{l1:#?}");
    assert!(
        l1.reason.contains("50% of ReLU channels dead"),
        "{}",
        l1.reason
    );
}
