//! The canonical text of layers: lowercase names, positional arguments
//! where the grammar has them, settings at their defaults omitted, no
//! spaces. It parses back to the same layers (positions aside).

use super::{ConvSpec, LayerKind, LayerSpec, NormSpec, PoolSpec};
use crate::activation::Activation;
use std::fmt::{self, Write};

/// The canonical text of a sequence of layers, e.g.
/// `conv2d(6,5,pad=2),relu,maxpool2d(2),flatten,linear(10)`.
pub fn to_string(layers: &[LayerSpec]) -> String {
    Sequence(layers).to_string()
}

/// Displays a sequence of layers, comma-separated, canonically.
#[derive(Clone, Copy, Debug)]
pub struct Sequence<'a>(pub &'a [LayerSpec]);

impl fmt::Display for Sequence<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, layer) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_char(',')?;
            }
            write!(f, "{layer}")?;
        }
        Ok(())
    }
}

impl fmt::Display for LayerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl fmt::Display for LayerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut args: Vec<String> = Vec::new();
        match self {
            LayerKind::Linear { out_features, bias } => {
                args.push(out_features.to_string());
                if !bias {
                    args.push("bias=false".into());
                }
            }
            LayerKind::Conv2d(c) => conv_args(c, &mut args),
            LayerKind::MaxPool2d(p) | LayerKind::AvgPool2d(p) => pool_args(p, &mut args),
            LayerKind::BatchNorm1d(n) | LayerKind::BatchNorm2d(n) => norm_args(n, true, &mut args),
            LayerKind::LayerNorm { axes, norm } => {
                if *axes != 1 {
                    args.push(format!("axes={axes}"));
                }
                norm_args(norm, false, &mut args);
            }
            LayerKind::Dropout(p) => args.push(real(*p)),
            LayerKind::Activation(Activation::LeakyRelu(s)) if *s != Activation::LEAKY_SLOPE => {
                args.push(real(*s))
            }
            LayerKind::Residual(body) => return write!(f, "residual({})", Sequence(body)),
            LayerKind::GlobalAvgPool2d | LayerKind::Flatten | LayerKind::Activation(_) => {}
        }
        f.write_str(self.name())?;
        if !args.is_empty() {
            write!(f, "({})", args.join(","))?;
        }
        Ok(())
    }
}

/// `k=v` for a pair equal on both axes, else `h=…,w=…`; nothing if it is
/// the default.
fn pair_args(
    [both, rows, cols]: [&str; 3],
    v: [usize; 2],
    default: [usize; 2],
    args: &mut Vec<String>,
) {
    if v == default {
        return;
    }
    if v[0] == v[1] {
        args.push(format!("{both}={}", v[0]));
    } else {
        args.push(format!("{rows}={}", v[0]));
        args.push(format!("{cols}={}", v[1]));
    }
}

/// The kernel: positional if square, else `kh=…,kw=…`.
fn kernel_args(k: [usize; 2], args: &mut Vec<String>) {
    if k[0] == k[1] {
        args.push(k[0].to_string());
    } else {
        args.push(format!("kh={}", k[0]));
        args.push(format!("kw={}", k[1]));
    }
}

fn conv_args(c: &ConvSpec, args: &mut Vec<String>) {
    args.push(c.out_channels.to_string());
    kernel_args(c.kernel, args);
    pair_args(["stride", "sh", "sw"], c.stride, [1, 1], args);
    pair_args(["pad", "ph", "pw"], c.padding, [0, 0], args);
    pair_args(["dilation", "dh", "dw"], c.dilation, [1, 1], args);
    if c.groups != 1 {
        args.push(format!("groups={}", c.groups));
    }
    if !c.bias {
        args.push("bias=false".into());
    }
}

fn pool_args(p: &PoolSpec, args: &mut Vec<String>) {
    kernel_args(p.kernel, args);
    if p.stride != p.kernel {
        // Both axes written: an axis left out would default to the kernel.
        if p.stride[0] == p.stride[1] {
            args.push(format!("stride={}", p.stride[0]));
        } else {
            args.push(format!("sh={}", p.stride[0]));
            args.push(format!("sw={}", p.stride[1]));
        }
    }
    pair_args(["pad", "ph", "pw"], p.padding, [0, 0], args);
}

fn norm_args(n: &NormSpec, momentum: bool, args: &mut Vec<String>) {
    let d = NormSpec::default();
    if n.eps != d.eps {
        args.push(format!("eps={}", real(n.eps)));
    }
    if momentum && n.momentum != d.momentum {
        args.push(format!("momentum={}", real(n.momentum)));
    }
    if !n.affine {
        args.push("affine=false".into());
    }
}

/// A real number as the shortest text that reads back to it: plain for
/// moderate magnitudes (`0.5`, `0.001`), with an exponent otherwise
/// (`1e-5`, `2.5e20`).
pub(super) fn real(x: f64) -> String {
    if x == 0.0 || (1e-4..1e16).contains(&x.abs()) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}
