//! `chainrule train --resume DIR`: continue a run from the checkpoint in
//! its folder, with the settings it was started with.
//!
//! A checkpoint keeps the flags that decide the run (every flag of the
//! table below) as text. Resuming rebuilds the arguments from them, so the
//! run continues exactly as it began; a deciding flag given again must have
//! the same value, and one that contradicts the checkpoint is refused.
//! Free to change: `--threads`, `--quiet`, `--json`, `--checkpoint-every`
//! and `--tensorboard` (both kept from the checkpoint unless given; the
//! TensorBoard folder is kept as an absolute path, so a run resumed from
//! elsewhere logs to the same folder) and `--stop-after`; `--out`, if given,
//! must name the folder resumed.

use crate::train::Args;
use chainrule_nn::checkpoint::{self, Checkpoint, CHECKPOINT_FILE};
use chainrule_nn::trainer::{METRICS_FILE, MODEL_FILE};
use chainrule_nn::{Error, Result};
use clap::parser::ValueSource;
use clap::{CommandFactory, Parser};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The checkpoint's entry holding the deciding flags.
pub const SETTINGS_KEY: &str = "cli.settings";

/// The files a run writes in its folder (their stale temporary files are
/// removed on resume).
const RUN_FILES: [&str; 4] = [CHECKPOINT_FILE, MODEL_FILE, METRICS_FILE, "curves.svg"];

/// The train subcommand on its own, to parse flags exactly as `chainrule
/// train` does.
#[derive(Parser)]
#[command(name = "train")]
struct TrainOnly {
    #[command(flatten)]
    args: Args,
}

/// Flags kept from the checkpoint unless given again, then replaced.
const KEPT_UNLESS_GIVEN: [&str; 2] = ["checkpoint-every", "tensorboard"];

/// Bool flags: written as `--flag` when on.
const SWITCHES: [&str; 5] = [
    "standardize",
    "no-standardize",
    "no-shuffle",
    "detect-anomaly",
    "grad-report",
];

/// The flags that decide a run, with their values in `a` (`None`: off or
/// not set).
fn settings(a: &Args) -> Vec<(&'static str, Option<String>)> {
    let on = |b: bool| b.then(|| "true".to_string());
    vec![
        ("data", Some(a.data.clone())),
        // --arch excludes --hidden and --activation.
        ("hidden", a.arch.is_none().then(|| a.hidden.clone())),
        ("activation", a.arch.is_none().then(|| a.activation.clone())),
        ("arch", a.arch.clone()),
        ("input-shape", a.input_shape.clone()),
        ("loss", Some(a.loss.clone())),
        ("task", Some(a.task.clone())),
        ("delimiter", a.delimiter.clone()),
        ("optimizer", Some(a.optimizer.clone())),
        ("lr", Some(a.lr.to_string())),
        ("momentum", Some(a.momentum.to_string())),
        ("weight-decay", Some(a.weight_decay.to_string())),
        ("epochs", Some(a.epochs.to_string())),
        ("batch-size", Some(a.batch_size.to_string())),
        ("seed", Some(a.seed.to_string())),
        ("test-fraction", Some(a.test_fraction.to_string())),
        ("standardize", on(a.standardize)),
        ("no-standardize", on(a.no_standardize)),
        ("no-shuffle", on(a.no_shuffle)),
        ("schedule", Some(a.schedule.clone())),
        ("clip-norm", a.clip_norm.map(|c| c.to_string())),
        ("detect-anomaly", on(a.detect_anomaly)),
        ("init", a.init.as_ref().map(|p| p.display().to_string())),
        ("grad-report", on(a.grad_report)),
        ("checkpoint-every", Some(a.checkpoint_every.to_string())),
        (
            "tensorboard",
            a.tensorboard
                .as_ref()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
                .map(|p| p.display().to_string()),
        ),
    ]
}

/// The deciding flags of `args` as a JSON object, for the checkpoint.
pub fn settings_json(args: &Args) -> String {
    let map: Map<String, Value> = settings(args)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.map_or(Value::Null, Value::String)))
        .collect();
    Value::Object(map).to_string()
}

/// The flags given on this process's command line after `train` (clap
/// ids), to tell a flag given from a default.
fn given_flags() -> Vec<String> {
    let argv = std::env::args_os().skip(2);
    let Ok(m) =
        TrainOnly::command().try_get_matches_from(std::iter::once("train".into()).chain(argv))
    else {
        return Vec::new();
    };
    m.ids()
        .filter(|id| m.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .map(|id| id.as_str().to_string())
        .collect()
}

/// Reads `DIR/checkpoint.safetensors` and returns the run's arguments (the
/// checkpoint's deciding flags, the free flags of `current`) and the
/// checkpoint.
pub fn open(current: &Args, dir: &Path) -> Result<(Args, Checkpoint<f32>)> {
    let path = dir.join(CHECKPOINT_FILE);
    let ck = checkpoint::load::<f32>(&path)?;
    let saved = saved_settings(&ck, &path)?;
    let mut args = args_of(&saved, &path)?;
    let given = given_flags();
    for (flag, value) in settings(current) {
        let id = flag.replace('-', "_");
        if KEPT_UNLESS_GIVEN.contains(&flag) || !given.contains(&id) {
            continue;
        }
        let before = saved.get(flag).cloned().flatten();
        if value != before {
            let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(not set)".into());
            return Err(Error::config(
                flag,
                format!(
                    "--{flag} {} contradicts the run being resumed, started with --{flag} {} \
                     ({}); --resume continues a run with its own settings",
                    show(&value),
                    show(&before),
                    path.display()
                ),
            ));
        }
    }
    if let Some(out) = &current.out {
        if out != dir {
            return Err(Error::config(
                "out",
                format!(
                    "--out {} differs from the folder resumed, {}",
                    out.display(),
                    dir.display()
                ),
            ));
        }
    }
    if given.iter().any(|g| g == "checkpoint_every") {
        args.checkpoint_every = current.checkpoint_every;
    }
    if given.iter().any(|g| g == "tensorboard") {
        args.tensorboard = current.tensorboard.clone();
    }
    args.threads = current.threads;
    args.quiet = current.quiet;
    args.json = current.json;
    args.serve = current.serve;
    args.distributed = current.distributed;
    args.stop_after = current.stop_after;
    args.out = Some(dir.to_path_buf());
    args.resume = Some(dir.to_path_buf());
    remove_stale_temp_files(dir);
    Ok((args, ck))
}

/// The deciding flags a checkpoint (at `path`) recorded, by flag name.
fn saved_settings<F: chainrule::Float>(
    ck: &Checkpoint<F>,
    path: &Path,
) -> Result<BTreeMap<String, Option<String>>> {
    ck.extra
        .get(SETTINGS_KEY)
        .and_then(|s| serde_json::from_str::<Map<String, Value>>(s).ok())
        .map(|m| {
            m.into_iter()
                .map(|(k, v)| (k, v.as_str().map(str::to_string)))
                .collect()
        })
        .ok_or_else(|| Error::Checkpoint {
            path: path.display().to_string(),
            detail: format!(
                "the checkpoint has no '{SETTINGS_KEY}' entry: not written by chainrule train"
            ),
        })
}

/// The arguments of `chainrule train` with the flags `saved`, parsed as
/// the command line parses them.
fn args_of(saved: &BTreeMap<String, Option<String>>, path: &Path) -> Result<Args> {
    let mut tokens = vec!["train".to_string()];
    for (flag, value) in saved {
        match (SWITCHES.contains(&flag.as_str()), value) {
            (_, None) => {}
            (true, Some(_)) => tokens.push(format!("--{flag}")),
            (false, Some(v)) => tokens.extend([format!("--{flag}"), v.clone()]),
        }
    }
    TrainOnly::try_parse_from(&tokens)
        .map(|t| t.args)
        .map_err(|e| Error::Checkpoint {
            path: path.display().to_string(),
            detail: format!("its settings do not parse: {}", e.kind()),
        })
}

/// The arguments a checkpoint (read from `path`) was written with: what
/// replaying its run needs.
pub fn checkpoint_args<F: chainrule::Float>(ck: &Checkpoint<F>, path: &Path) -> Result<Args> {
    args_of(&saved_settings(ck, path)?, path)
}

/// Removes the temporary files that a killed run left next to its files
/// (`.model.safetensors.tmp-PID-N`, ...): they are never read, only clutter.
fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale = RUN_FILES
            .iter()
            .any(|f| name.starts_with(&format!(".{f}.tmp-")));
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
