//! Convolution, pooling, normalization and dropout: forward values worked
//! by hand (each in its comment), PyTorch's conventions (first maximum on
//! ties, padding as −∞ for max and as zeros for the average), dropout's
//! statistics, flat memory over warm steps, and shape errors that name the
//! operation and the shapes.

use chainrule::{rng, Conv2dParams, Graph, Pool2dParams, Tensor};

fn t(data: &[f64], dims: &[usize]) -> Tensor<f64> {
    Tensor::from_f64(data, dims).unwrap()
}

fn close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= 1e-12 * w.abs().max(1.0),
            "{got:?} vs {want:?}"
        );
    }
}

/// x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]] as [1, 1, 3, 3].
fn image() -> Tensor<f64> {
    t(
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        &[1, 1, 3, 3],
    )
}

#[test]
fn conv2d_3x3_by_2x2_stride_1_by_hand() {
    // w = [[1, 2], [3, 4]]:
    // y00 = 1·1 + 2·2 + 4·3 + 5·4 = 37, y01 = 2·1 + 3·2 + 5·3 + 6·4 = 47,
    // y10 = 4·1 + 5·2 + 7·3 + 8·4 = 67, y11 = 5·1 + 6·2 + 8·3 + 9·4 = 77.
    let g = Graph::<f64>::new();
    let x = g.input(&image());
    let w = g.input(&t(&[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]));
    let y = x.conv2d(w, Conv2dParams::default()).unwrap();
    assert_eq!(y.shape().dims(), &[1, 1, 2, 2]);
    assert_eq!(y.to_vec(), vec![37.0, 47.0, 67.0, 77.0]);
}

#[test]
fn conv2d_3x3_by_2x2_padding_1_stride_2_by_hand() {
    // Padded to 5×5 (x in the centre), Ho = (3 + 2 − 2)/2 + 1 = 2; the
    // windows start at padded rows/columns 0 and 2:
    // y00 = [0, 0; 0, 1]·w = 1·4 = 4,
    // y01 = [0, 0; 2, 3]·w = 2·3 + 3·4 = 18,
    // y10 = [0, 4; 0, 7]·w = 4·2 + 7·4 = 36,
    // y11 = [5, 6; 8, 9]·w = 5 + 12 + 24 + 36 = 77.
    let g = Graph::<f64>::new();
    let x = g.input(&image());
    let w = g.input(&t(&[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]));
    let p = Conv2dParams {
        stride: [2, 2],
        padding: [1, 1],
        ..Conv2dParams::default()
    };
    let y = x.conv2d(w, p).unwrap();
    assert_eq!(y.to_vec(), vec![4.0, 18.0, 36.0, 77.0]);
}

#[test]
fn conv2d_dilation_groups_and_bias_by_hand() {
    // Dilation 2: the 2×2 kernel reads the corners x00, x02, x20, x22:
    // 1·1 + 2·3 + 3·7 + 4·9 = 64.
    let g = Graph::<f64>::new();
    let x = g.input(&image());
    let w = g.input(&t(&[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]));
    let p = Conv2dParams {
        dilation: [2, 2],
        ..Conv2dParams::default()
    };
    assert_eq!(x.conv2d(w, p).unwrap().to_vec(), vec![64.0]);

    // Two groups of one channel, 1×1 kernels 2 and 3, bias [10, 20]:
    // channel 0 → 2x + 10, channel 1 → 3x + 20.
    let x = g.input(&t(&[1.0, 2.0, 3.0, 4.0], &[1, 2, 1, 2]));
    let w = g.input(&t(&[2.0, 3.0], &[2, 1, 1, 1]));
    let b = g.input(&t(&[10.0, 20.0], &[2]));
    let p = Conv2dParams {
        groups: 2,
        ..Conv2dParams::default()
    };
    let y = x.conv2d_bias(w, Some(b), p).unwrap();
    assert_eq!(y.to_vec(), vec![12.0, 14.0, 29.0, 32.0]);
}

#[test]
fn max_pool_ties_go_to_the_first_maximum_and_padding_is_minus_infinity() {
    let p = Pool2dParams {
        kernel: [2, 2],
        stride: [2, 2],
        padding: [0, 0],
    };
    for (values, want_grad) in [
        ([5.0, 5.0, 5.0, 5.0], [1.0, 0.0, 0.0, 0.0]),
        ([1.0, 3.0, 3.0, 2.0], [0.0, 1.0, 0.0, 0.0]),
    ] {
        let g = Graph::<f64>::new();
        let x = g.variable(&t(&values, &[1, 1, 2, 2]));
        let y = x.max_pool2d(p).unwrap();
        y.sum().backward().unwrap();
        assert_eq!(x.grad().unwrap().to_f64_vec(), want_grad.to_vec());
    }
    // All negative, a 3×3 window with padding 1: every window holds the
    // whole 2×2 input, whose maximum is −1 (a zero padding would win).
    let g = Graph::<f64>::new();
    let x = g.input(&t(&[-1.0, -2.0, -3.0, -4.0], &[1, 1, 2, 2]));
    let p = Pool2dParams {
        kernel: [3, 3],
        stride: [1, 1],
        padding: [1, 1],
    };
    assert_eq!(x.max_pool2d(p).unwrap().to_vec(), vec![-1.0; 4]);
}

#[test]
fn avg_pool_with_padding_divides_by_the_whole_window() {
    // x = [[1, 2], [3, 4]], 2×2 windows, stride 1, padding 1: 3×3 outputs,
    // each the sum of the window's real elements over 4:
    // [[1, 1+2, 2], [1+3, 10, 2+4], [3, 3+4, 4]] / 4.
    let g = Graph::<f64>::new();
    let x = g.input(&t(&[1.0, 2.0, 3.0, 4.0], &[1, 1, 2, 2]));
    let p = Pool2dParams {
        kernel: [2, 2],
        stride: [1, 1],
        padding: [1, 1],
    };
    let y = x.avg_pool2d(p).unwrap();
    assert_eq!(y.shape().dims(), &[1, 1, 3, 3]);
    assert_eq!(
        y.to_vec(),
        vec![0.25, 0.75, 0.5, 1.0, 2.5, 1.5, 0.75, 1.75, 1.0]
    );
}

#[test]
fn global_avg_pool_and_flatten_by_hand() {
    // Channel means: (1 + 2 + 3 + 4)/4 = 2.5, (5 + 6 + 7 + 10)/4 = 7.
    let g = Graph::<f64>::new();
    let x = g.input(&t(
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 10.0],
        &[1, 2, 2, 2],
    ));
    let m = x.global_avg_pool2d().unwrap();
    assert_eq!(m.shape().dims(), &[1, 2]);
    assert_eq!(m.to_vec(), vec![2.5, 7.0]);
    let f = x.flatten().unwrap();
    assert_eq!(f.shape().dims(), &[1, 8]);
    assert_eq!(f.to_vec(), x.to_vec());
}

#[test]
fn batch_norm_train_on_a_3x2_input_by_hand() {
    // x = [[1, 2], [3, 6], [5, 10]]: channel 0 holds 1, 3, 5 (μ = 3,
    // σ² = (4 + 0 + 4)/3 = 8/3), channel 1 holds 2, 6, 10 (μ = 6,
    // σ² = (16 + 0 + 16)/3 = 32/3). With ε = 0 both normalize to
    // (−√1.5, 0, √1.5): −2/√(8/3) = −4/√(32/3) = −√(3/2).
    // γ = [2, 0.5], β = [1, −1]: y = (1 − 2√1.5, 1, 1 + 2√1.5) and
    // (−1 − 0.5√1.5, −1, −1 + 0.5√1.5).
    let g = Graph::<f64>::new();
    let x = g.input(&t(&[1.0, 2.0, 3.0, 6.0, 5.0, 10.0], &[3, 2]));
    let s = 1.5f64.sqrt();
    let bn = x.batch_norm_train(None, None, 0.0).unwrap();
    close(&bn.output.to_vec(), &[-s, -s, 0.0, 0.0, s, s]);
    close(&bn.mean.to_vec(), &[3.0, 6.0]);
    close(&bn.var.to_vec(), &[8.0 / 3.0, 32.0 / 3.0]);
    assert_eq!(bn.count, 3);
    let gamma = g.input(&t(&[2.0, 0.5], &[2]));
    let beta = g.input(&t(&[1.0, -1.0], &[2]));
    let y = x.batch_norm_train(Some(gamma), Some(beta), 0.0).unwrap();
    close(
        &y.output.to_vec(),
        &[
            1.0 - 2.0 * s,
            -1.0 - 0.5 * s,
            1.0,
            -1.0,
            1.0 + 2.0 * s,
            -1.0 + 0.5 * s,
        ],
    );

    // [N, C, H, W]: channel statistics over N·H·W = 2·1·2 = 4 elements.
    // Channel 0 holds 1, 2, 5, 8 (μ = 4); channel 1 holds 0, 0, 0, 4 (μ = 1).
    let x = g.input(&t(&[1.0, 2.0, 0.0, 0.0, 5.0, 8.0, 0.0, 4.0], &[2, 2, 1, 2]));
    let bn = x.batch_norm_train(None, None, 1e-5).unwrap();
    close(&bn.mean.to_vec(), &[4.0, 1.0]);
    // σ² = (9 + 4 + 1 + 16)/4 = 7.5 and (1 + 1 + 1 + 9)/4 = 3.
    close(&bn.var.to_vec(), &[7.5, 3.0]);
    assert_eq!(bn.count, 4);
    // read_into gives the same numbers into a caller's buffer.
    let mut buf = [0.0; 2];
    bn.var.read_into(&mut buf).unwrap();
    assert_eq!(buf, [7.5, 3.0]);
    assert!(bn.var.read_into(&mut [0.0; 3]).is_err());
}

#[test]
fn batch_norm_eval_by_hand() {
    // x = [[3, 4]], running mean [1, 2], variance [4, 16], γ = [2, 1],
    // β = [0, 1], ε = 0: (3 − 1)/2·2 + 0 = 2 and (4 − 2)/4·1 + 1 = 1.5.
    let g = Graph::<f64>::new();
    let x = g.input(&t(&[3.0, 4.0], &[1, 2]));
    let m = g.input(&t(&[1.0, 2.0], &[2]));
    let v = g.input(&t(&[4.0, 16.0], &[2]));
    let gamma = g.input(&t(&[2.0, 1.0], &[2]));
    let beta = g.input(&t(&[0.0, 1.0], &[2]));
    let y = x
        .batch_norm_eval(m, v, Some(gamma), Some(beta), 0.0)
        .unwrap();
    close(&y.to_vec(), &[2.0, 1.5]);
}

#[test]
fn layer_norm_by_hand() {
    // Rows [1, 2, 3] (μ = 2, σ² = 2/3) and [2, 4, 9] (μ = 5, deviations
    // −3, −1, 4, σ² = 26/3).
    let g = Graph::<f64>::new();
    let x = g.input(&t(&[1.0, 2.0, 3.0, 2.0, 4.0, 9.0], &[2, 3]));
    let y = x.layer_norm(1, None, None, 0.0).unwrap();
    let (a, b) = ((2.0f64 / 3.0).sqrt(), (26.0f64 / 3.0).sqrt());
    close(
        &y.to_vec(),
        &[-1.0 / a, 0.0, 1.0 / a, -3.0 / b, -1.0 / b, 4.0 / b],
    );
    // Over both axes of [1, 2, 3] the same six numbers are one group:
    // μ = 21/6 = 3.5, σ² = (6.25 + 2.25 + 0.25 + 2.25 + 0.25 + 30.25)/6.
    let x3 = x.reshape(&[1, 2, 3]).unwrap();
    let gamma = g.input(&t(&[1.0, 1.0, 1.0, 2.0, 2.0, 2.0], &[2, 3]));
    let y = x3.layer_norm(2, Some(gamma), None, 0.0).unwrap();
    let s = (41.5f64 / 6.0).sqrt();
    let want: Vec<f64> = [1.0, 2.0, 3.0, 2.0, 4.0, 9.0]
        .iter()
        .enumerate()
        .map(|(i, v)| (v - 3.5) / s * if i < 3 { 1.0 } else { 2.0 })
        .collect();
    close(&y.to_vec(), &want);
}

#[test]
fn dropout_keeps_the_right_fraction_scaled_and_is_reproducible() {
    let count = 100_000;
    let g = Graph::<f64>::new();
    let x = g.variable(&Tensor::from_fn(&[count], |i| 1.0 + i as f64 * 1e-3).unwrap());
    for p in [0.3, 0.5] {
        let y = x.dropout(p, 42).unwrap().to_vec();
        let xs = x.to_vec();
        let kept = y.iter().filter(|&&v| v != 0.0).count();
        let fraction = kept as f64 / count as f64;
        assert!(
            (fraction - (1.0 - p)).abs() <= 0.01 * (1.0 - p),
            "p = {p}: kept {fraction}"
        );
        for (i, (&yi, &xi)) in y.iter().zip(&xs).enumerate() {
            // The mask from its definition, not from the code under test.
            if rng::unit_at(42, i as u64) >= p {
                let want = xi / (1.0 - p);
                assert!((yi - want).abs() <= 1e-15 * want, "{i}: {yi} vs {want}");
            } else {
                assert_eq!(yi, 0.0);
            }
        }
    }
    let a = x.dropout(0.5, 1).unwrap().to_vec();
    assert_eq!(
        a,
        x.dropout(0.5, 1).unwrap().to_vec(),
        "same key, same mask"
    );
    assert_ne!(a, x.dropout(0.5, 2).unwrap().to_vec(), "new key, new mask");
    // p = 0 is the input itself; the gradient is the scaled mask.
    assert_eq!(x.dropout(0.0, 1).unwrap().id(), x.id());
    let y = x.dropout(0.5, 3).unwrap();
    y.sum().backward().unwrap();
    let grad = x.grad().unwrap().to_f64_vec();
    for (i, &d) in grad.iter().enumerate().take(1000) {
        let want = if rng::unit_at(3, i as u64) >= 0.5 {
            2.0
        } else {
            0.0
        };
        assert_eq!(d, want);
    }
}

#[test]
fn a_warm_conv_and_pool_step_does_not_grow_memory() {
    let mut g = Graph::<f32>::new();
    let w = g.parameter(&Tensor::uniform(&[8, 3, 3, 3], -0.3, 0.3, 1).unwrap());
    let x = Tensor::<f32>::uniform(&[4, 3, 12, 12], -1.0, 1.0, 2).unwrap();
    let step = |g: &mut Graph<f32>| {
        g.zero_grad();
        {
            let input = g.input(&x);
            let wv = g.param(w).unwrap();
            let p = Conv2dParams {
                padding: [1, 1],
                ..Conv2dParams::default()
            };
            let pool = Pool2dParams {
                kernel: [3, 3],
                stride: [2, 2],
                padding: [1, 1],
            };
            let y = input
                .conv2d(wv, p)
                .unwrap()
                .relu()
                .max_pool2d(pool)
                .unwrap();
            y.square().mean().backward().unwrap();
        }
        g.clear();
    };
    for _ in 0..3 {
        step(&mut g);
    }
    let warm = g.memory_bytes();
    for _ in 0..20 {
        step(&mut g);
    }
    assert_eq!(g.memory_bytes(), warm);
}

#[test]
fn bad_shapes_are_errors_that_name_the_op_and_the_shapes() {
    let g = Graph::<f64>::new();
    let zeros = |dims: &[usize]| g.input(&Tensor::zeros(dims).unwrap());
    let expect = |result: chainrule::Result<chainrule::Var<'_, f64>>, parts: &[&str]| {
        let message = result.expect_err("must fail").to_string();
        for part in parts {
            assert!(message.contains(part), "{message:?} lacks {part:?}");
        }
    };
    let d = Conv2dParams::default();
    // Convolution.
    let x = zeros(&[1, 3, 5, 5]);
    expect(
        zeros(&[3, 5, 5]).conv2d(zeros(&[4, 3, 3, 3]), d),
        &["conv2d", "[3, 5, 5]"],
    );
    expect(
        x.conv2d(zeros(&[4, 2, 3, 3]), d),
        &["conv2d", "[1, 3, 5, 5]", "[4, 2, 3, 3]"],
    );
    let grouped = Conv2dParams { groups: 2, ..d };
    expect(
        zeros(&[1, 4, 5, 5]).conv2d(zeros(&[3, 2, 3, 3]), grouped),
        &["conv2d", "[1, 4, 5, 5]", "[3, 2, 3, 3]", "2 groups"],
    );
    let padded = Conv2dParams {
        padding: [1, 1],
        ..d
    };
    expect(
        zeros(&[1, 1, 2, 2]).conv2d(zeros(&[1, 1, 5, 5]), padded),
        &["conv2d", "[1, 1, 2, 2]", "[1, 1, 5, 5]", "larger"],
    );
    let no_stride = Conv2dParams {
        stride: [0, 1],
        ..d
    };
    expect(
        x.conv2d(zeros(&[4, 3, 3, 3]), no_stride),
        &["conv2d", "[1, 3, 5, 5]", "stride"],
    );
    expect(
        x.conv2d_bias(zeros(&[4, 3, 3, 3]), Some(zeros(&[3])), d),
        &["conv2d_bias", "[4, 3, 3, 3]", "[3]"],
    );
    expect(
        zeros(&[1, 4, 2, 2]).conv2d_input_grad(zeros(&[4, 3, 3, 3]), d, [5, 5]),
        &["conv2d_input_grad", "[1, 4, 2, 2]"],
    );
    // Pooling.
    let pool = |k: usize, s: usize, p: usize| Pool2dParams {
        kernel: [k, k],
        stride: [s, s],
        padding: [p, p],
    };
    expect(
        x.max_pool2d(pool(2, 0, 0)),
        &["max_pool2d", "[1, 3, 5, 5]", "stride"],
    );
    expect(
        x.avg_pool2d(pool(6, 1, 0)),
        &["avg_pool2d", "[1, 3, 5, 5]", "larger"],
    );
    expect(
        x.max_pool2d(pool(2, 1, 2)),
        &["max_pool2d", "[1, 3, 5, 5]", "padding"],
    );
    expect(
        zeros(&[3, 5, 5]).avg_pool2d(pool(2, 2, 0)),
        &["avg_pool2d", "[3, 5, 5]"],
    );
    expect(
        zeros(&[3, 5]).global_avg_pool2d(),
        &["global_avg_pool2d", "[3, 5]"],
    );
    // Normalization and dropout.
    let bn = |x: chainrule::Var<'_, f64>, gamma| x.batch_norm_train(gamma, None, 1e-5).err();
    let message = bn(zeros(&[4]), None).expect("rank 1 must fail").to_string();
    assert!(
        message.contains("batch_norm_train") && message.contains("[4]"),
        "{message}"
    );
    let message = bn(zeros(&[4, 3]), Some(zeros(&[2])))
        .expect("a wrong gamma must fail")
        .to_string();
    assert!(
        message.contains("batch_norm_train")
            && message.contains("[4, 3]")
            && message.contains("[2]"),
        "{message}"
    );
    expect(
        zeros(&[4, 3]).batch_norm_eval(zeros(&[2]), zeros(&[3]), None, None, 1e-5),
        &["batch_norm_eval", "[4, 3]", "[2]"],
    );
    expect(
        zeros(&[3, 4]).layer_norm(2, None, None, 1e-5),
        &["layer_norm", "[3, 4]"],
    );
    expect(
        zeros(&[3, 4]).layer_norm(0, None, None, 1e-5),
        &["layer_norm", "[3, 4]"],
    );
    expect(
        zeros(&[3, 4]).layer_norm(1, Some(zeros(&[3])), None, 1e-5),
        &["layer_norm", "[3, 4]", "[3]"],
    );
    for p in [1.0, -0.1, f64::NAN] {
        expect(zeros(&[3, 4]).dropout(p, 0), &["dropout", "[3, 4]"]);
    }
}
