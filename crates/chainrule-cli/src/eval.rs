//! `chainrule eval`: the loss and accuracy of a saved model on a data set,
//! with the confusion matrix for classification.
//!
//! The data set, split seed and test fraction come from the model file,
//! which records them at training (with a fingerprint of the rows), so that
//! the test rows scored are the ones training held out. Flags that ask for
//! another split, or data whose fingerprint differs from the recorded one,
//! are obeyed with a warning on standard error: the test rows may then
//! include rows the model trained on.

use crate::data_args::{self, Prepared};
use crate::number_text::metric;
use crate::numeric_args;
use chainrule_nn::model_io::{load_model_with_data, DataRecord};
use chainrule_nn::trainer::Evaluation;
use chainrule_nn::Result;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The split of the data used when neither the flags nor the model file
/// give one (files written before chainrule recorded it): training's
/// defaults.
const DEFAULT_SEED: u64 = 0;
const DEFAULT_TEST_FRACTION: f64 = 0.2;

#[derive(clap::Args)]
pub struct Args {
    /// A model file written by `chainrule train`.
    #[arg(long)]
    model: PathBuf,
    /// digits | breast-cancer | iris | diabetes | csv:PATH | mnist:DIR
    /// (default: the data set the model file records).
    #[arg(long)]
    data: Option<String>,
    /// Fraction held out for testing (default: the one the model file
    /// records, else 0.2).
    #[arg(long, allow_negative_numbers = true, value_parser = numeric_args::fraction)]
    test_fraction: Option<f64>,
    /// Seed of the split (default: the one the model file records, else 0).
    #[arg(long, allow_negative_numbers = true, value_parser = numeric_args::seed)]
    seed: Option<u64>,
    /// auto | regression | classification: must agree with the model's loss.
    #[arg(long, default_value = "auto")]
    task: String,
    /// The field delimiter of a csv: file: one character, or tab [default:
    /// the one training used, else detected].
    #[arg(long)]
    delimiter: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// The data and split to evaluate on, and the warnings about them.
struct Split {
    spec: String,
    seed: u64,
    test_fraction: f64,
    /// Whether every value came from the model file's record.
    as_recorded: bool,
    warnings: Vec<String>,
}

/// The split the flags and the model's record ask for: the flags win, the
/// record fills in the rest, and every difference from the record is a
/// warning.
fn choose_split(args: &Args, record: Option<&DataRecord>) -> Result<Split> {
    let spec = data_args::model_data(
        args.data.as_deref(),
        record,
        &args.model,
        ", and --seed and --test-fraction if training used other values than 0 and 0.2",
    )?;
    let Some(r) = record else {
        return Ok(Split {
            spec,
            seed: args.seed.unwrap_or(DEFAULT_SEED),
            test_fraction: args.test_fraction.unwrap_or(DEFAULT_TEST_FRACTION),
            as_recorded: false,
            warnings: Vec::new(),
        });
    };
    let seed = args.seed.unwrap_or(r.seed);
    let test_fraction = args.test_fraction.unwrap_or(r.test_fraction);
    let mut warnings = Vec::new();
    if spec != r.spec {
        warnings.push(format!(
            "the model was trained on {}, evaluating on {spec}",
            r.spec
        ));
    }
    // A source with a test set of its own (MNIST) is not split.
    let splits = !spec.starts_with("mnist:");
    if splits && (seed != r.seed || test_fraction != r.test_fraction) {
        warnings.push(format!(
            "the model was trained with --seed {} --test-fraction {}; --seed {seed} \
             --test-fraction {test_fraction} gives another split, whose test rows may include \
             rows the model trained on (leave both flags out to score the held-out rows)",
            r.seed, r.test_fraction
        ));
    }
    Ok(Split {
        as_recorded: spec == r.spec && seed == r.seed && test_fraction == r.test_fraction,
        spec,
        seed,
        test_fraction,
        warnings,
    })
}

/// A warning when the data loaded is not the data the model recorded.
fn data_warning(record: &DataRecord, split: &Split, data: &Prepared) -> Option<String> {
    (split.spec == record.spec && data.fingerprint != record.fingerprint).then(|| {
        format!(
            "{} has changed since the model was trained: {} rows with fingerprint {}, \
             the model recorded {} rows with fingerprint {}; the split does not hold the \
             same test rows",
            split.spec, data.rows, data.fingerprint, record.rows, record.fingerprint
        )
    })
}

pub fn run(args: &Args) -> Result<()> {
    let started = Instant::now();
    let (mut model, record) = load_model_with_data::<f32>(&args.model, None)?;
    let mut split = choose_split(args, record.as_ref())?;
    let data = data_args::prepare(
        &split.spec,
        Some(model.loss),
        &data_args::Reading::for_model(&args.task, args.delimiter.as_deref(), record.as_ref()),
        split.test_fraction,
        split.seed,
        false,
        model.standardizer.clone(),
    )?;
    if let Some(w) = record.as_ref().and_then(|r| data_warning(r, &split, &data)) {
        split.as_recorded = false;
        split.warnings.push(w);
    }
    for w in &split.warnings {
        eprintln!("warning: {w}");
    }
    let train = model.evaluate(&data.train)?;
    let test = data
        .test
        .as_ref()
        .filter(|t| t.n > 0)
        .map(|t| model.evaluate(t))
        .transpose()?;
    let shown = test.as_ref().unwrap_or(&train);
    if args.json {
        let mut o = json!({
            "data": split.spec,
            "seed": split.seed,
            "test_fraction": split.test_fraction,
            "split_as_recorded": split.as_recorded,
            "warnings": split.warnings,
            "fingerprint": data.fingerprint,
            "train_loss": train.loss,
            "seconds": started.elapsed().as_secs_f64(),
            "model": args.model.display().to_string(),
        });
        if let Some(t) = &test {
            o["test_loss"] = json!(t.loss);
            if let Some(a) = t.accuracy {
                o["test_accuracy"] = json!(a);
            }
        } else if let Some(a) = train.accuracy {
            o["train_accuracy"] = json!(a);
        }
        if let Some(c) = &shown.confusion {
            o["confusion"] = json!(c);
        }
        println!("{o}");
        return Ok(());
    }
    println!("{}", describe(&split, &args.model, record.is_some()));
    report("train", data.train.n, &train);
    if let (Some(t), Some(set)) = (&test, &data.test) {
        report("test", set.n, t);
    }
    if let Some(c) = &shown.confusion {
        let names = if data.train.class_names.len() == c.len() {
            data.train.class_names.clone()
        } else {
            (0..c.len()).map(|k| k.to_string()).collect()
        };
        println!(
            "\nconfusion matrix ({}; rows: true class, columns: predicted)",
            if test.is_some() { "test" } else { "train" }
        );
        let width = names.iter().map(|n| n.len()).max().unwrap_or(1).max(5);
        print!("{:>width$} ", "");
        for n in &names {
            print!("{n:>width$} ");
        }
        println!();
        for (name, row) in names.iter().zip(c) {
            print!("{name:>width$} ");
            for v in row {
                print!("{v:>width$} ");
            }
            println!();
        }
    }
    Ok(())
}

/// The first line: what was evaluated, and where the split came from.
fn describe(split: &Split, model: &Path, has_record: bool) -> String {
    let source = if split.as_recorded {
        format!("as recorded in {}", model.display())
    } else if has_record {
        "not the split the model records: see the warning".to_string()
    } else {
        "from the flags: the model file records no split".to_string()
    };
    if split.spec.starts_with("mnist:") {
        return format!("{} with its own test set ({source})", split.spec);
    }
    format!(
        "{} split with --seed {} --test-fraction {} ({source})",
        split.spec, split.seed, split.test_fraction
    )
}

fn report(split: &str, rows: usize, e: &Evaluation) {
    match e.accuracy {
        Some(a) => println!(
            "{split:<5} ({rows} rows): loss {}, accuracy {:.2}%",
            metric(e.loss),
            100.0 * a
        ),
        None => println!("{split:<5} ({rows} rows): loss {}", metric(e.loss)),
    }
}
