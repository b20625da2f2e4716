//! Whole-model gradient checks: a healthy model passes, ReLU kinks are
//! reported and not counted, and a deliberately broken backward rule is
//! caught and named.

use chainrule::gradcheck::Verdict;
use chainrule::{BackwardCtx, CustomOp, Grads, Graph, Result, Shape, Tensor};
use chainrule_inspect::gradcheck_model::{check_model, check_params, loss_fn, ModelCheckOptions};
use chainrule_nn::data::{self, LabelKind, Standardizer};
use chainrule_nn::trainer::{train, Model, TrainConfig};
use chainrule_nn::Activation;
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
    let w0 = model.network.parameters()[0].1;
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
    // The pass must not be vacuous: every element of the first layer
    // (weights and biases, all pre-activations at 0) is at a kink, but the
    // output layer was really compared, every element, with no kink.
    assert_eq!(
        (report.params[0].kinks, report.params[0].counted()),
        (20, 0)
    );
    assert_eq!((report.params[1].kinks, report.params[1].counted()), (5, 0));
    let names: Vec<&str> = report.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
    for p in &report.params[2..] {
        assert_eq!(
            (p.kinks, p.checked, p.counted()),
            (0, p.total, p.total),
            "{p:#?}"
        );
        assert_eq!(p.verdict, Verdict::Correct, "{p:#?}");
    }
    // And the parameters whose every element sits at a kink are said to
    // be unchecked, not silently counted as agreeing.
    assert_eq!(report.unchecked(), ["0.weight", "0.bias"]);
    let lines = report.summary(&ModelCheckOptions::default());
    assert!(
        lines.contains(
            &"not checked (every sampled element at a kink): 0.weight, 0.bias".to_string()
        ),
        "{lines:#?}"
    );
}

#[test]
fn relu_model_off_the_kinks_compares_every_element() {
    // Iris with a trained-like random ReLU layer: pre-activations away from
    // 0, so the check has real elements to compare in every parameter.
    let d = iris();
    let cfg = TrainConfig {
        hidden: vec![6],
        activation: Activation::Relu,
        ..TrainConfig::default()
    };
    let model = Model::<f64>::new(&d, &cfg).unwrap();
    let rows: Vec<usize> = (0..150).step_by(5).collect();
    let report = check_model(&model, &d, &rows, ModelCheckOptions::default()).unwrap();
    assert!(report.passed(), "{report:#?}");
    for p in &report.params {
        // At most one element in ten may sit at a kink for this seed.
        assert!(p.counted() * 10 >= p.checked * 9, "{p:#?}");
        assert!(
            p.counted() > 0 && p.worst.len() == p.counted().min(3),
            "{p:#?}"
        );
    }
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

/// x², with a backward rule off by `factor`: factor·2g·x.
struct ScaledSquare(f64);

impl CustomOp<f64> for ScaledSquare {
    fn name(&self) -> &str {
        "scaled_square"
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
        Ok([Some(c.grad.mul(c.a)?.mul_scalar(2.0 * self.0)), None])
    }
}

/// loss = Σ op(x·wᵀ) + 3·Σ b: only `w`'s gradient goes through `op`.
fn check_with(
    factor: f64,
) -> (
    chainrule_inspect::gradcheck_model::ModelCheckReport,
    Vec<String>,
) {
    let mut g = Graph::<f64>::new();
    let w = g.parameter(&Tensor::uniform(&[3, 2], -1.0, 1.0, 4).unwrap());
    let b = g.parameter(&Tensor::uniform(&[3], -1.0, 1.0, 5).unwrap());
    let op = g.register_op(Rc::new(ScaledSquare(factor))).unwrap();
    let x = Tensor::uniform(&[4, 2], -1.0, 1.0, 6).unwrap();
    let loss = loss_fn(|g| {
        let z = g.input(&x).matmul_t(g.param(w)?, false, true)?;
        z.custom(op, None)?
            .sum()
            .add(g.param(b)?.sum().mul_scalar(3.0))
    });
    let params = vec![("w".to_string(), w), ("b".to_string(), b)];
    let opts = ModelCheckOptions::default();
    let report = check_params(&mut g, &params, &loss, opts).unwrap();
    let lines = report.summary(&opts);
    (report, lines)
}

#[test]
fn item_02_a_wrong_gradient_fails_and_the_summary_names_the_parameter() {
    // A backward rule 20 % off: w's gradient fails, b's (3 per element,
    // exact) does not, and the summary says which.
    let (report, lines) = check_with(1.2);
    assert!(!report.passed());
    assert_eq!(report.verdict(), Verdict::Bug);
    assert_eq!(report.named(Verdict::Bug), ["w"]);
    let (w, b) = (&report.params[0], &report.params[1]);
    assert!(!w.passed && w.worst[0].verdict == Verdict::Bug, "{w:#?}");
    // Analytic 1.2 × numeric: relative error 0.2 / 1.2 = 1/6.
    assert!(
        (w.max_rel_error - 1.0 / 6.0).abs() < 1e-6,
        "{}",
        w.max_rel_error
    );
    assert!(b.passed && b.verdict == Verdict::Correct, "{b:#?}");
    for e in &b.worst {
        assert!((e.analytic - 3.0).abs() < 1e-12 && (e.numeric - 3.0).abs() < 1e-7);
    }
    assert!(
        lines[0].starts_with("gradient check FAILED: w disagree"),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("all gradients agree")),
        "{lines:#?}"
    );
}

#[test]
fn item_02_a_suspicious_gradient_is_reported_as_such() {
    // A rule off by 1e-4 (relative): every difference is within
    // 1e-5 + 1e-3·|numeric| (the check passes) but above atol where the
    // gradient is large enough, with a relative error of 1e-4: suspicious.
    let (report, lines) = check_with(1.0 + 1e-4);
    assert!(report.passed(), "{report:#?}");
    assert_eq!(report.named(Verdict::Suspicious), ["w"]);
    let w = &report.params[0];
    assert_eq!(w.worst[0].verdict, Verdict::Suspicious);
    assert!(
        (w.worst[0].rel_error - 1e-4 / (1.0 + 1e-4)).abs() < 1e-7,
        "{w:#?}"
    );
    assert!(
        lines[0].starts_with("suspicious (relative error between 1e-5 and 1e-3): w;"),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("all gradients agree")),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.contains("FAILED")), "{lines:#?}");
}
