//! A [`TrainingRun`]: its observer sees every step and epoch, its files are
//! written, and a run stopped after 2 of 5 epochs and resumed from its
//! checkpoint ends with the files of a run that never stopped, gradient
//! reports included.

use chainrule_nn::checkpoint::{self, CHECKPOINT_FILE};
use chainrule_nn::data::{load, train_test_split, Dataset, LabelKind};
use chainrule_nn::trainer::{
    EpochRecord, History, Model, RunData, RunFiles, RunObserver, RunStart, Start, StepRecord,
    TrainConfig, TrainingRun, GRAD_REPORTS_KEY,
};
use chainrule_nn::{Error, Result};
use serde_json::{json, Value};
use std::path::Path;

fn iris() -> (Dataset, Dataset) {
    let data = load("iris", LabelKind::Class).unwrap().train;
    train_test_split(&data, 0.2, 3).unwrap()
}

fn config() -> TrainConfig {
    TrainConfig {
        hidden: vec![8],
        epochs: 5,
        batch_size: 16,
        seed: 4,
        lr: 0.01,
        ..TrainConfig::default()
    }
}

#[derive(Default)]
struct Seen {
    starts: Vec<(usize, usize, usize)>,
    steps: usize,
    epochs: Vec<usize>,
    checkpoints: usize,
    finished: Option<History>,
}

impl RunObserver<f32> for Seen {
    fn on_start(&mut self, s: &RunStart<'_, f32>) -> Result<()> {
        self.starts
            .push((s.epochs_done, s.steps_done, s.total_steps));
        Ok(())
    }
    fn on_step(&mut self, _: &StepRecord) {
        self.steps += 1;
    }
    fn on_epoch(
        &mut self,
        e: &EpochRecord,
        _: &mut Model<f32>,
        _: &Dataset,
    ) -> Result<Option<Value>> {
        self.epochs.push(e.epoch);
        Ok(Some(json!({ "epoch": e.epoch })))
    }
    fn on_checkpoint(&mut self, path: &Path) -> Result<()> {
        assert!(path.ends_with(CHECKPOINT_FILE));
        self.checkpoints += 1;
        Ok(())
    }
    fn on_finish(&mut self, files: &RunFiles, history: &History) -> Result<()> {
        assert!(files.model.exists() && files.metrics.exists());
        self.finished = Some(history.clone());
        Ok(())
    }
}

fn data<'d>(train: &'d Dataset, test: &'d Dataset) -> RunData<'d> {
    RunData {
        train,
        test: Some(test),
        standardizer: None,
        record: None,
    }
}

#[test]
fn a_run_stopped_and_resumed_ends_as_one_that_never_stopped() {
    let (train, test) = iris();
    let tmp = tempfile::tempdir().unwrap();
    let fresh = || Start::Fresh {
        arch: None,
        init: None,
    };

    let whole_dir = tmp.path().join("whole");
    std::fs::create_dir(&whole_dir).unwrap();
    let mut seen = Seen::default();
    let mut run = TrainingRun::<f32>::new(data(&train, &test), &config(), fresh())
        .unwrap()
        .checkpoint_every(2);
    let files = run.run(&whole_dir, &mut seen).unwrap();
    assert_eq!(seen.starts, vec![(0, 0, 5 * 8)]);
    assert_eq!(
        (seen.steps, seen.epochs.len(), seen.checkpoints),
        (40, 5, 2)
    );
    assert_eq!(seen.finished.as_ref(), Some(run.history()));
    assert_eq!(run.grad_reports().len(), 5);
    let metrics: Value = serde_json::from_slice(&std::fs::read(&files.metrics).unwrap()).unwrap();
    assert_eq!(metrics["epochs"][4]["grad_report"], json!({ "epoch": 5 }));
    assert_eq!(metrics["steps"].as_array().unwrap().len(), 40);

    let parts_dir = tmp.path().join("parts");
    std::fs::create_dir(&parts_dir).unwrap();
    let mut first = Seen::default();
    let mut run = TrainingRun::<f32>::new(data(&train, &test), &config(), fresh())
        .unwrap()
        .stop_after(Some(2))
        .unwrap();
    run.run(&parts_dir, &mut first).unwrap();
    assert_eq!((first.epochs.clone(), first.checkpoints), (vec![1, 2], 1));
    assert!(!run.trainer().is_done());

    let ck = checkpoint::load::<f32>(&parts_dir.join(CHECKPOINT_FILE)).unwrap();
    assert!(ck.extra.contains_key(GRAD_REPORTS_KEY));
    let mut second = Seen::default();
    let mut run =
        TrainingRun::new(data(&train, &test), &config(), Start::Resume(Box::new(ck))).unwrap();
    run.run(&parts_dir, &mut second).unwrap();
    assert_eq!(second.starts, vec![(2, 16, 40)]);
    assert_eq!(second.epochs, vec![3, 4, 5]);
    for file in ["model.safetensors", "metrics.json"] {
        assert_eq!(
            std::fs::read(whole_dir.join(file)).unwrap(),
            std::fs::read(parts_dir.join(file)).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn stop_after_and_a_foreign_config_are_refused() {
    let (train, test) = iris();
    let fresh = Start::Fresh {
        arch: None,
        init: None,
    };
    let run = TrainingRun::<f32>::new(data(&train, &test), &config(), fresh).unwrap();
    let e = run.stop_after(Some(6)).err().unwrap();
    assert!(matches!(e, Error::Config { .. }), "{e}");

    let tmp = tempfile::tempdir().unwrap();
    let mut run = TrainingRun::<f32>::new(
        data(&train, &test),
        &config(),
        Start::Fresh {
            arch: None,
            init: None,
        },
    )
    .unwrap()
    .stop_after(Some(1))
    .unwrap();
    run.run(tmp.path(), &mut ()).unwrap();
    let ck = checkpoint::load::<f32>(&tmp.path().join(CHECKPOINT_FILE)).unwrap();
    let other = TrainConfig {
        lr: 0.02,
        ..config()
    };
    let e = TrainingRun::new(data(&train, &test), &other, Start::Resume(Box::new(ck)))
        .err()
        .unwrap();
    assert!(e.to_string().contains("does not match"), "{e}");
}
