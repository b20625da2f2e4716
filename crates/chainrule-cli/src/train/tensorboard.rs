//! `chainrule train --tensorboard DIR`: the run as TensorBoard event files,
//! written as it goes, as a [`RunObserver`].
//!
//! Every value is at the global step (the optimizer steps so far) when it
//! was measured, so that all curves share one x axis:
//!
//! - every step: `train/loss`, the loss of the step's mini-batch;
//! - every epoch, at the epoch's last step: `train/epoch_loss` (the mean
//!   loss of the epoch's steps, weighted by rows), `train/lr` (the
//!   learning rate the epoch ran with), `test/loss` and `test/accuracy`
//!   (classification; for regression `test/loss` is the loss of the
//!   run, MSE by default) when there are test rows;
//! - every epoch, the gradient flow of the same fixed 64 training rows
//!   `--grad-report` measures (`chainrule_inspect::flow::layer_report`),
//!   one scalar per weight layer and measure:
//!   `grad_flow/<number> <layer>/<measure>` (`grad_flow/1
//!   linear(64)/delta_norm`, …);
//! - every epoch, histograms of every parameter (`weights/0.weight`) and
//!   of its gradient (`grads/0.weight`): the gradient of the mean loss of
//!   those same 64 rows, from one extra backward pass with the network in
//!   training mode and its buffers untouched, so the run's weights,
//!   optimizer and metrics are exactly those of a run without the flag.
//!
//! One event file per process, flushed at every epoch, checkpoint and the
//! end (and during long epochs every [`FLUSH_EVERY`]), so a live
//! TensorBoard follows the run. A resumed run writes a new file in the same
//! folder whose steps continue after the checkpoint's, starting with a
//! `SessionLog START` there: TensorBoard then drops any event a killed run
//! had written after the checkpoint (a run stopped with `--stop-after` has
//! none).
//!
//! A folder that cannot be written stops the run before its first epoch; a
//! write that fails later is reported at once and the run goes on without
//! TensorBoard, then ends with the error after saving the model and
//! metrics.

use chainrule_inspect::flow;
use chainrule_inspect::tensorboard::event::{Event, SummaryValue};
use chainrule_inspect::tensorboard::{wall_time, EventWriter};
use chainrule_nn::data::Dataset;
use chainrule_nn::network::Mode;
use chainrule_nn::trainer::{
    EpochRecord, History, Model, RunFiles, RunObserver, RunStart, StepRecord, TrainConfig,
};
use chainrule_nn::{Error, Result};
use serde_json::Value;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The longest a step's loss waits in the buffer during an epoch.
pub const FLUSH_EVERY: Duration = Duration::from_secs(10);

/// Writes a run's events into a TensorBoard folder.
pub struct TensorBoard {
    dir: PathBuf,
    /// The fixed training rows of the gradient flow and histograms.
    rows: Vec<usize>,
    writer: Option<EventWriter>,
    config: Option<TrainConfig>,
    /// The last step seen: where epoch values are written.
    step: i64,
    last_flush: Instant,
    /// The first write that failed: no more events are written.
    failed: Option<String>,
}

impl TensorBoard {
    /// An observer writing into `dir` (created when the run starts),
    /// measuring gradients on `rows` of the training data.
    pub fn new(dir: &Path, rows: Vec<usize>) -> TensorBoard {
        TensorBoard {
            dir: dir.to_path_buf(),
            rows,
            writer: None,
            config: None,
            step: 0,
            last_flush: Instant::now(),
            failed: None,
        }
    }

    /// The event file being written, once the run started.
    pub fn file(&self) -> Option<&Path> {
        self.writer.as_ref().map(EventWriter::path)
    }

    /// Runs `write` on the writer unless a write already failed; a failure
    /// is said at once (even with `--quiet`: it is an error) and kept for
    /// the end of the run.
    fn write(&mut self, write: impl FnOnce(&mut EventWriter) -> io::Result<()>) {
        if self.failed.is_some() {
            return;
        }
        let Some(w) = self.writer.as_mut() else {
            return;
        };
        if let Err(e) = write(w) {
            let text = format!(
                "cannot write {}: {e}; training goes on without TensorBoard events",
                w.path().display()
            );
            eprintln!("warning: tensorboard: {text}");
            self.failed = Some(text);
        }
    }

    fn flush(&mut self) {
        self.last_flush = Instant::now();
        self.write(EventWriter::flush);
    }
}

impl RunObserver<f32> for TensorBoard {
    fn on_start(&mut self, s: &RunStart<'_, f32>) -> Result<()> {
        let host = hostname();
        let writer = EventWriter::create(&self.dir, &host, s.steps_done as u64).map_err(|e| {
            Error::config(
                "tensorboard",
                format!("cannot write event files in {}: {e}", self.dir.display()),
            )
        })?;
        self.writer = Some(writer);
        self.config = Some(s.config.clone());
        self.step = s.steps_done as i64;
        if s.steps_done > 0 {
            let at = self.step + 1;
            let msg = format!(
                "resumed after step {} (epoch {})",
                s.steps_done, s.epochs_done
            );
            self.write(|w| w.write(&Event::start(wall_time(), at, &msg)));
            self.flush();
        }
        Ok(())
    }

    fn on_step(&mut self, s: &StepRecord) {
        self.step = s.step as i64;
        self.write(|w| w.scalar("train/loss", s.step as i64, s.loss));
        if self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush();
        }
    }

    fn on_epoch(
        &mut self,
        e: &EpochRecord,
        model: &mut Model<f32>,
        train: &Dataset,
    ) -> Result<Option<Value>> {
        if self.failed.is_some() {
            return Ok(None);
        }
        let mut values = vec![SummaryValue::scalar(
            "train/epoch_loss",
            e.train_loss as f32,
        )];
        if let Some(c) = &self.config {
            let lr = c.schedule.lr_at(c.lr, e.epoch - 1);
            values.push(SummaryValue::scalar("train/lr", lr as f32));
        }
        if let Some(l) = e.test_loss {
            values.push(SummaryValue::scalar("test/loss", l as f32));
        }
        if let Some(a) = e.test_accuracy {
            values.push(SummaryValue::scalar("test/accuracy", a as f32));
        }
        let report = flow::layer_report(model, train, &self.rows)?;
        for l in &report.layers {
            let measures = [
                ("delta_norm", l.delta_norm),
                ("delta_ratio", l.delta_ratio),
                ("grad_norm", l.grad_norm),
                ("mean_abs_grad", l.mean_abs_grad),
                ("weight_norm", l.weight_norm),
                ("grad_to_weight", l.grad_to_weight),
                ("dead_fraction", l.dead_fraction),
                ("saturated_fraction", l.saturated_fraction),
            ];
            for (name, v) in measures.into_iter().filter(|(_, v)| v.is_finite()) {
                let tag = format!("grad_flow/{} {}/{name}", l.number, l.text);
                values.push(SummaryValue::scalar(&tag, v as f32));
            }
        }
        for (name, weights) in parameter_values(model)? {
            values.extend(EventWriter::histogram_value(
                &format!("weights/{name}"),
                &weights,
            ));
        }
        for (name, grads) in gradients(model, train, &self.rows)? {
            values.extend(EventWriter::histogram_value(
                &format!("grads/{name}"),
                &grads,
            ));
        }
        let step = self.step;
        self.write(|w| w.summary(step, values));
        self.flush();
        Ok(None)
    }

    fn on_checkpoint(&mut self, _path: &Path) -> Result<()> {
        self.flush();
        Ok(())
    }

    fn on_finish(&mut self, _files: &RunFiles, _history: &History) -> Result<()> {
        self.flush();
        match &self.failed {
            Some(text) => Err(Error::config(
                "tensorboard",
                format!("{text} (the model and metrics were saved)"),
            )),
            None => Ok(()),
        }
    }
}

/// Every parameter's values, by its state_dict name.
fn parameter_values(model: &Model<f32>) -> Result<Vec<(String, Vec<f64>)>> {
    model
        .network
        .parameters()
        .into_iter()
        .map(|(name, id)| {
            let t = model.graph.param_value(id)?;
            Ok((name, t.data().iter().map(|&v| f64::from(v)).collect()))
        })
        .collect()
}

/// Every parameter's gradient of the mean loss of `rows` of `train`: one
/// forward and backward pass in training mode (the network's buffers
/// untouched); gradients are zeroed and the graph cleared before and after,
/// the mode restored. A parameter the loss does not reach has no entry.
fn gradients(
    model: &mut Model<f32>,
    train: &Dataset,
    rows: &[usize],
) -> Result<Vec<(String, Vec<f64>)>> {
    let mode = model.network.mode();
    model.network.set_mode(Mode::Train);
    model.graph.zero_grad();
    model.graph.clear();
    let result = (|| {
        let loss = model.loss_on_rows(train, rows)?;
        loss.backward()?;
        Ok(model
            .network
            .parameters()
            .into_iter()
            .filter_map(|(name, id)| {
                let g = model.graph.param_grad(id).ok()?;
                Some((name, g.data().iter().map(|&v| f64::from(v)).collect()))
            })
            .collect())
    })();
    model.graph.zero_grad();
    model.graph.clear();
    model.network.set_mode(mode);
    result
}

/// This machine's name, for the event file's name.
#[cfg(unix)]
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable for its whole length, which is passed.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// This machine's name, for the event file's name.
#[cfg(not(unix))]
fn hostname() -> String {
    std::env::var("COMPUTERNAME").unwrap_or_else(|_| "localhost".to_string())
}
