//! `chainrule train`: train an MLP on a data set, show progress, and write
//! the model, every step's metrics and a curve image to a run folder.

use crate::data_args::{self, is_builtin};
use crate::number_text::metric;
use crate::numeric_args;
use crate::plot;
use crate::resume;
use crate::run_dir::{self, RunDir};
use chainrule_inspect::flow;
use chainrule_nn::checkpoint::{self, CHECKPOINT_FILE};
use chainrule_nn::data::shuffled_indices;
use chainrule_nn::mlp::parse_sizes;
use chainrule_nn::model_io::{apply_loaded, save_model_with_data};
use chainrule_nn::network::{self, Network};
use chainrule_nn::optim::Schedule;
use chainrule_nn::trainer::{self, History, Model, OptimizerKind, TrainConfig, Trainer};
use chainrule_nn::{Activation, LossKind, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// digits | breast-cancer | iris | diabetes | csv:PATH | mnist:DIR
    #[arg(long, default_value = "digits")]
    pub data: String,
    /// Hidden layer sizes, comma separated (input and output sizes come from the data).
    #[arg(long, default_value = "64,32")]
    pub hidden: String,
    /// Hidden activation: relu, tanh, sigmoid, leaky_relu[:SLOPE], identity.
    #[arg(long, default_value = "relu")]
    pub activation: String,
    /// Any sequential network as an architecture string instead of
    /// --hidden/--activation, e.g. "conv2d(4,3,pad=1),batchnorm2d,relu,maxpool2d(2),flatten,linear(10)"
    /// or "linear(64),residual(linear(64),batchnorm1d,relu),linear(10)"; the last layer gives the outputs.
    #[arg(long, conflicts_with_all = ["hidden", "activation"])]
    pub arch: Option<String>,
    /// The shape of one example as C,H,W (a csv: file's columns read as
    /// images, row-major); the product must equal the column count
    /// [default: digits 1,8,8, mnist 1,28,28, else the column count].
    #[arg(long, value_name = "C,H,W")]
    pub input_shape: Option<String>,
    /// auto | mse | bce | cce (auto: MSE for regression, BCE for two classes, cross-entropy for more).
    #[arg(long, default_value = "auto")]
    pub loss: String,
    /// auto | regression | classification: how to read a csv: file's last column (auto: from --loss, else its values; the first line says which and why).
    #[arg(long, default_value = "auto")]
    pub task: String,
    /// The field delimiter of a csv: file: one character, or tab [default: detected: tab, ';' or ','].
    #[arg(long)]
    pub delimiter: Option<String>,
    /// sgd | adam | adamw
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    /// Learning rate.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true, value_parser = numeric_args::positive)]
    pub lr: f64,
    /// Momentum (SGD; default 0, plain gradient descent, as torch.optim.SGD).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true, value_parser = numeric_args::fraction)]
    pub momentum: f64,
    /// Weight decay (L2 for SGD and Adam, decoupled for AdamW).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true, value_parser = numeric_args::non_negative)]
    pub weight_decay: f64,
    /// Passes over the training data.
    #[arg(long, default_value_t = 30, allow_negative_numbers = true, value_parser = numeric_args::at_least_one)]
    pub epochs: usize,
    /// Rows per mini-batch.
    #[arg(long, default_value_t = 32, allow_negative_numbers = true, value_parser = numeric_args::at_least_one)]
    pub batch_size: usize,
    /// Seed of the split, the initial weights and the shuffling.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = numeric_args::seed)]
    pub seed: u64,
    /// Worker threads for large matrix products (default: all cores).
    #[arg(long, allow_negative_numbers = true, value_parser = numeric_args::at_least_one)]
    pub threads: Option<usize>,
    /// Fraction of the rows held out for testing.
    #[arg(long, default_value_t = 0.2, allow_negative_numbers = true, value_parser = numeric_args::fraction)]
    pub test_fraction: f64,
    /// Standardize features with training statistics (default for built-in sets).
    #[arg(long, overrides_with = "no_standardize")]
    pub standardize: bool,
    /// Do not standardize (default for csv and mnist).
    #[arg(long)]
    pub no_standardize: bool,
    /// Batches in file order, the last partial batch included.
    #[arg(long)]
    pub no_shuffle: bool,
    /// Learning-rate schedule per epoch: constant, step:SIZE:GAMMA or cosine[:MIN_LR].
    #[arg(long, default_value = "constant")]
    pub schedule: String,
    /// Clip the global gradient norm to this value before each update.
    #[arg(long, allow_negative_numbers = true, value_parser = numeric_args::positive)]
    pub clip_norm: Option<f64>,
    /// Check every operation for NaN or infinity (forward and backward) and
    /// stop at the first, naming it (slower).
    #[arg(long)]
    pub detect_anomaly: bool,
    /// Start from the weights of this safetensors file.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Run folder (default runs/<data>-<timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No progress bar, no header and no per-epoch lines: only the result
    /// and the paths of the files written (errors still go to stderr).
    #[arg(long)]
    pub quiet: bool,
    /// Let --out name a folder that already holds files (its model,
    /// metrics, curves and checkpoint are replaced).
    #[arg(long)]
    pub overwrite: bool,
    /// Record the per-layer gradient flow (as `chainrule diagnose`) of 64
    /// training rows every epoch into metrics.json.
    #[arg(long)]
    pub grad_report: bool,
    /// Print one JSON object with the final metrics.
    #[arg(long)]
    pub json: bool,
    /// Every N epochs, save a checkpoint (weights, optimizer state,
    /// progress, metrics and these flags) as checkpoint.safetensors in the
    /// run folder, with model.safetensors and metrics.json; 0: never.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = numeric_args::whole_number)]
    pub checkpoint_every: usize,
    /// Stop after this epoch, saving a checkpoint: continue later with
    /// --resume.
    #[arg(long, value_name = "EPOCH", allow_negative_numbers = true, value_parser = numeric_args::at_least_one)]
    pub stop_after: Option<usize>,
    /// Continue the run in folder DIR from its checkpoint, with the flags it
    /// was started with (flags that contradict them are refused).
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
}

/// `--input-shape C,H,W` (or any number of sizes) for examples of `d`
/// values: the product must be `d`.
pub fn parse_input_shape(text: &str, d: usize) -> Result<Vec<usize>> {
    let shape = parse_sizes("input-shape", text)?;
    if shape.is_empty() || shape.contains(&0) {
        return Err(chainrule_nn::Error::config(
            "input-shape",
            format!("'{text}' is not a shape of positive sizes"),
        ));
    }
    let product = shape
        .iter()
        .try_fold(1usize, |a, &s| a.checked_mul(s))
        .unwrap_or(usize::MAX);
    if product != d {
        return Err(chainrule_nn::Error::config(
            "input-shape",
            format!("{text} holds {product} values, but the data has {d} columns per row"),
        ));
    }
    Ok(shape)
}

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

/// The loss flag: `None` for auto.
pub fn parse_loss(s: &str) -> Result<Option<LossKind>> {
    if s.trim().eq_ignore_ascii_case("auto") {
        Ok(None)
    } else {
        LossKind::parse(s).map(Some)
    }
}

fn config(args: &Args) -> Result<TrainConfig> {
    Ok(TrainConfig {
        hidden: parse_sizes("hidden", &args.hidden)?,
        activation: Activation::parse(&args.activation)?,
        loss: parse_loss(&args.loss)?,
        optimizer: OptimizerKind::parse(&args.optimizer)?,
        lr: args.lr,
        momentum: args.momentum,
        weight_decay: args.weight_decay,
        epochs: args.epochs,
        batch_size: args.batch_size,
        seed: args.seed,
        shuffle: !args.no_shuffle,
        schedule: Schedule::parse(&args.schedule, args.epochs)?,
        clip_norm: args.clip_norm,
        detect_anomaly: args.detect_anomaly,
        ..TrainConfig::default()
    })
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
    let data = data_args::prepare(
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
    let mut data = data;
    if let Some(text) = &args.input_shape {
        let shape = parse_input_shape(text, data.train.d)?;
        data.train.input_shape = shape.clone();
        if let Some(t) = data.test.as_mut() {
            t.input_shape = shape;
        }
    }
    let specs = args.arch.as_deref().map(network::parse_arch).transpose()?;
    let (mut model, mut trainer, grad_reports) = match checkpoint {
        Some(ck) => {
            let reports = resume::saved_grad_reports(&ck);
            if ck.config != cfg {
                return Err(chainrule_nn::Error::config(
                    "resume",
                    "the checkpoint's training config does not match its flags",
                ));
            }
            let (model, trainer) = ck.resume(&data.train, data.test.as_ref())?;
            (model, trainer, reports)
        }
        None => {
            let mut model = match &specs {
                Some(specs) => {
                    let loss = trainer::resolve_loss(&data.train, cfg.loss)?;
                    let shape = if network::specs_are_2d(specs) {
                        data.train.input_shape.clone()
                    } else {
                        vec![data.train.d]
                    };
                    let model = Model::<f32>::from_arch(specs, &shape, cfg.init, cfg.seed, loss)?;
                    let want = trainer::output_size(&data.train, loss);
                    let have = model.network.out_features();
                    if want != have {
                        return Err(chainrule_nn::Error::config(
                            "arch",
                            format!(
                                "the last layer gives {have} outputs, {} needs {want} \
                                 (end with linear({want}))",
                                data.train.name
                            ),
                        ));
                    }
                    model.check_data(&data.train)?;
                    model
                }
                None => Model::<f32>::new(&data.train, &cfg)?,
            };
            model.standardizer = data.standardizer.clone();
            if let Some(path) = &args.init {
                apply_loaded(&mut model, path)?;
            }
            (model, Trainer::new(&cfg)?, Vec::new())
        }
    };
    if args.grad_report {
        // The per-layer report reads MLPs only: refuse before training.
        model.mlp_for("grad-report")?;
    }
    if let Some(stop) = args.stop_after {
        if stop <= trainer.epochs_done() || stop > cfg.epochs {
            return Err(chainrule_nn::Error::config(
                "stop-after",
                format!(
                    "must lie after the epochs done ({}) and at most --epochs ({}), got {stop}",
                    trainer.epochs_done(),
                    cfg.epochs
                ),
            ));
        }
    }
    let run_dir = match (&args.resume, &args.out) {
        (Some(dir), _) => RunDir::resumed(dir),
        (None, Some(dir)) => RunDir::explicit(dir, args.overwrite)?,
        (None, None) => RunDir::fresh(
            Path::new("runs"),
            &run_dir::default_name(&args.data, run_dir::now_secs()),
        )?,
    };
    let result = train_into(
        run_dir.path(),
        args,
        &cfg,
        &data,
        &mut model,
        &mut trainer,
        grad_reports,
        started,
    );
    if result.is_err() {
        run_dir.discard_if_empty();
    }
    result
}

/// The training loop and everything it writes into `out_dir`.
#[allow(clippy::too_many_arguments)]
fn train_into(
    out_dir: &Path,
    args: &Args,
    cfg: &TrainConfig,
    data: &data_args::Prepared,
    model: &mut Model<f32>,
    trainer: &mut Trainer<f32>,
    mut grad_reports: Vec<serde_json::Value>,
    started: Instant,
) -> Result<()> {
    // Recorded in the model file: `eval` scores the same split by default.
    let data_record = data.record(
        &data_args::absolute_spec(&args.data),
        args.seed,
        args.test_fraction,
    );
    let steps_per_epoch = data.train.n.div_ceil(cfg.batch_size);
    let bar = progress_bar(args, steps_per_epoch.saturating_mul(cfg.epochs) as u64);
    bar.set_position(trainer.history().steps.len() as u64);
    let say = |line: String| {
        if args.quiet {
            return;
        }
        if args.json {
            bar.suspend(|| eprintln!("{line}"));
        } else {
            bar.suspend(|| println!("{line}"));
        }
    };
    say(data.task.clone());
    let middle = match &args.arch {
        Some(_) => "network".to_string(),
        None => format!("{:?}", cfg.hidden),
    };
    say(format!(
        "training {} → {middle} → {} on {} ({} train rows{}), loss {}, {} lr {}",
        data.train.d,
        model.network.out_features(),
        args.data,
        data.train.n,
        data.test
            .as_ref()
            .map(|t| format!(", {} test rows", t.n))
            .unwrap_or_default(),
        model.loss.name(),
        args.optimizer,
        cfg.lr
    ));
    if args.arch.is_some() {
        for line in architecture_lines(&model.network) {
            say(line);
        }
    }
    if trainer.epochs_done() > 0 {
        say(format!(
            "resuming {} after epoch {} of {}",
            out_dir.display(),
            trainer.epochs_done(),
            cfg.epochs
        ));
    }
    // A fixed sample of training rows for the per-epoch gradient-flow report.
    let report_rows: Vec<usize> = shuffled_indices(data.train.n, args.seed)
        .into_iter()
        .take(64)
        .collect();
    let model_path = out_dir.join("model.safetensors");
    let metrics_path = out_dir.join("metrics.json");
    let mut wrote_checkpoint = false;
    while !trainer.is_done() {
        let e = trainer.run_epoch(model, &data.train, data.test.as_ref(), |s| {
            bar.set_message(format!("loss {}", metric(s.loss)));
            bar.inc(1);
        })?;
        if args.grad_report {
            let report = flow::layer_report(model, &data.train, &report_rows)?;
            grad_reports.push(report.layers_json());
        }
        let mut line = format!(
            "epoch {:>3}/{}  train loss {}",
            e.epoch,
            cfg.epochs,
            metric(e.train_loss)
        );
        if let Some(l) = e.test_loss {
            line += &format!("  test loss {}", metric(l));
        }
        if let Some(a) = e.test_accuracy {
            line += &format!("  test accuracy {:.2}%", 100.0 * a);
        }
        say(line);
        let stop = args.stop_after == Some(e.epoch);
        if stop || (args.checkpoint_every > 0 && e.epoch % args.checkpoint_every == 0) {
            let extra = BTreeMap::from([
                (
                    resume::SETTINGS_KEY.to_string(),
                    resume::settings_json(args),
                ),
                (
                    resume::GRAD_REPORTS_KEY.to_string(),
                    serde_json::Value::from(grad_reports.clone()).to_string(),
                ),
            ]);
            let ck = out_dir.join(CHECKPOINT_FILE);
            wrote_checkpoint = true;
            checkpoint::save(&ck, model, trainer, &data.train, data.test.as_ref(), &extra)?;
            save_model_with_data(&model_path, model, Some(&data_record))?;
            write_metrics(&metrics_path, trainer.history(), &grad_reports)?;
        }
        if stop {
            break;
        }
    }
    bar.finish_and_clear();
    let history = trainer.history();

    save_model_with_data(&model_path, model, Some(&data_record))?;
    write_metrics(&metrics_path, history, &grad_reports)?;
    let curve = out_dir.join("curves.svg");
    plot::curves(&curve, history, &args.data)?;
    if args.overwrite && !wrote_checkpoint && args.resume.is_none() {
        // An earlier run's checkpoint would resume that run, not this one.
        let stale = out_dir.join(CHECKPOINT_FILE);
        if stale.exists() {
            std::fs::remove_file(&stale).map_err(|e| {
                chainrule_nn::Error::config("out", format!("{}: {e}", stale.display()))
            })?;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let last = history.epochs.last();
    let done = trainer.epochs_done();
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
            "model": model_path.display().to_string(),
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
    } else {
        // Even with --quiet: the result and where it was written.
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
            model_path.display(),
            metrics_path.display(),
            curve.display()
        );
        if !trainer.is_done() {
            println!(
                "stopped after epoch {done} of {}: continue with chainrule train --resume {}",
                cfg.epochs,
                out_dir.display()
            );
        }
    }
    Ok(())
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

/// `{"steps": [{"epoch", "step", "loss"}...], "epochs": [{"epoch", "train_loss", "test_loss", "test_accuracy"}...]}`;
/// with `--grad-report` each epoch also has `"grad_report"`: the per-layer
/// figures of `chainrule diagnose`.
pub fn write_metrics(path: &Path, h: &History, grad_reports: &[serde_json::Value]) -> Result<()> {
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
    let text = serde_json::to_string_pretty(&json!({"steps": steps, "epochs": epochs}))
        .map_err(|e| chainrule_nn::Error::config("metrics", e.to_string()))?;
    chainrule_nn::atomic::write_atomically(path, text.as_bytes())
        .map_err(|e| chainrule_nn::Error::config("out", format!("{}: {e}", path.display())))
}
