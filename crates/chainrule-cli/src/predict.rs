//! `chainrule predict`: a saved model's output for one input vector, and
//! for classification the probabilities and the class, by name where the
//! data the model was trained on has class names (the model file records
//! them).

use chainrule_nn::model_io::load_model_with_data;
use chainrule_nn::{Error, LossKind, Result};
use serde_json::json;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A model file written by `chainrule train`.
    #[arg(long)]
    model: PathBuf,
    /// The input features, comma separated (raw: the model standardizes them as in training).
    #[arg(long, allow_hyphen_values = true)]
    input: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let (mut model, record) = load_model_with_data::<f32>(&args.model, None)?;
    let input: Vec<f64> = args
        .input
        .split(',')
        .enumerate()
        .map(|(i, s)| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    Error::config(
                        "input",
                        format!("value {} ('{}') is not a finite number", i + 1, s.trim()),
                    )
                })
        })
        .collect::<Result<_>>()?;
    let output: Vec<f64> = model.predict(&input)?.into_iter().map(f64::from).collect();
    let (probabilities, class) = match model.loss {
        LossKind::Cce => {
            let m = output.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let total: f64 = output.iter().map(|v| (v - m).exp()).sum();
            let p: Vec<f64> = output.iter().map(|v| (v - m).exp() / total).collect();
            let k = (0..p.len()).fold(0, |b, i| if p[i] > p[b] { i } else { b });
            (Some(p), Some(k))
        }
        LossKind::Bce => {
            let reading = model.loss.reading(model.network.output_activation())?;
            let p1 = reading.positive_probability(output[0]);
            let class = usize::from(reading.predicts_positive(output[0]));
            (Some(vec![1.0 - p1, p1]), Some(class))
        }
        LossKind::Mse => (None, None),
    };
    let class_name = class.and_then(|k| record.as_ref()?.class_name(k));
    if args.json {
        let mut o = json!({"output": output});
        if let (Some(p), Some(k)) = (&probabilities, class) {
            o["probabilities"] = json!(p);
            o["class"] = json!(k);
        }
        if let Some(name) = class_name {
            o["class_name"] = json!(name);
        }
        println!("{o}");
        return Ok(());
    }
    println!("output {output:?}");
    if let (Some(p), Some(k)) = (probabilities, class) {
        let shown: Vec<String> = p.iter().map(|v| format!("{v:.4}")).collect();
        let named = class_name.map(|n| format!(" ({n})")).unwrap_or_default();
        println!("probabilities [{}]\nclass {k}{named}", shown.join(", "));
    }
    Ok(())
}
