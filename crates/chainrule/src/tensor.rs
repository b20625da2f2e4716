//! The value type: a row-major buffer and its shape. A `Tensor` knows nothing
//! of graphs; it is what goes into a graph (inputs, parameters) and what comes
//! out (values, gradients).

use crate::error::{Error, ErrorKind, Result};
use crate::float::Float;
use crate::rng;
use crate::shape::Shape;

/// An n-dimensional array of `F` in row-major order.
#[derive(Clone, PartialEq)]
pub struct Tensor<F: Float> {
    shape: Shape,
    data: Vec<F>,
}

impl<F: Float> Tensor<F> {
    /// A tensor from its values (row-major) and dimensions; errors when the
    /// number of values does not fill the shape.
    pub fn from_vec(data: Vec<F>, dims: &[usize]) -> Result<Self> {
        let shape = Shape::new(dims)?;
        Self::from_shape_vec(shape, data)
    }

    /// A tensor from a [`Shape`] and values.
    pub fn from_shape_vec(shape: Shape, data: Vec<F>) -> Result<Self> {
        if data.len() != shape.numel() {
            return Err(Error::from(ErrorKind::DataLength {
                op: "tensor",
                len: data.len(),
                shape,
                numel: shape.numel(),
            }));
        }
        Ok(Tensor { shape, data })
    }

    /// A tensor from `f64` values, rounded to `F`.
    pub fn from_f64(data: &[f64], dims: &[usize]) -> Result<Self> {
        Self::from_vec(data.iter().map(|&v| F::from_f64(v)).collect(), dims)
    }

    /// A rank-0 tensor holding one value.
    pub fn scalar(value: F) -> Self {
        Tensor {
            shape: Shape::scalar(),
            data: vec![value],
        }
    }

    /// A tensor with every element equal to `value`.
    pub fn full(dims: &[usize], value: F) -> Result<Self> {
        let shape = Shape::new(dims)?;
        Ok(Tensor {
            shape,
            data: vec![value; shape.numel()],
        })
    }

    /// A tensor of zeros.
    pub fn zeros(dims: &[usize]) -> Result<Self> {
        Self::full(dims, F::zero())
    }

    /// A tensor of ones.
    pub fn ones(dims: &[usize]) -> Result<Self> {
        Self::full(dims, F::one())
    }

    /// Uniform numbers in `[low, high)`: element `i` is
    /// `low + (high - low) * unit(seed, i)` with the portable generator of
    /// [`crate::rng`]; the same seed gives the same values on every machine
    /// and in both precisions.
    pub fn uniform(dims: &[usize], low: f64, high: f64, seed: u64) -> Result<Self> {
        Self::from_fn(dims, |i| low + (high - low) * rng::unit_at(seed, i))
    }

    /// Normal numbers with the given mean and standard deviation: element
    /// `i` is `mean + std * normal(seed, i)` ([`crate::rng::normal_at`]).
    pub fn normal(dims: &[usize], mean: f64, std: f64, seed: u64) -> Result<Self> {
        Self::from_fn(dims, |i| mean + std * rng::normal_at(seed, i))
    }

    /// A tensor whose element `i` (row-major) is `f(i)`, computed in f64.
    pub fn from_fn(dims: &[usize], f: impl Fn(u64) -> f64) -> Result<Self> {
        let shape = Shape::new(dims)?;
        let data = (0..shape.numel() as u64)
            .map(|i| F::from_f64(f(i)))
            .collect();
        Ok(Tensor { shape, data })
    }

    /// The shape.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }

    /// The values, row-major.
    pub fn data(&self) -> &[F] {
        &self.data
    }

    /// The values, row-major, for writing.
    pub fn data_mut(&mut self) -> &mut [F] {
        &mut self.data
    }

    /// The values, consuming the tensor.
    pub fn into_vec(self) -> Vec<F> {
        self.data
    }

    /// The values converted to f64.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        self.data.iter().map(|v| v.as_f64()).collect()
    }

    /// The single value of a one-element tensor.
    pub fn item(&self) -> Result<F> {
        match self.data.as_slice() {
            [v] => Ok(*v),
            _ => Err(Error::from(ErrorKind::NotAScalar {
                op: "item",
                shape: self.shape,
            })),
        }
    }

    /// The element at a multi-dimensional index.
    pub fn at(&self, index: &[usize]) -> Result<F> {
        let dims = self.shape.dims();
        if index.len() != dims.len() || index.iter().zip(dims).any(|(i, d)| i >= d) {
            return Err(Error::from(ErrorKind::Invalid {
                op: "at",
                detail: format!("index {index:?} is out of bounds"),
                shape: self.shape,
            }));
        }
        let strides = self.shape.strides();
        let off: usize = index.iter().zip(strides.iter()).map(|(i, s)| i * s).sum();
        Ok(self.data[off])
    }

    /// The same values in the other precision (or the same one).
    pub fn cast<G: Float>(&self) -> Tensor<G> {
        Tensor {
            shape: self.shape,
            data: self.data.iter().map(|v| G::from_f64(v.as_f64())).collect(),
        }
    }
}

/// Nested brackets by dimension, e.g. `[[0.15, 0.2], [0.25, 0.3]]`; a
/// precision (`{:.4}`) applies to every element.
impl<F: Float> std::fmt::Display for Tensor<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn level<F: Float>(
            f: &mut std::fmt::Formatter<'_>,
            dims: &[usize],
            data: &[F],
        ) -> std::fmt::Result {
            let Some((&n, rest)) = dims.split_first() else {
                return match f.precision() {
                    Some(p) => write!(f, "{:.*}", p, data[0]),
                    None => write!(f, "{}", data[0]),
                };
            };
            let stride: usize = rest.iter().product();
            write!(f, "[")?;
            for i in 0..n {
                if i > 0 {
                    write!(f, ", ")?;
                }
                level(f, rest, &data[i * stride..(i + 1) * stride])?;
            }
            write!(f, "]")
        }
        level(f, self.dims(), &self.data)
    }
}

impl<F: Float> std::fmt::Debug for Tensor<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor{}{:?}", self.shape, self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn construction_and_reading() {
        let t = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
        assert_eq!(t.at(&[1, 2]).unwrap(), 6.0);
        assert_eq!(t.at(&[0, 1]).unwrap(), 2.0);
        assert!(t.at(&[2, 0]).is_err());
        let e = Tensor::<f32>::from_vec(vec![1.0; 5], &[2, 3]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "tensor: 5 values cannot fill shape [2, 3] (6 elements)"
        );
        assert_eq!(Tensor::<f32>::scalar(2.5).item().unwrap(), 2.5);
        assert!(Tensor::<f32>::ones(&[2]).unwrap().item().is_err());
        assert_eq!(t.to_string(), "[[1, 2, 3], [4, 5, 6]]");
        assert_eq!(format!("{:.1}", Tensor::<f64>::scalar(0.25)), "0.2");
        assert_eq!(
            Tensor::<f64>::zeros(&[2, 0]).unwrap().to_string(),
            "[[], []]"
        );
    }

    #[test]
    fn seeded_random_is_reproducible_and_precision_independent() {
        let a = Tensor::<f32>::uniform(&[3, 4], -1.0, 1.0, 42).unwrap();
        let b = Tensor::<f64>::uniform(&[3, 4], -1.0, 1.0, 42).unwrap();
        assert_eq!(a.cast::<f64>(), b);
        // Element 0 is 2 * unit(42, 0) - 1 with unit from the top 24 bits.
        let expected = 2.0 * (rng::u64_at(42, 0) >> 40) as f64 / 16_777_216.0 - 1.0;
        assert_eq!(b.data()[0], expected);
        assert!(a.data().iter().all(|v| (-1.0..1.0).contains(v)));
        let n = Tensor::<f64>::normal(&[1000], 1.0, 2.0, 5).unwrap();
        assert_eq!(n, Tensor::<f64>::normal(&[1000], 1.0, 2.0, 5).unwrap());
    }
}
