//! The form of `/train` (`POST /api/train`), checked into the flags of
//! `chainrule train` before anything starts: built-in data sets only, the
//! settings within the server's bounds, and an architecture (`arch`, the
//! text of `train --arch`) read by the command line's own parser and
//! built for the data set's examples as `train` builds it, so that a bad
//! one is a 400 naming the problem (and its character), not a run that
//! fails.

use super::error::ApiError;
use super::limits::{MAX_ARCH_CHARS, MAX_FORM_PARAMETERS};
use crate::data_args;
use chainrule_nn::mlp::parse_sizes;
use chainrule_nn::network::{self, parse_arch, specs_are_2d};
use chainrule_nn::trainer::{output_size, resolve_loss};
use chainrule_nn::{Activation, Error};
use serde::Deserialize;

/// The form of `/train`: every field optional, as `chainrule train`'s defaults.
#[derive(Deserialize, Debug, Default, Clone)]
pub struct TrainForm {
    pub data: Option<String>,
    pub hidden: Option<String>,
    /// An architecture string instead of `hidden` and `activation`.
    pub arch: Option<String>,
    pub activation: Option<String>,
    pub loss: Option<String>,
    pub optimizer: Option<String>,
    pub lr: Option<String>,
    pub epochs: Option<String>,
    pub batch_size: Option<String>,
    pub seed: Option<String>,
}

const DATA: [&str; 4] = ["digits", "iris", "breast-cancer", "diabetes"];
const LOSSES: [&str; 4] = ["auto", "mse", "bce", "cce"];
const OPTIMIZERS: [&str; 3] = ["sgd", "adam", "adamw"];

fn one_of(
    setting: &str,
    v: Option<&str>,
    default: &str,
    allowed: &[&str],
) -> Result<String, ApiError> {
    let v = v
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or(default);
    if allowed.contains(&v) {
        Ok(v.to_string())
    } else {
        Err(ApiError::bad(
            setting,
            format!("'{v}' is not one of {}", allowed.join(", ")),
        ))
    }
}

fn number<T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy>(
    setting: &str,
    v: Option<&str>,
    default: T,
    (lo, hi): (T, T),
) -> Result<T, ApiError> {
    let Some(s) = v.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(default);
    };
    s.parse::<T>()
        .ok()
        .filter(|x| *x >= lo && *x <= hi)
        .ok_or_else(|| ApiError::bad(setting, format!("'{s}' is not a number from {lo} to {hi}")))
}

/// The `chainrule train` flags of a form, checked.
pub fn train_flags(f: &TrainForm) -> Result<Vec<String>, ApiError> {
    let data = one_of("data", f.data.as_deref(), "digits", &DATA)?;
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let network = match (given(&f.arch), given(&f.hidden), given(&f.activation)) {
        (Some(_), Some(_), _) => {
            return Err(ApiError::bad("arch", "give hidden or arch, not both"));
        }
        (Some(_), None, Some(_)) => {
            return Err(ApiError::bad(
                "activation",
                "an architecture names its own activations: give arch without activation",
            ));
        }
        (Some(arch), None, None) => {
            check_arch(&arch, &data, f.loss.as_deref())?;
            vec![format!("--arch={arch}")]
        }
        (None, hidden, activation) => {
            let hidden = hidden.unwrap_or_else(|| "64,32".into());
            let sizes = parse_sizes("hidden", &hidden)?;
            if sizes.len() > 4 || sizes.iter().any(|&n| n == 0 || n > 512) {
                return Err(ApiError::bad(
                    "hidden",
                    "at most 4 hidden layers of 1 to 512 units",
                ));
            }
            let activation = activation.unwrap_or_else(|| "relu".into());
            Activation::parse(&activation)?;
            vec![
                format!("--hidden={hidden}"),
                "--activation".into(),
                activation,
            ]
        }
    };
    let loss = one_of("loss", f.loss.as_deref(), "auto", &LOSSES)?;
    let optimizer = one_of("optimizer", f.optimizer.as_deref(), "adam", &OPTIMIZERS)?;
    let lr: f64 = number("lr", f.lr.as_deref(), 1e-3, (1e-9, 10.0))?;
    let epochs: usize = number("epochs", f.epochs.as_deref(), 10, (1, 200))?;
    let batch: usize = number("batch_size", f.batch_size.as_deref(), 32, (1, 4096))?;
    let seed: u64 = number("seed", f.seed.as_deref(), 0, (0, u64::MAX))?;
    let mut flags = vec![
        "--data".into(),
        data,
        "--loss".into(),
        loss,
        "--optimizer".into(),
        optimizer,
        "--lr".into(),
        lr.to_string(),
        "--epochs".into(),
        epochs.to_string(),
        "--batch-size".into(),
        batch.to_string(),
        "--seed".into(),
        seed.to_string(),
    ];
    flags.extend(network);
    Ok(flags)
}

/// Refuses an architecture the command line would refuse for built-in data
/// set `data`: text it cannot parse (the parser's message and character),
/// a network that does not fit the data set's examples or has more than
/// [`MAX_FORM_PARAMETERS`] parameters, or one whose outputs are not the
/// data set's.
fn check_arch(arch: &str, data: &str, loss: Option<&str>) -> Result<(), ApiError> {
    let n = arch.chars().count();
    if n > MAX_ARCH_CHARS {
        return Err(ApiError::bad(
            "arch",
            format!("the architecture is {n} characters, more than {MAX_ARCH_CHARS}"),
        ));
    }
    let specs = parse_arch(arch).map_err(|e| match e {
        Error::Arch(a) => {
            let mut message = format!("{} at character {}", a.message(), a.position());
            for note in a.notes() {
                message.push_str("; ");
                message.push_str(note);
            }
            ApiError::bad("arch", message)
        }
        other => ApiError::bad("arch", other.to_string()),
    })?;
    let loss = match loss.map(str::trim) {
        None | Some("") | Some("auto") => None,
        Some(l) => Some(chainrule_nn::LossKind::parse(l)?),
    };
    let set = data_args::prepare(
        data,
        loss,
        &data_args::Reading {
            task: "auto".into(),
            delimiter: None,
        },
        0.2,
        0,
        false,
        None,
    )?
    .train;
    let shape = if specs_are_2d(&specs) {
        set.input_shape.clone()
    } else {
        vec![set.d]
    };
    let at_arch = |e: Error| ApiError::bad("arch", e.to_string());
    network::check_size(&specs, &shape, MAX_FORM_PARAMETERS).map_err(at_arch)?;
    let out = chainrule_nn::arch::output_shape(&specs, &shape)
        .map_err(|e| ApiError::bad("arch", e.message().to_string()))?;
    let want = output_size(&set, resolve_loss(&set, loss)?);
    if out != [want] {
        return Err(ApiError::bad(
            "arch",
            format!(
                "the network gives outputs of shape {out:?} per example; {data} needs {want} \
                 (end with linear({want}))"
            ),
        ));
    }
    Ok(())
}
