//! Training a multilayer perceptron on a [`Dataset`]: the loss chosen from
//! the data, seeded mini-batches, an optimizer step per batch, and per-epoch
//! evaluation. Every step's loss is recorded before that step's update.
//!
//! - `config`: [`TrainConfig`], the optimizer, the loss chosen from the data;
//! - `model`: [`Model`], its evaluation and predictions; `batch`: mini-batches;
//! - `run`: [`Trainer`], one epoch at a time, with its resumable state;
//! - `training_run`: [`TrainingRun`], a whole run in its folder;
//! - `replay`: [`replay_to_step`], a run moved to just before one step's update;
//! - `data_parallel`: [`GradientReducer`], one replica of a run on several
//!   processes.

use crate::data::Dataset;
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use chainrule::Float;

mod batch;
mod config;
mod data_parallel;
mod model;
mod overlap;
mod replay;
mod run;
mod training_run;

pub use batch::loss_on_rows;
pub use config::{
    make_optimizer, mean_baseline, output_size, resolve_loss, OptimizerKind, TrainConfig,
};
pub use data_parallel::{shard, AllReduce, GradientReducer};
pub use model::{Evaluation, Model};
pub use replay::{replay_to_step, steps_per_epoch, ReplayedStep};
pub use run::{TrainState, Trainer};
pub use training_run::{
    write_metrics, RunData, RunFiles, RunObserver, RunStart, Start, TrainingRun, GRAD_REPORTS_KEY,
    METRICS_FILE, MODEL_FILE,
};

/// One recorded step: the mini-batch loss before the update.
#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord {
    pub epoch: usize,
    pub step: usize,
    pub loss: f64,
}

/// Metrics after one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub test_loss: Option<f64>,
    pub test_accuracy: Option<f64>,
}

/// The order of rows in epoch `epoch` (1-based): a seeded shuffle, or file order.
pub fn epoch_order(n: usize, seed: u64, epoch: usize, shuffle: bool) -> Vec<usize> {
    if shuffle {
        crate::data::shuffled_indices(n, seed.wrapping_mul(0x9E37_79B9).wrapping_add(epoch as u64))
    } else {
        (0..n).collect()
    }
}

/// What a training run records.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub steps: Vec<StepRecord>,
    pub epochs: Vec<EpochRecord>,
}

/// Trains `model` on `train` for `config.epochs` epochs, evaluating on
/// `test` (if any) after each; `on_step(step, loss)` and
/// `on_epoch(record, model)` report progress (the latter may inspect the
/// model between epochs, e.g. for gradient-flow reports). Stops with [`Error::NonFinite`] if a loss is NaN or
/// infinite, before the update that would spread it into the weights.
///
/// A run that is to be checkpointed and resumed uses [`Trainer`], which
/// runs one epoch at a time; this is `Trainer::new` and every epoch.
pub fn train<F: Float>(
    model: &mut Model<F>,
    train: &Dataset,
    test: Option<&Dataset>,
    config: &TrainConfig,
    mut on_step: impl FnMut(&StepRecord),
    mut on_epoch: impl FnMut(&EpochRecord, &mut Model<F>) -> Result<()>,
) -> Result<History> {
    let mut trainer = Trainer::new(config)?;
    while !trainer.is_done() {
        let record = trainer.run_epoch(model, train, test, &mut on_step)?;
        on_epoch(&record, model)?;
    }
    Ok(trainer.into_history())
}
