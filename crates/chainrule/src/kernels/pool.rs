//! 2-D pooling over every `(image, channel)` plane: the window of output
//! `(oh, ow)` covers input rows `oh·s − p .. oh·s − p + kh` and columns
//! likewise; positions in the padding are skipped (for max pooling they
//! count as −∞, for average pooling as zeros in a divisor of `kh · kw`).
//!
//! Max pooling selects the first maximum of each window in row-major
//! order; the same selection serves its forward (`gather(x, x)`), its
//! adjoint (`scatter`) and the adjoint's adjoint (`gather(x, h)`).

use crate::float::Float;

/// The geometry of one pooling, every size already checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeom {
    /// Planes: images × channels.
    pub planes: usize,
    /// Input height and width.
    pub h: usize,
    pub w: usize,
    /// Output height and width.
    pub ho: usize,
    pub wo: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl PoolGeom {
    /// The input rows and columns of output `(oh, ow)`'s window, clipped to
    /// the input.
    #[inline]
    fn window(&self, oh: usize, ow: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let clip = |d: usize, o: usize, size: usize| {
            let start = o * self.stride[d];
            let lo = start.saturating_sub(self.padding[d]);
            let hi = (start + self.kernel[d])
                .saturating_sub(self.padding[d])
                .min(size);
            lo..hi
        };
        (clip(0, oh, self.h), clip(1, ow, self.w))
    }

    /// The index in the plane of the window's first maximum.
    #[inline]
    fn argmax<F: Float>(&self, plane: &[F], oh: usize, ow: usize) -> usize {
        let (rows, cols) = self.window(oh, ow);
        let mut best = rows.start * self.w + cols.start;
        let mut max = plane[best];
        for r in rows {
            for c in cols.clone() {
                let v = plane[r * self.w + c];
                // Strictly greater: ties keep the first; a NaN wins and stays.
                if beats(v, max) {
                    max = v;
                    best = r * self.w + c;
                }
            }
        }
        best
    }
}

/// Whether `v` beats the maximum `max` so far in the window order:
/// strictly greater (ties keep the first), or a NaN over a non-NaN.
#[inline(always)]
fn beats<F: Float>(v: F, max: F) -> bool {
    // `v > max || (v.is_nan() && !max.is_nan())`, rewritten (`v > max` is
    // false when `max` is NaN). Without short-circuits, so that the
    // selections below compile to conditional moves or vector blends
    // (pooled values are unpredictable).
    ((v > max) | v.is_nan()) & !max.is_nan()
}

/// For each unpadded 2×2 window of stride 2 (the usual pooling), in
/// output order, calls `f(output index, window origin, offset)`: the
/// window's top-left plane index and its first maximum's offset from it
/// (0, 1, `w` or `w + 1`), the same selection as [`PoolGeom::argmax`].
#[inline(always)]
fn each_argmax_2x2<F: Float>(g: &PoolGeom, xp: &[F], mut f: impl FnMut(usize, usize, usize)) {
    let (w, wo) = (g.w, g.wo);
    for oh in 0..g.ho {
        let r0 = 2 * oh * w;
        let top = &xp[r0..r0 + 2 * wo];
        let bottom = &xp[r0 + w..r0 + w + 2 * wo];
        for (ow, (t, b)) in top.chunks_exact(2).zip(bottom.chunks_exact(2)).enumerate() {
            let (mut best, mut max) = (0, t[0]);
            let c = beats(t[1], max);
            best = if c { 1 } else { best };
            max = if c { t[1] } else { max };
            let c = beats(b[0], max);
            best = if c { w } else { best };
            max = if c { b[0] } else { max };
            let c = beats(b[1], max);
            best = if c { w + 1 } else { best };
            f(oh * wo + ow, r0 + 2 * ow, best);
        }
    }
}

/// One output row of the 2×2 scatter: window `q` covers `top[2q..2q+2]`
/// and `bottom[2q..2q+2]`; its gradient `g[q]` goes to the selected one
/// of the four outputs, zeros to the other three. Selections as masks
/// (no index, no branch), so that the loop vectorizes.
#[inline(always)]
fn scatter_row_2x2<F: Float>(g: &[F], top: &[F], bottom: &[F], ot: &mut [F], ob: &mut [F]) {
    let n = g.len();
    let (top, bottom) = (&top[..2 * n], &bottom[..2 * n]);
    let (ot, ob) = (&mut ot[..2 * n], &mut ob[..2 * n]);
    let z = F::zero();
    for q in 0..n {
        let (t0, t1, b0, b1) = (top[2 * q], top[2 * q + 1], bottom[2 * q], bottom[2 * q + 1]);
        let c1 = beats(t1, t0);
        let m = if c1 { t1 } else { t0 };
        let c2 = beats(b0, m);
        let m = if c2 { b0 } else { m };
        let c3 = beats(b1, m);
        let gv = g[q];
        ot[2 * q] = if !(c1 | c2 | c3) { gv } else { z };
        ot[2 * q + 1] = if c1 & !(c2 | c3) { gv } else { z };
        ob[2 * q] = if c2 & !c3 { gv } else { z };
        ob[2 * q + 1] = if c3 { gv } else { z };
    }
}

/// Unpadded 2×2 windows of stride 2 (the fast path of the two kernels).
fn is_2x2(g: &PoolGeom) -> bool {
    g.kernel == [2, 2] && g.stride == [2, 2] && g.padding == [0, 0]
}

/// Pooling over at least this many input elements splits its planes over
/// the team: LeNet-5's (W4) are 100–300 thousand, and on one core they
/// left the other idle for a sixth of a step.
const PARALLEL_POOL: usize = 1 << 15;

/// `f(sub, first, out_block)` for blocks of planes starting at plane
/// `first` (`sub` is `g` for the block's planes), `out` cut into blocks of
/// `per_plane` elements per plane: in parallel when the pooling is large.
fn each_plane_block<F: Float>(
    g: &PoolGeom,
    out: &mut [F],
    per_plane: usize,
    f: impl Fn(&PoolGeom, usize, &mut [F]) + Sync,
) {
    let threads = super::threads::num_threads();
    let parallel = threads > 1 && g.planes * g.h * g.w >= PARALLEL_POOL;
    let block = if parallel {
        g.planes.div_ceil(threads)
    } else {
        g.planes
    };
    let out = &mut out[..g.planes * per_plane];
    super::team::each_block_mut(out, block * per_plane, parallel, |t, out| {
        let sub = PoolGeom {
            planes: out.len() / per_plane.max(1),
            ..*g
        };
        f(&sub, t * block, out);
    });
}

/// `out[o] = h[argmax of x's window o]` (max pooling is `gather(x, x)`).
pub fn max_pool_gather<F: Float>(g: &PoolGeom, x: &[F], h: &[F], out: &mut [F]) {
    let (hw, ohw) = (g.h * g.w, g.ho * g.wo);
    // Decided on the whole operands: blocks of the same slice stay equal.
    let itself = std::ptr::eq(x, h);
    each_plane_block(g, out, ohw, |sub, first, out| {
        let (x, h) = (&x[first * hw..], &h[first * hw..]);
        gather_planes(sub, x, if itself { x } else { h }, itself, out);
    });
}

/// [`max_pool_gather`] on `g.planes` planes; `itself`: `h` is `x`.
fn gather_planes<F: Float>(g: &PoolGeom, x: &[F], h: &[F], itself: bool, out: &mut [F]) {
    let (hw, ohw) = (g.h * g.w, g.ho * g.wo);
    if is_2x2(g) && itself {
        // Max pooling itself: the selected element's value is the maximum
        // (the first NaN where there is one), no index needed.
        for p in 0..g.planes {
            let xp = &x[p * hw..(p + 1) * hw];
            let op = &mut out[p * ohw..(p + 1) * ohw];
            for (oh, orow) in op.chunks_exact_mut(g.wo).enumerate() {
                let r0 = 2 * oh * g.w;
                let top = xp[r0..r0 + 2 * g.wo].chunks_exact(2);
                let bottom = xp[r0 + g.w..r0 + g.w + 2 * g.wo].chunks_exact(2);
                for (o, (t, b)) in orow.iter_mut().zip(top.zip(bottom)) {
                    let mut m = t[0];
                    m = if beats(t[1], m) { t[1] } else { m };
                    m = if beats(b[0], m) { b[0] } else { m };
                    m = if beats(b[1], m) { b[1] } else { m };
                    *o = m;
                }
            }
        }
        return;
    }
    if is_2x2(g) {
        for p in 0..g.planes {
            let (xp, hp) = (&x[p * hw..(p + 1) * hw], &h[p * hw..(p + 1) * hw]);
            let op = &mut out[p * ohw..(p + 1) * ohw];
            each_argmax_2x2(g, xp, |o, r, i| op[o] = hp[r + i]);
        }
        return;
    }
    for p in 0..g.planes {
        let (xp, hp) = (&x[p * hw..(p + 1) * hw], &h[p * hw..(p + 1) * hw]);
        let op = &mut out[p * ohw..(p + 1) * ohw];
        for oh in 0..g.ho {
            for ow in 0..g.wo {
                op[oh * g.wo + ow] = hp[g.argmax(xp, oh, ow)];
            }
        }
    }
}

/// `out` (shaped as `x`) = zeros plus `gy[o]` at the argmax of each window
/// `o` of `x` (overlapping windows add).
pub fn max_pool_scatter<F: Float>(g: &PoolGeom, x: &[F], gy: &[F], out: &mut [F]) {
    let (hw, ohw) = (g.h * g.w, g.ho * g.wo);
    each_plane_block(g, out, hw, |sub, first, out| {
        scatter_planes(sub, &x[first * hw..], &gy[first * ohw..], out);
    });
}

/// [`max_pool_scatter`] on `g.planes` planes.
fn scatter_planes<F: Float>(g: &PoolGeom, x: &[F], gy: &[F], out: &mut [F]) {
    let (hw, ohw) = (g.h * g.w, g.ho * g.wo);
    if is_2x2(g) {
        // Disjoint windows, each written whole (its gradient at the
        // selection, zeros elsewhere): only an odd last row or column lies
        // outside every window, and only then is `out` cleared first.
        if g.h % 2 == 1 || g.w % 2 == 1 {
            out.fill(F::zero());
        }
        for p in 0..g.planes {
            let xp = &x[p * hw..(p + 1) * hw];
            let gp = &gy[p * ohw..(p + 1) * ohw];
            let op = &mut out[p * hw..(p + 1) * hw];
            for (oh, grow) in gp.chunks_exact(g.wo).enumerate() {
                let r0 = 2 * oh * g.w;
                let top = &xp[r0..r0 + 2 * g.wo];
                let bottom = &xp[r0 + g.w..r0 + g.w + 2 * g.wo];
                let (otop, obottom) = op[r0..r0 + 2 * g.w].split_at_mut(g.w);
                scatter_row_2x2(grow, top, bottom, otop, obottom);
            }
        }
        return;
    }
    out.fill(F::zero());
    for p in 0..g.planes {
        let xp = &x[p * hw..(p + 1) * hw];
        let gp = &gy[p * ohw..(p + 1) * ohw];
        let op = &mut out[p * hw..(p + 1) * hw];
        for oh in 0..g.ho {
            for ow in 0..g.wo {
                op[g.argmax(xp, oh, ow)] += gp[oh * g.wo + ow];
            }
        }
    }
}

/// Average pooling: the window's sum over `kh · kw` (padding counted).
pub fn avg_pool<F: Float>(g: &PoolGeom, x: &[F], out: &mut [F]) {
    let (hw, ohw) = (g.h * g.w, g.ho * g.wo);
    let inv = F::one() / F::from_f64((g.kernel[0] * g.kernel[1]) as f64);
    for p in 0..g.planes {
        let xp = &x[p * hw..(p + 1) * hw];
        let op = &mut out[p * ohw..(p + 1) * ohw];
        for oh in 0..g.ho {
            for ow in 0..g.wo {
                let (rows, cols) = g.window(oh, ow);
                let mut acc = F::zero();
                for r in rows {
                    for &v in &xp[r * g.w + cols.start..r * g.w + cols.end] {
                        acc += v;
                    }
                }
                op[oh * g.wo + ow] = acc * inv;
            }
        }
    }
}

/// The adjoint of [`avg_pool`]: every window's `gy[o] / (kh · kw)` added to
/// each input position of the window.
pub fn avg_pool_adjoint<F: Float>(g: &PoolGeom, gy: &[F], out: &mut [F]) {
    let (hw, ohw) = (g.h * g.w, g.ho * g.wo);
    let inv = F::one() / F::from_f64((g.kernel[0] * g.kernel[1]) as f64);
    out.fill(F::zero());
    for p in 0..g.planes {
        let gp = &gy[p * ohw..(p + 1) * ohw];
        let op = &mut out[p * hw..(p + 1) * hw];
        for oh in 0..g.ho {
            for ow in 0..g.wo {
                let (rows, cols) = g.window(oh, ow);
                let v = gp[oh * g.wo + ow] * inv;
                for r in rows {
                    for slot in &mut op[r * g.w + cols.start..r * g.w + cols.end] {
                        *slot += v;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_2x2_path_selects_as_the_general_window() {
        // Ties, a NaN; odd sizes (the last row and column unused) and even.
        for (h, w) in [(5, 7), (4, 6)] {
            check(2, h, w, 2, 2, 0);
        }
    }

    #[test]
    fn planes_split_over_the_team_select_as_the_general_window() {
        // LeNet-5's first pooling (W4, above PARALLEL_POOL), with a plane
        // count that does not split evenly, and overlapping padded windows.
        check(389, 28, 28, 2, 2, 0);
        check(97, 19, 18, 3, 2, 1);
    }

    /// Gather and scatter (the 2×2 path or the general one, per the
    /// geometry) against [`PoolGeom::argmax`], window by window.
    fn check(planes: usize, h: usize, w: usize, k: usize, s: usize, pad: usize) {
        let (ho, wo) = ((h + 2 * pad - k) / s + 1, (w + 2 * pad - k) / s + 1);
        let g = PoolGeom {
            planes,
            h,
            w,
            ho,
            wo,
            kernel: [k, k],
            stride: [s, s],
            padding: [pad, pad],
        };
        let (hw, ohw) = (h * w, ho * wo);
        let x: Vec<f64> = (0..planes * hw)
            .map(|i| match i % 11 {
                3 => f64::NAN,
                k => (k % 4) as f64,
            })
            .collect();
        let hv: Vec<f64> = (0..x.len()).map(|i| i as f64).collect();
        let mut fast = vec![0.0; planes * ohw];
        max_pool_gather(&g, &x, &hv, &mut fast);
        let mut want = vec![0.0; planes * ohw];
        for p in 0..planes {
            for oh in 0..ho {
                for ow in 0..wo {
                    want[p * ohw + oh * wo + ow] =
                        (p * hw + g.argmax(&x[p * hw..][..hw], oh, ow)) as f64;
                }
            }
        }
        assert_eq!(fast, want);
        // Max pooling itself (`gather(x, x)`): the selected values.
        let mut vals = vec![0.0; planes * ohw];
        max_pool_gather(&g, &x, &x, &mut vals);
        for (v, &i) in vals.iter().zip(&fast) {
            assert_eq!(v.to_bits(), x[i as usize].to_bits());
        }
        let gy: Vec<f64> = (1..=planes * ohw).map(|i| i as f64).collect();
        let mut sc = vec![7.0; x.len()];
        max_pool_scatter(&g, &x, &gy, &mut sc);
        let mut want = vec![0.0; x.len()];
        for (o, &i) in fast.iter().enumerate() {
            want[i as usize] += gy[o];
        }
        assert_eq!(sc, want);
    }
}
