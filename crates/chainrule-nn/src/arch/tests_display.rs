//! Tests of the canonical text: defaults omitted, and a proptest that it
//! parses back to the layers it was written from.

use super::*;
use proptest::prelude::*;

#[test]
fn canonical_text_omits_defaults() {
    for (text, canonical) in [
        (
            "conv2d(6, 5, pad=2, stride=1, dilation=1, groups=1, bias=true)",
            "conv2d(6,5,pad=2)",
        ),
        ("Linear(10, bias=True)", "linear(10)"),
        (
            "conv2d(4,kh=3,kw=5,ph=1,pw=2)",
            "conv2d(4,kh=3,kw=5,ph=1,pw=2)",
        ),
        ("maxpool2d(3,stride=3)", "maxpool2d(3)"),
        ("maxpool2d(3,sh=2,pad=1)", "maxpool2d(3,sh=2,sw=3,pad=1)"),
        (
            "batchnorm2d(eps=1e-5,momentum=0.1,affine=true)",
            "batchnorm2d",
        ),
        ("batchnorm1d(eps=0.00002)", "batchnorm1d(eps=2e-5)"),
        (
            "layernorm(axes=2,affine=false)",
            "layernorm(axes=2,affine=false)",
        ),
        (
            "leaky_relu(0.01),leaky_relu(slope=0.3)",
            "leaky_relu,leaky_relu(0.3)",
        ),
        (
            "residual( linear(8), residual(relu) ), dropout(0.25)",
            "residual(linear(8),residual(relu)),dropout(0.25)",
        ),
    ] {
        assert_eq!(to_string(&parse(text).unwrap()), canonical, "{text}");
    }
}

/// Positions zeroed, for comparing a parse with layers built in code.
fn unplaced(layers: &[LayerSpec]) -> Vec<LayerSpec> {
    layers
        .iter()
        .map(|l| match &l.kind {
            LayerKind::Residual(body) => LayerSpec::new(LayerKind::Residual(unplaced(body))),
            kind => LayerSpec::new(kind.clone()),
        })
        .collect()
}

fn real() -> impl Strategy<Value = f64> {
    prop_oneof![Just(1e-5), Just(0.1), 1e-9..1.0f64, 1e-300..1e-200f64]
}

fn leaf() -> impl Strategy<Value = LayerKind> {
    let pair = || (1usize..6, 1usize..6);
    prop_oneof![
        (1usize..5000, any::<bool>()).prop_map(|(o, bias)| LayerKind::Linear {
            out_features: o,
            bias
        }),
        (
            1usize..9,
            1usize..4,
            pair(),
            pair(),
            (0usize..3, 0usize..3),
            pair(),
            any::<bool>()
        )
            .prop_map(|(o, g, k, s, p, d, bias)| LayerKind::Conv2d(ConvSpec {
                out_channels: o * g,
                kernel: [k.0, k.1],
                stride: [s.0, s.1],
                padding: [p.0, p.1],
                dilation: [d.0, d.1],
                groups: g,
                bias,
            })),
        (pair(), pair(), any::<bool>(), any::<bool>()).prop_map(|(k, s, p, max)| {
            let spec = PoolSpec {
                kernel: [k.0, k.1],
                stride: [s.0, s.1],
                padding: [usize::from(p) * k.0 / 2, k.1 / 2],
            };
            if max {
                LayerKind::MaxPool2d(spec)
            } else {
                LayerKind::AvgPool2d(spec)
            }
        }),
        Just(LayerKind::GlobalAvgPool2d),
        Just(LayerKind::Flatten),
        (
            real(),
            prop_oneof![Just(0.1), 1e-6..=1.0f64],
            any::<bool>(),
            0usize..4
        )
            .prop_map(|(eps, momentum, affine, which)| {
                let norm = NormSpec {
                    eps,
                    momentum,
                    affine,
                };
                match which {
                    0 => LayerKind::BatchNorm1d(norm),
                    1 => LayerKind::BatchNorm2d(norm),
                    axes => LayerKind::LayerNorm {
                        axes: axes - 1,
                        norm: NormSpec {
                            momentum: 0.1,
                            ..norm
                        },
                    },
                }
            }),
        (0.0..1.0f64).prop_map(LayerKind::Dropout),
        prop_oneof![
            Just(Activation::Relu),
            Just(Activation::Sigmoid),
            Just(Activation::Tanh),
            Just(Activation::Identity),
            Just(Activation::LeakyRelu(0.01)),
            (-10.0..10.0f64).prop_map(Activation::LeakyRelu),
        ]
        .prop_map(LayerKind::Activation),
    ]
    .prop_filter("layernorm needs axes ≥ 1", |k| {
        !matches!(k, LayerKind::LayerNorm { axes: 0, .. })
    })
}

fn layers() -> impl Strategy<Value = Vec<LayerSpec>> {
    let layer = leaf()
        .prop_map(LayerSpec::new)
        .prop_recursive(4, 48, 6, |inner| {
            prop::collection::vec(inner, 1..6)
                .prop_map(|body| LayerSpec::new(LayerKind::Residual(body)))
        });
    prop::collection::vec(layer, 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn canonical_text_parses_back_to_the_same_layers(layers in layers()) {
        let text = to_string(&layers);
        let parsed = parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(unplaced(&parsed), layers);
        prop_assert_eq!(to_string(&parsed), text);
    }
}
