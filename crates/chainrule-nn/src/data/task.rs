//! Telling a regression target from class labels, for a CSV file read with
//! [`LabelKind::Auto`](super::LabelKind::Auto).
//!
//! The rule, in the spirit of scikit-learn's `type_of_target` (which calls
//! a float column with non-integer values continuous and a column of a few
//! whole numbers multiclass), made stricter so that a whole-number
//! regression target (the diabetes target: 214 distinct values from 25 to
//! 346 in 442 rows) is never read as hundreds of classes:
//!
//! The target column is read as **class labels** when every value is a
//! whole number, none is negative, the distinct values are the class
//! indices `0..K−1` (or `1..K`, class 0 then unused) with no gaps, there are
//! at most [`AUTO_MAX_CLASSES`] of them, and, beyond two classes, at least
//! two rows per class on average. Otherwise it is a **regression** target.
//! Every decision comes with its reason in words; the command line prints it
//! and `--task` overrides it.

use super::Targets;

/// The most distinct values that `--task auto` reads as classes; a column
/// with more is a regression target unless classification is asked for.
pub const AUTO_MAX_CLASSES: usize = 100;

/// The targets read from the values of a target column, and why.
#[derive(Debug)]
pub(crate) struct Decision {
    /// Class labels or real targets.
    pub targets: Targets,
    /// Why, in words: `target column 'y' has 214 distinct values in 442 rows, …`.
    pub reason: String,
}

/// Decides between regression and classification for the (finite) values
/// of a target column, described by `column` (`target column 'y'`).
pub(crate) fn decide(values: Vec<f64>, column: &str) -> Decision {
    let n = values.len();
    let regression = |values: Vec<f64>, reason: String| Decision {
        targets: Targets::Real(values),
        reason,
    };
    if let Some(v) = values.iter().find(|v| v.fract() != 0.0) {
        return regression(
            values.clone(),
            format!("{column} has non-integer values (such as {v})"),
        );
    }
    if let Some(v) = values.iter().find(|v| **v < 0.0) {
        return regression(
            values.clone(),
            format!("{column} has negative values (such as {v}), which are not class indices"),
        );
    }
    let mut distinct = values.clone();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    let d = distinct.len();
    let (lo, hi) = (distinct[0], distinct[d - 1]);
    let counted = format!("{column} has {d} distinct values in {n} rows");
    if d > AUTO_MAX_CLASSES {
        return regression(
            values,
            format!("{counted}, more than the {AUTO_MAX_CLASSES} classes read as classification"),
        );
    }
    // d ≤ 100 distinct whole numbers ≥ 0: no gaps means hi = d − 1 (from 0)
    // or hi = d (from 1).
    let from_zero = lo == 0.0 && hi == (d - 1) as f64;
    let from_one = lo == 1.0 && hi == d as f64;
    if !(from_zero || from_one) {
        return regression(
            values,
            format!(
                "{counted}, whole numbers from {lo} to {hi} with gaps, not class indices 0 to K-1"
            ),
        );
    }
    if d > 2 && 2 * d > n {
        return regression(values, format!("{counted}, fewer than two rows per class"));
    }
    // Exact: whole numbers from 0 to at most AUTO_MAX_CLASSES.
    let labels: Vec<usize> = values.iter().map(|&v| v as usize).collect();
    let classes = hi as usize + 1;
    let reason = if from_zero {
        format!("{counted}, the class indices 0 to {hi}")
    } else {
        format!("{counted}, the class indices 1 to {hi} (class 0 unused)")
    };
    Decision {
        targets: Targets::Classes { labels, classes },
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(values: &[f64]) -> (bool, String) {
        let d = decide(values.to_vec(), "target column 'y'");
        (matches!(d.targets, Targets::Classes { .. }), d.reason)
    }

    #[test]
    fn the_rule_case_by_case() {
        // Class indices 0..2, two rows each or more.
        let (class, why) = task(&[0.0, 1.0, 2.0, 2.0, 1.0, 0.0]);
        assert!(class, "{why}");
        assert_eq!(
            why,
            "target column 'y' has 3 distinct values in 6 rows, the class indices 0 to 2"
        );
        // 1-based labels.
        let (class, why) = task(&[1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
        assert!(class && why.ends_with("1 to 3 (class 0 unused)"), "{why}");
        // Binary, even in two rows.
        assert!(task(&[0.0, 1.0]).0);
        // Not whole numbers.
        let (class, why) = task(&[0.0, 1.5, 2.0]);
        assert!(!class);
        assert_eq!(
            why,
            "target column 'y' has non-integer values (such as 1.5)"
        );
        // Negative.
        let (class, why) = task(&[-1.0, 1.0, 1.0, -1.0]);
        assert!(
            !class && why.contains("negative values (such as -1)"),
            "{why}"
        );
        // Gaps: 0, 1, 3.
        let (class, why) = task(&[0.0, 1.0, 3.0, 0.0, 1.0, 3.0]);
        assert!(!class && why.contains("from 0 to 3 with gaps"), "{why}");
        // Too many classes for the rows: 3 classes in 5 rows.
        let (class, why) = task(&[0.0, 1.0, 2.0, 0.0, 1.0]);
        assert!(
            !class && why.ends_with("fewer than two rows per class"),
            "{why}"
        );
        // 101 classes, 10 rows each: over the cap.
        let many: Vec<f64> = (0..1010).map(|i| (i % 101) as f64).collect();
        let (class, why) = task(&many);
        assert!(!class);
        assert_eq!(
            why,
            "target column 'y' has 101 distinct values in 1010 rows, \
             more than the 100 classes read as classification"
        );
        // 100 classes, 10 rows each: classification.
        let hundred: Vec<f64> = (0..1000).map(|i| (i % 100) as f64).collect();
        assert!(task(&hundred).0);
    }
}
