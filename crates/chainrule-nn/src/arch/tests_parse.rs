//! Tests of the parser, its errors and the canonical text.

use super::*;
use proptest::prelude::*;

fn at(kind: LayerKind, at: usize) -> LayerSpec {
    LayerSpec { kind, at }
}

fn conv(out_channels: usize, k: usize) -> ConvSpec {
    ConvSpec {
        out_channels,
        kernel: [k, k],
        stride: [1, 1],
        padding: [0, 0],
        dilation: [1, 1],
        groups: 1,
        bias: true,
    }
}

fn pool(k: usize, s: usize, p: usize) -> PoolSpec {
    PoolSpec {
        kernel: [k, k],
        stride: [s, s],
        padding: [p, p],
    }
}

fn one(text: &str) -> LayerKind {
    let layers = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(layers.len(), 1, "{text}");
    assert_eq!(layers[0].at, text.len() - text.trim_start().len(), "{text}");
    layers.into_iter().next().unwrap().kind
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn every_layer_parses_to_its_settings() {
    let norm = NormSpec::default();
    let cases: Vec<(&str, LayerKind)> = vec![
        (
            "linear(64)",
            LayerKind::Linear {
                out_features: 64,
                bias: true,
            },
        ),
        (
            " LINEAR ( 64 , bias = FALSE ) ",
            LayerKind::Linear {
                out_features: 64,
                bias: false,
            },
        ),
        (
            "conv2d(6,5,pad=2)",
            LayerKind::Conv2d(ConvSpec {
                padding: [2, 2],
                ..conv(6, 5)
            }),
        ),
        (
            "conv2d(8, 3, stride=2, padding=1, dilation=2, groups=2, bias=false)",
            LayerKind::Conv2d(ConvSpec {
                stride: [2, 2],
                padding: [1, 1],
                dilation: [2, 2],
                groups: 2,
                bias: false,
                ..conv(8, 3)
            }),
        ),
        (
            "conv2d(4,kh=3,kw=5)",
            LayerKind::Conv2d(ConvSpec {
                kernel: [3, 5],
                ..conv(4, 1)
            }),
        ),
        (
            "conv2d(4,3,kw=5,sh=2)",
            LayerKind::Conv2d(ConvSpec {
                kernel: [3, 5],
                stride: [2, 1],
                ..conv(4, 1)
            }),
        ),
        ("maxpool2d(2)", LayerKind::MaxPool2d(pool(2, 2, 0))),
        (
            "maxpool2d(3, stride=2, pad=1)",
            LayerKind::MaxPool2d(pool(3, 2, 1)),
        ),
        ("avgpool2d(2)", LayerKind::AvgPool2d(pool(2, 2, 0))),
        (
            "avgpool2d(kh=2,kw=4)",
            LayerKind::AvgPool2d(PoolSpec {
                kernel: [2, 4],
                stride: [2, 4],
                padding: [0, 0],
            }),
        ),
        ("globalavgpool2d", LayerKind::GlobalAvgPool2d),
        ("flatten", LayerKind::Flatten),
        ("flatten()", LayerKind::Flatten),
        ("batchnorm1d", LayerKind::BatchNorm1d(norm)),
        (
            "batchnorm2d(eps=1e-3, momentum=0.2, affine=false)",
            LayerKind::BatchNorm2d(NormSpec {
                eps: 1e-3,
                momentum: 0.2,
                affine: false,
            }),
        ),
        ("layernorm", LayerKind::LayerNorm { axes: 1, norm }),
        ("layernorm(axes=2)", LayerKind::LayerNorm { axes: 2, norm }),
        ("dropout(0.5)", LayerKind::Dropout(0.5)),
        ("dropout(p=0)", LayerKind::Dropout(0.0)),
        ("relu", LayerKind::Activation(Activation::Relu)),
        ("Sigmoid", LayerKind::Activation(Activation::Sigmoid)),
        ("tanh", LayerKind::Activation(Activation::Tanh)),
        (
            "leaky_relu",
            LayerKind::Activation(Activation::LeakyRelu(0.01)),
        ),
        (
            "leaky_relu(0.2)",
            LayerKind::Activation(Activation::LeakyRelu(0.2)),
        ),
        ("identity", LayerKind::Activation(Activation::Identity)),
    ];
    for (text, kind) in cases {
        assert_eq!(one(text), kind, "{text}");
    }
}

#[test]
fn sequences_and_nested_residuals_keep_positions() {
    let text = "linear(64), residual(linear(64),residual(relu)) ,linear(10)";
    let relu = LayerKind::Activation(Activation::Relu);
    assert_eq!(
        parse(text).unwrap(),
        vec![
            at(
                LayerKind::Linear {
                    out_features: 64,
                    bias: true
                },
                0
            ),
            at(
                LayerKind::Residual(vec![
                    at(
                        LayerKind::Linear {
                            out_features: 64,
                            bias: true
                        },
                        21
                    ),
                    at(LayerKind::Residual(vec![at(relu, 41)]), 32),
                ]),
                12
            ),
            at(
                LayerKind::Linear {
                    out_features: 10,
                    bias: true
                },
                49
            ),
        ]
    );
}

#[test]
fn unknown_layer_shows_a_caret_the_known_layers_and_a_suggestion() {
    assert_eq!(
        err("conv2d(6,5),conv3d(2)"),
        "architecture: unknown layer 'conv3d' at character 12\n  conv2d(6,5),conv3d(2)\n              ^\n  known layers: linear, conv2d, maxpool2d, avgpool2d, globalavgpool2d, flatten, batchnorm1d, batchnorm2d, layernorm, dropout, relu, sigmoid, tanh, leaky_relu, identity, residual, repeat\n  did you mean 'conv2d'?"
    );
    let e = err("softmax");
    assert!(!e.contains("did you mean"), "{e}");
}

#[test]
fn errors_point_at_the_offending_character() {
    let cases = [
        ("", "architecture: empty architecture at character 0\n  \n  ^\n  write layers separated by commas, e.g. linear(64),relu,linear(10)"),
        ("linear(-1)", "architecture: linear out must be a positive whole number, got -1 at character 7\n  linear(-1)\n         ^"),
        ("linear(", "architecture: unbalanced '(': it is never closed at character 6\n  linear(\n        ^\n  add the missing ')'"),
        ("relu)", "architecture: unbalanced ')': there is no '(' to close at character 4\n  relu)\n      ^"),
        ("relu relu", "architecture: expected ',' between layers, found 'relu' at character 5\n  relu relu\n       ^"),
        ("residual()", "architecture: residual has an empty body at character 0\n  residual()\n  ^\n  write it as residual(linear(64),relu)"),
        ("conv2d(8,3,strid=2)", "architecture: unknown argument 'strid' for conv2d at character 11\n  conv2d(8,3,strid=2)\n             ^\n  conv2d takes: out, k, kh, kw, stride, sh, sw, pad, padding, ph, pw, dilation, dh, dw, groups, bias\n  did you mean 'stride'?"),
        ("conv2d(8,3,pad=1,padding=1)", "architecture: conv2d: argument 'pad' given twice at character 17\n  conv2d(8,3,pad=1,padding=1)\n                   ^"),
        ("conv2d(8)", "architecture: conv2d is missing its kernel size at character 0\n  conv2d(8)\n  ^\n  write it as conv2d(OUT, K, stride=1, pad=0, dilation=1, groups=1, bias=true), or kh=…, kw=… for a rectangular kernel"),
        ("conv2d(8,3,groups=3)", "architecture: conv2d groups=3 must divide its 8 output channels at character 0\n  conv2d(8,3,groups=3)\n  ^"),
        ("dropout(1)", "architecture: dropout p must be in [0, 1), got 1 at character 8\n  dropout(1)\n          ^"),
        ("relu(2)", "architecture: relu takes no positional arguments at character 5\n  relu(2)\n       ^"),
    ];
    for (text, want) in cases {
        assert_eq!(err(text), want, "{text:?}");
    }
}

#[test]
fn ranges_are_checked() {
    let cases = [
        (
            "linear(0)",
            "linear out must be a positive whole number, got 0",
            7,
        ),
        (
            "linear(1e99)",
            "linear out must be a positive whole number, got 1e99",
            7,
        ),
        (
            "linear(2.5)",
            "linear out must be a positive whole number, got 2.5",
            7,
        ),
        (
            "linear(99999999999999999999999)",
            "linear out is too large: 99999999999999999999999",
            7,
        ),
        ("linear(bias=false)", "linear is missing its output size", 0),
        (
            "conv2d(8,3,stride=0)",
            "conv2d stride must be a positive whole number, got 0",
            18,
        ),
        (
            "conv2d(8,3,dilation=0)",
            "conv2d dilation must be a positive whole number, got 0",
            20,
        ),
        (
            "conv2d(8,3,groups=0)",
            "conv2d groups must be a positive whole number, got 0",
            18,
        ),
        (
            "conv2d(8,3,pad=-1)",
            "conv2d pad must be a whole number ≥ 0, got -1",
            15,
        ),
        (
            "conv2d(8,3,bias=yes)",
            "conv2d bias must be true or false, got yes",
            16,
        ),
        (
            "maxpool2d(2,pad=2)",
            "maxpool2d padding 2 is more than half its window 2 (PyTorch requires pad ≤ k/2)",
            0,
        ),
        (
            "maxpool2d(stride=2)",
            "maxpool2d is missing its window size",
            0,
        ),
        ("dropout(-0.1)", "dropout p must be in [0, 1), got -0.1", 8),
        ("dropout", "dropout is missing its drop probability", 0),
        (
            "batchnorm1d(eps=0)",
            "batchnorm1d eps must be a positive number, got 0",
            16,
        ),
        (
            "batchnorm1d(momentum=0)",
            "batchnorm1d momentum must be in (0, 1], got 0",
            21,
        ),
        (
            "batchnorm2d(momentum=1.5)",
            "batchnorm2d momentum must be in (0, 1], got 1.5",
            21,
        ),
        (
            "layernorm(momentum=0.5)",
            "unknown argument 'momentum' for layernorm",
            10,
        ),
        (
            "layernorm(axes=0)",
            "layernorm axes must be a positive whole number, got 0",
            15,
        ),
        (
            "leaky_relu(1e999)",
            "leaky_relu slope must be a finite number, got 1e999",
            11,
        ),
        (
            "linear(64,bias=true,3)",
            "linear: a positional argument after named ones",
            20,
        ),
        (
            "linear(1,2)",
            "linear takes one positional argument (out)",
            9,
        ),
        ("flatten(x=1)", "flatten takes no arguments, got 'x'", 8),
        ("residual(relu", "unbalanced '(': it is never closed", 8),
        ("residual relu", "residual needs its body in parentheses", 0),
        (
            "linear(64),",
            "expected a layer name, found the end of the text",
            11,
        ),
        (",", "expected a layer name, found ','", 0),
        (
            "linear(64 10)",
            "expected ',' or ')' after an argument, found the number 10",
            10,
        ),
        ("linear(,)", "expected an argument, found ','", 7),
        ("linear(out=)", "expected a value after '=', found ')'", 11),
        ("relu;tanh", "unexpected character ';'", 4),
        (
            "residual(relu relu)",
            "expected ',' or ')', found 'relu'",
            14,
        ),
    ];
    for (text, message, position) in cases {
        let e = parse(text).unwrap_err();
        assert_eq!((e.message(), e.position()), (message, position), "{text:?}");
    }
}

#[test]
fn nesting_is_capped_without_overflowing_the_stack() {
    let deep = |n: usize| format!("{}relu{}", "residual(".repeat(n), ")".repeat(n));
    assert!(parse(&deep(MAX_NESTING)).is_ok());
    let e = parse(&deep(MAX_NESTING + 1)).unwrap_err();
    assert_eq!(e.message(), "residual blocks nested more than 64 deep");
    assert_eq!(e.position(), 9 * MAX_NESTING);
    let e = parse(&"residual(".repeat(10_000)).unwrap_err();
    assert_eq!(e.position(), 9 * MAX_NESTING);
}

#[test]
fn hostile_strings_give_errors_not_panics() {
    let hostile = [
        "",
        " ",
        ",",
        ",,",
        "(",
        ")",
        "()",
        "linear(",
        "linear)",
        "linear(-1)",
        "linear(1e99)",
        "linear(1e)",
        "linear(.)",
        "linear(+)",
        "linear(-)",
        "linear(--1)",
        "linear(0x10)",
        "residual()",
        "residual(",
        "residual(,)",
        "residual(residual())",
        "=",
        "linear=3",
        "linear(out=out)",
        "linear(64))",
        "linear((64))",
        "conv2d(1,99999999999999999999)",
        "dropout(nan)",
        "dropout(inf)",
        "batchnorm1d(eps=-inf)",
        "é",
        "linear(6\u{0}4)",
        "conv2d(4,3,groups=8)",
        "maxpool2d(0)",
        "leaky_relu(slope=)",
        "\u{202e}relu",
        "relu,,relu",
        "residual(relu))",
        "1e5",
        "linear(64)\n,\tsigmoid(",
    ];
    for text in hostile {
        let e = parse(text).expect_err(text);
        let shown = e.to_string();
        assert!(shown.starts_with("architecture: "), "{shown}");
        assert!(e.position() <= text.chars().count(), "{text:?}: {shown}");
    }
}

#[test]
fn arch_errors_convert_to_the_crate_error() {
    let e: crate::Error = parse("relu(").unwrap_err().into();
    assert!(matches!(e, crate::Error::Arch(_)));
    assert!(
        e.to_string().starts_with("architecture: unbalanced '('"),
        "{e}"
    );
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "[a-z0-9_(),=.+e -]{0,40}") {
        let _ = parse(&text);
    }
}

#[test]
fn repeat_writes_its_layers_n_times_over() {
    let r = parse("repeat(3, linear(8), sigmoid),linear(1)").unwrap();
    let names: Vec<&str> = r.iter().map(|l| l.kind.name()).collect();
    assert_eq!(
        names,
        ["linear", "sigmoid", "linear", "sigmoid", "linear", "sigmoid", "linear"]
    );
    // Each copy points at the text it came from.
    assert_eq!((r[0].at, r[2].at, r[4].at), (10, 10, 10));
    assert_eq!(
        crate::arch::to_string(&r),
        "linear(8),sigmoid,linear(8),sigmoid,linear(8),sigmoid,linear(1)"
    );
    // Inside residual blocks, and residual blocks inside it.
    let r = parse("REPEAT(2,residual(linear(4),relu))").unwrap();
    assert_eq!(
        crate::arch::to_string(&r),
        "residual(linear(4),relu),residual(linear(4),relu)"
    );
    let r = parse("residual(repeat(2,linear(4)))").unwrap();
    assert_eq!(crate::arch::to_string(&r), "residual(linear(4),linear(4))");
}

#[test]
fn repeat_errors_point_at_the_count_and_cap_the_size() {
    let cases = [
        ("repeat(0,relu)", "whole number of at least 1", 7),
        ("repeat(2.5,relu)", "whole number of at least 1", 7),
        ("repeat(relu)", "whole number of at least 1", 7),
        ("repeat(2 relu)", "expected ',' after repeat's count", 9),
        ("repeat", "count and layers in parentheses", 0),
        ("repeat(3,", "expected a layer name", 9),
        ("repeat(3,relu", "unbalanced '('", 6),
    ];
    for (text, want, at) in cases {
        let e = parse(text).expect_err(text);
        assert!(e.to_string().contains(want), "{text}: {e}");
        assert_eq!(e.position(), at, "{text}: {e}");
    }
    // 4096 layers at most, nested blocks counted.
    assert_eq!(parse("repeat(4096,relu)").unwrap().len(), 4096);
    let e = parse("repeat(4097,relu)").unwrap_err();
    assert!(
        e.to_string().contains("more than 4096 layers (4097 × 1)"),
        "{e}"
    );
    let e = parse("repeat(1000,residual(repeat(1000,relu)))").unwrap_err();
    assert!(e.to_string().contains("more than 4096 layers"), "{e}");
    let e = parse("repeat(99999999999999999999999,relu)").unwrap_err();
    assert!(e.to_string().contains("whole number"), "{e}");
    // Nesting is bounded like residual blocks', so the parser's recursion
    // is too (12,000 levels would overflow the stack).
    let deep = format!("{}relu{}", "repeat(1,".repeat(12_000), ")".repeat(12_000));
    let e = parse(&deep).unwrap_err();
    assert!(e.to_string().contains("nested more than 64 deep"), "{e}");
    let ok = format!("{}relu{}", "repeat(1,".repeat(64), ")".repeat(64));
    assert_eq!(parse(&ok).unwrap().len(), 1);
}
