//! Checkpoints: everything needed to continue a training run exactly where
//! it stopped, in one safetensors file written atomically, so that a crash
//! at any moment leaves either the previous checkpoint or the new one,
//! never a mixture.
//!
//! The file holds, as tensors (in the model's precision, `F32` or `F64`,
//! so that the values come back bit for bit):
//!
//! - `model.NAME`: every parameter and buffer under its PyTorch name
//!   (`model.0.weight`, `model.3.running_mean`; batch norm's
//!   `num_batches_tracked` as `I64`);
//! - `optim.BUFFER.INDEX`: the optimizer's state for parameter `INDEX`
//!   (registration order): SGD's `velocity`, Adam's `m` and `v`; a parameter
//!   without state yet has no tensor;
//!
//! and, as `__metadata__` strings:
//!
//! - `format` (`chainrule-checkpoint`), `version` (`1`), `dtype` (`f32`/`f64`);
//! - `model.KEY`: the model file's metadata (architecture, loss, input
//!   standardization);
//! - `config`: the whole [`TrainConfig`] as JSON;
//! - `progress`: `{"epochs_done", "steps_done"}`; the learning-rate schedule
//!   is a closed form of the epoch, so this is its position too;
//! - `history`: every step's loss and every epoch's metrics so far, so that
//!   the metrics of a resumed run equal those of a run never stopped;
//! - `optimizer`: `{"kind", "steps", "buffers": {NAME: COUNT}}` (Adam's step
//!   count `t`, and how many parameters each buffer covers);
//! - `data`: rows, features and a hash of the training and test sets:
//!   resuming on other data is refused;
//! - `extra.KEY`: whatever the caller adds (the command line keeps its flags
//!   there).
//!
//! There is no random-generator state to save: the row order of epoch `e`
//! is [`epoch_order`](crate::trainer::epoch_order)`(n, seed, e, shuffle)`,
//! a function of the seed (in the config) and the epoch (in `progress`).
//!
//! The JSON entries are serde structs (`json.rs`); the bytes are read and
//! written by [`tensor_file`]. Reading treats the file
//! as hostile: its size is bounded by [`MAX_FILE_BYTES`] before it is read,
//! the safetensors layout is checked by the reference library and by
//! [`tensor_file::decode`], and every tensor's name, dtype and size is
//! checked against the architecture before it is used.

mod json;

use crate::data::{read_file, Dataset};
use crate::error::{Error, Result};
use crate::model_io::{empty_model_from_metadata, model_metadata};
use crate::optim::OptimizerState;
use crate::tensor_file::{self, Dtype, StoredTensor, TensorFileError, Values, MAX_FILE_BYTES};
use crate::trainer::{Model, TrainConfig, TrainState, Trainer};
use crate::LossKind;
use chainrule::{Float, Tensor};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// The checkpoint's file name in a run folder.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
/// The `format` metadata entry.
pub const FORMAT: &str = "chainrule-checkpoint";
/// The `version` metadata entry this code writes and reads.
pub const VERSION: &str = "1";

/// A checkpoint read back: the model, the run's config and state, the data
/// fingerprint and the caller's extra entries.
pub struct Checkpoint<F: Float> {
    /// The network with its weights.
    pub model: Model<F>,
    /// The run's settings.
    pub config: TrainConfig,
    /// Progress, history and optimizer state.
    pub state: TrainState<F>,
    /// The caller's entries (`extra.KEY` in the file, without `extra.`).
    pub extra: BTreeMap<String, String>,
    data: json::Fingerprint,
    path: String,
}

impl<F: Float> Checkpoint<F> {
    /// Refuses data other than the data the run was trained on.
    pub fn check_data(&self, train: &Dataset, test: Option<&Dataset>) -> Result<()> {
        let now = json::fingerprint(train, test);
        if now != self.data {
            return Err(Error::Checkpoint {
                path: self.path.clone(),
                detail: format!(
                    "the run was trained on other data (then {}, now {now})",
                    self.data
                ),
            });
        }
        Ok(())
    }

    /// The model and a [`Trainer`] that continues the run, after checking
    /// that `train` and `test` are the run's data.
    pub fn resume(self, train: &Dataset, test: Option<&Dataset>) -> Result<(Model<F>, Trainer<F>)> {
        self.check_data(train, test)?;
        let trainer = Trainer::resume(&self.config, self.state).map_err(|e| Error::Checkpoint {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        Ok((self.model, trainer))
    }
}

/// A tensor of `F` values in the checkpoint's dtype (`F32` or `F64`).
fn stored<F: Float>(name: String, shape: Vec<usize>, values: &[F]) -> StoredTensor {
    let values = if F::NAME == "f32" {
        Values::F32(values.iter().map(|v| v.as_f64() as f32).collect())
    } else {
        Values::F64(values.iter().map(|v| v.as_f64()).collect())
    };
    StoredTensor {
        name,
        shape,
        values,
    }
}

/// `value` as the text of a metadata entry.
fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Plain structs of numbers and strings: encoding cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

/// Writes a checkpoint of `model` and `trainer` (after its last epoch) on
/// data `train`/`test` to `path`, atomically; `extra` entries are kept as
/// `extra.KEY`.
pub fn save<F: Float>(
    path: &Path,
    model: &Model<F>,
    trainer: &Trainer<F>,
    train: &Dataset,
    test: Option<&Dataset>,
    extra: &BTreeMap<String, String>,
) -> Result<()> {
    let state = trainer.state();
    let mut tensors = Vec::new();
    for (pname, p) in model.network.parameters() {
        let t = model.graph.param_value(p)?;
        tensors.push(stored(
            format!("model.{pname}"),
            t.dims().to_vec(),
            t.data(),
        ));
    }
    for (bname, values) in model.network.buffers() {
        tensors.push(stored(format!("model.{bname}"), vec![values.len()], values));
    }
    for (bname, n) in model.network.int_buffers() {
        tensors.push(StoredTensor {
            name: format!("model.{bname}"),
            shape: Vec::new(),
            values: Values::I64(vec![n as i64]),
        });
    }
    let mut counts = BTreeMap::new();
    for (buffer, slots) in &state.optimizer.buffers {
        counts.insert(buffer.clone(), slots.len() as u64);
        for (i, s) in slots.iter().enumerate().filter(|(_, s)| !s.is_empty()) {
            tensors.push(stored(format!("optim.{buffer}.{i}"), vec![s.len()], s));
        }
    }
    // The order the safetensors library's `serialize` wrote checkpoints in:
    // by dtype, widest alignment first (I64, then F64 or F32), then by name.
    tensors.sort_by(|a, b| {
        (b.values.dtype().cmp(&a.values.dtype())).then_with(|| a.name.cmp(&b.name))
    });

    let mut meta = BTreeMap::new();
    for (k, v) in model_metadata(model) {
        meta.insert(format!("model.{k}"), v);
    }
    for (k, v) in extra {
        meta.insert(format!("extra.{k}"), v.clone());
    }
    let progress = json::Progress {
        epochs_done: state.epochs_done,
        steps_done: state.steps_done,
    };
    let optimizer = json::OptimizerJson {
        buffers: counts,
        kind: state.optimizer.kind.clone(),
        steps: state.optimizer.steps,
    };
    let entries = [
        ("format", FORMAT.to_string()),
        ("version", VERSION.to_string()),
        ("dtype", F::NAME.to_string()),
        ("config", to_json(&json::ConfigJson::from(trainer.config()))),
        ("progress", to_json(&progress)),
        ("history", to_json(&json::HistoryJson::from(&state.history))),
        ("optimizer", to_json(&optimizer)),
        ("data", to_json(&json::fingerprint(train, test))),
    ];
    for (k, v) in entries {
        meta.insert(k.to_string(), v);
    }
    let refs: Vec<_> = tensors.iter().map(StoredTensor::as_ref).collect();
    tensor_file::write(path, &refs, &meta).map_err(|e| match e {
        TensorFileError::Io { source, .. } => failure(
            &path.display().to_string(),
            format!("cannot write: {source}"),
        ),
        other => Error::ModelFile(other),
    })
}

/// Reads the checkpoint at `path`.
pub fn load<F: Float>(path: &Path) -> Result<Checkpoint<F>> {
    // Bounded as tensor_file::read_bounded is, with the data reader's
    // messages, which checkpoints have always given.
    let bytes = read_file(path, MAX_FILE_BYTES)?;
    load_bytes(&bytes, &path.display().to_string())
}

/// Reads a checkpoint held in memory; `name` (usually the path) starts every
/// error message.
pub fn load_bytes<F: Float>(bytes: &[u8], name: &str) -> Result<Checkpoint<F>> {
    let fail = |detail: String| failure(name, detail);
    // The library's words for a broken layout, as checkpoints always said.
    tensor_file::library_verdict(bytes)
        .map_err(|e| fail(format!("not a safetensors file: {e}")))?;
    let file = tensor_file::decode(bytes, name, &[Dtype::F32, Dtype::F64, Dtype::I64])?;
    let meta = file.metadata.clone().unwrap_or_default();
    let get = |key: &str| entry(&meta, key, name);
    if get("format")? != FORMAT {
        return Err(fail(format!(
            "not a checkpoint: format is '{}'",
            get("format")?
        )));
    }
    if get("version")? != VERSION {
        return Err(fail(format!(
            "checkpoint version '{}' is not the version {VERSION} this program reads",
            get("version")?
        )));
    }
    if get("dtype")? != F::NAME {
        return Err(fail(format!(
            "the checkpoint holds {} values, this run is {}",
            get("dtype")?,
            F::NAME
        )));
    }
    let in_key = |key: &'static str| move |e: String| fail(format!("metadata '{key}': {e}"));
    let config: json::ConfigJson = parse(&meta, "config", name)?;
    let config = config.to_config().map_err(in_key("config"))?;
    let history: json::HistoryJson = parse(&meta, "history", name)?;
    let progress: json::Progress = parse(&meta, "progress", name)?;
    let optim: json::OptimizerJson = parse(&meta, "optimizer", name)?;
    let data: json::Fingerprint = parse(&meta, "data", name)?;

    // The model: its metadata, then its tensors.
    let model_meta: BTreeMap<String, String> = meta
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("model.")?.to_string(), v.clone())))
        .collect();
    let loss = LossKind::parse(model_meta.get("loss").map_or("", String::as_str))
        .map_err(|e| fail(e.to_string()))?;
    let held = file
        .tensors
        .iter()
        .map(|t| t.shape.iter().product::<usize>())
        .sum();
    let mut model = empty_model_from_metadata::<F>(&model_meta, loss, held, Path::new(name))
        .map_err(|e| match e {
            Error::ModelMismatch { detail, .. } => fail(detail),
            other => other,
        })?;
    let st: HashMap<&str, &StoredTensor> =
        file.tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut used: HashSet<String> = HashSet::new();
    // The values of `tname`, if the file has it, marked as used.
    let take = |used: &mut HashSet<String>, tname: &str, want: &[usize]| {
        let values = read_tensor::<F>(&st, tname, want, name)?;
        if values.is_some() {
            used.insert(tname.to_string());
        }
        Result::Ok(values)
    };
    let missing = |tname: &str| fail(format!("tensor '{tname}' is missing"));
    let params = model.network.parameters();
    let mut sizes = Vec::with_capacity(params.len());
    for (pname, p) in &params {
        let shape = model.graph.param_shape(*p)?;
        let tname = format!("model.{pname}");
        let values = take(&mut used, &tname, shape.dims())?.ok_or_else(|| missing(&tname))?;
        model
            .graph
            .set_param(*p, &Tensor::from_vec(values, shape.dims())?)?;
        sizes.push(shape.numel());
    }

    // Batch norm's buffers.
    let mut buffer_values = Vec::new();
    for (bname, values) in model.network.buffers() {
        let tname = format!("model.{bname}");
        buffer_values
            .push(take(&mut used, &tname, &[values.len()])?.ok_or_else(|| missing(&tname))?);
    }
    let mut counts = Vec::new();
    for (bname, _) in model.network.int_buffers() {
        let tname = format!("model.{bname}");
        let t = st.get(tname.as_str()).ok_or_else(|| missing(&tname))?;
        let n = match (&t.values, t.shape.as_slice()) {
            (Values::I64(v), []) if v.len() == 1 => v[0],
            _ => -1,
        };
        let n = u64::try_from(n).map_err(|_| {
            fail(format!(
                "tensor '{tname}' is not one I64 count of 0 or more"
            ))
        })?;
        used.insert(tname);
        counts.push(n);
    }
    let mut buffer_values = buffer_values.into_iter();
    for (b, n) in model
        .network
        .batch_norm_buffers_mut()
        .iter_mut()
        .zip(counts)
    {
        b.running_mean = buffer_values.next().unwrap_or_default();
        b.running_var = buffer_values.next().unwrap_or_default();
        b.num_batches_tracked = n;
    }

    // The optimizer: one vector per parameter and buffer.
    let mut buffers = Vec::new();
    for (buffer, count) in &optim.buffers {
        let count = usize::try_from(*count)
            .ok()
            .filter(|&c| c <= sizes.len())
            .ok_or_else(|| {
                in_key("optimizer")(format!(
                    "buffer '{buffer}' does not cover 0 to {} parameters",
                    sizes.len()
                ))
            })?;
        let mut slots = Vec::with_capacity(count);
        for (i, &len) in sizes.iter().enumerate().take(count) {
            slots
                .push(take(&mut used, &format!("optim.{buffer}.{i}"), &[len])?.unwrap_or_default());
        }
        buffers.push((buffer.clone(), slots));
    }
    let mut names: Vec<&str> = st.keys().copied().collect();
    names.sort_unstable();
    if let Some(stray) = names.into_iter().find(|n| !used.contains(*n)) {
        return Err(fail(format!(
            "tensor '{stray}' belongs to no parameter or optimizer buffer"
        )));
    }
    let extra = meta
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("extra.")?.to_string(), v.clone())))
        .collect();
    Ok(Checkpoint {
        model,
        config,
        state: TrainState {
            epochs_done: progress.epochs_done,
            steps_done: progress.steps_done,
            history: history.into(),
            optimizer: OptimizerState {
                kind: optim.kind,
                steps: optim.steps,
                buffers,
            },
        },
        extra,
        data,
        path: name.to_string(),
    })
}

fn failure(name: &str, detail: String) -> Error {
    Error::Checkpoint {
        path: name.to_string(),
        detail,
    }
}

/// The metadata entry `key`.
fn entry<'m>(meta: &'m BTreeMap<String, String>, key: &str, name: &str) -> Result<&'m str> {
    meta.get(key).map(String::as_str).ok_or_else(|| {
        failure(
            name,
            format!("not a checkpoint: the metadata has no '{key}' entry"),
        )
    })
}

/// The metadata entry `key` read as JSON.
fn parse<T: DeserializeOwned>(meta: &BTreeMap<String, String>, key: &str, name: &str) -> Result<T> {
    serde_json::from_str(entry(meta, key, name)?)
        .map_err(|e| failure(name, format!("metadata '{key}': {e}")))
}

/// The values of tensor `tname` as `F`, checked to be F32 or F64 and of
/// shape `want`; `None` if the file has no such tensor.
fn read_tensor<F: Float>(
    st: &HashMap<&str, &StoredTensor>,
    tname: &str,
    want: &[usize],
    file: &str,
) -> Result<Option<Vec<F>>> {
    let fail = |detail: String| Error::Checkpoint {
        path: file.to_string(),
        detail: format!("tensor '{tname}': {detail}"),
    };
    let Some(t) = st.get(tname) else {
        return Ok(None);
    };
    if t.shape != want {
        return Err(fail(format!("shape {:?}, expected {want:?}", t.shape)));
    }
    let values = match &t.values {
        Values::F32(v) => v.iter().map(|&x| F::from_f64(f64::from(x))).collect(),
        Values::F64(v) => v.iter().map(|&x| F::from_f64(x)).collect(),
        Values::I64(_) => return Err(fail("dtype I64; only F32 and F64 are read".into())),
    };
    Ok(Some(values))
}
