//! The tables `diagnose` prints: one network's layers, several side by
//! side, and the thresholds the verdicts use.

use chainrule_inspect::flow::{
    self, FlowReport, EXPLODING_GRAD_TO_WEIGHT, EXPLODING_RATIO, VANISHING_RATIO,
};
use chainrule_inspect::number::{percent_cell as pct, sci};

/// `4×8×8`, or `64` for a flat shape.
pub fn dims(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("×")
}

/// The layer's place in the architecture: its number there and its text,
/// e.g. `3.1 linear(32)` (the `layer` column is the lesson's: weight layer
/// k, holding Wk, as the reasons count).
fn layer_name(l: &flow::LayerFlow) -> String {
    format!("{} {}", l.number, l.text)
}

pub fn print_table(r: &FlowReport) {
    let name_width = r
        .layers
        .iter()
        .map(|l| layer_name(l).chars().count())
        .max()
        .unwrap_or(0)
        .max(12);
    let shape = |l: &flow::LayerFlow| format!("{}→{}", dims(&l.input_shape), dims(&l.output_shape));
    let shape_width = r
        .layers
        .iter()
        .map(|l| shape(l).chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    println!(
        "{:>5} {:<name_width$} {:<16} {:>shape_width$} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9} {:>6} {:>9}  reason",
        "layer",
        "architecture",
        "weight",
        "shape",
        "‖∂L/∂z‖",
        "÷ last",
        "grad norm",
        "mean |g|",
        "g/w",
        "saturated",
        "dead",
        "verdict"
    );
    for l in &r.layers {
        println!(
            "{:>5} {:<name_width$} {:<16} {:>shape_width$} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9} {:>6} {:>9}  {}",
            l.layer,
            layer_name(l),
            l.weight_key,
            shape(l),
            sci(l.delta_norm),
            flow::short(l.delta_ratio),
            sci(l.grad_norm),
            sci(l.mean_abs_grad),
            sci(l.grad_to_weight),
            pct(l.saturated_fraction),
            pct(l.dead_fraction),
            l.verdict.name(),
            l.reason
        );
    }
}

/// ‖∂L/∂z‖ (÷ the last layer's) and the verdict of weight layer k of every
/// report, side by side.
pub fn print_side_by_side(reports: &[(&str, &FlowReport)]) {
    println!("side by side: ‖∂L/∂z‖ (÷ the last layer's) and verdict of each weight layer");
    let cell = |r: &FlowReport, k: usize| {
        r.layers.get(k).map_or(String::new(), |l| {
            format!(
                "{:>9} ({:>7})  {}",
                sci(l.delta_norm),
                flow::short(l.delta_ratio),
                l.verdict.name()
            )
        })
    };
    let width = 34;
    let mut line = format!("{:>5}", "layer");
    for (name, _) in reports {
        line += &format!("  {name:<width$}");
    }
    println!("{}", line.trim_end());
    let n = reports
        .iter()
        .map(|(_, r)| r.layers.len())
        .max()
        .unwrap_or(0);
    for k in 0..n {
        let mut line = format!("{:>5}", k + 1);
        for (_, r) in reports {
            line += &format!("  {:<width$}", cell(r, k));
        }
        println!("{}", line.trim_end());
    }
    println!(
        "(rows pair the weight layers by their count from the input; each network's last row is its reference)"
    );
}

pub fn print_thresholds() {
    println!(
        "‖∂L/∂z‖: the gradient backpropagated to a weight layer's output (pre-activation); grad norm, mean |g|: of its weights; g/w: grad norm ÷ weight norm\n\
         verdicts: vanishing when ‖∂L/∂z‖ is below {VANISHING_RATIO:.0e} × the last layer's (or the weight gradient is 0); \
         exploding above {EXPLODING_RATIO:.0e} ×, when g/w exceeds {EXPLODING_GRAD_TO_WEIGHT:.0e}, or when not finite"
    );
}
