//! Data sets: the four small built-in sets, CSV files, MNIST IDX files,
//! train/test splits, standardisation and mini-batches.
//!
//! Every loader checks its input instead of trusting it: a malformed file
//! gives a [`DataError`] that names the file and, where it applies, the
//! 1-based line and field and the offending text. Sizes are bounded before
//! anything is allocated ([`MAX_FILE_BYTES`], [`MAX_DECOMPRESSED_BYTES`],
//! [`csv::MAX_FIELDS_PER_ROW`], [`MAX_CLASSES`]).
//!
//! A CSV file's target column can be read as class labels, as real targets,
//! or as the values say ([`LabelKind::Auto`], the rule of [`task`]).
//!
//! ```
//! use chainrule_nn::data::{load, train_test_split, LabelKind, Standardizer};
//!
//! let data = load("iris", LabelKind::Class)?;
//! let (mut train, mut test) = train_test_split(&data.train, 0.2, 7)?;
//! let scaler = Standardizer::fit(&train);
//! scaler.apply(&mut train)?;
//! scaler.apply(&mut test)?;
//! assert_eq!((train.n, test.n, train.d), (120, 30, 4));
//! # Ok::<(), chainrule_nn::data::DataError>(())
//! ```

use std::io::Read;
use std::path::Path;

pub mod builtin;
pub mod csv;
mod error;
pub mod idx;
pub mod split;
mod table;
pub mod task;

pub use builtin::BUILTIN_NAMES;
pub use csv::{load_csv, load_csv_with, parse_csv, parse_csv_with, CsvData, CsvOptions};
pub use error::DataError;
pub use idx::load_mnist;
pub use split::{batch_ranges, batches, shuffled_indices, train_test_split, Standardizer};

/// Largest file read from disk, in bytes (1 GiB); larger files are refused
/// before reading.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// Largest decompressed size of a gzip file, in bytes (1 GiB); decoding stops
/// and the file is refused once it would grow past this (gzip bombs).
pub const MAX_DECOMPRESSED_BYTES: u64 = 1 << 30;

/// Largest number of classes a classification set may have: a label must lie
/// in `0..MAX_CLASSES`, so a stray huge label cannot make a consumer allocate a
/// huge one-hot matrix.
pub const MAX_CLASSES: usize = 100_000;

/// The targets of a data set, one per row.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// Class indices in `0..classes`.
    Classes {
        /// One class index per row.
        labels: Vec<usize>,
        /// The number of classes `K` (at least one more than the largest label).
        classes: usize,
    },
    /// Real-valued regression targets.
    Real(Vec<f64>),
}

impl Targets {
    /// The number of targets (rows).
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes { labels, .. } => labels.len(),
            Targets::Real(values) => values.len(),
        }
    }

    /// Whether there are no targets.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A data set held in memory: `n` rows of `d` features each, row-major, and
/// one target per row.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// A human-readable name (the built-in name or the file path).
    pub name: String,
    /// The number of rows.
    pub n: usize,
    /// The number of features per row.
    pub d: usize,
    /// The shape of one example's features (product `d`): `[d]` for a
    /// table, `[C, H, W]` for images (`digits` `[1, 8, 8]`, MNIST
    /// `[1, 28, 28]`), each row holding the image row-major.
    pub input_shape: Vec<usize>,
    /// The features, row-major, `n * d` values.
    pub features: Vec<f64>,
    /// One target per row.
    pub targets: Targets,
    /// The class names, index = class; empty if unknown or a regression set.
    pub class_names: Vec<String>,
}

impl Dataset {
    /// Builds a data set, checking that the parts agree: `features` holds
    /// `n * d` finite values, there are `n` targets, and every label is below
    /// `classes` (itself at most [`MAX_CLASSES`]).
    pub fn new(
        name: impl Into<String>,
        d: usize,
        features: Vec<f64>,
        targets: Targets,
        class_names: Vec<String>,
    ) -> Result<Dataset, DataError> {
        let name = name.into();
        let n = targets.len();
        let invalid = |message: String| DataError::Invalid {
            file: name.clone(),
            message,
        };
        if n.checked_mul(d) != Some(features.len()) {
            return Err(invalid(format!(
                "{} feature values do not make {n} rows of {d}",
                features.len()
            )));
        }
        if let Some(i) = features.iter().position(|v| !v.is_finite()) {
            return Err(invalid(format!("feature value {i} is not finite")));
        }
        match &targets {
            Targets::Classes { labels, classes } => {
                if *classes > MAX_CLASSES {
                    return Err(invalid(format!(
                        "{classes} classes is over the limit of {MAX_CLASSES}"
                    )));
                }
                if let Some(r) = labels.iter().position(|l| l >= classes) {
                    return Err(invalid(format!(
                        "row {r} has label {}, not below the class count {classes}",
                        labels[r]
                    )));
                }
            }
            Targets::Real(values) => {
                if let Some(r) = values.iter().position(|v| !v.is_finite()) {
                    return Err(invalid(format!("target of row {r} is not finite")));
                }
            }
        }
        Ok(Dataset {
            name,
            n,
            d,
            input_shape: vec![d],
            features,
            targets,
            class_names,
        })
    }

    /// A new data set holding the given rows, in the given order (repeats
    /// allowed). The class count and names are kept.
    ///
    /// # Panics
    /// If an index is not below `self.n` (like slice indexing).
    pub fn select(&self, rows: &[usize]) -> Dataset {
        let mut features = Vec::with_capacity(rows.len().saturating_mul(self.d));
        for &r in rows {
            features.extend_from_slice(self.row(r));
        }
        let targets = match &self.targets {
            Targets::Classes { labels, classes } => Targets::Classes {
                labels: rows.iter().map(|&r| labels[r]).collect(),
                classes: *classes,
            },
            Targets::Real(values) => Targets::Real(rows.iter().map(|&r| values[r]).collect()),
        };
        Dataset {
            name: self.name.clone(),
            n: rows.len(),
            d: self.d,
            input_shape: self.input_shape.clone(),
            features,
            targets,
            class_names: self.class_names.clone(),
        }
    }

    /// The features of row `i`.
    ///
    /// # Panics
    /// If `i` is not below `self.n` (like slice indexing).
    pub fn row(&self, i: usize) -> &[f64] {
        assert!(i < self.n, "row {i} out of range for {} rows", self.n);
        &self.features[i * self.d..(i + 1) * self.d]
    }

    /// Whether the targets are class labels.
    pub fn is_classification(&self) -> bool {
        matches!(self.targets, Targets::Classes { .. })
    }

    /// The number of classes, or `None` for a regression set.
    pub fn num_classes(&self) -> Option<usize> {
        match self.targets {
            Targets::Classes { classes, .. } => Some(classes),
            Targets::Real(_) => None,
        }
    }

    /// The class labels, or `None` for a regression set.
    pub fn labels(&self) -> Option<&[usize]> {
        match &self.targets {
            Targets::Classes { labels, .. } => Some(labels),
            Targets::Real(_) => None,
        }
    }

    /// How many rows each class has (index = class), or `None` for a
    /// regression set.
    pub fn class_counts(&self) -> Option<Vec<usize>> {
        match &self.targets {
            Targets::Classes { labels, classes } => {
                let mut counts = vec![0; *classes];
                for &l in labels {
                    if let Some(c) = counts.get_mut(l) {
                        *c += 1;
                    }
                }
                Some(counts)
            }
            Targets::Real(_) => None,
        }
    }
}

/// How to read the last column of a CSV file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelKind {
    /// A class index: an integer `0..K`.
    Class,
    /// A real-valued regression target.
    Real,
    /// Decided from the values by the rule of [`task`]: class indices
    /// `0..K` (few, without gaps) are labels, anything else a real target.
    Auto,
}

/// What [`load`] returns: the training set and, where the source has one of
/// its own (MNIST), the test set.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedData {
    /// The training set (the whole set where there is no test set).
    pub train: Dataset,
    /// The source's own test set, if it has one.
    pub test: Option<Dataset>,
    /// Why the targets were read as they were, where [`LabelKind::Auto`]
    /// decided it (a CSV file): e.g. `target column 'y' has non-integer
    /// values (such as 213041.77)`.
    pub task_reason: Option<String>,
}

/// Loads a data set by specification: `digits`, `breast-cancer`, `iris`,
/// `diabetes` (built in; `kind` is ignored, each set has its own),
/// `csv:PATH` (the last column read as `kind` says, the delimiter detected)
/// or `mnist:DIR` (the four IDX files, plain or `.gz`, with their own test
/// set; `kind` is ignored).
pub fn load(spec: &str, kind: LabelKind) -> Result<LoadedData, DataError> {
    load_with(spec, &CsvOptions::new(kind))
}

/// [`load`], with `csv` saying how to read a CSV file (ignored for the
/// other sources).
pub fn load_with(spec: &str, csv: &CsvOptions) -> Result<LoadedData, DataError> {
    if let Some(path) = spec.strip_prefix("csv:") {
        let read = load_csv_with(Path::new(path), csv)?;
        return Ok(LoadedData {
            train: read.dataset,
            test: None,
            task_reason: read.task_reason,
        });
    }
    if let Some(dir) = spec.strip_prefix("mnist:") {
        return load_mnist(Path::new(dir));
    }
    match builtin::load_builtin(spec) {
        Some(result) => Ok(LoadedData {
            train: result?,
            test: None,
            task_reason: None,
        }),
        None => Err(DataError::UnknownSpec {
            spec: spec.to_string(),
        }),
    }
}

/// Reads a whole file, refusing one over `limit` bytes (checked on the size
/// the file system reports, and again while reading in case it grows).
pub(crate) fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, DataError> {
    let io = |error| DataError::Io {
        path: path.display().to_string(),
        error,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let too_large = |size| DataError::TooLarge {
        file: path.display().to_string(),
        size,
        limit,
    };
    if size > limit {
        return Err(too_large(size));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let read = bytes.len() as u64;
    if read > limit {
        return Err(too_large(read));
    }
    Ok(bytes)
}

/// Decompresses gzip data (all members), refusing output over `limit` bytes:
/// the decoder is read through `Read::take(limit + 1)`, so a gzip bomb costs
/// at most `limit + 1` bytes of memory.
pub(crate) fn gunzip(bytes: &[u8], file: &str, limit: u64) -> Result<Vec<u8>, DataError> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| DataError::Gzip {
            file: file.to_string(),
            message: e.to_string(),
        })?;
    if out.len() as u64 > limit {
        return Err(DataError::DecompressedTooLarge {
            file: file.to_string(),
            limit,
        });
    }
    Ok(out)
}

/// Reads a file, decompressing it if its name ends in `.gz`; `file_limit`
/// bounds the bytes on disk and `unzip_limit` the decompressed bytes.
pub(crate) fn read_maybe_gz(
    path: &Path,
    file_limit: u64,
    unzip_limit: u64,
) -> Result<Vec<u8>, DataError> {
    let bytes = read_file(path, file_limit)?;
    let is_gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    if is_gz {
        gunzip(&bytes, &path.display().to_string(), unzip_limit)
    } else {
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn gunzip_round_trip_and_limit() {
        let data = vec![0u8; 10_000];
        let packed = gz(&data);
        assert!(packed.len() < 200);
        assert_eq!(gunzip(&packed, "z.gz", 10_000).unwrap(), data);
        let err = gunzip(&packed, "z.gz", 9_999).unwrap_err();
        assert!(matches!(
            err,
            DataError::DecompressedTooLarge { limit: 9_999, .. }
        ));
        assert!(err.to_string().starts_with("z.gz: "), "{err}");
        let err = gunzip(b"not gzip at all", "bad.gz", 100).unwrap_err();
        assert!(matches!(err, DataError::Gzip { .. }), "{err}");
        assert!(err.to_string().starts_with("bad.gz: "), "{err}");
    }

    #[test]
    fn read_file_limit_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        std::fs::write(&path, [1u8; 100]).unwrap();
        assert_eq!(read_file(&path, 100).unwrap().len(), 100);
        let err = read_file(&path, 99).unwrap_err();
        assert!(matches!(
            err,
            DataError::TooLarge {
                size: 100,
                limit: 99,
                ..
            }
        ));
        assert!(err.to_string().contains("f.bin"), "{err}");
        let err = read_file(&dir.path().join("nope.csv"), 100).unwrap_err();
        assert!(matches!(err, DataError::Io { .. }));
        assert!(err.to_string().contains("nope.csv"), "{err}");
    }

    #[test]
    fn load_specs() {
        let err = load("wine", LabelKind::Class).unwrap_err();
        assert!(matches!(err, DataError::UnknownSpec { .. }));
        assert!(err.to_string().contains("'wine'"), "{err}");
        let err = load("csv:/definitely/not/here.csv", LabelKind::Class).unwrap_err();
        assert!(
            err.to_string().contains("/definitely/not/here.csv"),
            "{err}"
        );
        let data = load("iris", LabelKind::Real).unwrap();
        assert!(data.test.is_none());
        assert_eq!(data.train.num_classes(), Some(3));
    }

    #[test]
    fn dataset_select_row_and_new() {
        let ds = Dataset::new(
            "t",
            2,
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            Targets::Classes {
                labels: vec![0, 1, 1],
                classes: 2,
            },
            vec!["a".into(), "b".into()],
        )
        .unwrap();
        assert_eq!(ds.n, 3);
        assert_eq!(ds.row(1), &[3.0, 4.0]);
        let sub = ds.select(&[2, 0]);
        assert_eq!(sub.features, vec![5.0, 6.0, 1.0, 2.0]);
        assert_eq!(sub.labels(), Some(&[1, 0][..]));
        assert_eq!(sub.num_classes(), Some(2));
        assert_eq!(ds.class_counts(), Some(vec![1, 2]));
        assert!(ds.is_classification());
        let bad = Dataset::new(
            "t",
            2,
            vec![1.0; 5],
            Targets::Real(vec![0.0; 3]),
            Vec::new(),
        );
        assert!(bad.is_err());
        let bad = Dataset::new(
            "t",
            1,
            vec![1.0],
            Targets::Classes {
                labels: vec![2],
                classes: 2,
            },
            Vec::new(),
        );
        assert!(bad.is_err());
    }
}
