//! What decides a run: the optimizer, the [`TrainConfig`], and the loss and
//! output size that follow from the data.

use crate::activation::Activation;
use crate::data::{Dataset, Targets};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::loss::LossKind;
use crate::optim::{Adam, Optimizer, Schedule, Sgd};
use chainrule::Float;

/// Which optimizer to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimizerKind {
    Sgd,
    Adam,
    AdamW,
}

impl OptimizerKind {
    /// Parses `sgd`, `adam` or `adamw`.
    pub fn parse(s: &str) -> Result<OptimizerKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sgd" => Ok(OptimizerKind::Sgd),
            "adam" => Ok(OptimizerKind::Adam),
            "adamw" => Ok(OptimizerKind::AdamW),
            other => Err(Error::config(
                "optimizer",
                format!("unknown optimizer '{other}' (expected sgd, adam or adamw)"),
            )),
        }
    }
}

/// Everything that decides a training run.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    pub hidden: Vec<usize>,
    pub activation: Activation,
    /// `None`: chosen from the loss (sigmoid-free logits: identity).
    pub loss: Option<LossKind>,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    pub shuffle: bool,
    pub init: Init,
    pub schedule: Schedule,
    /// Clip the global gradient norm to this value.
    pub clip_norm: Option<f64>,
    /// Check every operation's output, forward and backward, and stop at
    /// the first NaN or infinity, naming the operation.
    pub detect_anomaly: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            hidden: vec![64, 32],
            activation: Activation::Relu,
            loss: None,
            optimizer: OptimizerKind::Adam,
            lr: 1e-3,
            // Plain gradient descent, as torch.optim.SGD and Keras' SGD.
            momentum: 0.0,
            weight_decay: 0.0,
            epochs: 30,
            batch_size: 32,
            seed: 0,
            shuffle: true,
            init: Init::KaimingUniform,
            schedule: Schedule::Constant,
            clip_norm: None,
            detect_anomaly: false,
        }
    }
}

impl TrainConfig {
    /// Checks the numbers a user can get wrong.
    pub fn validate(&self) -> Result<()> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::config(
                    name,
                    format!("must be a positive number, got {v}"),
                ))
            }
        };
        positive("lr", self.lr)?;
        if self.epochs == 0 {
            return Err(Error::config("epochs", "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(Error::config("batch-size", "must be at least 1"));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(Error::config(
                "momentum",
                format!("must lie in [0, 1), got {}", self.momentum),
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::config(
                "weight-decay",
                format!("must be a non-negative number, got {}", self.weight_decay),
            ));
        }
        if let Some(c) = self.clip_norm {
            positive("clip-norm", c)?;
        }
        if self.hidden.contains(&0) {
            return Err(Error::config("hidden", "hidden sizes must be positive"));
        }
        Ok(())
    }
}

/// Builds the optimizer of a config.
pub fn make_optimizer<F: Float>(config: &TrainConfig) -> Box<dyn Optimizer<F>> {
    match config.optimizer {
        OptimizerKind::Sgd => Box::new(
            Sgd::new(config.lr)
                .with_momentum(config.momentum, false)
                .with_weight_decay(config.weight_decay),
        ),
        OptimizerKind::Adam => {
            Box::new(Adam::new(config.lr).with_weight_decay(config.weight_decay))
        }
        OptimizerKind::AdamW => Box::new(Adam::adamw(config.lr, config.weight_decay)),
    }
}

/// The loss for a data set: the requested one if it fits the targets, or
/// (auto) MSE for regression, BCE on one logit for two classes, and
/// cross-entropy on logits for more.
pub fn resolve_loss(data: &Dataset, requested: Option<LossKind>) -> Result<LossKind> {
    match (&data.targets, requested) {
        (Targets::Real(_), None | Some(LossKind::Mse)) => Ok(LossKind::Mse),
        (Targets::Real(_), Some(k)) => Err(Error::config(
            "loss",
            format!(
                "{} needs class labels, but {} has real-valued targets",
                k.name(),
                data.name
            ),
        )),
        (Targets::Classes { classes, .. }, None) => Ok(if *classes == 2 {
            LossKind::Bce
        } else {
            LossKind::Cce
        }),
        (Targets::Classes { classes, .. }, Some(LossKind::Bce)) if *classes != 2 => {
            Err(Error::config(
                "loss",
                format!("bce needs exactly two classes, {} has {classes}", data.name),
            ))
        }
        (Targets::Classes { .. }, Some(k)) => Ok(k),
    }
}

/// The number of network outputs for a data set and loss.
pub fn output_size(data: &Dataset, loss: LossKind) -> usize {
    match (&data.targets, loss) {
        (Targets::Classes { classes, .. }, LossKind::Cce | LossKind::Mse) => *classes,
        _ => 1,
    }
}

/// For regression: the mean squared error on `test` of always predicting
/// the mean target of `train` (the bar a model must clear).
pub fn mean_baseline(train: &Dataset, test: &Dataset) -> Option<f64> {
    match (&train.targets, &test.targets) {
        (Targets::Real(a), Targets::Real(b)) if !a.is_empty() && !b.is_empty() => {
            let mean = a.iter().sum::<f64>() / a.len() as f64;
            Some(b.iter().map(|y| (y - mean) * (y - mean)).sum::<f64>() / b.len() as f64)
        }
        _ => None,
    }
}
