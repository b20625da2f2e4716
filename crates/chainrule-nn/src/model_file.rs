//! Model files in the [safetensors] format, readable by PyTorch.
//!
//! [`save`] writes every tensor as `F32` little-endian under the name given
//! (PyTorch `state_dict` names such as `0.weight`, `0.bias`, `2.weight`), in
//! the order given, with the header padded with spaces to a multiple of 8
//! bytes, exactly as the reference implementation does. A file written this
//! way loads in PyTorch with
//! `model.load_state_dict(safetensors.torch.load_file(path))`.
//!
//! [`load`] and [`load_bytes`] read `F32` and `F64` tensors and refuse every
//! other dtype ([`load_with_ints`] reads `I64` too, for batch norm's
//! `num_batches_tracked`). They treat the file as hostile: the bytes are
//! read and checked by [`tensor_file`], whose module
//! documentation lists the checks; this module adds that `F64` values fit
//! in `f32`.
//!
//! [safetensors]: https://github.com/huggingface/safetensors

use std::collections::BTreeMap;
use std::path::Path;

use crate::tensor_file::{self, Dtype, TensorRef, Values, ValuesRef};

pub use crate::tensor_file::{
    TensorFileError as ModelFileError, MAX_FILE_BYTES, MAX_HEADER_BYTES, MAX_RANK,
};

/// A tensor of a model file: its name, its shape (row-major) and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// Name, for example `0.weight` (PyTorch `state_dict` convention).
    pub name: String,
    /// Dimensions, outermost first; `[]` is a scalar.
    pub shape: Vec<usize>,
    /// The values in row-major order; `data.len()` is the product of `shape`.
    pub data: Vec<f32>,
}

/// An integer tensor (`I64`), as PyTorch stores batch norm's
/// `num_batches_tracked`.
#[derive(Debug, Clone, PartialEq)]
pub struct IntTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<i64>,
}

/// What [`load_with_ints`] returns: the float tensors, the `I64` tensors
/// and the metadata.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FileContents {
    pub tensors: Vec<NamedTensor>,
    pub ints: Vec<IntTensor>,
    pub metadata: Option<BTreeMap<String, String>>,
}

/// What [`load`] and [`load_bytes`] return: the tensors, and the header's
/// `__metadata__` entry if it has one.
pub type ModelContents = (Vec<NamedTensor>, Option<BTreeMap<String, String>>);

/// Writes `tensors` and `metadata` to `path` as a safetensors file, atomically
/// (see [`write_atomically`](crate::atomic::write_atomically)): on any error
/// the previous contents of `path`, if any, are left untouched.
///
/// Tensors are stored as `F32` under their names, in the order given.
/// `metadata` is stored as the header's `__metadata__` entry; when it is
/// empty, no `__metadata__` entry is written (as PyTorch's `save_file` does
/// without metadata), and [`load`] then returns `None` for it.
///
/// # Errors
///
/// [`ModelFileError::InvalidTensor`] if a tensor's values do not match its
/// shape, a name is used twice or is `__metadata__`;
/// [`ModelFileError::CannotWrite`] if the file would exceed the limits that
/// [`load`] accepts; [`ModelFileError::Io`] if writing fails.
pub fn save(
    path: &Path,
    tensors: &[NamedTensor],
    metadata: &BTreeMap<String, String>,
) -> Result<(), ModelFileError> {
    save_with_ints(path, tensors, &[], metadata)
}

/// [`save`], with `I64` tensors after the float ones.
pub fn save_with_ints(
    path: &Path,
    tensors: &[NamedTensor],
    ints: &[IntTensor],
    metadata: &BTreeMap<String, String>,
) -> Result<(), ModelFileError> {
    tensor_file::write(path, &refs(tensors, ints), metadata)
}

/// Encodes `tensors` and `metadata` as the bytes of a safetensors file, as
/// [`save`] writes them. `name_for_errors` starts every error message.
///
/// # Errors
///
/// As [`save`], except for I/O errors.
pub fn to_bytes(
    tensors: &[NamedTensor],
    metadata: &BTreeMap<String, String>,
    name_for_errors: &str,
) -> Result<Vec<u8>, ModelFileError> {
    to_bytes_with_ints(tensors, &[], metadata, name_for_errors)
}

/// [`to_bytes`], with `I64` tensors after the float ones.
pub fn to_bytes_with_ints(
    tensors: &[NamedTensor],
    ints: &[IntTensor],
    metadata: &BTreeMap<String, String>,
    name_for_errors: &str,
) -> Result<Vec<u8>, ModelFileError> {
    tensor_file::encode(&refs(tensors, ints), metadata, name_for_errors)
}

/// The float tensors as `F32`, then the integer ones as `I64`.
fn refs<'a>(tensors: &'a [NamedTensor], ints: &'a [IntTensor]) -> Vec<TensorRef<'a>> {
    let floats = tensors.iter().map(|t| TensorRef {
        name: &t.name,
        shape: &t.shape,
        values: ValuesRef::F32(&t.data),
    });
    let ints = ints.iter().map(|t| TensorRef {
        name: &t.name,
        shape: &t.shape,
        values: ValuesRef::I64(&t.data),
    });
    floats.chain(ints).collect()
}

/// Reads the safetensors file at `path`; see [`load_bytes`].
///
/// Files larger than [`MAX_FILE_BYTES`] are refused before being read.
///
/// # Errors
///
/// [`ModelFileError::Io`] if the file cannot be read,
/// [`ModelFileError::FileTooLarge`], or any error of [`load_bytes`].
pub fn load(path: &Path) -> Result<ModelContents, ModelFileError> {
    let bytes = tensor_file::read_bounded(path)?;
    load_bytes(&bytes, &path.display().to_string())
}

/// Reads the safetensors file at `path` with its `I64` tensors (PyTorch's
/// `num_batches_tracked`); see [`load_bytes_with_ints`].
pub fn load_with_ints(path: &Path) -> Result<FileContents, ModelFileError> {
    let bytes = tensor_file::read_bounded(path)?;
    load_bytes_with_ints(&bytes, &path.display().to_string())
}

/// Reads a safetensors file held in memory. `name_for_errors` (usually the
/// path) starts every error message.
///
/// Returns the tensors in the order of their data in the file (for files
/// written by [`save`], the order they were saved in; for files written by
/// PyTorch's `save_file`, sorted by name), and the `__metadata__` entry if
/// the header has one.
///
/// `F32` tensors are returned bit for bit. `F64` tensors are converted to
/// `f32`, rounding to nearest; infinities and NaNs stay so, and a finite
/// value beyond the range of `f32` is an error rather than an infinity.
///
/// # Errors
///
/// [`ModelFileError::NotSafetensors`] if the layout is wrong (lengths,
/// header, duplicate names, holes in the data),
/// [`ModelFileError::UnsupportedDtype`] for dtypes other than `F32` and
/// `F64`, [`ModelFileError::InvalidTensor`] for inconsistent shapes or
/// offsets, or `F64` values out of the `f32` range.
pub fn load_bytes(bytes: &[u8], name_for_errors: &str) -> Result<ModelContents, ModelFileError> {
    let c = read(bytes, name_for_errors, &[Dtype::F32, Dtype::F64])?;
    Ok((c.tensors, c.metadata))
}

/// [`load_bytes`], reading `I64` tensors too (into [`FileContents::ints`]).
pub fn load_bytes_with_ints(
    bytes: &[u8],
    name_for_errors: &str,
) -> Result<FileContents, ModelFileError> {
    read(
        bytes,
        name_for_errors,
        &[Dtype::F32, Dtype::F64, Dtype::I64],
    )
}

fn read(bytes: &[u8], name: &str, accept: &[Dtype]) -> Result<FileContents, ModelFileError> {
    let file = tensor_file::decode(bytes, name, accept)?;
    let mut out = FileContents {
        metadata: file.metadata,
        ..FileContents::default()
    };
    for t in file.tensors {
        let data = match t.values {
            Values::I64(data) => {
                out.ints.push(IntTensor {
                    name: t.name,
                    shape: t.shape,
                    data,
                });
                continue;
            }
            Values::F32(data) => data,
            Values::F64(wide) => narrow(&wide, &t.name, name)?,
        };
        out.tensors.push(NamedTensor {
            name: t.name,
            shape: t.shape,
            data,
        });
    }
    Ok(out)
}

/// `F64` values as `f32`, rounded to nearest; a finite value out of range
/// is an error.
fn narrow(wide: &[f64], tensor: &str, file: &str) -> Result<Vec<f32>, ModelFileError> {
    let mut values = Vec::with_capacity(wide.len());
    for (i, &w) in wide.iter().enumerate() {
        let narrow = w as f32;
        if w.is_finite() && !narrow.is_finite() {
            return Err(ModelFileError::InvalidTensor {
                path: file.to_string(),
                name: tensor.to_string(),
                reason: format!("F64 value {w:e} at index {i} is outside the range of f32"),
            });
        }
        values.push(narrow);
    }
    Ok(values)
}
