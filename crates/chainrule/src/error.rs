//! Errors: every variant names the operation and the shapes involved, so a
//! message such as `matmul: cannot multiply [2, 3] by [4, 5]` says what
//! failed and where without a debugger.

use crate::shape::Shape;

/// Result type of every fallible operation in chainrule.
pub type Result<T> = std::result::Result<T, Error>;

/// An error of chainrule: one pointer wide, so that `Result<T>` costs no
/// more than `T` on the success path. [`Error::kind`] tells what happened.
#[derive(Clone, PartialEq)]
pub struct Error(Box<ErrorKind>);

impl Error {
    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error(Box::new(kind))
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({:?})", self.0, self.0)
    }
}

impl std::error::Error for Error {}

/// What went wrong, with the operation's name and the shapes involved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ErrorKind {
    /// Two shapes that do not broadcast together (NumPy rules).
    #[error("{op}: shapes {lhs} and {rhs} cannot be broadcast together")]
    Broadcast {
        op: &'static str,
        lhs: Shape,
        rhs: Shape,
    },
    /// Matrix product with inner dimensions or batch sizes that disagree.
    #[error("{op}: cannot multiply {lhs} by {rhs}")]
    MatMul {
        op: &'static str,
        lhs: Shape,
        rhs: Shape,
    },
    /// Two shapes that must agree (after the op's own rules) but do not.
    #[error("{op}: shapes {lhs} and {rhs} do not match ({reason})")]
    ShapeMismatch {
        op: &'static str,
        lhs: Shape,
        rhs: Shape,
        reason: &'static str,
    },
    /// An axis outside `0..rank`.
    #[error("{op}: axis {axis} is out of range for shape {shape}")]
    Axis {
        op: &'static str,
        axis: usize,
        shape: Shape,
    },
    /// An argument that is invalid for the given shape.
    #[error("{op}: {detail} (shape {shape})")]
    Invalid {
        op: &'static str,
        detail: String,
        shape: Shape,
    },
    /// More dimensions than the engine supports.
    #[error("{op}: {rank} dimensions requested, at most {max} are supported")]
    Rank {
        op: &'static str,
        rank: usize,
        max: usize,
    },
    /// A data vector whose length does not fill the shape.
    #[error("{op}: {len} values cannot fill shape {shape} ({numel} elements)")]
    DataLength {
        op: &'static str,
        len: usize,
        shape: Shape,
        numel: usize,
    },
    /// A shape whose element count overflows or exceeds the engine's limit.
    #[error("{op}: shape {dims:?} has too many elements (limit {limit})")]
    TooLarge {
        op: &'static str,
        dims: Vec<usize>,
        limit: usize,
    },
    /// `backward` on a value that does not depend on anything requiring a gradient.
    #[error("backward: {what} does not require a gradient (no input of it was created with requires_grad, or it was computed under no_grad or detached)")]
    NoGradRequired { what: String },
    /// `backward` without a seed on a value that is not a scalar.
    #[error("backward: the output has shape {shape}, not a scalar; give a seed gradient of that shape (backward_with)")]
    NotScalar { shape: Shape },
    /// Asking for a gradient that was never computed.
    #[error("grad: no gradient has been computed for {what}; call backward first (and retain_grad for intermediate values)")]
    NoGrad { what: String },
    /// A fused step (`backward_sgd`) while gradients of an earlier backward
    /// pass are still held.
    #[error("{op}: parameter {param} already holds a gradient from an earlier backward pass; call zero_grad first")]
    GradientsPending { op: &'static str, param: usize },
    /// A scalar was expected (`item`).
    #[error("{op}: expected a single value, found shape {shape}")]
    NotAScalar { op: &'static str, shape: Shape },
    /// A NaN or infinity caught in anomaly mode.
    #[error("anomaly: {0}")]
    Anomaly(Box<crate::anomaly::Anomaly>),
    /// A handle used with a graph it does not belong to, or after it was cleared.
    #[error("{op}: {detail}")]
    ForeignHandle { op: &'static str, detail: String },
}
