//! The lesson's Example 3: a chain of one-unit layers whose outputs all
//! equal a chosen value, measured by the engine's backward pass.

use super::{num, report_of, run_pass, FlowBatch, FlowReport, Objective};
use chainrule::Graph;
use chainrule_nn::mlp::{Mlp, MlpSpec};
use chainrule_nn::{Activation, Error, Init, Result};
use serde_json::{json, Value};

/// One unit of the chain.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainLayer {
    /// 1 for the unit nearest the input.
    pub layer: usize,
    /// z = w·a_prev + b.
    pub pre_activation: f64,
    /// The unit's output a = act(z).
    pub output: f64,
    /// ∂L/∂z ÷ ∂L/∂a, from the backward pass: the activation's derivative
    /// act'(z), the factor this unit multiplies the gradient by.
    pub local_factor: f64,
    /// ∂L/∂z ÷ ∂L/∂(network output): the gradient reaching this unit's
    /// pre-activation (and bias) relative to the output gradient.
    pub cumulative: f64,
}

/// The chain of Example 3, measured.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainReport {
    pub activation: Activation,
    /// The value every unit outputs.
    pub target_output: f64,
    /// The input `x`, every weight `w` and every bias `b` (the first unit
    /// sees the input, the others the previous unit's output, all equal to
    /// the target output, so `b = act⁻¹(target) − w · target`).
    pub input: f64,
    pub weight: f64,
    pub bias: f64,
    /// Input first.
    pub layers: Vec<ChainLayer>,
    /// The general per-layer measurements of the same pass.
    pub flow: FlowReport,
}

impl ChainReport {
    /// `{"activation", "target_output", "chain": [{"layer",
    /// "pre_activation", "output", "local_factor", "cumulative"}, …],
    /// "layers": [as FlowReport::to_json]}`.
    pub fn to_json(&self) -> Value {
        json!({
            "activation": self.activation.name(),
            "target_output": self.target_output,
            "chain": self.layers.iter().map(|c| json!({
                "layer": c.layer,
                "pre_activation": num(c.pre_activation),
                "output": num(c.output),
                "local_factor": num(c.local_factor),
                "cumulative": num(c.cumulative),
            })).collect::<Vec<_>>(),
            "layers": self.flow.layers_json(),
        })
    }
}

/// The pre-activation at which `activation` outputs `output`, if any.
pub fn inverse(activation: Activation, output: f64) -> Option<f64> {
    if !output.is_finite() {
        return None;
    }
    let z = match activation {
        Activation::Identity => output,
        Activation::Sigmoid if output > 0.0 && output < 1.0 => (output / (1.0 - output)).ln(),
        Activation::Tanh if output.abs() < 1.0 => output.atanh(),
        Activation::Relu if output > 0.0 => output,
        Activation::LeakyRelu(_) if output > 0.0 => output,
        Activation::LeakyRelu(s) if output < 0.0 && s > 0.0 => output / s,
        _ => return None,
    };
    z.is_finite().then_some(z)
}

/// The chain network of Example 3: `length` one-unit layers, each followed
/// by `activation` (the last one too), with weight 1, input `output` and
/// biases chosen so that every unit outputs `output`. Returns the graph, the
/// network and its one-row batch scored by [`Objective::OutputSum`].
pub fn chain_network(
    length: usize,
    output: f64,
    activation: Activation,
) -> Result<(Graph<f64>, Mlp, FlowBatch)> {
    if length == 0 || length > 1000 {
        return Err(Error::config(
            "chain",
            format!("the chain needs 1 to 1000 layers, got {length}"),
        ));
    }
    let z = inverse(activation, output).ok_or_else(|| {
        Error::config(
            "chain-output",
            format!(
                "{} cannot output {output} (sigmoid: 0 < value < 1; tanh: −1 < value < 1; relu: value > 0)",
                activation.name()
            ),
        )
    })?;
    let (w, b) = (1.0, z - output);
    let spec = MlpSpec {
        sizes: vec![1; length + 1],
        activation,
        output_activation: activation,
    };
    let mut graph = Graph::<f64>::new();
    let mlp = Mlp::new(&mut graph, spec, Init::Constant(w), 0)?;
    let bias = chainrule::Tensor::from_f64(&[b], &[1])?;
    for lin in mlp.linears() {
        graph.set_param(lin.bias, &bias)?;
    }
    let batch = FlowBatch {
        rows: 1,
        inputs: vec![output],
        objective: Objective::OutputSum,
    };
    Ok((graph, mlp, batch))
}

/// Builds [`chain_network`] and measures it: the local factor and the
/// cumulative gradient of every unit, read from the engine's backward pass.
pub fn chain(length: usize, output: f64, activation: Activation) -> Result<ChainReport> {
    let (mut graph, mlp, batch) = chain_network(length, output, activation)?;
    let pass = run_pass(&mut graph, &mlp, &batch)?;
    let out_grad = pass
        .layers
        .last()
        .and_then(|l| l.a_grad.first().copied())
        .unwrap_or(f64::NAN);
    let layers = pass
        .layers
        .iter()
        .enumerate()
        .map(|(i, p)| ChainLayer {
            layer: i + 1,
            pre_activation: p.z[0],
            output: p.a[0],
            local_factor: p.z_grad[0] / p.a_grad[0],
            cumulative: p.z_grad[0] / out_grad,
        })
        .collect();
    let z = inverse(activation, output).unwrap_or(f64::NAN);
    Ok(ChainReport {
        activation,
        target_output: output,
        input: output,
        weight: 1.0,
        bias: z - output,
        layers,
        flow: report_of(&pass),
    })
}
