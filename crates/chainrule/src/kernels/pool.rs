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
                if v > max || (v.is_nan() && !max.is_nan()) {
                    max = v;
                    best = r * self.w + c;
                }
            }
        }
        best
    }
}

/// `out[o] = h[argmax of x's window o]` (max pooling is `gather(x, x)`).
pub fn max_pool_gather<F: Float>(g: &PoolGeom, x: &[F], h: &[F], out: &mut [F]) {
    let (hw, ohw) = (g.h * g.w, g.ho * g.wo);
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
