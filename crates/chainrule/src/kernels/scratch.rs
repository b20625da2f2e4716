//! Per-thread scratch buffers that only grow, so that a warm step
//! allocates nothing: im2col's columns, the GEMM's transposed operand.
//!
//! Each user declares its own buffer (a `thread_local!` of
//! `RefCell<Vec<u64>>`), since one kernel may hold its scratch while
//! calling another that needs its own (convolution holds its columns while
//! the GEMM uses its buffer).

use crate::float::Float;
use std::cell::RefCell;
use std::thread::LocalKey;

/// A scratch buffer's storage: 8-byte words, so that it is aligned for
/// any `F` (f32 or f64).
pub(crate) type Buffer = RefCell<Vec<u64>>;

/// Runs `f` on `len` elements of the thread's buffer `key`, grown if
/// needed. Its contents on entry are unspecified. A re-entered buffer
/// (a kernel calling itself) falls back to a fresh vector.
pub(crate) fn with<F: Float, R>(
    key: &'static LocalKey<Buffer>,
    len: usize,
    f: impl FnOnce(&mut [F]) -> R,
) -> R {
    const { assert!(std::mem::size_of::<F>() <= 8 && std::mem::align_of::<F>() <= 8) };
    key.with(|cell| match cell.try_borrow_mut() {
        Ok(mut words) => {
            let need = (len * std::mem::size_of::<F>()).div_ceil(8);
            if words.len() < need {
                words.resize(need, 0);
            }
            // SAFETY: the buffer holds at least `len · size_of::<F>()`
            // bytes, 8-aligned (enough for `F`, checked above), and `F` is
            // f32 or f64, for which every bit pattern is a valid value.
            let scratch =
                unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr() as *mut F, len) };
            f(scratch)
        }
        Err(_) => f(&mut vec![F::zero(); len]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static TEST: Buffer = const { RefCell::new(Vec::new()) };
    }

    #[test]
    fn grows_keeps_its_storage_and_survives_reentry() {
        with(&TEST, 3, |s: &mut [f64]| {
            s.copy_from_slice(&[1.0, 2.0, 3.0])
        });
        let words = TEST.with(|c| c.borrow().len());
        assert_eq!(words, 3);
        // Smaller requests reuse the buffer; f32 takes half a word each.
        with(&TEST, 5, |s: &mut [f32]| assert_eq!(s.len(), 5));
        assert_eq!(TEST.with(|c| c.borrow().len()), 3);
        // Re-entered: the inner call gets its own zeroed vector.
        let inner = with(&TEST, 2, |outer: &mut [f64]| {
            outer[0] = 7.0;
            with(&TEST, 2, |s: &mut [f64]| s.to_vec())
        });
        assert_eq!(inner, [0.0, 0.0]);
    }
}
