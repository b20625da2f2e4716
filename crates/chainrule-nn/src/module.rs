//! The `Module` trait: a forward pass and named parameters.

use crate::error::Result;
use chainrule::{Float, Graph, ParamId, Var};

/// A layer or network: maps an input to an output on a graph and lists its
/// parameters by name (PyTorch's state_dict names).
pub trait Module<F: Float> {
    /// The forward pass.
    fn forward<'g>(&self, g: &'g Graph<F>, x: Var<'g, F>) -> Result<Var<'g, F>>;

    /// Every parameter with its name, in a fixed order.
    fn parameters(&self) -> Vec<(String, ParamId)>;
}
