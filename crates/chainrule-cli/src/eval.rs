//! `chainrule eval`: the loss and accuracy of a saved model on a data set,
//! with the confusion matrix for classification.

use crate::data_args;
use chainrule_nn::model_io::load_model;
use chainrule_nn::trainer::Evaluation;
use chainrule_nn::Result;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// A model file written by `chainrule train`.
    #[arg(long)]
    model: PathBuf,
    /// digits | breast-cancer | iris | diabetes | csv:PATH | mnist:DIR
    #[arg(long, default_value = "digits")]
    data: String,
    /// Fraction held out for testing (use the value training used).
    #[arg(long, default_value_t = 0.2)]
    test_fraction: f64,
    /// Seed of the split (use the value training used).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// auto | regression | classification: must agree with the model's loss.
    #[arg(long, default_value = "auto")]
    task: String,
    /// The field delimiter of a csv: file: one character, or tab [default: detected].
    #[arg(long)]
    delimiter: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let started = Instant::now();
    let mut model = load_model::<f32>(&args.model, None)?;
    let data = data_args::prepare(
        &args.data,
        Some(model.loss),
        &data_args::Reading {
            task: args.task.clone(),
            delimiter: args.delimiter.clone(),
        },
        args.test_fraction,
        args.seed,
        false,
        model.standardizer.clone(),
    )?;
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
            "data": args.data,
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

fn report(split: &str, rows: usize, e: &Evaluation) {
    match e.accuracy {
        Some(a) => println!(
            "{split:<5} ({rows} rows): loss {:.4}, accuracy {:.2}%",
            e.loss,
            100.0 * a
        ),
        None => println!("{split:<5} ({rows} rows): loss {:.4}", e.loss),
    }
}
