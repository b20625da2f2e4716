//! Loading a data set as the command line describes it: the source, how to
//! read a CSV file (`--task`, `--delimiter`), the train/test split, and
//! standardization with training statistics.
//!
//! The task (regression or classification) of a CSV file comes from, in
//! order: `--task regression|classification`; the loss (`mse` is
//! regression's, `bce` and `cce` are classification's); otherwise the
//! values of the target column (`data::task`: few class indices without
//! gaps are labels, anything else a real target). A `--task` that
//! contradicts the loss is refused, and so is one that contradicts a
//! built-in set's or MNIST's own targets.

use chainrule_nn::data::{self, CsvOptions, Dataset, LabelKind, Standardizer};
use chainrule_nn::model_io::{record, DataRecord};
use chainrule_nn::{Error, LossKind, Result};
use std::path::Path;

/// A data set ready for training or evaluation.
pub struct Prepared {
    pub train: Dataset,
    pub test: Option<Dataset>,
    pub standardizer: Option<Standardizer>,
    /// The task chosen and why: `task regression (auto: target column 'y'
    /// has non-integer values (such as 0.5); --task classification to
    /// override)`.
    pub task: String,
    /// The rows loaded, before the split (a source's own test set included).
    pub rows: usize,
    /// [`record::fingerprint`] of the rows loaded.
    pub fingerprint: String,
    /// The `--delimiter` the data was read with (`None`: detected).
    pub delimiter: Option<String>,
}

impl Prepared {
    /// What a model file records about this data: `spec` split with `seed`
    /// and `test_fraction`.
    pub fn record(&self, spec: &str, seed: u64, test_fraction: f64) -> DataRecord {
        DataRecord {
            spec: spec.to_string(),
            seed,
            test_fraction,
            standardized: self.standardizer.is_some(),
            rows: self.rows,
            fingerprint: self.fingerprint.clone(),
            class_names: self.train.class_names.clone(),
            delimiter: self.delimiter.clone(),
        }
    }
}

/// The `--task` flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Decided by the loss or the target column's values.
    Auto,
    /// Real-valued targets.
    Regression,
    /// Class labels.
    Classification,
}

impl Task {
    /// Parses `auto`, `regression` or `classification`.
    pub fn parse(s: &str) -> Result<Task> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Task::Auto),
            "regression" => Ok(Task::Regression),
            "classification" => Ok(Task::Classification),
            other => Err(Error::config(
                "task",
                format!("unknown task '{other}' (expected auto, regression or classification)"),
            )),
        }
    }
}

/// The flags that say how to read a data set's targets and fields.
#[derive(Clone, Debug)]
pub struct Reading {
    /// `--task`: auto, regression or classification.
    pub task: String,
    /// `--delimiter` (CSV files only).
    pub delimiter: Option<String>,
}

impl Reading {
    /// The reading of a model's data: `--task` as given, `--delimiter` if
    /// given, else the one the model file records.
    pub fn for_model(task: &str, delimiter: Option<&str>, record: Option<&DataRecord>) -> Reading {
        Reading {
            task: task.to_string(),
            delimiter: delimiter
                .map(str::to_string)
                .or_else(|| record.and_then(|r| r.delimiter.clone())),
        }
    }
}

/// The data a saved model is measured on: `--data` if given (a path made
/// absolute, as records hold it), else the data its file records; `hint`
/// ends the error when neither is there.
pub fn model_data(
    data: Option<&str>,
    record: Option<&DataRecord>,
    model: &Path,
    hint: &str,
) -> Result<String> {
    match (data, record) {
        (Some(spec), _) => Ok(absolute_spec(spec)),
        (None, Some(r)) => Ok(r.spec.clone()),
        (None, None) => Err(Error::config(
            "data",
            format!(
                "{} does not record the data it was trained on (written by an older \
                 chainrule or by another program): give --data{hint}",
                model.display()
            ),
        )),
    }
}

/// `spec` with a relative `csv:`/`mnist:` path made absolute (when it
/// exists), so that a model file's record names the data wherever `eval`
/// runs, and two spellings of one file compare equal.
pub fn absolute_spec(spec: &str) -> String {
    for prefix in ["csv:", "mnist:"] {
        if let Some(path) = spec.strip_prefix(prefix) {
            return match std::fs::canonicalize(path) {
                Ok(abs) => format!("{prefix}{}", abs.display()),
                Err(_) => spec.to_string(),
            };
        }
    }
    spec.to_string()
}

/// Whether a data spec names a built-in set.
pub fn is_builtin(spec: &str) -> bool {
    !spec.starts_with("csv:") && !spec.starts_with("mnist:")
}

fn task_name(classification: bool) -> &'static str {
    if classification {
        "classification"
    } else {
        "regression"
    }
}

/// Loads `spec`, reading a CSV's last column as `--task`, the loss or its
/// values say, splits off a seeded test set (unless the source has its own)
/// and, if asked, standardizes features with statistics of the training
/// part (or with `given` statistics, as stored in a model file).
pub fn prepare(
    spec: &str,
    loss: Option<LossKind>,
    reading: &Reading,
    test_fraction: f64,
    seed: u64,
    standardize: bool,
    given: Option<Standardizer>,
) -> Result<Prepared> {
    if !(0.0..1.0).contains(&test_fraction) {
        return Err(Error::config(
            "test-fraction",
            format!("must lie in [0, 1), got {test_fraction}"),
        ));
    }
    let (loaded, task) = load(spec, loss, reading)?;
    let fingerprint = record::fingerprint(&loaded.train, loaded.test.as_ref());
    let rows = loaded.train.n + loaded.test.as_ref().map_or(0, |t| t.n);
    let (mut train, mut test) = match loaded.test {
        Some(test) => (loaded.train, Some(test)),
        None if test_fraction > 0.0 => {
            let (tr, te) = data::train_test_split(&loaded.train, test_fraction, seed)?;
            (tr, Some(te))
        }
        None => (loaded.train, None),
    };
    let standardizer = match (standardize, given) {
        (_, Some(s)) => Some(s),
        (true, None) => Some(Standardizer::fit(&train)),
        (false, None) => None,
    };
    if let Some(s) = &standardizer {
        s.apply(&mut train)?;
        if let Some(t) = test.as_mut() {
            s.apply(t)?;
        }
    }
    Ok(Prepared {
        train,
        test,
        standardizer,
        task,
        rows,
        fingerprint,
        delimiter: reading.delimiter.clone(),
    })
}

/// Loads `spec` as `reading` and the loss say; returns the data and the
/// task line.
fn load(
    spec: &str,
    loss: Option<LossKind>,
    reading: &Reading,
) -> Result<(data::LoadedData, String)> {
    let task = Task::parse(&reading.task)?;
    match (task, loss) {
        (Task::Regression, Some(k @ (LossKind::Bce | LossKind::Cce))) => {
            return Err(Error::config(
                "task",
                format!(
                    "--task regression contradicts the loss {}, a classification loss: \
                     use --loss mse (or auto) for regression, or --task classification",
                    k.name()
                ),
            ))
        }
        (Task::Classification, Some(LossKind::Mse)) => {
            return Err(Error::config(
                "task",
                "--task classification contradicts the loss mse, the regression loss: \
                 use --loss bce or cce (or auto) for classification, or --task regression",
            ))
        }
        _ => {}
    }
    let delimiter = reading
        .delimiter
        .as_deref()
        .map(|d| data::csv::parse_delimiter(d).map_err(|m| Error::config("delimiter", m)))
        .transpose()?;
    if !spec.starts_with("csv:") {
        if delimiter.is_some() {
            return Err(Error::config(
                "delimiter",
                format!("--delimiter applies to csv: files, not {spec}"),
            ));
        }
        let loaded = data::load(spec, LabelKind::Class)?;
        let set = &loaded.train;
        let classification = set.is_classification();
        let what = if is_builtin(spec) { spec } else { "MNIST" };
        let why = match set.num_classes() {
            Some(k) => format!("{what} is a classification set with {k} classes"),
            None => format!("{what} is a regression set"),
        };
        let wanted = match task {
            Task::Auto => None,
            Task::Regression => Some(false),
            Task::Classification => Some(true),
        };
        if let Some(wanted) = wanted.filter(|&w| w != classification) {
            return Err(Error::config(
                "task",
                format!(
                    "--task {} does not fit {spec}: {why}; --task says how to read \
                     the last column of a csv: file",
                    task_name(wanted)
                ),
            ));
        }
        let line = format!("task {} ({why})", task_name(classification));
        return Ok((loaded, line));
    }
    let (kind, given) = match (task, loss) {
        (Task::Regression, _) => (LabelKind::Real, Some("--task regression".to_string())),
        (Task::Classification, _) => (LabelKind::Class, Some("--task classification".into())),
        (Task::Auto, Some(LossKind::Mse)) => (LabelKind::Real, Some("--loss mse".into())),
        (Task::Auto, Some(k)) => (LabelKind::Class, Some(format!("--loss {}", k.name()))),
        (Task::Auto, None) => (LabelKind::Auto, None),
    };
    let loaded = data::load_with(
        spec,
        &CsvOptions {
            target: kind,
            delimiter,
        },
    )?;
    let classification = loaded.train.is_classification();
    let why = match (given, &loaded.task_reason) {
        (Some(given), _) => given,
        (None, Some(reason)) => format!(
            "auto: {reason}; --task {} to override",
            task_name(!classification)
        ),
        (None, None) => "auto".to_string(),
    };
    Ok((
        loaded,
        format!("task {} ({why})", task_name(classification)),
    ))
}
