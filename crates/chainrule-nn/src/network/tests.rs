//! Networks: names, hand-worked forward values, batch-norm buffers, modes.

use super::*;
use crate::arch::parse;
use chainrule::Tensor;

fn build(text: &str, input: &[usize]) -> (Graph<f64>, Network<f64>) {
    let mut g = Graph::new();
    let specs = parse(text).unwrap();
    let net = Network::new(&mut g, &specs, input, Init::KaimingUniform, 0).unwrap();
    (g, net)
}

fn set(g: &mut Graph<f64>, p: ParamId, values: &[f64]) {
    let dims = g.param_shape(p).unwrap().dims().to_vec();
    g.set_param(p, &Tensor::from_vec(values.to_vec(), &dims).unwrap())
        .unwrap();
}

fn run(g: &Graph<f64>, net: &mut Network<f64>, x: &[f64], rows: usize) -> Vec<f64> {
    let mut dims = vec![rows];
    dims.extend_from_slice(net.input_shape());
    let xv = g.input_from(&dims, x).unwrap();
    net.forward(g, xv).unwrap().to_vec()
}

#[test]
fn nested_residual_names_are_pytorchs() {
    let (_, net) = build(
        "linear(8),residual(linear(8),batchnorm1d,relu,residual(linear(8),relu)),linear(3)",
        &[4],
    );
    let names: Vec<String> = net.parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "0.weight",
            "0.bias",
            "1.body.0.weight",
            "1.body.0.bias",
            "1.body.1.weight",
            "1.body.1.bias",
            "1.body.3.body.0.weight",
            "1.body.3.body.0.bias",
            "2.weight",
            "2.bias",
        ]
    );
    let buffers: Vec<String> = net.buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(buffers, ["1.body.1.running_mean", "1.body.1.running_var"]);
    assert_eq!(
        net.int_buffers(),
        [("1.body.1.num_batches_tracked".to_string(), 0)]
    );
    // 4·8+8, 8·8+8, γ and β of 8, 8·8+8, 8·3+3.
    assert_eq!(net.parameter_count(), 40 + 72 + 16 + 72 + 27);
    assert_eq!(net.output_shape(), [3]);
    assert!(net.as_mlp().is_none());
    assert_eq!(
        net.first_non_mlp_layer().unwrap(),
        format!("layer 2 {}", spec_text(&net.specs()[1]))
    );
}

#[test]
fn tiny_residual_forward_by_hand() {
    let (mut g, mut net) = build("linear(2),residual(linear(2),relu)", &[2]);
    let p = net.parameters();
    set(&mut g, p[0].1, &[1.0, 2.0, 3.0, 4.0]);
    set(&mut g, p[1].1, &[0.5, -1.0]);
    set(&mut g, p[2].1, &[1.0, -1.0, 0.0, 2.0]);
    set(&mut g, p[3].1, &[0.0, -3.0]);
    // h = W0·[1, 1] + b0 = [3.5, 6]; body: W1·h + b1 = [-2.5, 9], relu
    // [0, 9]; out = h + body = [3.5, 15]. Second row x = [0, -1]:
    // h = [-2 + 0.5, -4 - 1] = [-1.5, -5]; W1·h + b1 = [3.5, -13], relu
    // [3.5, 0]; out = [2, -5].
    for mode in [Mode::Train, Mode::Eval] {
        net.set_mode(mode);
        let out = run(&g, &mut net, &[1.0, 1.0, 0.0, -1.0], 2);
        assert_eq!(out, [3.5, 15.0, 2.0, -5.0]);
        g.clear();
    }
}

#[test]
fn batch_norm_buffers_after_one_step_follow_the_closed_form() {
    let (g, mut net) = build("batchnorm1d", &[2]);
    net.set_mode(Mode::Train);
    // Channel 0: 1, 3, 5: mean 3, biased variance 8/3, unbiased 4.
    // Channel 1: 2, 6, 10: mean 6, biased variance 32/3, unbiased 16.
    let x = [1.0, 2.0, 3.0, 6.0, 5.0, 10.0];
    let out = run(&g, &mut net, &x, 3);
    let b = &net.batch_norm_buffers()[0];
    // running = 0.9·running + 0.1·batch.
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    assert!(close(b.running_mean[0], 0.3) && close(b.running_mean[1], 0.6));
    assert!(close(b.running_var[0], 0.9 + 0.4) && close(b.running_var[1], 0.9 + 1.6));
    assert_eq!(b.num_batches_tracked, 1);
    // Train mode normalizes by the batch: (1 − 3)/√(8/3 + 1e-5).
    assert!(close(out[0], -2.0 / (8.0f64 / 3.0 + 1e-5).sqrt()));
    // Eval mode by the running statistics: (1 − 0.3)/√(1.3 + 1e-5), and
    // leaves the buffers alone.
    net.set_mode(Mode::Eval);
    let out = run(&g, &mut net, &x, 3);
    assert!(close(out[0], 0.7 / (1.3f64 + 1e-5).sqrt()));
    assert_eq!(net.batch_norm_buffers()[0].num_batches_tracked, 1);
    assert!(close(net.batch_norm_buffers()[0].running_mean[0], 0.3));
}

#[test]
fn dropout_is_the_identity_in_eval_and_keyed_by_step_in_train() {
    let (g, mut net) = build("dropout(0.5)", &[64]);
    let x: Vec<f64> = (1..=64).map(f64::from).collect();
    net.set_mode(Mode::Eval);
    assert_eq!(run(&g, &mut net, &x, 1), x);
    net.set_mode(Mode::Train);
    net.set_step(7, 1);
    let a = run(&g, &mut net, &x, 1);
    assert!(a.iter().zip(&x).all(|(y, x)| *y == 0.0 || *y == 2.0 * x));
    assert!(a.contains(&0.0) && a.iter().any(|y| *y != 0.0));
    assert_eq!(run(&g, &mut net, &x, 1), a, "same seed and step, same mask");
    net.set_step(7, 2);
    assert_ne!(run(&g, &mut net, &x, 1), a, "another step, another mask");
    // dropout(0) is the identity even in training.
    let (g0, mut net0) = build("dropout(0)", &[4]);
    assert_eq!(
        run(&g0, &mut net0, &[1.0, 2.0, 3.0, 4.0], 1),
        [1.0, 2.0, 3.0, 4.0]
    );
}

#[test]
fn mlp_spec_network_has_mlp_weights_bit_for_bit() {
    let spec = MlpSpec {
        sizes: vec![5, 7, 3],
        activation: Activation::Tanh,
        output_activation: Activation::Identity,
    };
    let mut g1 = Graph::<f32>::new();
    let mlp = Mlp::new(&mut g1, spec.clone(), Init::XavierNormal, 11).unwrap();
    let mut g2 = Graph::<f32>::new();
    let net = Network::from_mlp_spec(&mut g2, &spec, Init::XavierNormal, 11).unwrap();
    let a = crate::Module::<f32>::parameters(&mlp);
    let b = net.parameters();
    assert_eq!(a.len(), b.len());
    for ((na, pa), (nb, pb)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        assert_eq!(g1.param_value(*pa).unwrap(), g2.param_value(*pb).unwrap());
    }
    assert_eq!(net.as_mlp().unwrap().spec, spec);
    assert_eq!(arch_text(net.specs()), "linear(7),tanh,linear(3)");
}

#[test]
fn shape_errors_name_the_layer() {
    let mut g = Graph::<f32>::new();
    let bad = |text: &str, input: &[usize]| {
        let specs = parse(text).unwrap();
        Network::new(&mut Graph::<f32>::new(), &specs, input, Init::Zeros, 0)
            .unwrap_err()
            .to_string()
    };
    let e = bad("linear(4),residual(linear(3))", &[2]);
    assert!(e.contains("residual"), "{e}");
    let e = bad("conv2d(4,3),linear(2)", &[1, 8, 8]);
    assert!(e.contains("linear"), "{e}");
    let e = bad("conv2d(4,9)", &[1, 8, 8]);
    assert!(e.contains("conv2d"), "{e}");
    assert!(Network::new(&mut g, &[], &[3], Init::Zeros, 0).is_err());
}

#[test]
fn any_short_stack_builds_and_runs_both_ways_or_errors_without_panicking() {
    let layers = [
        "linear(3)",
        "linear(2,bias=false)",
        "conv2d(2,3)",
        "conv2d(4,2,stride=2,pad=1)",
        "conv2d(2,3,groups=2,dilation=2,pad=2)",
        "maxpool2d(2)",
        "avgpool2d(3,stride=1,pad=1)",
        "globalavgpool2d",
        "flatten",
        "batchnorm1d",
        "batchnorm2d(affine=false)",
        "layernorm",
        "layernorm(axes=2)",
        "dropout(0.5)",
        "relu",
        "leaky_relu",
        "residual(relu)",
        "residual(linear(3),tanh)",
        "residual(conv2d(2,1),batchnorm2d)",
    ];
    let inputs: [&[usize]; 4] = [&[3], &[2, 3], &[2, 5, 5], &[1, 1, 1]];
    let mut built = 0;
    for a in &layers {
        for b in &layers {
            let text = format!("{a},{b}");
            let specs = parse(&text).unwrap();
            for input in inputs {
                let mut g = Graph::<f32>::new();
                let Ok(mut net) = Network::new(&mut g, &specs, input, Init::KaimingUniform, 1)
                else {
                    continue;
                };
                built += 1;
                let mut dims = vec![3];
                dims.extend_from_slice(input);
                let n: usize = dims.iter().product();
                let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
                for mode in [Mode::Train, Mode::Eval] {
                    net.set_mode(mode);
                    let xv = g.input_from(&dims, &x).unwrap();
                    let out = net.forward(&g, xv);
                    if let Ok(out) = out {
                        let mut want = vec![3];
                        want.extend_from_slice(net.output_shape());
                        assert_eq!(out.shape().dims(), want, "{text} on {input:?}");
                        // The backward pass through every layer, too.
                        let _ = out.sum().backward();
                    }
                    g.clear();
                }
            }
        }
    }
    assert!(built > 200, "{built}");
}

/// A kernel tap that reads only padding (`conv2d(2,3,dilation=2,pad=2)` on
/// a 1×1 image, which PyTorch accepts) runs both ways, as the tap's
/// products are all zero.
#[test]
fn a_conv_tap_wholly_in_the_padding_runs() {
    for (text, input) in [
        ("conv2d(2,3,dilation=2,pad=2)", [1usize, 1, 1]),
        ("conv2d(2,3,dilation=9,pad=9)", [1, 8, 8]),
    ] {
        let specs = parse(text).unwrap();
        let mut g = Graph::<f32>::new();
        let mut net = Network::new(&mut g, &specs, &input, Init::KaimingUniform, 1).unwrap();
        let mut dims = vec![2];
        dims.extend_from_slice(&input);
        let n: usize = dims.iter().product();
        let x = g.input_from(&dims, &vec![1.0; n]).unwrap();
        let out = net.forward(&g, x).unwrap();
        assert_eq!(out.shape().dims()[..2], [2, 2], "{text}");
        out.sum().backward().unwrap();
    }
}
