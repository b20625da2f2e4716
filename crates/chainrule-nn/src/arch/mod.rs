//! Architecture strings: the one text that names a network, on the command
//! line (`train --arch`) and in a model file's metadata, e.g.
//!
//! ```text
//! conv2d(6,5,pad=2),relu,maxpool2d(2),conv2d(16,5),relu,maxpool2d(2),flatten,linear(120),relu,linear(84),relu,linear(10)
//! linear(64),residual(linear(64),batchnorm1d,relu),linear(10)
//! ```
//!
//! A string parses into a sequence of [`LayerSpec`]s, each remembering the
//! character where it starts (so errors can point at it); a `residual(…)`
//! block holds a sequence of its own, nested to any depth, and computes
//! `x + body(x)`. [`LayerSpec`]'s `Display` writes the canonical form back,
//! which parses to the same sequence.
//!
//! Layers and their arguments (positional first, then `name=value`):
//!
//! | layer | arguments | PyTorch module |
//! |---|---|---|
//! | `linear(out)` | `bias=true` | `nn.Linear(in, out)` |
//! | `conv2d(out, k)` | `k` or `kh x kw` as `k=3` / `kh=3,kw=5`; `stride=1`, `pad=0` (`padding`), `dilation=1`, `groups=1`, `bias=true` | `nn.Conv2d(in, out, k, …)` |
//! | `maxpool2d(k)` | `stride=k`, `pad=0` | `nn.MaxPool2d(k, stride, pad)` |
//! | `avgpool2d(k)` | `stride=k`, `pad=0` | `nn.AvgPool2d(k, stride, pad)` (count_include_pad) |
//! | `globalavgpool2d` | — | one module, `x.mean((2, 3))` (one position, so later names do not shift) |
//! | `flatten` | — | `nn.Flatten()` |
//! | `batchnorm1d`, `batchnorm2d` | `eps=1e-5`, `momentum=0.1`, `affine=true` | `nn.BatchNorm1d/2d(C)` |
//! | `layernorm` | `axes=1` (trailing dimensions normalized), `eps=1e-5`, `affine=true` | `nn.LayerNorm(shape[-axes:])` |
//! | `dropout(p)` | — | `nn.Dropout(p)` |
//! | `relu`, `sigmoid`, `tanh`, `leaky_relu(slope=0.01)`, `identity` | — | the activation |
//! | `residual(layers…)` | a sequence | `Residual(nn.Sequential(…))` |
//! | `repeat(n, layers…)` | a count and a sequence | the layers written `n` times (expanded when parsed) |
//!
//! Kernels, strides, paddings and dilations take one number for both axes
//! (`k`, `stride`, `pad`, `dilation`) and per-axis overrides (`kh`/`kw`,
//! `sh`/`sw`, `ph`/`pw`, `dh`/`dw`). Residual blocks nest at most
//! [`MAX_NESTING`] deep.
//!
//! - [`parse`] reads a string ([`ArchError`] points at what is wrong);
//!   [`to_string`] and `Display` write the canonical form.
//! - [`infer`] follows a per-example input shape through the layers, with
//!   each layer's parameter count ([`ShapeError`] names the layer).

mod args;
mod display;
mod error;
mod lex;
mod parse;
mod shape;
#[cfg(test)]
mod tests_display;
#[cfg(test)]
mod tests_parse;
#[cfg(test)]
mod tests_shape;

pub use display::{to_string, Sequence};
pub use error::ArchError;
pub use parse::{parse, LAYER_NAMES};
pub use shape::{infer, output_shape, total_params, LayerShape, ShapeError};

use crate::activation::Activation;
use chainrule::{Conv2dParams, Pool2dParams};

/// How deep `residual(…)` blocks may nest (so that parsing, shape inference
/// and the forward pass recurse a bounded number of times).
pub const MAX_NESTING: usize = 64;

/// The window of a pooling layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSpec {
    /// Window size (rows, columns).
    pub kernel: [usize; 2],
    /// Step between windows (rows, columns); defaults to the kernel.
    pub stride: [usize; 2],
    /// Implicit padding on each side (rows, columns).
    pub padding: [usize; 2],
}

/// A convolution layer's settings (the input channel count is inferred).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvSpec {
    /// Output channels.
    pub out_channels: usize,
    /// Kernel size (rows, columns).
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
    pub bias: bool,
}

/// A normalization layer's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NormSpec {
    pub eps: f64,
    /// Batch norm's running-statistics momentum (PyTorch's 0.1); unused by
    /// layer norm.
    pub momentum: f64,
    /// Whether the layer has a learned scale γ and shift β.
    pub affine: bool,
}

impl Default for NormSpec {
    fn default() -> Self {
        NormSpec {
            eps: 1e-5,
            momentum: 0.1,
            affine: true,
        }
    }
}

/// One layer of an architecture, as written.
#[derive(Clone, Debug, PartialEq)]
pub enum LayerKind {
    Linear {
        out_features: usize,
        bias: bool,
    },
    Conv2d(ConvSpec),
    MaxPool2d(PoolSpec),
    AvgPool2d(PoolSpec),
    GlobalAvgPool2d,
    Flatten,
    /// Over `[N, C]` (or `[N, C, L]`).
    BatchNorm1d(NormSpec),
    /// Over `[N, C, H, W]`.
    BatchNorm2d(NormSpec),
    /// Over the last `axes` dimensions.
    LayerNorm {
        axes: usize,
        norm: NormSpec,
    },
    /// Inverted dropout with drop probability `p` in `[0, 1)`.
    Dropout(f64),
    Activation(Activation),
    /// `x + body(x)`; the body must keep the shape.
    Residual(Vec<LayerSpec>),
}

/// A layer and where its text starts in the architecture string.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerSpec {
    pub kind: LayerKind,
    /// 0-based character position of the layer's name in the string it was
    /// parsed from (0 for layers built in code).
    pub at: usize,
}

impl LayerSpec {
    /// A layer built in code (no position in a string).
    pub fn new(kind: LayerKind) -> LayerSpec {
        LayerSpec { kind, at: 0 }
    }
}

impl LayerKind {
    /// The layer's name in architecture strings.
    pub fn name(&self) -> &'static str {
        match self {
            LayerKind::Linear { .. } => "linear",
            LayerKind::Conv2d(_) => "conv2d",
            LayerKind::MaxPool2d(_) => "maxpool2d",
            LayerKind::AvgPool2d(_) => "avgpool2d",
            LayerKind::GlobalAvgPool2d => "globalavgpool2d",
            LayerKind::Flatten => "flatten",
            LayerKind::BatchNorm1d(_) => "batchnorm1d",
            LayerKind::BatchNorm2d(_) => "batchnorm2d",
            LayerKind::LayerNorm { .. } => "layernorm",
            LayerKind::Dropout(_) => "dropout",
            LayerKind::Activation(a) => match a {
                Activation::Identity => "identity",
                Activation::Sigmoid => "sigmoid",
                Activation::Tanh => "tanh",
                Activation::Relu => "relu",
                Activation::LeakyRelu(_) => "leaky_relu",
            },
            LayerKind::Residual(_) => "residual",
        }
    }

    /// Checks the settings that do not depend on the input shape (sizes,
    /// strides and dilations positive, groups dividing the output channels,
    /// a pool's padding at most half its window, probabilities and epsilons
    /// in range, a residual body not empty; not the body's own layers), as
    /// the parser does for what it reads: layers built in code go through
    /// this too before [`infer`] divides by anything.
    pub fn check(&self) -> Result<(), String> {
        let name = self.name();
        let positive = |what: &str, v: &[usize]| {
            if v.contains(&0) {
                Err(format!("{name} {what} must be positive, got {v:?}"))
            } else {
                Ok(())
            }
        };
        match self {
            LayerKind::Linear { out_features, .. } => positive("output size", &[*out_features]),
            LayerKind::Conv2d(c) => {
                positive("output channels", &[c.out_channels])?;
                positive("kernel", &c.kernel)?;
                positive("stride", &c.stride)?;
                positive("dilation", &c.dilation)?;
                positive("groups", &[c.groups])?;
                let step = Conv2dParams::MAX_STEP;
                if [c.stride, c.padding, c.dilation]
                    .iter()
                    .flatten()
                    .any(|&v| v > step)
                    || c.groups > Conv2dParams::MAX_GROUPS
                {
                    return Err(format!(
                        "conv2d stride, padding and dilation are limited to {step} and groups to {}",
                        Conv2dParams::MAX_GROUPS
                    ));
                }
                if c.out_channels % c.groups != 0 {
                    return Err(format!(
                        "conv2d groups={} must divide its {} output channels",
                        c.groups, c.out_channels
                    ));
                }
                Ok(())
            }
            LayerKind::MaxPool2d(p) | LayerKind::AvgPool2d(p) => {
                positive("window", &p.kernel)?;
                positive("stride", &p.stride)?;
                let most = Pool2dParams::MAX_VALUE;
                if [p.kernel, p.stride, p.padding]
                    .iter()
                    .flatten()
                    .any(|&v| v > most)
                {
                    return Err(format!(
                        "{name} window, stride and padding are limited to {most}"
                    ));
                }
                for axis in 0..2 {
                    if p.padding[axis] > p.kernel[axis] / 2 {
                        return Err(format!(
                            "{name} padding {} is more than half its window {} (PyTorch requires pad ≤ k/2)",
                            p.padding[axis], p.kernel[axis]
                        ));
                    }
                }
                Ok(())
            }
            LayerKind::BatchNorm1d(n) | LayerKind::BatchNorm2d(n) => {
                check_norm(name, n)?;
                if !(n.momentum > 0.0 && n.momentum <= 1.0) {
                    return Err(format!(
                        "{name} momentum must be in (0, 1], got {}",
                        n.momentum
                    ));
                }
                Ok(())
            }
            LayerKind::LayerNorm { axes, norm } => {
                positive("axes", &[*axes])?;
                check_norm(name, norm)
            }
            LayerKind::Dropout(p) => {
                if (0.0..1.0).contains(p) {
                    Ok(())
                } else {
                    Err(format!("dropout p must be in [0, 1), got {p}"))
                }
            }
            LayerKind::Activation(Activation::LeakyRelu(s)) if !s.is_finite() => {
                Err(format!("leaky_relu slope must be a finite number, got {s}"))
            }
            LayerKind::Residual(body) if body.is_empty() => {
                Err("residual has an empty body".to_string())
            }
            _ => Ok(()),
        }
    }
}

fn check_norm(name: &str, n: &NormSpec) -> Result<(), String> {
    if n.eps > 0.0 && n.eps.is_finite() {
        Ok(())
    } else {
        Err(format!(
            "{name} eps must be a positive number, got {}",
            n.eps
        ))
    }
}
