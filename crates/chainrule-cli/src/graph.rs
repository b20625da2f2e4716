//! `chainrule graph`: draws the computational graph of an expression or of a
//! network's forward pass and loss, with every node's value and gradient,
//! as Mermaid (default), Graphviz DOT, SVG or PNG (the last two rendered
//! here, no Graphviz needed).
//!
//! Any network (`--model` of any architecture, or a fresh `--arch` network
//! for `--input-shape`) is drawn layer by layer ([`layers`]): one box per
//! layer, residual blocks as groups; `--ops` expands every layer to its
//! operations. An MLP's `--model` keeps the op-level training step unless
//! `--by-layer` or `--ops` asks for the layer view.
//!
//! With `--out FILE` the format follows the file's extension, as image
//! tools do (`.png`, `.svg`, `.dot`/`.gv`, `.mmd`/`.mermaid`); an explicit
//! `--format` that contradicts the extension is an error, and so is an
//! extension we do not know (unless `--format` says what to write).

use crate::explain::{trace_source, Source};
use chainrule_inspect::draw;
use chainrule_nn::{Error, Result};
use std::path::{Path, PathBuf};

mod layers;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub source: Source,
    /// mermaid, dot, svg or png (svg and png need no Graphviz)
    /// [default: from the --out file's extension, else mermaid].
    #[arg(long, value_parser = ["mermaid", "dot", "svg", "png"])]
    pub format: Option<String>,
    /// Write to this file instead of standard output (required for png);
    /// its extension chooses the format: .png, .svg, .dot/.gv, .mmd/.mermaid.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Pixels per SVG unit of a PNG [default: 2, less for a large graph so
    /// that the longer side stays within 2000 pixels, never below 1].
    #[arg(long)]
    pub scale: Option<f32>,
    /// Expand every layer into the operations it records on the graph (one
    /// forward pass on an example of zeros, and the loss), one group per layer.
    #[arg(long, conflicts_with_all = ["expr", "layers"])]
    pub ops: bool,
    /// Draw an MLP's --model layer by layer instead of its op-level training
    /// step (any other network is drawn layer by layer anyway).
    #[arg(long, conflicts_with_all = ["expr", "layers"])]
    pub by_layer: bool,
}

/// The extensions we recognize, and the format each one means.
const EXTENSIONS: [(&str, &str); 6] = [
    ("png", "png"),
    ("svg", "svg"),
    ("dot", "dot"),
    ("gv", "dot"),
    ("mmd", "mermaid"),
    ("mermaid", "mermaid"),
];

fn accepted_extensions() -> String {
    EXTENSIONS
        .iter()
        .map(|(e, _)| format!(".{e}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The format to write: the explicit `--format`, checked against the
/// `--out` file's extension, or the one the extension names.
pub fn resolve_format(format: Option<&str>, out: Option<&Path>) -> Result<String> {
    let Some(out) = out else {
        return Ok(format.unwrap_or("mermaid").to_string());
    };
    let ext = out.extension().map(|e| e.to_string_lossy().to_lowercase());
    let by_ext = ext
        .as_deref()
        .and_then(|e| EXTENSIONS.iter().find(|(x, _)| *x == e))
        .map(|(_, f)| *f);
    match (format, by_ext) {
        (Some(f), Some(g)) if f != g => Err(Error::config(
            "format",
            format!(
                "--format {f} contradicts the extension of {} (a {g} file); \
                 drop --format or name the file .{f}",
                out.display()
            ),
        )),
        (Some(f), _) => Ok(f.to_string()),
        (None, Some(g)) => Ok(g.to_string()),
        (None, None) => Err(Error::config(
            "out",
            match ext {
                Some(e) => format!(
                    "{}: unknown extension .{e}; use one of {} or give --format",
                    out.display(),
                    accepted_extensions()
                ),
                None => format!(
                    "{} has no extension to tell the format; use one of {} or give --format",
                    out.display(),
                    accepted_extensions()
                ),
            },
        )),
    }
}

/// The longest side, in pixels, the default PNG scale aims for.
const PNG_LONGEST_SIDE: f64 = 2000.0;

/// The default PNG scale for an SVG of `w`×`h` units: 2 (sharp on
/// high-density screens), less where that would pass 2000 pixels, never
/// below 1 (one pixel per unit keeps the 13-unit text readable).
fn default_scale(w: f64, h: f64) -> f32 {
    let longest = w.max(h).max(1.0);
    // A hair under the exact ratio, so that rounding up stays within it.
    (PNG_LONGEST_SIDE / longest * 0.9999).clamp(1.0, 2.0) as f32
}

pub fn run(args: &Args) -> Result<()> {
    let format = resolve_format(args.format.as_deref(), args.out.as_deref())?;
    if format == "png" && args.out.is_none() {
        return Err(Error::config(
            "out",
            "a PNG is binary: give the file to write with --out FILE.png",
        ));
    }
    if let Some(scale) = args.scale {
        if !(scale.is_finite() && scale > 0.0 && scale <= 8.0) {
            return Err(Error::config(
                "scale",
                format!("must be a number in (0, 8], got {scale}"),
            ));
        }
    }
    if let Some(picture) = layers::picture(args)? {
        return write_out(args, &format, picture);
    }
    // The learning rate plays no part in the drawing.
    let traced = trace_source(&args.source, 0.5)?;
    let title = traced.title();
    let t = traced.trace();
    let bytes: Vec<u8> = match format.as_str() {
        "dot" => draw::dot(t, Some(&title)).into_bytes(),
        "svg" => draw::svg(t, Some(&title)).into_bytes(),
        "png" => {
            let picture = draw::svg(t, Some(&title));
            let (w, h) = draw::svg_size(&picture);
            let scale = args.scale.unwrap_or_else(|| default_scale(w, h));
            draw::svg_to_png(&picture, scale).map_err(|e| Error::config("format", e.to_string()))?
        }
        _ => draw::mermaid(t, Some(&title)).into_bytes(),
    };
    emit(args, &bytes)
}

/// The layer view in `format`.
fn write_out(args: &Args, format: &str, lg: draw::LayerGraph) -> Result<()> {
    let bytes: Vec<u8> = match format {
        "dot" => draw::layer_dot(&lg).into_bytes(),
        "svg" => draw::layer_svg(&lg).into_bytes(),
        "png" => {
            let picture = draw::layer_svg(&lg);
            let (w, h) = draw::svg_size(&picture);
            let scale = args.scale.unwrap_or_else(|| default_scale(w, h));
            draw::svg_to_png(&picture, scale).map_err(|e| Error::config("format", e.to_string()))?
        }
        _ => draw::layer_mermaid(&lg).into_bytes(),
    };
    emit(args, &bytes)
}

/// Writes the drawing to `--out` or standard output.
fn emit(args: &Args, bytes: &[u8]) -> Result<()> {
    match &args.out {
        Some(path) => std::fs::write(path, bytes)
            .map_err(|e| Error::config("out", format!("cannot write {}: {e}", path.display())))?,
        None => crate::explain::write_stdout(bytes)?,
    }
    Ok(())
}
