//! Replaying a run to the moment before one step's update, exactly.
//!
//! A run is deterministic given its config, its data and where it starts:
//! the rows of epoch `e` are [`epoch_order`]`(n, seed, e, shuffle)`, the
//! learning rate is the schedule's closed form of the epoch, dropout is
//! keyed by (seed, step), and there is no random-generator state. So the
//! weights a step's loss was computed with are those of a checkpoint taken
//! at an epoch's end before it (or at the run's start), moved forward by the
//! steps between, through the trainer's own [`Trainer::run_epoch`] — the
//! same code, not a copy of it. The epoch holding the step is replayed as
//! an epoch over its first batches alone, in their order, without
//! shuffling: the same batches, the same step numbers, the same learning
//! rate and optimizer state.

use super::{epoch_order, Model, StepRecord, Trainer};
use crate::data::Dataset;
use crate::error::{Error, Result};
use chainrule::Float;

/// Where a replay stopped: step `step` about to be taken.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayedStep {
    /// The epoch of the step (1-based).
    pub epoch: usize,
    /// The step (1-based, counted over the whole run).
    pub step: usize,
    /// The step's batch: rows of the training set, in the order the
    /// trainer read them.
    pub rows: Vec<usize>,
    /// Steps replayed to get there.
    pub replayed: usize,
}

/// The number of steps `trainer`'s run takes per epoch on `train`.
pub fn steps_per_epoch<F: Float>(trainer: &Trainer<F>, train: &Dataset) -> usize {
    train.n.div_ceil(trainer.config().batch_size.max(1))
}

/// Moves `model` and `trainer` (between two epochs, as a checkpoint leaves
/// them) forward to the moment before step `step`'s update: `model` then
/// holds the weights that step's loss was computed with, and the returned
/// batch is the rows it was computed on. `on_step` sees every replayed
/// step's record (to compare with the run's own). Test data is not
/// evaluated. Refuses a step already taken before `trainer`'s state or
/// beyond the run.
pub fn replay_to_step<F: Float>(
    trainer: Trainer<F>,
    model: &mut Model<F>,
    train: &Dataset,
    step: usize,
    mut on_step: impl FnMut(&StepRecord),
) -> Result<ReplayedStep> {
    let mut trainer = trainer;
    let config = trainer.config().clone();
    let per_epoch = steps_per_epoch(&trainer, train);
    let total = per_epoch.saturating_mul(config.epochs);
    let done = trainer.history().steps.len();
    if done != trainer.epochs_done().saturating_mul(per_epoch) {
        return Err(Error::config(
            "train_step",
            format!(
                "the saved state has {done} steps done, not the {} of {} whole epochs",
                trainer.epochs_done() * per_epoch,
                trainer.epochs_done()
            ),
        ));
    }
    if step <= done || step > total || per_epoch == 0 {
        return Err(Error::config(
            "train_step",
            format!(
                "step {step} cannot be replayed from this state: give a step from {} to {total}",
                done + 1
            ),
        ));
    }
    let epoch = (step - 1) / per_epoch + 1;
    let within = step - (epoch - 1) * per_epoch;
    while trainer.epochs_done() + 1 < epoch {
        trainer.run_epoch(model, train, None, &mut on_step)?;
    }
    let order = epoch_order(train.n, config.seed, epoch, config.shuffle);
    let batches: Vec<&[usize]> = order.chunks(config.batch_size).collect();
    let before: Vec<usize> = batches[..within - 1].concat();
    if !before.is_empty() {
        // The epoch's first batches, as an epoch of their own in file order.
        let mut partial = config.clone();
        partial.shuffle = false;
        let mut t = Trainer::resume(&partial, trainer.state())?;
        t.run_epoch(model, &train.select(&before), None, &mut on_step)?;
    }
    Ok(ReplayedStep {
        epoch,
        step,
        rows: batches[within - 1].to_vec(),
        replayed: step - 1 - done,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Dataset, Targets};
    use crate::trainer::TrainConfig;

    fn data() -> Dataset {
        let n = 23;
        let features: Vec<f64> = (0..n * 3)
            .map(|i| ((i * 7919) % 97) as f64 / 50.0 - 1.0)
            .collect();
        let labels: Vec<usize> = (0..n).map(|i| (i * 5) % 3).collect();
        Dataset::new(
            "t",
            3,
            features,
            Targets::Classes { labels, classes: 3 },
            vec![],
        )
        .unwrap()
    }

    fn weights(m: &Model<f64>) -> Vec<Vec<f64>> {
        m.network
            .parameters()
            .iter()
            .map(|(_, p)| m.graph.param_value(*p).unwrap().into_vec())
            .collect()
    }

    /// The weights a replay stops at are those of the run itself after
    /// step − 1, bit for bit, for a step in the middle of an epoch and the
    /// first of one; the replayed losses are the run's.
    #[test]
    fn a_replay_stops_at_the_weights_the_run_had() {
        let train = data();
        let config = TrainConfig {
            hidden: vec![4],
            epochs: 3,
            batch_size: 5,
            ..TrainConfig::default()
        };
        // The run itself, keeping the weights after every step.
        let mut model = Model::<f64>::new(&train, &config).unwrap();
        let mut trainer = Trainer::new(&config).unwrap();
        let mut after: Vec<Vec<Vec<f64>>> = vec![weights(&model)];
        while !trainer.is_done() {
            trainer.run_epoch(&mut model, &train, None, |_| {}).unwrap();
            after.push(weights(&model));
        }
        let losses: Vec<f64> = trainer.history().steps.iter().map(|s| s.loss).collect();
        let per_epoch = 5; // 23 rows in batches of 5
        for step in [1, 3, 6, 7, 13, 15] {
            let mut m = Model::<f64>::new(&train, &config).unwrap();
            let mut seen = Vec::new();
            let r = replay_to_step(Trainer::new(&config).unwrap(), &mut m, &train, step, |s| {
                seen.push(s.loss)
            })
            .unwrap();
            assert_eq!(r.replayed, step - 1);
            assert_eq!(seen, losses[..step - 1], "step {step}");
            assert_eq!(r.epoch, (step - 1) / per_epoch + 1);
            let order = epoch_order(train.n, config.seed, r.epoch, true);
            let k = (step - 1) % per_epoch;
            let want: Vec<usize> = order.chunks(5).nth(k).unwrap().to_vec();
            assert_eq!(r.rows, want, "step {step}");
            if (step - 1) % per_epoch == 0 {
                assert_eq!(weights(&m), after[(step - 1) / per_epoch], "step {step}");
            }
            // The step's own loss, computed on the stopped weights in a
            // training pass, is the run's record of it.
            let mut t = Trainer::<f64>::new(&TrainConfig {
                shuffle: false,
                ..config.clone()
            })
            .unwrap();
            let mut got = None;
            t.run_epoch(&mut m, &train.select(&r.rows), None, |s| {
                got.get_or_insert(s.loss);
            })
            .unwrap();
            assert_eq!(got, Some(losses[step - 1]), "step {step}");
        }
        let e = replay_to_step(
            Trainer::new(&config).unwrap(),
            &mut Model::<f64>::new(&train, &config).unwrap(),
            &train,
            16,
            |_| {},
        )
        .unwrap_err();
        assert!(e.to_string().contains("1 to 15"), "{e}");
    }
}
