//! A multilayer perceptron as a sequence of layers, named as PyTorch names
//! the state_dict of the equivalent `torch.nn.Sequential`: Linear,
//! activation, Linear, …, with the output activation omitted when it is the
//! identity, so parameters are `0.weight`, `0.bias`, `2.weight`, ….

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::init::Init;
use crate::linear::Linear;
use crate::loss::LossKind;
use crate::module::Module;
use chainrule::{Float, Graph, ParamId, Var};
use std::collections::BTreeMap;

/// Most weights and biases a network may have (2^28: 1 GiB in f32), checked
/// before anything is allocated, so that `--hidden 1000000,1000000` or a
/// model file's metadata claiming such layers is an error, not an abort.
pub const MAX_PARAMETERS: usize = 1 << 28;

/// The architecture of an MLP: what a model file's metadata records.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpSpec {
    /// Layer sizes from input to output, e.g. `[64, 64, 32, 10]`.
    pub sizes: Vec<usize>,
    /// Activation after every hidden layer.
    pub activation: Activation,
    /// Activation after the last layer (usually identity: logits).
    pub output_activation: Activation,
}

/// A linear layer as the lesson counts it: layer 1 is the first weight
/// layer (W1, b1), whatever its position in the `Sequential`.
#[derive(Clone, Copy, Debug)]
pub struct NumberedLinear {
    /// 1 for the layer nearest the input (the lesson's W1).
    pub number: usize,
    /// Its position in the sequence: the state_dict prefix (`0` of `0.weight`).
    pub index: usize,
    pub linear: Linear,
}

impl NumberedLinear {
    /// The weight's state_dict name, e.g. `0.weight`.
    pub fn weight_key(&self) -> String {
        format!("{}.weight", self.index)
    }

    /// The bias's state_dict name, e.g. `0.bias`.
    pub fn bias_key(&self) -> String {
        format!("{}.bias", self.index)
    }

    /// `layer 1 (0.weight, 0.bias)`: the lesson's number with the
    /// state_dict names beside it.
    pub fn title(&self) -> String {
        format!(
            "layer {} ({}, {})",
            self.number,
            self.weight_key(),
            self.bias_key()
        )
    }
}

/// One element of the sequence.
#[derive(Clone, Copy, Debug)]
pub enum Layer {
    Linear(Linear),
    Activation(Activation),
}

/// A multilayer perceptron.
#[derive(Clone, Debug)]
pub struct Mlp {
    pub spec: MlpSpec,
    pub layers: Vec<Layer>,
}

impl MlpSpec {
    /// Checks the sizes: at least input and output, none zero, and at most
    /// [`MAX_PARAMETERS`] weights and biases in all.
    pub fn validate(&self) -> Result<()> {
        if self.sizes.len() < 2 || self.sizes.contains(&0) {
            return Err(Error::config(
                "layers",
                format!(
                    "need at least an input and an output size, all positive; got {:?}",
                    self.sizes
                ),
            ));
        }
        let count = self.sizes.windows(2).try_fold(0usize, |acc, w| {
            w[0].checked_add(1)?
                .checked_mul(w[1])
                .and_then(|n| acc.checked_add(n))
        });
        match count {
            Some(n) if n <= MAX_PARAMETERS => Ok(()),
            _ => Err(Error::config(
                "layers",
                format!(
                    "sizes {:?} make {} weights and biases, over the limit of {MAX_PARAMETERS}",
                    self.sizes,
                    count.map_or("more than 2^64".to_string(), |n| n.to_string())
                ),
            )),
        }
    }

    /// The network for `loss`: hidden layers of `activation`, and the
    /// output activation `output` if asked for, else the loss's own
    /// ([`LossKind::default_output_activation`]: identity, i.e. a linear
    /// output or logits), checked against how the loss reads it
    /// ([`LossKind::reading`]). Every command that builds a network from
    /// flags builds it here.
    pub fn for_loss(
        sizes: Vec<usize>,
        activation: Activation,
        loss: LossKind,
        output: Option<Activation>,
    ) -> Result<MlpSpec> {
        let output_activation = output.unwrap_or_else(|| loss.default_output_activation());
        loss.reading(output_activation)?;
        let spec = MlpSpec {
            sizes,
            activation,
            output_activation,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// The metadata entries describing this architecture.
    pub fn to_metadata(&self) -> BTreeMap<String, String> {
        let sizes: Vec<String> = self.sizes.iter().map(|s| s.to_string()).collect();
        BTreeMap::from([
            ("format".to_string(), "chainrule-mlp".to_string()),
            ("layers".to_string(), sizes.join(",")),
            ("activation".to_string(), self.activation.name()),
            (
                "output_activation".to_string(),
                self.output_activation.name(),
            ),
        ])
    }

    /// Reads an architecture from model-file metadata.
    pub fn from_metadata(meta: &BTreeMap<String, String>) -> Result<MlpSpec> {
        let get = |key: &str| {
            meta.get(key).ok_or_else(|| {
                Error::config("model metadata", format!("the key '{key}' is missing"))
            })
        };
        let spec = MlpSpec {
            sizes: parse_sizes("layers", get("layers")?)?,
            activation: Activation::parse(get("activation")?)?,
            output_activation: Activation::parse(get("output_activation")?)?,
        };
        spec.validate()?;
        Ok(spec)
    }
}

/// Parses `"64,32"` into sizes; errors name `setting`.
pub fn parse_sizes(setting: &str, s: &str) -> Result<Vec<usize>> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|p| {
            p.trim().parse::<usize>().map_err(|_| {
                Error::config(setting, format!("'{p}' in '{s}' is not a positive integer"))
            })
        })
        .collect()
}

impl Mlp {
    /// A network with freshly initialised weights: layer `k` draws from
    /// stream `seed + k`.
    pub fn new<F: Float>(g: &mut Graph<F>, spec: MlpSpec, init: Init, seed: u64) -> Result<Mlp> {
        spec.validate()?;
        let n = spec.sizes.len() - 1;
        let mut layers = Vec::new();
        for k in 0..n {
            let act = if k + 1 < n {
                spec.activation
            } else {
                spec.output_activation
            };
            let lin = Linear::new(
                g,
                spec.sizes[k],
                spec.sizes[k + 1],
                init,
                act.gain(),
                seed.wrapping_add(k as u64),
            )?;
            layers.push(Layer::Linear(lin));
            if act != Activation::Identity {
                layers.push(Layer::Activation(act));
            }
        }
        Ok(Mlp { spec, layers })
    }

    /// The linear layers, input first.
    pub fn linears(&self) -> impl Iterator<Item = &Linear> {
        self.layers.iter().filter_map(|l| match l {
            Layer::Linear(lin) => Some(lin),
            Layer::Activation(_) => None,
        })
    }

    /// The linear layers numbered as the lesson numbers them (1 = nearest
    /// the input) with their state_dict positions: the one numbering every
    /// table, picture and JSON field uses.
    pub fn numbered_linears(&self) -> Vec<NumberedLinear> {
        self.layers
            .iter()
            .enumerate()
            .filter_map(|(index, l)| match l {
                Layer::Linear(linear) => Some((index, *linear)),
                Layer::Activation(_) => None,
            })
            .enumerate()
            .map(|(k, (index, linear))| NumberedLinear {
                number: k + 1,
                index,
                linear,
            })
            .collect()
    }

    /// The lesson's number of the layer that sequence element `index`
    /// belongs to: a linear layer's own, an activation's that of the linear
    /// layer before it (0 if none).
    pub fn layer_number(&self, index: usize) -> usize {
        self.layers
            .iter()
            .take(index + 1)
            .filter(|l| matches!(l, Layer::Linear(_)))
            .count()
    }

    /// The number of inputs.
    pub fn in_features(&self) -> usize {
        self.spec.sizes[0]
    }

    /// The number of outputs.
    pub fn out_features(&self) -> usize {
        self.spec.sizes[self.spec.sizes.len() - 1]
    }
}

impl<F: Float> Module<F> for Mlp {
    /// Each linear layer with the activation after it fused into its bias
    /// (one op), where the activation has a fused form.
    fn forward<'g>(&self, g: &'g Graph<F>, x: Var<'g, F>) -> Result<Var<'g, F>> {
        let mut h = x;
        let mut layers = self.layers.iter().peekable();
        while let Some(layer) = layers.next() {
            h = match layer {
                Layer::Linear(lin) => {
                    let fused = match layers.peek() {
                        Some(Layer::Activation(a)) => a.fused(),
                        _ => None,
                    };
                    match fused {
                        Some(act) => {
                            layers.next();
                            lin.forward_act(g, h, act)?
                        }
                        None => lin.forward(g, h)?,
                    }
                }
                Layer::Activation(a) => a.apply(h),
            };
        }
        Ok(h)
    }

    /// `"{index}.weight"` and `"{index}.bias"` for each linear layer, its
    /// index being its position in the sequence (as in PyTorch).
    fn parameters(&self) -> Vec<(String, ParamId)> {
        let mut out = Vec::new();
        for l in self.numbered_linears() {
            out.push((l.weight_key(), l.linear.weight));
            out.push((l.bias_key(), l.linear.bias));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pytorch_names_and_metadata() {
        let mut g = Graph::<f32>::new();
        let spec = MlpSpec {
            sizes: vec![4, 8, 6, 3],
            activation: Activation::Relu,
            output_activation: Activation::Identity,
        };
        let mlp = Mlp::new(&mut g, spec.clone(), Init::KaimingUniform, 0).unwrap();
        let names: Vec<String> = Module::<f32>::parameters(&mlp)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            names,
            ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
        );
        assert_eq!(MlpSpec::from_metadata(&spec.to_metadata()).unwrap(), spec);
        let sig = MlpSpec {
            sizes: vec![2, 2, 1],
            activation: Activation::Sigmoid,
            output_activation: Activation::Sigmoid,
        };
        let mlp = Mlp::new(&mut g, sig, Init::XavierUniform, 0).unwrap();
        let names: Vec<String> = Module::<f32>::parameters(&mlp)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
        let numbered: Vec<String> = mlp.numbered_linears().iter().map(|l| l.title()).collect();
        assert_eq!(
            numbered,
            ["layer 1 (0.weight, 0.bias)", "layer 2 (2.weight, 2.bias)"]
        );
        // Sequence: 0 linear, 1 sigmoid, 2 linear, 3 sigmoid.
        let numbers: Vec<usize> = (0..4).map(|i| mlp.layer_number(i)).collect();
        assert_eq!(numbers, [1, 1, 2, 2]);
        assert!(parse_sizes("hidden", "64,x")
            .unwrap_err()
            .to_string()
            .starts_with("hidden:"));
    }
}
