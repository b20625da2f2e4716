//! `chainrule train`: train an MLP on a data set, show progress, and write
//! the model, every step's metrics and a curve image to a run folder.
//!
//! The run itself (its model, epochs, checkpoints, `model.safetensors` and
//! `metrics.json`) is a [`TrainingRun`] of `chainrule-nn`; this file reads
//! the flags, prints what the run's [`RunObserver`] sees, and plots.

mod args;

pub use args::{config, parse_input_shape, Args};

use crate::data_args::{self, is_builtin, Prepared};
use crate::number_text::metric;
use crate::plot;
use crate::resume;
use crate::run_dir::{self, RunDir};
use chainrule_inspect::flow;
use chainrule_nn::data::{shuffled_indices, Dataset};
use chainrule_nn::network::{self, Network};
use chainrule_nn::trainer::{
    self, EpochRecord, History, Model, RunData, RunFiles, RunObserver, RunStart, Start, StepRecord,
    TrainConfig, TrainingRun,
};
use chainrule_nn::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};
use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

/// The header's architecture: the canonical string, the input shape, the
/// parameter count, then every layer (depth-first) with its output shape
/// and parameters.
pub fn architecture_lines<F: chainrule::Float>(net: &Network<F>) -> Vec<String> {
    let mut lines = vec![format!(
        "architecture {} on input {:?}: {} parameters",
        network::arch_text(net.specs()),
        net.input_shape(),
        net.parameter_count()
    )];
    for row in net.summary() {
        let depth = row.path.matches(".body.").count();
        lines.push(format!(
            "  {:<10} {}{:<28} → {:<14} {:>8} params",
            row.path,
            "  ".repeat(depth),
            row.text,
            format!("{:?}", row.output),
            row.params
        ));
    }
    lines
}

pub fn run(args: &Args) -> Result<()> {
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
    let specs = args.arch.as_deref().map(network::parse_arch).transpose()?;
    let start = match checkpoint {
        Some(ck) => Start::Resume(ck),
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
    if args.grad_report {
        // The per-layer report reads MLPs only: refuse before training.
        run.model().mlp_for("grad-report")?;
    }
    let mut run = run
        .stop_after(args.stop_after)?
        .checkpoint_every(args.checkpoint_every)
        .checkpoint_extra(resume::SETTINGS_KEY, resume::settings_json(args))
        .remove_stale_checkpoint(args.overwrite && args.resume.is_none());
    let run_dir = match (&args.resume, &args.out) {
        (Some(dir), _) => RunDir::resumed(dir),
        (None, Some(dir)) => RunDir::explicit(dir, args.overwrite)?,
        (None, None) => RunDir::fresh(
            Path::new("runs"),
            &run_dir::default_name(&args.data, run_dir::now_secs()),
        )?,
    };
    let mut console = Console::new(args, &data);
    let result = run
        .run(run_dir.path(), &mut console)
        .map(|files| print_result(args, &data, &run, &files, started));
    if result.is_err() {
        run_dir.discard_if_empty();
    }
    result
}

/// What the terminal shows of a run: the header, the progress bar, a line
/// per epoch; and the gradient reports and curves it asks for.
struct Console<'a> {
    args: &'a Args,
    data: &'a Prepared,
    bar: ProgressBar,
    /// A fixed sample of training rows for the per-epoch gradient-flow report.
    report_rows: Vec<usize>,
}

impl<'a> Console<'a> {
    fn new(args: &'a Args, data: &'a Prepared) -> Console<'a> {
        Console {
            args,
            data,
            bar: ProgressBar::hidden(),
            report_rows: shuffled_indices(data.train.n, args.seed)
                .into_iter()
                .take(64)
                .collect(),
        }
    }

    fn say(&self, line: String) {
        if self.args.quiet {
            return;
        }
        if self.args.json {
            self.bar.suspend(|| eprintln!("{line}"));
        } else {
            self.bar.suspend(|| println!("{line}"));
        }
    }
}

impl RunObserver<f32> for Console<'_> {
    fn on_start(&mut self, s: &RunStart<'_, f32>) -> Result<()> {
        let (args, data, cfg) = (self.args, self.data, s.config);
        self.bar = progress_bar(args, s.total_steps as u64);
        self.bar.set_position(s.steps_done as u64);
        self.say(data.task.clone());
        let middle = match &args.arch {
            Some(_) => "network".to_string(),
            None => format!("{:?}", cfg.hidden),
        };
        self.say(format!(
            "training {} → {middle} → {} on {} ({} train rows{}), loss {}, {} lr {}",
            data.train.d,
            s.model.network.out_features(),
            args.data,
            data.train.n,
            data.test
                .as_ref()
                .map(|t| format!(", {} test rows", t.n))
                .unwrap_or_default(),
            s.model.loss.name(),
            args.optimizer,
            cfg.lr
        ));
        if args.arch.is_some() {
            for line in architecture_lines(&s.model.network) {
                self.say(line);
            }
        }
        if s.epochs_done > 0 {
            self.say(format!(
                "resuming {} after epoch {} of {}",
                s.dir.display(),
                s.epochs_done,
                cfg.epochs
            ));
        }
        Ok(())
    }

    fn on_step(&mut self, s: &StepRecord) {
        self.bar.set_message(format!("loss {}", metric(s.loss)));
        self.bar.inc(1);
    }

    fn on_epoch(
        &mut self,
        e: &EpochRecord,
        model: &mut Model<f32>,
        train: &Dataset,
    ) -> Result<Option<Value>> {
        let report = if self.args.grad_report {
            let report = flow::layer_report(model, train, &self.report_rows)?;
            Some(report.layers_json())
        } else {
            None
        };
        let mut line = format!(
            "epoch {:>3}/{}  train loss {}",
            e.epoch,
            self.args.epochs,
            metric(e.train_loss)
        );
        if let Some(l) = e.test_loss {
            line += &format!("  test loss {}", metric(l));
        }
        if let Some(a) = e.test_accuracy {
            line += &format!("  test accuracy {:.2}%", 100.0 * a);
        }
        self.say(line);
        Ok(report)
    }

    fn on_finish(&mut self, files: &RunFiles, history: &History) -> Result<()> {
        self.bar.finish_and_clear();
        plot::curves(&curves_path(files), history, &self.args.data)
    }
}

fn curves_path(files: &RunFiles) -> std::path::PathBuf {
    files.dir.join("curves.svg")
}

/// The result and where it was written (even with `--quiet`), as text or
/// one JSON object.
fn print_result(
    args: &Args,
    data: &Prepared,
    run: &TrainingRun<'_, f32>,
    files: &RunFiles,
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
    if !run.trainer().is_done() {
        println!(
            "stopped after epoch {done} of {}: continue with chainrule train --resume {}",
            cfg.epochs,
            files.dir.display()
        );
    }
}

fn progress_bar(args: &Args, total: u64) -> ProgressBar {
    if args.quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} steps  {msg}  [{elapsed_precise}]")
    {
        bar.set_style(style);
    }
    bar
}
