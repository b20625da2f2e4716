//! Summaries of a tensor's values (shape aside): what a person wants to see
//! of a large tensor, and what NaN reports quote about an operation's inputs.

use crate::float::Float;
use std::fmt;

/// Minimum, maximum, mean and L2 norm of the finite values, with counts of
/// non-finite values and zeros.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Number of values.
    pub len: usize,
    /// Smallest finite value (NaN when there is none).
    pub min: f64,
    /// Largest finite value (NaN when there is none).
    pub max: f64,
    /// Mean of the finite values (NaN when there is none).
    pub mean: f64,
    /// L2 norm of the finite values.
    pub norm: f64,
    /// Values that are NaN.
    pub nan: usize,
    /// Values that are +∞.
    pub pos_inf: usize,
    /// Values that are −∞.
    pub neg_inf: usize,
    /// Values that are exactly zero.
    pub zeros: usize,
}

impl Summary {
    /// Summarizes `values`.
    pub fn of<F: Float>(values: &[F]) -> Summary {
        let mut s = Summary {
            len: values.len(),
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            mean: 0.0,
            norm: 0.0,
            nan: 0,
            pos_inf: 0,
            neg_inf: 0,
            zeros: 0,
        };
        let (mut sum, mut sq, mut finite) = (0.0f64, 0.0f64, 0usize);
        for v in values.iter().map(|v| v.as_f64()) {
            if v.is_nan() {
                s.nan += 1;
            } else if v == f64::INFINITY {
                s.pos_inf += 1;
            } else if v == f64::NEG_INFINITY {
                s.neg_inf += 1;
            } else {
                finite += 1;
                sum += v;
                sq += v * v;
                s.min = s.min.min(v);
                s.max = s.max.max(v);
                s.zeros += usize::from(v == 0.0);
            }
        }
        if finite == 0 {
            s.min = f64::NAN;
            s.max = f64::NAN;
            s.mean = f64::NAN;
        } else {
            s.mean = sum / finite as f64;
        }
        s.norm = sq.sqrt();
        s
    }

    /// Values that are NaN or infinite.
    pub fn non_finite(&self) -> usize {
        self.nan + self.pos_inf + self.neg_inf
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "min {:.4e}, max {:.4e}, mean {:.4e}, norm {:.4e}",
            self.min, self.max, self.mean, self.norm
        )?;
        if self.zeros > 0 {
            write!(f, ", {} zero", self.zeros)?;
        }
        for (count, what) in [
            (self.nan, "NaN"),
            (self.pos_inf, "+inf"),
            (self.neg_inf, "-inf"),
        ] {
            if count > 0 {
                write!(f, ", {count} {what}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_by_hand() {
        let s = Summary::of(&[3.0f64, -4.0, 0.0, f64::NAN, f64::INFINITY]);
        assert_eq!(
            (s.len, s.min, s.max, s.zeros, s.nan, s.pos_inf),
            (5, -4.0, 3.0, 1, 1, 1)
        );
        assert!((s.mean - (-1.0 / 3.0)).abs() < 1e-15);
        assert_eq!(s.norm, 5.0);
        assert_eq!(s.non_finite(), 2);
    }
}
