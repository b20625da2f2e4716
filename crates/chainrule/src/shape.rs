//! Shapes: up to [`MAX_RANK`] dimensions stored inline (no allocation), the
//! NumPy broadcasting rule, and axis bookkeeping shared by the kernels.

use crate::error::{Error, ErrorKind, Result};
use std::fmt;

/// The largest number of dimensions a tensor may have.
pub const MAX_RANK: usize = 6;

/// The most elements one tensor may hold (2^31), so that a hostile shape is
/// refused before any memory is committed.
pub const MAX_ELEMENTS: usize = 1 << 31;

/// The dimensions of a tensor, row-major. A scalar has rank 0.
///
/// Equality and hashing look only at the used dimensions (comparing whole
/// arrays calls `memcmp`, and shapes are compared on every operation).
#[derive(Clone, Copy, Eq)]
pub struct Shape {
    dims: [usize; MAX_RANK],
    rank: u8,
    /// The element count, kept so that `numel` is a load (it is asked for
    /// on every operation).
    len: usize,
}

impl Default for Shape {
    /// The scalar shape.
    fn default() -> Shape {
        Shape {
            dims: [0; MAX_RANK],
            rank: 0,
            len: 1,
        }
    }
}

impl Shape {
    /// A shape from its dimensions; errors past [`MAX_RANK`] dimensions or
    /// [`MAX_ELEMENTS`] elements.
    pub fn new(dims: &[usize]) -> Result<Shape> {
        Shape::for_op("shape", dims)
    }

    /// As [`Shape::new`], with errors naming the operation `op`.
    pub fn for_op(op: &'static str, dims: &[usize]) -> Result<Shape> {
        if dims.len() > MAX_RANK {
            return Err(Error::from(ErrorKind::Rank {
                op,
                rank: dims.len(),
                max: MAX_RANK,
            }));
        }
        let mut total: usize = 1;
        for &d in dims {
            total = match total.checked_mul(d) {
                Some(t) if t <= MAX_ELEMENTS => t,
                _ => {
                    return Err(Error::from(ErrorKind::TooLarge {
                        op,
                        dims: dims.to_vec(),
                        limit: MAX_ELEMENTS,
                    }))
                }
            };
        }
        let mut s = Shape::default();
        s.dims[..dims.len()].copy_from_slice(dims);
        s.rank = dims.len() as u8;
        s.len = total;
        Ok(s)
    }

    /// The shape of a scalar: no dimensions, one element.
    pub fn scalar() -> Shape {
        Shape::default()
    }

    /// The dimensions, outermost first.
    pub fn dims(&self) -> &[usize] {
        &self.dims[..self.rank as usize]
    }

    /// The number of dimensions.
    pub fn rank(&self) -> usize {
        self.rank as usize
    }

    /// The number of elements (1 for a scalar).
    #[inline]
    pub fn numel(&self) -> usize {
        self.len
    }

    /// Recomputes the element count after the dimensions changed.
    fn counted(mut self) -> Shape {
        self.len = self.dims().iter().product();
        self
    }

    /// Row-major strides, in elements.
    pub fn strides(&self) -> [usize; MAX_RANK] {
        let mut strides = [0; MAX_RANK];
        let mut acc = 1;
        for i in (0..self.rank()).rev() {
            strides[i] = acc;
            acc *= self.dims[i];
        }
        strides
    }

    /// Checks that `axis` is a valid axis for this shape.
    pub fn check_axis(&self, op: &'static str, axis: usize) -> Result<()> {
        if axis < self.rank() {
            Ok(())
        } else {
            Err(Error::from(ErrorKind::Axis {
                op,
                axis,
                shape: *self,
            }))
        }
    }

    /// Splits the shape around `axis` into `(outer, size, inner)`: the
    /// product of the dimensions before it, its own size, and the product of
    /// the dimensions after it. Every axis kernel works on this view.
    pub(crate) fn split_at_axis(&self, axis: usize) -> (usize, usize, usize) {
        let d = self.dims();
        (
            d[..axis].iter().product(),
            d[axis],
            d[axis + 1..].iter().product(),
        )
    }

    /// The same shape with `axis` set to `size` (used by reductions with
    /// keepdim, slicing and concatenation).
    pub(crate) fn with_dim(&self, axis: usize, size: usize) -> Shape {
        let mut s = *self;
        s.dims[axis] = size;
        s.counted()
    }

    /// The same shape with `axis` removed.
    pub(crate) fn without_dim(&self, axis: usize) -> Shape {
        let mut s = Shape::default();
        let mut r = 0;
        for (i, &d) in self.dims().iter().enumerate() {
            if i != axis {
                s.dims[r] = d;
                r += 1;
            }
        }
        s.rank = r as u8;
        s.counted()
    }

    /// The shape both `a` and `b` broadcast to under NumPy's rule: align the
    /// dimensions from the right; each pair must be equal or contain a 1.
    pub fn broadcast(op: &'static str, a: Shape, b: Shape) -> Result<Shape> {
        let rank = a.rank().max(b.rank());
        let mut out = Shape {
            dims: [0; MAX_RANK],
            rank: rank as u8,
            len: 1,
        };
        for i in 0..rank {
            let da = a.dim_from_right(i);
            let db = b.dim_from_right(i);
            out.dims[rank - 1 - i] = match (da, db) {
                (x, y) if x == y => x,
                (1, y) => y,
                (x, 1) => x,
                _ => return Err(Error::from(ErrorKind::Broadcast { op, lhs: a, rhs: b })),
            };
        }
        Ok(out.counted())
    }

    /// Whether this shape broadcasts to `target` (NumPy's rule, one way).
    pub fn broadcasts_to(&self, target: Shape) -> bool {
        self.rank() <= target.rank()
            && (0..self.rank()).all(|i| {
                let d = self.dim_from_right(i);
                d == 1 || d == target.dim_from_right(i)
            })
    }

    /// The `i`-th dimension counted from the right, 1 beyond the rank.
    fn dim_from_right(&self, i: usize) -> usize {
        if i < self.rank() {
            self.dims[self.rank() - 1 - i]
        } else {
            1
        }
    }

    /// Strides for reading a tensor of this shape as if it had shape
    /// `target` (which it broadcasts to): broadcast dimensions get stride 0.
    #[cfg(test)]
    pub(crate) fn broadcast_strides(&self, target: Shape) -> [usize; MAX_RANK] {
        let own = self.strides();
        let mut strides = [0; MAX_RANK];
        let offset = target.rank() - self.rank();
        for i in 0..self.rank() {
            if self.dims[i] != 1 {
                strides[offset + i] = own[i];
            }
        }
        strides
    }
}

impl PartialEq for Shape {
    #[inline]
    fn eq(&self, other: &Shape) -> bool {
        self.rank == other.rank && (0..self.rank as usize).all(|i| self.dims[i] == other.dims[i])
    }
}

impl std::hash::Hash for Shape {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.dims().hash(state);
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.dims().iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(d: &[usize]) -> Shape {
        Shape::new(d).unwrap()
    }

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(
            Shape::broadcast("t", s(&[2, 3]), s(&[3])).unwrap(),
            s(&[2, 3])
        );
        assert_eq!(
            Shape::broadcast("t", s(&[4, 1, 3]), s(&[2, 1])).unwrap(),
            s(&[4, 2, 3])
        );
        assert_eq!(Shape::broadcast("t", s(&[]), s(&[5])).unwrap(), s(&[5]));
        let e = Shape::broadcast("add", s(&[2, 3]), s(&[4])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "add: shapes [2, 3] and [4] cannot be broadcast together"
        );
    }

    #[test]
    fn strides_are_row_major() {
        assert_eq!(&s(&[2, 3, 4]).strides()[..3], &[12, 4, 1]);
        assert_eq!(&s(&[3]).broadcast_strides(s(&[2, 3]))[..2], &[0, 1]);
    }

    #[test]
    fn hostile_shapes_are_refused() {
        let rank = Shape::new(&[1, 1, 1, 1, 1, 1, 1]).unwrap_err();
        assert!(matches!(rank.kind(), ErrorKind::Rank { .. }));
        let size = Shape::new(&[usize::MAX, 2]).unwrap_err();
        assert!(matches!(size.kind(), ErrorKind::TooLarge { .. }));
    }
}
