//! Every layer kind passes the whole-model gradient check: each network's
//! analytical parameter gradients (batch norm in training mode, dropout with
//! its mask held fixed) agree with central finite differences in f64, every
//! parameter named as PyTorch names it.

use chainrule::gradcheck::Verdict;
use chainrule_inspect::gradcheck_model::{check_model, ModelCheckOptions};
use chainrule_nn::arch;
use chainrule_nn::data::{self, LabelKind, Standardizer};
use chainrule_nn::trainer::Model;
use chainrule_nn::{Init, LossKind};

/// Checks `text` on 12 standardized digits images and returns the names of
/// the parameters checked.
fn passes(text: &str) -> Vec<String> {
    let mut d = data::load("digits", LabelKind::Class).unwrap().train;
    Standardizer::fit(&d).apply(&mut d).unwrap();
    assert_eq!(d.input_shape, [1, 8, 8]);
    let layers = arch::parse(text).unwrap();
    let shape = if chainrule_nn::network::specs_are_2d(&layers) {
        d.input_shape.clone()
    } else {
        vec![d.d]
    };
    let model =
        Model::<f64>::from_arch(&layers, &shape, Init::KaimingUniform, 3, LossKind::Cce).unwrap();
    let rows: Vec<usize> = (0..12).map(|i| i * 37).collect();
    let report = check_model(&model, &d, &rows, ModelCheckOptions::default()).unwrap();
    for p in &report.params {
        assert_eq!(p.verdict, Verdict::Correct, "{text}: {p:#?}");
        assert!(p.checked > 0, "{text}: {} was not checked", p.name);
    }
    assert!(report.passed(), "{text}: {report:#?}");
    report.params.iter().map(|p| p.name.clone()).collect()
}

#[test]
fn conv2d_with_stride_padding_dilation_and_groups() {
    assert_eq!(
        passes("conv2d(4,3,pad=1,stride=2),tanh,conv2d(4,3,pad=2,dilation=2,groups=2),tanh,flatten,linear(10)"),
        ["0.weight", "0.bias", "2.weight", "2.bias", "5.weight", "5.bias"]
    );
    assert_eq!(
        passes("conv2d(3,3,bias=false),tanh,flatten,linear(10)"),
        ["0.weight", "3.weight", "3.bias"]
    );
}

#[test]
fn max_and_average_pooling() {
    passes("conv2d(3,3,pad=1),tanh,maxpool2d(3,stride=2,pad=1),flatten,linear(10)");
    passes("conv2d(3,3,pad=1),avgpool2d(3,stride=2,pad=1),tanh,flatten,linear(10)");
    passes("conv2d(4,3),sigmoid,globalavgpool2d,linear(10)");
}

#[test]
fn batch_norm_in_training_mode() {
    assert_eq!(
        passes("conv2d(3,3),batchnorm2d,tanh,flatten,linear(10)"),
        ["0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"]
    );
    passes("linear(16),batchnorm1d,tanh,linear(10)");
    passes("linear(16),batchnorm1d(affine=false),tanh,linear(10)");
}

#[test]
fn layer_norm() {
    assert_eq!(
        passes("conv2d(3,3),layernorm(axes=3),tanh,flatten,linear(10)"),
        ["0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"]
    );
    passes("linear(16),layernorm,sigmoid,linear(10)");
}

#[test]
fn dropout_with_its_mask_held_fixed() {
    passes("linear(16),tanh,dropout(0.5),linear(10)");
}

#[test]
fn nested_residual_blocks() {
    assert_eq!(
        passes("linear(16),residual(linear(16),tanh,residual(linear(16),sigmoid)),linear(10)"),
        [
            "0.weight",
            "0.bias",
            "1.body.0.weight",
            "1.body.0.bias",
            "1.body.2.body.0.weight",
            "1.body.2.body.0.bias",
            "2.weight",
            "2.bias"
        ]
    );
    passes("conv2d(4,3,pad=1),residual(batchnorm2d,tanh,conv2d(4,3,pad=1)),leaky_relu,flatten,linear(10)");
}

/// x², with a deliberately wrong backward rule: g·x instead of 2g·x.
struct HalfSquare;

impl chainrule::CustomOp<f64> for HalfSquare {
    fn name(&self) -> &str {
        "half_square"
    }
    fn output_shape(&self, inputs: &[chainrule::Shape]) -> chainrule::Result<chainrule::Shape> {
        Ok(inputs[0])
    }
    fn forward(&self, inputs: &[&[f64]], _: &[chainrule::Shape], out: &mut [f64]) {
        for (o, &x) in out.iter_mut().zip(inputs[0]) {
            *o = x * x;
        }
    }
    fn backward<'g>(
        &self,
        c: &chainrule::BackwardCtx<'g, f64>,
    ) -> chainrule::Result<chainrule::Grads<'g, f64>> {
        Ok([Some(c.grad.mul(c.a)?), None])
    }
}

#[test]
fn a_broken_custom_op_inside_a_conv_net_fails_and_is_named() {
    use chainrule::{Graph, Tensor};
    use chainrule_inspect::gradcheck_model::{check_params, loss_fn};
    use chainrule_nn::network::Network;
    use std::rc::Rc;
    // conv2d → the broken op → batch norm → relu → pool → flatten → linear:
    // the convolution's gradients pass through the op and come out at half
    // their true size; the layers after it see only its (correct) forward
    // values.
    let mut g = Graph::<f64>::new();
    let conv = Network::new(
        &mut g,
        &arch::parse("conv2d(3,3,pad=1)").unwrap(),
        &[1, 6, 6],
        Init::KaimingUniform,
        1,
    )
    .unwrap();
    let head = Network::new(
        &mut g,
        &arch::parse("batchnorm2d,relu,maxpool2d(2),flatten,linear(4)").unwrap(),
        &[3, 6, 6],
        Init::KaimingUniform,
        2,
    )
    .unwrap();
    let op = g.register_op(Rc::new(HalfSquare)).unwrap();
    let x = Tensor::uniform(&[5, 1, 6, 6], -1.0, 1.0, 7).unwrap();
    let labels = [0usize, 1, 2, 3, 1];
    let engine = |e: chainrule_nn::Error| match e {
        chainrule_nn::Error::Engine(e) => e,
        other => panic!("{other}"),
    };
    let loss = loss_fn(|g| {
        let h = conv.forward_frozen(g, g.input(&x)).map_err(engine)?;
        let h = h.custom(op, None)?;
        let out = head.forward_frozen(g, h).map_err(engine)?;
        out.cross_entropy_loss(&labels, true)
    });
    let mut params: Vec<(String, chainrule::ParamId)> = conv
        .parameters()
        .into_iter()
        .map(|(n, p)| (format!("conv.{n}"), p))
        .collect();
    params.extend(
        head.parameters()
            .into_iter()
            .map(|(n, p)| (format!("head.{n}"), p)),
    );
    let report = check_params(&mut g, &params, &loss, ModelCheckOptions::default()).unwrap();
    assert!(!report.passed());
    assert_eq!(report.verdict(), Verdict::Bug);
    // The convolution's weight and bias disagree by the factor 2 the rule
    // drops: analytic = numeric / 2, a relative error of 0.5.
    assert_eq!(report.named(Verdict::Bug), ["conv.0.weight", "conv.0.bias"]);
    for p in &report.params[..2] {
        assert!((p.max_rel_error - 0.5).abs() < 1e-5, "{p:#?}");
    }
    for p in &report.params[2..] {
        assert_eq!(p.verdict, Verdict::Correct, "{p:#?}");
    }
    assert_eq!(report.broken_ops.len(), 1, "{:#?}", report.broken_ops);
    assert_eq!(report.broken_ops[0].name, "half_square");
}
