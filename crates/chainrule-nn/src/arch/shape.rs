//! Shape inference: a per-example input shape followed through the layers
//! by PyTorch's rules, with each layer's parameter count, so that a wrong
//! architecture is an error naming the layer before anything is allocated.

use super::{LayerKind, LayerSpec, NormSpec, MAX_NESTING};
use crate::mlp::MAX_PARAMETERS;

/// One layer's shapes (per example, no batch axis) and parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerShape {
    /// 0-based positions from the outermost sequence: `[3]` for its layer
    /// 3, `[3, 1]` for layer 1 of the body of the residual at 3.
    pub path: Vec<usize>,
    pub input: Vec<usize>,
    pub output: Vec<usize>,
    /// The layer's own weights and biases (γ and β for normalization);
    /// 0 for a residual, whose body's layers count theirs.
    pub params: usize,
}

/// Why an architecture does not fit its input: names the layer (1-based,
/// `3.2` for layer 2 of the residual at 3), its text, its character and the
/// shapes involved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ShapeError {
    /// The layer's 0-based path (empty: the input itself).
    pub path: Vec<usize>,
    /// The layer's character position in its architecture string.
    pub at: usize,
    message: String,
}

impl ShapeError {
    /// The whole message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The shapes and parameter counts of every layer for a per-example
/// `input` shape (`[D]` for vectors, `[C, H, W]` for images), in the order
/// a forward pass visits them (a residual, then its body's layers).
/// Errors if a layer does not take the shape it is given, or the network
/// has more than [`MAX_PARAMETERS`] parameters.
pub fn infer(layers: &[LayerSpec], input: &[usize]) -> Result<Vec<LayerShape>, ShapeError> {
    Ok(run(layers, input)?.0)
}

/// The network's output shape for a per-example `input` shape (the input
/// itself for no layers), checked as [`infer`] checks.
pub fn output_shape(layers: &[LayerSpec], input: &[usize]) -> Result<Vec<usize>, ShapeError> {
    Ok(run(layers, input)?.1)
}

/// The parameters of all layers of `shapes` (as [`infer`] returns them).
pub fn total_params(shapes: &[LayerShape]) -> usize {
    shapes.iter().fold(0, |n, s| n.saturating_add(s.params))
}

/// Most values one example may have at any layer's input or output (2^25:
/// 128 MiB in f32), checked before anything is allocated, so that a model
/// file or checkpoint claiming a huge input shape (whose layers may have no
/// parameters to count, such as a batch norm's buffers sized by its
/// channels) is an error, not an aborted allocation.
pub const MAX_VALUES_PER_EXAMPLE: usize = 1 << 25;

fn run(layers: &[LayerSpec], input: &[usize]) -> Result<(Vec<LayerShape>, Vec<usize>), ShapeError> {
    if let Some(n) = volume(input).filter(|&n| n > MAX_VALUES_PER_EXAMPLE) {
        return Err(ShapeError {
            path: Vec::new(),
            at: 0,
            message: format!(
                "the input shape {} holds {n} values per example, over the limit of {MAX_VALUES_PER_EXAMPLE}",
                dims(input)
            ),
        });
    }
    if input.is_empty() || input.contains(&0) || volume(input).is_none() {
        return Err(ShapeError {
            path: Vec::new(),
            at: 0,
            message: format!(
                "the input shape [{}] must have at least one axis, each of positive size, and a countable number of values",
                input.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
            ),
        });
    }
    let mut walk = Walk {
        shapes: Vec::new(),
        total: 0,
    };
    let output = walk.sequence(layers, &[], input.to_vec())?;
    Ok((walk.shapes, output))
}

struct Walk {
    shapes: Vec<LayerShape>,
    total: usize,
}

impl Walk {
    /// Follows `shape` through `layers`, which sit at `prefix`; returns
    /// the output shape.
    fn sequence(
        &mut self,
        layers: &[LayerSpec],
        prefix: &[usize],
        mut shape: Vec<usize>,
    ) -> Result<Vec<usize>, ShapeError> {
        let mut from = if prefix.is_empty() {
            "the input is".to_string()
        } else {
            format!("the input of residual layer {} is", number(prefix))
        };
        for (i, layer) in layers.iter().enumerate() {
            let mut path = prefix.to_vec();
            path.push(i);
            let label = format!("layer {} {} (character {})", number(&path), layer, layer.at);
            let fail = |message: String| ShapeError {
                path: path.clone(),
                at: layer.at,
                message,
            };
            layer
                .kind
                .check()
                .map_err(|detail| fail(format!("{label}: {detail}")))?;
            let output = if let LayerKind::Residual(body) = &layer.kind {
                if path.len() > MAX_NESTING {
                    return Err(fail(format!(
                        "{label}: residual blocks nested more than {MAX_NESTING} deep"
                    )));
                }
                self.shapes.push(LayerShape {
                    path: path.clone(),
                    input: shape.clone(),
                    output: shape.clone(),
                    params: 0,
                });
                let body_output = self.sequence(body, &path, shape.clone())?;
                if body_output != shape {
                    return Err(fail(format!(
                        "{label} must keep its input's shape {}, but its body gives {}",
                        dims(&shape),
                        dims(&body_output)
                    )));
                }
                shape
            } else {
                let (output, params) =
                    step(&layer.kind, &shape, &from).map_err(|e| fail(format!("{label} {e}")))?;
                match volume(&output) {
                    None => {
                        return Err(fail(format!(
                            "{label} gives more values than can be counted"
                        )))
                    }
                    Some(n) if n > MAX_VALUES_PER_EXAMPLE => {
                        return Err(fail(format!(
                            "{label} gives {} = {n} values per example, over the limit of {MAX_VALUES_PER_EXAMPLE}",
                            dims(&output)
                        )))
                    }
                    Some(_) => {}
                }
                self.total = match self.total.checked_add(params) {
                    Some(t) if t <= MAX_PARAMETERS => t,
                    _ => {
                        return Err(fail(format!(
                            "{label} has {params} parameters, which brings the network over the limit of {MAX_PARAMETERS}"
                        )))
                    }
                };
                self.shapes.push(LayerShape {
                    path: path.clone(),
                    input: shape,
                    output: output.clone(),
                    params,
                });
                output
            };
            from = format!("layer {} {layer} gives", number(&path));
            shape = output;
        }
        Ok(shape)
    }
}

/// A layer's output shape and parameter count for `input`, or what is
/// wrong (completing "layer N text (character C) …"); `from` says where
/// the input comes from ("the input is", "layer 8 maxpool2d(2) gives").
fn step(kind: &LayerKind, input: &[usize], from: &str) -> Result<(Vec<usize>, usize), String> {
    let got = || format!("{from} {}", described(input));
    let first = from.starts_with("the input is");
    let too_many = || "has more parameters than can be counted".to_string();
    let image = || -> Result<[usize; 3], String> {
        match *input {
            [c, h, w] => Ok([c, h, w]),
            _ => {
                let hint = if first {
                    ": give the data an image shape (digits and mnist: are images; --input-shape C,H,W reads a csv: file as images)"
                } else if input.len() == 1 {
                    ": image layers must come before the layers that make vectors"
                } else {
                    ""
                };
                Err(format!(
                    "needs an image [channels, height, width], but {}{hint}",
                    got()
                ))
            }
        }
    };
    Ok(match kind {
        LayerKind::Linear { out_features, bias } => {
            let [d] = *input else {
                return Err(format!(
                    "takes a vector, but {}: add flatten before it",
                    got()
                ));
            };
            let params = d
                .checked_mul(*out_features)
                .and_then(|w| w.checked_add(if *bias { *out_features } else { 0 }))
                .ok_or_else(too_many)?;
            (vec![*out_features], params)
        }
        LayerKind::Conv2d(c) => {
            let [channels, h, w] = image()?;
            if channels % c.groups != 0 {
                return Err(format!(
                    "has groups={}, which must divide its input channels, but {}",
                    c.groups,
                    got()
                ));
            }
            let mut out = [0; 2];
            for axis in 0..2 {
                let size = [h, w][axis];
                let span = (c.kernel[axis] - 1)
                    .checked_mul(c.dilation[axis])
                    .and_then(|s| s.checked_add(1));
                let padded = c.padding[axis]
                    .checked_mul(2)
                    .and_then(|p| p.checked_add(size));
                match (span, padded) {
                    (Some(span), Some(padded)) if span <= padded => {
                        out[axis] = (padded - span) / c.stride[axis] + 1;
                    }
                    _ => return Err(too_small("kernel", c.kernel, c.dilation, c.padding, &got())),
                }
            }
            let per_filter = (channels / c.groups)
                .checked_mul(c.kernel[0])
                .and_then(|n| n.checked_mul(c.kernel[1]));
            let params = per_filter
                .and_then(|n| n.checked_mul(c.out_channels))
                .and_then(|n| n.checked_add(if c.bias { c.out_channels } else { 0 }))
                .ok_or_else(too_many)?;
            (vec![c.out_channels, out[0], out[1]], params)
        }
        LayerKind::MaxPool2d(p) | LayerKind::AvgPool2d(p) => {
            let [channels, h, w] = image()?;
            let mut out = [0; 2];
            for axis in 0..2 {
                let size = [h, w][axis];
                let Some(padded) = p.padding[axis]
                    .checked_mul(2)
                    .and_then(|p| p.checked_add(size))
                else {
                    return Err(too_small("window", p.kernel, [1, 1], p.padding, &got()));
                };
                if p.kernel[axis] > padded {
                    return Err(too_small("window", p.kernel, [1, 1], p.padding, &got()));
                }
                out[axis] = (padded - p.kernel[axis]) / p.stride[axis] + 1;
            }
            (vec![channels, out[0], out[1]], 0)
        }
        LayerKind::GlobalAvgPool2d => {
            let [channels, _, _] = image()?;
            (vec![channels], 0)
        }
        LayerKind::Flatten => (vec![volume(input).ok_or_else(too_many)?], 0),
        LayerKind::BatchNorm1d(n) => {
            let (&[c] | &[c, _]) = input else {
                return Err(format!(
                    "needs [channels] or [channels, length], but {}: use batchnorm2d for images",
                    got()
                ));
            };
            (input.to_vec(), affine(n, c).ok_or_else(too_many)?)
        }
        LayerKind::BatchNorm2d(n) => {
            let &[c, _, _] = input else {
                return Err(format!(
                    "needs an image [channels, height, width], but {}: use batchnorm1d for vectors",
                    got()
                ));
            };
            (input.to_vec(), affine(n, c).ok_or_else(too_many)?)
        }
        LayerKind::LayerNorm { axes, norm } => {
            if *axes > input.len() {
                return Err(format!(
                    "normalizes the last {axes} axes, but {} with {} axis{}",
                    got(),
                    input.len(),
                    if input.len() == 1 { "" } else { "es" }
                ));
            }
            let normalized = volume(&input[input.len() - axes..]).ok_or_else(too_many)?;
            (
                input.to_vec(),
                affine(norm, normalized).ok_or_else(too_many)?,
            )
        }
        LayerKind::Dropout(_) | LayerKind::Activation(_) => (input.to_vec(), 0),
        LayerKind::Residual(_) => unreachable!("residual blocks are walked by Walk::sequence"),
    })
}

/// "its kernel 5×5 does not fit …" for a window that is larger than the
/// padded input.
fn too_small(what: &str, k: [usize; 2], d: [usize; 2], p: [usize; 2], got: &str) -> String {
    let dilated = if d == [1, 1] {
        String::new()
    } else {
        format!(" dilated by {}×{}", d[0], d[1])
    };
    let padded = if p == [0, 0] {
        String::new()
    } else {
        format!(" padded by {}×{}", p[0], p[1])
    };
    format!(
        "has a {what} of {}×{}{dilated} that does not fit its input{padded}: {got}: use a smaller {what}, more padding or fewer downsampling layers before it",
        k[0], k[1]
    )
}

/// γ and β over `n` features when the layer is affine.
fn affine(n: &NormSpec, features: usize) -> Option<usize> {
    if n.affine {
        features.checked_mul(2)
    } else {
        Some(0)
    }
}

/// The number of values of a shape, if it fits a `usize`.
fn volume(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// `3.2` for the path `[2, 1]`.
fn number(path: &[usize]) -> String {
    path.iter()
        .map(|i| (i + 1).to_string())
        .collect::<Vec<_>>()
        .join(".")
}

/// `16×5×5`.
pub(super) fn dims(shape: &[usize]) -> String {
    shape
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join("×")
}

/// "a vector of 64 values" or "16×5×5 = 400 values".
fn described(shape: &[usize]) -> String {
    let n = volume(shape).map_or_else(|| "too many".to_string(), |n| n.to_string());
    match shape {
        [d] => format!("a vector of {d} values"),
        _ => format!("{} = {n} values", dims(shape)),
    }
}
