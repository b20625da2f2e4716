//! # chainrule
//!
//! Define-by-run reverse-mode automatic differentiation for training neural
//! networks on the CPU, built so that every number of a forward and backward
//! pass can be seen and trusted.
//!
//! ```
//! use chainrule::{Graph, Tensor};
//!
//! // f(x, y) = (x + y) · (x − 1) at x = 3, y = 2.
//! let g = Graph::<f64>::new();
//! let x = g.scalar_variable(3.0);
//! let y = g.scalar_variable(2.0);
//! let f = x.add(y)?.mul(x.add_scalar(-1.0))?;
//! f.backward()?;
//! assert_eq!(f.item()?, 10.0);
//! assert_eq!(x.grad()?.item()?, 7.0); // two paths: (x − 1) + (x + y)
//! assert_eq!(y.grad()?.item()?, 2.0);
//! # Ok::<(), chainrule::Error>(())
//! ```
//!
//! Layout: [`tensor`] (values), [`shape`] (shapes and broadcasting),
//! [`kernels`] (loops over slices), [`graph`] (the tape and the reverse
//! loop, no maths), [`ops`] (each operation's forward and backward side by
//! side), [`gradcheck`] (finite differences in f64).

pub mod anomaly;
pub mod error;
pub mod float;
pub mod gradcheck;
pub mod graph;
pub mod kernels;
pub mod machine;
pub mod ops;
pub mod rng;
pub mod shape;
pub mod stats;
pub mod tensor;
pub mod worked;

pub use anomaly::{Anomaly, Phase};
pub use error::{Error, ErrorKind, Result};
pub use float::Float;
pub use graph::{
    BackwardCtx, BackwardTrace, Contribution, Grads, Graph, NoGradGuard, NodeInfo, ParamId,
    ReadyHook, Var,
};
pub use ops::{BatchNormTrain, BiasAct, Conv2dParams, CustomOp, CustomOpId, Op, Pool2dParams};
pub use shape::Shape;
pub use stats::Summary;
pub use tensor::Tensor;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
