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
//! Reading treats the file as hostile: its size is bounded by
//! [`MAX_FILE_BYTES`] before it is read,
//! the safetensors layout is checked by the reference library, and every
//! tensor's name, dtype and size is checked against the architecture before
//! it is used.

mod json;

use crate::data::{read_file, Dataset};
use crate::error::{Error, Result};
use crate::model_file::MAX_FILE_BYTES;
use crate::model_io::{empty_model_from_metadata, model_metadata};
use crate::optim::OptimizerState;
use crate::trainer::{Model, TrainConfig, TrainState, Trainer};
use crate::LossKind;
use chainrule::{Float, Tensor};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde_json::{json, Value};
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
    data: Value,
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

/// One tensor to write: name, shape, little-endian bytes.
struct Raw {
    name: String,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

fn dtype<F: Float>() -> Dtype {
    if F::NAME == "f32" {
        Dtype::F32
    } else {
        Dtype::F64
    }
}

fn raw<F: Float>(name: String, shape: Vec<usize>, values: &[F]) -> Raw {
    let mut bytes = Vec::with_capacity(values.len() * 8);
    for v in values {
        if dtype::<F>() == Dtype::F32 {
            bytes.extend_from_slice(&(v.as_f64() as f32).to_le_bytes());
        } else {
            bytes.extend_from_slice(&v.as_f64().to_le_bytes());
        }
    }
    Raw { name, shape, bytes }
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
    let name = path.display().to_string();
    let fail = |detail: String| Error::Checkpoint {
        path: name.clone(),
        detail,
    };
    let state = trainer.state();
    let mut tensors = Vec::new();
    for (pname, p) in model.network.parameters() {
        let t = model.graph.param_value(p)?;
        tensors.push(raw(format!("model.{pname}"), t.dims().to_vec(), t.data()));
    }
    for (bname, values) in model.network.buffers() {
        tensors.push(raw(format!("model.{bname}"), vec![values.len()], values));
    }
    let mut int_tensors = Vec::new();
    for (bname, n) in model.network.int_buffers() {
        int_tensors.push(Raw {
            name: format!("model.{bname}"),
            shape: Vec::new(),
            bytes: (n as i64).to_le_bytes().to_vec(),
        });
    }
    let mut counts = serde_json::Map::new();
    for (buffer, slots) in &state.optimizer.buffers {
        counts.insert(buffer.clone(), json!(slots.len()));
        for (i, s) in slots.iter().enumerate().filter(|(_, s)| !s.is_empty()) {
            tensors.push(raw(format!("optim.{buffer}.{i}"), vec![s.len()], s));
        }
    }
    let mut meta: HashMap<String, String> = HashMap::new();
    for (k, v) in model_metadata(model) {
        meta.insert(format!("model.{k}"), v);
    }
    for (k, v) in extra {
        meta.insert(format!("extra.{k}"), v.clone());
    }
    let entries = [
        ("format", json!(FORMAT)),
        ("version", json!(VERSION)),
        ("dtype", json!(F::NAME)),
        ("config", json::config_to_json(trainer.config())),
        (
            "progress",
            json!({"epochs_done": state.epochs_done, "steps_done": state.steps_done}),
        ),
        ("history", json::history_to_json(&state.history)),
        (
            "optimizer",
            json!({"kind": state.optimizer.kind, "steps": state.optimizer.steps, "buffers": counts}),
        ),
        ("data", json::fingerprint(train, test)),
    ];
    for (k, v) in entries {
        let text = match v {
            Value::String(s) => s,
            other => other.to_string(),
        };
        meta.insert(k.to_string(), text);
    }
    let views = tensors
        .iter()
        .map(|t| (dtype::<F>(), t))
        .chain(int_tensors.iter().map(|t| (Dtype::I64, t)))
        .map(|(dt, t)| {
            TensorView::new(dt, t.shape.clone(), &t.bytes)
                .map(|v| (t.name.clone(), v))
                .map_err(|e| fail(format!("tensor '{}': {e}", t.name)))
        })
        .collect::<Result<Vec<_>>>()?;
    let bytes = safetensors::serialize(views, Some(meta))
        .map_err(|e| fail(format!("cannot encode the checkpoint: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(fail(format!(
            "the checkpoint would be {} bytes, more than the limit of {MAX_FILE_BYTES}",
            bytes.len()
        )));
    }
    crate::atomic::write_atomically(path, &bytes).map_err(|e| fail(format!("cannot write: {e}")))
}

/// Reads the checkpoint at `path`.
pub fn load<F: Float>(path: &Path) -> Result<Checkpoint<F>> {
    let bytes = read_file(path, MAX_FILE_BYTES)?;
    load_bytes(&bytes, &path.display().to_string())
}

/// Reads a checkpoint held in memory; `name` (usually the path) starts every
/// error message.
pub fn load_bytes<F: Float>(bytes: &[u8], name: &str) -> Result<Checkpoint<F>> {
    let fail = |detail: String| Error::Checkpoint {
        path: name.to_string(),
        detail,
    };
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| fail(format!("not a safetensors file: {e}")))?;
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| fail(format!("not a safetensors file: {e}")))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let get = |key: &str| {
        meta.get(key).map(String::as_str).ok_or_else(|| {
            fail(format!(
                "not a checkpoint: the metadata has no '{key}' entry"
            ))
        })
    };
    let parse = |key: &str| -> Result<Value> {
        serde_json::from_str(get(key)?).map_err(|e| fail(format!("metadata '{key}': {e}")))
    };
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
    let config = json::config_from_json(&parse("config")?).map_err(in_key("config"))?;
    let history = json::history_from_json(&parse("history")?).map_err(in_key("history"))?;
    let progress = parse("progress")?;
    let progress = progress
        .as_object()
        .ok_or_else(|| in_key("progress")("not an object".into()))?;
    let epochs_done =
        json::usize_of(progress, "epochs_done", "progress").map_err(in_key("progress"))?;
    let steps_done =
        json::usize_of(progress, "steps_done", "progress").map_err(in_key("progress"))?;

    // The model: its metadata, then its tensors.
    let model_meta: BTreeMap<String, String> = meta
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("model.")?.to_string(), v.clone())))
        .collect();
    let loss = LossKind::parse(model_meta.get("loss").map_or("", String::as_str))
        .map_err(|e| fail(e.to_string()))?;
    let held = st
        .tensors()
        .iter()
        .map(|(_, v)| v.shape().iter().product::<usize>())
        .sum();
    let mut model = empty_model_from_metadata::<F>(&model_meta, loss, held, Path::new(name))
        .map_err(|e| match e {
            Error::ModelMismatch { detail, .. } => fail(detail),
            other => other,
        })?;
    let mut used: HashSet<String> = HashSet::new();
    let params = model.network.parameters();
    let mut sizes = Vec::with_capacity(params.len());
    for (pname, p) in &params {
        let shape = model.graph.param_shape(*p)?;
        let tname = format!("model.{pname}");
        let values = read_tensor::<F>(&st, &tname, shape.dims(), name)?
            .ok_or_else(|| fail(format!("tensor '{tname}' is missing")))?;
        used.insert(tname);
        model
            .graph
            .set_param(*p, &Tensor::from_vec(values, shape.dims())?)?;
        sizes.push(shape.numel());
    }

    // Batch norm's buffers.
    let buffer_lens: Vec<(String, usize)> = model
        .network
        .buffers()
        .into_iter()
        .map(|(n, v)| (n, v.len()))
        .collect();
    let mut buffer_values = Vec::new();
    for (bname, len) in &buffer_lens {
        let tname = format!("model.{bname}");
        let values = read_tensor::<F>(&st, &tname, &[*len], name)?
            .ok_or_else(|| fail(format!("tensor '{tname}' is missing")))?;
        used.insert(tname);
        buffer_values.push(values);
    }
    let mut counts = Vec::new();
    for (bname, _) in model.network.int_buffers() {
        let tname = format!("model.{bname}");
        let view = st
            .tensor(&tname)
            .map_err(|_| fail(format!("tensor '{tname}' is missing")))?;
        let n = match (view.dtype(), view.shape(), view.data()) {
            (Dtype::I64, [], d) if d.len() == 8 => {
                i64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
            }
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
    let optim = parse("optimizer")?;
    let o = optim
        .as_object()
        .ok_or_else(|| in_key("optimizer")("not an object".into()))?;
    let kind = o
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let steps = o
        .get("steps")
        .and_then(Value::as_u64)
        .ok_or_else(|| in_key("optimizer")("no step count".into()))?;
    let counts = o
        .get("buffers")
        .and_then(Value::as_object)
        .ok_or_else(|| in_key("optimizer")("no buffers".into()))?;
    let mut buffers = Vec::new();
    for (buffer, count) in counts {
        let count = count
            .as_u64()
            .and_then(|c| usize::try_from(c).ok())
            .filter(|&c| c <= sizes.len());
        let count = count.ok_or_else(|| {
            in_key("optimizer")(format!(
                "buffer '{buffer}' does not cover 0 to {} parameters",
                sizes.len()
            ))
        })?;
        let mut slots = Vec::with_capacity(count);
        for (i, &len) in sizes.iter().enumerate().take(count) {
            let tname = format!("optim.{buffer}.{i}");
            let values = read_tensor::<F>(&st, &tname, &[len], name)?;
            if values.is_some() {
                used.insert(tname);
            }
            slots.push(values.unwrap_or_default());
        }
        buffers.push((buffer.clone(), slots));
    }
    let mut names = st.names();
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
            epochs_done,
            steps_done,
            history,
            optimizer: OptimizerState {
                kind,
                steps,
                buffers,
            },
        },
        extra,
        data: parse("data")?,
        path: name.to_string(),
    })
}

/// The values of tensor `tname` as `F`, checked to be F32 or F64 and of
/// shape `want`; `None` if the file has no such tensor.
fn read_tensor<F: Float>(
    st: &SafeTensors<'_>,
    tname: &str,
    want: &[usize],
    file: &str,
) -> Result<Option<Vec<F>>> {
    let fail = |detail: String| Error::Checkpoint {
        path: file.to_string(),
        detail: format!("tensor '{tname}': {detail}"),
    };
    let Ok(view) = st.tensor(tname) else {
        return Ok(None);
    };
    if view.shape() != want {
        return Err(fail(format!("shape {:?}, expected {want:?}", view.shape())));
    }
    let data = view.data();
    let values = match view.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| F::from_f64(f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| {
                let b: [u8; 8] = [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]];
                F::from_f64(f64::from_le_bytes(b))
            })
            .collect(),
        other => return Err(fail(format!("dtype {other:?}; only F32 and F64 are read"))),
    };
    Ok(Some(values))
}
