//! The batched paths of [`super`]: one group, a kernel that needs im2col,
//! several images. The images are cut into chunks of `b`; a chunk's
//! columns lie side by side (`cols [K, b·P]`, image `i` in columns
//! `i·P..(i+1)·P`), so that it makes one product instead of one per
//! image, which at 8×8 is mostly call and packing overhead.
//!
//! The chunks are independent parts that run on the product team (each
//! thread with its own scratch), not only their products: im2col, col2im
//! and the copies between `[b, O, P]` and `[O, b·P]` are a third to a half
//! of a small convolution and would otherwise run on one core while the
//! other waits (LeNet-5, W4). The chunk size depends on the geometry only,
//! never on the thread count, and the weight gradient sums the chunks'
//! blocks in chunk order: results are the same bits on any number of
//! threads.

use super::{col2im, im2col, with_scratch, ConvGeom};
use crate::float::Float;
use crate::kernels::conv_product::{product_nn, product_nt};

use crate::kernels::scratch;
use crate::kernels::team::each_block_mut;
use crate::kernels::threads::threads_for;

/// A chunk's column matrix (`[K, b·P]`) takes at most this many elements
/// (or one image's, if larger): small enough to stay in L2 between
/// im2col writing it and the product reading it, and to cut a batch into
/// enough chunks to keep two threads busy.
const BATCH_COLS: usize = 1 << 16;

/// Batched products of at most this many multiply-adds run on
/// [`crate::kernels::conv_product`] (no packing); larger ones on the
/// tuned GEMM, which is faster there (measured on the digits CNN's
/// 8×9×2048 and LeNet-5's products).
const SMALL_PRODUCT: usize = 1 << 16;

/// Whether the convolution runs batched: one group and a kernel that needs
/// im2col. Returns the images per chunk.
pub(super) fn batched(g: &ConvGeom) -> Option<usize> {
    (g.groups == 1 && !g.pointwise() && g.n > 1)
        .then(|| (BATCH_COLS / (g.k() * g.p()).max(1)).clamp(1, g.n))
}

/// Whether the chunks run on the team: when the whole convolution is as
/// much work as a product the team would split.
fn parallel(g: &ConvGeom) -> bool {
    threads_for(g.n * g.o * g.k() * g.p()) > 1
}

/// `c [m, n] = op(a) · op(b)` on the calling thread.
fn gemm<F: Float>(a: &[F], b: &[F], c: &mut [F], mkn: (usize, usize, usize), ta: bool, tb: bool) {
    super::gemm_on(a, b, c, mkn, (ta, tb), false);
}

/// `dst[o, i, :] = src[i, o, :]` for `src [B, O, P]` (a chunk of a
/// `[N, O, P]` tensor, `B = dst.len() / (O·P)`) into `dst [O, B·P]`.
fn images_to_rows<F: Float>(g: &ConvGeom, src: &[F], dst: &mut [F], b: usize) {
    let (o, p) = (g.o, g.p());
    for i in 0..b {
        for c in 0..o {
            dst[(c * b + i) * p..][..p].copy_from_slice(&src[(i * o + c) * p..][..p]);
        }
    }
}

/// im2col of the images `x` (`[nb, C, H, W]`) side by side: image `i` in
/// columns `i·P..(i+1)·P` of `cols` (`[K, ld]`, `ld = nb·P`).
fn chunk_to_cols<F: Float>(g: &ConvGeom, x: &[F], cols: &mut [F], ld: usize) {
    let x_img = g.c * g.h * g.w;
    for (i, image) in x.chunks_exact(x_img).enumerate() {
        im2col(g, image, &mut cols[i * g.p()..], ld);
    }
}

/// [`super::conv2d`] with one group: for each chunk of `b` images, `cols
/// [K, b·P]`, one product `W [O, K] · cols` into `[O, b·P]`, then copied to
/// `[b, O, P]`.
pub(super) fn conv2d_batched<F: Float>(g: &ConvGeom, b: usize, x: &[F], w: &[F], y: &mut [F]) {
    let (k, p, o) = (g.k(), g.p(), g.o);
    let x_img = g.c * g.h * g.w;
    each_block_mut(y, b * o * p, parallel(g), |t, out| {
        let (start, nb) = (t * b, out.len() / (o * p));
        let ld = nb * p;
        with_scratch((k + o) * ld, |scratch: &mut [F]| {
            let (cols, rows) = scratch.split_at_mut(k * ld);
            chunk_to_cols(g, &x[start * x_img..(start + nb) * x_img], cols, ld);
            if o * k * ld <= SMALL_PRODUCT {
                product_nn(w, (k, 1), cols, rows, (o, k, ld));
            } else {
                gemm(w, cols, rows, (o, k, ld), false, false);
            }
            for i in 0..nb {
                for c in 0..o {
                    out[(i * o + c) * p..][..p].copy_from_slice(&rows[c * ld + i * p..][..p]);
                }
            }
        });
    });
}

/// [`super::conv2d_input_grad`] with one group, by chunks of `b` images:
/// `g` gathered to `[O, b·P]`, `cols [K, b·P] = Wᵀ · g`, col2im per image.
pub(super) fn conv2d_input_grad_batched<F: Float>(
    g: &ConvGeom,
    b: usize,
    gy: &[F],
    w: &[F],
    dx: &mut [F],
) {
    let (k, p, o) = (g.k(), g.p(), g.o);
    let x_img = g.c * g.h * g.w;
    each_block_mut(dx, b * x_img, parallel(g), |t, dx| {
        let (start, nb) = (t * b, dx.len() / x_img);
        let ld = nb * p;
        dx.fill(F::zero());
        with_scratch((k + o) * ld, |scratch: &mut [F]| {
            let (cols, rows) = scratch.split_at_mut(k * ld);
            images_to_rows(g, &gy[start * o * p..(start + nb) * o * p], rows, nb);
            if o * k * ld <= SMALL_PRODUCT {
                product_nn(w, (1, k), rows, cols, (k, o, ld));
            } else {
                gemm(w, rows, cols, (k, o, ld), true, false);
            }
            for (i, image) in dx.chunks_exact_mut(x_img).enumerate() {
                col2im(g, &mut cols[i * p..], image, ld);
            }
        });
    });
}

/// [`super::conv2d_weight_grad`] with one group, by chunks of `b` images:
/// each chunk's block `g [O, b·P] · colsᵀ [b·P, K]`, summed in chunk order
/// within at most [`GROUPS`] groups of consecutive chunks, then `∂W` the
/// sum of the groups' blocks in order. The grouping depends only on the
/// geometry (the same bits on any thread count), and at most `GROUPS`
/// blocks are held at once (one per chunk would be `N·|W|` where one
/// image fills a chunk: 38 MB for a 64→64 3×3 convolution at batch 256).
pub(super) fn conv2d_weight_grad_batched<F: Float>(
    g: &ConvGeom,
    b: usize,
    x: &[F],
    gy: &[F],
    dw: &mut [F],
) {
    let (k, o) = (g.k(), g.o);
    let chunks = g.n.div_ceil(b);
    let per_group = chunks.div_ceil(GROUPS);
    let groups = chunks.div_ceil(per_group);
    if groups == 1 {
        return weight_grad_groups(g, b, x, gy, dw, per_group);
    }
    with_blocks(groups * o * k, |blocks: &mut [F]| {
        weight_grad_groups(g, b, x, gy, blocks, per_group);
        let (first, rest) = blocks.split_at(o * k);
        dw.copy_from_slice(first);
        for block in rest.chunks_exact(o * k) {
            for (a, &v) in dw.iter_mut().zip(block) {
                *a += v;
            }
        }
    });
}

/// At most this many groups of chunks, each summing its chunks' blocks.
const GROUPS: usize = 8;

/// Group `j`'s weight-gradient block `[O, K]` (the sum of chunks
/// `j·per_group ..`, in order) into `blocks[j·O·K..]`, for every group.
fn weight_grad_groups<F: Float>(
    g: &ConvGeom,
    b: usize,
    x: &[F],
    gy: &[F],
    blocks: &mut [F],
    per_group: usize,
) {
    let (k, o) = (g.k(), g.o);
    let chunks = g.n.div_ceil(b);
    each_block_mut(blocks, o * k, parallel(g), |j, block| {
        let (first, end) = (j * per_group, ((j + 1) * per_group).min(chunks));
        chunk_weight_grad(g, b, x, gy, first, block);
        if end > first + 1 {
            scratch::with(&CHUNK_BLOCK, o * k, |one: &mut [F]| {
                for t in first + 1..end {
                    chunk_weight_grad(g, b, x, gy, t, one);
                    for (a, &v) in block.iter_mut().zip(one.iter()) {
                        *a += v;
                    }
                }
            });
        }
    });
}

/// Chunk `t`'s weight-gradient block `[O, K]` into `block`.
fn chunk_weight_grad<F: Float>(
    g: &ConvGeom,
    b: usize,
    x: &[F],
    gy: &[F],
    t: usize,
    block: &mut [F],
) {
    let (k, p, o) = (g.k(), g.p(), g.o);
    let x_img = g.c * g.h * g.w;
    let (start, nb) = (t * b, b.min(g.n - t * b));
    let ld = nb * p;
    with_scratch((k + o) * ld, |scratch: &mut [F]| {
        let (cols, rows) = scratch.split_at_mut(k * ld);
        chunk_to_cols(g, &x[start * x_img..(start + nb) * x_img], cols, ld);
        images_to_rows(g, &gy[start * o * p..(start + nb) * o * p], rows, nb);
        if o * k * ld <= SMALL_PRODUCT {
            product_nt(rows, cols, block, (o, ld, k));
        } else {
            gemm(rows, cols, block, (o, ld, k), false, true);
        }
    });
}

thread_local! {
    /// The weight gradient's per-group blocks, reused from call to call
    /// (separate from [`super::COLS`], which each chunk takes meanwhile).
    static BLOCKS: scratch::Buffer = const { std::cell::RefCell::new(Vec::new()) };
    /// One chunk's block, added into its group's (the calling thread
    /// holds `BLOCKS` meanwhile).
    static CHUNK_BLOCK: scratch::Buffer = const { std::cell::RefCell::new(Vec::new()) };
}

/// `f` on `len` elements of this thread's [`BLOCKS`] buffer.
fn with_blocks<F: Float, R>(len: usize, f: impl FnOnce(&mut [F]) -> R) -> R {
    scratch::with(&BLOCKS, len, f)
}
