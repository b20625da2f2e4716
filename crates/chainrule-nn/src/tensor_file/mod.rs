//! The one place that reads and writes safetensors bytes: named tensors of
//! dtype `F32`, `F64` or `I64` with their shapes, and string metadata.
//! [`model_file`](crate::model_file) and [`checkpoint`](crate::checkpoint)
//! only say what goes into their files and check what comes out.
//!
//! A safetensors file is an 8-byte little-endian header length `n`, then `n`
//! bytes of JSON header, then the data section. The header maps each tensor
//! name to `{"dtype": .., "shape": [..], "data_offsets": [start, end]}`, where
//! the offsets are relative to the start of the data section, and may hold a
//! `"__metadata__"` object of string keys and string values.
//!
//! [`encode`] writes the tensors in the order given, little-endian, the
//! metadata first (keys sorted), the header padded with spaces to a multiple
//! of 8 bytes, exactly as the reference implementation lays a file out;
//! [`write()`] does so atomically through [`write_atomically`].
//!
//! [`decode`] treats the bytes as hostile: every length, offset and shape is
//! checked before anything is allocated from it, so that no input makes it
//! panic or allocate more than a small multiple of the file size. The checks
//! are, besides those of the `safetensors` crate, which is run on the file
//! as well:
//!
//! * the file is at most [`MAX_FILE_BYTES`] long ([`read_bounded`]);
//! * the header length fits in the file and is at most [`MAX_HEADER_BYTES`];
//! * the header is UTF-8 JSON, an object, with no tensor name twice and at
//!   most [`MAX_RANK`] dimensions per shape;
//! * every dtype is one the caller accepts;
//! * each tensor's element count does not overflow and matches the length of
//!   its byte range, and the byte range lies inside the data section;
//! * the byte ranges neither overlap nor leave a hole, and cover the whole
//!   data section.

mod decode;
mod header;

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use crate::atomic::write_atomically;
pub use decode::{decode, library_verdict, read_bounded};
use header::{json_shape, json_string};

/// Files larger than this (4 GiB) are refused without being read.
pub const MAX_FILE_BYTES: u64 = 4 << 30;

/// Headers longer than this (100 MB, the limit of the reference
/// implementation) are refused.
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Shapes with more dimensions than this are refused.
pub const MAX_RANK: usize = 64;

/// Length of the header-length prefix.
const PREFIX_BYTES: usize = 8;

/// Name of the header entry that holds the metadata.
const METADATA_KEY: &str = "__metadata__";

/// The dtypes this module reads and writes, ordered as the `safetensors`
/// crate orders them (`F32 < F64 < I64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dtype {
    F32,
    F64,
    I64,
}

impl Dtype {
    /// The name in the header (`F32`, `F64`, `I64`).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "F32",
            Dtype::F64 => "F64",
            Dtype::I64 => "I64",
        }
    }

    /// Bytes per element.
    pub fn width(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
        }
    }

    fn parse(name: &str) -> Option<Dtype> {
        [Dtype::F32, Dtype::F64, Dtype::I64]
            .into_iter()
            .find(|d| d.name() == name)
    }
}

/// Values to write, borrowed.
#[derive(Debug, Clone, Copy)]
pub enum ValuesRef<'a> {
    F32(&'a [f32]),
    F64(&'a [f64]),
    I64(&'a [i64]),
}

impl ValuesRef<'_> {
    /// Their dtype.
    pub fn dtype(&self) -> Dtype {
        match self {
            ValuesRef::F32(_) => Dtype::F32,
            ValuesRef::F64(_) => Dtype::F64,
            ValuesRef::I64(_) => Dtype::I64,
        }
    }

    /// Their number.
    pub fn len(&self) -> usize {
        match self {
            ValuesRef::F32(v) => v.len(),
            ValuesRef::F64(v) => v.len(),
            ValuesRef::I64(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A tensor to write: name, shape (outermost first, `[]` for a scalar) and
/// values in row-major order.
#[derive(Debug, Clone, Copy)]
pub struct TensorRef<'a> {
    pub name: &'a str,
    pub shape: &'a [usize],
    pub values: ValuesRef<'a>,
}

/// Values read, in their dtype, bit for bit.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
}

impl Values {
    /// Their dtype.
    pub fn dtype(&self) -> Dtype {
        match self {
            Values::F32(_) => Dtype::F32,
            Values::F64(_) => Dtype::F64,
            Values::I64(_) => Dtype::I64,
        }
    }
}

/// A tensor read: name, shape and values (as many as the shape says).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Values,
}

/// What [`decode`] returns: the tensors in the order of their data in the
/// file, and the header's `__metadata__` entry if it has one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TensorFile {
    pub tensors: Vec<StoredTensor>,
    pub metadata: Option<BTreeMap<String, String>>,
}

impl StoredTensor {
    /// The tensor, borrowed for writing.
    pub fn as_ref(&self) -> TensorRef<'_> {
        let values = match &self.values {
            Values::F32(v) => ValuesRef::F32(v),
            Values::F64(v) => ValuesRef::F64(v),
            Values::I64(v) => ValuesRef::I64(v),
        };
        TensorRef {
            name: &self.name,
            shape: &self.shape,
            values,
        }
    }
}

impl TensorFile {
    /// The tensor named `name`, if any.
    pub fn get(&self, name: &str) -> Option<&StoredTensor> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

/// Errors of reading or writing a safetensors file. Every message starts
/// with the path of the file (or the name given to [`decode`]).
#[derive(thiserror::Error, Debug)]
pub enum TensorFileError {
    /// The file could not be opened, read or written.
    #[error("{path}: I/O error: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("{path}: file is {size} bytes, more than the limit of {limit} bytes")]
    FileTooLarge {
        /// The file.
        path: String,
        /// Its size in bytes.
        size: u64,
        /// The limit, [`MAX_FILE_BYTES`].
        limit: u64,
    },
    /// The file is not laid out as a safetensors file.
    #[error("{path}: not a safetensors file ({reason})")]
    NotSafetensors {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A tensor has a dtype the reader was not asked to accept. (The message
    /// names F32 and F64, the float dtypes; I64 is accepted only where an
    /// integer tensor is expected.)
    #[error("{path}: tensor '{name}' has dtype {dtype}; only F32 and F64 are read")]
    UnsupportedDtype {
        /// The file.
        path: String,
        /// The tensor.
        name: String,
        /// Its dtype as written in the header.
        dtype: String,
    },
    /// A tensor's description or values are inconsistent (when reading), or
    /// a tensor given to [`encode`] cannot be written.
    #[error("{path}: tensor '{name}': {reason}")]
    InvalidTensor {
        /// The file.
        path: String,
        /// The tensor.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The file as a whole cannot be written (for example, it is too large).
    #[error("{path}: cannot be written: {reason}")]
    CannotWrite {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// Writes `tensors` and `metadata` to `path` (see [`encode`]), atomically
/// (see [`write_atomically`]): on any error the previous contents of `path`,
/// if any, are left untouched.
///
/// # Errors
///
/// Those of [`encode`], and [`TensorFileError::Io`] if writing fails.
pub fn write(
    path: &Path,
    tensors: &[TensorRef<'_>],
    metadata: &BTreeMap<String, String>,
) -> Result<(), TensorFileError> {
    let name = path.display().to_string();
    let bytes = encode(tensors, metadata, &name)?;
    write_atomically(path, &bytes).map_err(|source| TensorFileError::Io { path: name, source })
}

/// Encodes `tensors` (in the order given) and `metadata` as the bytes of a
/// safetensors file. An empty `metadata` writes no `__metadata__` entry (as
/// PyTorch's `save_file` does without metadata). `name_for_errors` starts
/// every error message.
///
/// # Errors
///
/// [`TensorFileError::InvalidTensor`] if a tensor's values do not match its
/// shape, its shape has more than [`MAX_RANK`] dimensions, or a name is used
/// twice or is `__metadata__`; [`TensorFileError::CannotWrite`] if the file
/// would exceed the limits that [`decode`] accepts.
pub fn encode(
    tensors: &[TensorRef<'_>],
    metadata: &BTreeMap<String, String>,
    name_for_errors: &str,
) -> Result<Vec<u8>, TensorFileError> {
    let invalid = |name: &str, reason: String| TensorFileError::InvalidTensor {
        path: name_for_errors.to_string(),
        name: name.to_string(),
        reason,
    };
    let cannot_write = |reason: String| TensorFileError::CannotWrite {
        path: name_for_errors.to_string(),
        reason,
    };

    let mut names: Vec<&str> = tensors.iter().map(|t| t.name).collect();
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(invalid(pair[0], "the name is used twice".to_string()));
    }

    let mut header = String::from("{");
    if !metadata.is_empty() {
        header.push_str(&json_string(METADATA_KEY));
        header.push(':');
        let encoded = serde_json::to_string(metadata)
            .map_err(|e| cannot_write(format!("cannot encode the metadata: {e}")))?;
        header.push_str(&encoded);
    }
    let mut offset: usize = 0;
    for t in tensors {
        let (tname, shape, len) = (t.name, t.shape, t.values.len());
        if tname == METADATA_KEY {
            return Err(invalid(
                tname,
                "the name is reserved for the metadata".to_string(),
            ));
        }
        if shape.len() > MAX_RANK {
            return Err(invalid(
                tname,
                format!(
                    "{} dimensions, more than the limit of {MAX_RANK}",
                    shape.len()
                ),
            ));
        }
        if element_count(shape) != Some(len) {
            return Err(invalid(
                tname,
                format!("shape {:?} does not match the {} values given", shape, len),
            ));
        }
        let end = len
            .checked_mul(t.values.dtype().width())
            .and_then(|n| n.checked_add(offset))
            .ok_or_else(|| cannot_write("the tensors are too large".to_string()))?;
        if header.len() > 1 {
            header.push(',');
        }
        header.push_str(&json_string(tname));
        header.push_str(&format!(
            r#":{{"dtype":"{}","shape":{},"data_offsets":[{offset},{end}]}}"#,
            t.values.dtype().name(),
            json_shape(shape)
        ));
        offset = end;
    }
    header.push('}');
    // Pad with spaces to a multiple of 8 bytes, as the reference
    // implementation does, so that the data section is 8-byte aligned.
    while header.len() % PREFIX_BYTES != 0 {
        header.push(' ');
    }

    if header.len() as u64 > MAX_HEADER_BYTES {
        return Err(cannot_write(format!(
            "the header would be {} bytes, more than the limit of {MAX_HEADER_BYTES} bytes",
            header.len()
        )));
    }
    let total = (PREFIX_BYTES + header.len()) as u64 + offset as u64;
    if total > MAX_FILE_BYTES {
        return Err(cannot_write(format!(
            "the file would be {total} bytes, more than the limit of {MAX_FILE_BYTES} bytes"
        )));
    }

    let mut bytes = Vec::with_capacity(PREFIX_BYTES + header.len() + offset);
    bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for t in tensors {
        match t.values {
            ValuesRef::F32(v) => v.iter().for_each(|x| bytes.extend(x.to_le_bytes())),
            ValuesRef::F64(v) => v.iter().for_each(|x| bytes.extend(x.to_le_bytes())),
            ValuesRef::I64(v) => v.iter().for_each(|x| bytes.extend(x.to_le_bytes())),
        }
    }
    Ok(bytes)
}

/// Reads the file at `path` and decodes it; see [`decode`].
///
/// # Errors
///
/// Those of [`read_bounded`] and [`decode`].
pub fn read(path: &Path, accept: &[Dtype]) -> Result<TensorFile, TensorFileError> {
    let bytes = read_bounded(path)?;
    decode(&bytes, &path.display().to_string(), accept)
}

/// Number of elements of `shape`, or `None` on overflow.
pub(super) fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}
