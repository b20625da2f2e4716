//! Seeded weight initialisers (PyTorch's formulas), drawing from the
//! portable generator of [`chainrule::rng`].
//!
//! For a weight of shape `[fan_out, fan_in]` and a gain `a` (see
//! [`crate::Activation::gain`]):
//! - Xavier/Glorot uniform: `U(−b, b)`, `b = a·√(6 / (fan_in + fan_out))`
//! - Xavier/Glorot normal: `N(0, s²)`, `s = a·√(2 / (fan_in + fan_out))`
//! - Kaiming/He uniform (fan-in): `U(−b, b)`, `b = a·√(3 / fan_in)`
//! - Kaiming/He normal (fan-in): `N(0, s²)`, `s = a / √fan_in`

use crate::error::{Error, Result};
use chainrule::{Float, Tensor};

/// How to fill a weight tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    XavierUniform,
    XavierNormal,
    KaimingUniform,
    KaimingNormal,
    Zeros,
    Constant(f64),
}

impl Init {
    /// A `[fan_out, fan_in]` tensor drawn with `gain` from stream `seed`.
    pub fn weight<F: Float>(
        &self,
        fan_out: usize,
        fan_in: usize,
        gain: f64,
        seed: u64,
    ) -> Result<Tensor<F>> {
        self.tensor(&[fan_out, fan_in], fan_in, fan_out, gain, seed)
    }

    /// A tensor of any shape `dims` drawn with `gain` from stream `seed`,
    /// with the fans given (a convolution's weight `[O, C/groups, kh, kw]`
    /// has fan-in `C/groups·kh·kw` and fan-out `O·kh·kw`, as PyTorch
    /// computes them). [`Init::weight`] is this with `dims = [fan_out, fan_in]`.
    pub fn tensor<F: Float>(
        &self,
        dims: &[usize],
        fan_in: usize,
        fan_out: usize,
        gain: f64,
        seed: u64,
    ) -> Result<Tensor<F>> {
        let (fi, fo) = (fan_in.max(1) as f64, fan_out.max(1) as f64);
        let t = match *self {
            Init::XavierUniform => {
                let b = gain * (6.0 / (fi + fo)).sqrt();
                Tensor::uniform(dims, -b, b, seed)
            }
            Init::XavierNormal => Tensor::normal(dims, 0.0, gain * (2.0 / (fi + fo)).sqrt(), seed),
            Init::KaimingUniform => {
                let b = gain * (3.0 / fi).sqrt();
                Tensor::uniform(dims, -b, b, seed)
            }
            Init::KaimingNormal => Tensor::normal(dims, 0.0, gain / fi.sqrt(), seed),
            Init::Zeros => Tensor::zeros(dims),
            Init::Constant(c) => Tensor::full(dims, F::from_f64(c)),
        };
        Ok(t?)
    }

    /// Parses `xavier-uniform`, `xavier-normal`, `kaiming-uniform`,
    /// `kaiming-normal`, `zeros` or `constant:VALUE`.
    pub fn parse(s: &str) -> Result<Init> {
        Ok(
            match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
                "xavier-uniform" | "glorot-uniform" => Init::XavierUniform,
                "xavier-normal" | "glorot-normal" => Init::XavierNormal,
                "kaiming-uniform" | "he-uniform" => Init::KaimingUniform,
                "kaiming-normal" | "he-normal" => Init::KaimingNormal,
                "zeros" => Init::Zeros,
                other => match other.strip_prefix("constant:").map(str::parse::<f64>) {
                    Some(Ok(c)) if c.is_finite() => Init::Constant(c),
                    _ => return Err(Error::config("init", format!("unknown initialiser '{s}'"))),
                },
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_spread_follow_the_formulas() {
        // Kaiming uniform with ReLU gain for fan_in 50: bound √2·√(3/50).
        let w = Init::KaimingUniform
            .weight::<f64>(200, 50, 2f64.sqrt(), 7)
            .unwrap();
        let bound = 2f64.sqrt() * (3.0f64 / 50.0).sqrt();
        assert!(w.data().iter().all(|v| v.abs() <= bound));
        assert!(w.data().iter().any(|v| v.abs() > 0.9 * bound));
        // Xavier normal for 100 → 300: std √(2/400) = 0.0707.
        let w = Init::XavierNormal.weight::<f64>(300, 100, 1.0, 3).unwrap();
        let n = w.data().len() as f64;
        let var = w.data().iter().map(|v| v * v).sum::<f64>() / n;
        assert!(
            (var.sqrt() - (2.0f64 / 400.0).sqrt()).abs() < 0.003,
            "{}",
            var.sqrt()
        );
        assert!(Init::parse("bogus").is_err());
        assert_eq!(Init::parse("constant:0.5").unwrap(), Init::Constant(0.5));
    }
}
