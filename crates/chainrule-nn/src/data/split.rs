//! Seeded shuffles, train/test splits, standardisation and mini-batches.
//!
//! Everything here is a pure function of its inputs and seed, computed with
//! integer arithmetic from [`chainrule::rng::u64_at`], so a seed gives the
//! same split and batch order on every machine.

use std::ops::Range;

use super::{DataError, Dataset};

/// A seeded permutation of `0..n`: the Fisher–Yates shuffle driven by the
/// counter-based generator [`chainrule::rng::u64_at`].
///
/// Exactly: start from `p = [0, 1, ..., n - 1]`; for `i = n - 1` down to `1`,
/// let `r = u64_at(seed, i)` and `j = floor(r * (i + 1) / 2^64)` (the high
/// 64 bits of the 128-bit product, so `0 <= j <= i`), and swap `p[i]` and
/// `p[j]`. (The bias of this multiply-shift reduction is below
/// `(i + 1) / 2^64`, far below anything measurable.)
pub fn shuffled_indices(n: usize, seed: u64) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let r = chainrule::rng::u64_at(seed, i as u64);
        let j = ((u128::from(r) * (i as u128 + 1)) >> 64) as usize;
        p.swap(i, j);
    }
    p
}

/// Splits a data set into a training and a test set: the rows are shuffled
/// with [`shuffled_indices`]`(n, seed)`, the first `round(n * test_fraction)`
/// of the permutation go to the test set and the rest to the training set;
/// each part keeps the original row order.
///
/// `test_fraction` must lie in `[0, 1)`; 0 gives an empty test set (`n = 0`).
/// It is an error for the split to leave no training row, or for the set to
/// be empty.
pub fn train_test_split(
    ds: &Dataset,
    test_fraction: f64,
    seed: u64,
) -> Result<(Dataset, Dataset), DataError> {
    if !(0.0..1.0).contains(&test_fraction) {
        return Err(DataError::BadFraction {
            file: ds.name.clone(),
            fraction: test_fraction,
        });
    }
    if ds.n == 0 {
        return Err(DataError::Empty {
            file: ds.name.clone(),
        });
    }
    // Exact for any realistic n; the product is below n, so it fits.
    let n_test = (ds.n as f64 * test_fraction).round() as usize;
    if n_test >= ds.n {
        return Err(DataError::NoTrainingRows {
            file: ds.name.clone(),
            fraction: test_fraction,
            test: n_test,
            n: ds.n,
        });
    }
    let order = shuffled_indices(ds.n, seed);
    let (test_rows, train_rows) = order.split_at(n_test);
    let mut test_rows = test_rows.to_vec();
    let mut train_rows = train_rows.to_vec();
    test_rows.sort_unstable();
    train_rows.sort_unstable();
    Ok((ds.select(&train_rows), ds.select(&test_rows)))
}

/// Per-feature standardisation `x' = (x - mean) / std`, fitted on one set
/// (the training set) and applied to any set with the same features.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    /// The mean of each feature.
    pub mean: Vec<f64>,
    /// The population standard deviation of each feature (divided by `n`);
    /// 1 for a constant feature, which therefore maps to 0.
    pub std: Vec<f64>,
}

impl Standardizer {
    /// Fits the mean and population standard deviation of every feature
    /// (two passes). A constant column (every value equal) gets its value as
    /// the mean, exactly, and std 1, so it maps to exactly 0. An empty set
    /// gives mean 0 and std 1.
    pub fn fit(ds: &Dataset) -> Standardizer {
        let d = ds.d;
        let mut mean = vec![0.0; d];
        let mut std = vec![1.0; d];
        if ds.n == 0 || d == 0 {
            return Standardizer { mean, std };
        }
        let rows = || ds.features.chunks_exact(d);
        for row in rows() {
            for (m, &x) in mean.iter_mut().zip(row) {
                *m += x;
            }
        }
        for m in &mut mean {
            *m /= ds.n as f64;
        }
        let mut var = vec![0.0; d];
        let mut constant = vec![true; d];
        let first = ds.features.get(..d).unwrap_or(&[]);
        for row in rows() {
            for j in 0..d {
                let x = row[j];
                var[j] += (x - mean[j]) * (x - mean[j]);
                constant[j] &= x == first[j];
            }
        }
        for j in 0..d {
            let s = (var[j] / ds.n as f64).sqrt();
            if constant[j] {
                mean[j] = first[j];
            } else if s > 0.0 && s.is_finite() {
                std[j] = s;
            }
        }
        Standardizer { mean, std }
    }

    /// Standardises a data set in place. It must have as many features as
    /// the set the standardiser was fitted on.
    pub fn apply(&self, ds: &mut Dataset) -> Result<(), DataError> {
        if ds.d != self.mean.len() || ds.d != self.std.len() {
            return Err(DataError::Invalid {
                file: ds.name.clone(),
                message: format!(
                    "has {} features, but the standardizer was fitted on {}",
                    ds.d,
                    self.mean.len()
                ),
            });
        }
        if ds.d == 0 {
            return Ok(());
        }
        for row in ds.features.chunks_exact_mut(ds.d) {
            self.apply_row(row);
        }
        Ok(())
    }

    /// Standardises one row in place (features beyond the fitted count, if
    /// any, are left as they are).
    pub fn apply_row(&self, row: &mut [f64]) {
        for ((x, &m), &s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
            *x = (*x - m) / s;
        }
    }
}

/// The index ranges of consecutive mini-batches over `n` items: `0..b`,
/// `b..2b`, ..., the last one partial if `b` does not divide `n`. A batch
/// size of 0 means one batch of everything (full batch). `n = 0` gives no
/// batches.
pub fn batch_ranges(n: usize, batch_size: usize) -> Vec<Range<usize>> {
    let b = if batch_size == 0 {
        n.max(1)
    } else {
        batch_size
    };
    (0..n.div_ceil(b))
        .map(|k| k * b..((k + 1) * b).min(n))
        .collect()
}

/// The row indices of each mini-batch: consecutive chunks of `order` (a
/// permutation from [`shuffled_indices`], say), or of `0..n` when `order`
/// is `None`; the last chunk is partial if `batch_size` does not divide the
/// count. With `order`, only its first `min(n, order.len())` entries are
/// used. A batch size of 0 means one batch of everything.
pub fn batches(n: usize, batch_size: usize, order: Option<&[usize]>) -> Vec<Vec<usize>> {
    match order {
        Some(order) => {
            let order = order.get(..n).unwrap_or(order);
            batch_ranges(order.len(), batch_size)
                .into_iter()
                .map(|r| order.get(r).unwrap_or(&[]).to_vec())
                .collect()
        }
        None => batch_ranges(n, batch_size)
            .into_iter()
            .map(|r| r.collect())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{LabelKind, Targets};
    use super::*;

    fn toy(n: usize) -> Dataset {
        Dataset::new(
            "toy",
            2,
            (0..2 * n).map(|v| v as f64).collect(),
            Targets::Classes {
                labels: (0..n).map(|i| i % 3).collect(),
                classes: 3,
            },
            Vec::new(),
        )
        .unwrap()
    }

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let p = shuffled_indices(100, 42);
        let mut sorted = p.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_eq!(p, shuffled_indices(100, 42));
        assert_ne!(p, shuffled_indices(100, 43));
        assert_ne!(p, sorted);
        assert!(shuffled_indices(0, 1).is_empty());
        assert_eq!(shuffled_indices(1, 1), vec![0]);
        // The documented algorithm, step by step, for n = 3.
        let mut q = vec![0, 1, 2];
        for i in [2usize, 1] {
            let r = chainrule::rng::u64_at(9, i as u64);
            let j = ((r as u128 * (i as u128 + 1)) >> 64) as usize;
            q.swap(i, j);
        }
        assert_eq!(shuffled_indices(3, 9), q);
    }

    #[test]
    fn split_sizes_disjoint_and_deterministic() {
        let ds = toy(10);
        let (train, test) = train_test_split(&ds, 0.25, 5).unwrap();
        assert_eq!((train.n, test.n), (7, 3)); // round(2.5) = 3
        assert_eq!(train.features.len(), 14);
        // Rows are identified by their first feature (2 * original index).
        let ids =
            |d: &Dataset| -> Vec<usize> { (0..d.n).map(|i| d.row(i)[0] as usize / 2).collect() };
        let mut all = ids(&train);
        all.extend(ids(&test));
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        for (i, &id) in ids(&test).iter().enumerate() {
            assert_eq!(test.labels().unwrap()[i], id % 3);
        }
        let (train2, test2) = train_test_split(&ds, 0.25, 5).unwrap();
        assert_eq!((train, test), (train2, test2));
        let (_, test3) = train_test_split(&ds, 0.25, 6).unwrap();
        assert_eq!(test3.n, 3);
    }

    #[test]
    fn split_edge_cases() {
        let ds = toy(4);
        let (train, test) = train_test_split(&ds, 0.0, 1).unwrap();
        assert_eq!((train.n, test.n), (4, 0));
        assert!(test.features.is_empty() && test.targets.is_empty());
        assert_eq!(test.num_classes(), Some(3));
        let (train, test) = train_test_split(&ds, 0.7, 1).unwrap();
        assert_eq!((train.n, test.n), (1, 3));
        let err = train_test_split(&ds, 0.9, 1).unwrap_err(); // round(3.6) = 4
        assert!(
            matches!(err, DataError::NoTrainingRows { test: 4, n: 4, .. }),
            "{err}"
        );
        for bad in [1.0, -0.1, f64::NAN, f64::INFINITY] {
            let err = train_test_split(&ds, bad, 1).unwrap_err();
            assert!(matches!(err, DataError::BadFraction { .. }), "{err}");
            assert!(err.to_string().starts_with("toy: "), "{err}");
        }
        let iris = super::super::load("iris", LabelKind::Class).unwrap().train;
        let (train, test) = train_test_split(&iris, 0.2, 0).unwrap();
        assert_eq!((train.n, test.n), (120, 30));
    }

    #[test]
    fn standardizer_by_hand() {
        // Column 0: 1, 2, 6 -> mean 3, population var (4 + 1 + 9) / 3.
        // Column 1: constant 0.1 -> mean 0.1, std 1, maps to 0.
        // Column 2: -1, 0, 1 -> mean 0, var 2 / 3.
        let ds = Dataset::new(
            "s",
            3,
            vec![1.0, 0.1, -1.0, 2.0, 0.1, 0.0, 6.0, 0.1, 1.0],
            Targets::Real(vec![0.0; 3]),
            Vec::new(),
        )
        .unwrap();
        let s = Standardizer::fit(&ds);
        let std0 = (14.0f64 / 3.0).sqrt();
        let std2 = (2.0f64 / 3.0).sqrt();
        assert!((s.mean[0] - 3.0).abs() < 1e-15 && (s.std[0] - std0).abs() < 1e-15);
        assert_eq!((s.mean[1], s.std[1]), (0.1, 1.0));
        assert!(s.mean[2].abs() < 1e-15 && (s.std[2] - std2).abs() < 1e-15);
        let mut t = ds.clone();
        s.apply(&mut t).unwrap();
        let expect = [
            -2.0 / std0,
            0.0,
            -1.0 / std2,
            -1.0 / std0,
            0.0,
            0.0,
            3.0 / std0,
            0.0,
            1.0 / std2,
        ];
        for (a, b) in t.features.iter().zip(expect) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        // The result has mean 0 and population std 1 in the varying columns.
        for j in [0, 2] {
            let col: Vec<f64> = (0..3).map(|i| t.row(i)[j]).collect();
            let m = col.iter().sum::<f64>() / 3.0;
            let v = col.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / 3.0;
            assert!(m.abs() < 1e-12 && (v - 1.0).abs() < 1e-12, "{m} {v}");
        }
        let mut wrong = toy(2);
        assert!(matches!(
            s.apply(&mut wrong),
            Err(DataError::Invalid { .. })
        ));
        let empty = Standardizer::fit(&ds.select(&[]));
        assert_eq!((empty.mean, empty.std), (vec![0.0; 3], vec![1.0; 3]));
    }

    #[test]
    fn batching() {
        assert_eq!(batch_ranges(10, 4), vec![0..4, 4..8, 8..10]);
        assert_eq!(batch_ranges(8, 4), vec![0..4, 4..8]);
        assert_eq!(batch_ranges(3, 0), vec![0..3]);
        assert!(batch_ranges(0, 4).is_empty());
        assert_eq!(batches(5, 2, None), vec![vec![0, 1], vec![2, 3], vec![4]]);
        let order = [4, 2, 0, 1, 3];
        assert_eq!(batches(5, 3, Some(&order)), vec![vec![4, 2, 0], vec![1, 3]]);
        assert_eq!(batches(2, 3, Some(&order)), vec![vec![4, 2]]);
        assert_eq!(batches(9, 5, Some(&order)), vec![order.to_vec()]);
    }
}
