//! Optimizer steps against values computed by hand (the arithmetic is in
//! the comments; Adam's figures were worked out from PyTorch's documented
//! update rule, independently of this crate).

use chainrule::{Graph, ParamId, Tensor};
use chainrule_nn::optim::{Adam, Optimizer, Sgd};

/// Loss Σ c ⊙ w (constant gradient c), one backward pass.
fn linear_grad(g: &mut Graph<f64>, w: ParamId, c: &[f64]) {
    g.zero_grad();
    {
        let wv = g.param(w).unwrap();
        let cv = g.input(&Tensor::from_f64(c, &[c.len()]).unwrap());
        wv.mul(cv).unwrap().sum().backward().unwrap();
    }
    g.clear();
}

/// Loss ½ Σ w² (gradient w), one backward pass.
fn quadratic_grad(g: &mut Graph<f64>, w: ParamId) {
    g.zero_grad();
    {
        let wv = g.param(w).unwrap();
        wv.square().sum().mul_scalar(0.5).backward().unwrap();
    }
    g.clear();
}

fn value(g: &Graph<f64>, w: ParamId) -> Vec<f64> {
    g.param_value(w).unwrap().into_vec()
}

fn close(a: &[f64], b: &[f64]) {
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-12, "{a:?} vs {b:?}");
    }
}

#[test]
fn sgd_with_momentum() {
    // g = [1, −2] every step, μ = 0.9, lr = 0.1:
    // v₁ = g → w₁ = −0.1 g = [−0.1, 0.2];  v₂ = 0.9 g + g = 1.9 g → w₂ = w₁ − 0.19 g = [−0.29, 0.58].
    let mut g = Graph::<f64>::new();
    let w = g.parameter(&Tensor::zeros(&[2]).unwrap());
    let mut opt = Sgd::new(0.1).with_momentum(0.9, false);
    linear_grad(&mut g, w, &[1.0, -2.0]);
    opt.step(&mut g);
    close(&value(&g, w), &[-0.1, 0.2]);
    linear_grad(&mut g, w, &[1.0, -2.0]);
    opt.step(&mut g);
    close(&value(&g, w), &[-0.29, 0.58]);
}

#[test]
fn sgd_with_nesterov_momentum() {
    // Nesterov: step = g + μv. v₁ = g → step 1.9 g → w₁ = −0.19 g;
    // v₂ = 1.9 g → step = g + 1.71 g = 2.71 g → w₂ = −0.461 g.
    let mut g = Graph::<f64>::new();
    let w = g.parameter(&Tensor::zeros(&[2]).unwrap());
    let mut opt = Sgd::new(0.1).with_momentum(0.9, true);
    linear_grad(&mut g, w, &[1.0, -2.0]);
    opt.step(&mut g);
    close(&value(&g, w), &[-0.19, 0.38]);
    linear_grad(&mut g, w, &[1.0, -2.0]);
    opt.step(&mut g);
    close(&value(&g, w), &[-0.461, 0.922]);
}

#[test]
fn sgd_weight_decay() {
    // w = 1, g = 0, λ = 0.1, lr = 0.1: w ← 1 − 0.1 · (0 + 0.1 · 1) = 0.99.
    let mut g = Graph::<f64>::new();
    let w = g.parameter(&Tensor::ones(&[1]).unwrap());
    let mut opt = Sgd::new(0.1).with_weight_decay(0.1);
    linear_grad(&mut g, w, &[0.0]);
    opt.step(&mut g);
    close(&value(&g, w), &[0.99]);
}

#[test]
fn adam_three_steps() {
    // ½w², w₀ = 1, lr 0.1, β = (0.9, 0.999), ε = 1e-8.
    // t=1: g=1, m=0.1, v=0.001, m̂=1, v̂=1 → w = 1 − 0.1/(1 + 1e-8) = 0.900000001.
    // t=2: g=0.9…, m=0.18, v=0.001809, m̂=0.18/0.19, v̂=0.001809/0.001999 → 0.80041223.
    let expected = [0.900000001, 0.8004122297123382, 0.701586274504415];
    let mut g = Graph::<f64>::new();
    let w = g.parameter(&Tensor::ones(&[1]).unwrap());
    let mut opt = Adam::new(0.1);
    for e in expected {
        quadratic_grad(&mut g, w);
        opt.step(&mut g);
        assert!(
            (value(&g, w)[0] - e).abs() < 1e-9,
            "{} vs {e}",
            value(&g, w)[0]
        );
    }
}

#[test]
fn adamw_decouples_weight_decay() {
    // As above with λ = 0.5: w is first scaled by 1 − 0.1·0.5 = 0.95, then
    // takes the Adam step computed from the gradient before scaling.
    let expected = [0.850000001, 0.7082484443656524];
    let mut g = Graph::<f64>::new();
    let w = g.parameter(&Tensor::ones(&[1]).unwrap());
    let mut opt = Adam::adamw(0.1, 0.5);
    for e in expected {
        quadratic_grad(&mut g, w);
        opt.step(&mut g);
        assert!(
            (value(&g, w)[0] - e).abs() < 1e-9,
            "{} vs {e}",
            value(&g, w)[0]
        );
    }
}
