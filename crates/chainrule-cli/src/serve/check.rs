//! The explorer's "check" switch for networks: each parameter's analytical
//! gradient against central finite differences on the explained example,
//! by `chainrule gradcheck`'s [`check_model`], with the lesson's verdicts.

use crate::explain::Source;
use chainrule_inspect::gradcheck_model::{check_model, ModelCheckOptions};
use chainrule_inspect::trace::{self, NetworkExplanation};
use chainrule_nn::data::{Dataset, Targets};
use chainrule_nn::trainer::Model;
use chainrule_nn::{LossKind, Result};
use serde_json::{json, Value};

/// The network `src` describes, rebuilt as `explain` builds it (worked
/// example 1, or a fresh `layers` network); `None` for a model file.
fn rebuild(src: &Source, n: &NetworkExplanation) -> Result<Option<Model<f64>>> {
    match &src.layers {
        None if src.model.is_none() => Ok(Some(trace::worked_example_1(n.lr)?.0)),
        Some(layers) => Ok(Some(crate::explain::fresh_mlp(src, layers, n.loss_kind)?)),
        None => Ok(None),
    }
}

/// The explained example as a one-row data set.
fn one_row(n: &NetworkExplanation, outputs: usize) -> Result<Option<Dataset>> {
    let targets = match (n.loss_kind, n.target.as_slice()) {
        (LossKind::Mse, [t]) if outputs == 1 => Targets::Real(vec![*t]),
        (LossKind::Cce, [c]) if c.fract() != 0.0 || *c < 0.0 => return Ok(None),
        (LossKind::Cce, [c]) => Targets::Classes {
            labels: vec![*c as usize],
            classes: outputs,
        },
        // The data-set form holds BCE targets as classes: a target other
        // than exactly 0 or 1 cannot be checked this way (it is not).
        (LossKind::Bce, [c]) if *c == 0.0 || *c == 1.0 => Targets::Classes {
            labels: vec![*c as usize],
            classes: 2,
        },
        _ => return Ok(None),
    };
    let d = n.input.len();
    Ok(Some(Dataset::new(
        "the explained example",
        d,
        n.input.clone(),
        targets,
        Vec::new(),
    )?))
}

/// `[{"name", "analytic", "numeric", "rel_error", "verdict", "passed"}]`,
/// one entry per parameter (its worst element), or `null` where the
/// check does not apply (a model file; several MSE outputs); a run's
/// training step is checked on its replayed weights ([`of_model`]).
pub fn network(src: &Source, n: &NetworkExplanation) -> Value {
    match rebuild(src, n) {
        Ok(Some(model)) => of_model(&model, n),
        Ok(None) | Err(_) => Value::Null,
    }
}

/// [`network`] for `model`, the network `n` explains.
pub fn of_model(model: &Model<f64>, n: &NetworkExplanation) -> Value {
    let attempt = || -> Result<Option<Value>> {
        let Some(data) = one_row(n, model.network.out_features())? else {
            return Ok(None);
        };
        let report = check_model(model, &data, &[0], ModelCheckOptions::default())?;
        let params: Vec<Value> = report
            .params
            .iter()
            .map(|p| {
                let worst = p.worst.first();
                json!({
                    "name": p.name,
                    "analytic": worst.map(|w| w.analytic),
                    "numeric": worst.map(|w| w.numeric),
                    "index": worst.map(|w| w.index),
                    "rel_error": worst.map_or(p.max_rel_error, |w| w.rel_error),
                    "verdict": p.verdict.name(),
                    "passed": p.passed,
                    "elements": p.total,
                })
            })
            .collect();
        Ok(Some(json!(params)))
    };
    attempt().ok().flatten().unwrap_or(Value::Null)
}
