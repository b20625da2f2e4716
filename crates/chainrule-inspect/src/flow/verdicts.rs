//! The statistics of each weight layer and its verdict (see the thresholds
//! in the [module documentation](super)).

use super::pass::Pass;
use super::{
    FlowReport, LayerFlow, Verdict, EXPLODING_GRAD_TO_WEIGHT, EXPLODING_RATIO, SIGMOID_SATURATION,
    TANH_SATURATION, VANISHING_RATIO,
};
use crate::number::{percent, short};
use chainrule_nn::Activation;

fn l2(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn saturated_fraction(activation: Option<Activation>, a: &[f64]) -> f64 {
    let saturated = |x: f64| match activation {
        Some(Activation::Sigmoid) => !(SIGMOID_SATURATION..=1.0 - SIGMOID_SATURATION).contains(&x),
        Some(Activation::Tanh) => x.abs() > TANH_SATURATION,
        _ => false,
    };
    if a.is_empty() {
        return 0.0;
    }
    a.iter().filter(|&&x| saturated(x)).count() as f64 / a.len() as f64
}

/// The fraction of units whose input to a ReLU is ≤ 0 everywhere: a unit
/// is a feature of a flat output, or a channel of an image output
/// (`positions` values each, all of which must be ≤ 0 on every row: a
/// channel alive at any position still learns).
fn dead_fraction(
    activation: Option<Activation>,
    z: &[f64],
    rows: usize,
    units: usize,
    positions: usize,
) -> f64 {
    if activation != Some(Activation::Relu) || units == 0 || rows == 0 || positions == 0 {
        return 0.0;
    }
    let per_row = units * positions;
    let dead = (0..units)
        .filter(|&j| {
            (0..rows).all(|r| {
                let start = r * per_row + j * positions;
                z[start..start + positions].iter().all(|&v| v <= 0.0)
            })
        })
        .count();
    dead as f64 / units as f64
}

pub(crate) fn report_of(pass: &Pass) -> FlowReport {
    let n = pass.layers.len();
    let last_norm = pass.layers.last().map_or(f64::NAN, |l| l2(&l.z_grad));
    let reference_ok = last_norm.is_finite() && last_norm > 0.0;
    let layers = pass
        .layers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let k = i + 1;
            let grad_norm = l2(&p.weight_grad);
            let weight_norm = l2(&p.weight);
            let mean_abs_grad = if p.weight_grad.is_empty() {
                0.0
            } else {
                p.weight_grad.iter().map(|g| g.abs()).sum::<f64>() / p.weight_grad.len() as f64
            };
            let grad_to_weight = if weight_norm > 0.0 {
                grad_norm / weight_norm
            } else if grad_norm == 0.0 {
                0.0
            } else {
                f64::INFINITY
            };
            let delta_norm = l2(&p.z_grad);
            let ratio = if reference_ok {
                delta_norm / last_norm
            } else {
                f64::NAN
            };
            let saturated = saturated_fraction(p.activation, &p.a);
            // Channels of an image output, features of a flat one.
            let (units, positions) = match p.output_shape.as_slice() {
                [c, rest @ ..] if !rest.is_empty() => (*c, rest.iter().product()),
                _ => (p.units, 1),
            };
            let dead = dead_fraction(p.activation, &p.pre, pass.rows, units, positions);
            let (verdict, mut reason) = verdict(
                k,
                n,
                // Not finite if either is (f64::max would drop a NaN).
                if delta_norm.is_finite() {
                    grad_norm.max(delta_norm)
                } else {
                    f64::NAN
                },
                grad_norm,
                ratio,
                weight_norm,
                grad_to_weight,
            );
            if saturated > 0.0 {
                let name = p.activation.map_or(String::new(), |a| a.name());
                reason += &format!("; {} of {name} units saturated", percent(saturated));
            }
            if dead > 0.0 {
                let what = if p.output_shape.len() > 1 {
                    "ReLU channels"
                } else {
                    "ReLU units"
                };
                reason += &format!("; {} of {what} dead", percent(dead));
            }
            LayerFlow {
                layer: k,
                number: p.row.number(),
                text: p.row.text.clone(),
                at: p.row.at,
                weight_key: p.weight_key.clone(),
                bias_key: p.bias_key.clone(),
                in_features: p.input_shape.iter().product(),
                out_features: p.output_shape.iter().product(),
                input_shape: p.input_shape.clone(),
                output_shape: p.output_shape.clone(),
                activation: p.activation,
                grad_norm,
                mean_abs_grad,
                weight_norm,
                grad_to_weight,
                delta_norm,
                delta_ratio: ratio,
                saturated_fraction: saturated,
                dead_fraction: dead,
                verdict,
                reason,
            }
        })
        .collect();
    FlowReport {
        loss: pass.loss,
        rows: pass.rows,
        layers,
    }
}

/// The verdict of layer `k` of `n` and its reason (see the module docs);
/// `largest` is the larger of the weight-gradient and ∂L/∂z norms (NaN if
/// either is).
fn verdict(
    k: usize,
    n: usize,
    largest: f64,
    grad_norm: f64,
    ratio: f64,
    weight_norm: f64,
    grad_to_weight: f64,
) -> (Verdict, String) {
    use Verdict::*;
    if !largest.is_finite() || !grad_norm.is_finite() {
        return (
            Exploding,
            format!("layer {k} gradient is not finite: exploding"),
        );
    }
    if grad_norm == 0.0 {
        return (
            Vanishing,
            format!("layer {k} weight gradient is exactly 0: vanishing"),
        );
    }
    let relative = if k == n {
        format!("layer {k} is the reference (nearest the output)")
    } else if ratio.is_finite() {
        format!("layer {k} gradient {} of layer {n}", short(ratio))
    } else {
        format!("layer {k} gradient (layer {n} has none to compare)")
    };
    if k != n && ratio < VANISHING_RATIO {
        return (Vanishing, format!("{relative}: vanishing"));
    }
    if k != n && ratio > EXPLODING_RATIO {
        return (Exploding, format!("{relative}: exploding"));
    }
    if weight_norm > 0.0 && grad_to_weight > EXPLODING_GRAD_TO_WEIGHT {
        return (
            Exploding,
            format!(
                "{relative}; weight gradient {}× the weight norm: exploding",
                short(grad_to_weight)
            ),
        );
    }
    (Healthy, format!("{relative}: healthy"))
}
