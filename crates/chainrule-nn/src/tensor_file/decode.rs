//! Reading: the bounded read of a file and the checks of its bytes.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::header::RawHeader;
use super::{
    element_count, Dtype, StoredTensor, TensorFile, TensorFileError, Values, MAX_FILE_BYTES,
    MAX_HEADER_BYTES, PREFIX_BYTES,
};

/// The bytes of the file at `path`; files larger than [`MAX_FILE_BYTES`]
/// are refused before being read, and never read past the limit.
///
/// # Errors
///
/// [`TensorFileError::Io`] if the file cannot be read,
/// [`TensorFileError::FileTooLarge`].
pub fn read_bounded(path: &Path) -> Result<Vec<u8>, TensorFileError> {
    let name = path.display().to_string();
    let io_error = |source: io::Error| TensorFileError::Io {
        path: name.clone(),
        source,
    };
    let too_large = |size: u64| TensorFileError::FileTooLarge {
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

/// The reference `safetensors` library's verdict on `bytes`, in its own
/// words (checkpoints report layout errors so).
///
/// # Errors
///
/// The library's refusal, as text.
pub fn library_verdict(bytes: &[u8]) -> Result<(), String> {
    safetensors::SafeTensors::deserialize(bytes)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Decodes a safetensors file held in memory, checking it as the module
/// documentation lists; `name_for_errors` (usually the path) starts every
/// error message. Tensors of a dtype outside `accept` are refused.
///
/// # Errors
///
/// [`TensorFileError::NotSafetensors`] if the layout is wrong (lengths,
/// header, duplicate names, holes in the data),
/// [`TensorFileError::UnsupportedDtype`] for dtypes outside `accept`,
/// [`TensorFileError::InvalidTensor`] for inconsistent shapes or offsets.
pub fn decode(
    bytes: &[u8],
    name_for_errors: &str,
    accept: &[Dtype],
) -> Result<TensorFile, TensorFileError> {
    let not_safetensors = |reason: String| TensorFileError::NotSafetensors {
        path: name_for_errors.to_string(),
        reason,
    };
    let invalid = |name: &str, reason: String| TensorFileError::InvalidTensor {
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
        let dtype = Dtype::parse(&tensor.dtype)
            .filter(|d| accept.contains(d))
            .ok_or_else(|| TensorFileError::UnsupportedDtype {
                path: name_for_errors.to_string(),
                name: tensor.name.clone(),
                dtype: tensor.dtype.clone(),
            })?;
        let n_bytes = element_count(&tensor.shape)
            .and_then(|count| count.checked_mul(dtype.width()))
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
        checked.push((start as usize, end as usize, dtype, tensor));
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
    library_verdict(bytes)
        .map_err(|e| not_safetensors(format!("refused by the safetensors library: {e}")))?;

    let tensors = checked
        .into_iter()
        .map(|(start, end, dtype, tensor)| {
            let raw = &data[start..end];
            let values = match dtype {
                Dtype::F32 => Values::F32(
                    raw.chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                ),
                Dtype::F64 => Values::F64(
                    raw.chunks_exact(8)
                        .map(|c| f64::from_le_bytes(eight(c)))
                        .collect(),
                ),
                Dtype::I64 => Values::I64(
                    raw.chunks_exact(8)
                        .map(|c| i64::from_le_bytes(eight(c)))
                        .collect(),
                ),
            };
            StoredTensor {
                name: tensor.name.clone(),
                shape: tensor.shape.clone(),
                values,
            }
        })
        .collect();
    Ok(TensorFile { tensors, metadata })
}

fn eight(c: &[u8]) -> [u8; 8] {
    [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]
}
