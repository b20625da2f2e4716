//! Whole-model gradient checks: a healthy model passes, ReLU kinks are
//! reported and not counted, and a deliberately broken backward rule is
//! caught and named.

use chainrule::gradcheck::Verdict;
use chainrule::{BackwardCtx, CustomOp, Grads, Graph, Result, Shape, Tensor};
use chainrule_inspect::gradcheck_model::{check_model, check_params, loss_fn, ModelCheckOptions};
use chainrule_nn::data::{self, LabelKind, Standardizer};
use chainrule_nn::trainer::{train, Model, TrainConfig};
use chainrule_nn::{Activation, Module};
use std::rc::Rc;

fn iris() -> chainrule_nn::data::Dataset {
    let mut d = data::load("iris", LabelKind::Class).unwrap().train;
    Standardizer::fit(&d).apply(&mut d).unwrap();
    d
}

#[test]
fn a_trained_tanh_model_passes_with_every_parameter_named() {
    let d = iris();
    let cfg = TrainConfig {
        epochs: 3,
        hidden: vec![8],
        activation: Activation::Tanh,
        ..TrainConfig::default()
    };
    let mut model = Model::<f32>::new(&d, &cfg).unwrap();
    train(&mut model, &d, None, &cfg, |_| {}, |_, _| Ok(())).unwrap();
    let rows: Vec<usize> = (0..150).step_by(7).collect();
    let report = check_model(&model, &d, &rows, ModelCheckOptions::default()).unwrap();
    let names: Vec<&str> = report.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
    assert!(report.passed(), "{report:#?}");
    for p in &report.params {
        assert_eq!(p.verdict, Verdict::Correct, "{p:#?}");
        assert_eq!(p.kinks, 0);
    }
    // 0.weight has 8·4 = 32 elements, all checked (below the sample size).
    assert_eq!((report.params[0].checked, report.params[0].total), (32, 32));
}

#[test]
fn relu_kinks_are_reported_not_failed() {
    // Zero first-layer weights and biases put every hidden pre-activation
    // exactly at ReLU's kink: perturbing a first-layer weight crosses it.
    let d = iris();
    let cfg = TrainConfig {
        hidden: vec![5],
        activation: Activation::Relu,
        ..TrainConfig::default()
    };
    let mut model = Model::<f64>::new(&d, &cfg).unwrap();
    let w0 = Module::<f64>::parameters(&model.mlp)[0].1;
    model
        .graph
        .set_param(w0, &Tensor::zeros(&[5, 4]).unwrap())
        .unwrap();
    let rows: Vec<usize> = (0..10).collect();
    let report = check_model(&model, &d, &rows, ModelCheckOptions::default()).unwrap();
    assert!(report.params[0].kinks > 0, "{:#?}", report.params[0]);
    assert!(
        report.passed(),
        "kinks must not count as failures: {report:#?}"
    );
}

/// x², with a deliberately wrong backward rule: g·x instead of 2g·x.
struct BrokenSquare;

impl CustomOp<f64> for BrokenSquare {
    fn name(&self) -> &str {
        "broken_square"
    }
    fn output_shape(&self, inputs: &[Shape]) -> Result<Shape> {
        Ok(inputs[0])
    }
    fn forward(&self, inputs: &[&[f64]], _: &[Shape], out: &mut [f64]) {
        for (o, &x) in out.iter_mut().zip(inputs[0]) {
            *o = x * x;
        }
    }
    fn backward<'g>(&self, c: &BackwardCtx<'g, f64>) -> Result<Grads<'g, f64>> {
        Ok([Some(c.grad.mul(c.a)?), None])
    }
}

#[test]
fn a_broken_backward_rule_is_caught_and_named() {
    let mut g = Graph::<f64>::new();
    let w = g.parameter(&Tensor::uniform(&[3, 2], -1.0, 1.0, 4).unwrap());
    let b = g.parameter(&Tensor::uniform(&[3], -1.0, 1.0, 5).unwrap());
    let op = g.register_op(Rc::new(BrokenSquare)).unwrap();
    let x = Tensor::uniform(&[4, 2], -1.0, 1.0, 6).unwrap();
    let loss = loss_fn(|g| {
        let z = g
            .input(&x)
            .matmul_t(g.param(w)?, false, true)?
            .add(g.param(b)?)?;
        Ok(z.custom(op, None)?.mean())
    });
    let params = vec![("w".to_string(), w), ("b".to_string(), b)];
    let report = check_params(&mut g, &params, &loss, ModelCheckOptions::default()).unwrap();
    assert!(!report.passed());
    for p in &report.params {
        assert_eq!(p.verdict, Verdict::Bug, "{p:#?}");
        // Analytic is half the true gradient: relative error 0.5.
        assert!((p.max_rel_error - 0.5).abs() < 1e-6, "{}", p.max_rel_error);
        assert!(!p.worst.is_empty());
    }
    assert_eq!(report.broken_ops.len(), 1, "{:#?}", report.broken_ops);
    assert_eq!(report.broken_ops[0].name, "broken_square");
}
