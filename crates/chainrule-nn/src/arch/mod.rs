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
//! | `globalavgpool2d` | — | `nn.AdaptiveAvgPool2d(1)` + flatten |
//! | `flatten` | — | `nn.Flatten()` |
//! | `batchnorm1d`, `batchnorm2d` | `eps=1e-5`, `momentum=0.1`, `affine=true` | `nn.BatchNorm1d/2d(C)` |
//! | `layernorm` | `axes=1` (trailing dimensions normalized), `eps=1e-5`, `affine=true` | `nn.LayerNorm(shape[-axes:])` |
//! | `dropout(p)` | — | `nn.Dropout(p)` |
//! | `relu`, `sigmoid`, `tanh`, `leaky_relu(slope=0.01)`, `identity` | — | the activation |
//! | `residual(layers…)` | a sequence | `Residual(nn.Sequential(…))` |

use crate::activation::Activation;

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
    Linear { out_features: usize, bias: bool },
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
    LayerNorm { axes: usize, norm: NormSpec },
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
