//! `chainrule train`: train an MLP on a data set, show progress, and write
//! the model, every step's metrics and a curve image to a run folder.
//!
//! The run itself (its model, epochs, checkpoints, `model.safetensors` and
//! `metrics.json`) is a [`TrainingRun`] of `chainrule-nn`; this file reads
//! the flags, prints what the run's
//! [`RunObserver`](chainrule_nn::trainer::RunObserver) sees, and plots.

mod args;
mod console;
mod fan_out;
mod live;
mod replay_start;
mod tensorboard;

pub use args::{config, parse_input_shape, Args};
use console::{curves_path, report_rows, Console};
use fan_out::FanOut;
use live::Live;
pub use replay_start::{DISTRIBUTED_KEY, START_FILE};
use tensorboard::TensorBoard;

use crate::data_args::{self, is_builtin, Prepared};
use crate::distributed::Session;
use crate::number_text::metric;
use crate::resume;
use crate::run_dir::{self, RunDir};
use chainrule_nn::network;
use chainrule_nn::trainer::{self, AllReduce, RunData, RunFiles, Start, TrainConfig, TrainingRun};
use chainrule_nn::Result;
use serde_json::json;
use std::path::Path;
use std::time::Instant;

pub fn run(args: &Args) -> Result<()> {
    if !args.distributed {
        return train(args, None);
    }
    let session = Session::start()?;
    let result = train(args, Some(&session));
    session.finish(result, args.quiet)
}

/// The run, as one rank of a `--distributed` one when `dist` is given.
fn train(args: &Args, dist: Option<&Session>) -> Result<()> {
    let started = Instant::now();
    crate::threads::configure(args.threads)?;
    let (args, checkpoint) = match &args.resume {
        Some(dir) => {
            let (a, ck) = resume::open(args, dir)?;
            (a, Some(ck))
        }
        None => (args.clone(), None),
    };
    let args = &args;
    let cfg = config(args)?;
    cfg.validate()?;
    let data = prepare_data(args, &cfg)?;
    let specs = args.arch.as_deref().map(network::parse_arch).transpose()?;
    if checkpoint.is_none()
        && args.input_shape.is_some()
        && !specs.as_deref().is_some_and(network::specs_are_2d)
    {
        // Only image networks read rows with a shape: refused rather than
        // silently read as vectors.
        return Err(chainrule_nn::Error::config(
            "input-shape",
            format!(
                "only a network with a 2-D layer (conv2d, maxpool2d, avgpool2d, globalavgpool2d, \
                 batchnorm2d) reads rows as images; this one reads each row as a vector of {} \
                 values",
                data.train.d
            ),
        ));
    }
    if let Some(d) = dist {
        d.check_data(&data.fingerprint)?;
    }
    let start = match checkpoint {
        Some(ck) => Start::Resume(Box::new(ck)),
        None => Start::Fresh {
            arch: specs.as_deref(),
            init: args.init.as_deref(),
        },
    };
    let run_data = RunData {
        train: &data.train,
        test: data.test.as_ref(),
        standardizer: data.standardizer.as_ref(),
        // Recorded in the model file: `eval` scores the same split by default.
        record: Some(data.record(
            &data_args::absolute_spec(&args.data),
            args.seed,
            args.test_fraction,
        )),
    };
    let run = TrainingRun::<f32>::new(run_data, &cfg, start)?;
    let run = run
        .stop_after(args.stop_after)?
        .checkpoint_every(args.checkpoint_every)
        .checkpoint_extra(resume::SETTINGS_KEY, resume::settings_json(args))
        .remove_stale_checkpoint(args.overwrite && args.resume.is_none());
    let mut run = match dist {
        Some(d) => {
            // Marks the checkpoints too: a state a distributed run reached
            // is not replayed on one process (see DISTRIBUTED_KEY).
            run.checkpoint_extra(DISTRIBUTED_KEY, "true".to_string())
                .distributed(d.reducer(args.bucket_kib))
                .allreduce(match args.allreduce.as_str() {
                    "after" => AllReduce::AfterBackward,
                    _ => AllReduce::Overlap,
                })
        }
        None => run,
    };
    if dist.is_some_and(|d| d.rank() != 0) {
        // A replica: rank 0 creates the folder, shows and writes.
        let dir = args.out.as_deref().unwrap_or(Path::new("runs"));
        return run.run(dir, &mut ()).map(|_| ());
    }
    let run_dir = match (&args.resume, &args.out) {
        (Some(dir), _) => RunDir::resumed(dir),
        (None, Some(dir)) => RunDir::explicit(dir, args.overwrite)?,
        (None, None) => RunDir::fresh(
            Path::new("runs"),
            &run_dir::default_name(&args.data, run_dir::now_secs()),
        )?,
    };
    if let Err(e) = replay_start::write(args, &run, &data, run_dir.path()) {
        run_dir.discard_if_empty();
        return Err(e);
    }
    let mut console = Console::new(args, &data);
    let mut board = args
        .tensorboard
        .as_deref()
        .map(|dir| TensorBoard::new(dir, report_rows(data.train.n, args.seed)));
    let mut observers = FanOut::new();
    // The event folder first: one that cannot be written stops the run
    // before the console's header.
    if let Some(b) = board.as_mut() {
        observers.push(b);
    }
    observers.push(&mut console);
    let mut live = args.serve.map(|port| Live::new(port, args));
    if let Some(l) = live.as_mut() {
        observers.push(l);
    }
    let result = run.run(run_dir.path(), &mut observers);
    drop(observers);
    let events = board.as_ref().and_then(TensorBoard::file);
    let result = result.map(|files| print_result(args, &data, &run, &files, events, started));
    if result.is_err() {
        run_dir.discard_if_empty();
    }
    result
}

/// The run's data as the flags decide it: loaded, split, standardized
/// (built-in sets by default) and shaped (`--input-shape`); what a replay
/// of the run ([`crate::serve`]) loads again.
pub fn prepare_data(args: &Args, cfg: &TrainConfig) -> Result<Prepared> {
    let standardize = if args.no_standardize {
        false
    } else {
        args.standardize || is_builtin(&args.data)
    };
    let mut data = data_args::prepare(
        &args.data,
        cfg.loss,
        &data_args::Reading {
            task: args.task.clone(),
            delimiter: args.delimiter.clone(),
        },
        args.test_fraction,
        args.seed,
        standardize,
        None,
    )?;
    if let Some(text) = &args.input_shape {
        let shape = parse_input_shape(text, data.train.d)?;
        data.train.input_shape = shape.clone();
        if let Some(t) = data.test.as_mut() {
            t.input_shape = shape;
        }
    }
    Ok(data)
}

/// The result and where it was written (even with `--quiet`), as text or
/// one JSON object.
fn print_result(
    args: &Args,
    data: &Prepared,
    run: &TrainingRun<'_, f32>,
    files: &RunFiles,
    events: Option<&Path>,
    started: Instant,
) {
    let seconds = started.elapsed().as_secs_f64();
    let cfg: &TrainConfig = run.config();
    let last = run.history().epochs.last();
    let done = run.trainer().epochs_done();
    let baseline = data
        .test
        .as_ref()
        .and_then(|t| trainer::mean_baseline(&data.train, t));
    if args.json {
        let mut summary = json!({
            "data": args.data,
            "epochs_done": done,
            "train_loss": last.map(|e| e.train_loss),
            "seconds": seconds,
            "model": files.model.display().to_string(),
        });
        if let Some(e) = last.filter(|e| e.test_loss.is_some()) {
            summary["test_loss"] = json!(e.test_loss);
            if let Some(a) = e.test_accuracy {
                summary["test_accuracy"] = json!(a);
            }
        }
        if let Some(b) = baseline {
            summary["baseline_test_loss"] = json!(b);
        }
        if let Some(e) = events {
            summary["tensorboard"] = json!(e.display().to_string());
        }
        println!("{summary}");
        return;
    }
    let after = format!(
        "after {done} epoch{} ({seconds:.1} s)",
        if done == 1 { "" } else { "s" }
    );
    if let Some(a) = last.and_then(|e| e.test_accuracy) {
        println!("test accuracy {:.2}% {after}", 100.0 * a);
    } else if let Some(l) = last.and_then(|e| e.test_loss) {
        println!("test loss {} {after}", metric(l));
        if let Some(b) = baseline {
            println!(
                "predicting the training mean instead gives test loss {}",
                metric(b)
            );
        }
    } else if let Some(e) = last {
        println!("train loss {} {after} (no test rows)", metric(e.train_loss));
    }
    println!(
        "model {}\nmetrics {}\ncurves {}",
        files.model.display(),
        files.metrics.display(),
        curves_path(files).display()
    );
    if let Some(e) = events {
        println!("tensorboard {}", e.display());
    }
    if !run.trainer().is_done() {
        println!(
            "stopped after epoch {done} of {}: continue with chainrule train --resume {}",
            cfg.epochs,
            files.dir.display()
        );
    }
}
