//! Moving elements between layouts: permutation, broadcasting, the sum that
//! undoes broadcasting, and copies of slabs along one axis (slice, pad,
//! concatenate).

use crate::float::Float;
use crate::shape::{Shape, MAX_RANK};

/// Calls `f(i, offset)` for every element `i` (row-major) of `shape`, where
/// `offset = Σ index[d] * strides[d]`, updated incrementally.
#[inline]
fn for_each_strided(shape: Shape, strides: &[usize; MAX_RANK], mut f: impl FnMut(usize, usize)) {
    let dims = shape.dims();
    let rank = dims.len();
    let n = shape.numel();
    if n == 0 {
        return;
    }
    let mut index = [0usize; MAX_RANK];
    let mut offset = 0usize;
    for i in 0..n {
        f(i, offset);
        // Odometer increment from the innermost dimension.
        let mut d = rank;
        while d > 0 {
            d -= 1;
            index[d] += 1;
            offset += strides[d];
            if index[d] < dims[d] {
                break;
            }
            offset -= strides[d] * dims[d];
            index[d] = 0;
        }
    }
}

/// `out = permute(x, perm)`: output dimension `d` is input dimension
/// `perm[d]`; `out_shape` is the permuted shape.
pub fn permute<F: Float>(
    x: &[F],
    in_shape: Shape,
    out_shape: Shape,
    perm: &[usize],
    out: &mut [F],
) {
    if perm == [1, 0] {
        let d = in_shape.dims();
        super::transpose::transpose(x, d[0], d[1], out);
        return;
    }
    let in_strides = in_shape.strides();
    let mut strides = [0; MAX_RANK];
    for (d, &p) in perm.iter().enumerate() {
        strides[d] = in_strides[p];
    }
    for_each_strided(out_shape, &strides, |i, off| out[i] = x[off]);
}

/// How a broadcast from one shape to another lays out in memory, for the
/// two patterns that cover bias terms and per-row scalars.
enum Pattern {
    /// `x` repeats whole: `to` = `[outer…] + from` (a bias row).
    Repeat,
    /// Each element of `x` repeats `n` times in a row: `[m, 1] → [m, n]`.
    Spread(usize),
    /// Anything else: the general strided walk.
    General,
}

fn pattern(from: Shape, to: Shape) -> Pattern {
    let (f, t) = (from.dims(), to.dims());
    // Leading ones of `from` do not change the memory layout.
    let first = f.iter().position(|&d| d != 1).unwrap_or(f.len());
    let core = &f[first..];
    if t.ends_with(core) {
        return Pattern::Repeat;
    }
    if let (Some((&1, lead)), Some((&n, t_lead))) = (core.split_last(), t.split_last()) {
        if t_lead.ends_with(lead) && t_lead[..t_lead.len() - lead.len()].iter().all(|&d| d == 1) {
            return Pattern::Spread(n);
        }
    }
    Pattern::General
}

/// `out = broadcast(x)` from `from` to `to` (which `from` broadcasts to).
pub fn broadcast<F: Float>(x: &[F], from: Shape, to: Shape, out: &mut [F]) {
    if from.numel() == to.numel() {
        out.copy_from_slice(x);
        return;
    }
    match pattern(from, to) {
        Pattern::Repeat if !x.is_empty() => out
            .chunks_exact_mut(x.len())
            .for_each(|row| row.copy_from_slice(x)),
        Pattern::Spread(n) if n > 0 => out
            .chunks_exact_mut(n)
            .zip(x)
            .for_each(|(row, &v)| row.fill(v)),
        _ if out.is_empty() => {}
        _ => {
            let (runs, count) = runs(from, to);
            broadcast_runs(&runs[..count], x, out);
        }
    }
}

/// `to`'s dimensions (those above 1) merged into runs of neighbours that
/// are alike: `(length, kept)`, kept where `from` has the same size there,
/// broadcast where `from` has 1 or no dimension. Memory order, outermost
/// first; the number of runs is returned with them.
fn runs(from: Shape, to: Shape) -> ([(usize, bool); MAX_RANK], usize) {
    let (f, t) = (from.dims(), to.dims());
    let lead = t.len() - f.len();
    let mut out = [(1usize, false); MAX_RANK];
    let mut count = 0;
    for (d, &len) in t.iter().enumerate() {
        if len == 1 {
            continue;
        }
        let kept = d >= lead && f[d - lead] == len;
        if count > 0 && out[count - 1].1 == kept {
            out[count - 1].0 *= len;
        } else {
            out[count] = (len, kept);
            count += 1;
        }
    }
    (out, count)
}

/// [`broadcast`] over the runs of [`runs`]: whole rows copied or filled
/// at the innermost run. Writes every element of `out` in row-major order,
/// as the general strided walk does.
fn broadcast_runs<F: Float>(runs: &[(usize, bool)], x: &[F], out: &mut [F]) {
    let Some((&(len, kept), rest)) = runs.split_first() else {
        out.copy_from_slice(&x[..out.len()]);
        return;
    };
    if rest.is_empty() {
        if kept {
            out.copy_from_slice(&x[..len]);
        } else {
            out.fill(x[0]);
        }
        return;
    }
    let out_inner = out.len() / len;
    let x_inner = if kept { x.len() / len } else { x.len() };
    for (i, dst) in out.chunks_exact_mut(out_inner).enumerate() {
        let src = if kept {
            &x[i * x_inner..(i + 1) * x_inner]
        } else {
            x
        };
        broadcast_runs(rest, src, dst);
    }
}

/// The adjoint of [`broadcast_runs`]: `out` (cleared by the caller) gets
/// each element of `x` added, row by row in `x`'s row-major order; a row
/// summed into one element is summed in lanes first (see
/// [`super::reduce::sum_lanes`]).
fn sum_runs<F: Float>(runs: &[(usize, bool)], x: &[F], out: &mut [F]) {
    let Some((&(len, kept), rest)) = runs.split_first() else {
        for (o, &v) in out.iter_mut().zip(x) {
            *o += v;
        }
        return;
    };
    if rest.is_empty() {
        if kept {
            for (o, &v) in out.iter_mut().zip(&x[..len]) {
                *o += v;
            }
        } else {
            out[0] += super::reduce::sum_lanes(&x[..len]);
        }
        return;
    }
    let x_inner = x.len() / len;
    let out_inner = if kept { out.len() / len } else { out.len() };
    for (i, src) in x.chunks_exact(x_inner).enumerate() {
        let dst = if kept {
            &mut out[i * out_inner..(i + 1) * out_inner]
        } else {
            &mut *out
        };
        sum_runs(rest, src, dst);
    }
}

/// `out = sum of x over the dimensions broadcast from `to` to `from``: the
/// adjoint of [`broadcast`].
pub fn sum_to<F: Float>(x: &[F], from: Shape, to: Shape, out: &mut [F]) {
    if from.numel() == to.numel() {
        out.copy_from_slice(x);
        return;
    }
    out.fill(F::zero());
    match pattern(to, from) {
        Pattern::Repeat if !out.is_empty() => {
            let n = out.len();
            x.chunks_exact(n)
                .for_each(|row| super::elementwise::add_assign(out, row));
        }
        Pattern::Spread(n) if n > 0 => out
            .iter_mut()
            .zip(x.chunks_exact(n))
            .for_each(|(o, row)| *o = row.iter().copied().sum()),
        _ if x.is_empty() => {}
        _ => {
            let (runs, count) = runs(to, from);
            sum_runs(&runs[..count], x, out);
        }
    }
}

/// Copies the slab `start..start+len` along `axis` of `x` into `out`.
pub fn slice_axis<F: Float>(
    x: &[F],
    shape: Shape,
    axis: usize,
    start: usize,
    len: usize,
    out: &mut [F],
) {
    let (outer, size, inner) = shape.split_at_axis(axis);
    for o in 0..outer {
        let src = &x[(o * size + start) * inner..(o * size + start + len) * inner];
        out[o * len * inner..(o + 1) * len * inner].copy_from_slice(src);
    }
}

/// Writes `x` (whose `axis` has size `len`) into the slab `start..start+len`
/// of `out` (whose `axis` has size `size`), zero elsewhere: the adjoint of
/// [`slice_axis`].
pub fn pad_axis<F: Float>(
    x: &[F],
    out_shape: Shape,
    axis: usize,
    start: usize,
    len: usize,
    out: &mut [F],
) {
    out.fill(F::zero());
    let (outer, size, inner) = out_shape.split_at_axis(axis);
    for o in 0..outer {
        let dst = &mut out[(o * size + start) * inner..(o * size + start + len) * inner];
        dst.copy_from_slice(&x[o * len * inner..(o + 1) * len * inner]);
    }
}

/// `out = concat(a, b)` along `axis`; `a_len` and `b_len` are their sizes
/// along it, `outer` and `inner` the products of the other dimensions.
pub fn concat_axis<F: Float>(
    a: &[F],
    b: &[F],
    outer: usize,
    inner: usize,
    a_len: usize,
    b_len: usize,
    out: &mut [F],
) {
    let (na, nb) = (a_len * inner, b_len * inner);
    for o in 0..outer {
        let dst = &mut out[o * (na + nb)..(o + 1) * (na + nb)];
        dst[..na].copy_from_slice(&a[o * na..(o + 1) * na]);
        dst[na..].copy_from_slice(&b[o * nb..(o + 1) * nb]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(d: &[usize]) -> Shape {
        Shape::new(d).unwrap()
    }

    #[test]
    fn permute_transposes() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut out = [0.0; 6];
        permute(&x, s(&[2, 3]), s(&[3, 2]), &[1, 0], &mut out);
        assert_eq!(out, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }

    #[test]
    fn broadcast_and_its_adjoint() {
        let x = [1.0, 2.0, 3.0];
        let mut out = [0.0; 6];
        broadcast(&x, s(&[3]), s(&[2, 3]), &mut out);
        assert_eq!(out, [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
        let mut back = [0.0; 3];
        sum_to(&out, s(&[2, 3]), s(&[3]), &mut back);
        assert_eq!(back, [2.0, 4.0, 6.0]);
        let mut col = [0.0; 2];
        sum_to(
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            s(&[2, 3]),
            s(&[2, 1]),
            &mut col,
        );
        assert_eq!(col, [6.0, 15.0]);
    }

    #[test]
    fn fast_patterns_agree_with_the_general_walk() {
        // Every pair below goes through a fast path; the general strided
        // walk (the reference) must give the same numbers.
        let cases: [(&[usize], &[usize]); 11] = [
            (&[1, 3, 1], &[2, 3, 5]),
            (&[1, 3, 1, 1], &[2, 3, 4, 5]),
            (&[3, 1, 2], &[2, 3, 4, 2]),
            (&[2, 1, 1, 3], &[2, 1, 4, 3]),
            (&[1, 1, 4], &[3, 2, 4]),
            (&[3], &[4, 3]),
            (&[1, 3], &[2, 4, 3]),
            (&[4, 1], &[4, 3]),
            (&[2, 1], &[5, 2, 3]),
            (&[], &[2, 2]),
            (&[1, 1], &[3, 2]),
        ];
        for (f, t) in cases {
            let (from, to) = (s(f), s(t));
            let x: Vec<f64> = (0..from.numel()).map(|i| i as f64 + 1.0).collect();
            let mut fast = vec![0.0; to.numel()];
            broadcast(&x, from, to, &mut fast);
            let mut slow = vec![0.0; to.numel()];
            let strides = from.broadcast_strides(to);
            for_each_strided(to, &strides, |i, off| slow[i] = x[off]);
            assert_eq!(fast, slow, "broadcast {from} → {to}");
            let g: Vec<f64> = (0..to.numel()).map(|i| (i * i) as f64).collect();
            let mut fast = vec![0.0; from.numel()];
            sum_to(&g, to, from, &mut fast);
            let mut slow = vec![0.0; from.numel()];
            for_each_strided(to, &strides, |i, off| slow[off] += g[i]);
            assert_eq!(fast, slow, "sum_to {to} → {from}");
        }
    }

    #[test]
    fn slice_pad_concat() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut out = [0.0; 4];
        slice_axis(&x, s(&[2, 3]), 1, 1, 2, &mut out);
        assert_eq!(out, [2.0, 3.0, 5.0, 6.0]);
        let mut padded = [9.0; 6];
        pad_axis(&out, s(&[2, 3]), 1, 1, 2, &mut padded);
        assert_eq!(padded, [0.0, 2.0, 3.0, 0.0, 5.0, 6.0]);
        let mut cat = [0.0; 6];
        concat_axis(&[1.0, 4.0], &out, 2, 1, 1, 2, &mut cat);
        assert_eq!(cat, x);
    }
}
