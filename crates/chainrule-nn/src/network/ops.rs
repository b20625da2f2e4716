//! The engine's convolution, pooling, normalization and dropout ops, in one
//! place: every call a [`Network`](super::Network) makes to them.

use crate::arch::{ConvSpec, PoolSpec};
use crate::error::Result;
use chainrule::{BatchNormTrain, Conv2dParams, Float, Pool2dParams, Var};

pub(crate) fn conv2d<'g, F: Float>(
    x: Var<'g, F>,
    w: Var<'g, F>,
    b: Option<Var<'g, F>>,
    spec: &ConvSpec,
) -> Result<Var<'g, F>> {
    let p = Conv2dParams {
        stride: spec.stride,
        padding: spec.padding,
        dilation: spec.dilation,
        groups: spec.groups,
    };
    Ok(x.conv2d_bias(w, b, p)?)
}

fn pool(p: &PoolSpec) -> Pool2dParams {
    Pool2dParams {
        kernel: p.kernel,
        stride: p.stride,
        padding: p.padding,
    }
}

pub(crate) fn max_pool2d<'g, F: Float>(x: Var<'g, F>, p: &PoolSpec) -> Result<Var<'g, F>> {
    Ok(x.max_pool2d(pool(p))?)
}

pub(crate) fn avg_pool2d<'g, F: Float>(x: Var<'g, F>, p: &PoolSpec) -> Result<Var<'g, F>> {
    Ok(x.avg_pool2d(pool(p))?)
}

pub(crate) fn global_avg_pool2d<'g, F: Float>(x: Var<'g, F>) -> Result<Var<'g, F>> {
    Ok(x.global_avg_pool2d()?)
}

pub(crate) fn flatten<'g, F: Float>(x: Var<'g, F>) -> Result<Var<'g, F>> {
    Ok(x.flatten()?)
}

pub(crate) fn batch_norm_train<'g, F: Float>(
    x: Var<'g, F>,
    gamma: Option<Var<'g, F>>,
    beta: Option<Var<'g, F>>,
    eps: f64,
) -> Result<BatchNormTrain<'g, F>> {
    Ok(x.batch_norm_train(gamma, beta, eps)?)
}

pub(crate) fn batch_norm_eval<'g, F: Float>(
    x: Var<'g, F>,
    mean: Var<'g, F>,
    var: Var<'g, F>,
    gamma: Option<Var<'g, F>>,
    beta: Option<Var<'g, F>>,
    eps: f64,
) -> Result<Var<'g, F>> {
    Ok(x.batch_norm_eval(mean, var, gamma, beta, eps)?)
}

pub(crate) fn layer_norm<'g, F: Float>(
    x: Var<'g, F>,
    axes: usize,
    gamma: Option<Var<'g, F>>,
    beta: Option<Var<'g, F>>,
    eps: f64,
) -> Result<Var<'g, F>> {
    Ok(x.layer_norm(axes, gamma, beta, eps)?)
}

pub(crate) fn dropout<'g, F: Float>(x: Var<'g, F>, p: f64, key: u64) -> Result<Var<'g, F>> {
    Ok(x.dropout(p, key)?)
}

/// Copies a node's values into `out` (of its length), allocating nothing.
pub(crate) fn read_into<F: Float>(v: &Var<'_, F>, out: &mut [F]) -> Result<()> {
    Ok(v.read_into(out)?)
}
