//! A fully connected layer, `y = x Wᵀ + b`, with PyTorch's layout: weight
//! `[out_features, in_features]`, bias `[out_features]`.

use crate::error::{Error, Result};
use crate::init::Init;
use crate::module::Module;
use chainrule::{BiasAct, Float, Graph, ParamId, Tensor, Var};

/// A fully connected layer.
#[derive(Clone, Copy, Debug)]
pub struct Linear {
    pub weight: ParamId,
    pub bias: ParamId,
    pub in_features: usize,
    pub out_features: usize,
}

impl Linear {
    /// A layer with weights from `init` (with `gain`, stream `seed`) and a
    /// zero bias.
    pub fn new<F: Float>(
        g: &mut Graph<F>,
        in_features: usize,
        out_features: usize,
        init: Init,
        gain: f64,
        seed: u64,
    ) -> Result<Linear> {
        if in_features == 0 || out_features == 0 {
            return Err(Error::config("layers", format!("a layer needs at least one input and one output, got {in_features} → {out_features}")));
        }
        let w = init.weight::<F>(out_features, in_features, gain, seed)?;
        let b = Tensor::<F>::zeros(&[out_features])?;
        Linear::from_tensors(g, &w, &b)
    }

    /// A layer holding the given weight `[out, in]` and bias `[out]`.
    pub fn from_tensors<F: Float>(
        g: &mut Graph<F>,
        weight: &Tensor<F>,
        bias: &Tensor<F>,
    ) -> Result<Linear> {
        let (out_features, in_features) = match weight.dims() {
            &[o, i] => (o, i),
            _ => {
                return Err(Error::config(
                    "weight",
                    format!("expected [out, in], got {}", weight.shape()),
                ))
            }
        };
        if bias.dims() != [out_features] {
            return Err(Error::config(
                "bias",
                format!("expected [{out_features}], got {}", bias.shape()),
            ));
        }
        Ok(Linear {
            weight: g.parameter(weight),
            bias: g.parameter(bias),
            in_features,
            out_features,
        })
    }
}

impl Linear {
    /// `act(x Wᵀ + b)`: the layer with an activation fused after its bias
    /// (one op for the bias and the activation).
    pub fn forward_act<'g, F: Float>(
        &self,
        g: &'g Graph<F>,
        x: Var<'g, F>,
        act: BiasAct,
    ) -> Result<Var<'g, F>> {
        let w = g.param(self.weight)?;
        let b = g.param(self.bias)?;
        Ok(x.matmul_t(w, false, true)?.bias_act(b, act)?)
    }
}

impl<F: Float> Module<F> for Linear {
    /// `x [batch, in] → x Wᵀ + b [batch, out]` (the weight used transposed
    /// in the product, never copied).
    fn forward<'g>(&self, g: &'g Graph<F>, x: Var<'g, F>) -> Result<Var<'g, F>> {
        self.forward_act(g, x, BiasAct::Identity)
    }

    fn parameters(&self) -> Vec<(String, ParamId)> {
        vec![("weight".into(), self.weight), ("bias".into(), self.bias)]
    }
}
