//! Packing: copies a block of a strided operand into the sliver layout the
//! microkernels read with unit stride.
//!
//! - `op(A)`'s `mc × kc` block becomes `⌈mc / mr⌉` slivers of `kc` steps of
//!   `mr` values: step `p` of sliver `s` holds `op(A)[s·mr + i][p]` for
//!   `i < mr`.
//! - `op(B)`'s `kc × nc` block becomes `⌈nc / nr⌉` slivers of `kc` steps of
//!   `nr` values: step `p` of sliver `s` holds `op(B)[p][s·nr + j]`.
//!
//! Rows (columns) past the block's edge are zeros, so that the kernels
//! always compute whole tiles; only the store is cut to the edge.
//!
//! Both operands are a [`Strided`] view: element `(i, j)` at
//! `ptr + i·rs + j·cs`. A sliver is read along whichever stride is 1 (the
//! loops keep the reads contiguous and let the writes stride), so a
//! transposed operand packs as fast as a plain one.

/// A strided matrix view: element `(i, j)` at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Strided<T> {
    pub ptr: *const T,
    pub rs: usize,
    pub cs: usize,
}

impl<T> Strided<T> {
    /// The view from element `(i, j)` on.
    ///
    /// # Safety
    /// `(i, j)` must address an element of the allocation.
    pub unsafe fn at(self, i: usize, j: usize) -> Self {
        Strided {
            // SAFETY: the caller's contract.
            ptr: unsafe { self.ptr.add(i * self.rs + j * self.cs) },
            ..self
        }
    }

    /// The same view with its element type relabelled (for a caller that
    /// checked that `U` is `T`).
    pub fn cast<U>(self) -> Strided<U> {
        Strided {
            ptr: self.ptr as *const U,
            rs: self.rs,
            cs: self.cs,
        }
    }

    /// The transposed view.
    pub fn t(self) -> Self {
        Strided {
            ptr: self.ptr,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

/// Packs `rows × depth` of `src` (rows along `src`'s first index, depth
/// along its second) into slivers of `w` rows: step `p` of sliver `s` is
/// `dst[(s·depth + p)·w ..][..w]` = `src[s·w + i][p]`, zeros past `rows`.
/// `op(A)` packs as is (`rows = mc`, `depth = kc`, `w = MR`); `op(B)` as
/// its transpose (`rows = nc`, `w = NR`).
///
/// # Safety
/// Every `src` element `(i, p)` with `i < rows`, `p < depth` must be
/// readable; `dst` must hold `⌈rows / w⌉ · depth · w` values.
pub(super) unsafe fn pack<T: Copy + Default>(
    dst: &mut [T],
    src: Strided<T>,
    rows: usize,
    depth: usize,
    w: usize,
) {
    let slivers = rows.div_ceil(w);
    debug_assert!(dst.len() >= slivers * depth * w);
    for s in 0..slivers {
        let r0 = s * w;
        let live = w.min(rows - r0);
        let out = &mut dst[s * depth * w..(s + 1) * depth * w];
        if src.rs == 1 {
            // The sliver's rows are adjacent: each step copies `live`
            // contiguous values.
            if live == w {
                // SAFETY: (r0 .. r0 + w, p < depth) lie inside the block;
                // `out` holds depth·w values.
                let done = unsafe { copy_steps(out, src.ptr.add(r0), src.cs, depth, w) };
                if done {
                    continue;
                }
            }
            for (p, step) in out.chunks_exact_mut(w).enumerate() {
                // SAFETY: (r0 .. r0 + live, p) lie inside the block.
                let col = unsafe { std::slice::from_raw_parts(src.ptr.add(r0 + p * src.cs), live) };
                // An element loop, not `copy_from_slice`: a call to memcpy
                // per step would cost more than the copy.
                for (d, &v) in step.iter_mut().zip(col) {
                    *d = v;
                }
                step[live..].fill(T::default());
            }
        } else if src.cs == 1 {
            // Each row is contiguous along the depth: a transposition.
            // Eight steps at a time, so that the writes of a chunk stay
            // within 8·w values (a few cache lines) while each row's
            // eight reads are one contiguous run.
            let full = depth / 8 * 8;
            #[cfg(target_arch = "x86_64")]
            if live == w && w.is_multiple_of(8) && transpose8::<T>() {
                for p0 in (0..full).step_by(8) {
                    for i0 in (0..w).step_by(8) {
                        // SAFETY: rows r0 + i0 .. + 8 and steps p0 .. p0 + 8
                        // lie inside the block; step p0 + q's values
                        // i0 .. i0 + 8 lie inside `out`; `transpose8`
                        // checked AVX and that T is 4 bytes (f32).
                        unsafe {
                            super::super::transpose::tile_8x8(
                                src.ptr.add((r0 + i0) * src.rs + p0) as *const f32,
                                src.rs,
                                out.as_mut_ptr().add(p0 * w + i0) as *mut f32,
                                w,
                            )
                        };
                    }
                }
                for i in 0..live {
                    for p in full..depth {
                        // SAFETY: (r0 + i, p) lies inside the block.
                        out[p * w + i] = unsafe { *src.ptr.add((r0 + i) * src.rs + p) };
                    }
                }
                continue;
            }
            for p0 in (0..full).step_by(8) {
                let chunk = &mut out[p0 * w..(p0 + 8) * w];
                for i in 0..live {
                    // SAFETY: (r0 + i, p0 .. p0 + 8) lie inside the block.
                    let run: [T; 8] =
                        unsafe { *(src.ptr.add((r0 + i) * src.rs + p0) as *const [T; 8]) };
                    for (q, v) in run.into_iter().enumerate() {
                        chunk[q * w + i] = v;
                    }
                }
            }
            for i in 0..live {
                for p in full..depth {
                    // SAFETY: (r0 + i, p) lies inside the block.
                    out[p * w + i] = unsafe { *src.ptr.add((r0 + i) * src.rs + p) };
                }
            }
            if live < w {
                for step in out.chunks_exact_mut(w) {
                    step[live..].fill(T::default());
                }
            }
        } else {
            for (p, step) in out.chunks_exact_mut(w).enumerate() {
                for (i, v) in step.iter_mut().enumerate() {
                    *v = if i < live {
                        // SAFETY: (r0 + i, p) lies inside the block.
                        unsafe { *src.ptr.add((r0 + i) * src.rs + p * src.cs) }
                    } else {
                        T::default()
                    };
                }
            }
        }
    }
}

/// Copies `depth` runs of `w` contiguous values, run `p` from `src +
/// p·stride`, to `dst[p·w..][..w]`, as whole fixed-size arrays, when `w`
/// is one of the sliver widths below (false otherwise, nothing copied).
///
/// Why not an element loop: the compiler turns that into a call to
/// `memcpy` per run, and for runs of 8 to 32 values (32 to 128 bytes, a
/// packed `op(A)` step of a weight gradient) the call costs more than the
/// copy: 8 % of a batch-1024 W2 step went there. A copy of a `[T; W]`
/// has a size known when compiling, so it becomes a few vector moves.
///
/// # Safety
/// `src + p·stride + j` must be readable for `p < depth`, `j < w`, and
/// `dst` must hold `depth · w` values.
unsafe fn copy_steps<T: Copy>(
    dst: &mut [T],
    src: *const T,
    stride: usize,
    depth: usize,
    w: usize,
) -> bool {
    /// The copy for one width.
    ///
    /// # Safety
    /// As `copy_steps` with `w = W`.
    unsafe fn runs<T: Copy, const W: usize>(dst: &mut [T], src: *const T, stride: usize) {
        for (p, step) in dst.chunks_exact_mut(W).enumerate() {
            // SAFETY: the caller's contract: run p's W values are
            // readable (unaligned, hence `read_unaligned`).
            let run: [T; W] = unsafe { (src.add(p * stride) as *const [T; W]).read_unaligned() };
            // `chunks_exact_mut(W)` yields exactly W values.
            let step: &mut [T; W] = step.try_into().expect("a chunk of W values");
            *step = run;
        }
    }
    let dst = &mut dst[..depth * w];
    // SAFETY (each arm): the caller's contract with `w = W`.
    match w {
        8 => unsafe { runs::<T, 8>(dst, src, stride) },
        16 => unsafe { runs::<T, 16>(dst, src, stride) },
        32 => unsafe { runs::<T, 32>(dst, src, stride) },
        _ => return false,
    }
    true
}

/// Whether the 8×8 tile transposition (`kernels/transpose.rs`) can move `T`s: 4-byte values on a processor
/// with AVX.
#[cfg(target_arch = "x86_64")]
fn transpose8<T>() -> bool {
    std::mem::size_of::<T>() == 4 && std::arch::is_x86_feature_detected!("avx")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slivers_hold_the_block_in_kernel_order_with_zero_padding() {
        // A 5×3 matrix with value 10·i + j, packed 2 rows per sliver, read
        // through each stride pattern (row-major, column-major, strided).
        let rows = 5;
        let depth = 3;
        let row_major: Vec<f64> = (0..rows * depth)
            .map(|x| (10 * (x / depth) + x % depth) as f64)
            .collect();
        let col_major: Vec<f64> = (0..rows * depth)
            .map(|x| (10 * (x % rows) + x / rows) as f64)
            .collect();
        // Every fourth element of a 5×12 buffer: (i, j) at 12·i + 4·j.
        let spread: Vec<f64> = (0..rows * depth * 4)
            .map(|x| {
                if x % 4 == 0 {
                    (10 * (x / 12) + (x % 12) / 4) as f64
                } else {
                    f64::NAN
                }
            })
            .collect();
        let expected = [
            0., 10., 1., 11., 2., 12., // sliver 0
            20., 30., 21., 31., 22., 32., // sliver 1
            40., 0., 41., 0., 42., 0., // sliver 2, padded
        ];
        for (data, rs, cs) in [
            (&row_major, depth, 1),
            (&col_major, 1, rows),
            (&spread, 4 * depth, 4),
        ] {
            let mut dst = vec![f64::NAN; 18];
            let src = Strided {
                ptr: data.as_ptr(),
                rs,
                cs,
            };
            // SAFETY: the view addresses the 5×3 elements of `data`.
            unsafe { pack(&mut dst, src, rows, depth, 2) };
            assert_eq!(dst, expected, "rs {rs}, cs {cs}");
        }
    }

    #[test]
    fn whole_slivers_of_kernel_widths_copy_as_fixed_runs() {
        // Column-major blocks (rows adjacent) of 2·w + 3 rows, 5 steps, with
        // a gap of 7 values between columns: the whole slivers take the
        // fixed-size copy, the last one the element loop with zeros.
        for w in [8, 16, 32] {
            let (rows, depth, cs) = (2 * w + 3, 5, 2 * w + 10);
            let data: Vec<f32> = (0..depth * cs).map(|x| x as f32).collect();
            let src = Strided {
                ptr: data.as_ptr(),
                rs: 1,
                cs,
            };
            let slivers = rows.div_ceil(w);
            let mut dst = vec![f32::NAN; slivers * depth * w];
            // SAFETY: (i < rows, p < depth) is at p·cs + i < depth·cs.
            unsafe { pack(&mut dst, src, rows, depth, w) };
            for s in 0..slivers {
                for p in 0..depth {
                    for i in 0..w {
                        let r = s * w + i;
                        let want = if r < rows { (p * cs + r) as f32 } else { 0.0 };
                        assert_eq!(dst[(s * depth + p) * w + i], want, "w {w} row {r} step {p}");
                    }
                }
            }
        }
    }
}
