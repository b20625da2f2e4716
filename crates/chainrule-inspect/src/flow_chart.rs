//! Per-layer gradient magnitudes as a bar chart with a logarithmic y axis
//! (SVG), one group of bars per layer and one bar per network compared.
//!
//! With one network the bars are coloured by verdict (red vanishing, green
//! healthy, orange exploding) and a dashed line marks the vanishing
//! threshold; with several, each network has its colour and the value
//! printed above each bar takes the colour of its verdict.

use crate::flow::{short, ChainReport, FlowReport, Verdict, VANISHING_RATIO};
use chainrule_nn::{Error, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// One network's bars: a value per layer (input first).
#[derive(Clone, Debug, PartialEq)]
pub struct Bars {
    /// The legend entry, e.g. `sigmoid`.
    pub label: String,
    /// One value per layer; zero, negative and non-finite values are
    /// marked at the axis instead of drawn.
    pub values: Vec<f64>,
    /// One verdict per layer, or empty.
    pub verdicts: Vec<Verdict>,
    /// A dashed horizontal line (the vanishing threshold), if any.
    pub threshold: Option<f64>,
    /// The state_dict name of each layer's weight (`0.weight`, …), written
    /// under the layer's number; or empty.
    pub weight_keys: Vec<String>,
}

const SERIES: [RGBColor; 4] = [
    RGBColor(66, 110, 190),
    RGBColor(120, 120, 120),
    RGBColor(150, 90, 170),
    RGBColor(40, 150, 150),
];

fn verdict_color(v: Verdict) -> RGBColor {
    match v {
        Verdict::Vanishing => RGBColor(205, 55, 55),
        Verdict::Healthy => RGBColor(50, 150, 75),
        Verdict::Exploding => RGBColor(235, 140, 20),
    }
}

/// The bars of backpropagated gradients ‖∂L/∂z‖ (what the verdicts are
/// decided on) of each report, labelled, with the vanishing threshold.
pub fn flow_bars(reports: &[(&str, &FlowReport)]) -> Vec<Bars> {
    reports
        .iter()
        .map(|(label, r)| {
            let last = r.layers.last().map_or(f64::NAN, |l| l.delta_norm);
            Bars {
                label: label.to_string(),
                values: r.layers.iter().map(|l| l.delta_norm).collect(),
                verdicts: r.layers.iter().map(|l| l.verdict).collect(),
                threshold: (last.is_finite() && last > 0.0).then_some(last * VANISHING_RATIO),
                weight_keys: r.layers.iter().map(|l| l.weight_key.clone()).collect(),
            }
        })
        .collect()
}

/// The bars of |cumulative gradient| (relative to the output gradient) of
/// each chain.
pub fn chain_bars(chains: &[&ChainReport]) -> Vec<Bars> {
    chains
        .iter()
        .map(|c| Bars {
            label: format!("{} (outputs {})", c.label(), c.target_output),
            values: c.layers.iter().map(|l| l.cumulative.abs()).collect(),
            verdicts: c.flow.layers.iter().map(|l| l.verdict).collect(),
            threshold: None,
            weight_keys: c.flow.layers.iter().map(|l| l.weight_key.clone()).collect(),
        })
        .collect()
}

/// Writes the backpropagated gradient ‖∂L/∂z‖ of each report per layer to
/// `path`.
pub fn flow_chart(path: &Path, title: &str, reports: &[(&str, &FlowReport)]) -> Result<()> {
    bar_chart(path, title, "‖∂L/∂z‖ (log scale)", &flow_bars(reports))
}

/// Writes the cumulative gradient of each chain per layer to `path`.
pub fn chain_chart(path: &Path, title: &str, chains: &[&ChainReport]) -> Result<()> {
    bar_chart(
        path,
        title,
        "|∂L/∂z| ÷ |∂L/∂output| (log scale)",
        &chain_bars(chains),
    )
}

/// Draws `groups` as grouped bars over the layers on a log-scale y axis,
/// to `path` (SVG).
pub fn bar_chart(path: &Path, title: &str, y_desc: &str, groups: &[Bars]) -> Result<()> {
    draw(path, title, y_desc, groups)
        .map_err(|e| Error::config("out", format!("{}: {e}", path.display())))
}

/// The most decades the y axis spans.
const MAX_DECADES: f64 = 24.0;

/// The decades spanned by the positive finite values: `(10^lo, 10^hi)`.
fn log_range(groups: &[Bars]) -> (f64, f64) {
    let positive = groups
        .iter()
        .flat_map(|g| g.values.iter().chain(g.threshold.iter()))
        .copied()
        .filter(|v| v.is_finite() && *v > 0.0);
    let (min, max) = positive.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if max == 0.0 {
        return (0.1, 10.0);
    }
    let mut hi = max.log10().ceil().min(300.0);
    // At most MAX_DECADES decades: smaller values sit at the bottom.
    let lo = min.log10().floor().max(hi - MAX_DECADES);
    if hi <= lo {
        hi = lo + 1.0;
    }
    // Room above the tallest bar for its value.
    if max.log10() > hi - 0.3 {
        hi += 1.0;
    }
    // Slightly below the lowest decade, so that its tick is labelled.
    (10f64.powf(lo) * 0.95, 10f64.powf(hi))
}

/// A y tick label: `1`, `10`, `0.1`, else `1e-3`.
fn decade_label(y: f64) -> String {
    let e = y.log10().round() as i32;
    match e {
        -1 => "0.1".into(),
        0 => "1".into(),
        1 => "10".into(),
        _ => format!("1e{e}"),
    }
}

/// One entry of the legend row: a swatch (filled box or dashed line) and
/// its label.
enum Swatch {
    Box(RGBColor),
    Dashed(RGBColor),
}

fn draw(
    path: &Path,
    title: &str,
    y_desc: &str,
    groups: &[Bars],
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let n = groups
        .iter()
        .map(|g| g.values.len())
        .max()
        .unwrap_or(0)
        .max(1);
    let m = groups.len().max(1);
    let width = (160 + n * m * 46).clamp(720, 1800) as u32;
    let root = SVGBackend::new(path, (width, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let single = groups.len() == 1;
    let n_layers = groups.iter().map(|g| g.values.len()).max().unwrap_or(0);
    // The values are printed above the bars where they fit.
    let show_values = n_layers * groups.len() <= 40;
    // With several networks the verdict is the colour of each value printed
    // above its bar, or of a cap on the bar where the values do not fit.
    let notes = !single && groups.iter().any(|g| !g.verdicts.is_empty());
    let (header, body) = root.split_vertically(if notes { 84 } else { 64 });
    let (lo, hi) = log_range(groups);

    // Header: the title, then one row of legend entries.
    header.draw(&Text::new(
        title.to_string(),
        (width as i32 / 2, 10),
        TextStyle::from(("sans-serif", 18).into_font()).pos(Pos::new(HPos::Center, VPos::Top)),
    ))?;
    let mut legend: Vec<(Swatch, String)> = Vec::new();
    if single {
        for v in [Verdict::Vanishing, Verdict::Healthy, Verdict::Exploding] {
            if groups[0].verdicts.contains(&v) {
                legend.push((Swatch::Box(verdict_color(v)), v.name().to_string()));
            }
        }
        if groups[0].threshold.is_some_and(|t| t > lo && t < hi) {
            legend.push((
                Swatch::Dashed(verdict_color(Verdict::Vanishing)),
                format!("vanishing threshold ({VANISHING_RATIO:.0e} × layer {n})"),
            ));
        }
    } else {
        for (s, g) in groups.iter().enumerate() {
            legend.push((Swatch::Box(SERIES[s % SERIES.len()]), g.label.clone()));
        }
        if groups
            .iter()
            .any(|g| g.threshold.is_some_and(|t| t > lo && t < hi))
        {
            legend.push((
                Swatch::Dashed(RGBColor(120, 120, 120)),
                format!("vanishing threshold of each ({VANISHING_RATIO:.0e} × its layer {n})"),
            ));
        }
    }
    let mut x = 84;
    let y = 46;
    let font = TextStyle::from(("sans-serif", 13).into_font());
    for (swatch, label) in &legend {
        match swatch {
            Swatch::Box(c) => {
                header.draw(&Rectangle::new([(x, y - 6), (x + 12, y + 6)], c.filled()))?
            }
            Swatch::Dashed(c) => {
                for k in 0..3 {
                    let x0 = x + k * 6;
                    header.draw(&PathElement::new(
                        vec![(x0, y), (x0 + 4, y)],
                        c.stroke_width(2),
                    ))?;
                }
            }
        }
        header.draw(&Text::new(
            label.clone(),
            (x + 22, y),
            font.clone().pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        let (w, _) = header.estimate_text_size(label, &font)?;
        x += 22 + w as i32 + 22;
    }
    if notes {
        header.draw(&Text::new(
            if show_values {
                "numbers above the bars: red vanishing, green healthy, orange exploding"
            } else {
                "verdict as the bar's cap: red vanishing, green healthy, orange exploding"
            },
            (84, y + 22),
            ("sans-serif", 12)
                .into_font()
                .color(&RGBColor(90, 90, 90))
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }

    // Each layer's state_dict weight name under its number, where they fit
    // and the networks compared agree on them.
    let first_keys = groups
        .iter()
        .map(|g| g.weight_keys.as_slice())
        .find(|k| !k.is_empty())
        .unwrap_or(&[]);
    let agree = groups
        .iter()
        .all(|g| g.weight_keys.is_empty() || g.weight_keys == first_keys);
    let keys: &[String] = if agree { first_keys } else { &[] };
    let show_keys = !keys.is_empty() && n <= 30;
    let mut chart = ChartBuilder::on(&body)
        .margin(14)
        .margin_top(6)
        .x_label_area_size(if show_keys { 58 } else { 40 })
        .y_label_area_size(70)
        .build_cartesian_2d(0.5f64..n as f64 + 0.5, (lo..hi).log_scale())?;
    let x_fmt = |x: &f64| {
        let r = x.round();
        if (x - r).abs() < 1e-6 && r >= 1.0 {
            format!("{r:.0}")
        } else {
            String::new()
        }
    };
    let y_fmt = |y: &f64| decade_label(*y);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n.min(30) + 1)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .x_desc(if show_keys {
            "layer (1 = nearest the input; its state_dict weight below)"
        } else {
            "layer (1 = nearest the input)"
        })
        .y_desc(y_desc)
        .draw()?;

    if show_keys {
        let style = ("sans-serif", 11)
            .into_font()
            .color(&RGBColor(90, 90, 90))
            .pos(Pos::new(HPos::Center, VPos::Top));
        for (k, key) in keys.iter().enumerate() {
            let (px, py) = chart.backend_coord(&((k + 1) as f64, lo));
            root.draw(&Text::new(key.clone(), (px, py + 20), style.clone()))?;
        }
    }
    let group_width = 0.8;
    let bar_width = group_width / m as f64;
    for (s, g) in groups.iter().enumerate() {
        let series_color = SERIES[s % SERIES.len()];
        let color_of = |k: usize| match (single, g.verdicts.get(k)) {
            (true, Some(&v)) => verdict_color(v),
            _ => series_color,
        };
        let bars = g.values.iter().enumerate().filter_map(|(k, &v)| {
            let x0 = (k + 1) as f64 - group_width / 2.0 + s as f64 * bar_width;
            let x1 = x0 + bar_width * 0.9;
            let top = if v.is_finite() {
                (v > lo).then_some(v.min(hi))
            } else {
                Some(hi)
            }?;
            Some(Rectangle::new([(x0, lo), (x1, top)], color_of(k).filled()))
        });
        chart.draw_series(bars)?;
        if !show_values && !single {
            // A cap 2 % of the axis tall at the top of the bar (inside it,
            // so the bar keeps its height), in the colour of the verdict.
            let cap = (hi / lo).powf(0.02);
            let caps = g.values.iter().enumerate().filter_map(|(k, &v)| {
                let verdict = *g.verdicts.get(k)?;
                let x0 = (k + 1) as f64 - group_width / 2.0 + s as f64 * bar_width;
                let x1 = x0 + bar_width * 0.9;
                let top = if v.is_finite() { v.clamp(lo, hi) } else { hi };
                Some(Rectangle::new(
                    [(x0, (top / cap).max(lo)), (x1, top)],
                    verdict_color(verdict).filled(),
                ))
            });
            chart.draw_series(caps)?;
        }
        if show_values {
            let labels = g.values.iter().enumerate().map(|(k, &v)| {
                let x = (k + 1) as f64 - group_width / 2.0 + (s as f64 + 0.45) * bar_width;
                let (y, text) = if v.is_finite() && v > 0.0 {
                    (v.clamp(lo, hi), short(v))
                } else if v.is_finite() {
                    (lo, short(v))
                } else {
                    (hi, format!("{v}"))
                };
                let color = g.verdicts.get(k).map_or(BLACK, |&v| verdict_color(v));
                let style = ("sans-serif", 12)
                    .into_font()
                    .color(&color)
                    .pos(Pos::new(HPos::Center, VPos::Bottom));
                Text::new(text, (x, y), style)
            });
            chart.draw_series(labels)?;
        }
        if let Some(t) = g.threshold.filter(|t| *t > lo && *t < hi) {
            let line_color = if single {
                verdict_color(Verdict::Vanishing)
            } else {
                series_color
            };
            chart.draw_series(DashedLineSeries::new(
                [(0.5, t), (n as f64 + 0.5, t)],
                6,
                4,
                line_color.stroke_width(1),
            ))?;
        }
    }
    root.present()?;
    Ok(())
}
