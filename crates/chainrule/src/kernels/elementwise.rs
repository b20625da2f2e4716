//! Elementwise loops: `out[i] = f(x[i])` and `out[i] = f(a[i], b[i])`.
//!
//! Long loops run as 16-wide AVX-512 or 8-wide AVX2 code where the
//! processor has it (chosen at run time; the program itself targets
//! baseline x86-64). The same operations run on every path (no fused
//! multiply-add is introduced), so results do not depend on the path.
//!
//! `map`, `zip` and `zip_rows` of 32K elements or more run in two halves
//! on two threads: between two split products (W2's activations, 128×512)
//! the second core would otherwise wait while the first walks them. Each
//! element's value is the same either way.

use crate::float::Float;

/// Loops shorter than this stay on the portable path (the run-time check
/// costs more than it saves).
const WIDE: usize = 64;

/// The widest vector path this processor offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    Portable,
    Avx2,
    Avx512,
}

/// The vector path for a loop of `len` elements.
#[inline]
pub fn width(len: usize) -> Width {
    #[cfg(target_arch = "x86_64")]
    {
        if len < WIDE {
            Width::Portable
        } else if std::arch::is_x86_feature_detected!("avx512f") {
            Width::Avx512
        } else if std::arch::is_x86_feature_detected!("avx2") {
            Width::Avx2
        } else {
            Width::Portable
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = len;
        Width::Portable
    }
}

/// Loops of this many elements or more run in two halves, one on each of
/// two threads (the product team's), when more than one is allowed.
const SPLIT: usize = 1 << 15;

/// Where a loop of `len` elements splits in two (a multiple of `align`,
/// a row of a matrix, and of 64 elements), or `None` for one thread.
fn split_at(len: usize, align: usize) -> Option<usize> {
    (super::threads::num_threads() >= 2)
        .then(|| halves(len, align))
        .flatten()
}

/// Where [`split_at`] cuts a loop of `len` elements for two threads.
fn halves(len: usize, align: usize) -> Option<usize> {
    if len < SPLIT || align == 0 {
        return None;
    }
    let unit = align * 64 / gcd(align, 64);
    let cut = (len / 2).div_ceil(unit) * unit;
    (cut > 0 && cut < len).then_some(cut)
}

/// The greatest common divisor.
fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// `run(from, part)` for `out`'s two parts cut at `cut` (`from` the part's
/// first index), on two threads of the team.
fn halves_of<F: Float>(out: &mut [F], cut: usize, run: impl Fn(usize, &mut [F]) + Sync) {
    super::team::each_block_mut(out, cut, true, |p, part| run(p * cut, part));
}

/// `out[i] = f(x[i])`.
#[inline]
pub fn map<F: Float>(x: &[F], out: &mut [F], f: impl Fn(F) -> F + Sync) {
    if let Some(cut) = split_at(out.len(), 1) {
        return halves_of(out, cut, |from, o| map_here(&x[from..], o, &f));
    }
    map_here(x, out, f)
}

/// [`map`] on the calling thread.
#[inline]
fn map_here<F: Float>(x: &[F], out: &mut [F], f: impl Fn(F) -> F) {
    match width(out.len()) {
        // SAFETY: `width` checked that the processor has the feature.
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { map_avx512(x, out, f) },
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { map_avx2(x, out, f) },
        _ => map_loop(x, out, f),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn map_avx512<F: Float>(x: &[F], out: &mut [F], f: impl Fn(F) -> F) {
    map_loop(x, out, f);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn map_avx2<F: Float>(x: &[F], out: &mut [F], f: impl Fn(F) -> F) {
    map_loop(x, out, f);
}

#[inline(always)]
fn map_loop<F: Float>(x: &[F], out: &mut [F], f: impl Fn(F) -> F) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = f(v);
    }
}

/// `out[i] = f(a[i], b[i])` for equal-length inputs.
#[inline]
pub fn zip<F: Float>(a: &[F], b: &[F], out: &mut [F], f: impl Fn(F, F) -> F + Sync) {
    if let Some(cut) = split_at(out.len(), 1) {
        return halves_of(out, cut, |from, o| zip_here(&a[from..], &b[from..], o, &f));
    }
    zip_here(a, b, out, f)
}

/// [`zip`] on the calling thread.
#[inline]
fn zip_here<F: Float>(a: &[F], b: &[F], out: &mut [F], f: impl Fn(F, F) -> F) {
    match width(out.len()) {
        // SAFETY: `width` checked that the processor has the feature.
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { zip_avx512(a, b, out, f) },
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { zip_avx2(a, b, out, f) },
        _ => zip_loop(a, b, out, f),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn zip_avx512<F: Float>(a: &[F], b: &[F], out: &mut [F], f: impl Fn(F, F) -> F) {
    zip_loop(a, b, out, f);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn zip_avx2<F: Float>(a: &[F], b: &[F], out: &mut [F], f: impl Fn(F, F) -> F) {
    zip_loop(a, b, out, f);
}

#[inline(always)]
fn zip_loop<F: Float>(a: &[F], b: &[F], out: &mut [F], f: impl Fn(F, F) -> F) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = f(x, y);
    }
}

/// `out[r·n + j] = f(z[r·n + j], row[j])` for every row `r` of `z`, where
/// `n = row.len()` (a bias row applied to a matrix; one dispatch for the
/// whole matrix, however short its rows).
#[inline]
pub fn zip_rows<F: Float>(z: &[F], row: &[F], out: &mut [F], f: impl Fn(F, F) -> F + Sync) {
    if let Some(cut) = split_at(out.len(), row.len()) {
        return halves_of(out, cut, |from, o| zip_rows_here(&z[from..], row, o, &f));
    }
    zip_rows_here(z, row, out, f)
}

/// [`zip_rows`] on the calling thread.
#[inline]
fn zip_rows_here<F: Float>(z: &[F], row: &[F], out: &mut [F], f: impl Fn(F, F) -> F) {
    match width(out.len()) {
        // SAFETY: `width` checked that the processor has the feature.
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { zip_rows_avx512(z, row, out, f) },
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { zip_rows_avx2(z, row, out, f) },
        _ => zip_rows_loop(z, row, out, f),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn zip_rows_avx512<F: Float>(z: &[F], row: &[F], out: &mut [F], f: impl Fn(F, F) -> F) {
    zip_rows_loop(z, row, out, f);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn zip_rows_avx2<F: Float>(z: &[F], row: &[F], out: &mut [F], f: impl Fn(F, F) -> F) {
    zip_rows_loop(z, row, out, f);
}

#[inline(always)]
fn zip_rows_loop<F: Float>(z: &[F], row: &[F], out: &mut [F], f: impl Fn(F, F) -> F) {
    let n = row.len();
    if n == 0 {
        return;
    }
    for (zr, or) in z.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        zip_loop(zr, row, or, &f);
    }
}

/// `acc[i] += x[i]`.
#[inline]
pub fn add_assign<F: Float>(acc: &mut [F], x: &[F]) {
    zip_in_place(acc, x, |a, v| a + v);
}

/// `acc[i] = f(acc[i], x[i])`.
#[inline]
pub fn zip_in_place<F: Float>(acc: &mut [F], x: &[F], f: impl Fn(F, F) -> F) {
    match width(acc.len()) {
        // SAFETY: `width` checked that the processor has the feature.
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { zip_in_place_avx512(acc, x, f) },
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { zip_in_place_avx2(acc, x, f) },
        _ => zip_in_place_loop(acc, x, f),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn zip_in_place_avx512<F: Float>(acc: &mut [F], x: &[F], f: impl Fn(F, F) -> F) {
    zip_in_place_loop(acc, x, f);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn zip_in_place_avx2<F: Float>(acc: &mut [F], x: &[F], f: impl Fn(F, F) -> F) {
    zip_in_place_loop(acc, x, f);
}

#[inline(always)]
fn zip_in_place_loop<F: Float>(acc: &mut [F], x: &[F], f: impl Fn(F, F) -> F) {
    for (a, &v) in acc.iter_mut().zip(x) {
        *a = f(*a, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loops_split_over_two_threads_give_every_element_its_value() {
        super::super::threads::set_num_threads(2);
        // Lengths at and past the split, and rows of 10 (the cut must fall
        // between rows: at a multiple of 320) and of 1,000.
        for len in [SPLIT, SPLIT + 7, 3 * SPLIT + 10] {
            let x: Vec<f32> = (0..len).map(|i| (i % 97) as f32 - 40.0).collect();
            let y: Vec<f32> = (0..len).map(|i| (i % 13) as f32 * 0.5).collect();
            let mut out = vec![f32::NAN; len];
            map(&x, &mut out, |v| 2.0 * v + 1.0);
            assert!((0..len).all(|i| out[i] == 2.0 * x[i] + 1.0), "map {len}");
            let mut out = vec![f32::NAN; len];
            zip(&x, &y, &mut out, |a, b| a * b - a);
            assert!((0..len).all(|i| out[i] == x[i] * y[i] - x[i]), "zip {len}");
        }
        for n in [10, 1000] {
            let rows = 3 * SPLIT / n + 1;
            let len = rows * n;
            let z: Vec<f32> = (0..len).map(|i| (i % 89) as f32).collect();
            let row: Vec<f32> = (0..n).map(|j| j as f32 * 0.25).collect();
            let mut out = vec![f32::NAN; len];
            zip_rows(&z, &row, &mut out, |a, c| a - c);
            assert!(
                (0..len).all(|i| out[i] == z[i] - row[i % n]),
                "zip_rows, rows of {n}"
            );
        }
        // The cut: after 16,640 = 52 · lcm(10, 64) values, the first
        // multiple of whole rows and of 64 at or past the half.
        assert_eq!(halves(SPLIT, 10), Some(16_640));
        assert_eq!(halves(SPLIT, 1), Some(SPLIT / 2));
        assert_eq!(halves(SPLIT - 1, 1), None);
    }
}
