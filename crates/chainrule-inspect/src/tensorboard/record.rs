//! The record framing of TensorBoard event files (TFRecord, as written by
//! TensorFlow's `RecordWriter` and read by TensorBoard's
//! `event_file_loader`):
//!
//! ```text
//! u64 length (little-endian)
//! u32 masked CRC-32C of those 8 length bytes (little-endian)
//! length bytes of data (one serialized Event)
//! u32 masked CRC-32C of the data (little-endian)
//! ```
//!
//! where `masked(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8` (wrapping
//! 32-bit arithmetic) and CRC-32C is the Castagnoli CRC computed by the
//! `crc32c` crate.

use std::fmt;
use std::io::{self, Write};

/// The constant added by the mask.
pub const MASK_DELTA: u32 = 0xa282_ead8;

/// The masked CRC-32C of `bytes`.
pub fn masked_crc32c(bytes: &[u8]) -> u32 {
    mask(crc32c::crc32c(bytes))
}

/// The mask of a CRC: rotated right by 15 bits, plus [`MASK_DELTA`].
pub fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// `data` framed as one record.
pub fn frame(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
    out
}

/// Writes `data` as one record.
pub fn write_record(w: &mut impl Write, data: &[u8]) -> io::Result<()> {
    w.write_all(&frame(data))
}

/// A record that does not read back.
#[derive(Clone, Debug, PartialEq)]
pub enum RecordError {
    /// The file ends inside the record starting at byte `at`.
    Truncated { at: usize },
    /// The masked CRC of the record's length (or data) at byte `at` is not
    /// the one stored.
    BadCrc { at: usize, what: &'static str },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Truncated { at } => write!(f, "the record at byte {at} is cut short"),
            RecordError::BadCrc { at, what } => {
                write!(f, "the record at byte {at} has a wrong CRC of its {what}")
            }
        }
    }
}

impl std::error::Error for RecordError {}

/// The data of every record of `bytes`, both CRCs of each checked.
pub fn read_records(bytes: &[u8]) -> Result<Vec<&[u8]>, RecordError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let cut = RecordError::Truncated { at };
        let header = bytes.get(at..at + 12).ok_or(cut.clone())?;
        let (len_bytes, len_crc) = header.split_at(8);
        if masked_crc32c(len_bytes) != u32::from_le_bytes(len_crc.try_into().unwrap()) {
            return Err(RecordError::BadCrc { at, what: "length" });
        }
        let len = usize::try_from(u64::from_le_bytes(len_bytes.try_into().unwrap()))
            .map_err(|_| cut.clone())?;
        let start = at + 12;
        let end = start.checked_add(len).ok_or(cut.clone())?;
        let data = bytes.get(start..end).ok_or(cut.clone())?;
        let crc = bytes.get(end..end + 4).ok_or(cut)?;
        if masked_crc32c(data) != u32::from_le_bytes(crc.try_into().unwrap()) {
            return Err(RecordError::BadCrc { at, what: "data" });
        }
        out.push(data);
        at = end + 4;
    }
    Ok(out)
}
