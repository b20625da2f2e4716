//! The four small built-in data sets, embedded in the binary with
//! `include_bytes!` (provenance and licences in `crates/chainrule-nn/data/README.md`);
//! the gzip files are decoded at load time.
//!
//! | name | rows × features | targets |
//! |------|-----------------|---------|
//! | `digits` | 1797 × 64 (pixels 0..16) | 10 classes, `"0"`..`"9"` |
//! | `iris` | 150 × 4 | 3 classes (setosa, versicolor, virginica) |
//! | `breast-cancer` | 569 × 30 | 2 classes (malignant 0, benign 1) |
//! | `diabetes` | 442 × 10 | real (disease progression) |
//!
//! Each set's target kind is fixed; the [`LabelKind`] asked for is ignored.

use super::csv::parse_csv;
use super::table::parse_whitespace_table;
use super::{gunzip, DataError, Dataset, LabelKind, Targets, MAX_DECOMPRESSED_BYTES};

/// The names [`super::load`] accepts for the built-in sets.
pub const BUILTIN_NAMES: [&str; 4] = ["digits", "breast-cancer", "iris", "diabetes"];

const DIGITS_GZ: &[u8] = include_bytes!("../../data/digits.csv.gz");
const IRIS_CSV: &[u8] = include_bytes!("../../data/iris.csv");
const BREAST_CANCER_CSV: &[u8] = include_bytes!("../../data/breast_cancer.csv");
const DIABETES_DATA_GZ: &[u8] = include_bytes!("../../data/diabetes_data_raw.csv.gz");
const DIABETES_TARGET_GZ: &[u8] = include_bytes!("../../data/diabetes_target.csv.gz");

/// Loads a built-in set by name (`breast_cancer` is accepted for
/// `breast-cancer`), or `None` if the name is not one.
pub fn load_builtin(name: &str) -> Option<Result<Dataset, DataError>> {
    match name {
        "digits" => Some(digits()),
        "iris" => Some(csv_set(IRIS_CSV, "iris.csv (built-in)", "iris")),
        "breast-cancer" | "breast_cancer" => Some(csv_set(
            BREAST_CANCER_CSV,
            "breast_cancer.csv (built-in)",
            "breast-cancer",
        )),
        "diabetes" => Some(diabetes()),
        _ => None,
    }
}

fn csv_set(bytes: &[u8], file: &str, name: &str) -> Result<Dataset, DataError> {
    let mut ds = parse_csv(bytes, file, LabelKind::Class)?;
    ds.name = name.to_string();
    Ok(ds)
}

fn digits() -> Result<Dataset, DataError> {
    let file = "digits.csv.gz (built-in)";
    let text = gunzip(DIGITS_GZ, file, MAX_DECOMPRESSED_BYTES)?;
    let mut ds = parse_csv(&text, file, LabelKind::Class)?;
    if let Targets::Classes { classes, .. } = &mut ds.targets {
        *classes = (*classes).max(10);
        ds.class_names = (0..*classes).map(|c| c.to_string()).collect();
    }
    ds.name = "digits".to_string();
    // scikit-learn's `images`: 8×8, one channel, rows row-major.
    ds.input_shape = vec![1, 8, 8];
    Ok(ds)
}

fn diabetes() -> Result<Dataset, DataError> {
    let data_file = "diabetes_data_raw.csv.gz (built-in)";
    let target_file = "diabetes_target.csv.gz (built-in)";
    let data = gunzip(DIABETES_DATA_GZ, data_file, MAX_DECOMPRESSED_BYTES)?;
    let data = parse_whitespace_table(&data, data_file, None)?;
    let target = gunzip(DIABETES_TARGET_GZ, target_file, MAX_DECOMPRESSED_BYTES)?;
    let target = parse_whitespace_table(&target, target_file, None)?;
    if target.d != 1 {
        return Err(DataError::Invalid {
            file: target_file.to_string(),
            message: format!("expected one value a line, found {}", target.d),
        });
    }
    let values = target.features;
    if values.len() != data.n {
        return Err(DataError::Invalid {
            file: target_file.to_string(),
            message: format!(
                "{} targets for the {} rows of {data_file}",
                values.len(),
                data.n
            ),
        });
    }
    Ok(Dataset {
        name: "diabetes".to_string(),
        n: data.n,
        d: data.d,
        input_shape: vec![data.d],
        features: data.features,
        targets: Targets::Real(values),
        class_names: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::load;
    use super::*;

    #[test]
    fn digits_shape_and_classes() {
        let ds = load("digits", LabelKind::Real).unwrap().train;
        assert_eq!((ds.n, ds.d), (1797, 64));
        assert_eq!(ds.features.len(), 1797 * 64);
        assert_eq!(ds.num_classes(), Some(10));
        let counts = ds.class_counts().unwrap();
        assert_eq!(counts.len(), 10);
        assert_eq!(counts.iter().sum::<usize>(), 1797);
        assert!(counts.iter().all(|&c| c > 150), "{counts:?}");
        assert_eq!(
            ds.class_names,
            (0..10).map(|c| c.to_string()).collect::<Vec<_>>()
        );
        assert!(ds.features.iter().all(|&p| (0.0..=16.0).contains(&p)));
        assert_eq!(ds.labels().unwrap()[0], 0);
        assert_eq!(&ds.row(0)[..4], &[0.0, 0.0, 5.0, 13.0]);
        assert_eq!(ds.name, "digits");
    }

    #[test]
    fn iris_shape_and_classes() {
        let ds = load("iris", LabelKind::Class).unwrap().train;
        assert_eq!((ds.n, ds.d), (150, 4));
        assert_eq!(ds.num_classes(), Some(3));
        assert_eq!(ds.class_counts(), Some(vec![50, 50, 50]));
        assert_eq!(ds.class_names, vec!["setosa", "versicolor", "virginica"]);
        assert_eq!(ds.row(0), &[5.1, 3.5, 1.4, 0.2]);
    }

    #[test]
    fn breast_cancer_shape_and_classes() {
        let ds = load("breast-cancer", LabelKind::Class).unwrap().train;
        assert_eq!((ds.n, ds.d), (569, 30));
        assert_eq!(ds.num_classes(), Some(2));
        assert_eq!(ds.class_counts(), Some(vec![212, 357]));
        assert_eq!(ds.class_names, vec!["malignant", "benign"]);
        assert_eq!(ds.row(0)[0], 17.99);
        assert_eq!(ds.name, "breast-cancer");
        assert_eq!(load("breast_cancer", LabelKind::Class).unwrap().train, ds);
    }

    #[test]
    fn diabetes_shape_and_targets() {
        let ds = load("diabetes", LabelKind::Class).unwrap().train;
        assert_eq!((ds.n, ds.d), (442, 10));
        assert!(!ds.is_classification());
        assert!(ds.class_names.is_empty());
        assert_eq!(ds.row(0)[0], 59.0);
        assert_eq!(ds.row(0)[9], 87.0);
        match &ds.targets {
            Targets::Real(t) => {
                assert_eq!(t.len(), 442);
                assert_eq!(t[0], 151.0);
                assert_eq!(t[1], 75.0);
            }
            other => panic!("expected real targets, got {other:?}"),
        }
    }
}
