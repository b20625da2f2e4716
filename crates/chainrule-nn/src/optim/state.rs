//! An optimizer's state as plain data, for checkpoints: everything that
//! [`Optimizer::step`](super::Optimizer::step) carries from one step to the
//! next besides the hyperparameters (which come from the training config).
//!
//! - SGD: the momentum buffer of each parameter (`velocity`). A parameter
//!   whose buffer is empty has not been stepped yet: its next step starts the
//!   buffer at the gradient, as PyTorch does.
//! - Adam and AdamW: the first and second moments (`m`, `v`) of each
//!   parameter and the step count `t` of the bias corrections.

use crate::error::{Error, Result};
use chainrule::Float;

/// The state of an optimizer: its kind, its step count, and named buffers
/// with one vector per parameter (indexed by the parameter's registration
/// order; empty where the parameter has no state yet).
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState<F: Float> {
    /// `"sgd"` or `"adam"` (AdamW has Adam's state).
    pub kind: String,
    /// Steps taken (Adam's `t`; 0 for SGD, which does not need it).
    pub steps: u64,
    /// `(name, per-parameter vectors)`, in a fixed order per kind.
    pub buffers: Vec<(String, Vec<Vec<F>>)>,
}

impl<F: Float> OptimizerState<F> {
    /// The buffer `name`, or an error naming what is missing.
    pub fn buffer(&self, name: &str) -> Result<&[Vec<F>]> {
        self.buffers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_slice())
            .ok_or_else(|| {
                Error::config(
                    "optimizer state",
                    format!("the {} state has no '{name}' buffer", self.kind),
                )
            })
    }

    /// Checks that the state is of `kind` with exactly the buffers `names`
    /// (in any order).
    pub fn expect(&self, kind: &str, names: &[&str]) -> Result<()> {
        if self.kind != kind {
            return Err(Error::config(
                "optimizer state",
                format!(
                    "the state is of a {} optimizer, this optimizer is {kind}",
                    self.kind
                ),
            ));
        }
        let mut have: Vec<&str> = self.buffers.iter().map(|(n, _)| n.as_str()).collect();
        let mut want = names.to_vec();
        have.sort_unstable();
        want.sort_unstable();
        if have != want {
            return Err(Error::config(
                "optimizer state",
                format!("the {kind} state holds buffers {have:?}, expected {names:?}"),
            ));
        }
        Ok(())
    }
}
