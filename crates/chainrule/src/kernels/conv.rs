//! 2-D convolution (cross-correlation, as in every deep-learning library) by
//! im2col onto the GEMM of [`super::matmul`], and its two adjoints.
//!
//! For one image and one group, with `K = C/groups · kh · kw` and `P = Ho · Wo`:
//! - `cols[(c, i, j), (oh, ow)] = x[c, oh·s − p + i·d, ow·s − p + j·d]`
//!   (zero where the index falls into the padding): `[K, P]`;
//! - forward: `y[O/groups, P] = W[O/groups, K] · cols`;
//! - input gradient: `cols = Wᵀ · g`, then col2im adds every column entry
//!   back to the input position it was read from;
//! - weight gradient: `∂W += g · colsᵀ`, summed over the images.
//!
//! The `cols` matrix (and the per-image weight-gradient block) live in a
//! scratch buffer owned by the calling thread that only ever grows: a warm
//! step allocates nothing, the value arena holds only the graph's values,
//! and the buffer is not tied to one graph's lifetime (several graphs on
//! one thread share it). It is separate from the GEMM's own scratch, which
//! the GEMM may use while `cols` is borrowed.

use super::matmul::{matmul, matmul_here, MatMulDims};
use super::scratch;
use crate::float::Float;
use batched::{batched, conv2d_batched, conv2d_input_grad_batched, conv2d_weight_grad_batched};

/// The geometry of one convolution, every size already checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    /// Images.
    pub n: usize,
    /// Input channels.
    pub c: usize,
    /// Input height and width.
    pub h: usize,
    pub w: usize,
    /// Output channels.
    pub o: usize,
    /// Kernel height and width.
    pub kh: usize,
    pub kw: usize,
    /// Output height and width.
    pub ho: usize,
    pub wo: usize,
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl ConvGeom {
    /// Input channels per group.
    fn cg(&self) -> usize {
        self.c / self.groups
    }
    /// Output channels per group.
    fn og(&self) -> usize {
        self.o / self.groups
    }
    /// Rows of `cols`: one per (channel, kernel row, kernel column).
    fn k(&self) -> usize {
        self.cg() * self.kh * self.kw
    }
    /// Columns of `cols`: one per output position.
    fn p(&self) -> usize {
        self.ho * self.wo
    }
    /// A 1×1 kernel with stride 1 and no padding: `cols` is the input
    /// itself (`[C/groups, H·W]`), so im2col and col2im are skipped.
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == [1, 1] && self.padding == [0, 0]
    }
    /// With stride 1, dilation 1 and `Wo = W`, output `(oh, ow)` of the
    /// tap with offsets `(roff, coff)` reads plane index `oh·W + ow + s`,
    /// `s = roff·W + coff`, so the rows `rlo..rhi` of one `cols` row are one
    /// contiguous stretch of the plane, except for the columns that read
    /// padding (which wrap to the neighbouring row). Returns the stretch
    /// `a..b` of the `cols` row and the start `src` of its source `src..src
    /// + (b − a)` in the plane (every entry of rows `rlo..rhi` outside it reads padding),
    /// or `None` when the layout is not of this kind or no entry is read.
    #[inline]
    fn shifted_copy(
        &self,
        rlo: usize,
        rhi: usize,
        roff: isize,
        coff: isize,
    ) -> Option<(usize, usize, usize)> {
        if self.stride != [1, 1] || self.dilation != [1, 1] || self.wo != self.w {
            return None;
        }
        let (w, hw) = (self.w as isize, (self.h * self.w) as isize);
        let s = roff * w + coff;
        let a = (rlo as isize * w).max(-s);
        let b = (rhi as isize * w).min(hw - s);
        (a < b).then(|| (a as usize, b as usize, (a + s) as usize))
    }

    /// Along dimension `d` with kernel index `i`: output index `o` reads
    /// input index `o·s + off` (`off = i·d − p`), which lies inside the
    /// input of length `size` exactly for `o` in `lo..hi`. Returns
    /// `(lo, hi, off)`.
    #[inline]
    fn span(&self, d: usize, i: usize, size: usize, count: usize) -> (usize, usize, isize) {
        let s = self.stride[d] as isize;
        let off = (i * self.dilation[d]) as isize - self.padding[d] as isize;
        let lo = if off >= 0 { 0 } else { (-off + s - 1) / s } as usize;
        let last = size as isize - 1 - off;
        let hi = if last < 0 {
            0
        } else {
            ((last / s) as usize + 1).min(count)
        };
        (lo.min(hi), hi, off)
    }
}

/// Zeroes, in each output row `rlo..rhi` of one `cols` row, the columns
/// outside `clo..chi` (those that read padding).
#[inline]
fn zero_wrapped<F: Float>(
    g: &ConvGeom,
    row: &mut [F],
    rlo: usize,
    rhi: usize,
    clo: usize,
    chi: usize,
) {
    if clo == 0 && chi == g.wo {
        return;
    }
    for out in row[rlo * g.wo..rhi * g.wo].chunks_exact_mut(g.wo) {
        out[..clo].fill(F::zero());
        out[chi..].fill(F::zero());
    }
}

/// Fills `cols` (`[K, P]`, row `r` starting at `r · ld`) from one group's
/// channels `x` (`[C/groups, H, W]`).
fn im2col<F: Float>(g: &ConvGeom, x: &[F], cols: &mut [F], ld: usize) {
    if unit::fits(g) {
        unit::im2col(g, x, cols, ld);
    } else {
        im2col_loops(g, x, cols, ld);
    }
}

/// [`im2col`] for any geometry.
fn im2col_loops<F: Float>(g: &ConvGeom, x: &[F], cols: &mut [F], ld: usize) {
    let (p, hw, sw) = (g.p(), g.h * g.w, g.stride[1]);
    for ch in 0..g.cg() {
        let plane = &x[ch * hw..(ch + 1) * hw];
        for i in 0..g.kh {
            let (rlo, rhi, roff) = g.span(0, i, g.h, g.ho);
            for j in 0..g.kw {
                let (clo, chi, coff) = g.span(1, j, g.w, g.wo);
                let row = &mut cols[((ch * g.kh + i) * g.kw + j) * ld..][..p];
                row[..rlo * g.wo].fill(F::zero());
                row[rhi * g.wo..].fill(F::zero());
                if let Some((a, b, src)) = g.shifted_copy(rlo, rhi, roff, coff) {
                    // One copy for every row, then the columns that read
                    // across a row boundary (padding) zeroed.
                    row[a..b].copy_from_slice(&plane[src..src + (b - a)]);
                    zero_wrapped(g, row, rlo, rhi, clo, chi);
                    continue;
                }
                for oh in rlo..rhi {
                    let r = (oh * g.stride[0]) as isize + roff;
                    let line = &plane[r as usize * g.w..][..g.w];
                    let out = &mut row[oh * g.wo..(oh + 1) * g.wo];
                    out[..clo].fill(F::zero());
                    out[chi..].fill(F::zero());
                    if clo == chi {
                        // A tap that reads padding only in this direction.
                        continue;
                    }
                    let first = ((clo * sw) as isize + coff) as usize;
                    if sw == 1 {
                        out[clo..chi].copy_from_slice(&line[first..first + (chi - clo)]);
                    } else {
                        for (k, slot) in out[clo..chi].iter_mut().enumerate() {
                            *slot = line[first + k * sw];
                        }
                    }
                }
            }
        }
    }
}

/// Adds every entry of `cols` (`[K, P]`, row `r` starting at `r · ld`) to
/// the input position it was read from, in `dx` (`[C/groups, H, W]`, not
/// cleared here). `cols` is scratch: entries that map to padding may be
/// zeroed.
fn col2im<F: Float>(g: &ConvGeom, cols: &mut [F], dx: &mut [F], ld: usize) {
    let (p, hw, sw) = (g.p(), g.h * g.w, g.stride[1]);
    for ch in 0..g.cg() {
        let plane = &mut dx[ch * hw..(ch + 1) * hw];
        for i in 0..g.kh {
            let (rlo, rhi, roff) = g.span(0, i, g.h, g.ho);
            for j in 0..g.kw {
                let (clo, chi, coff) = g.span(1, j, g.w, g.wo);
                let row = &mut cols[((ch * g.kh + i) * g.kw + j) * ld..][..p];
                if let Some((a, b, src)) = g.shifted_copy(rlo, rhi, roff, coff) {
                    // The entries of padding positions zeroed (`cols` is
                    // scratch), then one sum over every row.
                    zero_wrapped(g, row, rlo, rhi, clo, chi);
                    for (d, &v) in plane[src..src + (b - a)].iter_mut().zip(&row[a..b]) {
                        *d += v;
                    }
                    continue;
                }
                for oh in rlo..rhi {
                    let r = (oh * g.stride[0]) as isize + roff;
                    if clo == chi {
                        continue;
                    }
                    let line = &mut plane[r as usize * g.w..][..g.w];
                    let first = ((clo * sw) as isize + coff) as usize;
                    let values = &row[oh * g.wo + clo..oh * g.wo + chi];
                    if sw == 1 {
                        let dst = &mut line[first..first + values.len()];
                        for (d, &v) in dst.iter_mut().zip(values) {
                            *d += v;
                        }
                    } else {
                        for (k, &v) in values.iter().enumerate() {
                            line[first + k * sw] += v;
                        }
                    }
                }
            }
        }
    }
}

/// One product of the GEMM: `c[m, n] = op(a) · op(b)`.
fn gemm<F: Float>(a: &[F], b: &[F], c: &mut [F], mkn: (usize, usize, usize), ta: bool, tb: bool) {
    gemm_on(a, b, c, mkn, (ta, tb), true);
}

/// [`gemm`], split over the team only if `parallel` (a chunk of a batched
/// convolution, already one part of the team's work, is not).
fn gemm_on<F: Float>(
    a: &[F],
    b: &[F],
    c: &mut [F],
    (m, k, n): (usize, usize, usize),
    (ta, tb): (bool, bool),
    parallel: bool,
) {
    let dims = MatMulDims::single(m, k, n, ta, tb);
    if parallel {
        matmul(a, b, c, dims);
    } else {
        matmul_here(a, b, c, dims);
    }
}

/// `y = conv2d(x, w)`: `x [N, C, H, W]`, `w [O, C/groups, kh, kw]`,
/// `y [N, O, Ho, Wo]`.
pub fn conv2d<F: Float>(g: &ConvGeom, x: &[F], w: &[F], y: &mut [F]) {
    if let Some(b) = batched(g) {
        return conv2d_batched(g, b, x, w, y);
    }
    let (k, p, cg, og) = (g.k(), g.p(), g.cg(), g.og());
    let (x_img, x_grp, y_img, y_grp) = (g.c * g.h * g.w, cg * g.h * g.w, g.o * p, og * p);
    let pointwise = g.pointwise();
    with_scratch(if pointwise { 0 } else { k * p }, |cols: &mut [F]| {
        for img in 0..g.n {
            for grp in 0..g.groups {
                let xg = &x[img * x_img + grp * x_grp..][..x_grp];
                let cols: &[F] = if pointwise {
                    xg
                } else {
                    im2col(g, xg, cols, p);
                    cols
                };
                let wg = &w[grp * og * k..(grp + 1) * og * k];
                let out = &mut y[img * y_img + grp * y_grp..][..y_grp];
                gemm(wg, cols, out, (og, k, p), false, false);
            }
        }
    });
}

/// `dx = conv2d_input_grad(gy, w)`: the adjoint of `conv2d` in `x`,
/// `gy [N, O, Ho, Wo]` → `dx [N, C, H, W]`.
pub fn conv2d_input_grad<F: Float>(g: &ConvGeom, gy: &[F], w: &[F], dx: &mut [F]) {
    if let Some(b) = batched(g) {
        return conv2d_input_grad_batched(g, b, gy, w, dx);
    }
    let (k, p, cg, og) = (g.k(), g.p(), g.cg(), g.og());
    let (x_img, x_grp, y_img, y_grp) = (g.c * g.h * g.w, cg * g.h * g.w, g.o * p, og * p);
    let pointwise = g.pointwise();
    if !pointwise {
        dx.fill(F::zero());
    }
    with_scratch(if pointwise { 0 } else { k * p }, |cols: &mut [F]| {
        for img in 0..g.n {
            for grp in 0..g.groups {
                let wg = &w[grp * og * k..(grp + 1) * og * k];
                let gg = &gy[img * y_img + grp * y_grp..][..y_grp];
                let dxg = &mut dx[img * x_img + grp * x_grp..][..x_grp];
                // cols [K, P] = Wgᵀ [K, Og] · g [Og, P] (for a pointwise
                // kernel, `dx` itself).
                if pointwise {
                    gemm(wg, gg, dxg, (k, og, p), true, false);
                } else {
                    gemm(wg, gg, cols, (k, og, p), true, false);
                    col2im(g, cols, dxg, p);
                }
            }
        }
    });
}

/// `dw = conv2d_weight_grad(x, gy)`: the adjoint of `conv2d` in `w`,
/// `x [N, C, H, W]`, `gy [N, O, Ho, Wo]` → `dw [O, C/groups, kh, kw]`.
pub fn conv2d_weight_grad<F: Float>(g: &ConvGeom, x: &[F], gy: &[F], dw: &mut [F]) {
    if let Some(b) = batched(g) {
        return conv2d_weight_grad_batched(g, b, x, gy, dw);
    }
    let (k, p, cg, og) = (g.k(), g.p(), g.cg(), g.og());
    let (x_img, x_grp, y_img, y_grp) = (g.c * g.h * g.w, cg * g.h * g.w, g.o * p, og * p);
    dw.fill(F::zero());
    // One buffer: `cols` [K, P] then one image's block [Og, K].
    let pointwise = g.pointwise();
    let cols_len = if pointwise { 0 } else { k * p };
    with_scratch(cols_len + og * k, |scratch: &mut [F]| {
        let (cols, block) = scratch.split_at_mut(cols_len);
        for img in 0..g.n {
            for grp in 0..g.groups {
                let xg = &x[img * x_img + grp * x_grp..][..x_grp];
                let cols: &[F] = if pointwise {
                    xg
                } else {
                    im2col(g, xg, cols, p);
                    cols
                };
                let gg = &gy[img * y_img + grp * y_grp..][..y_grp];
                // block [Og, K] = g [Og, P] · colsᵀ [P, K].
                gemm(gg, cols, block, (og, p, k), false, true);
                let acc = &mut dw[grp * og * k..(grp + 1) * og * k];
                for (a, &b) in acc.iter_mut().zip(block.iter()) {
                    *a += b;
                }
            }
        }
    });
}

thread_local! {
    /// Im2col's columns, reused from call to call.
    static COLS: scratch::Buffer = const { std::cell::RefCell::new(Vec::new()) };
}

/// `f` on `len` elements of this thread's [`COLS`] buffer (see
/// [`scratch::with`]).
fn with_scratch<F: Float, R>(len: usize, f: impl FnOnce(&mut [F]) -> R) -> R {
    scratch::with(&COLS, len, f)
}

mod batched;
#[cfg(test)]
mod tests;
mod unit;
