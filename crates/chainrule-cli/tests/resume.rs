//! `chainrule train --checkpoint-every/--stop-after/--resume` end to end: a
//! run stopped after 5 of 10 epochs and resumed writes the same bytes
//! (model.safetensors, metrics.json, curves.svg) as the run that never
//! stopped, for SGD with momentum and for Adam; a resume that contradicts
//! the run's flags is refused; a run that fails keeps the model already on
//! disk.

use std::path::Path;
use std::process::Output;
mod common;

use common::chainrule;

fn ok(args: &[&str]) -> Output {
    let o = chainrule(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn refused(args: &[&str]) -> String {
    let o = chainrule(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{args:?} succeeded");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    err
}

fn same_files(a: &Path, b: &Path) {
    for f in ["model.safetensors", "metrics.json", "curves.svg"] {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(
            x == y,
            "{f} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

fn straight_and_resumed(flags: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let mut args = vec![
        "train", "--data", "digits", "--hidden", "16", "--epochs", "10",
    ];
    args.extend_from_slice(flags);
    ok(&[&args[..], &["--quiet", "--out", a]].concat());
    ok(&[&args[..], &["--quiet", "--out", b, "--stop-after", "5"]].concat());
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(Path::new(b).join("metrics.json")).unwrap()).unwrap();
    assert_eq!(m["epochs"].as_array().unwrap().len(), 5, "stopped after 5");
    // Resume names only the folder; repeating a flag with its value is fine.
    let o = ok(&["train", "--resume", b, "--epochs", "10"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("after epoch 5 of 10") && text.contains("epoch  10/10"),
        "{text}"
    );
    same_files(Path::new(a), Path::new(b));
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(Path::new(b).join("metrics.json")).unwrap()).unwrap();
    // 1438 training rows in batches of 32: 45 steps an epoch.
    assert_eq!(m["steps"].as_array().unwrap().len(), 450);
    assert_eq!(m["epochs"].as_array().unwrap().len(), 10);
}

#[test]
fn sgd_with_momentum_stopped_and_resumed_equals_the_straight_run() {
    straight_and_resumed(&["--optimizer", "sgd", "--lr", "0.05", "--momentum", "0.9"]);
}

#[test]
fn adam_stopped_and_resumed_equals_the_straight_run() {
    // With a schedule and the per-epoch gradient report, both restored too.
    straight_and_resumed(&[
        "--optimizer",
        "adam",
        "--schedule",
        "step:3:0.5",
        "--grad-report",
        "--checkpoint-every",
        "2",
    ]);
}

#[test]
fn contradicting_flags_and_folders_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let run_s = run.to_str().unwrap();
    ok(&[
        "train",
        "--data",
        "iris",
        "--epochs",
        "4",
        "--lr",
        "0.01",
        "--stop-after",
        "2",
        "--quiet",
        "--out",
        run_s,
    ]);
    let err = refused(&["train", "--resume", run_s, "--lr", "0.02"]);
    assert!(
        err.contains("--lr 0.02 contradicts the run being resumed, started with --lr 0.01"),
        "{err}"
    );
    let err = refused(&["train", "--resume", run_s, "--no-shuffle"]);
    assert!(
        err.contains("--no-shuffle true contradicts") && err.contains("(not set)"),
        "{err}"
    );
    let err = refused(&["train", "--resume", run_s, "--out", "elsewhere"]);
    assert!(err.contains("differs from the folder resumed"), "{err}");
    let err = refused(&["train", "--resume", run_s, "--stop-after", "1"]);
    assert!(
        err.contains("stop-after") && err.contains("epochs done (2)"),
        "{err}"
    );
    // A fresh run would overwrite the checkpoint of another run.
    let err = refused(&["train", "--data", "iris", "--out", run_s]);
    assert!(
        err.contains("holds the checkpoint of an earlier run"),
        "{err}"
    );
    // A folder without a checkpoint.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = refused(&["train", "--resume", empty.to_str().unwrap()]);
    assert!(err.contains("checkpoint.safetensors"), "{err}");
    // Resuming with the same values and free flags works and finishes.
    ok(&[
        "train",
        "--resume",
        run_s,
        "--lr",
        "0.01",
        "--threads",
        "1",
        "--json",
    ]);
}

#[test]
fn a_failed_run_keeps_the_model_already_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    ok(&[
        "train", "--data", "iris", "--epochs", "3", "--quiet", "--out", out,
    ]);
    let model = std::fs::read(dir.path().join("model.safetensors")).unwrap();
    let metrics = std::fs::read(dir.path().join("metrics.json")).unwrap();
    // A learning rate of 1e30 makes the loss NaN at step 2.
    let err = refused(&[
        "train",
        "--data",
        "iris",
        "--epochs",
        "3",
        "--optimizer",
        "sgd",
        "--lr",
        "1e30",
        "--out",
        out,
        "--overwrite",
    ]);
    assert!(
        err.contains("the loss became NaN at epoch 1, step 2"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("model.safetensors")).unwrap(),
        model
    );
    assert_eq!(
        std::fs::read(dir.path().join("metrics.json")).unwrap(),
        metrics
    );
    // Likewise after checkpoints: the last checkpointed model stays.
    let run = dir.path().join("ck");
    let run_s = run.to_str().unwrap();
    let err = refused(&[
        "train",
        "--data",
        "iris",
        "--epochs",
        "3",
        "--optimizer",
        "sgd",
        "--lr",
        "1e30",
        "--checkpoint-every",
        "1",
        "--batch-size",
        "200",
        "--out",
        run_s,
    ]);
    assert!(err.contains("NaN") || err.contains("inf"), "{err}");
    let names: Vec<String> = std::fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    if names.iter().any(|n| n == "model.safetensors") {
        let m = chainrule_nn::model_io::load_model::<f32>(&run.join("model.safetensors"), None);
        assert!(m.is_ok(), "the checkpointed model loads");
    }
}
