//! A whole training run as one object: a [`TrainingRun`] is built from the
//! data, the config and where its model comes from (a fresh network, one
//! with weights from an `--init` file, or a checkpoint to continue), and
//! [`TrainingRun::run`] owns everything a run does in its folder:
//!
//! - the epoch loop (a [`Trainer`]: a NaN or infinite loss stops the run
//!   before the update that would spread it into the weights);
//! - a checkpoint ([`CHECKPOINT_FILE`]) with `model.safetensors` and
//!   `metrics.json` every `checkpoint_every` epochs and at `stop_after`;
//! - `model.safetensors` and `metrics.json` at the end.
//!
//! What the run shows is the caller's: a [`RunObserver`] sees its start,
//! every step, every epoch (and may return the epoch's gradient report, kept
//! in `metrics.json` and in checkpoints), every checkpoint and its end.

use super::{
    output_size, resolve_loss, AllReduce, EpochRecord, GradientReducer, History, Model, StepRecord,
    TrainConfig, Trainer,
};
use crate::arch::LayerSpec;
use crate::checkpoint::{self, Checkpoint, CHECKPOINT_FILE};
use crate::data::{Dataset, Standardizer};
use crate::error::{Error, Result};
use crate::model_io::{apply_loaded, save_model_with_data, DataRecord};
use crate::network;
use chainrule::Float;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The checkpoint entry (`extra.KEY`) holding the per-epoch gradient
/// reports so far (the name the command line has always written).
pub const GRAD_REPORTS_KEY: &str = "cli.grad_reports";
/// The model's file name in a run folder.
pub const MODEL_FILE: &str = "model.safetensors";
/// The metrics' file name in a run folder.
pub const METRICS_FILE: &str = "metrics.json";

/// Where a run's model comes from.
pub enum Start<'a, F: Float> {
    /// A new network: the config's MLP (`hidden`, `activation`), or the
    /// architecture `arch`, its weights drawn by the config's init and
    /// seed, then replaced by those of the safetensors file `init`, if any.
    Fresh {
        arch: Option<&'a [LayerSpec]>,
        init: Option<&'a Path>,
    },
    /// The run saved in a checkpoint, continued (its config must be the
    /// run's, its data the run's data).
    Resume(Box<Checkpoint<F>>),
}

/// The data a run trains on.
pub struct RunData<'d> {
    pub train: &'d Dataset,
    pub test: Option<&'d Dataset>,
    /// The input standardization fitted on `train`, given to a fresh model
    /// (a resumed one keeps its own).
    pub standardizer: Option<&'d Standardizer>,
    /// What `model.safetensors` records about the data.
    pub record: Option<DataRecord>,
}

/// What an observer sees when a run starts (or continues).
pub struct RunStart<'a, F: Float> {
    /// The run folder.
    pub dir: &'a Path,
    pub model: &'a Model<F>,
    pub config: &'a TrainConfig,
    /// Epochs and steps already done (a resumed run).
    pub epochs_done: usize,
    pub steps_done: usize,
    /// Steps of the whole run, done ones included.
    pub total_steps: usize,
}

/// The files of a run folder.
#[derive(Clone, Debug, PartialEq)]
pub struct RunFiles {
    pub dir: PathBuf,
    pub model: PathBuf,
    pub metrics: PathBuf,
    pub checkpoint: PathBuf,
}

impl RunFiles {
    /// The files of the run folder `dir`.
    pub fn in_dir(dir: &Path) -> RunFiles {
        RunFiles {
            dir: dir.to_path_buf(),
            model: dir.join(MODEL_FILE),
            metrics: dir.join(METRICS_FILE),
            checkpoint: dir.join(CHECKPOINT_FILE),
        }
    }
}

/// What a caller sees of a run while it runs; every method does nothing by
/// default.
pub trait RunObserver<F: Float> {
    /// Before the first epoch of this process.
    fn on_start(&mut self, _start: &RunStart<'_, F>) -> Result<()> {
        Ok(())
    }

    /// After every optimizer step.
    fn on_step(&mut self, _step: &StepRecord) {}

    /// After every epoch, with the model between epochs: returns the
    /// epoch's gradient report, if any, kept in `metrics.json` and in
    /// checkpoints (return one every epoch or never).
    fn on_epoch(
        &mut self,
        _record: &EpochRecord,
        _model: &mut Model<F>,
        _train: &Dataset,
    ) -> Result<Option<Value>> {
        Ok(None)
    }

    /// After a checkpoint (with the model and metrics) was written to `path`.
    fn on_checkpoint(&mut self, _path: &Path) -> Result<()> {
        Ok(())
    }

    /// After the last epoch, once the model and metrics are written.
    fn on_finish(&mut self, _files: &RunFiles, _history: &History) -> Result<()> {
        Ok(())
    }
}

/// An observer that sees nothing.
impl<F: Float> RunObserver<F> for () {}

/// A training run: data, config, model, progress and what it writes.
pub struct TrainingRun<'d, F: Float> {
    data: RunData<'d>,
    model: Model<F>,
    trainer: Trainer<F>,
    grad_reports: Vec<Value>,
    checkpoint_every: usize,
    stop_after: Option<usize>,
    extra: BTreeMap<String, String>,
    remove_stale_checkpoint: bool,
    /// False on the ranks other than 0 of a data-parallel run.
    writes_files: bool,
}

impl<'d, F: Float> TrainingRun<'d, F> {
    /// A run of `config` on `data` with the model of `start`; checks that
    /// the model fits the data (and, resuming, that the checkpoint's config
    /// is `config` and its data `data`).
    pub fn new(data: RunData<'d>, config: &TrainConfig, start: Start<'_, F>) -> Result<Self> {
        let (model, trainer, grad_reports) = match start {
            Start::Resume(ck) => {
                let ck = *ck;
                let reports = saved_grad_reports(&ck);
                if ck.config != *config {
                    return Err(Error::config(
                        "resume",
                        "the checkpoint's training config does not match its flags",
                    ));
                }
                let (model, trainer) = ck.resume(data.train, data.test)?;
                (model, trainer, reports)
            }
            Start::Fresh { arch, init } => {
                let mut model = match arch {
                    Some(specs) => arch_model(data.train, config, specs)?,
                    None => Model::<F>::new(data.train, config)?,
                };
                model.standardizer = data.standardizer.cloned();
                if let Some(path) = init {
                    apply_loaded(&mut model, path)?;
                }
                (model, Trainer::new(config)?, Vec::new())
            }
        };
        Ok(TrainingRun {
            data,
            model,
            trainer,
            grad_reports,
            checkpoint_every: 0,
            stop_after: None,
            extra: BTreeMap::new(),
            remove_stale_checkpoint: false,
            writes_files: true,
        })
    }

    /// Every `every` epochs (0: never), write a checkpoint with the model
    /// and metrics.
    pub fn checkpoint_every(mut self, every: usize) -> Self {
        self.checkpoint_every = every;
        self
    }

    /// Stop after epoch `stop` (if given), writing a checkpoint: it must lie
    /// after the epochs done and at most at the config's epochs.
    pub fn stop_after(mut self, stop: Option<usize>) -> Result<Self> {
        if let Some(stop) = stop {
            let (done, epochs) = (self.trainer.epochs_done(), self.config().epochs);
            if stop <= done || stop > epochs {
                return Err(Error::config(
                    "stop-after",
                    format!(
                        "must lie after the epochs done ({done}) and at most --epochs \
                         ({epochs}), got {stop}"
                    ),
                ));
            }
        }
        self.stop_after = stop;
        Ok(self)
    }

    /// An entry kept in every checkpoint as `extra.KEY` (besides
    /// [`GRAD_REPORTS_KEY`], which the run writes).
    pub fn checkpoint_extra(mut self, key: &str, value: String) -> Self {
        self.extra.insert(key.to_string(), value);
        self
    }

    /// When `remove` and the run wrote no checkpoint, remove the folder's
    /// checkpoint at the end: an earlier run's would resume that run, not
    /// this one (a folder reused with `--overwrite`).
    pub fn remove_stale_checkpoint(mut self, remove: bool) -> Self {
        self.remove_stale_checkpoint = remove;
        self
    }

    /// Trains as one replica of a data-parallel run (see
    /// [`GradientReducer`]): every rank runs the same epochs on its share of
    /// each batch, and rank 0 alone writes the files (checkpoints, model
    /// and metrics); the others write nothing.
    pub fn distributed(mut self, reducer: Box<dyn GradientReducer<F>>) -> Self {
        self.writes_files = reducer.rank() == 0;
        self.trainer.set_reducer(reducer);
        self
    }

    /// When a distributed run sums its gradients (default
    /// [`AllReduce::Overlap`]: during the backward pass).
    pub fn allreduce(mut self, mode: AllReduce) -> Self {
        self.trainer.set_allreduce(mode);
        self
    }

    pub fn model(&self) -> &Model<F> {
        &self.model
    }

    pub fn config(&self) -> &TrainConfig {
        self.trainer.config()
    }

    pub fn trainer(&self) -> &Trainer<F> {
        &self.trainer
    }

    pub fn history(&self) -> &History {
        self.trainer.history()
    }

    /// The per-epoch gradient reports so far.
    pub fn grad_reports(&self) -> &[Value] {
        &self.grad_reports
    }

    /// The run, and the model, ending it.
    pub fn into_model(self) -> Model<F> {
        self.model
    }

    /// Runs the epochs left (up to `stop_after`) with their checkpoints,
    /// then writes `model.safetensors` and `metrics.json` into `dir`.
    pub fn run<O: RunObserver<F> + ?Sized>(
        &mut self,
        dir: &Path,
        observer: &mut O,
    ) -> Result<RunFiles> {
        let files = RunFiles::in_dir(dir);
        let config = self.trainer.config();
        let steps_per_epoch = self.data.train.n.div_ceil(config.batch_size);
        observer.on_start(&RunStart {
            dir,
            model: &self.model,
            config,
            epochs_done: self.trainer.epochs_done(),
            steps_done: self.trainer.history().steps.len(),
            total_steps: steps_per_epoch.saturating_mul(config.epochs),
        })?;
        let mut wrote_checkpoint = false;
        while !self.trainer.is_done() {
            let e =
                self.trainer
                    .run_epoch(&mut self.model, self.data.train, self.data.test, |s| {
                        observer.on_step(s)
                    })?;
            if let Some(report) = observer.on_epoch(&e, &mut self.model, self.data.train)? {
                self.grad_reports.push(report);
            }
            let stop = self.stop_after == Some(e.epoch);
            let due = stop || (self.checkpoint_every > 0 && e.epoch % self.checkpoint_every == 0);
            if due && self.writes_files {
                wrote_checkpoint = true;
                self.save_checkpoint(&files)?;
                observer.on_checkpoint(&files.checkpoint)?;
            }
            if stop {
                break;
            }
        }
        if !self.writes_files {
            return Ok(files);
        }
        self.save_model_and_metrics(&files)?;
        observer.on_finish(&files, self.trainer.history())?;
        if self.remove_stale_checkpoint && !wrote_checkpoint && files.checkpoint.exists() {
            std::fs::remove_file(&files.checkpoint).map_err(|e| {
                Error::config("out", format!("{}: {e}", files.checkpoint.display()))
            })?;
        }
        Ok(files)
    }

    /// The checkpoint, then the model and metrics.
    fn save_checkpoint(&self, files: &RunFiles) -> Result<()> {
        let mut extra = self.extra.clone();
        extra.insert(
            GRAD_REPORTS_KEY.to_string(),
            Value::from(self.grad_reports.clone()).to_string(),
        );
        checkpoint::save(
            &files.checkpoint,
            &self.model,
            &self.trainer,
            self.data.train,
            self.data.test,
            &extra,
        )?;
        self.save_model_and_metrics(files)
    }

    fn save_model_and_metrics(&self, files: &RunFiles) -> Result<()> {
        save_model_with_data(&files.model, &self.model, self.data.record.as_ref())?;
        write_metrics(
            &files.metrics,
            self.trainer.history(),
            &self.grad_reports,
            self.config().epochs,
        )
    }
}

/// The network of architecture `specs` for `data` (2-d layers read the
/// data's example shape), its outputs checked against the data's.
fn arch_model<F: Float>(
    data: &Dataset,
    config: &TrainConfig,
    specs: &[LayerSpec],
) -> Result<Model<F>> {
    let loss = resolve_loss(data, config.loss)?;
    let shape = if network::specs_are_2d(specs) {
        data.input_shape.clone()
    } else {
        vec![data.d]
    };
    let model = Model::<F>::from_arch(specs, &shape, config.init, config.seed, loss)?;
    let want = output_size(data, loss);
    let have = model.network.out_features();
    if want != have {
        return Err(Error::config(
            "arch",
            format!(
                "the last layer gives {have} outputs, {} needs {want} \
                 (end with linear({want}))",
                data.name
            ),
        ));
    }
    model.check_data(data)?;
    Ok(model)
}

/// The gradient reports a checkpointed run had recorded.
fn saved_grad_reports<F: Float>(ck: &Checkpoint<F>) -> Vec<Value> {
    ck.extra
        .get(GRAD_REPORTS_KEY)
        .and_then(|s| serde_json::from_str::<Vec<Value>>(s).ok())
        .unwrap_or_default()
}

/// `{"epochs_planned", "steps": [{"epoch", "step", "loss"}...], "epochs": [{"epoch", "train_loss", "test_loss", "test_accuracy"}...]}`,
/// each epoch with its `"grad_report"` when `grad_reports` has one;
/// `epochs_planned` is the run's `--epochs` (files written before it was
/// recorded lack it: readers take a missing one as unknown).
pub fn write_metrics(
    path: &Path,
    h: &History,
    grad_reports: &[Value],
    epochs_planned: usize,
) -> Result<()> {
    let steps: Vec<_> = h
        .steps
        .iter()
        .map(|s| json!({"epoch": s.epoch, "step": s.step, "loss": s.loss}))
        .collect();
    let epochs: Vec<_> = h
        .epochs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut o = json!({"epoch": e.epoch, "train_loss": e.train_loss});
            if let Some(r) = grad_reports.get(i) {
                o["grad_report"] = r.clone();
            }
            if let Some(l) = e.test_loss {
                o["test_loss"] = json!(l);
            }
            if let Some(a) = e.test_accuracy {
                o["test_accuracy"] = json!(a);
            }
            o
        })
        .collect();
    let text = serde_json::to_string_pretty(
        &json!({"epochs_planned": epochs_planned, "steps": steps, "epochs": epochs}),
    )
    .map_err(|e| Error::config("metrics", e.to_string()))?;
    crate::atomic::write_atomically(path, text.as_bytes())
        .map_err(|e| Error::config("out", format!("{}: {e}", path.display())))
}
