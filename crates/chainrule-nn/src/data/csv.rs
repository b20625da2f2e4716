//! Numeric CSV files: features in every column but the last, the label or
//! target in the last.
//!
//! - Records are split by the [`csv`] crate: fields may be quoted (`"1.0"`,
//!   with `""` for a quote inside), a UTF-8 byte-order mark is skipped,
//!   spaces around a field are trimmed, lines end in `\n` or `\r\n`, and
//!   blank lines are skipped. Line numbers in errors are 1-based and count
//!   the file's physical lines; columns are 1-based and, where the header
//!   names them, named: `line 7, column 3 ('petal_width')`.
//! - The delimiter is a tab, a semicolon or a comma, detected from the first
//!   two non-blank lines: the first of tab, `;`, `,` that splits the first
//!   line into more than one field and the second into as many (else the
//!   first that splits the first line; else a comma). A semicolon is tried
//!   before the comma because files written with decimal commas
//!   (`1,5;2,0;1`) separate fields with semicolons. [`CsvOptions::delimiter`]
//!   (the command line's `--delimiter`) sets it instead.
//! - The first non-blank line is a header if any of its non-empty fields does
//!   not parse as a number. A scikit-learn-style header
//!   `N_ROWS,N_FEATURES,class name 0,class name 1,...` (as in the built-in
//!   iris and breast-cancer files) gives the class names, used when its first
//!   two fields match the data's row and feature counts and the names cover
//!   every label.
//! - Every row must have as many fields as the first data row, and at least
//!   two (a feature and the label). Features must be finite numbers (NaN and
//!   infinities are refused).
//! - With [`LabelKind::Class`] the label must be an integer in
//!   `0..MAX_CLASSES` (written `3` or `3.0`); the class count `K` is the
//!   largest label plus one (or the number of header names, if larger). With
//!   [`LabelKind::Real`] any finite number is a target. With
//!   [`LabelKind::Auto`] the target column is read as numbers and the rule of
//!   [`super::task`] decides, giving its reason.
//! - Limits against hostile files: files over [`MAX_FILE_BYTES`] (and `.gz`
//!   files decompressing past [`MAX_DECOMPRESSED_BYTES`]) are refused before
//!   reading them whole, and records over [`MAX_FIELDS_PER_ROW`] fields
//!   before anything is allocated for them: a first pass counts every
//!   record's fields with `csv-core` (the csv crate's own parser, which
//!   copies nothing), and only then are the records read.

use std::path::Path;

use csv_core::ReadFieldResult;

use super::table::{Last, TableBuilder};
use super::task;
use super::{
    read_maybe_gz, DataError, Dataset, LabelKind, Targets, MAX_CLASSES, MAX_DECOMPRESSED_BYTES,
    MAX_FILE_BYTES,
};

/// Largest number of fields in one row (header or data).
pub const MAX_FIELDS_PER_ROW: usize = 100_000;

/// The delimiters tried, in order, when none is given.
pub const DETECTED_DELIMITERS: [u8; 3] = [b'\t', b';', b','];

/// How to read a CSV file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    /// How to read the last column.
    pub target: LabelKind,
    /// The field delimiter; `None`: detected from the first lines.
    pub delimiter: Option<u8>,
}

impl CsvOptions {
    /// Reading the last column as `target`, the delimiter detected.
    pub fn new(target: LabelKind) -> CsvOptions {
        CsvOptions {
            target,
            delimiter: None,
        }
    }
}

/// A CSV file read: the data set, the delimiter used, and (for
/// [`LabelKind::Auto`]) why the target column was read as it was.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvData {
    /// The data set.
    pub dataset: Dataset,
    /// The field delimiter (given or detected).
    pub delimiter: u8,
    /// With [`LabelKind::Auto`]: the reason for the task chosen, e.g.
    /// `target column 'y' has 214 distinct values in 442 rows, more than the
    /// 100 classes read as classification`.
    pub task_reason: Option<String>,
}

/// Loads a CSV file (decompressing it first if its name ends in `.gz`),
/// the delimiter detected.
pub fn load_csv(path: &Path, kind: LabelKind) -> Result<Dataset, DataError> {
    load_csv_with(path, &CsvOptions::new(kind)).map(|c| c.dataset)
}

/// Loads a CSV file (decompressing it first if its name ends in `.gz`).
pub fn load_csv_with(path: &Path, options: &CsvOptions) -> Result<CsvData, DataError> {
    let bytes = read_maybe_gz(path, MAX_FILE_BYTES, MAX_DECOMPRESSED_BYTES)?;
    parse_csv_with(&bytes, &path.display().to_string(), options)
}

/// Parses CSV text, the delimiter detected; `name` names the data set and
/// the file in errors.
pub fn parse_csv(text: &[u8], name: &str, kind: LabelKind) -> Result<Dataset, DataError> {
    parse_csv_with(text, name, &CsvOptions::new(kind)).map(|c| c.dataset)
}

/// Parses CSV text; `name` names the data set and the file in errors.
pub fn parse_csv_with(text: &[u8], name: &str, options: &CsvOptions) -> Result<CsvData, DataError> {
    let delimiter = match options.delimiter {
        Some(d) => check_delimiter(d).map_err(|message| DataError::Invalid {
            file: name.to_string(),
            message,
        })?,
        None => detect_delimiter(text),
    };
    check_fields_per_record(text, delimiter, name)?;
    let mut table = TableBuilder::new(name, Some(options.target), delimiter_words(delimiter));
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text);
    let mut record = csv::ByteRecord::new();
    let mut lines = LineCounter::default();
    while reader
        .read_byte_record(&mut record)
        .map_err(|e| DataError::Invalid {
            file: name.to_string(),
            message: e.to_string(),
        })?
    {
        // The csv crate counts a blank line before a record as the
        // record's; count from the record's first byte instead.
        let start = record.position().map_or(0, |p| p.byte()) as usize;
        let line = lines.line_at(text, start);
        if record.len() == 1 && record[0].is_empty() {
            continue; // a blank line
        }
        let fields = record
            .iter()
            .map(std::str::from_utf8)
            .collect::<Result<Vec<&str>, _>>()
            .map_err(|_| DataError::NotUtf8 {
                file: name.to_string(),
                line,
            })?;
        table.push(line, &fields)?;
    }
    let table = table.finish()?;
    let (n, d) = (table.n, table.d);
    let column = match table.column_name(d + 1) {
        Some(c) => format!("target column '{c}'"),
        None => format!("target column {}", d + 1),
    };
    let names = |classes: usize| {
        table
            .header
            .as_deref()
            .and_then(|h| sklearn_class_names(h, n, d))
            .filter(|names| names.len() >= classes && names.len() <= MAX_CLASSES)
            .unwrap_or_default()
    };
    let (targets, task_reason) = match table.last {
        Last::Labels(labels) => (with_class_count(labels), None),
        Last::Reals(values) if options.target == LabelKind::Auto => {
            let decision = task::decide(values, &column);
            (decision.targets, Some(decision.reason))
        }
        Last::Reals(values) => (Targets::Real(values), None),
        Last::None => {
            return Err(DataError::Invalid {
                file: name.to_string(),
                message: "no label column".to_string(),
            })
        }
    };
    let (targets, class_names) = match targets {
        Targets::Classes { labels, classes } => {
            let names = names(classes);
            let classes = classes.max(names.len());
            (Targets::Classes { labels, classes }, names)
        }
        real => (real, Vec::new()),
    };
    Ok(CsvData {
        dataset: Dataset {
            name: name.to_string(),
            n,
            d,
            input_shape: vec![d],
            features: table.features,
            targets,
            class_names,
        },
        delimiter,
        task_reason,
    })
}

/// Class labels with `K` = the largest label plus one.
fn with_class_count(labels: Vec<usize>) -> Targets {
    let classes = labels.iter().copied().max().unwrap_or(0) + 1;
    Targets::Classes { labels, classes }
}

/// The class names of a header `N_ROWS,N_FEATURES,name,...` whose counts
/// match the data, or `None`.
fn sklearn_class_names(header: &[String], n: usize, d: usize) -> Option<Vec<String>> {
    let rows: usize = header.first()?.parse().ok()?;
    let features: usize = header.get(1)?.parse().ok()?;
    if rows != n || features != d {
        return None;
    }
    Some(header.get(2..)?.to_vec())
}

/// A delimiter in words for messages: `','`, `';'`, `tab`.
pub fn delimiter_words(delimiter: u8) -> String {
    match delimiter {
        b'\t' => "tab".to_string(),
        b' ' => "space".to_string(),
        d => format!("'{}'", d as char),
    }
}

/// Parses a delimiter as written on a command line: one ASCII character
/// (`,` `;` `|` ...), or `tab` (also `\t` or a tab), `comma`, `semicolon`,
/// `space`.
pub fn parse_delimiter(text: &str) -> Result<u8, String> {
    let byte = match text {
        "tab" | "\\t" | "\t" => b'\t',
        "comma" => b',',
        "semicolon" => b';',
        "space" => b' ',
        s if s.len() == 1 && s.is_ascii() => s.as_bytes()[0],
        s => {
            return Err(format!(
                "'{s}' is not one character (or tab, comma, semicolon, space)"
            ))
        }
    };
    check_delimiter(byte)
}

/// A delimiter must be an ASCII character that cannot be part of a number
/// or of the CSV quoting: not a letter, digit, `.`, `+`, `-`, quote or line
/// end.
fn check_delimiter(d: u8) -> Result<u8, String> {
    let bad = !d.is_ascii()
        || d.is_ascii_alphanumeric()
        || matches!(d, b'.' | b'+' | b'-' | b'"' | b'\n' | b'\r');
    if bad {
        Err(format!(
            "{} cannot separate fields: it can be part of a number or of the quoting",
            delimiter_words(d)
        ))
    } else {
        Ok(d)
    }
}

/// The delimiter of a file: the first of [`DETECTED_DELIMITERS`] that splits
/// the first non-blank record into more than one field and the second into
/// as many; failing that, the first that splits the first record; failing
/// that, a comma.
pub fn detect_delimiter(text: &[u8]) -> u8 {
    let counts: Vec<(u8, Vec<usize>)> = DETECTED_DELIMITERS
        .iter()
        .map(|&d| {
            let mut counts = Vec::new();
            // Counting the first two records cannot fail: no limit applies.
            let _ = scan_records(text, d, usize::MAX, |fields| {
                counts.push(fields);
                counts.len() < 2
            });
            (d, counts)
        })
        .collect();
    let splits = |c: &[usize]| c.first().is_some_and(|&f| f > 1);
    counts
        .iter()
        .find(|(_, c)| splits(c) && (c.len() < 2 || c[0] == c[1]))
        .or_else(|| counts.iter().find(|(_, c)| splits(c)))
        .map_or(b',', |(d, _)| *d)
}

/// Refuses a record with more than [`MAX_FIELDS_PER_ROW`] fields, counting
/// them without copying anything.
fn check_fields_per_record(text: &[u8], delimiter: u8, file: &str) -> Result<(), DataError> {
    scan_records(text, delimiter, MAX_FIELDS_PER_ROW, |_| true).map_err(|(start, found)| {
        DataError::TooManyFields {
            file: file.to_string(),
            line: LineCounter::default().line_at(text, start),
            found,
            limit: MAX_FIELDS_PER_ROW,
        }
    })
}

/// Line numbers of records, counted once through the text.
#[derive(Default)]
struct LineCounter {
    /// Bytes counted so far.
    at: usize,
    /// Line ends in `text[..at]`.
    ends: usize,
}

impl LineCounter {
    /// The 1-based line of a record that starts at byte `start` (at or
    /// after the previous one asked for), past the line ends before it.
    fn line_at(&mut self, text: &[u8], start: usize) -> usize {
        let start = start.clamp(self.at, text.len());
        let first = text[start..]
            .iter()
            .position(|b| !matches!(b, b'\n' | b'\r'))
            .map_or(text.len(), |p| start + p);
        self.ends += text[self.at..first].iter().filter(|&&b| b == b'\n').count();
        self.at = first;
        self.ends + 1
    }
}

/// Walks the records of `text` as the csv crate splits them with
/// `delimiter`, copying no field: calls `visit(fields)` with the field count
/// of each non-blank record until it returns false. A record with more than
/// `limit` fields stops the walk with `Err((byte offset where the record
/// starts, its field count))`.
fn scan_records(
    text: &[u8],
    delimiter: u8,
    limit: usize,
    mut visit: impl FnMut(usize) -> bool,
) -> Result<(), (usize, usize)> {
    let mut reader = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
    let mut scratch = [0u8; 64];
    let mut at = 0; // bytes consumed
    let mut start = 0; // where the current record starts
    let mut fields = 0;
    let mut blank = true;
    loop {
        let (result, read, written) = reader.read_field(&text[at..], &mut scratch);
        at += read;
        blank &= scratch[..written].iter().all(u8::is_ascii_whitespace);
        match result {
            ReadFieldResult::InputEmpty | ReadFieldResult::OutputFull => {}
            ReadFieldResult::Field { record_end } => {
                fields += 1;
                if record_end {
                    if fields > limit {
                        return Err((start, fields));
                    }
                    let counts = fields > 1 || !blank; // a blank line is no record
                    if counts && !visit(fields) {
                        return Ok(());
                    }
                    (fields, blank, start) = (0, true, at);
                }
            }
            ReadFieldResult::End => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn without_header_class_labels() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "a.csv", "1,2,0\n 3 , 4 ,2\r\n\n5,6.5,1\n");
        let ds = load_csv(&path, LabelKind::Class).unwrap();
        assert_eq!((ds.n, ds.d), (3, 2));
        assert_eq!(ds.features, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.5]);
        assert_eq!(ds.labels(), Some(&[0, 2, 1][..]));
        assert_eq!(ds.num_classes(), Some(3));
        assert!(ds.class_names.is_empty());
        assert_eq!(ds.name, path.display().to_string());
    }

    #[test]
    fn with_header_real_targets() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "r.csv", "x1,x2,y\n1,2,0.5\n3,4,-1e2\n");
        let ds = load_csv(&path, LabelKind::Real).unwrap();
        assert_eq!((ds.n, ds.d), (2, 2));
        assert_eq!(ds.targets, Targets::Real(vec![0.5, -100.0]));
        assert!(!ds.is_classification());
        assert_eq!(ds.num_classes(), None);
    }

    #[test]
    fn sklearn_header_gives_class_names() {
        let text = "3,2,cat,dog,eel\n1,2,0\n3,4,1\n5,6,1\n";
        let ds = parse_csv(text.as_bytes(), "s.csv", LabelKind::Class).unwrap();
        assert_eq!(ds.class_names, vec!["cat", "dog", "eel"]);
        assert_eq!(ds.num_classes(), Some(3)); // the header's count, above max + 1
                                               // Counts that do not match the data: a plain header, no names.
        let text = "4,2,cat,dog\n1,2,0\n3,4,1\n";
        let ds = parse_csv(text.as_bytes(), "s.csv", LabelKind::Class).unwrap();
        assert!(ds.class_names.is_empty());
        assert_eq!(ds.num_classes(), Some(2));
    }

    #[test]
    fn header_with_class_labels_and_gz() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.csv.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, b"a,b,label\n1,2,1.0\n3,4,0\n").unwrap();
        std::fs::write(&path, enc.finish().unwrap()).unwrap();
        let ds = load_csv(&path, LabelKind::Class).unwrap();
        assert_eq!(ds.labels(), Some(&[1, 0][..]));
    }

    #[test]
    fn ragged_row_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "data.csv", "a,b,c,y\n1,2,3,0\n\n4,5,6,1\n7,8,1\n");
        let err = load_csv(&path, LabelKind::Class).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                DataError::Ragged {
                    line: 5,
                    found: 3,
                    expected: 4,
                    ..
                }
            ),
            "{msg}"
        );
        assert!(
            msg.contains("data.csv") && msg.contains("line 5 has 3 fields, expected 4"),
            "{msg}"
        );
    }

    #[test]
    fn non_numeric_field_names_file_line_field_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "data.csv", "1,2,0\n3,4,1\n5,abc,1\n");
        let err = load_csv(&path, LabelKind::Class).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                DataError::NotANumber {
                    line: 3,
                    field: 2,
                    ..
                }
            ),
            "{msg}"
        );
        assert!(
            msg.ends_with("data.csv: line 3, column 2: 'abc' is not a number"),
            "{msg}"
        );
    }

    #[test]
    fn non_finite_feature_and_target() {
        let err = parse_csv(b"1,NaN,0\n", "n.csv", LabelKind::Class).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::NotFinite {
                    line: 1,
                    field: 2,
                    ..
                }
            ),
            "{err}"
        );
        let err = parse_csv(b"1,2,0\n1,2,inf\n", "n.csv", LabelKind::Real).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::NotFinite {
                    line: 2,
                    field: 3,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("'inf'"), "{err}");
        let err = parse_csv(b"1,1e400,0\n", "n.csv", LabelKind::Real).unwrap_err();
        assert!(matches!(err, DataError::NotFinite { .. }), "{err}");
    }

    #[test]
    fn bad_labels_name_file_line_field() {
        for (label, line) in [("-1", 2), ("1.5", 2), ("x", 2), ("100000", 2), ("1e300", 2)] {
            let text = format!("1,2,0\n3,4,{label}\n");
            let dir = tempfile::tempdir().unwrap();
            let path = write(&dir, "lab.csv", &text);
            let err = load_csv(&path, LabelKind::Class).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, DataError::BadLabel { field: 3, .. }), "{msg}");
            assert!(
                msg.contains("lab.csv")
                    && msg.contains(&format!("line {line}, column 3: label '{label}'")),
                "{msg}"
            );
        }
        // The same values are fine as real targets, except non-numbers.
        assert!(parse_csv(b"1,2,-1\n3,4,1.5\n", "r", LabelKind::Real).is_ok());
    }

    #[test]
    fn empty_and_too_few_fields() {
        let err = parse_csv(b"", "e.csv", LabelKind::Class).unwrap_err();
        assert!(matches!(err, DataError::Empty { .. }), "{err}");
        assert!(err.to_string().starts_with("e.csv: "), "{err}");
        let err = parse_csv(b"a,b,c\n\n  \n", "e.csv", LabelKind::Class).unwrap_err();
        assert!(matches!(err, DataError::Empty { .. }), "{err}");
        let err = parse_csv(b"1\n2\n", "one.csv", LabelKind::Class).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::TooFewFields {
                    line: 1,
                    found: 1,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn too_many_fields_and_bad_utf8() {
        let row = vec!["1"; MAX_FIELDS_PER_ROW + 1].join(",");
        let err = parse_csv(row.as_bytes(), "wide.csv", LabelKind::Real).unwrap_err();
        assert!(
            matches!(err, DataError::TooManyFields { line: 1, .. }),
            "{err}"
        );
        let err = parse_csv(b"1,2,0\n1,\xff,0\n", "u.csv", LabelKind::Real).unwrap_err();
        assert!(matches!(err, DataError::NotUtf8 { line: 2, .. }), "{err}");
    }

    #[test]
    fn records_are_counted_before_they_are_read() {
        // A quoted delimiter is no field boundary; the limit counts fields.
        let text = format!("\"1,5\",{}\n", "0,".repeat(9) + "1");
        assert_eq!(
            scan_count(&text, b','),
            vec![11],
            "a quoted comma is inside a field"
        );
        assert_eq!(
            scan_count("a;b\n\n  \r\n1;2\n", b';'),
            vec![2, 2],
            "blank lines skipped"
        );
        let row = "1,".repeat(MAX_FIELDS_PER_ROW) + "1";
        let text = format!("a,b\n\n{row}\n");
        let err = check_fields_per_record(text.as_bytes(), b',', "w.csv").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "w.csv: line 3 has {} fields, over the limit of 100000",
                MAX_FIELDS_PER_ROW + 1
            )
        );
    }

    fn scan_count(text: &str, d: u8) -> Vec<usize> {
        let mut counts = Vec::new();
        scan_records(text.as_bytes(), d, usize::MAX, |f| {
            counts.push(f);
            true
        })
        .unwrap();
        counts
    }
}
