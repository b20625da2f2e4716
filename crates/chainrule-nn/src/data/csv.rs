//! Numeric CSV files: features in every column but the last, the label or
//! target in the last.
//!
//! - Fields are separated by commas; spaces around a field are trimmed, a
//!   trailing `\r` is dropped and blank lines are skipped. Line and field
//!   numbers in errors are 1-based and count the file's physical lines.
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
//!   [`LabelKind::Real`] any finite number is a target.
//! - Limits against hostile files: files over [`MAX_FILE_BYTES`] (and `.gz`
//!   files decompressing past [`MAX_DECOMPRESSED_BYTES`]) are refused before
//!   reading them whole, and rows over [`MAX_FIELDS_PER_ROW`] fields before
//!   allocating anything for them.

use std::path::Path;

use super::{
    read_maybe_gz, DataError, Dataset, LabelKind, Targets, MAX_CLASSES, MAX_DECOMPRESSED_BYTES,
    MAX_FILE_BYTES,
};

/// Largest number of fields in one row (header or data).
pub const MAX_FIELDS_PER_ROW: usize = 100_000;

/// Loads a CSV file (decompressing it first if its name ends in `.gz`).
pub fn load_csv(path: &Path, kind: LabelKind) -> Result<Dataset, DataError> {
    let bytes = read_maybe_gz(path, MAX_FILE_BYTES, MAX_DECOMPRESSED_BYTES)?;
    parse_csv(&bytes, &path.display().to_string(), kind)
}

/// Parses CSV text; `name` names the data set and the file in errors.
pub fn parse_csv(text: &[u8], name: &str, kind: LabelKind) -> Result<Dataset, DataError> {
    let table = parse_table(text, name, Sep::Comma, Some(kind))?;
    let n = table.n;
    let d = table.d;
    let (targets, class_names) = match table.last {
        Last::Labels(labels) => {
            let max = labels.iter().copied().max().unwrap_or(0);
            let mut classes = max + 1;
            let names = table
                .header
                .as_deref()
                .and_then(|h| sklearn_class_names(h, n, d))
                .filter(|names| names.len() >= classes && names.len() <= MAX_CLASSES)
                .unwrap_or_default();
            classes = classes.max(names.len());
            (Targets::Classes { labels, classes }, names)
        }
        Last::Reals(values) => (Targets::Real(values), Vec::new()),
        Last::None => {
            return Err(DataError::Invalid {
                file: name.to_string(),
                message: "no label column".to_string(),
            })
        }
    };
    Ok(Dataset {
        name: name.to_string(),
        n,
        d,
        features: table.features,
        targets,
        class_names,
    })
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

/// How fields are separated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sep {
    /// Commas, spaces around fields trimmed.
    Comma,
    /// Runs of whitespace (used by the built-in diabetes file).
    Whitespace,
}

/// The last column, as read.
#[derive(Debug)]
pub(crate) enum Last {
    /// Class labels.
    Labels(Vec<usize>),
    /// Real targets.
    Reals(Vec<f64>),
    /// No label column: every column is a feature.
    None,
}

/// A parsed table.
#[derive(Debug)]
pub(crate) struct Table {
    /// The header's fields, if the file has a header.
    pub header: Option<Vec<String>>,
    /// Data rows.
    pub n: usize,
    /// Feature columns (all columns but the label, if there is one).
    pub d: usize,
    /// Features, row-major.
    pub features: Vec<f64>,
    /// The last column.
    pub last: Last,
}

fn split_fields(line: &str, sep: Sep) -> Box<dyn Iterator<Item = &str> + '_> {
    match sep {
        Sep::Comma => Box::new(line.split(',').map(str::trim)),
        Sep::Whitespace => Box::new(line.split_whitespace()),
    }
}

/// Whether a line is a header: some non-empty field is not a number.
fn is_header(line: &str, sep: Sep) -> bool {
    split_fields(line, sep).any(|f| !f.is_empty() && f.parse::<f64>().is_err())
}

/// Parses a table of numbers; with `label` set, the last column is read as
/// labels or targets, otherwise every column is a feature.
pub(crate) fn parse_table(
    text: &[u8],
    file: &str,
    sep: Sep,
    label: Option<LabelKind>,
) -> Result<Table, DataError> {
    let needed = if label.is_some() { 2 } else { 1 };
    let mut header = None;
    let mut cols = 0usize; // fields per data row, fixed by the first one
    let mut n = 0usize;
    let mut features = Vec::new();
    let mut last = match label {
        Some(LabelKind::Class) => Last::Labels(Vec::new()),
        Some(LabelKind::Real) => Last::Reals(Vec::new()),
        None => Last::None,
    };
    let mut seen_line = false;
    for (index, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line_no = index + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw).map_err(|_| DataError::NotUtf8 {
            file: file.to_string(),
            line: line_no,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        // Count before allocating anything for the row.
        let found = split_fields(line, sep).count();
        if found > MAX_FIELDS_PER_ROW {
            return Err(DataError::TooManyFields {
                file: file.to_string(),
                line: line_no,
                found,
                limit: MAX_FIELDS_PER_ROW,
            });
        }
        if !seen_line {
            seen_line = true;
            if is_header(line, sep) {
                header = Some(split_fields(line, sep).map(str::to_string).collect());
                continue;
            }
        }
        if n == 0 {
            if found < needed {
                return Err(DataError::TooFewFields {
                    file: file.to_string(),
                    line: line_no,
                    found,
                    needed,
                });
            }
            cols = found;
        } else if found != cols {
            return Err(DataError::Ragged {
                file: file.to_string(),
                line: line_no,
                found,
                expected: cols,
            });
        }
        let n_features = if label.is_some() { cols - 1 } else { cols };
        for (j, field) in split_fields(line, sep).enumerate() {
            if j < n_features {
                features.push(parse_finite(field, file, line_no, j + 1)?);
                continue;
            }
            match &mut last {
                Last::Labels(labels) => {
                    labels.push(parse_label(field).ok_or_else(|| DataError::BadLabel {
                        file: file.to_string(),
                        line: line_no,
                        field: j + 1,
                        text: field.to_string(),
                    })?)
                }
                Last::Reals(values) => values.push(parse_finite(field, file, line_no, j + 1)?),
                Last::None => {}
            }
        }
        n += 1;
    }
    if n == 0 {
        return Err(DataError::Empty {
            file: file.to_string(),
        });
    }
    Ok(Table {
        header,
        n,
        d: if label.is_some() { cols - 1 } else { cols },
        features,
        last,
    })
}

/// Parses a finite number, naming the line and field if it is not one.
fn parse_finite(field: &str, file: &str, line: usize, column: usize) -> Result<f64, DataError> {
    match field.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(DataError::NotFinite {
            file: file.to_string(),
            line,
            field: column,
            text: field.to_string(),
        }),
        Err(_) => Err(DataError::NotANumber {
            file: file.to_string(),
            line,
            field: column,
            text: field.to_string(),
        }),
    }
}

/// A class index: an integer in `0..MAX_CLASSES`, written `3` or `3.0`.
fn parse_label(field: &str) -> Option<usize> {
    if let Ok(v) = field.parse::<usize>() {
        return (v < MAX_CLASSES).then_some(v);
    }
    let v = field.parse::<f64>().ok()?;
    let ok = v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < MAX_CLASSES as f64;
    // Exact: v is a whole number below MAX_CLASSES.
    ok.then_some(v as usize)
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
            msg.ends_with("data.csv: line 3, field 2: 'abc' is not a number"),
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
                    && msg.contains(&format!("line {line}, field 3: label '{label}'")),
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
        // Without a label column, one column is enough.
        let t = parse_table(b"1\n2\n", "one", Sep::Comma, None).unwrap();
        assert_eq!((t.n, t.d), (2, 1));
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
    fn whitespace_tables() {
        let t = parse_table(b"1 2\t3\n  4 5 6  \n", "w", Sep::Whitespace, None).unwrap();
        assert_eq!((t.n, t.d), (2, 3));
        assert_eq!(t.features, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert!(t.header.is_none());
    }
}
