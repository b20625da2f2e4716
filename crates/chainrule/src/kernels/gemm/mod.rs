//! Our own blocked, packed matrix product: `C = op(A) op(B)` on strided
//! operands, f32 and f64, on the calling thread, allocating nothing once
//! its per-thread packing buffers have grown (they only grow, like
//! [`super::scratch`]'s).
//!
//! The loops are BLIS's five around a register-blocked microkernel
//! ([`micro`]), with the roles of the two inner loops chosen for kernels
//! that broadcast `op(A)` and load `op(B)` as vectors:
//!
//! ```text
//! for jc in n by NC:              B̃ = pack op(B)[pc.., jc..]  (kc × nc)
//!   for pc in k by KC:
//!     for ic in m by MC:          Ã = pack op(A)[ic.., pc..]  (mc × kc)
//!       for ir in mc by MR:       one sliver of Ã: kc·MR values, in L1
//!         for jr in nc by NR:     one sliver of B̃ streamed from L2
//!           C[ir.., jr..] (+)= Ã sliver · B̃ sliver
//! ```
//!
//! Why these block sizes (AVX-512 f32: MR = 8, NR = 32; this AMD EPYC has
//! 32 KiB of L1 data cache and 1 MiB of L2 per core): the `Ã` sliver the
//! kernel re-reads for every `jr` is `kc · MR` values (8 KiB at kc = 256
//! in f32), which stays in L1 beside the streamed `B̃` slivers; `B̃` is
//! `kc · nc` values (512 KiB at nc = 512) and stays in L2 for all the
//! `ir` slivers of a block; `Ã` (`mc · kc`, 192 KiB at mc = 192) is read
//! sliver by sliver, once per `(jc, pc)`. f64 halves nc and mc so that the
//! bytes are the same. kc/nc = 128/512, 384/384, 512/256 and 192/512
//! measured the same as 256/512 within the noise of the shared machine.
//!
//! Packing is skipped where it costs more than it saves: a row-major
//! `op(A)` is read in place (packing it would be a transposition), as are
//! a small column-major `op(A)` and a row-major `op(B)` that is small or
//! used by at most two slivers of `op(A)` (W4's convolutions). A product
//! with few columns (W2's 10 outputs) runs transposed (`Cᵀ = op(B)ᵀ
//! op(A)ᵀ`) when that wastes fewer padded lanes, and one whose two
//! operands both run along a long depth (a convolution's weight gradient)
//! runs as dot products ([`dot`]).

mod dot;
mod micro;
mod pack;

use super::scratch;
use crate::float::Float;
use micro::{MicroFn, Tile};
use pack::{pack, Strided};
use std::any::TypeId;
use std::mem::size_of;

/// A microkernel and the blocking it runs under.
#[derive(Clone, Copy)]
struct Kernel<T> {
    mr: usize,
    nr: usize,
    kc: usize,
    mc: usize,
    nc: usize,
    /// The kernel on packed `Ã` slivers.
    run: MicroFn<T>,
    /// The kernel reading a row-major `op(A)` in place.
    direct: MicroFn<T>,
}

impl<T> Kernel<T> {
    /// A kernel of `mr × nr` with the blocking of the module's notes (the
    /// same bytes per block for f32 and f64).
    fn new(mr: usize, nr: usize, run: MicroFn<T>, direct: MicroFn<T>) -> Self {
        let per_f32 = std::mem::size_of::<T>() / 4;
        Kernel {
            mr,
            nr,
            kc: 256,
            mc: 192 / per_f32,
            nc: 512 / per_f32,
            run,
            direct,
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("fma")
}

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// The fastest f32 kernel this processor runs.
fn best_f32() -> Kernel<f32> {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512() {
            return Kernel::new(
                micro::AVX512_MR,
                32,
                micro::avx512_f32,
                micro::avx512_f32_direct,
            );
        }
        if has_avx2() {
            return Kernel::new(micro::AVX2_MR, 16, micro::avx2_f32, micro::avx2_f32_direct);
        }
    }
    Kernel::new(
        micro::PORTABLE_MR,
        micro::PORTABLE_NR,
        micro::portable::<f32>,
        micro::portable::<f32>,
    )
}

/// The fastest f64 kernel this processor runs.
fn best_f64() -> Kernel<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512() {
            return Kernel::new(
                micro::AVX512_MR,
                16,
                micro::avx512_f64,
                micro::avx512_f64_direct,
            );
        }
        if has_avx2() {
            return Kernel::new(micro::AVX2_MR, 8, micro::avx2_f64, micro::avx2_f64_direct);
        }
    }
    Kernel::new(
        micro::PORTABLE_MR,
        micro::PORTABLE_NR,
        micro::portable::<f64>,
        micro::portable::<f64>,
    )
}

thread_local! {
    /// Packed slivers of op(A), reused from call to call.
    static PACK_A: scratch::Buffer = const { std::cell::RefCell::new(Vec::new()) };
    /// Packed slivers of op(B), reused from call to call.
    static PACK_B: scratch::Buffer = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether a product of `m×k·k×n` takes the dot-product path (see
/// `dot.rs`), decided once for the whole product: a product split over
/// threads passes the decision to every block (through `gemm_into`'s
/// `dots`), so that each element is summed in the same order whatever the
/// thread count (and a run replays bit for bit on another machine).
pub(crate) fn uses_dots(m: usize, k: usize, n: usize, csa: usize, rsb: usize) -> bool {
    dot::suits(m, k, n, csa, rsb)
}

/// `C = A B` (`C` overwritten, never read), or with `add` `C += A B`
/// (`C` read), by dot products of rows where `dots` (see [`uses_dots`]) and
/// the layout allow, on strided views given as raw
/// pointers (`rs*` row strides, `cs*` column strides, in elements), on the
/// calling thread, for `F` = f32 or f64.
///
/// # Safety
/// Every element addressed by `(m, k, n)` and the strides must lie inside
/// live allocations, and no other thread may access the part of `c`
/// written (`c + i·rsc + j·csc` for `i < m`, `j < n`).
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_into<F: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: *const F,
    rsa: usize,
    csa: usize,
    b: *const F,
    rsb: usize,
    csb: usize,
    c: *mut F,
    rsc: usize,
    csc: usize,
    add: bool,
    dots: bool,
) {
    // Type-level dispatch: `F` is f32 or f64 (the only `Float`s), so the
    // casts below only relabel the pointers' element type as itself.
    let id = TypeId::of::<F>();
    if id == TypeId::of::<f32>() {
        let a = Strided {
            ptr: a as *const f32,
            rs: rsa,
            cs: csa,
        };
        let b = Strided {
            ptr: b as *const f32,
            rs: rsb,
            cs: csb,
        };
        // SAFETY: the caller's contract is `drive`'s; `best_f32` checked
        // the processor's features.
        unsafe {
            drive(
                &best_f32(),
                m,
                k,
                n,
                a,
                b,
                c as *mut f32,
                rsc,
                csc,
                add,
                dots,
            )
        }
    } else if id == TypeId::of::<f64>() {
        let a = Strided {
            ptr: a as *const f64,
            rs: rsa,
            cs: csa,
        };
        let b = Strided {
            ptr: b as *const f64,
            rs: rsb,
            cs: csb,
        };
        // SAFETY: as for f32.
        unsafe {
            drive(
                &best_f64(),
                m,
                k,
                n,
                a,
                b,
                c as *mut f64,
                rsc,
                csc,
                add,
                dots,
            )
        }
    } else {
        unreachable!("Float is implemented for f32 and f64 only");
    }
}

/// Padded tiles computed in the normal orientation (`⌈m/MR⌉·MR ×
/// ⌈n/NR⌉·NR`) against the transposed one's.
fn run_transposed(m: usize, n: usize, mr: usize, nr: usize) -> bool {
    let normal = m.next_multiple_of(mr) * n.next_multiple_of(nr);
    let transposed = n.next_multiple_of(mr) * m.next_multiple_of(nr);
    // A transposed C is written element by element: worth it only when it
    // saves a good part of the work.
    5 * transposed < 4 * normal
}

/// [`gemm_into`] with a given kernel (the tests run each one).
///
/// # Safety
/// As [`gemm_into`]; the processor must have `kern`'s target features.
#[allow(clippy::too_many_arguments)]
unsafe fn drive<T: Float>(
    kern: &Kernel<T>,
    m: usize,
    k: usize,
    n: usize,
    a: Strided<T>,
    b: Strided<T>,
    c: *mut T,
    rsc: usize,
    csc: usize,
    add: bool,
    dots: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if add {
            return;
        }
        for i in 0..m {
            for j in 0..n {
                // SAFETY: (i, j) is an element of C, the caller's.
                unsafe { *c.add(i * rsc + j * csc) = T::zero() };
            }
        }
        return;
    }
    if dots && dot::layout_suits(&a, &b) {
        // SAFETY: the caller's contract, and the layout suits.
        return unsafe { dot::dots(m, k, n, a, b, c, rsc, csc, add) };
    }
    if run_transposed(m, n, kern.mr, kern.nr) {
        // SAFETY: Cᵀ = op(B)ᵀ op(A)ᵀ addresses the same elements.
        return unsafe { blocked(kern, n, k, m, b.t(), a.t(), c, csc, rsc, add) };
    }
    // SAFETY: the caller's contract.
    unsafe { blocked(kern, m, k, n, a, b, c, rsc, csc, add) }
}

/// The five loops (see the module's notes).
///
/// # Safety
/// As [`drive`].
#[allow(clippy::too_many_arguments)]
unsafe fn blocked<T: Float>(
    kern: &Kernel<T>,
    m: usize,
    k: usize,
    n: usize,
    a: Strided<T>,
    b: Strided<T>,
    c: *mut T,
    rsc: usize,
    csc: usize,
    add: bool,
) {
    let Kernel { mr, nr, .. } = *kern;
    let kc = kern.kc.min(k);
    let nc = kern.nc.min(n.next_multiple_of(nr));
    let mc = kern.mc.min(m.next_multiple_of(mr));
    // Room to start each buffer on a 64-byte boundary.
    let pad = 64 / std::mem::size_of::<T>();
    scratch::with(&PACK_B, kc * nc + pad, |bbuf: &mut [T]| {
        scratch::with(&PACK_A, mc * kc + pad, |abuf: &mut [T]| {
            let bbuf = aligned(bbuf, kc * nc);
            let abuf = aligned(abuf, mc * kc);
            for jc in (0..n).step_by(nc) {
                let ncb = nc.min(n - jc);
                for pc in (0..k).step_by(kc) {
                    let kcb = kc.min(k - pc);
                    // A row-major op(B) is read in place, all but a last
                    // partial sliver (which would read past it), when it
                    // is small (its rows span few pages, and the copy
                    // would cost more than it saves) or when at most two
                    // slivers of op(A) use it (W4's convolutions, 6 and 16
                    // channels: the copy would cost a good part of the
                    // product).
                    let b_direct =
                        b.cs == 1 && (kcb * b.rs * size_of::<T>() <= DIRECT_BYTES || m <= 2 * mr);
                    let b_packed_from = if b_direct { ncb / nr * nr } else { 0 };
                    // SAFETY: op(B)[pc.., jc + b_packed_from..] is inside B,
                    // and its block too (the caller's contract).
                    unsafe {
                        pack(
                            bbuf,
                            b.at(pc, jc + b_packed_from).t(),
                            ncb - b_packed_from,
                            kcb,
                            nr,
                        )
                    };
                    for ic in (0..m).step_by(mc) {
                        let mcb = mc.min(m - ic);
                        // A row-major op(A) is read in place (packing it
                        // would be a transposition), and a small
                        // column-major one (whose copy would cost more than
                        // it saves), all but a last partial sliver (which
                        // would read past it).
                        let direct = (a.cs == 1 && a.rs != 1)
                            || (a.rs == 1 && kcb * a.cs * size_of::<T>() <= DIRECT_BYTES);
                        let packed_from = if direct { mcb / mr * mr } else { 0 };
                        // SAFETY: op(A)[ic + packed_from.., pc..] and its
                        // (mcb − packed_from) × kcb block are inside A.
                        unsafe {
                            pack(abuf, a.at(ic + packed_from, pc), mcb - packed_from, kcb, mr)
                        };
                        for ir in (0..mcb).step_by(mr) {
                            let (run, sa, ars, aps) = if ir < packed_from {
                                // SAFETY: row ic + ir of op(A) is in A.
                                let sa = unsafe { a.at(ic + ir, pc).ptr };
                                (kern.direct, sa, a.rs, a.cs)
                            } else {
                                let s = &abuf[(ir - packed_from) * kcb..][..mr * kcb];
                                (kern.run, s.as_ptr(), 1, mr)
                            };
                            for jr in (0..ncb).step_by(nr) {
                                let (sb, bps) = if jr < b_packed_from {
                                    // SAFETY: op(B)[pc, jc + jr] is in B.
                                    (unsafe { b.at(pc, jc + jr).ptr }, b.rs)
                                } else {
                                    let s = &bbuf[(jr - b_packed_from) * kcb..][..nr * kcb];
                                    (s.as_ptr(), nr)
                                };
                                let tile = Tile {
                                    // SAFETY: (ic + ir, jc + jr) is in C.
                                    c: unsafe { c.add((ic + ir) * rsc + (jc + jr) * csc) },
                                    rsc,
                                    csc,
                                    rows: mr.min(mcb - ir),
                                    cols: nr.min(ncb - jr),
                                    accumulate: add || pc > 0,
                                };
                                // SAFETY: the slivers address kcb·mr and
                                // kcb·nr values of op(A), op(B) or the
                                // packed buffers (the direct slivers are
                                // whole, inside the matrices); the tile is
                                // inside C, which the caller reserved to
                                // this thread; the caller checked the
                                // kernel's features.
                                unsafe { run(kcb, sa, ars, aps, sb, bps, &tile) };
                            }
                        }
                    }
                }
            }
        })
    })
}

/// The most bytes of a `kc` block of `op(B)`'s rows (`op(A)`'s columns)
/// read in place.
const DIRECT_BYTES: usize = 64 << 10;

/// `len` values of `buf` from its first 64-byte boundary on.
fn aligned<T>(buf: &mut [T], len: usize) -> &mut [T] {
    let skip = buf.as_ptr().align_offset(64).min(buf.len() - len);
    &mut buf[skip..skip + len]
}

#[cfg(test)]
mod tests;
