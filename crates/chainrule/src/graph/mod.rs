//! The computational graph: a tape of nodes in creation order (which is a
//! topological order), values in one recycled arena, and the reverse loop
//! that applies the chain rule. No maths lives here: each operation's
//! forward kernel and backward rule are in [`crate::ops`].

mod backward;
mod fused_sgd;
mod param_grads;
mod parameters;
mod ready;
mod tape;
mod var;
mod weight_step;

pub use backward::Grads;
pub use backward::{BackwardCtx, BackwardTrace, Contribution};
pub use parameters::ParamId;
pub use ready::ReadyHook;
pub use tape::{Graph, NoGradGuard, NodeInfo};
pub use var::Var;
