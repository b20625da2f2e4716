//! Sequential networks with nested residual blocks, built from an
//! architecture ([`crate::arch`]): the model every command trains, saves,
//! loads and resumes.
//!
//! A [`Network`] is the sequence of its built layers ([`Layer`]), the
//! per-example input shape and the [`LayerSpec`]s it was built from.
//! Parameters are registered on the graph in sequence order (depth-first)
//! and named as PyTorch names the state_dict of the equivalent
//! `nn.Sequential`: the position in the sequence, then the parameter
//! (`0.weight`, `3.running_mean`); a residual block at position `i` is
//! `class Residual(nn.Module)` with `self.body = nn.Sequential(…)` and
//! `forward(x) = x + self.body(x)`, so its layers are `i.body.j.…`.
//!
//! Initialisation follows PyTorch's defaults per layer kind, with the
//! crate's [`Init`] for weights: linear and convolution weights with the
//! fan-in `in·kh·kw/groups` and the gain of the activation right after the
//! layer (1 if none), biases zero; weight-bearing layer `k` (depth-first)
//! draws from stream `seed + k`, exactly as [`Mlp::new`] does, so that
//! `--hidden` networks keep their weights. Norm layers start at γ = 1, β = 0.
//!
//! The [`Mode`] reaches every layer: in [`Mode::Train`] batch norm uses the
//! batch statistics and updates its running statistics in place (as
//! PyTorch: `running = (1 − m)·running + m·batch`, the running variance
//! from the unbiased batch variance `var·n/(n − 1)`, `num_batches_tracked +=
//! 1`) and dropout is active; in [`Mode::Eval`] batch norm uses the running
//! statistics and dropout is the identity.
//!
//! Dropout's mask key is [`dropout_key`]`(seed, step, path)`: a function of
//! the run's seed, the global step number and the layer's state_dict path
//! only, so a resumed run draws the same masks as one never stopped.

mod forward;
mod layer;
mod ops;
#[cfg(test)]
mod tests;

pub use forward::{LayerVisit, MAX_VALUES_PER_PASS};
pub use layer::{
    layer_number, specs_are_2d, BatchNormLayer, BnBuffers, ConvLayer, Layer, LayerNormLayer,
    LayerRow, LinearLayer,
};

use crate::activation::Activation;
use crate::arch::{LayerKind, LayerSpec};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::linear::Linear;
use crate::mlp::{self, Mlp, MlpSpec};
use chainrule::{Float, Graph, ParamId};

/// Training or evaluation behaviour of batch norm and dropout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Batch statistics (running statistics updated), dropout active.
    Train,
    /// Running statistics, dropout the identity.
    Eval,
}

/// A sequential network of built layers.
#[derive(Clone, Debug)]
pub struct Network<F: Float> {
    specs: Vec<LayerSpec>,
    input_shape: Vec<usize>,
    output_shape: Vec<usize>,
    layers: Vec<Layer>,
    rows: Vec<LayerRow>,
    bn: Vec<BnBuffers<F>>,
    /// The MLP spec it was built from ([`Network::from_mlp_spec`]).
    mlp_spec: Option<MlpSpec>,
    mode: Mode,
    seed: u64,
    step: u64,
    /// The graph nodes of each layer (summary order) in the last
    /// [`Network::forward`].
    spans: Vec<std::ops::Range<usize>>,
}

/// The text of one layer in the canonical form of an architecture string.
pub fn spec_text(spec: &LayerSpec) -> String {
    spec.to_string()
}

/// Parses an architecture string (`train --arch`, a model file's `arch`).
pub fn parse_arch(text: &str) -> Result<Vec<LayerSpec>> {
    Ok(crate::arch::parse(text)?)
}

/// The canonical text of an architecture, which [`parse_arch`] reads back.
pub fn arch_text(specs: &[LayerSpec]) -> String {
    crate::arch::to_string(specs)
}

/// Refuses an architecture that does not fit `input_shape` (the shape
/// inference's error) or needs more than `limit` parameter values, before
/// anything is allocated for it.
pub fn check_size(specs: &[LayerSpec], input_shape: &[usize], limit: usize) -> Result<()> {
    let shapes = crate::arch::infer(specs, input_shape)?;
    let n = crate::arch::total_params(&shapes);
    if n > limit {
        return Err(Error::config(
            "arch",
            format!("the architecture needs {n} parameter values, more than the {limit} allowed"),
        ));
    }
    Ok(())
}

/// The FNV-1a hash of a layer's state_dict path (`"3.body.1"`).
pub fn path_hash(path: &str) -> u64 {
    path.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The key of a dropout layer's mask at a training step:
/// `mix(mix(mix(seed) ^ step) ^ path_hash)`, with [`chainrule::rng::mix`]
/// (SplitMix64's finalizer) and [`path_hash`] of the layer's path. The
/// engine draws element `i`'s keep decision from `unit_at(key, i)`.
pub fn dropout_key(seed: u64, step: u64, path_hash: u64) -> u64 {
    use chainrule::rng::mix;
    mix(mix(mix(seed) ^ step) ^ path_hash)
}

impl<F: Float> Network<F> {
    /// Builds `specs` for examples of `input_shape` (without the batch
    /// axis), registering the parameters on `g` in sequence order and
    /// drawing weights by `init` from `seed` (see the module notes).
    pub fn new(
        g: &mut Graph<F>,
        specs: &[LayerSpec],
        input_shape: &[usize],
        init: Init,
        seed: u64,
    ) -> Result<Network<F>> {
        if specs.is_empty() {
            return Err(Error::config("arch", "the architecture has no layers"));
        }
        if input_shape.is_empty() || input_shape.contains(&0) {
            return Err(Error::config(
                "input-shape",
                format!("{input_shape:?} is not a shape of positive sizes"),
            ));
        }
        // The shape inference names the layer and both shapes.
        crate::arch::infer(specs, input_shape)?;
        let mut b = layer::Builder {
            g,
            init,
            seed,
            weighted: 0,
            count: 0,
            rows: Vec::new(),
            bn: Vec::new(),
        };
        let (layers, output_shape) = b.sequence(specs, "", input_shape.to_vec())?;
        let (rows, bn) = (b.rows, b.bn);
        Ok(Network {
            bn,
            mlp_spec: None,
            specs: specs.to_vec(),
            input_shape: input_shape.to_vec(),
            output_shape,
            layers,
            spans: vec![0..0; rows.len()],
            rows,
            mode: Mode::Train,
            seed: 0,
            step: 0,
        })
    }

    /// The network of an MLP spec: `linear(h)`, activation, …,
    /// `linear(out)` and the output activation unless it is the identity;
    /// the same weights as [`Mlp::new`] with the same `init` and `seed`.
    pub fn from_mlp_spec(
        g: &mut Graph<F>,
        spec: &MlpSpec,
        init: Init,
        seed: u64,
    ) -> Result<Network<F>> {
        spec.validate()?;
        let mut net = Network::new(g, &mlp_specs(spec), &spec.sizes[..1], init, seed)?;
        net.mlp_spec = Some(spec.clone());
        Ok(net)
    }

    /// The same architecture on `g` (another graph, maybe another
    /// precision) with zero parameters and this network's buffers, mode
    /// and step.
    pub fn rebuild_in<G: Float>(&self, g: &mut Graph<G>) -> Result<Network<G>> {
        let mut net = Network::new(g, &self.specs, &self.input_shape, Init::Zeros, 0)?;
        net.mlp_spec = self.mlp_spec.clone();
        let cast = |v: &[F]| {
            v.iter()
                .map(|x| G::from_f64(x.as_f64()))
                .collect::<Vec<G>>()
        };
        for (to, from) in net.bn.iter_mut().zip(&self.bn) {
            to.running_mean = cast(&from.running_mean);
            to.running_var = cast(&from.running_var);
            to.num_batches_tracked = from.num_batches_tracked;
        }
        net.mode = self.mode;
        net.seed = self.seed;
        net.step = self.step;
        Ok(net)
    }

    /// The layers as built.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The architecture it was built from.
    pub fn specs(&self) -> &[LayerSpec] {
        &self.specs
    }

    /// The per-example input shape (`[d]` or `[C, H, W]`).
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// The per-example output shape.
    pub fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }

    /// Values per example in and out.
    pub fn in_features(&self) -> usize {
        self.input_shape.iter().product()
    }

    pub fn out_features(&self) -> usize {
        self.output_shape.iter().product()
    }

    /// Every layer depth-first: path, text, output shape, parameter count.
    pub fn summary(&self) -> &[LayerRow] {
        &self.rows
    }

    /// Parameter values in all.
    pub fn parameter_count(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| !r.path.contains('.'))
            .map(|r| r.params)
            .sum()
    }

    /// Whether the network sees its examples as images.
    pub fn is_2d(&self) -> bool {
        self.layers.iter().any(Layer::is_2d)
    }

    /// The activation of the output: the last layer's if it is one, else
    /// the identity.
    pub fn output_activation(&self) -> Activation {
        match self.layers.last() {
            Some(Layer::Activation(a)) => *a,
            _ => Activation::Identity,
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Sets training or evaluation behaviour for every layer.
    pub fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
    }

    /// The run's seed and the global step of the next training forward
    /// pass: dropout's keys ([`dropout_key`]).
    pub fn set_step(&mut self, seed: u64, step: u64) {
        self.seed = seed;
        self.step = step;
    }

    /// Every parameter under its PyTorch name, in registration order.
    pub fn parameters(&self) -> Vec<(String, ParamId)> {
        let mut out = Vec::new();
        visit(&self.layers, "", &mut |path, l| match l {
            Layer::Linear(lin) => {
                out.push((format!("{path}.weight"), lin.weight));
                out.extend(lin.bias.map(|b| (format!("{path}.bias"), b)));
            }
            Layer::Conv2d(c) => {
                out.push((format!("{path}.weight"), c.weight));
                out.extend(c.bias.map(|b| (format!("{path}.bias"), b)));
            }
            Layer::BatchNorm(BatchNormLayer { gamma, beta, .. })
            | Layer::LayerNorm(LayerNormLayer { gamma, beta, .. }) => {
                out.extend(gamma.map(|p| (format!("{path}.weight"), p)));
                out.extend(beta.map(|p| (format!("{path}.bias"), p)));
            }
            _ => {}
        });
        out
    }

    /// Every name of the state_dict in PyTorch's order: each layer's
    /// parameters, then its buffers.
    pub fn state_dict_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        visit(&self.layers, "", &mut |path, l| {
            let has = |p: Option<ParamId>| p.is_some();
            let (w, b) = match l {
                Layer::Linear(lin) => (true, has(lin.bias)),
                Layer::Conv2d(c) => (true, has(c.bias)),
                Layer::BatchNorm(bn) => (has(bn.gamma), has(bn.beta)),
                Layer::LayerNorm(ln) => (has(ln.gamma), has(ln.beta)),
                _ => (false, false),
            };
            if w {
                out.push(format!("{path}.weight"));
            }
            if b {
                out.push(format!("{path}.bias"));
            }
            if let Layer::BatchNorm(_) = l {
                for buffer in ["running_mean", "running_var", "num_batches_tracked"] {
                    out.push(format!("{path}.{buffer}"));
                }
            }
        });
        out
    }

    /// The batch-norm layers' state_dict paths (`3`, `1.body.1`), in the
    /// order of [`Network::batch_norm_buffers`].
    pub fn batch_norm_paths(&self) -> Vec<String> {
        let mut out = Vec::new();
        visit(&self.layers, "", &mut |path, l| {
            if let Layer::BatchNorm(_) = l {
                out.push(path.to_string());
            }
        });
        out
    }

    /// Every batch-norm layer's buffers, depth-first.
    pub fn batch_norm_buffers(&self) -> &[BnBuffers<F>] {
        &self.bn
    }

    /// The same, to set them (loading a file or a checkpoint).
    pub fn batch_norm_buffers_mut(&mut self) -> &mut [BnBuffers<F>] {
        &mut self.bn
    }

    /// The floating-point buffers under their PyTorch names
    /// (`3.running_mean`, `3.running_var`) with their values.
    pub fn buffers(&self) -> Vec<(String, &[F])> {
        let mut out = Vec::new();
        for (path, b) in self.batch_norm_paths().into_iter().zip(&self.bn) {
            out.push((format!("{path}.running_mean"), &b.running_mean[..]));
            out.push((format!("{path}.running_var"), &b.running_var[..]));
        }
        out
    }

    /// The integer buffers (`3.num_batches_tracked`) with their values.
    pub fn int_buffers(&self) -> Vec<(String, u64)> {
        let paths = self.batch_norm_paths();
        paths
            .into_iter()
            .zip(&self.bn)
            .map(|(p, b)| (format!("{p}.num_batches_tracked"), b.num_batches_tracked))
            .collect()
    }

    /// The same network as an [`Mlp`] (sharing the parameters), if it is a
    /// stack of biased linear layers, each followed by at most one
    /// non-identity activation, all hidden activations alike, on flat input.
    pub fn as_mlp(&self) -> Option<Mlp> {
        if self.input_shape.len() != 1 {
            return None;
        }
        let mut layers = Vec::new();
        let mut sizes = vec![self.input_shape[0]];
        let mut acts = Vec::new();
        let mut prev_linear = false;
        for l in &self.layers {
            match l {
                Layer::Linear(lin) => {
                    if prev_linear {
                        acts.push(Activation::Identity);
                    }
                    layers.push(mlp::Layer::Linear(Linear {
                        weight: lin.weight,
                        bias: lin.bias?,
                        in_features: lin.in_features,
                        out_features: lin.out_features,
                    }));
                    sizes.push(lin.out_features);
                    prev_linear = true;
                }
                Layer::Activation(a) if prev_linear && *a != Activation::Identity => {
                    acts.push(*a);
                    layers.push(mlp::Layer::Activation(*a));
                    prev_linear = false;
                }
                _ => return None,
            }
        }
        if prev_linear {
            acts.push(Activation::Identity);
        }
        if let Some(spec) = &self.mlp_spec {
            return Some(Mlp {
                spec: spec.clone(),
                layers,
            });
        }
        let linears = sizes.len() - 1;
        if linears == 0 {
            return None;
        }
        let output_activation = acts[linears - 1];
        let hidden = &acts[..linears - 1];
        let activation = hidden.first().copied().unwrap_or(Activation::Relu);
        if hidden.iter().any(|a| *a != activation) {
            return None;
        }
        Some(Mlp {
            spec: MlpSpec {
                sizes,
                activation,
                output_activation,
            },
            layers,
        })
    }

    /// The first top-level layer an MLP view cannot show, 1-based with its
    /// text (`layer 1 conv2d(6,5,pad=2)`), if the network is not an MLP.
    pub fn first_non_mlp_layer(&self) -> Option<String> {
        if self.as_mlp().is_some() {
            return None;
        }
        let bad = self
            .layers
            .iter()
            .position(|l| {
                !matches!(l, Layer::Linear(lin) if lin.bias.is_some())
                    && !matches!(l, Layer::Activation(a) if *a != Activation::Identity)
            })
            .unwrap_or(0);
        Some(format!("layer {} {}", bad + 1, spec_text(&self.specs[bad])))
    }
}

/// The architecture of an MLP spec.
pub fn mlp_specs(spec: &MlpSpec) -> Vec<LayerSpec> {
    let n = spec.sizes.len() - 1;
    let mut specs = Vec::new();
    for k in 0..n {
        specs.push(LayerSpec::new(LayerKind::Linear {
            out_features: spec.sizes[k + 1],
            bias: true,
        }));
        let act = if k + 1 < n {
            spec.activation
        } else {
            spec.output_activation
        };
        if act != Activation::Identity {
            specs.push(LayerSpec::new(LayerKind::Activation(act)));
        }
    }
    specs
}

/// Calls `f(path, layer)` for every layer depth-first.
fn visit(layers: &[Layer], prefix: &str, f: &mut dyn FnMut(&str, &Layer)) {
    for (i, l) in layers.iter().enumerate() {
        let path = format!("{prefix}{i}");
        f(&path, l);
        if let Layer::Residual(body) = l {
            visit(body, &format!("{path}.body."), f);
        }
    }
}
