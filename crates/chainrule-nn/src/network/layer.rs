//! The built layers of a [`Network`](super::Network): each layer of an
//! architecture string with its parameters registered on the graph, its
//! buffers, and the per-example shapes around it; and the building itself
//! (shape propagation, PyTorch's default initialisation per layer kind).

use crate::activation::Activation;
use crate::arch::{ConvSpec, LayerKind, LayerSpec, NormSpec, PoolSpec};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::mlp::MAX_PARAMETERS;
use chainrule::{Float, Graph, ParamId, Tensor};

/// A linear layer whose bias may be absent (`linear(n, bias=false)`).
#[derive(Clone, Copy, Debug)]
pub struct LinearLayer {
    pub weight: ParamId,
    pub bias: Option<ParamId>,
    pub in_features: usize,
    pub out_features: usize,
}

/// A 2-D convolution: weight `[O, C/groups, kh, kw]`, bias `[O]`.
#[derive(Clone, Copy, Debug)]
pub struct ConvLayer {
    pub spec: ConvSpec,
    pub in_channels: usize,
    pub weight: ParamId,
    pub bias: Option<ParamId>,
}

/// Batch normalization over axis 1, with PyTorch's buffers.
#[derive(Clone, Copy, Debug)]
pub struct BatchNormLayer {
    /// `batchnorm2d` (over `[N, C, H, W]`) rather than `batchnorm1d`.
    pub two_d: bool,
    pub norm: NormSpec,
    pub channels: usize,
    /// γ (`weight`) and β (`bias`) when affine.
    pub gamma: Option<ParamId>,
    pub beta: Option<ParamId>,
    /// Its buffers: the network's `batch_norm_buffers()[index]`.
    pub index: usize,
}

/// A batch-norm layer's buffers, kept apart from the layers so that a
/// forward pass can update them while reading the layers.
#[derive(Clone, Debug, PartialEq)]
pub struct BnBuffers<F: Float> {
    /// `running_mean`, initially 0.
    pub running_mean: Vec<F>,
    /// `running_var`, initially 1.
    pub running_var: Vec<F>,
    /// `num_batches_tracked`.
    pub num_batches_tracked: u64,
    /// Where a training step's batch mean and variance are read into (kept,
    /// so that a warm step allocates nothing for the update).
    pub(crate) scratch_mean: Vec<F>,
    pub(crate) scratch_var: Vec<F>,
}

impl<F: Float> BnBuffers<F> {
    /// Fresh buffers for `channels`: mean 0, variance 1, no batches.
    pub fn new(channels: usize) -> BnBuffers<F> {
        BnBuffers {
            running_mean: vec![F::zero(); channels],
            running_var: vec![F::one(); channels],
            num_batches_tracked: 0,
            scratch_mean: vec![F::zero(); channels],
            scratch_var: vec![F::zero(); channels],
        }
    }
}

/// Layer normalization over the trailing `axes` dimensions.
#[derive(Clone, Debug)]
pub struct LayerNormLayer {
    pub axes: usize,
    pub norm: NormSpec,
    /// γ and β of the normalized shape, when affine.
    pub gamma: Option<ParamId>,
    pub beta: Option<ParamId>,
}

/// One built layer.
#[derive(Clone, Debug)]
pub enum Layer {
    Linear(LinearLayer),
    Conv2d(ConvLayer),
    MaxPool2d(PoolSpec),
    AvgPool2d(PoolSpec),
    GlobalAvgPool2d,
    Flatten,
    BatchNorm(BatchNormLayer),
    LayerNorm(LayerNormLayer),
    /// Drop probability and the hash of the layer's path (see
    /// [`super::dropout_key`]).
    Dropout {
        p: f64,
        path_hash: u64,
    },
    Activation(Activation),
    /// `x + body(x)`.
    Residual(Vec<Layer>),
}

impl Layer {
    /// Whether the layer works on `[C, H, W]` examples.
    pub fn is_2d(&self) -> bool {
        match self {
            Layer::Conv2d(_)
            | Layer::MaxPool2d(_)
            | Layer::AvgPool2d(_)
            | Layer::GlobalAvgPool2d => true,
            Layer::BatchNorm(bn) => bn.two_d,
            Layer::Residual(body) => body.iter().any(Layer::is_2d),
            _ => false,
        }
    }
}

/// Whether an architecture has a 2-D layer (conv2d, pools,
/// globalavgpool2d, batchnorm2d) anywhere, residual bodies included: such a
/// network sees its examples as images `[C, H, W]`, any other the flat
/// vector.
pub fn specs_are_2d(specs: &[LayerSpec]) -> bool {
    specs.iter().any(|s| match &s.kind {
        LayerKind::Conv2d(_)
        | LayerKind::MaxPool2d(_)
        | LayerKind::AvgPool2d(_)
        | LayerKind::GlobalAvgPool2d
        | LayerKind::BatchNorm2d(_) => true,
        LayerKind::Residual(body) => specs_are_2d(body),
        _ => false,
    })
}

/// One row of a network's summary: a layer's state_dict path, its text,
/// its per-example output shape and its parameter count.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerRow {
    pub path: String,
    pub text: String,
    pub output: Vec<usize>,
    pub params: usize,
    /// 0-based character position of the layer in the architecture string
    /// (0 for layers built in code).
    pub at: usize,
}

impl LayerRow {
    /// The layer's number as people count: 1-based, residual bodies joined
    /// by dots (`3.2` is the second layer of the third layer's body).
    pub fn number(&self) -> String {
        layer_number(&self.path)
    }

    /// `layer 3.2 linear(32) (character 41)`: how errors and reports name
    /// the layer.
    pub fn describe(&self) -> String {
        format!(
            "layer {} {} (character {})",
            self.number(),
            self.text,
            self.at
        )
    }
}

/// `2.body.0` → `3.1`.
pub fn layer_number(path: &str) -> String {
    let number: Vec<String> = path
        .split(".body.")
        .map(|i| {
            i.parse::<usize>()
                .map_or(i.to_string(), |i| (i + 1).to_string())
        })
        .collect();
    number.join(".")
}

/// What building needs besides the specs: the graph, initialiser, seed, and
/// the counters that run across the whole network.
pub(crate) struct Builder<'a, F: Float> {
    pub g: &'a mut Graph<F>,
    pub init: Init,
    pub seed: u64,
    /// Weight-bearing layers (linear, conv) built so far: layer `k` draws
    /// from stream `seed + k`, as [`crate::Mlp::new`] does.
    pub weighted: u64,
    /// Parameter values so far, checked against [`MAX_PARAMETERS`] before
    /// each allocation.
    pub count: usize,
    pub rows: Vec<LayerRow>,
    pub bn: Vec<BnBuffers<F>>,
}

/// An error about the layer at state_dict `path`, worded as the shape
/// inference words its own: `architecture: layer 2.1 conv2d(4,3) (character
/// 17): …`, layers numbered from 1 and residual bodies joined by dots.
fn shape_err(spec: &LayerSpec, path: &str, detail: String) -> Error {
    Error::config(
        "architecture",
        format!(
            "layer {} {} (character {}): {detail}",
            layer_number(path),
            super::spec_text(spec),
            spec.at
        ),
    )
}

fn pool_out(n: usize, k: usize, s: usize, p: usize, d: usize) -> Option<usize> {
    let span = d.checked_mul(k.checked_sub(1)?)?.checked_add(1)?;
    let padded = n.checked_add(p.checked_mul(2)?)?;
    if s == 0 || padded < span {
        return None;
    }
    Some((padded - span) / s + 1)
}

impl<F: Float> Builder<'_, F> {
    fn reserve(&mut self, spec: &LayerSpec, path: &str, n: Option<usize>) -> Result<usize> {
        let total = n.and_then(|n| self.count.checked_add(n));
        match total {
            Some(t) if t <= MAX_PARAMETERS => {
                let n = t - self.count;
                self.count = t;
                Ok(n)
            }
            _ => Err(shape_err(
                spec,
                path,
                format!("the network would have more than {MAX_PARAMETERS} parameters"),
            )),
        }
    }

    fn next_stream(&mut self) -> u64 {
        let s = self.seed.wrapping_add(self.weighted);
        self.weighted += 1;
        s
    }

    /// Builds `specs` (a sequence whose state_dict prefix is `prefix`) on
    /// examples of `shape`, returning the layers and the output shape.
    pub fn sequence(
        &mut self,
        specs: &[LayerSpec],
        prefix: &str,
        mut shape: Vec<usize>,
    ) -> Result<(Vec<Layer>, Vec<usize>)> {
        let mut layers = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let path = format!("{prefix}{i}");
            // The gain of the initialiser: that of the activation right
            // after the layer, if any (as Mlp::new).
            let gain = match specs.get(i + 1).map(|s| &s.kind) {
                Some(LayerKind::Activation(a)) => a.gain(),
                _ => 1.0,
            };
            let params_before = self.count;
            let (layer, out) = self.layer(spec, &path, shape, gain)?;
            self.rows.push(LayerRow {
                path: path.clone(),
                text: super::spec_text(spec),
                output: out.clone(),
                params: self.count - params_before,
                at: spec.at,
            });
            layers.push(layer);
            shape = out;
        }
        Ok((layers, shape))
    }

    fn layer(
        &mut self,
        spec: &LayerSpec,
        path: &str,
        shape: Vec<usize>,
        gain: f64,
    ) -> Result<(Layer, Vec<usize>)> {
        let err = |detail: String| shape_err(spec, path, detail);
        let image = |shape: &[usize]| -> Result<[usize; 3]> {
            match *shape {
                [c, h, w] => Ok([c, h, w]),
                _ => Err(err(format!(
                    "needs an image input [C, H, W], got {shape:?}"
                ))),
            }
        };
        Ok(match &spec.kind {
            LayerKind::Linear { out_features, bias } => {
                let &[inf] = shape.as_slice() else {
                    return Err(err(format!(
                        "needs a flat input [features], got {shape:?} (add flatten before it)"
                    )));
                };
                let out = *out_features;
                if out == 0 {
                    return Err(err("needs at least one output".into()));
                }
                let n = inf
                    .checked_add(usize::from(*bias))
                    .and_then(|f| f.checked_mul(out));
                self.reserve(spec, path, n)?;
                let stream = self.next_stream();
                let w = self.init.weight::<F>(out, inf, gain, stream)?;
                let weight = self.g.parameter(&w);
                let bias = bias
                    .then(|| Tensor::<F>::zeros(&[out]).map(|b| self.g.parameter(&b)))
                    .transpose()?;
                (
                    Layer::Linear(LinearLayer {
                        weight,
                        bias,
                        in_features: inf,
                        out_features: out,
                    }),
                    vec![out],
                )
            }
            LayerKind::Conv2d(c) => {
                let [ch, h, w] = image(&shape)?;
                let g = c.groups;
                if g == 0 || ch % g != 0 || c.out_channels % g != 0 || c.out_channels == 0 {
                    return Err(err(format!(
                        "groups={g} must divide the {ch} input and {} output channels",
                        c.out_channels
                    )));
                }
                let oh = pool_out(h, c.kernel[0], c.stride[0], c.padding[0], c.dilation[0]);
                let ow = pool_out(w, c.kernel[1], c.stride[1], c.padding[1], c.dilation[1]);
                let (Some(oh), Some(ow)) = (oh, ow) else {
                    return Err(err(format!(
                        "a {}x{} kernel does not fit the input {shape:?}",
                        c.kernel[0], c.kernel[1]
                    )));
                };
                let fan_in = (ch / g) * c.kernel[0] * c.kernel[1];
                let n = c
                    .out_channels
                    .checked_mul(fan_in)
                    .and_then(|n| n.checked_add(if c.bias { c.out_channels } else { 0 }));
                self.reserve(spec, path, n)?;
                let stream = self.next_stream();
                let dims = [c.out_channels, ch / g, c.kernel[0], c.kernel[1]];
                let fan_out = c.out_channels * c.kernel[0] * c.kernel[1];
                let wt = self
                    .init
                    .tensor::<F>(&dims, fan_in, fan_out, gain, stream)?;
                let weight = self.g.parameter(&wt);
                let bias = c
                    .bias
                    .then(|| Tensor::<F>::zeros(&[c.out_channels]).map(|b| self.g.parameter(&b)))
                    .transpose()?;
                (
                    Layer::Conv2d(ConvLayer {
                        spec: *c,
                        in_channels: ch,
                        weight,
                        bias,
                    }),
                    vec![c.out_channels, oh, ow],
                )
            }
            LayerKind::MaxPool2d(p) | LayerKind::AvgPool2d(p) => {
                let [ch, h, w] = image(&shape)?;
                if p.padding[0] * 2 > p.kernel[0] || p.padding[1] * 2 > p.kernel[1] {
                    return Err(err(format!(
                        "padding {:?} is more than half the kernel {:?}",
                        p.padding, p.kernel
                    )));
                }
                let oh = pool_out(h, p.kernel[0], p.stride[0], p.padding[0], 1);
                let ow = pool_out(w, p.kernel[1], p.stride[1], p.padding[1], 1);
                let (Some(oh), Some(ow)) = (oh, ow) else {
                    return Err(err(format!(
                        "a {}x{} window does not fit the input {shape:?}",
                        p.kernel[0], p.kernel[1]
                    )));
                };
                let layer = if matches!(spec.kind, LayerKind::MaxPool2d(_)) {
                    Layer::MaxPool2d(*p)
                } else {
                    Layer::AvgPool2d(*p)
                };
                (layer, vec![ch, oh, ow])
            }
            LayerKind::GlobalAvgPool2d => {
                let [ch, _, _] = image(&shape)?;
                (Layer::GlobalAvgPool2d, vec![ch])
            }
            LayerKind::Flatten => {
                if shape.is_empty() {
                    return Err(err("needs an input".into()));
                }
                (Layer::Flatten, vec![shape.iter().product()])
            }
            LayerKind::BatchNorm1d(norm) | LayerKind::BatchNorm2d(norm) => {
                let two_d = matches!(spec.kind, LayerKind::BatchNorm2d(_));
                let channels = match (two_d, shape.as_slice()) {
                    (true, [c, _, _]) | (false, [c] | [c, _]) => *c,
                    _ => {
                        return Err(err(format!(
                            "needs {} input, got {shape:?}",
                            if two_d {
                                "an image [C, H, W]"
                            } else {
                                "a [C] or [C, L]"
                            }
                        )))
                    }
                };
                check_norm(norm, &err)?;
                let (gamma, beta) = self.affine(spec, path, norm.affine, &[channels])?;
                let layer = BatchNormLayer {
                    two_d,
                    norm: *norm,
                    channels,
                    gamma,
                    beta,
                    index: self.bn.len(),
                };
                self.bn.push(BnBuffers::new(channels));
                (Layer::BatchNorm(layer), shape)
            }
            LayerKind::LayerNorm { axes, norm } => {
                if *axes == 0 || *axes > shape.len() {
                    return Err(err(format!(
                        "axes={axes} must lie in 1..={} for the input {shape:?}",
                        shape.len()
                    )));
                }
                check_norm(norm, &err)?;
                let normalized = shape[shape.len() - axes..].to_vec();
                let (gamma, beta) = self.affine(spec, path, norm.affine, &normalized)?;
                let layer = LayerNormLayer {
                    axes: *axes,
                    norm: *norm,
                    gamma,
                    beta,
                };
                (Layer::LayerNorm(layer), shape)
            }
            LayerKind::Dropout(p) => {
                if !(0.0..1.0).contains(p) {
                    return Err(err(format!("the drop probability {p} must lie in [0, 1)")));
                }
                let path_hash = super::path_hash(path);
                (Layer::Dropout { p: *p, path_hash }, shape)
            }
            LayerKind::Activation(a) => (Layer::Activation(*a), shape),
            LayerKind::Residual(body) => {
                if body.is_empty() {
                    return Err(err("a residual block needs at least one layer".into()));
                }
                let (layers, out) = self.sequence(body, &format!("{path}.body."), shape.clone())?;
                if out != shape {
                    return Err(err(format!(
                        "the body maps {shape:?} to {out:?}; x + body(x) needs the same shape"
                    )));
                }
                (Layer::Residual(layers), shape)
            }
        })
    }

    /// γ = 1 and β = 0 of `shape`, when `affine`.
    fn affine(
        &mut self,
        spec: &LayerSpec,
        path: &str,
        affine: bool,
        shape: &[usize],
    ) -> Result<(Option<ParamId>, Option<ParamId>)> {
        if !affine {
            return Ok((None, None));
        }
        let n = shape.iter().try_fold(2usize, |a, &d| a.checked_mul(d));
        self.reserve(spec, path, n)?;
        let gamma = self.g.parameter(&Tensor::full(shape, F::one())?);
        let beta = self.g.parameter(&Tensor::zeros(shape)?);
        Ok((Some(gamma), Some(beta)))
    }
}

fn check_norm(norm: &NormSpec, err: &dyn Fn(String) -> Error) -> Result<()> {
    if !(norm.eps.is_finite() && norm.eps > 0.0) {
        return Err(err(format!("eps={} must be a positive number", norm.eps)));
    }
    if !(0.0..=1.0).contains(&norm.momentum) {
        return Err(err(format!(
            "momentum={} must lie in [0, 1]",
            norm.momentum
        )));
    }
    Ok(())
}
