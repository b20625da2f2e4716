//! `/explore?model=RUN&train_step=N&batch_row=R`: the explorer on the
//! weights a run held when it computed step N's loss (before that step's
//! update), on row R of that step's batch.
//!
//! Nothing is kept per step. A run streamed to the server (`--serve`, or
//! started from `/train`) writes `start.safetensors`, a checkpoint of its
//! state at its start; its `checkpoint.safetensors` (if any) is a later
//! one. The server loads the latest of the two before step N and replays
//! the steps between with the trainer's own code
//! ([`chainrule_nn::trainer::replay_to_step`]): training is deterministic,
//! so the weights are exactly those of the run. Every replayed step's loss
//! is compared with the run's own record in `metrics.json`: a replay that
//! does not reproduce it is refused, never shown.

use super::error::ApiError;
use super::limits::{MAX_CHECKPOINT_BYTES, MAX_METRICS_BYTES, MAX_REPLAY_STEPS};
use super::query::Params;
use super::runs::{read_plain, run_folder};
use crate::explain::{trace_example, Traced};
use crate::explain_source::dataset_example;
use crate::resume;
use crate::train::{self, DISTRIBUTED_KEY, START_FILE};
use axum::http::StatusCode;
use chainrule_nn::checkpoint::{self, Checkpoint, CHECKPOINT_FILE};
use chainrule_nn::trainer::{replay_to_step, Model};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// A request for one training step of a run.
#[derive(Clone, Debug)]
pub struct StepRequest {
    /// The run's name and folder.
    pub run: String,
    pub folder: PathBuf,
    /// The step (1-based, over the whole run).
    pub step: usize,
    /// The row of the step's batch (0-based, in the order the trainer read
    /// the batch).
    pub batch_row: usize,
    /// The explorer's learning rate, if the query gives one (else the run's).
    pub lr: Option<f64>,
}

/// The parameters that cannot go with `train_step`: the example is the
/// batch's row, the network the run's.
const NOT_WITH_STEP: [&str; 9] = [
    "expr", "at", "example", "layers", "row", "input", "target", "loss", "seed",
];

fn whole(params: &Params, key: &str, least: usize) -> Result<Option<usize>, ApiError> {
    params
        .get(key)
        .map(|s| {
            s.parse::<usize>()
                .ok()
                .filter(|&n| n >= least)
                .ok_or_else(|| ApiError::bad(key, format!("'{s}' is not a whole number ≥ {least}")))
        })
        .transpose()
}

/// The step the query asks for, if it gives `train_step`.
pub fn requested(
    params: &Params,
    runs: &Path,
    lr: Option<f64>,
) -> Result<Option<StepRequest>, ApiError> {
    let Some(step) = whole(params, "train_step", 1)? else {
        if params.get("batch_row").is_some() {
            return Err(ApiError::bad(
                "batch_row",
                "batch_row needs train_step (and model)",
            ));
        }
        return Ok(None);
    };
    let Some(run) = params.get("model") else {
        return Err(ApiError::bad(
            "model",
            "train_step needs model=RUN, the run whose step it is",
        ));
    };
    if let Some(k) = NOT_WITH_STEP.iter().find(|k| params.get(k).is_some()) {
        return Err(ApiError::bad(
            k,
            format!(
                "'{k}' cannot go with train_step: the network is the run's, the example row \
                 batch_row of the step's batch"
            ),
        ));
    }
    Ok(Some(StepRequest {
        run: run.to_string(),
        folder: run_folder(runs, run)?,
        step,
        batch_row: whole(params, "batch_row", 0)?.unwrap_or(0),
        lr,
    }))
}

fn conflict(setting: &str, message: String) -> ApiError {
    ApiError {
        status: StatusCode::CONFLICT,
        setting: Some(setting.into()),
        message,
    }
}

/// The run's recorded step losses from its `metrics.json`.
fn recorded_losses(req: &StepRequest) -> Result<Vec<f64>, ApiError> {
    let bytes = read_plain(&req.folder, "metrics.json", MAX_METRICS_BYTES).ok_or_else(|| {
        conflict(
            "model",
            format!(
                "run '{}' has no metrics.json yet: its steps open once it finishes or writes \
                 a checkpoint",
                req.run
            ),
        )
    })?;
    let m: Value = serde_json::from_slice(&bytes)
        .map_err(|e| conflict("model", format!("metrics.json of '{}': {e}", req.run)))?;
    Ok(m["steps"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|s| s["loss"].as_f64().unwrap_or(f64::NAN))
                .collect()
        })
        .unwrap_or_default())
}

/// A checkpoint file of the run folder, if it is there (a plain file of a
/// sane size) and reads.
fn load(req: &StepRequest, file: &str) -> Result<Option<Checkpoint<f32>>, ApiError> {
    let Some(bytes) = read_plain(&req.folder, file, MAX_CHECKPOINT_BYTES) else {
        return Ok(None);
    };
    let ck = checkpoint::load_bytes::<f32>(&bytes, &format!("{file} of run {}", req.run))?;
    Ok(Some(ck))
}

/// The latest saved state before `req.step`: the checkpoint if it is
/// early enough, else the run's start.
fn start_of(req: &StepRequest) -> Result<(Checkpoint<f32>, &'static str), ApiError> {
    if let Some(ck) = load(req, CHECKPOINT_FILE)? {
        if ck.state.steps_done < req.step {
            return Ok((ck, CHECKPOINT_FILE));
        }
    }
    match load(req, START_FILE)? {
        Some(ck) if ck.state.steps_done < req.step => Ok((ck, START_FILE)),
        Some(ck) => Err(conflict(
            "train_step",
            format!(
                "run '{}' was resumed after step {}: steps from {} on can be opened",
                req.run,
                ck.state.steps_done,
                ck.state.steps_done + 1
            ),
        )),
        None => Err(conflict(
            "model",
            format!(
                "run '{}' has no {START_FILE}: only runs trained with --serve (or from /train) \
                 keep the start a step is replayed from",
                req.run
            ),
        )),
    }
}

/// What the page says about the step, beside the trace.
pub struct Replayed {
    pub traced: Traced,
    /// The replayed model in f64, for the gradient check.
    pub model: Model<f64>,
    pub facts: Value,
}

/// Replays run `req.run` to just before step `req.step`'s update and
/// traces row `req.batch_row` of the step's batch.
pub fn replay(req: &StepRequest) -> Result<Replayed, ApiError> {
    let recorded = recorded_losses(req)?;
    if req.step > recorded.len() {
        return Err(ApiError::bad(
            "train_step",
            format!(
                "run '{}' recorded {} steps: give a train_step from 1 to {}",
                req.run,
                recorded.len(),
                recorded.len()
            ),
        ));
    }
    let (ck, file) = start_of(req)?;
    let from = ck.state.steps_done;
    if req.step - 1 - from > MAX_REPLAY_STEPS {
        return Err(ApiError::bad(
            "train_step",
            format!(
                "step {} is {} steps after the run's last saved state (step {from}), more than \
                 the {MAX_REPLAY_STEPS} a request may replay",
                req.step,
                req.step - 1 - from
            ),
        ));
    }
    if ck.extra.contains_key(DISTRIBUTED_KEY) {
        // One process would sum each batch's gradients in another order
        // than the ranks did: the replay could not reproduce the record.
        return Err(conflict(
            "model",
            format!(
                "run '{}' was trained with --distributed: its steps are not replayed on one \
                 process, whose sums would run in another order than the ranks'",
                req.run
            ),
        ));
    }
    let args = resume::checkpoint_args(&ck, Path::new(file))?;
    let cfg = train::config(&args)?;
    if cfg != ck.config {
        return Err(conflict(
            "model",
            format!(
                "{file} of run '{}': its flags do not give its training config",
                req.run
            ),
        ));
    }
    let data = train::prepare_data(&args, &cfg)?;
    let (mut model, trainer) = ck.resume(&data.train, data.test.as_ref())?;
    let mut mismatch: Option<(usize, f64, f64)> = None;
    let at = replay_to_step(trainer, &mut model, &data.train, req.step, |s| {
        let want = recorded.get(s.step - 1).copied().unwrap_or(f64::NAN);
        if mismatch.is_none() && want != s.loss {
            mismatch = Some((s.step, want, s.loss));
        }
    })?;
    if let Some((step, want, got)) = mismatch {
        return Err(conflict(
            "model",
            format!(
                "replaying run '{}' does not reproduce its record: step {step} recorded loss \
                 {want}, replayed {got} (its data or files changed since it ran, or it was \
                 trained by another version of chainrule?)",
                req.run
            ),
        ));
    }
    let Some(&row) = at.rows.get(req.batch_row) else {
        return Err(ApiError::bad(
            "batch_row",
            format!(
                "step {}'s batch has {} rows: give a batch_row from 0 to {}",
                req.step,
                at.rows.len(),
                at.rows.len() - 1
            ),
        ));
    };
    // The pass in f64 on the run's f32 weights and its f32 input, exactly:
    // the rows are standardized already, as the trainer read them.
    let mut model = model.cast::<f64>()?;
    model.standardizer = None;
    let shown = model.cast::<f64>()?;
    let mut example = dataset_example(
        &data.train,
        row,
        &model,
        &format!(
            "row {} of step {}'s batch: training row {row} of {}",
            req.batch_row, req.step, data.train.name
        ),
    );
    for v in &mut example.input {
        *v = f64::from(*v as f32);
    }
    let lr = req.lr.unwrap_or(cfg.lr);
    let title = format!(
        "Run {} before the update of step {} (epoch {}), batch row {}",
        req.run, req.step, at.epoch, req.batch_row
    );
    let traced = trace_example(shown, title, example, lr)?;
    let facts = json!({
        "run": req.run,
        "step": req.step,
        "epoch": at.epoch,
        "batch_row": req.batch_row,
        "batch_size": at.rows.len(),
        "training_row": row,
        "batch_rows": at.rows,
        "recorded_loss": recorded[req.step - 1],
        "run_steps": recorded.len(),
        "optimizer": args.optimizer,
        "run_lr": cfg.lr,
        "replayed_from": file,
        "replayed_from_step": from,
        "replayed_steps": at.replayed,
    });
    Ok(Replayed {
        traced,
        model,
        facts,
    })
}
