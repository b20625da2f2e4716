//! Loading a data set as the command line describes it: the source, the
//! train/test split, and standardization with training statistics.

use chainrule_nn::data::{self, Dataset, LabelKind, Standardizer};
use chainrule_nn::model_io::{record, DataRecord};
use chainrule_nn::{LossKind, Result};

/// A data set ready for training or evaluation.
pub struct Prepared {
    pub train: Dataset,
    pub test: Option<Dataset>,
    pub standardizer: Option<Standardizer>,
    /// The rows loaded, before the split (a source's own test set included).
    pub rows: usize,
    /// [`record::fingerprint`] of the rows loaded.
    pub fingerprint: String,
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
        }
    }
}

/// Whether a data spec names a built-in set.
pub fn is_builtin(spec: &str) -> bool {
    !spec.starts_with("csv:") && !spec.starts_with("mnist:")
}

/// Loads `spec`, reading a CSV's last column as the loss needs it, splits
/// off a seeded test set (unless the source has its own) and, if asked,
/// standardizes features with statistics of the training part (or with
/// `given` statistics, as stored in a model file).
pub fn prepare(
    spec: &str,
    loss: Option<LossKind>,
    test_fraction: f64,
    seed: u64,
    standardize: bool,
    given: Option<Standardizer>,
) -> Result<Prepared> {
    if !(0.0..1.0).contains(&test_fraction) {
        return Err(chainrule_nn::Error::config(
            "test-fraction",
            format!("must lie in [0, 1), got {test_fraction}"),
        ));
    }
    let kind = match loss {
        Some(LossKind::Mse) => LabelKind::Real,
        _ => LabelKind::Class,
    };
    let loaded = data::load(spec, kind)?;
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
        rows,
        fingerprint,
    })
}
