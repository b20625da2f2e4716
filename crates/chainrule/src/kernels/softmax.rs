//! Numerically stable softmax and log-softmax along one axis: the maximum is
//! subtracted before exponentiating, so logits of ±1e4 give finite results.

use crate::float::Float;
use crate::shape::Shape;

/// `out = exp(x - m) / Σ exp(x - m)` along `axis`, `m` the maximum.
pub fn softmax_axis<F: Float>(x: &[F], shape: Shape, axis: usize, out: &mut [F]) {
    let (outer, size, inner) = shape.split_at_axis(axis);
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| (o * size + j) * inner + i;
            let m = (0..size).fold(F::neg_infinity(), |m, j| m.max(x[at(j)]));
            let mut total = F::zero();
            for j in 0..size {
                let e = (x[at(j)] - m).exp();
                out[at(j)] = e;
                total += e;
            }
            for j in 0..size {
                out[at(j)] /= total;
            }
        }
    }
}

/// `out = x - m - log Σ exp(x - m)` along `axis`, `m` the maximum.
pub fn log_softmax_axis<F: Float>(x: &[F], shape: Shape, axis: usize, out: &mut [F]) {
    let (outer, size, inner) = shape.split_at_axis(axis);
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| (o * size + j) * inner + i;
            let m = (0..size).fold(F::neg_infinity(), |m, j| m.max(x[at(j)]));
            let total: F = (0..size).map(|j| (x[at(j)] - m).exp()).sum();
            // (x − m) − ln Σ rather than x − (m + ln Σ): no cancellation
            // between two large numbers at logits of ±1e4.
            let log_sum = total.ln();
            for j in 0..size {
                out[at(j)] = (x[at(j)] - m) - log_sum;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_at_extreme_logits() {
        let s = Shape::new(&[1, 3]).unwrap();
        let mut p = [0.0f64; 3];
        softmax_axis(&[1e4, 0.0, -1e4], s, 1, &mut p);
        assert_eq!(p, [1.0, 0.0, 0.0]);
        let mut lp = [0.0f64; 3];
        log_softmax_axis(&[1e4, 0.0, -1e4], s, 1, &mut lp);
        assert_eq!(lp, [0.0, -1e4, -2e4]);
        // Equal logits: log(1/3) by hand.
        log_softmax_axis(&[5.0, 5.0, 5.0], s, 1, &mut lp);
        for v in lp {
            assert!((v - (1.0f64 / 3.0).ln()).abs() < 1e-15);
        }
    }
}
