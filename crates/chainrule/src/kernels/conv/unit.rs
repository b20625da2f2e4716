//! im2col for the common kernel: stride 1 and dilation 1, with
//! output rows of at least [`CHUNK`] (LeNet-5's two convolutions, W4).
//!
//! The general loops of [`super`] copy one output row (`Wo` values) per
//! call of `copy_from_slice` and clear the columns that read padding with
//! `fill`: at `Wo` = 10 (LeNet-5's second convolution) those are ten
//! thousand calls of `memcpy` per image, which cost more than the product.
//! Here each output row is written with fixed-size block copies that
//! compile to a few vector moves: a zero block over each end that reads
//! padding, then the values read inside the input copied over it.
//!
//! Staging each input row in a zero-padded line on the stack, so that tap
//! `j` reads `line[j..j + Wo]` with no padding cases, was tried: every
//! such load straddles two of the stores that just filled the line and
//! waits for them (no store-to-load forwarding), and it was slower. col2im
//! keeps the general loops for the same reason: summing the taps of one
//! row in such a line measured twice as slow as adding each tap's rows
//! straight into `dx`.

use super::ConvGeom;
use crate::float::Float;
use crate::kernels::elementwise::{width, Width};

/// Values per fixed-size block copy (one 256-bit move in f32 on AVX).
const CHUNK: usize = 8;

/// Whether [`im2col`] takes geometry `g`: stride and dilation 1, output
/// rows of at least a block, and column padding of at most a block (so
/// that one zero block covers each end of a row that reads padding).
pub(super) fn fits(g: &ConvGeom) -> bool {
    g.stride == [1, 1] && g.dilation == [1, 1] && g.wo >= CHUNK && g.padding[1] <= CHUNK
}

/// `dst = src` (equal lengths, at least [`CHUNK`]) as blocks of
/// [`CHUNK`], the last one overlapping the one before: fixed-size copies
/// that compile to a few vector moves, where `copy_from_slice` of a short
/// row is a call into `memcpy`.
#[inline(always)]
fn copy_row<F: Copy>(dst: &mut [F], src: &[F]) {
    let n = dst.len();
    debug_assert!(n >= CHUNK && src.len() == n);
    let mut at = 0;
    while at < n {
        let start = at.min(n - CHUNK);
        let d: &mut [F; CHUNK] = (&mut dst[start..start + CHUNK]).try_into().unwrap();
        let s: &[F; CHUNK] = (&src[start..start + CHUNK]).try_into().unwrap();
        *d = *s;
        at += CHUNK;
    }
}

/// [`super::im2col`] for a geometry that [`fits`]: fills `cols` (`[K, P]`,
/// row `r` starting at `r · ld`) from one group's channels `x`
/// (`[C/groups, H, W]`).
pub(super) fn im2col<F: Float>(g: &ConvGeom, x: &[F], cols: &mut [F], ld: usize) {
    match width(g.k() * g.p()) {
        // SAFETY: `width` checked that the processor has the feature.
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { im2col_avx512(g, x, cols, ld) },
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { im2col_avx2(g, x, cols, ld) },
        _ => im2col_rows(g, x, cols, ld),
    }
}

/// [`im2col_rows`] compiled for AVX-512: a block is one 256-bit move in
/// f32 (the baseline build makes it two 128-bit ones, and im2col is
/// bound by its stores).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn im2col_avx512<F: Float>(g: &ConvGeom, x: &[F], cols: &mut [F], ld: usize) {
    im2col_rows(g, x, cols, ld);
}

/// [`im2col_rows`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn im2col_avx2<F: Float>(g: &ConvGeom, x: &[F], cols: &mut [F], ld: usize) {
    im2col_rows(g, x, cols, ld);
}

/// The loops of [`im2col`].
#[inline(always)]
fn im2col_rows<F: Float>(g: &ConvGeom, x: &[F], cols: &mut [F], ld: usize) {
    let (p, hw, w, wo) = (g.p(), g.h * g.w, g.w, g.wo);
    let zeros = [F::zero(); CHUNK];
    for ch in 0..g.cg() {
        let plane = &x[ch * hw..(ch + 1) * hw];
        for i in 0..g.kh {
            let (rlo, rhi, roff) = g.span(0, i, g.h, g.ho);
            for j in 0..g.kw {
                // Output columns `clo..chi` read input columns
                // `clo + coff..chi + coff`; the others read padding.
                let (clo, chi, coff) = g.span(1, j, g.w, g.wo);
                let row = &mut cols[((ch * g.kh + i) * g.kw + j) * ld..][..p];
                row[..rlo * wo].fill(F::zero());
                row[rhi * wo..].fill(F::zero());
                let whole = chi - clo >= CHUNK;
                for oh in rlo..rhi {
                    let r = (oh as isize + roff) as usize;
                    let out = &mut row[oh * wo..(oh + 1) * wo];
                    if !whole {
                        // A tap that reads mostly padding (not LeNet-5's).
                        out.fill(F::zero());
                        if clo < chi {
                            let first = (clo as isize + coff) as usize;
                            out[clo..chi].copy_from_slice(&plane[r * w + first..][..chi - clo]);
                        }
                        continue;
                    }
                    if clo > 0 {
                        copy_row(&mut out[..CHUNK], &zeros);
                    }
                    if chi < wo {
                        copy_row(&mut out[wo - CHUNK..], &zeros);
                    }
                    let first = r * w + (clo as isize + coff) as usize;
                    copy_row(&mut out[clo..chi], &plane[first..first + (chi - clo)]);
                }
            }
        }
    }
}
