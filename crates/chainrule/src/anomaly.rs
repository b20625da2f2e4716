//! NaN and infinity provenance: in anomaly mode every operation's output is
//! checked, in the forward and the backward pass, and the first one that is
//! not finite is reported with its operation, its place in the graph, what
//! its inputs looked like, the likely cause and a hint.

use crate::ops::Op;
use crate::stats::Summary;
use std::fmt;

/// When the non-finite value appeared.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Phase {
    /// Computing node values.
    Forward,
    /// Applying the backward rule of node `of_node` (operation `of_op`).
    Backward { of_node: usize, of_op: Op },
}

/// The first operation that produced a NaN or an infinity.
#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    /// The node holding the bad value.
    pub node: usize,
    /// Its operation.
    pub op: Op,
    /// Forward or backward.
    pub phase: Phase,
    /// Its output.
    pub output: Summary,
    /// Its inputs.
    pub inputs: Vec<Summary>,
    /// The likely cause, e.g. "log of 0".
    pub cause: String,
    /// What to try.
    pub hint: String,
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let produced = if self.output.nan > 0 {
            "NaN"
        } else {
            "an infinity"
        };
        match self.phase {
            Phase::Forward => write!(f, "{} (node {}) produced {produced} in the forward pass", self.op.name(), self.node)?,
            Phase::Backward { of_node, of_op } => write!(
                f,
                "{} (node {}) produced {produced} in the backward pass, while differentiating {} (node {of_node})",
                self.op.name(),
                self.node,
                of_op.name()
            )?,
        }
        write!(f, ": likely {}", self.cause)?;
        for (k, s) in self.inputs.iter().enumerate() {
            write!(f, "; input {} {s}", k + 1)?;
        }
        write!(f, ". Hint: {}", self.hint)
    }
}

/// The likely cause and a hint for a non-finite output of `op` from
/// `inputs` (which were finite).
pub(crate) fn explain(
    op: Op,
    inputs: &[Summary],
    output: &Summary,
    max_exp_input: f64,
) -> (String, String) {
    let first = inputs.first();
    let second = inputs.get(1);
    let logits = "use the logits form of the loss (bce_with_logits, cross_entropy), or clamp the input away from 0";
    let lower = "lower the learning rate, clip gradients (--clip-norm) or standardize the inputs";
    let has_inf = |s: Option<&Summary>| s.is_some_and(|s| s.pos_inf + s.neg_inf > 0);
    if inputs.iter().any(|s| s.nan > 0) {
        return (
            "a NaN already in an input (a value changed after it was recorded)".into(),
            lower.into(),
        );
    }
    let (cause, hint): (String, &str) = match op {
        Op::Log if first.is_some_and(|s| s.min < 0.0) => ("log of a negative number".into(), logits),
        Op::Log => ("log of 0".into(), logits),
        Op::Sqrt => ("square root of a negative number".into(), "clamp the input to be non-negative"),
        Op::Div if second.is_some_and(|s| s.zeros > 0) && first.is_some_and(|s| s.zeros > 0) && output.nan > 0 => {
            ("0/0".into(), "add a small epsilon to the denominator")
        }
        Op::Div if second.is_some_and(|s| s.zeros > 0) => ("division by zero".into(), "add a small epsilon to the denominator"),
        Op::Exp => (format!("exp overflow (inputs up to {:.4e}; exp overflows above {:.1})", first.map_or(f64::NAN, |s| s.max), max_exp_input), lower),
        Op::PowScalar(p) if p.fract() != 0.0 && first.is_some_and(|s| s.min < 0.0) => {
            (format!("a negative number to the non-integer power {p}"), "clamp the base to be non-negative")
        }
        Op::PowScalar(p) if p < 0.0 && first.is_some_and(|s| s.zeros > 0) => (format!("0 to the negative power {p}"), "add a small epsilon to the base"),
        Op::Add | Op::Sub | Op::BiasAct(_) if has_inf(first) || has_inf(second) => ("inf − inf".into(), lower),
        Op::Mul if output.nan > 0 => ("0 · inf".into(), lower),
        _ => (format!("overflow: the result exceeds the range of the element type (input magnitudes up to {:.4e})", inputs.iter().map(|s| s.max.abs().max(s.min.abs())).fold(0.0, f64::max)), lower),
    };
    (cause, hint.to_string())
}
