//! ONNX export: a trained [`Model`] as a standard ONNX file (IR version 8,
//! operator set 17), which ONNX Runtime and other ONNX tools run.
//!
//! The graph computes what [`Model::predict`] computes, for a whole batch: its input `input` is `[batch, …]` raw
//! examples (`[batch, features]`, or `[batch, C, H, W]` for a network with
//! a 2-D layer), `batch` a symbolic dimension; the standardization the model
//! file records is its first two nodes (`Sub input_mean`, `Div input_std`);
//! its output `output` is `[batch, outputs]`, the network's raw outputs
//! (logits for a classifier: before the softmax or sigmoid that
//! `chainrule predict` applies for its probabilities).
//!
//! | layer | ONNX |
//! |---|---|
//! | `linear` | `Gemm` (`transB=1`, bias input absent without bias) |
//! | `conv2d` | `Conv` (`kernel_shape`, `strides`, `pads`, `dilations`, `group`) |
//! | `maxpool2d`, `avgpool2d` | `MaxPool`, `AveragePool` (`count_include_pad=1`) |
//! | `globalavgpool2d` | `GlobalAveragePool`, then `Flatten` |
//! | `flatten` | `Flatten` (`axis=1`) |
//! | `batchnorm1d`, `batchnorm2d` | `BatchNormalization` with the running statistics (evaluation mode) |
//! | `layernorm(axes=k)` | `LayerNormalization` (`axis=-k`) |
//! | `dropout` | `Identity` (evaluation mode) |
//! | activations | `Relu`, `Sigmoid`, `Tanh`, `LeakyRelu` (`alpha`), `Identity` |
//! | `residual(…)` | the body's nodes, then `Add` |
//!
//! Initializers are named as the model file's tensors (`0.weight`,
//! `3.running_mean`, `2.body.0.bias`) and hold the same f32 values; a norm
//! layer without γ and β (`affine=false`) gets ones and zeros under
//! `{path}.scale_ones` and `{path}.bias_zeros`, as ONNX's operators require a
//! scale. The standardization's f64 means and deviations are rounded to f32.
//!
//! - [`to_model_proto`] builds the message, [`to_bytes`] encodes it
//!   ([`from_bytes`] decodes one), and [`save`] (or [`write()`], for a
//!   message built already) writes it atomically.
//! - [`proto`] holds the protobuf messages (`prost` derives of the ONNX
//!   schema's messages).

mod export;
pub mod proto;

pub use export::{to_model_proto, BATCH, INPUT, INPUT_MEAN, INPUT_STD, OUTPUT};

use crate::error::{Error, Result};
use crate::trainer::Model;
use chainrule::Float;
use prost::Message;
use proto::ModelProto;
use std::path::Path;

/// The encoded ONNX file of `model` (see [`to_model_proto`]).
pub fn to_bytes<F: Float>(model: &Model<F>) -> Result<Vec<u8>> {
    Ok(to_model_proto(model)?.encode_to_vec())
}

/// Decodes an ONNX file's bytes into the messages of [`proto`] (fields
/// they do not hold are skipped): to read back what [`save`] wrote.
pub fn from_bytes(bytes: &[u8]) -> Result<ModelProto> {
    ModelProto::decode(bytes).map_err(|e| Error::config("onnx", format!("not an ONNX model: {e}")))
}

/// Writes the ONNX file of `model` to `path` atomically (see
/// [`write_atomically`](crate::atomic::write_atomically)): on any error
/// nothing is left at `path` but what was there before.
pub fn save<F: Float>(path: &Path, model: &Model<F>) -> Result<()> {
    write(path, &to_model_proto(model)?)
}

/// Writes an encoded `proto` to `path` atomically, as [`save`] does.
pub fn write(path: &Path, proto: &ModelProto) -> Result<()> {
    crate::atomic::write_atomically(path, &proto.encode_to_vec())
        .map_err(|e| Error::config("out", format!("{}: {e}", path.display())))
}
