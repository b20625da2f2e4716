//! Loops over plain slices: no graph, no nodes, no allocation. Every kernel
//! writes every element of its output (whose contents are unspecified on
//! entry, since buffers are recycled).

pub(crate) mod background;
pub mod conv;
mod conv_product;
pub mod elementwise;
mod gemm;
mod gemv;
pub mod layout;
pub mod matmul;
pub(crate) mod matmul_add;
pub mod pool;
pub mod reduce;
mod scratch;
pub mod softmax;
pub mod team;
pub mod threads;
pub mod transpose;
