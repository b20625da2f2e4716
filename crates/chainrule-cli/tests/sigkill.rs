//! Nothing lost when a training process is killed: `chainrule train` runs
//! with a checkpoint every epoch (so it is saving most of the time), is
//! killed with SIGKILL at a random moment (seeded), and the run folder is
//! checked (every other round the kill waits for a write to be under way,
//! so that many kills land in the middle of a save): the checkpoint and the model file, whenever present, load in
//! full, the checkpoint never goes back in time, and the only other files
//! are the hidden temporary files of interrupted writes, which nothing
//! reads and which a resume removes. Each round after the first resumes
//! the run, so resuming after a kill is exercised thirty times too.

#![cfg(unix)]

use chainrule_nn::checkpoint::{self, CHECKPOINT_FILE};
use chainrule_nn::model_io::load_model;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROUNDS: usize = 30;
const HIDDEN: &str = "8";
/// How many epochs behind its checkpoint a model file is looked for.
const MAX_LAG: usize = 4;
/// The run's flags (before `--out`).
const TRAIN_FLAGS: [&str; 12] = [
    "train",
    "--data",
    "iris",
    "--hidden",
    HIDDEN,
    "--batch-size",
    "120",
    "--epochs",
    "1000000",
    "--checkpoint-every",
    "1",
    "--quiet",
];
const RUN_FILES: [&str; 4] = [
    CHECKPOINT_FILE,
    "model.safetensors",
    "metrics.json",
    "curves.svg",
];

/// SplitMix64: the kill moments, the same on every run of the test.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The temporary files in `dir`, after checking that every file is a run
/// file or the temporary file of one (`.NAME.tmp-PID-N`).
fn temp_files(dir: &Path) -> Vec<String> {
    let mut temps = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if RUN_FILES.contains(&name.as_str()) {
            continue;
        }
        let is_temp = RUN_FILES
            .iter()
            .any(|f| name.starts_with(&format!(".{f}.tmp-")));
        assert!(is_temp, "unexpected file {name} in the run folder");
        temps.push(name);
    }
    temps
}

fn weights(m: &chainrule_nn::trainer::Model<f32>) -> Vec<u32> {
    m.graph
        .params()
        .into_iter()
        .flat_map(|p| m.graph.param_value(p).unwrap().into_vec())
        .map(f32::to_bits)
        .collect()
}

#[test]
fn sigkill_at_random_moments_never_costs_a_loadable_model_or_checkpoint() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let run_s = run.to_str().unwrap().to_string();
    let mut rng = 0x5EED_u64;
    let (mut last_epochs, mut with_temp, mut resumed) = (0usize, 0, 0);
    // Models found behind their checkpoint: (the checkpoint's epoch, the
    // model's weights), checked at the end against fresh runs.
    let mut behind: Vec<(usize, Vec<u32>)> = Vec::new();
    for round in 0..ROUNDS {
        let resume = run.join(CHECKPOINT_FILE).exists();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chainrule"));
        if resume {
            resumed += 1;
            cmd.args(["train", "--resume", &run_s]);
        } else {
            cmd.args(TRAIN_FLAGS).args(["--out", &run_s]);
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the chainrule binary starts");
        std::thread::sleep(Duration::from_millis(40 + next(&mut rng) % 260));
        if round % 2 == 1 {
            // Every other round, wait until a write is under way (its
            // temporary file exists) and kill then, in the middle of it.
            let watching = Instant::now();
            while temp_files(&run).is_empty() && watching.elapsed() < Duration::from_secs(2) {
                std::hint::spin_loop();
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "round {round}: training ended by itself ({status}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        if !temp_files(&run).is_empty() {
            with_temp += 1;
        }
        let ck_path = run.join(CHECKPOINT_FILE);
        if !ck_path.exists() {
            // Killed before the first checkpoint: nothing to check yet.
            assert_eq!(last_epochs, 0, "round {round}: the checkpoint vanished");
            continue;
        }
        let ck = checkpoint::load::<f32>(&ck_path)
            .unwrap_or_else(|e| panic!("round {round}: checkpoint does not load: {e}"));
        let epochs = ck.state.epochs_done;
        assert!(
            epochs >= last_epochs,
            "round {round}: checkpoint went back from {last_epochs} to {epochs}"
        );
        assert_eq!(ck.state.history.epochs.len(), epochs);
        last_epochs = epochs;
        // The model is written right after the checkpoint: it holds the
        // checkpoint's weights, or an earlier epoch's if the kill fell
        // between the two writes (checked at the end).
        let model_path = run.join("model.safetensors");
        if model_path.exists() {
            let model = load_model::<f32>(&model_path, None)
                .unwrap_or_else(|e| panic!("round {round}: model does not load: {e}"));
            let w = weights(&model);
            if w != weights(&ck.model) {
                assert!(
                    epochs >= 2,
                    "round {round}: a model behind the first checkpoint"
                );
                behind.push((epochs, w));
            }
        }
    }
    assert!(last_epochs > 0, "no checkpoint was ever written");
    // The run goes on after thirty kills, and the resume clears the litter.
    let stop = (last_epochs + 1).to_string();
    let o = Command::new(env!("CARGO_BIN_EXE_chainrule"))
        .args([
            "train",
            "--resume",
            &run_s,
            "--stop-after",
            &stop,
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(temp_files(&run).is_empty());
    let ck = checkpoint::load::<f32>(&run.join(CHECKPOINT_FILE)).unwrap();
    assert_eq!(ck.state.epochs_done, last_epochs + 1);
    let elapsed = started.elapsed();
    eprintln!(
        "{ROUNDS} kills ({resumed} of resumed runs) in {elapsed:.1?}: {last_epochs} epochs \
         checkpointed, {with_temp} kills left a temporary file, {} found the model \
         behind the checkpoint",
        behind.len()
    );
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
    // The test did what it claims: kills landed in the middle of writes
    // (a temporary file left behind) in at least a third of the fifteen
    // rounds that wait for one.
    assert!(
        with_temp >= ROUNDS / 6,
        "only {with_temp} kills landed mid-write"
    );
    // A model behind its checkpoint holds exactly the weights of an
    // earlier epoch: those of an uninterrupted run stopped after it
    // (training is deterministic and resume bit-identical). Usually the
    // previous epoch; two kills in a row between a checkpoint write and the
    // model write leave it further behind, so a few epochs are tried.
    behind.sort();
    behind.dedup();
    let fresh_weights = |epoch: usize| {
        let fresh = dir.path().join(format!("fresh-{epoch}"));
        if !fresh.exists() {
            let o = Command::new(env!("CARGO_BIN_EXE_chainrule"))
                .args(TRAIN_FLAGS)
                .args(["--stop-after", &epoch.to_string(), "--out"])
                .arg(&fresh)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        weights(&load_model::<f32>(&fresh.join("model.safetensors"), None).unwrap())
    };
    let mut lags = Vec::new();
    for &(checkpoint_epoch, ref w) in &behind {
        let lag = (1..=MAX_LAG.min(checkpoint_epoch - 1))
            .find(|lag| *w == fresh_weights(checkpoint_epoch - lag))
            .unwrap_or_else(|| {
                panic!(
                    "a model behind its checkpoint (epoch {checkpoint_epoch}) holds none of the \
                     {MAX_LAG} previous epochs' weights"
                )
            });
        lags.push(lag);
    }
    eprintln!("models behind their checkpoint, by how many epochs: {lags:?}");
}
