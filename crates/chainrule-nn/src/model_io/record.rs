//! What a model file records about the data it was trained on: the data
//! set, the train/test split, the standardization, the class names, and a
//! fingerprint of the rows, so that `eval` scores the test rows training
//! held out, and says so when asked for another split or when the data has
//! changed since.

use crate::data::{Dataset, Targets};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

/// The metadata key under which a model file holds its [`DataRecord`], as
/// JSON.
pub const DATA_KEY: &str = "data";

/// The data a model was trained on and how it was split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataRecord {
    /// The `--data` specification as given: `iris`, `csv:PATH` (relative
    /// paths are read from the current folder), `mnist:DIR`.
    pub spec: String,
    /// The seed of the train/test split.
    pub seed: u64,
    /// The fraction of rows held out for testing (unused by sources with a
    /// test set of their own, MNIST).
    pub test_fraction: f64,
    /// Whether the inputs were standardized (the statistics are in the
    /// metadata's `input_mean` and `input_std`).
    pub standardized: bool,
    /// The rows loaded (before the split; the source's own test set
    /// included).
    pub rows: usize,
    /// [`fingerprint`] of the rows loaded.
    pub fingerprint: String,
    /// The class names, index = class; empty where the data has none.
    #[serde(default)]
    pub class_names: Vec<String>,
    /// The `--delimiter` given for a CSV file (`None`: detected).
    #[serde(default)]
    pub delimiter: Option<String>,
}

impl DataRecord {
    /// The record as the metadata value stored under [`DATA_KEY`].
    pub fn to_json(&self) -> String {
        // Plain strings and numbers: serialization cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads the metadata value stored under [`DATA_KEY`].
    pub fn from_json(text: &str) -> Result<DataRecord, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// The name of class `k`, where the data has one that says more than
    /// the number itself (`virginica`, not `3` for the digit 3).
    pub fn class_name(&self, k: usize) -> Option<&str> {
        self.class_names
            .get(k)
            .map(String::as_str)
            .filter(|name| *name != k.to_string())
    }
}

/// A fingerprint of a data set as loaded, before any split or
/// standardization: `xxh3-128:` and 32 hexadecimal digits, the XXH3 128-bit
/// hash of, for the training part and then the source's own test part if
/// any, the row and feature counts (u64), every feature value (f64 bits),
/// and the targets (the class count and each label as u64, or each real
/// target's f64 bits), all little-endian. Names (of the set, its file and
/// its classes) are not part of it: the same rows give the same
/// fingerprint on every machine, and any change to a value, a label or the
/// order of the rows gives another.
pub fn fingerprint(train: &Dataset, test: Option<&Dataset>) -> String {
    let mut h = Xxh3::new();
    for part in std::iter::once(train).chain(test) {
        h.update(&(part.n as u64).to_le_bytes());
        h.update(&(part.d as u64).to_le_bytes());
        update_f64s(&mut h, &part.features);
        match &part.targets {
            Targets::Classes { labels, classes } => {
                h.update(b"classes");
                h.update(&(*classes as u64).to_le_bytes());
                for &l in labels {
                    h.update(&(l as u64).to_le_bytes());
                }
            }
            Targets::Real(values) => {
                h.update(b"real");
                update_f64s(&mut h, values);
            }
        }
    }
    format!("xxh3-128:{:032x}", h.digest128())
}

/// Feeds `values` to `h` as little-endian f64 bits, a few thousand at a
/// time (one call per value would dominate the time on MNIST).
fn update_f64s(h: &mut Xxh3, values: &[f64]) {
    let mut bytes = Vec::with_capacity(8 * 4096);
    for chunk in values.chunks(4096) {
        bytes.clear();
        for v in chunk {
            bytes.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        h.update(&bytes);
    }
}
