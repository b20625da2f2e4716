//! The lesson's Example 3: a chain of one-unit layers whose outputs all
//! equal a chosen value, measured by the engine's backward pass, and the
//! same chain with the lesson's two cures: a skip connection around every
//! unit (residual) and batch normalization before every activation.

use super::{num, report_of, run_pass, FlowBatch, FlowReport, Objective};
use chainrule::{Graph, Tensor};
use chainrule_nn::arch::{LayerKind, LayerSpec, NormSpec};
use chainrule_nn::network::Network;
use chainrule_nn::{Activation, Error, Init, Result};
use serde_json::{json, Value};

/// Rows of the batch-norm chain's batch: its inputs are the chosen value
/// plus these offsets (batch norm needs a spread to normalize; this one,
/// standard deviation 0.092, is about the spread a sigmoid unit at 0.9
/// gives the next layer).
pub const BATCH_NORM_OFFSETS: [f64; 8] = [-0.14, -0.1, -0.06, -0.02, 0.02, 0.06, 0.1, 0.14];

/// The batch-norm chain's targets, scored by mean squared error. The plain
/// chains sum their output instead, but batch norm makes a sum of outputs
/// all but constant (it removes the batch's mean and scale), so only a loss
/// that tells the rows apart sends a gradient back through it.
pub const BATCH_NORM_TARGETS: [f64; 8] = [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0];

/// Which chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainKind {
    /// `h_k = act(w·h_{k−1} + b_k)`.
    Plain,
    /// `h_k = h_{k−1} + act(w·h_{k−1} + b_k)`: each unit wrapped in a skip
    /// connection.
    Residual,
    /// `h_k = act(batchnorm(w·h_{k−1} + b_k))` on a batch of
    /// [`BATCH_NORM_OFFSETS`]`.len()` rows, with β = act⁻¹(value), γ = 1,
    /// scored by MSE against [`BATCH_NORM_TARGETS`].
    BatchNorm,
}

/// One unit of the chain.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainLayer {
    /// 1 for the unit nearest the input.
    pub layer: usize,
    /// The activation's input z (mean over the batch's rows).
    pub pre_activation: f64,
    /// The activation's output a = act(z) (mean over the rows).
    pub output: f64,
    /// ‖∂L/∂h_{k−1}‖ ÷ ‖∂L/∂h_k‖, from the backward pass: the factor this
    /// unit multiplies the gradient by on its way back from the unit's
    /// output h_k to its input (w·act'(z) for a plain unit, 1 + w·act'(z)
    /// with a skip connection).
    pub local_factor: f64,
    /// ‖∂L/∂z‖ ÷ ‖∂L/∂(chain output)‖: the gradient reaching this unit's
    /// pre-activation (and bias) relative to the output gradient.
    pub cumulative: f64,
}

/// The chain of Example 3, measured.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainReport {
    pub kind: ChainKind,
    pub activation: Activation,
    /// The value every unit's activation outputs (for the batch-norm
    /// chain: at the batch's centre).
    pub target_output: f64,
    /// Rows of the measured batch (1, or 8 with batch norm).
    pub rows: usize,
    /// The input `x` (its mean), every weight `w` and the first unit's
    /// bias `b` (see [`chain_network`]).
    pub input: f64,
    pub weight: f64,
    pub bias: f64,
    /// Input first.
    pub layers: Vec<ChainLayer>,
    /// The general per-layer measurements of the same pass.
    pub flow: FlowReport,
}

impl ChainReport {
    /// `sigmoid`, `residual sigmoid`, `batchnorm sigmoid`.
    pub fn label(&self) -> String {
        let act = self.activation.name();
        match self.kind {
            ChainKind::Plain => act,
            ChainKind::Residual => format!("residual {act}"),
            ChainKind::BatchNorm => format!("batchnorm {act}"),
        }
    }

    /// `{"activation", "kind", "target_output", "chain": [{"layer",
    /// "pre_activation", "output", "local_factor", "cumulative"}, …],
    /// "layers": [as FlowReport::to_json]}`.
    pub fn to_json(&self) -> Value {
        let kind = match self.kind {
            ChainKind::Plain => "plain",
            ChainKind::Residual => "residual",
            ChainKind::BatchNorm => "batchnorm",
        };
        json!({
            "activation": self.activation.name(),
            "kind": kind,
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

fn spec(kind: LayerKind) -> LayerSpec {
    LayerSpec::new(kind)
}

/// The layers of one unit of the chain.
fn unit(kind: ChainKind, activation: Activation) -> Vec<LayerSpec> {
    let linear = spec(LayerKind::Linear {
        out_features: 1,
        bias: true,
    });
    let act = spec(LayerKind::Activation(activation));
    match kind {
        ChainKind::Plain => vec![linear, act],
        ChainKind::Residual => vec![spec(LayerKind::Residual(vec![linear, act]))],
        ChainKind::BatchNorm => vec![
            linear,
            spec(LayerKind::BatchNorm1d(NormSpec::default())),
            act,
        ],
    }
}

/// The chain network of Example 3: `length` units, every weight 1, the
/// biases chosen so that every unit's activation outputs `output`:
/// - plain: the input is `output` and every bias `act⁻¹(output) − output`;
/// - residual: the input is `output`, unit k sees `h_{k−1} = k·output`, so
///   its bias is `act⁻¹(output) − k·output`;
/// - batch norm: the inputs are `output` + [`BATCH_NORM_OFFSETS`], the
///   linear biases 0 (batch norm removes them), γ = 1 and β =
///   `act⁻¹(output)`, so the normalized pre-activations are centred where
///   the plain chain's sit.
///
/// Returns the graph, the network (in training mode) and its batch, scored
/// by [`Objective::OutputSum`] (batch norm: MSE against
/// [`BATCH_NORM_TARGETS`]).
pub fn chain_network(
    kind: ChainKind,
    length: usize,
    output: f64,
    activation: Activation,
) -> Result<(Graph<f64>, Network<f64>, FlowBatch)> {
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
    let specs: Vec<LayerSpec> = (0..length).flat_map(|_| unit(kind, activation)).collect();
    let mut graph = Graph::<f64>::new();
    let network = Network::new(&mut graph, &specs, &[1], Init::Constant(1.0), 0)?;
    // Parameters in order: per unit, the linear weight and bias, then (with
    // batch norm) γ and β.
    let per_unit = network.parameters().len() / length;
    for (i, (name, id)) in network.parameters().iter().enumerate() {
        let k = i / per_unit + 1;
        let value = match (kind, i % per_unit) {
            (_, 0) => 1.0,
            (ChainKind::Plain, 1) => z - output,
            (ChainKind::Residual, 1) => z - k as f64 * output,
            (ChainKind::BatchNorm, 1) => 0.0,
            (ChainKind::BatchNorm, 2) => 1.0,
            (ChainKind::BatchNorm, 3) => z,
            _ => {
                return Err(Error::config(
                    "chain",
                    format!("unexpected parameter {name}"),
                ))
            }
        };
        let dims = graph.param_value(*id)?.shape().dims().to_vec();
        graph.set_param(*id, &Tensor::from_f64(&[value], &dims)?)?;
    }
    let (inputs, objective) = match kind {
        ChainKind::BatchNorm => (
            BATCH_NORM_OFFSETS.iter().map(|d| output + d).collect(),
            Objective::Mse(BATCH_NORM_TARGETS.to_vec()),
        ),
        _ => (vec![output], Objective::OutputSum),
    };
    let batch = FlowBatch {
        rows: inputs.len(),
        inputs,
        objective,
    };
    Ok((graph, network, batch))
}

fn l2(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// The plain chain of `length` units, measured ([`chain_of`]).
pub fn chain(length: usize, output: f64, activation: Activation) -> Result<ChainReport> {
    chain_of(ChainKind::Plain, length, output, activation)
}

/// Builds [`chain_network`] and measures it: the local factor and the
/// cumulative gradient of every unit, read from the engine's backward pass.
pub fn chain_of(
    kind: ChainKind,
    length: usize,
    output: f64,
    activation: Activation,
) -> Result<ChainReport> {
    let (mut graph, network, batch) = chain_network(kind, length, output, activation)?;
    let pass = run_pass(&mut graph, &network, &batch)?;
    // The gradient at each unit's output h_k (the last top-level layer of
    // the unit), h_0 being the input.
    let per_unit = pass.top_grads.len() / length;
    let mut h_grads = vec![l2(&pass.input_grad)];
    h_grads.extend(
        pass.top_grads
            .chunks(per_unit)
            .map(|unit| unit.last().map_or(f64::NAN, |g| l2(g))),
    );
    let out_grad = h_grads.last().copied().unwrap_or(f64::NAN);
    let layers = pass
        .layers
        .iter()
        .enumerate()
        .map(|(i, p)| ChainLayer {
            layer: i + 1,
            pre_activation: mean(&p.pre),
            output: mean(&p.a),
            local_factor: h_grads[i] / h_grads[i + 1],
            cumulative: l2(&p.pre_grad) / out_grad,
        })
        .collect();
    let z = inverse(activation, output).unwrap_or(f64::NAN);
    Ok(ChainReport {
        kind,
        activation,
        target_output: output,
        rows: batch.rows,
        input: mean(&batch.inputs),
        weight: 1.0,
        bias: match kind {
            ChainKind::BatchNorm => 0.0,
            _ => z - output,
        },
        layers,
        flow: report_of(&pass),
    })
}
