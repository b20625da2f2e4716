//! Where `explain` gets a network and an example that the command line does
//! not type in: a fresh network from `--arch` (with `--input-shape`), and
//! row N of a model's recorded data set (`--row`), read as `diagnose
//! --model` reads it and left raw (the model's standardization is applied
//! when the example is traced).

use crate::data_args;
use chainrule_nn::data::Targets;
use chainrule_nn::model_io::DataRecord;
use chainrule_nn::network::{parse_arch, specs_are_2d};
use chainrule_nn::trainer::Model;
use chainrule_nn::{Error, Init, LossKind, Result};
use std::path::Path;

/// One example of a model's data: the raw input, the target as the loss
/// reads it, and where it came from.
pub struct Example {
    pub input: Vec<f64>,
    pub target: Vec<f64>,
    pub source: String,
}

/// Row `row` of the data `record` names (the rows as loaded, before any
/// split), its target as `loss` reads it.
pub fn model_row(
    path: &Path,
    record: Option<&DataRecord>,
    model: &Model<f64>,
    row: usize,
) -> Result<Example> {
    let spec = data_args::model_data(None, record, path, " (explain --input instead)")?;
    let data = data_args::prepare(
        &spec,
        Some(model.loss),
        &data_args::Reading::for_model("auto", None, record),
        0.0,
        0,
        false,
        None,
    )?;
    let set = &data.train;
    if row >= set.n {
        return Err(Error::config(
            "row",
            format!(
                "row {row} is beyond the data: {} has {} rows (0..{})",
                set.name, set.n, set.n
            ),
        ));
    }
    model.check_data(set)?;
    Ok(dataset_example(
        set,
        row,
        model,
        &format!("row {row} of {}", set.name),
    ))
}

/// Row `row` (in range) of `set`, its target as `model`'s loss reads it;
/// `source` says where it came from.
pub fn dataset_example<F: chainrule::Float>(
    set: &chainrule_nn::data::Dataset,
    row: usize,
    model: &Model<F>,
    source: &str,
) -> Example {
    let outputs = model.network.out_features();
    let (target, what) = match (&set.targets, model.loss) {
        (Targets::Real(v), _) => (vec![v[row]], format!("target {}", v[row])),
        (Targets::Classes { labels, .. }, LossKind::Mse) => (
            (0..outputs)
                .map(|k| f64::from(u8::from(k == labels[row])))
                .collect(),
            format!("class {}, one-hot", labels[row]),
        ),
        (Targets::Classes { labels, .. }, _) => {
            (vec![labels[row] as f64], format!("class {}", labels[row]))
        }
    };
    Example {
        input: set.row(row).to_vec(),
        target,
        source: format!("{source}, {what}"),
    }
}

/// The per-example input shape of `--input-shape` (`1x8x8`, `1,8,8`), or
/// for a flat architecture the number of `--input` values.
fn input_shape(arch: &str, shape: Option<&str>, input: Option<usize>) -> Result<Vec<usize>> {
    match (shape, input) {
        (Some(s), _) => {
            let sizes = chainrule_nn::mlp::parse_sizes("input-shape", &s.replace(['x', '×'], ","))?;
            if sizes.is_empty() || sizes.contains(&0) {
                return Err(Error::config(
                    "input-shape",
                    format!("'{s}' is not a shape of positive sizes"),
                ));
            }
            Ok(sizes)
        }
        (None, Some(n)) if !specs_are_2d(&parse_arch(arch)?) => Ok(vec![n]),
        _ => Err(Error::config(
            "input-shape",
            "give the shape of one example with --input-shape (CxHxW for images, e.g. 1x8x8, \
             or the number of features)",
        )),
    }
}

/// A fresh network of architecture `arch` with weights drawn from `seed`
/// as `train` draws them (kaiming-uniform), scored by `loss`.
pub fn arch_model(
    arch: &str,
    shape: Option<&str>,
    input: Option<usize>,
    seed: u64,
    loss: LossKind,
) -> Result<Model<f64>> {
    let specs = parse_arch(arch)?;
    let shape = input_shape(arch, shape, input)?;
    Model::from_arch(&specs, &shape, Init::KaimingUniform, seed, loss)
}
