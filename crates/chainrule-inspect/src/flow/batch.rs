//! The batches a gradient-flow measurement runs on: random inputs with
//! random targets for a fresh network, or rows of a data set scored as the
//! trainer scores them.

use chainrule::rng;
use chainrule_nn::data::{Dataset, Targets};
use chainrule_nn::{Activation, Error, Init, LossKind, Result};

/// What the measured batch is scored against.
#[derive(Clone, Debug, PartialEq)]
pub enum Objective {
    /// Mean squared error against `rows × outputs` targets, row-major.
    Mse(Vec<f64>),
    /// Binary cross-entropy against `rows × outputs` 0/1 targets (on logits,
    /// or on probabilities for a sigmoid output: [`LossKind::reading`]).
    Bce(Vec<f64>),
    /// Cross-entropy on logits against one class label per row.
    Cce(Vec<usize>),
    /// The sum of the outputs, so that ∂L/∂output = 1 for every output: the
    /// gradient at each layer is then the factor the network passes back.
    OutputSum,
}

/// The inputs of one measurement and what they are scored against.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowBatch {
    pub rows: usize,
    /// `rows × in_features` values, row-major.
    pub inputs: Vec<f64>,
    pub objective: Objective,
}

/// The initialiser suited to an activation: Xavier (Glorot) uniform for
/// sigmoid, tanh and identity, Kaiming (He) uniform for ReLU and leaky ReLU.
pub fn default_init(activation: Activation) -> Init {
    match activation {
        Activation::Relu | Activation::LeakyRelu(_) => Init::KaimingUniform,
        Activation::Identity | Activation::Sigmoid | Activation::Tanh => Init::XavierUniform,
    }
}

/// A batch of `rows` random inputs drawn from N(0, 1) (stream `seed`), with
/// random targets for `loss` (stream derived from `seed`): N(0, 1) values
/// for MSE, fair 0/1 coins for BCE, uniform class labels for cross-entropy
/// (which needs at least two outputs).
pub fn random_batch(
    in_features: usize,
    out_features: usize,
    loss: LossKind,
    rows: usize,
    seed: u64,
) -> Result<FlowBatch> {
    if rows == 0 {
        return Err(Error::config("batch", "must be at least 1 row"));
    }
    if in_features == 0 || out_features == 0 {
        return Err(Error::config(
            "layers",
            "the input and output sizes must be positive",
        ));
    }
    let n_in = rows
        .checked_mul(in_features)
        .filter(|&n| n <= 1 << 28)
        .ok_or_else(|| Error::config("batch", format!("{rows} rows is too many")))?;
    let inputs = (0..n_in as u64).map(|i| rng::normal_at(seed, i)).collect();
    let target_seed = rng::mix(seed ^ 0x7A26_E75E_ED00_F10E);
    let n_out = rows * out_features;
    let objective = match loss {
        LossKind::Mse => Objective::Mse(
            (0..n_out as u64)
                .map(|i| rng::normal_at(target_seed, i))
                .collect(),
        ),
        LossKind::Bce => Objective::Bce(
            (0..n_out as u64)
                .map(|i| f64::from(u8::from(rng::unit_at(target_seed, i) < 0.5)))
                .collect(),
        ),
        LossKind::Cce => {
            if out_features < 2 {
                return Err(Error::config(
                    "loss",
                    format!("cce needs at least 2 outputs, the network has {out_features}"),
                ));
            }
            Objective::Cce(
                (0..rows as u64)
                    .map(|i| (rng::u64_at(target_seed, i) % out_features as u64) as usize)
                    .collect(),
            )
        }
    };
    Ok(FlowBatch {
        rows,
        inputs,
        objective,
    })
}

/// The rows `rows` of `data` as a batch scored as `loss` scores them for a
/// network of `outputs` outputs (as the trainer does: BCE on the label as
/// 0/1, MSE on a one-hot row for class labels).
pub fn batch_from_dataset(
    data: &Dataset,
    rows: &[usize],
    loss: LossKind,
    outputs: usize,
) -> Result<FlowBatch> {
    if rows.is_empty() {
        return Err(Error::config("rows", "no rows to measure"));
    }
    if let Some(&r) = rows.iter().find(|&&r| r >= data.n) {
        return Err(Error::config(
            "rows",
            format!("row {r} is past the end of {} ({} rows)", data.name, data.n),
        ));
    }
    let mut inputs = Vec::with_capacity(rows.len() * data.d);
    for &r in rows {
        inputs.extend_from_slice(data.row(r));
    }
    let objective = match (&data.targets, loss) {
        (Targets::Real(v), LossKind::Mse) if outputs == 1 => {
            Objective::Mse(rows.iter().map(|&r| v[r]).collect())
        }
        (Targets::Classes { labels, .. }, LossKind::Cce) => {
            Objective::Cce(rows.iter().map(|&r| labels[r]).collect())
        }
        (Targets::Classes { labels, .. }, LossKind::Bce) if outputs == 1 => {
            Objective::Bce(rows.iter().map(|&r| labels[r] as f64).collect())
        }
        (Targets::Classes { labels, .. }, LossKind::Mse) => Objective::Mse(
            rows.iter()
                .flat_map(|&r| (0..outputs).map(move |k| f64::from(u8::from(k == labels[r]))))
                .collect(),
        ),
        (_, k) => {
            return Err(Error::config(
                "loss",
                format!(
                    "{} with {outputs} outputs does not fit the targets of {}",
                    k.name(),
                    data.name
                ),
            ))
        }
    };
    Ok(FlowBatch {
        rows: rows.len(),
        inputs,
        objective,
    })
}
