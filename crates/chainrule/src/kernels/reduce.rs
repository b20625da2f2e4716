//! Reductions along one axis, on the `(outer, size, inner)` view of a shape.

use crate::float::Float;
use crate::shape::Shape;

/// `out[o, i] = Σ_j x[o, j, i]` along `axis`.
pub fn sum_axis<F: Float>(x: &[F], shape: Shape, axis: usize, out: &mut [F]) {
    let (outer, size, inner) = shape.split_at_axis(axis);
    if size == 0 {
        out.fill(F::zero());
        return;
    }
    if inner == 1 {
        // One sum per row.
        for (o, row) in out.iter_mut().zip(x.chunks_exact(size)) {
            *o = sum_lanes(row);
        }
        return;
    }
    for o in 0..outer {
        let dst = &mut out[o * inner..(o + 1) * inner];
        dst.copy_from_slice(&x[o * size * inner..(o * size + 1) * inner]);
        for j in 1..size {
            let src = &x[(o * size + j) * inner..(o * size + j + 1) * inner];
            super::elementwise::add_assign(dst, src);
        }
    }
}

/// `Σ x`, summed in 8 interleaved lanes (element `i` into lane `i mod 8`,
/// in order), then the lanes pairwise: a contiguous row summed without
/// the latency chain of one accumulator (rounding differs from the
/// sequential sum only as any summation order does).
pub fn sum_lanes<F: Float>(x: &[F]) -> F {
    const LANES: usize = 8;
    if x.len() < 2 * LANES {
        let mut acc = F::zero();
        for &v in x {
            acc += v;
        }
        return acc;
    }
    let mut acc = [F::zero(); LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for q in 0..LANES {
            acc[q] += c[q];
        }
    }
    for (q, &v) in tail.iter().enumerate() {
        acc[q] += v;
    }
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for q in 0..width {
            acc[q] += acc[q + width];
        }
    }
    acc[0]
}

/// `out[o, i] = max_j x[o, j, i]` along `axis` (NaN propagates).
pub fn max_axis<F: Float>(x: &[F], shape: Shape, axis: usize, out: &mut [F]) {
    let (outer, size, inner) = shape.split_at_axis(axis);
    for o in 0..outer {
        for i in 0..inner {
            let mut m = F::neg_infinity();
            for j in 0..size {
                let v = x[(o * size + j) * inner + i];
                if v > m || v.is_nan() {
                    m = v;
                    if v.is_nan() {
                        break;
                    }
                }
            }
            out[o * inner + i] = m;
        }
    }
}

/// `out[o, j, i] = 1` where `j` is the first index of the maximum of
/// `x[o, :, i]`, else 0: the routing of the gradient of [`max_axis`].
pub fn argmax_mask<F: Float>(x: &[F], shape: Shape, axis: usize, out: &mut [F]) {
    let (outer, size, inner) = shape.split_at_axis(axis);
    out.fill(F::zero());
    for o in 0..outer {
        for i in 0..inner {
            let mut best = 0;
            for j in 1..size {
                if x[(o * size + j) * inner + i] > x[(o * size + best) * inner + i] {
                    best = j;
                }
            }
            if size > 0 {
                out[(o * size + best) * inner + i] = F::one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reductions() {
        let s = Shape::new(&[2, 3]).unwrap();
        let x = [1.0, 5.0, 3.0, 4.0, 2.0, 6.0];
        let mut rows = [0.0; 2];
        sum_axis(&x, s, 1, &mut rows);
        assert_eq!(rows, [9.0, 12.0]);
        let mut cols = [0.0; 3];
        sum_axis(&x, s, 0, &mut cols);
        assert_eq!(cols, [5.0, 7.0, 9.0]);
        max_axis(&x, s, 0, &mut cols);
        assert_eq!(cols, [4.0, 5.0, 6.0]);
        let mut mask = [0.0; 6];
        argmax_mask(&[2.0, 7.0, 7.0, 1.0, 0.0, 0.5], s, 1, &mut mask);
        assert_eq!(mask, [0.0, 1.0, 0.0, 1.0, 0.0, 0.0]);
    }
}
