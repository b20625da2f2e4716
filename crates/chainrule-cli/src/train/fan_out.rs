//! Several [`RunObserver`]s seeing one run: the console and, with
//! `--tensorboard`, the event-file writer.

use chainrule_nn::data::Dataset;
use chainrule_nn::trainer::{
    EpochRecord, History, Model, RunFiles, RunObserver, RunStart, StepRecord,
};
use chainrule_nn::Result;
use serde_json::Value;
use std::path::Path;

/// Observers called in order. An epoch's gradient report is the first one
/// an observer returns; the end of the run reaches every observer, and the
/// first error is returned after all have seen it.
pub struct FanOut<'a> {
    observers: Vec<&'a mut dyn RunObserver<f32>>,
}

impl<'a> FanOut<'a> {
    pub fn new() -> FanOut<'a> {
        FanOut {
            observers: Vec::new(),
        }
    }

    /// Adds `o`, called after those already added.
    pub fn push(&mut self, o: &'a mut dyn RunObserver<f32>) {
        self.observers.push(o);
    }
}

impl RunObserver<f32> for FanOut<'_> {
    fn on_start(&mut self, s: &RunStart<'_, f32>) -> Result<()> {
        self.observers.iter_mut().try_for_each(|o| o.on_start(s))
    }

    fn on_step(&mut self, s: &StepRecord) {
        for o in &mut self.observers {
            o.on_step(s);
        }
    }

    fn on_epoch(
        &mut self,
        e: &EpochRecord,
        model: &mut Model<f32>,
        train: &Dataset,
    ) -> Result<Option<Value>> {
        let mut report = None;
        for o in &mut self.observers {
            let r = o.on_epoch(e, model, train)?;
            report = report.or(r);
        }
        Ok(report)
    }

    fn on_checkpoint(&mut self, path: &Path) -> Result<()> {
        self.observers
            .iter_mut()
            .try_for_each(|o| o.on_checkpoint(path))
    }

    fn on_finish(&mut self, files: &RunFiles, history: &History) -> Result<()> {
        let mut first = Ok(());
        for o in &mut self.observers {
            let r = o.on_finish(files, history);
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}
