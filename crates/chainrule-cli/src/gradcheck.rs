//! `chainrule gradcheck`: a model's analytical gradients against finite
//! differences in f64, per parameter, with the lesson's verdicts. Exit
//! status 1 when a check fails.

use crate::numeric_args;
use chainrule::gradcheck::Verdict;
use chainrule::rng;
use chainrule_inspect::gradcheck_model::{
    check_model, ElementCheck, ModelCheckOptions, ModelCheckReport,
};
use chainrule_nn::data::{Dataset, Targets};
use chainrule_nn::mlp::parse_sizes;
use chainrule_nn::model_io::load_model_with_data;
use chainrule_nn::trainer::{Model, TrainConfig};
use chainrule_nn::{Activation, Error, Init, LossKind, Result};
use serde_json::json;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Layer sizes from input to output, e.g. 4,8,3 (random seeded weights and data).
    #[arg(long, default_value = "4,8,3")]
    layers: String,
    /// Hidden activation.
    #[arg(long, default_value = "tanh")]
    activation: String,
    /// mse | bce | cce (bce needs one output).
    #[arg(long, default_value = "cce")]
    loss: String,
    /// Rows in the random batch.
    #[arg(long, default_value_t = 8, allow_negative_numbers = true, value_parser = numeric_args::at_least_one)]
    batch: usize,
    /// Seed of the weights, the data and the sampled elements.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = numeric_args::seed)]
    seed: u64,
    /// Check a saved model instead (on the data it records, or --data).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Data for --model: digits | breast-cancer | iris | diabetes | csv:PATH | mnist:DIR.
    #[arg(long)]
    data: Option<String>,
    /// With --data: auto | regression | classification (must agree with the model's loss).
    #[arg(long, default_value = "auto")]
    task: String,
    /// With --data: the field delimiter of a csv: file [default: detected].
    #[arg(long)]
    delimiter: Option<String>,
    /// Elements checked per parameter at most (a seeded sample beyond).
    #[arg(long, default_value_t = 64, allow_negative_numbers = true, value_parser = numeric_args::at_least_one)]
    max_elements: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs the check; `Ok(false)` when it fails.
pub fn run(args: &Args) -> Result<bool> {
    let opts = ModelCheckOptions {
        max_elements: args.max_elements,
        seed: args.seed,
        ..ModelCheckOptions::default()
    };
    let report = match &args.model {
        Some(path) => {
            let (model, record) = load_model_with_data::<f64>(path, None)?;
            let spec =
                crate::data_args::model_data(args.data.as_deref(), record.as_ref(), path, "")?;
            let prepared = crate::data_args::prepare(
                &spec,
                Some(model.loss),
                &crate::data_args::Reading::for_model(
                    &args.task,
                    args.delimiter.as_deref(),
                    record.as_ref(),
                ),
                0.0,
                args.seed,
                false,
                model.standardizer.clone(),
            )?;
            let rows: Vec<usize> = (0..prepared.train.n.min(args.batch)).collect();
            check_model(&model, &prepared.train, &rows, opts)?
        }
        None => {
            let (model, data) = random_model(args)?;
            let rows: Vec<usize> = (0..data.n).collect();
            check_model(&model, &data, &rows, opts)?
        }
    };
    print_report(&report, &opts, args.json);
    Ok(report.passed())
}

/// A seeded network of `--layers` and a random batch that fits its loss.
fn random_model(args: &Args) -> Result<(Model<f64>, Dataset)> {
    let sizes = parse_sizes("layers", &args.layers)?;
    if sizes.len() < 2 {
        return Err(Error::config(
            "layers",
            "give at least an input and an output size",
        ));
    }
    let (d, k, n) = (sizes[0], sizes[sizes.len() - 1], args.batch);
    let loss = LossKind::parse(&args.loss)?;
    let targets = match loss {
        LossKind::Cce => Targets::Classes {
            labels: (0..n)
                .map(|i| (rng::u64_at(args.seed ^ 0x7A, i as u64) % k as u64) as usize)
                .collect(),
            classes: k,
        },
        LossKind::Bce if k == 1 => Targets::Classes {
            labels: (0..n)
                .map(|i| (rng::u64_at(args.seed ^ 0x7A, i as u64) % 2) as usize)
                .collect(),
            classes: 2,
        },
        LossKind::Bce => {
            return Err(Error::config(
                "loss",
                format!("bce needs one output, --layers ends in {k}"),
            ))
        }
        LossKind::Mse if k == 1 => Targets::Real(
            (0..n)
                .map(|i| rng::normal_at(args.seed ^ 0x7B, i as u64))
                .collect(),
        ),
        LossKind::Mse => Targets::Classes {
            labels: (0..n)
                .map(|i| (rng::u64_at(args.seed ^ 0x7A, i as u64) % k as u64) as usize)
                .collect(),
            classes: k,
        },
    };
    let features = (0..n * d)
        .map(|i| rng::normal_at(args.seed ^ 0x7C, i as u64))
        .collect();
    let data = Dataset::new("random batch", d, features, targets, Vec::new())?;
    let cfg = TrainConfig {
        hidden: sizes[1..sizes.len() - 1].to_vec(),
        activation: Activation::parse(&args.activation)?,
        loss: Some(loss),
        seed: args.seed,
        init: Init::XavierNormal,
        ..TrainConfig::default()
    };
    Ok((Model::<f64>::new(&data, &cfg)?, data))
}

fn print_report(r: &ModelCheckReport, opts: &ModelCheckOptions, as_json: bool) {
    let element = |w: &ElementCheck| {
        json!({"index": w.index, "analytic": w.analytic, "numeric": w.numeric,
               "abs_error": w.abs_error, "rel_error": w.rel_error, "verdict": w.verdict.name()})
    };
    if as_json {
        let params: Vec<_> = r
            .params
            .iter()
            .map(|p| {
                json!({
                    "name": p.name, "checked": p.checked, "elements": p.total,
                    "counted": p.counted(), "kinks": p.kinks,
                    "max_abs_error": p.max_abs_error, "max_rel_error": p.max_rel_error,
                    "below_atol": p.below_atol, "max_rel_error_below_atol": p.max_rel_error_below_atol,
                    "verdict": p.verdict.name(), "passed": p.passed,
                    "worst": p.worst.iter().map(element).collect::<Vec<_>>(),
                })
            })
            .collect();
        let broken: Vec<_> = r
            .broken_ops
            .iter()
            .map(|b| json!({"op": b.name, "node": b.node, "max_rel_error": b.max_rel_error}))
            .collect();
        println!(
            "{}",
            json!({
                "passed": r.passed(), "verdict": r.verdict().name(),
                "failed": r.named(Verdict::Bug), "suspicious": r.named(Verdict::Suspicious),
                "unchecked": r.unchecked(), "precision": "f64",
                "eps": opts.eps, "atol": opts.atol, "rtol": opts.rtol,
                "params": params, "broken_ops": broken,
            })
        );
        return;
    }
    println!(
        "{:<12} {:>9} {:>6} {:>12} {:>12}  {:<10} worst element: analytic vs numeric (relative error)",
        "parameter", "checked", "kinks", "max abs err", "max rel err", "verdict"
    );
    for p in &r.params {
        let worst = p
            .worst
            .first()
            .map(|w| {
                format!(
                    "#{}: {:.8e} vs {:.8e} ({:.2e})",
                    w.index, w.analytic, w.numeric, w.rel_error
                )
            })
            .unwrap_or_else(|| "none compared (all at kinks)".to_string());
        // The relative error is read only above atol (see the summary).
        let rel = if p.counted() > p.below_atol {
            format!("{:.3e}", p.max_rel_error)
        } else {
            "-".to_string()
        };
        println!(
            "{:<12} {:>4}/{:<4} {:>6} {:>12.3e} {:>12}  {:<10} {worst}",
            p.name,
            p.checked,
            p.total,
            p.kinks,
            p.max_abs_error,
            rel,
            p.verdict.name(),
        );
    }
    for b in &r.broken_ops {
        println!(
            "broken backward rule: {} (node {}), relative error {:.3e}",
            b.name, b.node, b.max_rel_error
        );
    }
    for line in r.summary(opts) {
        println!("{line}");
    }
}
