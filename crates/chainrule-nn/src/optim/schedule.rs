//! Learning-rate schedules, evaluated per epoch (PyTorch's `StepLR` and
//! `CosineAnnealingLR` closed forms).

/// A learning-rate schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// `lr = base · γ^⌊epoch / step_size⌋`.
    Step { step_size: usize, gamma: f64 },
    /// `lr = min + (base − min)(1 + cos(π · epoch / total)) / 2`.
    Cosine { total: usize, min_lr: f64 },
}

impl Schedule {
    /// Parses `constant`, `step:SIZE:GAMMA` or `cosine[:MIN_LR]` (cosine
    /// over `epochs` epochs).
    pub fn parse(s: &str, epochs: usize) -> crate::Result<Schedule> {
        let bad = || {
            crate::Error::config(
                "schedule",
                format!("'{s}' is not constant, step:SIZE:GAMMA or cosine[:MIN_LR]"),
            )
        };
        let parts: Vec<&str> = s.trim().split(':').collect();
        let num = |t: &str| {
            t.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(bad)
        };
        match parts.as_slice() {
            ["constant"] => Ok(Schedule::Constant),
            ["step", size, gamma] => {
                let step_size = size
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(bad)?;
                let gamma = num(gamma)?;
                // A factor of 0 would silently stop learning after the
                // first SIZE epochs: refused, as PyTorch's StepLR would
                // make every later rate 0 without a word.
                if gamma == 0.0 {
                    return Err(crate::Error::config(
                        "schedule",
                        format!(
                            "'{s}': GAMMA must be greater than 0 (a factor of 0 makes \
                             every rate after the first {step_size} epochs 0)"
                        ),
                    ));
                }
                Ok(Schedule::Step { step_size, gamma })
            }
            ["cosine"] => Ok(Schedule::Cosine {
                total: epochs,
                min_lr: 0.0,
            }),
            ["cosine", min] => Ok(Schedule::Cosine {
                total: epochs,
                min_lr: num(min)?,
            }),
            _ => Err(bad()),
        }
    }

    /// The rate for `epoch` (0-based) given the base rate.
    pub fn lr_at(&self, base: f64, epoch: usize) -> f64 {
        match *self {
            Schedule::Constant => base,
            Schedule::Step { step_size, gamma } => {
                base * gamma.powi((epoch / step_size.max(1)) as i32)
            }
            Schedule::Cosine { total, min_lr } => {
                let e = epoch.min(total) as f64;
                min_lr
                    + (base - min_lr)
                        * (1.0 + (std::f64::consts::PI * e / total.max(1) as f64).cos())
                        / 2.0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_forms() {
        let s = Schedule::Step {
            step_size: 10,
            gamma: 0.5,
        };
        assert_eq!(s.lr_at(0.1, 9), 0.1);
        assert_eq!(s.lr_at(0.1, 10), 0.05);
        assert_eq!(s.lr_at(0.1, 25), 0.025);
        let c = Schedule::Cosine {
            total: 10,
            min_lr: 0.0,
        };
        assert!((c.lr_at(1.0, 0) - 1.0).abs() < 1e-15);
        assert!((c.lr_at(1.0, 5) - 0.5).abs() < 1e-15);
        assert!(c.lr_at(1.0, 10).abs() < 1e-15);
        assert_eq!(Schedule::parse("step:10:0.5", 30).unwrap(), s);
        assert_eq!(Schedule::parse("cosine", 10).unwrap(), c);
        assert!(Schedule::parse("step:0:0.5", 30).is_err());
        assert!(Schedule::parse("linear", 30)
            .unwrap_err()
            .to_string()
            .starts_with("schedule:"));
    }
}
