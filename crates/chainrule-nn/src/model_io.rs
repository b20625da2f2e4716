//! Saving and loading trained networks as safetensors files that PyTorch
//! reads: tensors named as `torch.nn.Sequential`'s state_dict, the
//! architecture and loss in the file's metadata, and the data it was
//! trained on ([`DataRecord`]). Loading refuses weights that are not finite.

pub mod record;
pub use record::{DataRecord, DATA_KEY};

use crate::data::Standardizer;
use crate::error::{Error, Result};
use crate::init::Init;
use crate::loss::LossKind;
use crate::mlp::{Mlp, MlpSpec};
use crate::model_file::{self, NamedTensor};
use crate::module::Module;
use crate::trainer::Model;
use chainrule::{Float, Graph, Tensor};
use std::collections::BTreeMap;
use std::path::Path;

/// Writes `model` to `path` atomically (values stored as f32), without a
/// record of its data.
pub fn save_model<F: Float>(path: &Path, model: &Model<F>) -> Result<()> {
    save_model_with_data(path, model, None)
}

/// Writes `model` to `path` atomically (values stored as f32), with the
/// record of the data it was trained on, if given, under [`DATA_KEY`].
pub fn save_model_with_data<F: Float>(
    path: &Path,
    model: &Model<F>,
    data: Option<&DataRecord>,
) -> Result<()> {
    let mut tensors = Vec::new();
    for (name, p) in Module::<F>::parameters(&model.mlp) {
        let t = model.graph.param_value(p)?;
        tensors.push(NamedTensor {
            name,
            shape: t.dims().to_vec(),
            data: t.data().iter().map(|v| v.as_f64() as f32).collect(),
        });
    }
    let mut meta = model_metadata(model);
    if let Some(record) = data {
        meta.insert(DATA_KEY.into(), record.to_json());
    }
    model_file::save(path, &tensors, &meta)?;
    Ok(())
}

/// The metadata of a model file for `model`: the architecture, the loss and
/// the input standardization.
pub fn model_metadata<F: Float>(model: &Model<F>) -> BTreeMap<String, String> {
    let mut meta = model.mlp.spec.to_metadata();
    meta.insert("loss".into(), model.loss.name().into());
    if let Some(s) = &model.standardizer {
        meta.insert("input_mean".into(), join(&s.mean));
        meta.insert("input_std".into(), join(&s.std));
    }
    meta
}

/// Reads a model file. The architecture comes from its metadata; a file
/// without it (one PyTorch wrote) needs `fallback`. Weights that are not
/// finite are refused (see [`apply_weights`]).
pub fn load_model<F: Float>(
    path: &Path,
    fallback: Option<(MlpSpec, LossKind)>,
) -> Result<Model<F>> {
    Ok(load_model_with_data(path, fallback)?.0)
}

/// [`load_model`], and the record of the data the model was trained on,
/// where the file has one (files written before chainrule recorded it, or
/// by other programs, have none).
pub fn load_model_with_data<F: Float>(
    path: &Path,
    fallback: Option<(MlpSpec, LossKind)>,
) -> Result<(Model<F>, Option<DataRecord>)> {
    let (tensors, meta) = model_file::load(path)?;
    let record = meta
        .as_ref()
        .and_then(|m| m.get(DATA_KEY))
        .map(|text| {
            DataRecord::from_json(text).map_err(|e| {
                mismatch(
                    path,
                    format!("the metadata's '{DATA_KEY}' entry is not a data record: {e}"),
                )
            })
        })
        .transpose()?;
    let from_file = match &meta {
        Some(m) if m.contains_key("layers") => {
            let spec = MlpSpec::from_metadata(m).map_err(|e| mismatch(path, e.to_string()))?;
            let loss = m.get("loss").map(|l| LossKind::parse(l)).transpose()?;
            Some((spec, loss))
        }
        _ => None,
    };
    let (spec, loss) = match (from_file, fallback) {
        (Some((spec, Some(loss))), _) => (spec, loss),
        (Some((spec, None)), Some((_, loss))) => (spec, loss),
        (Some((spec, None)), None) => (spec, LossKind::Cce),
        (None, Some(fb)) => fb,
        (None, None) => {
            return Err(mismatch(
                path,
                "the file has no architecture metadata: give the layer sizes and activations"
                    .into(),
            ))
        }
    };
    loss.reading(spec.output_activation)
        .map_err(|e| mismatch(path, e.to_string()))?;
    let standardizer = standardizer_from(meta.as_ref(), spec.sizes[0], path)?;
    check_size(&spec, tensors.iter().map(|t| t.data.len()).sum(), path)?;
    let mut model = empty_model(spec, loss, standardizer)?;
    apply_weights(&mut model, &tensors, path)?;
    Ok((model, record))
}

/// The input standardization that `meta` records (`input_mean`,
/// `input_std`) for `inputs` features, if any.
pub(crate) fn standardizer_from(
    meta: Option<&BTreeMap<String, String>>,
    inputs: usize,
    path: &Path,
) -> Result<Option<Standardizer>> {
    match meta.map(|m| (m.get("input_mean"), m.get("input_std"))) {
        Some((Some(mean), Some(std))) => {
            let (mean, std) = (split(mean, path)?, split(std, path)?);
            if mean.len() != inputs || std.len() != inputs || std.contains(&0.0) {
                return Err(mismatch(
                    path,
                    format!("input_mean/input_std must hold {inputs} values (std non-zero)"),
                ));
            }
            Ok(Some(Standardizer { mean, std }))
        }
        _ => Ok(None),
    }
}

/// Networks of up to this many values (2^20, 4 MiB in f32) are built from a
/// model file's metadata even when its tensors hold fewer, so that the
/// tensor-by-tensor check can name the first missing or misshapen tensor;
/// bigger ones must be covered by the file's values before anything is
/// allocated.
pub const SMALL_MODEL: usize = 1 << 20;

/// Refuses an architecture that needs more parameter values than the file
/// holds (`available`) before anything is allocated for it, so that
/// metadata claiming layers of a million units cannot make the loader
/// allocate terabytes only to find the tensors missing. Architectures of up
/// to [`SMALL_MODEL`] values are built anyway, so that the tensor-by-tensor
/// check can name the first missing or misshapen tensor.
pub(crate) fn check_size(spec: &MlpSpec, available: usize, path: &Path) -> Result<()> {
    let needed = spec.sizes.windows(2).try_fold(0usize, |acc, w| {
        w[0].checked_add(1)
            .and_then(|fan_in| fan_in.checked_mul(w[1]))
            .and_then(|n| acc.checked_add(n))
    });
    match needed {
        Some(n) if n <= available.max(SMALL_MODEL) => Ok(()),
        _ => Err(mismatch(
            path,
            format!(
                "the architecture {:?} needs {} parameter values, the file holds {available}",
                spec.sizes,
                needed.map_or("more than 2^64".to_string(), |n| n.to_string())
            ),
        )),
    }
}

/// A model of architecture `spec` with zero weights, to be filled from a file.
pub(crate) fn empty_model<F: Float>(
    spec: MlpSpec,
    loss: LossKind,
    standardizer: Option<Standardizer>,
) -> Result<Model<F>> {
    let mut graph = Graph::new();
    let mlp = Mlp::new(&mut graph, spec, Init::Zeros, 0)?;
    Ok(Model {
        graph,
        mlp,
        loss,
        standardizer,
    })
}

/// Replaces the model's weights with those of the file at `path` (its
/// metadata, if any, is not used): `--init`.
pub fn apply_loaded<F: Float>(model: &mut Model<F>, path: &Path) -> Result<()> {
    let (tensors, _) = model_file::load(path)?;
    apply_weights(model, &tensors, path)
}

fn join(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn split(text: &str, path: &Path) -> Result<Vec<f64>> {
    text.split(',')
        .map(|p| {
            p.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    mismatch(
                        path,
                        format!("'{p}' in the input statistics is not a finite number"),
                    )
                })
        })
        .collect()
}

/// Replaces the model's weights by `tensors`, which must match it exactly
/// and hold finite values: the first missing, unexpected or misshapen
/// tensor is named, and so is the first NaN or infinity (tensor, index and
/// flat element number): a network with such a weight computes NaN or
/// infinity rather than an answer.
pub fn apply_weights<F: Float>(
    model: &mut Model<F>,
    tensors: &[NamedTensor],
    path: &Path,
) -> Result<()> {
    let params = Module::<F>::parameters(&model.mlp);
    for t in tensors {
        if !params.iter().any(|(name, _)| *name == t.name) {
            let expected: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
            return Err(mismatch(
                path,
                format!(
                    "unexpected tensor '{}' (the architecture has {})",
                    t.name,
                    expected.join(", ")
                ),
            ));
        }
    }
    for (name, p) in params {
        let t = tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| mismatch(path, format!("tensor '{name}' is missing")))?;
        let want = model.graph.param_shape(p)?;
        if t.shape != want.dims() {
            return Err(mismatch(
                path,
                format!(
                    "tensor '{name}' has shape {:?}, the architecture needs {}",
                    t.shape, want
                ),
            ));
        }
        check_finite(t, path)?;
        let value = Tensor::from_vec(
            t.data.iter().map(|&v| F::from_f64(v as f64)).collect(),
            &t.shape,
        )?;
        model.graph.set_param(p, &value)?;
    }
    Ok(())
}

/// Refuses a tensor holding NaN or an infinity, naming the first such
/// element: `tensor '2.weight' holds NaN at [3, 1] (element 25)`.
fn check_finite(t: &NamedTensor, path: &Path) -> Result<()> {
    let Some(element) = t.data.iter().position(|v| !v.is_finite()) else {
        return Ok(());
    };
    let value = t.data[element];
    let what = if value.is_nan() {
        "NaN"
    } else if value > 0.0 {
        "+infinity"
    } else {
        "-infinity"
    };
    // Row-major: the last dimension varies fastest.
    let mut index = vec![0; t.shape.len()];
    let mut rest = element;
    for (i, &dim) in t.shape.iter().enumerate().rev() {
        index[i] = rest % dim.max(1);
        rest /= dim.max(1);
    }
    Err(mismatch(
        path,
        format!(
            "tensor '{}' holds {what} at {index:?} (element {element}); \
             weights must be finite numbers",
            t.name
        ),
    ))
}

pub(crate) fn mismatch(path: &Path, detail: String) -> Error {
    Error::ModelMismatch {
        path: path.display().to_string(),
        detail,
    }
}
