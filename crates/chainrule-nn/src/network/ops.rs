//! The engine's convolution, pooling, normalization and dropout ops, in one
//! place: every call a [`Network`](super::Network) makes to them.

use crate::arch::{ConvSpec, PoolSpec};
use crate::error::{Error, Result};
use chainrule::{Float, Var};

/// A batch-norm training pass: the output and the batch's per-channel mean
/// and biased variance over `count` values per channel.
pub(crate) struct BnTrain<'g, F: Float> {
    pub output: Var<'g, F>,
    pub mean: Var<'g, F>,
    pub var: Var<'g, F>,
    pub count: usize,
}

fn missing(what: &str) -> Error {
    Error::config("arch", format!("{what} needs the engine's {what} op"))
}

pub(crate) fn conv2d<'g, F: Float>(
    _x: Var<'g, F>,
    _w: Var<'g, F>,
    _b: Option<Var<'g, F>>,
    _spec: &ConvSpec,
) -> Result<Var<'g, F>> {
    Err(missing("conv2d"))
}

pub(crate) fn max_pool2d<'g, F: Float>(_x: Var<'g, F>, _p: &PoolSpec) -> Result<Var<'g, F>> {
    Err(missing("maxpool2d"))
}

pub(crate) fn avg_pool2d<'g, F: Float>(_x: Var<'g, F>, _p: &PoolSpec) -> Result<Var<'g, F>> {
    Err(missing("avgpool2d"))
}

pub(crate) fn global_avg_pool2d<'g, F: Float>(_x: Var<'g, F>) -> Result<Var<'g, F>> {
    Err(missing("globalavgpool2d"))
}

pub(crate) fn batch_norm_train<'g, F: Float>(
    _x: Var<'g, F>,
    _gamma: Option<Var<'g, F>>,
    _beta: Option<Var<'g, F>>,
    _eps: f64,
) -> Result<BnTrain<'g, F>> {
    Err(missing("batchnorm"))
}

pub(crate) fn batch_norm_eval<'g, F: Float>(
    _x: Var<'g, F>,
    _mean: Var<'g, F>,
    _var: Var<'g, F>,
    _gamma: Option<Var<'g, F>>,
    _beta: Option<Var<'g, F>>,
    _eps: f64,
) -> Result<Var<'g, F>> {
    Err(missing("batchnorm"))
}

pub(crate) fn layer_norm<'g, F: Float>(
    _x: Var<'g, F>,
    _axes: usize,
    _gamma: Option<Var<'g, F>>,
    _beta: Option<Var<'g, F>>,
    _eps: f64,
) -> Result<Var<'g, F>> {
    Err(missing("layernorm"))
}

pub(crate) fn dropout<'g, F: Float>(_x: Var<'g, F>, _p: f64, _key: u64) -> Result<Var<'g, F>> {
    Err(missing("dropout"))
}

/// Copies a node's values into `out` (of its length).
pub(crate) fn read_into<F: Float>(v: &Var<'_, F>, out: &mut [F]) -> Result<()> {
    let values = v.to_vec();
    if values.len() != out.len() {
        return Err(Error::config("batchnorm", "statistics of the wrong length"));
    }
    out.copy_from_slice(&values);
    Ok(())
}
