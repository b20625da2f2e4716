//! What `chainrule train` writes and prints, as a user meets it: one folder
//! per run, nothing overwritten unasked, numbers a person can read, numeric
//! flags refused with one kind of message, and `--quiet` keeping the result.

mod common;

use common::{chainrule, chainrule_in, stderr, stdout, train_quietly};
use std::path::Path;

/// The folders under `dir/runs`, sorted.
fn run_folders(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir.join("runs")) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

#[test]
fn item_07_runs_in_the_same_second_get_their_own_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let args = ["train", "--data", "iris", "--epochs", "1", "--quiet"];
    let mut printed = Vec::new();
    for _ in 0..3 {
        let o = chainrule_in(Some(tmp.path()), &args);
        assert!(o.status.success(), "{}", stderr(&o));
        printed.push(stdout(&o));
    }
    let folders = run_folders(tmp.path());
    assert_eq!(folders.len(), 3, "{folders:?}");
    for f in &folders {
        let dir = tmp.path().join("runs").join(f);
        assert!(dir.join("model.safetensors").exists(), "{f}");
        // Each run printed its own folder.
        let model = format!("runs/{f}/model.safetensors");
        assert_eq!(printed.iter().filter(|p| p.contains(&model)).count(), 1);
    }
}

#[test]
fn item_07_a_failed_run_leaves_no_empty_folder() {
    let tmp = tempfile::tempdir().unwrap();
    // Features of 1e30 make the loss overflow: training stops with an error.
    std::fs::write(
        tmp.path().join("huge.csv"),
        "a,b,y\n1e30,2e30,1\n2e30,3e30,0\n3e30,1,1\n",
    )
    .unwrap();
    let o = chainrule_in(
        Some(tmp.path()),
        &[
            "train",
            "--data",
            "csv:huge.csv",
            "--epochs",
            "3",
            "--test-fraction",
            "0",
            "--optimizer",
            "sgd",
            "--lr",
            "1",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("NaN"), "{}", stderr(&o));
    assert_eq!(run_folders(tmp.path()), Vec::<String>::new());
    // The same with an --out folder that did not exist.
    let o = chainrule_in(
        Some(tmp.path()),
        &[
            "train",
            "--data",
            "csv:huge.csv",
            "--test-fraction",
            "0",
            "--optimizer",
            "sgd",
            "--lr",
            "1",
            "--out",
            "mine",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(!tmp.path().join("mine").exists());
}

#[test]
fn item_07_an_existing_out_folder_is_not_overwritten_unasked() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let out_s = out.to_str().unwrap();
    let first = ["train", "--data", "iris", "--epochs", "1", "--out", out_s];
    assert!(chainrule(&first).status.success());
    let model = std::fs::read(out.join("model.safetensors")).unwrap();
    let second = [
        "train", "--data", "iris", "--epochs", "2", "--seed", "3", "--out", out_s,
    ];
    let o = chainrule(&second);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("not empty") && e.contains("--overwrite") && e.contains(out_s),
        "{e}"
    );
    assert_eq!(std::fs::read(out.join("model.safetensors")).unwrap(), model);
    // Asked for: the files are replaced by the new run's.
    let mut again = second.to_vec();
    again.push("--overwrite");
    let o = chainrule(&again);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(std::fs::read(out.join("model.safetensors")).unwrap(), model);
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["epochs"].as_array().unwrap().len(), 2);
}

#[test]
fn item_07_overwrite_removes_an_earlier_runs_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let out_s = out.to_str().unwrap();
    train_quietly("iris", &out, &["--epochs", "2", "--stop-after", "1"]);
    assert!(out.join("checkpoint.safetensors").exists());
    let o = chainrule(&["train", "--data", "iris", "--epochs", "1", "--out", out_s]);
    assert!(stderr(&o).contains("--resume"), "{}", stderr(&o));
    let o = chainrule(&[
        "train",
        "--data",
        "iris",
        "--epochs",
        "1",
        "--out",
        out_s,
        "--overwrite",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.join("checkpoint.safetensors").exists());
}

#[test]
fn item_10_huge_losses_are_printed_in_scientific_notation() {
    let tmp = tempfile::tempdir().unwrap();
    // Targets near 1e15: the mean squared error is near 1e30.
    std::fs::write(
        tmp.path().join("big.csv"),
        "a,b,y\n1,2,1e15\n2,3,2e15\n3,1,3e15\n4,4,1.5e15\n5,2,2.5e15\n",
    )
    .unwrap();
    let o = chainrule_in(
        Some(tmp.path()),
        &[
            "train",
            "--data",
            "csv:big.csv",
            "--loss",
            "mse",
            "--epochs",
            "1",
            "--test-fraction",
            "0",
            "--out",
            "r",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let line = out
        .lines()
        .find(|l| l.starts_with("epoch"))
        .unwrap_or_else(|| panic!("{out}"));
    // mean(y²) with y = (1, 2, 3, 1.5, 2.5)e15 is 4.5e30; an untrained
    // network's outputs are tiny next to the targets.
    let loss = line.rsplit(' ').next().unwrap();
    assert!(loss.contains('e'), "{line}");
    let v: f64 = loss.parse().unwrap();
    assert!((v / 4.5e30 - 1.0).abs() < 1e-3, "{line}");
    assert!(line.len() < 40, "{line}");
    assert!(
        out.contains(&format!("train loss {loss} after 1 epoch (")),
        "{out}"
    );
}

#[test]
fn item_10_negative_and_pointless_numeric_flags_are_clear_errors() {
    let cases: [&[&str]; 15] = [
        &["gradcheck", "--batch", "0"],
        &["gradcheck", "--max-elements", "0"],
        &["diagnose", "--chain", "-5"],
        &["explain", "--lr", "-1"],
        &["eval", "--model", "m.safetensors", "--seed", "-1"],
        &["train", "--epochs", "-3"],
        &["train", "--seed", "-1"],
        &["train", "--clip-norm", "-1"],
        &["train", "--lr", "-1"],
        &["train", "--batch-size", "0"],
        &["train", "--epochs", "0"],
        &["train", "--weight-decay", "-0.5"],
        &["train", "--test-fraction", "-0.2"],
        &["bench", "W1", "--steps", "0"],
        &["bench", "W1", "--threads", "-2"],
    ];
    for args in cases {
        let o = chainrule(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = stderr(&o);
        let flag = args[args.len() - 2];
        let value = args[args.len() - 1];
        assert!(
            e.contains(&format!("invalid value '{value}' for '{flag}")) && e.contains("must be"),
            "{args:?}: {e}"
        );
        assert!(!e.contains("unexpected argument"), "{args:?}: {e}");
        assert!(stdout(&o).is_empty(), "{args:?}");
    }
}

#[test]
fn item_10_a_step_schedule_that_stops_learning_is_an_error() {
    let o = chainrule(&["train", "--data", "iris", "--schedule", "step:1:0"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("schedule") && e.contains("GAMMA"), "{e}");
}

#[test]
fn item_15_quiet_keeps_the_result_and_the_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("q");
    let o = chainrule(&[
        "train",
        "--data",
        "iris",
        "--epochs",
        "2",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("test accuracy ") && lines[0].contains("after 2 epochs"));
    // The accuracy printed is the last epoch's in metrics.json.
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    let acc = metrics["epochs"][1]["test_accuracy"].as_f64().unwrap();
    assert!(lines[0].contains(&format!("{:.2}%", 100.0 * acc)), "{text}");
    for (line, file) in lines[1..]
        .iter()
        .zip(["model.safetensors", "metrics.json", "curves.svg"])
    {
        let path = out.join(file);
        assert!(line.ends_with(path.to_str().unwrap()), "{line}");
        assert!(path.exists());
    }
    assert!(!text.contains("epoch   1/"));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

#[test]
fn item_06_a_relative_csv_path_is_found_from_another_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    std::fs::create_dir(&data_dir).unwrap();
    let mut csv = String::from("a,b,y\n");
    for i in 0..40 {
        let (a, b) = (i as f64 / 10.0, (i % 7) as f64);
        csv += &format!("{a},{b},{}\n", 2.0 * a - b + 0.5);
    }
    std::fs::write(data_dir.join("lin.csv"), csv).unwrap();
    let o = chainrule_in(
        Some(&data_dir),
        &[
            "train",
            "--data",
            "csv:lin.csv",
            "--epochs",
            "2",
            "--out",
            "run",
            "--quiet",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // From the parent folder, where `lin.csv` alone names nothing.
    let o = chainrule_in(
        Some(tmp.path()),
        &["eval", "--model", "data/run/model.safetensors"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    assert!(stdout(&o).contains("as recorded"), "{}", stdout(&o));
    // The same file spelled relatively is the recorded data: no warning.
    let o = chainrule_in(
        Some(&data_dir),
        &[
            "eval",
            "--model",
            "run/model.safetensors",
            "--data",
            "csv:lin.csv",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}
