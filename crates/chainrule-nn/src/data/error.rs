//! The error type of the data module.

use super::MAX_CLASSES;

/// Why a data set could not be loaded, split or transformed. Every variant
/// names the file (a path, or a built-in name such as `iris.csv (built-in)`).
#[derive(thiserror::Error, Debug)]
pub enum DataError {
    /// Reading the file failed.
    #[error("{path}: {error}")]
    Io {
        /// The path.
        path: String,
        /// The underlying error.
        error: std::io::Error,
    },
    /// The file is larger than the limit.
    #[error("{file}: {size} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// The file.
        file: String,
        /// Its size in bytes (or a lower bound).
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// A gzip file decompresses to more than the limit.
    #[error("{file}: decompresses to more than the limit of {limit} bytes")]
    DecompressedTooLarge {
        /// The file.
        file: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A gzip file is corrupt.
    #[error("{file}: not a valid gzip file: {message}")]
    Gzip {
        /// The file.
        file: String,
        /// The decoder's message.
        message: String,
    },
    /// A line is not valid UTF-8.
    #[error("{file}: line {line} is not valid UTF-8 text")]
    NotUtf8 {
        /// The file.
        file: String,
        /// The line, 1-based.
        line: usize,
    },
    /// A field does not parse as a number.
    #[error(
        "{file}: line {line}, {}: '{text}' is not a number{}",
        column_label(*.field, .name.as_deref()),
        decimal_comma_hint(.text)
    )]
    NotANumber {
        /// The file.
        file: String,
        /// The line, 1-based.
        line: usize,
        /// The field (column), 1-based.
        field: usize,
        /// The column's name in the file's header, if it has one.
        name: Option<String>,
        /// The field's text.
        text: String,
    },
    /// A field is NaN or infinite (or overflows to infinity).
    #[error(
        "{file}: line {line}, {}: '{text}' is not a finite number",
        column_label(*.field, .name.as_deref())
    )]
    NotFinite {
        /// The file.
        file: String,
        /// The line, 1-based.
        line: usize,
        /// The field (column), 1-based.
        field: usize,
        /// The column's name in the file's header, if it has one.
        name: Option<String>,
        /// The field's text.
        text: String,
    },
    /// A label is not a class index.
    #[error(
        "{file}: line {line}, {}: label '{text}' is not a class index \
         (an integer from 0 to {max})",
        column_label(*.field, .name.as_deref()),
        max = MAX_CLASSES - 1
    )]
    BadLabel {
        /// The file.
        file: String,
        /// The line, 1-based.
        line: usize,
        /// The field (column), 1-based.
        field: usize,
        /// The column's name in the file's header, if it has one.
        name: Option<String>,
        /// The field's text.
        text: String,
    },
    /// A row has a different number of fields than the first row.
    #[error("{file}: line {line} has {found} fields, expected {expected}")]
    Ragged {
        /// The file.
        file: String,
        /// The line, 1-based.
        line: usize,
        /// The number of fields on that line.
        found: usize,
        /// The number of fields of the first data line.
        expected: usize,
    },
    /// The first data row has too few fields.
    #[error(
        "{file}: line {line} has {found} field(s) separated by {separator}; need at least {needed}"
    )]
    TooFewFields {
        /// The file.
        file: String,
        /// How the fields were separated, in words (`','`, `tab`, `whitespace`).
        separator: String,
        /// The line, 1-based.
        line: usize,
        /// The number of fields on that line.
        found: usize,
        /// The number needed (features and label).
        needed: usize,
    },
    /// A row has more fields than the limit.
    #[error("{file}: line {line} has {found} fields, over the limit of {limit}")]
    TooManyFields {
        /// The file.
        file: String,
        /// The line, 1-based.
        line: usize,
        /// The number of fields on that line.
        found: usize,
        /// The limit.
        limit: usize,
    },
    /// The data set has no rows.
    #[error("{file}: the data set is empty (no data rows)")]
    Empty {
        /// The file.
        file: String,
    },
    /// An IDX file starts with the wrong magic number.
    #[error("{file}: wrong magic number 0x{found:08x}, expected 0x{expected:08x} ({what})")]
    BadMagic {
        /// The file.
        file: String,
        /// The magic number found.
        found: u32,
        /// The magic number expected.
        expected: u32,
        /// What the expected number means.
        what: &'static str,
    },
    /// A file is shorter than its header says.
    #[error("{file}: truncated: expected {expected} bytes, found {found}")]
    Truncated {
        /// The file.
        file: String,
        /// The number of bytes the header implies.
        expected: u128,
        /// The number of bytes present.
        found: u64,
    },
    /// A file is longer than its header says.
    #[error("{file}: wrong file size: the header implies {expected} bytes, found {found}")]
    WrongSize {
        /// The file.
        file: String,
        /// The number of bytes the header implies.
        expected: u128,
        /// The number of bytes present.
        found: u64,
    },
    /// The images and labels files disagree on the number of items.
    #[error("{images_file} has {images} images but {labels_file} has {labels} labels")]
    CountMismatch {
        /// The images file.
        images_file: String,
        /// The number of images.
        images: u64,
        /// The labels file.
        labels_file: String,
        /// The number of labels.
        labels: u64,
    },
    /// One of the four MNIST files is missing.
    #[error("{dir}: MNIST file '{name}' not found (nor '{name}.gz')")]
    MissingFile {
        /// The directory searched.
        dir: String,
        /// The missing file's name.
        name: &'static str,
    },
    /// The data set specification is not recognised.
    #[error(
        "unknown data set '{spec}': expected digits, breast-cancer, iris, diabetes, \
         csv:PATH or mnist:DIR"
    )]
    UnknownSpec {
        /// The specification given.
        spec: String,
    },
    /// A split was asked for with a test fraction outside `[0, 1)`.
    #[error("{file}: test fraction {fraction} is not in [0, 1)")]
    BadFraction {
        /// The data set.
        file: String,
        /// The fraction given.
        fraction: f64,
    },
    /// A split would leave no training rows.
    #[error(
        "{file}: a test fraction of {fraction} takes {test} of {n} rows, leaving no training rows"
    )]
    NoTrainingRows {
        /// The data set.
        file: String,
        /// The fraction given.
        fraction: f64,
        /// The test rows it would take.
        test: usize,
        /// The rows available.
        n: usize,
    },
    /// Another inconsistency, described in words.
    #[error("{file}: {message}")]
    Invalid {
        /// The file or data set.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// `column 3`, or `column 3 ('petal_width')` where the header names it.
fn column_label(field: usize, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("column {field} ('{name}')"),
        None => format!("column {field}"),
    }
}

/// For a number written with a decimal comma (`1,5`): a hint to write it
/// with a point.
fn decimal_comma_hint(text: &str) -> String {
    let with_point = text.replacen(',', ".", 1);
    if text.contains(',') && with_point.trim().parse::<f64>().is_ok() {
        format!(" (decimal commas are not read: write {with_point})")
    } else {
        String::new()
    }
}
