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
use crate::mlp::MlpSpec;
use crate::model_file::{self, IntTensor, NamedTensor};
use crate::network::{self, Network};
use crate::trainer::Model;
use chainrule::{Float, Graph, Tensor};
use serde::{Deserialize, Serialize};
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
    for (name, p) in model.network.parameters() {
        let t = model.graph.param_value(p)?;
        tensors.push(NamedTensor {
            name,
            shape: t.dims().to_vec(),
            data: t.data().iter().map(|v| v.as_f64() as f32).collect(),
        });
    }
    for (name, values) in model.network.buffers() {
        tensors.push(NamedTensor {
            name,
            shape: vec![values.len()],
            data: values.iter().map(|v| v.as_f64() as f32).collect(),
        });
    }
    // PyTorch keeps num_batches_tracked as a 0-dimensional int64 tensor.
    let ints: Vec<IntTensor> = model
        .network
        .int_buffers()
        .into_iter()
        .map(|(name, n)| IntTensor {
            name,
            shape: Vec::new(),
            data: vec![i64::try_from(n).unwrap_or(i64::MAX)],
        })
        .collect();
    let mut meta = model_metadata(model);
    if let Some(record) = data {
        meta.insert(DATA_KEY.into(), record.to_json());
    }
    model_file::save_with_ints(path, &tensors, &ints, &meta)?;
    Ok(())
}

/// The `format` entry of a network that is not a plain MLP.
pub const NETWORK_FORMAT: &str = "chainrule-network";

/// The architecture entries of a network's metadata (besides `format`):
/// the canonical architecture string and the per-example input shape
/// (stored as a JSON list, e.g. `[1,8,8]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetworkMeta {
    pub arch: String,
    pub input_shape: Vec<usize>,
}

impl NetworkMeta {
    /// The entries `format`, `arch`, `input_shape`.
    pub fn to_metadata(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("format".to_string(), NETWORK_FORMAT.to_string()),
            ("arch".to_string(), self.arch.clone()),
            (
                "input_shape".to_string(),
                serde_json::to_string(&self.input_shape).unwrap_or_default(),
            ),
        ])
    }

    /// Reads the entries back.
    pub fn from_metadata(meta: &BTreeMap<String, String>) -> Result<NetworkMeta> {
        let get = |key: &str| {
            meta.get(key).ok_or_else(|| {
                Error::config("model metadata", format!("the key '{key}' is missing"))
            })
        };
        let input_shape = serde_json::from_str(get("input_shape")?).map_err(|e| {
            Error::config(
                "model metadata",
                format!("'input_shape' is not a list of sizes: {e}"),
            )
        })?;
        Ok(NetworkMeta {
            arch: get("arch")?.clone(),
            input_shape,
        })
    }
}

/// The metadata of a model file for `model`: the architecture, the loss and
/// the input standardization.
pub fn model_metadata<F: Float>(model: &Model<F>) -> BTreeMap<String, String> {
    let mut meta = match model.network.as_mlp() {
        Some(mlp) => mlp.spec.to_metadata(),
        None => NetworkMeta {
            arch: network::arch_text(model.network.specs()),
            input_shape: model.network.input_shape().to_vec(),
        }
        .to_metadata(),
    };
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
    let contents = model_file::load_with_ints(path)?;
    let meta = contents.metadata.as_ref();
    let record = meta
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
    let held = contents.tensors.iter().map(|t| t.data.len()).sum();
    let described = meta.is_some_and(|m| m.contains_key("layers") || m.contains_key("arch"));
    let from_file = match meta {
        Some(m) if described => {
            let loss = m.get("loss").map(|l| LossKind::parse(l)).transpose()?;
            Some((m, loss))
        }
        _ => None,
    };
    let mut model = match (from_file, fallback) {
        (Some((m, loss)), fb) => {
            let loss = loss.or(fb.map(|(_, l)| l)).unwrap_or(LossKind::Cce);
            empty_model_from_metadata(m, loss, held, path)?
        }
        (None, Some((spec, loss))) => {
            loss.reading(spec.output_activation)
                .map_err(|e| mismatch(path, e.to_string()))?;
            check_size(&spec, held, path)?;
            let standardizer = standardizer_from(meta, spec.sizes[0], path)?;
            let mut m = empty_model(spec, loss)?;
            m.standardizer = standardizer;
            m
        }
        (None, None) => {
            return Err(mismatch(
                path,
                "the file has no architecture metadata: give the layer sizes and activations"
                    .into(),
            ))
        }
    };
    apply_contents(&mut model, &contents, path)?;
    Ok((model, record))
}

/// A model with zero weights of the architecture `meta` records (an MLP's
/// `layers`, or any network's `arch` and `input_shape`), with the input
/// standardization it records; `held` parameter values are available in
/// the file (see [`check_size`]).
pub(crate) fn empty_model_from_metadata<F: Float>(
    meta: &BTreeMap<String, String>,
    loss: LossKind,
    held: usize,
    path: &Path,
) -> Result<Model<F>> {
    let bad = |e: Error| mismatch(path, e.to_string());
    let mut model = if meta.contains_key("arch") {
        let nm = NetworkMeta::from_metadata(meta).map_err(bad)?;
        let specs = network::parse_arch(&nm.arch).map_err(bad)?;
        network::check_size(&specs, &nm.input_shape, held.max(SMALL_MODEL)).map_err(bad)?;
        let mut graph = Graph::new();
        let net = Network::new(&mut graph, &specs, &nm.input_shape, Init::Zeros, 0).map_err(bad)?;
        Model::from_network(graph, net, loss).map_err(bad)?
    } else {
        let spec = MlpSpec::from_metadata(meta).map_err(bad)?;
        loss.reading(spec.output_activation).map_err(bad)?;
        check_size(&spec, held, path)?;
        empty_model(spec, loss)?
    };
    model.standardizer = standardizer_from(Some(meta), model.network.in_features(), path)?;
    Ok(model)
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
pub(crate) fn empty_model<F: Float>(spec: MlpSpec, loss: LossKind) -> Result<Model<F>> {
    Model::from_spec(spec, Init::Zeros, 0, loss)
}

/// Replaces the model's weights and buffers with those of the file at
/// `path` (its metadata, if any, is not used), strictly: `--init`.
pub fn apply_loaded<F: Float>(model: &mut Model<F>, path: &Path) -> Result<()> {
    let contents = model_file::load_with_ints(path)?;
    apply_contents(model, &contents, path)
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

/// Replaces the model's weights by `tensors` (a file without buffers); see
/// [`apply_contents`].
pub fn apply_weights<F: Float>(
    model: &mut Model<F>,
    tensors: &[NamedTensor],
    path: &Path,
) -> Result<()> {
    let contents = model_file::FileContents {
        tensors: tensors.to_vec(),
        ..Default::default()
    };
    apply_contents(model, &contents, path)
}

/// Replaces the model's parameters and buffers by the file's tensors,
/// matched by PyTorch name, strictly: every expected name present with its
/// shape, no other name, finite values. The first missing, unexpected or
/// misshapen tensor is named (with the names expected), and so is the
/// first NaN or infinity (tensor, index and flat element number): a network
/// with such a weight computes NaN or infinity rather than an answer.
pub fn apply_contents<F: Float>(
    model: &mut Model<F>,
    contents: &model_file::FileContents,
    path: &Path,
) -> Result<()> {
    let params = model.network.parameters();
    let buffers: Vec<(String, usize)> = model
        .network
        .buffers()
        .into_iter()
        .map(|(n, v)| (n, v.len()))
        .collect();
    let ints: Vec<String> = model
        .network
        .int_buffers()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let expected: Vec<&str> = params
        .iter()
        .map(|(n, _)| n.as_str())
        .chain(buffers.iter().map(|(n, _)| n.as_str()))
        .chain(ints.iter().map(String::as_str))
        .collect();
    let given = contents
        .tensors
        .iter()
        .map(|t| &t.name)
        .chain(contents.ints.iter().map(|t| &t.name));
    for name in given {
        if !expected.contains(&name.as_str()) {
            return Err(mismatch(
                path,
                format!(
                    "unexpected tensor '{name}' (the architecture has {})",
                    model.network.state_dict_names().join(", ")
                ),
            ));
        }
    }
    // A tensor present under its name but with the other kind of dtype
    // (an F32 `num_batches_tracked` after `{k: v.float()}`) is named as such.
    let missing = |name: &str, other_dtype: bool, has: &str| {
        if other_dtype {
            let want = if has == "I64" {
                "a float type (F32 or F64)"
            } else {
                "I64"
            };
            mismatch(
                path,
                format!("tensor '{name}' is stored as {has}, the architecture needs {want}"),
            )
        } else {
            mismatch(path, format!("tensor '{name}' is missing"))
        }
    };
    let find = |name: &str| -> Result<&NamedTensor> {
        contents
            .tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| missing(name, contents.ints.iter().any(|t| t.name == name), "I64"))
    };
    let shape_err = |name: &str, got: &[usize], want: String| {
        mismatch(
            path,
            format!("tensor '{name}' has shape {got:?}, the architecture needs {want}"),
        )
    };
    for (name, p) in params {
        let t = find(&name)?;
        let want = model.graph.param_shape(p)?;
        if t.shape != want.dims() {
            return Err(shape_err(&name, &t.shape, want.to_string()));
        }
        check_finite(t, path)?;
        let value = Tensor::from_vec(
            t.data.iter().map(|&v| F::from_f64(v as f64)).collect(),
            &t.shape,
        )?;
        model.graph.set_param(p, &value)?;
    }
    let mut values = Vec::with_capacity(buffers.len());
    for (name, len) in &buffers {
        let t = find(name)?;
        if t.shape != [*len] {
            return Err(shape_err(name, &t.shape, format!("[{len}]")));
        }
        check_finite(t, path)?;
        values.push(
            t.data
                .iter()
                .map(|&v| F::from_f64(v as f64))
                .collect::<Vec<F>>(),
        );
    }
    let mut counts = Vec::with_capacity(ints.len());
    for name in &ints {
        let t = contents
            .ints
            .iter()
            .find(|t| t.name == *name)
            .ok_or_else(|| {
                missing(
                    name,
                    contents.tensors.iter().any(|t| t.name == *name),
                    "a float type",
                )
            })?;
        match (
            t.data.as_slice(),
            u64::try_from(t.data.first().copied().unwrap_or(-1)),
        ) {
            ([_], Ok(n)) => counts.push(n),
            _ => {
                return Err(mismatch(
                    path,
                    format!(
                        "tensor '{name}' must hold one count of 0 or more, got {:?}",
                        t.data
                    ),
                ))
            }
        }
    }
    let mut values = values.into_iter();
    for (b, n) in model
        .network
        .batch_norm_buffers_mut()
        .iter_mut()
        .zip(counts)
    {
        b.running_mean = values.next().unwrap_or_default();
        b.running_var = values.next().unwrap_or_default();
        b.num_batches_tracked = n;
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
