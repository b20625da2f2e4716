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
