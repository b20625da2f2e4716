//! Rows of the gradient table for convolution, pooling and normalization:
//! every new operation directly (the adjoints too), with stride, padding,
//! dilation and groups varied, and the compositions built on them.

use super::{distinct, n, pos, row, u, Row};
use chainrule::{Conv2dParams, Pool2dParams};

/// Stride 2 and padding 1 on both axes, a 3×2 kernel.
const STRIDED: Conv2dParams = Conv2dParams {
    stride: [2, 2],
    padding: [1, 1],
    dilation: [1, 1],
    groups: 1,
};

/// Two groups (two output channels each), dilation 2 down the rows,
/// stride 2 across, padding only on the rows, a 2×3 kernel.
const GROUPED: Conv2dParams = Conv2dParams {
    stride: [1, 2],
    padding: [1, 0],
    dilation: [2, 1],
    groups: 2,
};

/// Overlapping 3×3 windows, stride 2, padding 1.
const OVERLAP: Pool2dParams = Pool2dParams {
    kernel: [3, 3],
    stride: [2, 2],
    padding: [1, 1],
};

/// A 2×3 window, stride (1, 2), padding on the columns only.
const RECT: Pool2dParams = Pool2dParams {
    kernel: [2, 3],
    stride: [1, 2],
    padding: [0, 1],
};

/// A 3×2 window, stride (2, 1), padding 1 on both axes.
const AVG: Pool2dParams = Pool2dParams {
    kernel: [3, 2],
    stride: [2, 1],
    padding: [1, 1],
};

pub(super) fn rows() -> Vec<Row> {
    vec![
        // --- conv2d ------------------------------------------------------------
        row(
            "conv2d default [2,2,4,5]*[3,2,2,2]",
            vec![u(&[2, 2, 4, 5], 500), u(&[3, 2, 2, 2], 501)],
            |_, x| x[0].conv2d(x[1], Conv2dParams::default()),
        ),
        row(
            "conv2d stride 2 padding 1 [2,3,5,6]*[4,3,3,2]",
            vec![u(&[2, 3, 5, 6], 502), u(&[4, 3, 3, 2], 503)],
            |_, x| x[0].conv2d(x[1], STRIDED),
        ),
        row(
            "conv2d groups 2 dilation 2 [1,4,6,5]*[4,2,2,3]",
            vec![u(&[1, 4, 6, 5], 504), u(&[4, 2, 2, 3], 505)],
            |_, x| x[0].conv2d(x[1], GROUPED),
        ),
        row(
            "conv2d pointwise 1x1, groups 2 [2,4,3,2]*[6,2,1,1]",
            vec![u(&[2, 4, 3, 2], 517), u(&[6, 2, 1, 1], 518)],
            |_, x| {
                let p = Conv2dParams {
                    groups: 2,
                    ..Conv2dParams::default()
                };
                Ok(x[0].conv2d(x[1], p)?.sin())
            },
        ),
        row(
            "conv2d_bias then tanh",
            vec![u(&[2, 2, 4, 3], 506), u(&[2, 2, 2, 2], 507), u(&[2], 508)],
            |_, x| {
                let p = Conv2dParams {
                    padding: [1, 1],
                    ..Conv2dParams::default()
                };
                Ok(x[0].conv2d_bias(x[1], Some(x[2]), p)?.tanh())
            },
        ),
        row(
            "conv2d_input_grad direct (groups 2, dilation 2)",
            vec![u(&[1, 4, 6, 2], 509), u(&[4, 2, 2, 3], 510)],
            |_, x| x[0].conv2d_input_grad(x[1], GROUPED, [6, 5]),
        ),
        row(
            "conv2d_input_grad direct (stride 2, padding 1)",
            vec![u(&[2, 4, 3, 4], 511), u(&[4, 3, 3, 2], 512)],
            |_, x| x[0].conv2d_input_grad(x[1], STRIDED, [5, 6]),
        ),
        row(
            "conv2d_weight_grad direct (groups 2, dilation 2)",
            vec![u(&[1, 4, 6, 5], 513), u(&[1, 4, 6, 2], 514)],
            |_, x| x[0].conv2d_weight_grad(x[1], GROUPED, [2, 3]),
        ),
        row(
            "conv2d_weight_grad direct (stride 2, padding 1)",
            vec![u(&[2, 3, 5, 6], 515), u(&[2, 4, 3, 4], 516)],
            |_, x| x[0].conv2d_weight_grad(x[1], STRIDED, [3, 2]),
        ),
        // --- pooling -----------------------------------------------------------
        row(
            "max_pool2d 3x3 stride 2 padding 1",
            vec![distinct(&[2, 2, 5, 6])],
            |_, x| x[0].max_pool2d(OVERLAP),
        ),
        row(
            "max_pool2d 2x3 stride (1,2) padding (0,1), squared",
            vec![distinct(&[1, 2, 4, 5])],
            |_, x| Ok(x[0].max_pool2d(RECT)?.square()),
        ),
        row(
            "max_pool2d_scatter direct",
            vec![distinct(&[1, 2, 5, 6]), u(&[1, 2, 3, 3], 520)],
            |_, x| x[0].max_pool2d_scatter(x[1], OVERLAP),
        ),
        row(
            "max_pool2d_gather direct",
            vec![distinct(&[1, 2, 5, 6]), u(&[1, 2, 5, 6], 521)],
            |_, x| x[0].max_pool2d_gather(x[1], OVERLAP),
        ),
        row(
            "avg_pool2d 3x2 stride (2,1) padding 1",
            vec![u(&[2, 2, 5, 6], 522)],
            |_, x| x[0].avg_pool2d(AVG),
        ),
        row(
            "avg_pool2d 3x3 stride 2 padding 1, squared",
            vec![u(&[1, 3, 5, 5], 523)],
            |_, x| Ok(x[0].avg_pool2d(OVERLAP)?.square()),
        ),
        row(
            "avg_pool2d_adjoint direct",
            vec![u(&[2, 2, 3, 7], 524)],
            |_, x| x[0].avg_pool2d_adjoint(AVG, [5, 6]),
        ),
        row("global_avg_pool2d", vec![u(&[2, 3, 2, 3], 525)], |_, x| {
            Ok(x[0].global_avg_pool2d()?.sin())
        }),
        row("flatten [2,3,2,2]", vec![u(&[2, 3, 2, 2], 526)], |_, x| {
            Ok(x[0].flatten()?.sin())
        }),
        // --- normalization -----------------------------------------------------
        row("batch_norm_train [4,3]", vec![n(&[4, 3], 530)], |_, x| {
            Ok(x[0].batch_norm_train(None, None, 1e-5)?.output)
        }),
        row(
            "batch_norm_train [4,3] with gamma and beta",
            vec![n(&[4, 3], 531), pos(&[3], 532), u(&[3], 533)],
            |_, x| Ok(x[0].batch_norm_train(Some(x[1]), Some(x[2]), 1e-5)?.output),
        ),
        row(
            "batch_norm_train [2,3,2,3]",
            vec![n(&[2, 3, 2, 3], 534)],
            |_, x| Ok(x[0].batch_norm_train(None, None, 1e-3)?.output),
        ),
        row(
            "batch_norm_train [2,3,2,3] with gamma and beta",
            vec![n(&[2, 3, 2, 3], 535), pos(&[3], 536), u(&[3], 537)],
            |_, x| Ok(x[0].batch_norm_train(Some(x[1]), Some(x[2]), 1e-3)?.output),
        ),
        row(
            "batch_norm_train [3,2,4] statistics",
            vec![n(&[3, 2, 4], 538)],
            |_, x| {
                let bn = x[0].batch_norm_train(None, None, 1e-5)?;
                bn.mean.mul(bn.var)
            },
        ),
        row(
            "batch_norm_eval [4,3,2]",
            vec![
                u(&[4, 3, 2], 539),
                u(&[3], 540),
                pos(&[3], 541),
                pos(&[3], 542),
                u(&[3], 543),
            ],
            |_, x| x[0].batch_norm_eval(x[1], x[2], Some(x[3]), Some(x[4]), 1e-5),
        ),
        row(
            "batch_norm_eval [2,3] without gamma and beta",
            vec![u(&[2, 3], 544), u(&[3], 545), pos(&[3], 546)],
            |_, x| x[0].batch_norm_eval(x[1], x[2], None, None, 1e-5),
        ),
        row(
            "layer_norm over 1 axis with gamma and beta",
            vec![n(&[3, 4], 547), pos(&[4], 548), u(&[4], 549)],
            |_, x| x[0].layer_norm(1, Some(x[1]), Some(x[2]), 1e-5),
        ),
        row(
            "layer_norm over 2 axes with gamma and beta",
            vec![n(&[2, 3, 4], 550), pos(&[3, 4], 551), u(&[3, 4], 552)],
            |_, x| x[0].layer_norm(2, Some(x[1]), Some(x[2]), 1e-5),
        ),
        row(
            "layer_norm over 2 axes",
            vec![n(&[2, 2, 3], 553)],
            |_, x| x[0].layer_norm(2, None, None, 1e-5),
        ),
        row(
            "dropout p=0.5 key 7, squared",
            vec![u(&[4, 5], 554)],
            |_, x| Ok(x[0].dropout(0.5, 7)?.square()),
        ),
    ]
}
