//! A table of numbers built record by record, whatever split the records:
//! the header, the field counts, the features and the target column, with
//! errors that name the file, the line and the column (by the header's name
//! where there is one).

use super::csv::MAX_FIELDS_PER_ROW;
use super::{DataError, LabelKind, MAX_CLASSES};

/// The last column, as read.
#[derive(Debug)]
pub(crate) enum Last {
    /// Class labels.
    Labels(Vec<usize>),
    /// Real numbers: real targets, or values still to be told apart
    /// ([`LabelKind::Auto`]).
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

impl Table {
    /// The header's name of column `field` (1-based), if the header names
    /// the columns: it has one non-numeric name per column (not the
    /// scikit-learn `N_ROWS,N_FEATURES,class names...` line).
    pub fn column_name(&self, field: usize) -> Option<&str> {
        column_name(self.header.as_deref(), self.d + 1, field)
    }
}

fn column_name(header: Option<&[String]>, columns: usize, field: usize) -> Option<&str> {
    let header = header?;
    let names_columns = header.len() == columns && header.iter().all(|h| h.parse::<f64>().is_err());
    let name = header.get(field.checked_sub(1)?)?;
    (names_columns && !name.is_empty()).then_some(name.as_str())
}

/// Builds a [`Table`] from records given one at a time.
pub(crate) struct TableBuilder<'a> {
    file: &'a str,
    label: Option<LabelKind>,
    /// How fields are separated, in words, for errors.
    separator: String,
    header: Option<Vec<String>>,
    seen_record: bool,
    cols: usize,
    n: usize,
    features: Vec<f64>,
    last: Last,
}

impl<'a> TableBuilder<'a> {
    /// A builder for `file`; with `label` set, the last column is read as
    /// `label` says, otherwise every column is a feature.
    pub fn new(file: &'a str, label: Option<LabelKind>, separator: String) -> Self {
        let last = match label {
            Some(LabelKind::Class) => Last::Labels(Vec::new()),
            Some(LabelKind::Real | LabelKind::Auto) => Last::Reals(Vec::new()),
            None => Last::None,
        };
        TableBuilder {
            file,
            label,
            separator,
            header: None,
            seen_record: false,
            cols: 0,
            n: 0,
            features: Vec::new(),
            last,
        }
    }

    /// Adds one non-blank record (its fields trimmed) that starts on `line`.
    /// The first record is the header if any of its non-empty fields is not
    /// a number.
    pub fn push(&mut self, line: usize, fields: &[&str]) -> Result<(), DataError> {
        let found = fields.len();
        if found > MAX_FIELDS_PER_ROW {
            return Err(DataError::TooManyFields {
                file: self.file.to_string(),
                line,
                found,
                limit: MAX_FIELDS_PER_ROW,
            });
        }
        if !self.seen_record {
            self.seen_record = true;
            let is_header = fields
                .iter()
                .any(|f| !f.is_empty() && f.parse::<f64>().is_err());
            if is_header {
                self.header = Some(fields.iter().map(|f| f.to_string()).collect());
                return Ok(());
            }
        }
        let needed = if self.label.is_some() { 2 } else { 1 };
        if self.n == 0 {
            if found < needed {
                return Err(DataError::TooFewFields {
                    file: self.file.to_string(),
                    separator: self.separator.clone(),
                    line,
                    found,
                    needed,
                });
            }
            self.cols = found;
        } else if found != self.cols {
            return Err(DataError::Ragged {
                file: self.file.to_string(),
                line,
                found,
                expected: self.cols,
            });
        }
        let n_features = if self.label.is_some() {
            self.cols - 1
        } else {
            self.cols
        };
        for (j, &field) in fields.iter().enumerate() {
            let at = Field {
                file: self.file,
                line,
                field: j + 1,
                name: column_name(self.header.as_deref(), self.cols, j + 1),
                text: field,
            };
            if j < n_features {
                self.features.push(at.finite()?);
                continue;
            }
            match &mut self.last {
                Last::Labels(labels) => labels.push(at.label()?),
                Last::Reals(values) => values.push(at.finite()?),
                Last::None => {}
            }
        }
        self.n += 1;
        Ok(())
    }

    /// The table, or an error if it has no data rows.
    pub fn finish(self) -> Result<Table, DataError> {
        if self.n == 0 {
            return Err(DataError::Empty {
                file: self.file.to_string(),
            });
        }
        Ok(Table {
            header: self.header,
            n: self.n,
            d: if self.label.is_some() {
                self.cols - 1
            } else {
                self.cols
            },
            features: self.features,
            last: self.last,
        })
    }
}

/// One field and where it is, to parse it or name it in an error.
struct Field<'t> {
    file: &'t str,
    line: usize,
    field: usize,
    name: Option<&'t str>,
    text: &'t str,
}

impl Field<'_> {
    /// A finite number.
    fn finite(&self) -> Result<f64, DataError> {
        match self.text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            Ok(_) => Err(DataError::NotFinite {
                file: self.file.to_string(),
                line: self.line,
                field: self.field,
                name: self.name.map(str::to_string),
                text: self.text.to_string(),
            }),
            Err(_) => Err(DataError::NotANumber {
                file: self.file.to_string(),
                line: self.line,
                field: self.field,
                name: self.name.map(str::to_string),
                text: self.text.to_string(),
            }),
        }
    }

    /// A class index: an integer in `0..MAX_CLASSES`, written `3` or `3.0`.
    fn label(&self) -> Result<usize, DataError> {
        parse_label(self.text).ok_or_else(|| DataError::BadLabel {
            file: self.file.to_string(),
            line: self.line,
            field: self.field,
            name: self.name.map(str::to_string),
            text: self.text.to_string(),
        })
    }
}

fn parse_label(field: &str) -> Option<usize> {
    if let Ok(v) = field.parse::<usize>() {
        return (v < MAX_CLASSES).then_some(v);
    }
    let v = field.parse::<f64>().ok()?;
    let ok = v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < MAX_CLASSES as f64;
    // Exact: v is a whole number below MAX_CLASSES.
    ok.then_some(v as usize)
}

/// Parses a table whose fields are separated by runs of whitespace (the
/// built-in diabetes files); with `label` set, the last column is read as
/// labels or targets, otherwise every column is a feature.
pub(crate) fn parse_whitespace_table(
    text: &[u8],
    file: &str,
    label: Option<LabelKind>,
) -> Result<Table, DataError> {
    let mut table = TableBuilder::new(file, label, "whitespace".to_string());
    let mut fields = Vec::new();
    for (index, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        let text = std::str::from_utf8(raw).map_err(|_| DataError::NotUtf8 {
            file: file.to_string(),
            line,
        })?;
        // Count before allocating anything for the row.
        let found = text.split_whitespace().count();
        if found == 0 {
            continue;
        }
        if found > MAX_FIELDS_PER_ROW {
            return Err(DataError::TooManyFields {
                file: file.to_string(),
                line,
                found,
                limit: MAX_FIELDS_PER_ROW,
            });
        }
        fields.clear();
        fields.extend(text.split_whitespace());
        table.push(line, &fields)?;
    }
    table.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_tables() {
        let t = parse_whitespace_table(b"1 2\t3\n  4 5 6  \r\n\n", "w", None).unwrap();
        assert_eq!((t.n, t.d), (2, 3));
        assert_eq!(t.features, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert!(t.header.is_none());
        let t = parse_whitespace_table(b"1\n2\n", "one", None).unwrap();
        assert_eq!((t.n, t.d), (2, 1));
    }

    #[test]
    fn column_names_only_from_a_header_of_names() {
        let names = ["a".to_string(), "b".to_string(), "y".to_string()];
        assert_eq!(column_name(Some(&names), 3, 3), Some("y"));
        assert_eq!(column_name(Some(&names), 4, 3), None);
        assert_eq!(column_name(Some(&names), 3, 4), None);
        assert_eq!(column_name(None, 3, 1), None);
        // scikit-learn's `150,4,setosa,versicolor,virginica` names classes.
        let sk: Vec<String> = ["150", "4", "setosa", "versicolor", "virginica"]
            .map(String::from)
            .to_vec();
        assert_eq!(column_name(Some(&sk), 5, 3), None);
    }
}
