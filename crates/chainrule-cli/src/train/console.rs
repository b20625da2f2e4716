//! What the terminal shows of a training run, as its [`RunObserver`]: the
//! header, the progress bar and a line per epoch; and the gradient reports
//! and curves the flags ask for.

use super::Args;
use crate::data_args::Prepared;
use crate::number_text::metric;
use crate::plot;
use chainrule_inspect::flow;
use chainrule_nn::data::{shuffled_indices, Dataset};
use chainrule_nn::network::{self, Network};
use chainrule_nn::trainer::{
    EpochRecord, History, Model, RunFiles, RunObserver, RunStart, StepRecord,
};
use chainrule_nn::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use std::io::IsTerminal;
use std::path::PathBuf;

/// The header's architecture: the canonical string, the input shape, the
/// parameter count, then every layer (depth-first) with its output shape
/// and parameters.
pub fn architecture_lines<F: chainrule::Float>(net: &Network<F>) -> Vec<String> {
    let mut lines = vec![format!(
        "architecture {} on {} inputs: {} parameters",
        network::arch_text(net.specs()),
        shape_text(net.input_shape()),
        net.parameter_count()
    )];
    // A residual block's own row follows its body's rows: it shows as
    // `residual(…)`, its layers being listed just above it.
    let rows: Vec<(String, String, String, usize)> = net
        .summary()
        .iter()
        .map(|row| {
            let depth = row.path.matches(".body.").count();
            let text = if row.text.starts_with("residual(") {
                "residual(…) = x + body(x)".to_string()
            } else {
                row.text.clone()
            };
            (
                row.path.clone(),
                format!("{}{text}", "  ".repeat(depth)),
                shape_text(&row.output),
                row.params,
            )
        })
        .collect();
    let width = |f: fn(&(String, String, String, usize)) -> usize, title: &str| {
        rows.iter()
            .map(f)
            .max()
            .unwrap_or(0)
            .max(title.chars().count())
    };
    let (wp, wt, ws) = (
        width(|r| r.0.chars().count(), "layer"),
        width(|r| r.1.chars().count(), ""),
        width(|r| r.2.chars().count(), "output"),
    );
    lines.push(format!(
        "  {:<wp$}  {:<wt$}  {:>ws$}  {:>10}",
        "layer", "", "output", "parameters"
    ));
    for (path, text, shape, params) in rows {
        lines.push(format!(
            "  {path:<wp$}  {text:<wt$}  {shape:>ws$}  {params:>10}"
        ));
    }
    lines
}

/// `1×8×8`, `64`.
fn shape_text(dims: &[usize]) -> String {
    let parts: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    parts.join("×")
}

/// What the terminal shows of a run: the header, the progress bar, a line
/// per epoch; and the gradient reports and curves it asks for.
pub struct Console<'a> {
    args: &'a Args,
    data: &'a Prepared,
    bar: ProgressBar,
    /// A fixed sample of training rows for the per-epoch gradient-flow report.
    report_rows: Vec<usize>,
}

impl<'a> Console<'a> {
    pub fn new(args: &'a Args, data: &'a Prepared) -> Console<'a> {
        Console {
            args,
            data,
            bar: ProgressBar::hidden(),
            report_rows: report_rows(data.train.n, args.seed),
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
        let (input, middle) = match &args.arch {
            Some(_) => (
                shape_text(s.model.network.input_shape()),
                format!("{} layers", s.model.network.specs().len()),
            ),
            None => (data.train.d.to_string(), format!("{:?}", cfg.hidden)),
        };
        self.say(format!(
            "training {input} → {middle} → {} on {} ({} train rows{}), loss {}, {} lr {}",
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

/// The fixed sample of 64 training rows (of `n`) whose gradients the
/// per-epoch reports measure.
pub fn report_rows(n: usize, seed: u64) -> Vec<usize> {
    shuffled_indices(n, seed).into_iter().take(64).collect()
}

pub fn curves_path(files: &RunFiles) -> PathBuf {
    files.dir.join("curves.svg")
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
