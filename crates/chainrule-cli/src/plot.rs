//! The loss and accuracy curves of a run, drawn as an SVG image.

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

fn draw(
    svg: &mut String,
    h: &History,
    title: &str,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let has_accuracy = h.epochs.iter().any(|e| e.test_accuracy.is_some());
    let root = SVGBackend::with_string(svg, (if has_accuracy { 960 } else { 560 }, 420))
        .into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = if has_accuracy {
        root.split_horizontally(560)
    } else {
        (root.clone(), root.clone())
    };
    let steps_per_epoch = h.steps.len() as f64 / h.epochs.len().max(1) as f64;
    let epoch_x = |e: usize| e as f64;
    let step_x = |s: usize| s as f64 / steps_per_epoch.max(1.0);
    let max_loss = h
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
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let epochs = h.epochs.len().max(1) as f64;
    let mut chart = ChartBuilder::on(&left)
        .caption(format!("{title}: loss"), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(52)
        .build_cartesian_2d(0.0..epochs, 0.0..max_loss * 1.05)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("loss")
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            h.steps.iter().map(|s| (step_x(s.step), s.loss)),
            RGBColor(180, 180, 220),
        ))?
        .label("step loss")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RGBColor(180, 180, 220)));
    chart
        .draw_series(LineSeries::new(
            h.epochs.iter().map(|e| (epoch_x(e.epoch), e.train_loss)),
            BLUE.stroke_width(2),
        ))?
        .label("train loss")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE));
    if h.epochs.iter().any(|e| e.test_loss.is_some()) {
        let test = h
            .epochs
            .iter()
            .filter_map(|e| e.test_loss.map(|l| (epoch_x(e.epoch), l)));
        chart
            .draw_series(LineSeries::new(test, RED.stroke_width(2)))?
            .label("test loss")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    if !has_accuracy {
        root.present()?;
        return Ok(());
    }

    let mut acc = ChartBuilder::on(&right)
        .caption("test accuracy", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(52)
        .build_cartesian_2d(0.0..epochs, 0.0..100.0)?;
    acc.configure_mesh().x_desc("epoch").y_desc("%").draw()?;
    let points: Vec<(f64, f64)> = h
        .epochs
        .iter()
        .filter_map(|e| e.test_accuracy.map(|a| (epoch_x(e.epoch), 100.0 * a)))
        .collect();
    if !points.is_empty() {
        acc.draw_series(LineSeries::new(points, GREEN.stroke_width(2)))?;
    }
    root.present()?;
    Ok(())
}
