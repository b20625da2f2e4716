//! The loss and accuracy curves of a run, drawn as an SVG image.
//!
//! Tick labels are short at every scale (`0.25`, `3000`, `4.5e12`, `2e-5`),
//! with room for them beside the axis title; per-epoch values carry a
//! marker, so a one-epoch run still shows its losses and accuracy. Losses
//! that span more than three decades (a run that blew up) go on a
//! logarithmic axis, as one would switch to in TensorBoard, so that the
//! ordinary values do not flatten to zero under the spike.

use chainrule_nn::trainer::History;
use chainrule_nn::{Error, Result};
use plotters::prelude::*;
use std::path::Path;

/// Draws the per-step loss, the per-epoch train and test loss, and (for
/// classification) the test accuracy, to `path` (SVG).
///
/// The image is drawn in memory and written atomically, like the model.
pub fn curves(path: &Path, h: &History, title: &str) -> Result<()> {
    let fail = |e: String| Error::config("curves", format!("{}: {e}", path.display()));
    let mut svg = String::new();
    draw(&mut svg, h, title).map_err(|e| fail(e.to_string()))?;
    chainrule_nn::atomic::write_atomically(path, svg.as_bytes()).map_err(|e| fail(e.to_string()))
}

/// A tick label of at most 9 characters: plain decimals from 0.001 up to
/// 99999, scientific notation with up to 3 significant digits outside.
pub fn tick_label(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a < 1e-12 {
        return "0".into();
    }
    if !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.2e}");
        let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        return format!("{mantissa}e{exponent}");
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// Font size of tick labels and axis titles.
const LABEL_FONT: u32 = 12;
/// Room left of the plot: a 9-character tick label (about 0.6 em a
/// character) beside the tick, and the rotated axis title beyond it.
const Y_LABEL_AREA: u32 = 92;
const X_LABEL_AREA: u32 = 40;
const MARKER: u32 = 3;
/// Losses spanning more than this ratio go on a logarithmic axis.
const LOG_SCALE_ABOVE: f64 = 1e3;

fn draw(
    svg: &mut String,
    h: &History,
    title: &str,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let has_accuracy = h.epochs.iter().any(|e| e.test_accuracy.is_some());
    let root = SVGBackend::with_string(svg, (if has_accuracy { 1000 } else { 580 }, 420))
        .into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = if has_accuracy {
        root.split_horizontally(580)
    } else {
        (root.clone(), root.clone())
    };
    let steps_per_epoch = h.steps.len() as f64 / h.epochs.len().max(1) as f64;
    let epoch_x = |e: usize| e as f64;
    let step_x = |s: usize| s as f64 / steps_per_epoch.max(1.0);
    let losses: Vec<f64> = h
        .steps
        .iter()
        .map(|s| s.loss)
        .chain(
            h.epochs
                .iter()
                .flat_map(|e| [Some(e.train_loss), e.test_loss])
                .flatten(),
        )
        .filter(|v| v.is_finite())
        .collect();
    let max_loss = losses.iter().copied().fold(0.0f64, f64::max).max(1e-9);
    let min_positive = losses
        .iter()
        .copied()
        .filter(|&v| v > 0.0)
        .fold(f64::INFINITY, f64::min);
    // Losses over more than three decades (a run that blew up, or one that
    // fell to almost nothing) on a logarithmic axis, where every one shows.
    let log = min_positive.is_finite() && max_loss / min_positive > LOG_SCALE_ABOVE;
    let shown = |p: &(f64, f64)| p.1.is_finite() && (!log || p.1 > 0.0);
    let epochs = h.epochs.len().max(1) as f64;
    let label_font = ("sans-serif", LABEL_FONT);
    let steps: Vec<(f64, f64)> = h
        .steps
        .iter()
        .map(|s| (step_x(s.step), s.loss))
        .filter(shown)
        .collect();
    let train: Vec<(f64, f64)> = h
        .epochs
        .iter()
        .map(|e| (epoch_x(e.epoch), e.train_loss))
        .filter(shown)
        .collect();
    let test: Option<Vec<(f64, f64)>> = h.epochs.iter().any(|e| e.test_loss.is_some()).then(|| {
        h.epochs
            .iter()
            .filter_map(|e| e.test_loss.map(|l| (epoch_x(e.epoch), l)))
            .filter(shown)
            .collect()
    });
    // The same panel on either axis (their coordinate types differ).
    macro_rules! loss_panel {
        ($y_range:expr, $y_desc:expr) => {{
            let mut chart = ChartBuilder::on(&left)
                .caption(format!("{title}: loss"), ("sans-serif", 18))
                .margin(12)
                .margin_right(20)
                .x_label_area_size(X_LABEL_AREA)
                .y_label_area_size(Y_LABEL_AREA)
                .build_cartesian_2d(0.0..epochs, $y_range)?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .y_desc($y_desc)
                .label_style(label_font)
                .axis_desc_style(label_font)
                .x_label_formatter(&|v| tick_label(*v))
                .y_label_formatter(&|v| tick_label(*v))
                .draw()?;
            let step_colour = RGBColor(170, 170, 215);
            chart
                .draw_series(LineSeries::new(steps, step_colour))?
                .label("step loss")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], step_colour));
            epoch_series(&mut chart, train, BLUE, "train loss")?;
            if let Some(test) = test {
                epoch_series(&mut chart, test, RED, "test loss")?;
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .label_font(label_font)
                .border_style(BLACK)
                .background_style(WHITE.mix(0.85))
                .draw()?;
        }};
    }
    if log {
        loss_panel!(
            (min_positive / 1.5..max_loss * 1.5).log_scale(),
            "loss (log scale)"
        );
    } else {
        loss_panel!(0.0..max_loss * 1.05, "loss");
    }
    if !has_accuracy {
        root.present()?;
        return Ok(());
    }

    let mut acc = ChartBuilder::on(&right)
        .caption("test accuracy", ("sans-serif", 18))
        .margin(12)
        .margin_right(20)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(0.0..epochs, 0.0..100.0)?;
    acc.configure_mesh()
        .x_desc("epoch")
        .y_desc("accuracy (%)")
        .label_style(label_font)
        .axis_desc_style(label_font)
        .x_label_formatter(&|v| tick_label(*v))
        .y_label_formatter(&|v| tick_label(*v))
        .draw()?;
    let points: Vec<(f64, f64)> = h
        .epochs
        .iter()
        .filter_map(|e| e.test_accuracy.map(|a| (epoch_x(e.epoch), 100.0 * a)))
        .filter(|p| p.1.is_finite())
        .collect();
    let green = RGBColor(22, 140, 60);
    acc.draw_series(LineSeries::new(points.clone(), green.stroke_width(2)))?;
    acc.draw_series(
        points
            .into_iter()
            .map(|p| Circle::new(p, MARKER + 1, green.filled())),
    )?;
    root.present()?;
    Ok(())
}

/// One value per epoch: a line, and a marker at every epoch (so that a
/// single epoch still shows).
fn epoch_series<'a, 'b: 'a, Y: plotters::coord::ranged1d::Ranged<ValueType = f64>>(
    chart: &mut ChartContext<
        'a,
        SVGBackend<'b>,
        Cartesian2d<plotters::coord::types::RangedCoordf64, Y>,
    >,
    points: Vec<(f64, f64)>,
    colour: RGBColor,
    name: &str,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    chart
        .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
        .label(name)
        .legend(move |(x, y)| {
            EmptyElement::at((x, y))
                + PathElement::new(vec![(0, 0), (16, 0)], colour.stroke_width(2))
                + Circle::new((8, 0), MARKER, colour.filled())
        });
    chart.draw_series(
        points
            .into_iter()
            .map(|p| Circle::new(p, MARKER, colour.filled())),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::tick_label;

    #[test]
    fn item_09_tick_labels_are_short_at_every_scale() {
        let cases = [
            (0.0, "0"),
            (1e-17, "0"),
            (2.5, "2.5"),
            (-0.25, "-0.25"),
            (0.001, "0.001"),
            (30000.0, "30000"),
            (99999.0, "99999"),
            (100000.0, "1e5"),
            (5e11, "5e11"),
            (1.5e12, "1.5e12"),
            (2.72e29, "2.72e29"),
            (2e-5, "2e-5"),
            (-3.25e-7, "-3.25e-7"),
        ];
        for (v, want) in cases {
            assert_eq!(tick_label(v), want, "{v}");
            assert!(tick_label(v).chars().count() <= 9);
        }
    }
}
