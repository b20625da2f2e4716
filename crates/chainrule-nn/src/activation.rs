//! Activation functions as layers, with their names (ours and PyTorch's)
//! and the initialisation gain each calls for.

use crate::error::{Error, Result};
use chainrule::{BiasAct, Float, Var};

/// An elementwise activation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `x`.
    Identity,
    /// `1 / (1 + e^−x)`.
    Sigmoid,
    /// `tanh x`.
    Tanh,
    /// `max(0, x)`.
    Relu,
    /// `x` for x > 0, else `slope · x`.
    LeakyRelu(f64),
}

impl Activation {
    /// The default slope of leaky ReLU (PyTorch's).
    pub const LEAKY_SLOPE: f64 = 0.01;

    /// Applies the activation.
    pub fn apply<'g, F: Float>(&self, x: Var<'g, F>) -> Var<'g, F> {
        match *self {
            Activation::Identity => x,
            Activation::Sigmoid => x.sigmoid(),
            Activation::Tanh => x.tanh(),
            Activation::Relu => x.relu(),
            Activation::LeakyRelu(slope) => x.leaky_relu(slope),
        }
    }

    /// The name used on the command line and in model files.
    /// The same activation as the engine's fused bias + activation op, if
    /// it has one (leaky ReLU has not).
    pub fn fused(&self) -> Option<BiasAct> {
        match *self {
            Activation::Identity => Some(BiasAct::Identity),
            Activation::Sigmoid => Some(BiasAct::Sigmoid),
            Activation::Tanh => Some(BiasAct::Tanh),
            Activation::Relu => Some(BiasAct::Relu),
            Activation::LeakyRelu(_) => None,
        }
    }

    pub fn name(&self) -> String {
        match *self {
            Activation::Identity => "identity".into(),
            Activation::Sigmoid => "sigmoid".into(),
            Activation::Tanh => "tanh".into(),
            Activation::Relu => "relu".into(),
            Activation::LeakyRelu(s) if s == Self::LEAKY_SLOPE => "leaky_relu".into(),
            Activation::LeakyRelu(s) => format!("leaky_relu:{s}"),
        }
    }

    /// Parses `identity`, `sigmoid`, `tanh`, `relu`, `leaky_relu` or
    /// `leaky_relu:SLOPE`.
    pub fn parse(s: &str) -> Result<Activation> {
        let bad = || {
            Error::config("activation", format!("unknown activation '{s}' (expected identity, sigmoid, tanh, relu, leaky_relu or leaky_relu:SLOPE)"))
        };
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "identity" | "linear" | "none" => Activation::Identity,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            "leaky_relu" | "leaky-relu" | "leakyrelu" => Activation::LeakyRelu(Self::LEAKY_SLOPE),
            other => match other.strip_prefix("leaky_relu:").map(str::parse::<f64>) {
                Some(Ok(slope)) if slope.is_finite() => Activation::LeakyRelu(slope),
                _ => return Err(bad()),
            },
        })
    }

    /// The gain of the initialisers for this activation, as
    /// `torch.nn.init.calculate_gain`: sigmoid 1, tanh 5/3, ReLU √2,
    /// leaky ReLU √(2 / (1 + slope²)), identity 1.
    pub fn gain(&self) -> f64 {
        match *self {
            Activation::Identity | Activation::Sigmoid => 1.0,
            Activation::Tanh => 5.0 / 3.0,
            Activation::Relu => 2f64.sqrt(),
            Activation::LeakyRelu(s) => (2.0 / (1.0 + s * s)).sqrt(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in [
            Activation::Identity,
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Relu,
            Activation::LeakyRelu(0.01),
            Activation::LeakyRelu(0.2),
        ] {
            assert_eq!(Activation::parse(&a.name()).unwrap(), a);
        }
        let e = Activation::parse("swish").unwrap_err().to_string();
        assert!(
            e.starts_with("activation: unknown activation 'swish'"),
            "{e}"
        );
    }
}
