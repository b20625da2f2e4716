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
                            transpose8x8(
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

/// Whether [`transpose8x8`] can move `T`s: 4-byte values on a processor
/// with AVX.
#[cfg(target_arch = "x86_64")]
fn transpose8<T>() -> bool {
    std::mem::size_of::<T>() == 4 && std::arch::is_x86_feature_detected!("avx")
}

/// Writes the transpose of the 8 × 8 block of 4-byte values at `src` (row
/// stride `rs`) to `dst` (row stride `rd`): `dst[q·rd + i] = src[i·rs + q]`.
/// Eight loads, 24 shuffles and eight stores instead of 64 scalar moves.
///
/// # Safety
/// The processor has AVX; both blocks lie inside their allocations.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn transpose8x8(src: *const f32, rs: usize, dst: *mut f32, rd: usize) {
    use std::arch::x86_64::*;
    // SAFETY: rows 0..8 of 8 values at src + i·rs are inside the block.
    let r: [__m256; 8] = std::array::from_fn(|i| unsafe { _mm256_loadu_ps(src.add(i * rs)) });
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
    let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    let out = [
        _mm256_permute2f128_ps::<0x20>(u0, u4),
        _mm256_permute2f128_ps::<0x20>(u1, u5),
        _mm256_permute2f128_ps::<0x20>(u2, u6),
        _mm256_permute2f128_ps::<0x20>(u3, u7),
        _mm256_permute2f128_ps::<0x31>(u0, u4),
        _mm256_permute2f128_ps::<0x31>(u1, u5),
        _mm256_permute2f128_ps::<0x31>(u2, u6),
        _mm256_permute2f128_ps::<0x31>(u3, u7),
    ];
    for (q, v) in out.into_iter().enumerate() {
        // SAFETY: row q of 8 values at dst + q·rd is inside the block.
        unsafe { _mm256_storeu_ps(dst.add(q * rd), v) };
    }
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
}
