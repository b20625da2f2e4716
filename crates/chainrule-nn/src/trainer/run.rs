//! The training loop as a [`Trainer`] that runs one epoch at a time and can
//! hand over, and take back, everything that the next epoch depends on
//! besides the model: a [`TrainState`]. That is what makes checkpoints exact
//! (see [`crate::checkpoint`]).
//!
//! Nothing else carries over between epochs: the order of the rows in epoch
//! `e` is [`epoch_order`]`(n, seed, e, shuffle)`, a function of the seed and
//! the epoch number only (there is no random-generator state to save), and
//! the learning rate of epoch `e` is the schedule's closed form at `e − 1`.

use super::batch::Batch;
use super::data_parallel::{check_shards, reduce_gradients, shard, AllReduce, GradientReducer};
use super::overlap::Overlap;
use super::{epoch_order, make_optimizer, EpochRecord, History, Model, StepRecord, TrainConfig};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::optim::{clip_grad_norm, Optimizer, OptimizerState};
use chainrule::Float;

/// Where a run stands between two epochs, apart from the model's weights.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainState<F: Float> {
    /// Epochs completed; the next epoch is `epochs_done + 1`.
    pub epochs_done: usize,
    /// Optimizer steps taken so far (the last step's number).
    pub steps_done: usize,
    /// Every step's and epoch's record so far.
    pub history: History,
    /// The optimizer's momentum, moments and step count.
    pub optimizer: OptimizerState<F>,
}

/// A training run, one epoch per [`Trainer::run_epoch`].
pub struct Trainer<F: Float> {
    config: TrainConfig,
    optimizer: Box<dyn Optimizer<F>>,
    history: History,
    epochs_done: usize,
    steps_done: usize,
    batch: Batch<F>,
    /// Data-parallel training's reducer (see [`Trainer::set_reducer`]).
    pub(super) reducer: Option<Box<dyn GradientReducer<F>>>,
    /// When the gradients are summed (see [`Trainer::set_allreduce`]).
    pub(super) allreduce: AllReduce,
    /// The gradients laid out for the reducer.
    flat: Vec<F>,
    /// The buckets of [`AllReduce::Overlap`].
    overlap: Overlap<F>,
}

impl<F: Float> Trainer<F> {
    /// A run at its start.
    pub fn new(config: &TrainConfig) -> Result<Trainer<F>> {
        config.validate()?;
        Ok(Trainer {
            config: config.clone(),
            optimizer: make_optimizer::<F>(config),
            history: History::default(),
            epochs_done: 0,
            steps_done: 0,
            batch: Batch::new(),
            reducer: None,
            allreduce: AllReduce::default(),
            flat: Vec::new(),
            overlap: Overlap::default(),
        })
    }

    /// A run continued from `state` (from [`Trainer::state`], usually
    /// through a checkpoint): the next epoch is `state.epochs_done + 1`.
    pub fn resume(config: &TrainConfig, state: TrainState<F>) -> Result<Trainer<F>> {
        let mut t = Trainer::new(config)?;
        let bad = |detail: String| Error::config("resume", detail);
        if state.epochs_done > config.epochs {
            return Err(bad(format!(
                "the state has {} epochs done, more than the {} of the run",
                state.epochs_done, config.epochs
            )));
        }
        if state.history.epochs.len() != state.epochs_done
            || state.history.steps.len() != state.steps_done
            || state.history.steps.last().map_or(0, |s| s.step) != state.steps_done
        {
            return Err(bad(format!(
                "the history ({} epochs, {} steps) does not match the progress \
                 ({} epochs, {} steps done)",
                state.history.epochs.len(),
                state.history.steps.len(),
                state.epochs_done,
                state.steps_done
            )));
        }
        t.optimizer.import_state(&state.optimizer)?;
        t.history = state.history;
        t.epochs_done = state.epochs_done;
        t.steps_done = state.steps_done;
        Ok(t)
    }

    /// The run's settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Epochs completed.
    pub fn epochs_done(&self) -> usize {
        self.epochs_done
    }

    /// Whether every epoch of the config has run.
    pub fn is_done(&self) -> bool {
        self.epochs_done >= self.config.epochs
    }

    /// The records so far.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The records, ending the run.
    pub fn into_history(self) -> History {
        self.history
    }

    /// Everything the next epoch depends on besides the model.
    pub fn state(&self) -> TrainState<F> {
        TrainState {
            epochs_done: self.epochs_done,
            steps_done: self.steps_done,
            history: self.history.clone(),
            optimizer: self.optimizer.export_state(),
        }
    }

    /// Runs the next epoch on `train` and evaluates on `test` (if any);
    /// `on_step` sees every step's record. The epoch's record is returned and
    /// kept in the history. Stops with [`Error::NonFinite`] if a loss is NaN
    /// or infinite, before the update that would spread it into the weights.
    pub fn run_epoch(
        &mut self,
        model: &mut Model<F>,
        train: &Dataset,
        test: Option<&Dataset>,
        mut on_step: impl FnMut(&StepRecord),
    ) -> Result<EpochRecord> {
        let config = &self.config;
        if self.is_done() {
            return Err(Error::config(
                "epochs",
                format!("all {} epochs have run", config.epochs),
            ));
        }
        model.check_data(train)?;
        if train.n == 0 {
            return Err(Error::config(
                "data",
                format!("{} has no training rows", train.name),
            ));
        }
        check_batch_norm_batches(model, train.n, config.batch_size)?;
        // One process is a plain run, bit for bit.
        let mut reducer = self.reducer.as_deref_mut().filter(|r| r.size() > 1);
        if let Some(r) = &reducer {
            check_shards(train.n, config.batch_size, r.size())?;
            check_batch_norm_shards(model, train.n, config.batch_size, r.size())?;
            if self.allreduce == AllReduce::Overlap {
                self.overlap.prepare(&model.graph, r.bucket_len())?;
            }
        }
        model.graph.set_detect_anomaly(config.detect_anomaly);
        let epoch = self.epochs_done + 1;
        self.optimizer
            .set_lr(config.schedule.lr_at(config.lr, epoch - 1));
        let order = epoch_order(train.n, config.seed, epoch, config.shuffle);
        // Dropout's masks: rank 0 keeps the run's seed (one process is a
        // plain run), the others draw their own, so that the ranks' shards
        // are not masked alike.
        let dropout_seed = match &reducer {
            Some(r) if r.rank() > 0 => {
                config.seed ^ (r.rank() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            }
            _ => config.seed,
        };
        // Plain gradient descent on one process without clipping: fused.
        let fused_lr = match (&reducer, config.clip_norm) {
            (None, None) => self.optimizer.plain_descent_lr(),
            _ => None,
        };
        let b = &mut self.batch;
        let mut weighted = 0.0f64;
        for batch_rows in order.chunks(config.batch_size) {
            let step = self.steps_done + 1;
            // This rank's rows of the batch (all of them in a plain run).
            let rows = match &reducer {
                Some(r) => shard(batch_rows, r.rank(), r.size()),
                None => batch_rows,
            };
            b.fill(train, rows, model.loss, model.network.out_features());
            model.graph.zero_grad();
            let loss = {
                let at = |model: &Model<F>, source| Error::Anomaly {
                    epoch,
                    step,
                    layer: anomaly_place(model),
                    source,
                };
                let l = Model::training_loss(
                    &model.graph,
                    &mut model.network,
                    model.loss,
                    b,
                    rows.len(),
                    (dropout_seed, step as u64),
                )?;
                model.graph.check_anomaly().map_err(|e| at(model, e))?;
                let value = l.item()?.as_f64();
                if reducer.is_none() && !value.is_finite() {
                    return Err(Error::NonFinite { value, epoch, step });
                }
                match reducer.as_deref_mut() {
                    // The buckets start during the backward pass.
                    Some(r) if self.allreduce == AllReduce::Overlap => {
                        let overlap = &mut self.overlap;
                        overlap.begin(rows.len() as f64 / batch_rows.len() as f64);
                        l.backward_notify(&mut |p, g| overlap.ready(r, p, g))
                    }
                    Some(_) => l.backward(),
                    // Plain gradient descent, alone, with nothing else
                    // reading the gradients: the step is fused into the
                    // backward pass.
                    None => match fused_lr {
                        Some(lr) => l.backward_sgd(lr),
                        None => l.backward(),
                    },
                }
                .map_err(|e| at(model, e))?;
                value
            };
            let loss = match reducer.as_deref_mut() {
                None => loss,
                Some(r) => {
                    // Every rank's mean loss weighted by its share of the
                    // rows: the batch's mean loss, checked on every rank
                    // alike before the update.
                    let share = rows.len() as f64 / batch_rows.len() as f64;
                    if self.allreduce == AllReduce::Overlap {
                        self.overlap.finish(model, r)?;
                    }
                    let mut total = [loss * share];
                    r.all_reduce_sum_f64(&mut total)?;
                    let value = total[0];
                    if !value.is_finite() {
                        return Err(Error::NonFinite { value, epoch, step });
                    }
                    match self.allreduce {
                        AllReduce::Overlap => {}
                        AllReduce::AfterBackward => {
                            reduce_gradients(model, r, &mut self.flat, share)?
                        }
                    }
                    value
                }
            };
            if let Some(max_norm) = config.clip_norm {
                clip_grad_norm(&mut model.graph, max_norm);
            }
            if fused_lr.is_none() {
                self.optimizer.step(&mut model.graph);
            }
            // Gradients are spent: dropping them first spares `clear`
            // moving them out of the arena.
            model.graph.zero_grad();
            model.graph.clear();
            self.steps_done = step;
            weighted += loss * batch_rows.len() as f64;
            let record = StepRecord { epoch, step, loss };
            on_step(&record);
            self.history.steps.push(record);
        }
        let (test_loss, test_accuracy) = match test {
            Some(t) if t.n > 0 => {
                let e = model.evaluate(t)?;
                (Some(e.loss), e.accuracy)
            }
            _ => (None, None),
        };
        let record = EpochRecord {
            epoch,
            train_loss: weighted / train.n as f64,
            test_loss,
            test_accuracy,
        };
        self.history.epochs.push(record.clone());
        self.epochs_done = epoch;
        Ok(record)
    }
}

/// Batch norm in training needs more than one value per channel: a batch
/// of one row through a batch norm that sees one value per channel per
/// example (`batchnorm1d` on vectors) fails, as in PyTorch. The last batch
/// of an epoch keeps its remainder rows, so such a run is refused before
/// its first step, naming the layer and a batch size that works, rather
/// than stopped in the middle of an epoch.
/// Batch norm on one value per channel: refused when some rank's share of
/// some batch (the smallest batch split `size` ways, the smaller shards
/// last) is a single row, before any training (each rank normalizes its
/// own rows, as DDP does).
fn check_batch_norm_shards<F: Float>(
    model: &Model<F>,
    n: usize,
    batch: usize,
    size: usize,
) -> Result<()> {
    let smallest_batch = match n % batch {
        0 => batch.min(n),
        r => r.min(batch.min(n)),
    };
    let smallest_shard = smallest_batch / size.max(1);
    if smallest_shard != 1 {
        return Ok(());
    }
    let row = model.network.summary().iter().find(|r| {
        r.text.starts_with("batchnorm") && r.output.iter().skip(1).product::<usize>() == 1
    });
    match row {
        None => Ok(()),
        Some(row) => Err(Error::config(
            "batch-size",
            format!(
                "{} at position {} needs more than one value per channel on every process, but                  a batch of {smallest_batch} rows ({n} training rows in batches of {batch}) split                  {size} ways gives a process 1 row; choose a --batch-size that leaves at least                  {} rows in every batch",
                row.text,
                row.path,
                2 * size
            ),
        )),
    }
}

fn check_batch_norm_batches<F: Float>(model: &Model<F>, n: usize, batch: usize) -> Result<()> {
    let Some(size) = [batch.min(n), n % batch].into_iter().find(|&s| s == 1) else {
        return Ok(());
    };
    let row = model.network.summary().iter().find(|r| {
        r.text.starts_with("batchnorm") && r.output.iter().skip(1).product::<usize>() == 1
    });
    let Some(row) = row else { return Ok(()) };
    let what = if size == batch.min(n) {
        format!("every batch holds {size} row")
    } else {
        format!("the last batch of each epoch holds {size} row ({n} training rows in batches of {batch})")
    };
    let better = (batch + 1..=n)
        .find(|b| n % b != 1)
        .map_or(String::new(), |b| {
            format!(
                "; --batch-size {b} leaves {} rows in the last batch",
                match n % b {
                    0 => b,
                    r => r,
                }
            )
        });
    Err(Error::config(
        "batch-size",
        format!(
            "{} at position {} needs more than one value per channel in training, but {what}{better}",
            row.text, row.path
        ),
    ))
}

/// The layer whose forward pass recorded the node where anomaly mode saw
/// the first non-finite value (in the backward pass: the node whose rule
/// was being applied), e.g. `layer 4 batchnorm1d (character 23)`; `the
/// loss` for nodes after the network.
fn anomaly_place<F: Float>(model: &Model<F>) -> Option<String> {
    let a = model.graph.anomaly()?;
    let node = match a.phase {
        chainrule::Phase::Forward => a.node,
        chainrule::Phase::Backward { of_node, .. } => of_node,
    };
    let rows = model.network.summary();
    match model.network.layer_of_node(node) {
        Some(i) => rows.get(i).map(|r| r.describe()),
        None if node >= model.network.forward_end() => Some("the loss".into()),
        None => None,
    }
}
