//! Tests of shape inference and parameter counts.

use super::*;

const LENET: &str = "conv2d(6,5,pad=2),relu,maxpool2d(2),conv2d(16,5),relu,maxpool2d(2),flatten,linear(120),relu,linear(84),relu,linear(10)";

fn shapes(text: &str, input: &[usize]) -> Vec<LayerShape> {
    infer(&parse(text).unwrap(), input).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn shape_err(text: &str, input: &[usize]) -> String {
    infer(&parse(text).unwrap(), input).unwrap_err().to_string()
}

#[test]
fn lenet_shapes_and_parameters() {
    let s = shapes(LENET, &[1, 28, 28]);
    let outputs: Vec<Vec<usize>> = s.iter().map(|l| l.output.clone()).collect();
    assert_eq!(
        outputs,
        vec![
            vec![6, 28, 28],
            vec![6, 28, 28],
            vec![6, 14, 14],
            vec![16, 10, 10],
            vec![16, 10, 10],
            vec![16, 5, 5],
            vec![400],
            vec![120],
            vec![120],
            vec![84],
            vec![84],
            vec![10],
        ]
    );
    let params: Vec<usize> = s.iter().map(|l| l.params).filter(|&p| p > 0).collect();
    assert_eq!(params, vec![156, 2_416, 48_120, 10_164, 850]);
    assert_eq!(total_params(&s), 61_706);
    assert_eq!(s[0].input, vec![1, 28, 28]);
    assert_eq!(s[7].input, vec![400]);
    assert_eq!(
        output_shape(&parse(LENET).unwrap(), &[1, 28, 28]).unwrap(),
        vec![10]
    );
}

#[test]
fn conv_and_pool_arithmetic_follows_pytorch() {
    // (15 + 2·1 − 2·(3−1) − 1)/2 + 1 = 7; 8 filters of 2 channels × 3×3, + 8.
    let s = shapes(
        "conv2d(8, 3, stride=2, padding=1, dilation=2, groups=2)",
        &[4, 15, 15],
    );
    assert_eq!(
        (s[0].output.clone(), s[0].params),
        (vec![8, 7, 7], 8 * 2 * 9 + 8)
    );
    // floor((7 + 2 − 3)/2) + 1 = 4; floor((7 − 2)/2) + 1 = 3.
    assert_eq!(
        shapes("maxpool2d(3,stride=2,pad=1)", &[1, 7, 7])[0].output,
        vec![1, 4, 4]
    );
    assert_eq!(shapes("avgpool2d(2)", &[2, 7, 5])[0].output, vec![2, 3, 2]);
    assert_eq!(
        shapes("conv2d(2,kh=3,kw=1,bias=false)", &[1, 4, 4])[0].params,
        6
    );
    let s = shapes("globalavgpool2d,batchnorm1d", &[5, 3, 3]);
    assert_eq!((s[0].output.clone(), s[1].params), (vec![5], 10));
    let s = shapes(
        "batchnorm2d,layernorm(axes=2),batchnorm2d(affine=false)",
        &[3, 4, 5],
    );
    assert_eq!(s[0].params, 6);
    assert_eq!(s[1].params, 40);
    assert_eq!(s[2].params, 0);
    let s = shapes("flatten,layernorm,dropout(0.5),leaky_relu", &[3, 4, 5]);
    assert_eq!((s[3].output.clone(), s[1].params), (vec![60], 120));
    assert_eq!(shapes("batchnorm1d", &[4, 9])[0].params, 8);
}

#[test]
fn residual_bodies_are_visited_in_forward_order() {
    let s = shapes(
        "linear(4),residual(linear(4),residual(relu)),linear(2)",
        &[3],
    );
    let paths: Vec<Vec<usize>> = s.iter().map(|l| l.path.clone()).collect();
    assert_eq!(
        paths,
        vec![
            vec![0],
            vec![1],
            vec![1, 0],
            vec![1, 1],
            vec![1, 1, 0],
            vec![2]
        ]
    );
    assert_eq!(s[1].params, 0);
    assert_eq!(total_params(&s), 16 + 20 + 10);
    let resnet =
        "conv2d(8,3,pad=1),residual(conv2d(8,3,pad=1),batchnorm2d,relu),globalavgpool2d,linear(10)";
    let s = shapes(resnet, &[3, 32, 32]);
    assert_eq!(total_params(&s), 224 + 584 + 16 + 90);
    assert_eq!(s.last().unwrap().output, vec![10]);
}

#[test]
fn errors_name_the_layer_its_text_position_and_shapes() {
    let cases: [(&str, &[usize], &str); 10] = [
        (
            "conv2d(6,5,pad=2),relu,maxpool2d(2),conv2d(16,5),relu,maxpool2d(2),linear(120)",
            &[1, 28, 28],
            "layer 7 linear(120) (character 67) takes a vector, but layer 6 maxpool2d(2) gives 16×5×5 = 400 values: add flatten before it",
        ),
        (
            "linear(64),residual(linear(32),relu)",
            &[64],
            "layer 2 residual(linear(32),relu) (character 11) must keep its input's shape 64, but its body gives 32",
        ),
        (
            "conv2d(6,5)",
            &[64],
            "layer 1 conv2d(6,5) (character 0) needs an image [channels, height, width], but the input is a vector of 64 values: give the data an image shape (digits and mnist: are images; --input-shape C,H,W reads a csv: file as images)",
        ),
        (
            "linear(8),residual(relu,conv2d(2,3))",
            &[8],
            "layer 2.2 conv2d(2,3) (character 24) needs an image [channels, height, width], but layer 2.1 relu gives a vector of 8 values: image layers must come before the layers that make vectors",
        ),
        (
            "residual(conv2d(2,3))",
            &[8],
            "layer 1.1 conv2d(2,3) (character 9) needs an image [channels, height, width], but the input of residual layer 1 is a vector of 8 values: image layers must come before the layers that make vectors",
        ),
        (
            "conv2d(4,5)",
            &[1, 3, 3],
            "layer 1 conv2d(4,5) (character 0) has a kernel of 5×5 that does not fit its input: the input is 1×3×3 = 9 values: use a smaller kernel, more padding or fewer downsampling layers before it",
        ),
        (
            "conv2d(4,3,groups=2)",
            &[3, 8, 8],
            "layer 1 conv2d(4,3,groups=2) (character 0) has groups=2, which must divide its input channels, but the input is 3×8×8 = 192 values",
        ),
        (
            "flatten, batchnorm2d",
            &[3, 2, 2],
            "layer 2 batchnorm2d (character 9) needs an image [channels, height, width], but layer 1 flatten gives a vector of 12 values: use batchnorm1d for vectors",
        ),
        (
            "batchnorm1d",
            &[3, 2, 2],
            "layer 1 batchnorm1d (character 0) needs [channels] or [channels, length], but the input is 3×2×2 = 12 values: use batchnorm2d for images",
        ),
        (
            "layernorm(axes=2)",
            &[5],
            "layer 1 layernorm(axes=2) (character 0) normalizes the last 2 axes, but the input is a vector of 5 values with 1 axis",
        ),
    ];
    for (text, input, want) in cases {
        assert_eq!(shape_err(text, input), want, "{text}");
    }
    let e = infer(&parse("relu,globalavgpool2d").unwrap(), &[4]).unwrap_err();
    assert_eq!((e.path.clone(), e.at), (vec![1], 5));
    let e: crate::Error = e.into();
    assert!(
        e.to_string()
            .starts_with("architecture: layer 2 globalavgpool2d (character 5) needs an image"),
        "{e}"
    );
}

#[test]
fn parameter_count_is_capped_and_overflow_checked() {
    assert_eq!(
        shape_err("linear(100000),linear(100000)", &[10]),
        "layer 2 linear(100000) (character 15) has 10000100000 parameters, which brings the network over the limit of 268435456"
    );
    let e = shape_err(&format!("linear({})", usize::MAX), &[2]);
    assert!(
        e.ends_with("has more parameters than can be counted"),
        "{e}"
    );
    let e = shape_err(&format!("conv2d({},3)", usize::MAX), &[1, 3, 3]);
    assert!(
        e.ends_with("has more parameters than can be counted"),
        "{e}"
    );
    let e = shape_err("flatten", &[usize::MAX / 2, 2, 2]);
    assert!(e.starts_with("the input shape"), "{e}");
    assert!(parse("conv2d(1,3,dilation=99999999999999999)")
        .unwrap_err()
        .to_string()
        .contains("limited to 255"));
    assert!(shape_err("conv2d(1,3,dilation=200)", &[1, 3, 3]).contains("does not fit"));
    assert!(shape_err("relu", &[]).starts_with("the input shape []"));
    assert!(shape_err("relu", &[3, 0]).starts_with("the input shape [3, 0]"));
}

#[test]
fn layers_built_in_code_are_checked_before_any_division() {
    let bad = [
        LayerKind::Conv2d(ConvSpec {
            out_channels: 6,
            kernel: [5, 5],
            stride: [0, 0],
            padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
            bias: true,
        }),
        LayerKind::MaxPool2d(PoolSpec {
            kernel: [2, 2],
            stride: [2, 0],
            padding: [0, 0],
        }),
        LayerKind::Residual(Vec::new()),
        LayerKind::Dropout(f64::NAN),
    ];
    let messages: Vec<String> = bad
        .into_iter()
        .map(|k| {
            infer(&[LayerSpec::new(k)], &[1, 8, 8])
                .unwrap_err()
                .to_string()
        })
        .collect();
    assert_eq!(
        messages[0],
        "layer 1 conv2d(6,5,stride=0) (character 0): conv2d stride must be positive, got [0, 0]"
    );
    assert!(
        messages[1].ends_with("maxpool2d stride must be positive, got [2, 0]"),
        "{}",
        messages[1]
    );
    assert!(
        messages[2].ends_with("residual has an empty body"),
        "{}",
        messages[2]
    );
    assert!(
        messages[3].ends_with("dropout p must be in [0, 1), got NaN"),
        "{}",
        messages[3]
    );
    // Nesting deeper than the parser allows is an error, not a deep recursion.
    let mut deep = vec![LayerSpec::new(LayerKind::Activation(
        crate::Activation::Relu,
    ))];
    for _ in 0..MAX_NESTING {
        deep = vec![LayerSpec::new(LayerKind::Residual(deep))];
    }
    assert!(infer(&deep, &[3]).is_ok());
    let deeper = vec![LayerSpec::new(LayerKind::Residual(deep))];
    assert!(infer(&deeper, &[3])
        .unwrap_err()
        .to_string()
        .ends_with("nested more than 64 deep"));
}

#[test]
fn limits_are_checked_before_anything_is_allocated() {
    // A model file may claim any input shape: a batch norm has no
    // parameters to count, but its buffers are sized by its channels.
    let huge = infer(&parse("batchnorm1d(affine=false)").unwrap(), &[1 << 40]).unwrap_err();
    assert_eq!(
        huge.to_string(),
        "the input shape 1099511627776 holds 1099511627776 values per example, over the limit of 33554432"
    );
    // 64 channels of 1024×1024 = 2^26 values per example.
    assert_eq!(
        shape_err("conv2d(64,3,pad=1)", &[3, 1024, 1024]),
        "layer 1 conv2d(64,3,pad=1) (character 0) gives 64×1024×1024 = 67108864 values per example, over the limit of 33554432"
    );
    // The engine packs conv steps into bytes and pooling into 16 bits:
    // refused when the layer is read, naming it, not at the first step.
    let e = parse("conv2d(4,3,stride=256),flatten,linear(10)").unwrap_err();
    assert_eq!(
        e.message(),
        "conv2d stride, padding and dilation are limited to 255 and groups to 65535"
    );
    let e = parse("maxpool2d(70000)").unwrap_err();
    assert_eq!(
        e.message(),
        "maxpool2d window, stride and padding are limited to 65535"
    );
    // Built in code (or read from a file), the same check names the layer.
    let mut conv = parse("conv2d(4,3)").unwrap();
    if let LayerKind::Conv2d(c) = &mut conv[0].kind {
        c.stride = [256, 1];
    }
    assert_eq!(
        infer(&conv, &[1, 28, 28]).unwrap_err().to_string(),
        "layer 1 conv2d(4,3,sh=256,sw=1) (character 0): conv2d stride, padding and dilation are limited to 255 and groups to 65535"
    );
}
