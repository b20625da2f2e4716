//! Model files in the [safetensors] format, readable by PyTorch.
//!
//! A safetensors file is an 8-byte little-endian header length `n`, then `n`
//! bytes of JSON header, then the data section. The header maps each tensor
//! name to `{"dtype": .., "shape": [..], "data_offsets": [start, end]}`, where
//! the offsets are relative to the start of the data section, and may hold a
//! `"__metadata__"` object of string keys and string values.
//!
//! [`save`] writes every tensor as `F32` little-endian under the name given
//! (PyTorch `state_dict` names such as `0.weight`, `0.bias`, `2.weight`), in
//! the order given, with the header padded with spaces to a multiple of 8
//! bytes, exactly as the reference implementation does. A file written this
//! way loads in PyTorch with
//! `model.load_state_dict(safetensors.torch.load_file(path))`.
//!
//! [`load`] and [`load_bytes`] read `F32` and `F64` tensors and refuse every
//! other dtype. They treat the file as hostile: every length, offset and shape
//! is checked before anything is allocated from it, so that no input makes
//! them panic or allocate more than a small multiple of the file size. The
//! checks are, besides those of the `safetensors` crate, which is run on the
//! file as well:
//!
//! * the file is at most [`MAX_FILE_BYTES`] long;
//! * the header length fits in the file and is at most [`MAX_HEADER_BYTES`];
//! * the header is UTF-8 JSON, an object, with no tensor name twice and at
//!   most [`MAX_RANK`] dimensions per shape;
//! * each tensor's element count does not overflow and matches the length of
//!   its byte range, and the byte range lies inside the data section;
//! * the byte ranges neither overlap nor leave a hole, and cover the whole
//!   data section.
//!
//! [safetensors]: https://github.com/huggingface/safetensors

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::atomic::write_atomically;

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

/// Errors of reading or writing a model file. Every message starts with the
/// path of the file (or the name given to [`load_bytes`]).
#[derive(thiserror::Error, Debug)]
pub enum ModelFileError {
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
    /// A tensor has a dtype other than `F32` and `F64`.
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
    /// a tensor given to [`save`] cannot be written.
    #[error("{path}: tensor '{name}': {reason}")]
    InvalidTensor {
        /// The file.
        path: String,
        /// The tensor.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The model as a whole cannot be written (for example, it is too large).
    #[error("{path}: cannot write the model: {reason}")]
    CannotWrite {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// Writes `tensors` and `metadata` to `path` as a safetensors file, atomically
/// (see [`write_atomically`]): on any error the previous contents of `path`,
/// if any, are left untouched.
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
    let name = path.display().to_string();
    let bytes = to_bytes_with_ints(tensors, ints, metadata, &name)?;
    write_atomically(path, &bytes).map_err(|source| ModelFileError::Io { path: name, source })
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
    // (name, shape, element count, dtype, bytes per element)
    let entries: Vec<(&str, &[usize], usize, &str, usize)> = tensors
        .iter()
        .map(|t| (t.name.as_str(), &t.shape[..], t.data.len(), "F32", 4))
        .chain(
            ints.iter()
                .map(|t| (t.name.as_str(), &t.shape[..], t.data.len(), "I64", 8)),
        )
        .collect();
    let invalid = |name: &str, reason: String| ModelFileError::InvalidTensor {
        path: name_for_errors.to_string(),
        name: name.to_string(),
        reason,
    };
    let cannot_write = |reason: String| ModelFileError::CannotWrite {
        path: name_for_errors.to_string(),
        reason,
    };

    let mut names: Vec<&str> = entries.iter().map(|t| t.0).collect();
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
    for &(tname, shape, len, dtype, width) in &entries {
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
        let count = element_count(shape);
        if count != Some(len) {
            return Err(invalid(
                tname,
                format!("shape {:?} does not match the {} values given", shape, len),
            ));
        }
        let end = len
            .checked_mul(width)
            .and_then(|n| n.checked_add(offset))
            .ok_or_else(|| cannot_write("the tensors are too large".to_string()))?;
        if header.len() > 1 {
            header.push(',');
        }
        header.push_str(&json_string(tname));
        header.push_str(&format!(
            r#":{{"dtype":"{dtype}","shape":{},"data_offsets":[{offset},{end}]}}"#,
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
    for tensor in tensors {
        for value in &tensor.data {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
    }
    for tensor in ints {
        for value in &tensor.data {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
    }
    Ok(bytes)
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
    let bytes = read_bounded(path)?;
    load_bytes(&bytes, &path.display().to_string())
}

/// Reads the safetensors file at `path` with its `I64` tensors (PyTorch's
/// `num_batches_tracked`); see [`load_bytes_with_ints`].
pub fn load_with_ints(path: &Path) -> Result<FileContents, ModelFileError> {
    let bytes = read_bounded(path)?;
    load_bytes_with_ints(&bytes, &path.display().to_string())
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, ModelFileError> {
    let name = path.display().to_string();
    let io_error = |source: io::Error| ModelFileError::Io {
        path: name.clone(),
        source,
    };
    let too_large = |size: u64| ModelFileError::FileTooLarge {
        path: name.clone(),
        size,
        limit: MAX_FILE_BYTES,
    };

    let file = File::open(path).map_err(io_error)?;
    let size = file.metadata().map_err(io_error)?.len();
    if size > MAX_FILE_BYTES {
        return Err(too_large(size));
    }
    // `size` is at most MAX_FILE_BYTES; should it not fit in memory
    // addresses, the vector simply grows while reading.
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // The file may grow while being read: never read past the limit.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
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
    let c = read(bytes, name_for_errors, false)?;
    Ok((c.tensors, c.metadata))
}

/// [`load_bytes`], reading `I64` tensors too (into [`FileContents::ints`]).
pub fn load_bytes_with_ints(
    bytes: &[u8],
    name_for_errors: &str,
) -> Result<FileContents, ModelFileError> {
    read(bytes, name_for_errors, true)
}

fn read(bytes: &[u8], name_for_errors: &str, ints: bool) -> Result<FileContents, ModelFileError> {
    let not_safetensors = |reason: String| ModelFileError::NotSafetensors {
        path: name_for_errors.to_string(),
        reason,
    };
    let invalid = |name: &str, reason: String| ModelFileError::InvalidTensor {
        path: name_for_errors.to_string(),
        name: name.to_string(),
        reason,
    };

    // Lengths, before anything else.
    let file_size = bytes.len();
    let Some((prefix, rest)) = bytes.split_first_chunk::<PREFIX_BYTES>() else {
        return Err(not_safetensors(format!(
            "the file is {file_size} bytes, too short for the 8-byte header length"
        )));
    };
    let header_len = u64::from_le_bytes(*prefix);
    if header_len > rest.len() as u64 {
        return Err(not_safetensors(format!(
            "header length {header_len} exceeds the file size {file_size}"
        )));
    }
    if header_len > MAX_HEADER_BYTES {
        return Err(not_safetensors(format!(
            "header length {header_len} exceeds the limit of {MAX_HEADER_BYTES} bytes"
        )));
    }
    // Fits: at most rest.len().
    let (header_bytes, data) = rest.split_at(header_len as usize);

    // The header.
    let header_text = std::str::from_utf8(header_bytes)
        .map_err(|e| not_safetensors(format!("the header is not UTF-8: {e}")))?;
    let header: RawHeader = serde_json::from_str(header_text)
        .map_err(|e| not_safetensors(format!("invalid header: {e}")))?;
    let RawHeader { metadata, tensors } = header;

    let mut by_name: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    by_name.sort_unstable();
    if let Some(pair) = by_name.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(not_safetensors(format!(
            "tensor name '{}' appears twice in the header",
            pair[0]
        )));
    }

    // Each tensor on its own.
    let data_len = data.len() as u64;
    let mut checked = Vec::with_capacity(tensors.len());
    for tensor in &tensors {
        let element_bytes: usize = match tensor.dtype.as_str() {
            "F32" => 4,
            "F64" => 8,
            "I64" if ints => 8,
            _ => {
                return Err(ModelFileError::UnsupportedDtype {
                    path: name_for_errors.to_string(),
                    name: tensor.name.clone(),
                    dtype: tensor.dtype.clone(),
                })
            }
        };
        let n_bytes = element_count(&tensor.shape)
            .and_then(|count| count.checked_mul(element_bytes))
            .ok_or_else(|| {
                invalid(
                    &tensor.name,
                    format!(
                        "shape {:?} has more elements than can be addressed",
                        tensor.shape
                    ),
                )
            })?;
        let (start, end) = tensor.data_offsets;
        if start > end {
            return Err(invalid(
                &tensor.name,
                format!("data_offsets [{start}, {end}] end before they start"),
            ));
        }
        if end > data_len {
            return Err(invalid(
                &tensor.name,
                format!(
                    "data_offsets [{start}, {end}] lie outside the data section of \
                     {data_len} bytes"
                ),
            ));
        }
        if end - start != n_bytes as u64 {
            return Err(invalid(
                &tensor.name,
                format!(
                    "shape {:?} of dtype {} takes {n_bytes} bytes but data_offsets \
                     [{start}, {end}] hold {}",
                    tensor.shape,
                    tensor.dtype,
                    end - start
                ),
            ));
        }
        // Both fit in usize: end <= data.len().
        checked.push((start as usize, end as usize, element_bytes, tensor));
    }

    // Together: the byte ranges must tile the data section exactly.
    checked.sort_by_key(|&(start, end, _, _)| (start, end));
    let mut expected = 0usize;
    for &(start, end, _, tensor) in &checked {
        if start < expected {
            return Err(invalid(
                &tensor.name,
                format!(
                    "data_offsets [{start}, {end}] overlap the data of another tensor \
                     (which ends at {expected})"
                ),
            ));
        }
        if start > expected {
            return Err(not_safetensors(format!(
                "bytes {expected}..{start} of the data section belong to no tensor"
            )));
        }
        expected = end;
    }
    if expected != data.len() {
        return Err(not_safetensors(format!(
            "bytes {expected}..{} of the data section belong to no tensor",
            data.len()
        )));
    }

    // The reference checks, as a second line of defence.
    let st = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| not_safetensors(format!("refused by the safetensors library: {e}")))?;

    let mut out = Vec::with_capacity(checked.len());
    let mut int_tensors = Vec::new();
    for &(_, _, element_bytes, tensor) in &checked {
        let view = st
            .tensor(&tensor.name)
            .map_err(|e| not_safetensors(format!("refused by the safetensors library: {e}")))?;
        let raw = view.data();
        if tensor.dtype == "I64" {
            int_tensors.push(IntTensor {
                name: tensor.name.clone(),
                shape: tensor.shape.clone(),
                data: raw
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            });
            continue;
        }
        let values = if element_bytes == 4 {
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        } else {
            let mut values = Vec::with_capacity(raw.len() / 8);
            for (i, c) in raw.chunks_exact(8).enumerate() {
                let wide = f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
                let narrow = wide as f32;
                if wide.is_finite() && !narrow.is_finite() {
                    return Err(invalid(
                        &tensor.name,
                        format!("F64 value {wide:e} at index {i} is outside the range of f32"),
                    ));
                }
                values.push(narrow);
            }
            values
        };
        out.push(NamedTensor {
            name: tensor.name.clone(),
            shape: tensor.shape.clone(),
            data: values,
        });
    }
    Ok(FileContents {
        tensors: out,
        ints: int_tensors,
        metadata,
    })
}

/// Number of elements of `shape`, or `None` on overflow.
fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    // Serializing a string to JSON cannot fail; escape by hand just in case.
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// `shape` as a JSON array.
fn json_shape(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!("[{}]", dims.join(","))
}

/// The header as written, in order, duplicates kept (so they can be refused).
struct RawHeader {
    metadata: Option<BTreeMap<String, String>>,
    tensors: Vec<RawTensor>,
}

struct RawTensor {
    name: String,
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (u64, u64),
}

#[derive(Deserialize)]
struct RawTensorInfo {
    dtype: String,
    #[serde(deserialize_with = "deserialize_shape")]
    shape: Vec<usize>,
    data_offsets: (u64, u64),
}

impl<'de> Deserialize<'de> for RawHeader {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(HeaderVisitor)
    }
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = RawHeader;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object mapping tensor names to their dtype, shape and data_offsets")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawHeader, A::Error> {
        let mut metadata = None;
        let mut tensors = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            if name == METADATA_KEY {
                if metadata.is_some() {
                    return Err(de::Error::custom("__metadata__ appears twice"));
                }
                let MetadataMap(entries) = map.next_value()?;
                metadata = Some(entries);
            } else {
                let info: RawTensorInfo = map.next_value()?;
                tensors.push(RawTensor {
                    name,
                    dtype: info.dtype,
                    shape: info.shape,
                    data_offsets: info.data_offsets,
                });
            }
        }
        Ok(RawHeader { metadata, tensors })
    }
}

/// `__metadata__`: string keys to string values, no key twice.
struct MetadataMap(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for MetadataMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MetadataVisitor;
        impl<'de> Visitor<'de> for MetadataVisitor {
            type Value = MetadataMap;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of string values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MetadataMap, A::Error> {
                let mut entries = BTreeMap::new();
                while let Some((key, value)) = map.next_entry::<String, String>()? {
                    if let Some(old) = entries.insert(key, value) {
                        return Err(de::Error::custom(format!(
                            "a key of __metadata__ appears twice (one value is '{old}')"
                        )));
                    }
                }
                Ok(MetadataMap(entries))
            }
        }
        deserializer.deserialize_map(MetadataVisitor)
    }
}

/// A shape: at most [`MAX_RANK`] non-negative integers.
fn deserialize_shape<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<usize>, D::Error> {
    struct ShapeVisitor;
    impl<'de> Visitor<'de> for ShapeVisitor {
        type Value = Vec<usize>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "an array of at most {MAX_RANK} dimensions")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<usize>, A::Error> {
            let mut shape = Vec::new();
            while let Some(dim) = seq.next_element::<usize>()? {
                if shape.len() == MAX_RANK {
                    return Err(de::Error::custom(format!(
                        "shape has more than {MAX_RANK} dimensions"
                    )));
                }
                shape.push(dim);
            }
            Ok(shape)
        }
    }
    deserializer.deserialize_seq(ShapeVisitor)
}
