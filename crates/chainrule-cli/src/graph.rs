//! `chainrule graph`: draws the computational graph of an expression or of a
//! network's forward pass and loss, with every node's value and gradient,
//! as Mermaid (default), Graphviz DOT, SVG or PNG (the last two rendered
//! here, no Graphviz needed).

use crate::explain::{trace_source, Source};
use chainrule_inspect::draw;
use chainrule_nn::{Error, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub source: Source,
    /// mermaid, dot, svg or png (svg and png need no Graphviz).
    #[arg(long, default_value = "mermaid", value_parser = ["mermaid", "dot", "svg", "png"])]
    pub format: String,
    /// Write to this file instead of standard output (required for png).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Pixels per SVG unit of a PNG.
    #[arg(long, default_value_t = 2.0)]
    pub scale: f32,
}

pub fn run(args: &Args) -> Result<()> {
    if args.format == "png" && args.out.is_none() {
        return Err(Error::config(
            "out",
            "a PNG is binary: give the file to write with --out FILE.png",
        ));
    }
    if !(args.scale.is_finite() && args.scale > 0.0 && args.scale <= 8.0) {
        return Err(Error::config(
            "scale",
            format!("must be a number in (0, 8], got {}", args.scale),
        ));
    }
    // The learning rate plays no part in the drawing.
    let traced = trace_source(&args.source, 0.5)?;
    let title = traced.title();
    let t = traced.trace();
    let bytes: Vec<u8> = match args.format.as_str() {
        "dot" => draw::dot(t, Some(&title)).into_bytes(),
        "svg" => draw::svg(t, Some(&title)).into_bytes(),
        "png" => draw::png(t, Some(&title), args.scale)
            .map_err(|e| Error::config("format", e.to_string()))?,
        _ => draw::mermaid(t, Some(&title)).into_bytes(),
    };
    match &args.out {
        Some(path) => std::fs::write(path, &bytes)
            .map_err(|e| Error::config("out", format!("cannot write {}: {e}", path.display())))?,
        None => crate::explain::write_stdout(&bytes)?,
    }
    Ok(())
}
