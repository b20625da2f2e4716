//! The `chainrule` command-line program: one file per subcommand.

mod bench;
mod data_args;
mod diagnose;
mod distributed;
mod eval;
mod example;
mod explain;
mod explain_source;
mod export;
mod gradcheck;
mod graph;
mod number_text;
mod numeric_args;
mod plot;
mod predict;
mod resume;
mod run_dir;
mod serve;
mod threads;
mod train;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// chainrule: train neural networks by backpropagation, and see every number.
///
/// With no arguments it trains a network on the embedded digits data set
/// (`chainrule train`).
#[derive(Parser)]
#[command(name = "chainrule", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Train an MLP on a data set and write the model, metrics and curves.
    Train(train::Args),
    /// Loss and accuracy (with a confusion matrix) of a model on a data set.
    Eval(eval::Args),
    /// The output of a model for one input.
    Predict(predict::Args),
    /// Write a model as an ONNX file (opset 17) that computes its raw
    /// outputs, the input standardization included.
    Export(export::Args),
    /// The forward and backward pass of the lesson's worked example 1 (the
    /// 2-2-1 sigmoid network), every intermediate value printed.
    Example(example::Args),
    /// Run the benchmark workloads W1–W3 and print steps per second.
    Bench(bench::Args),
    /// Per-layer gradient flow: which layers' gradients vanish or explode
    /// (the vanishing-gradient lesson, Example 3 with `--chain`).
    Diagnose(diagnose::Args),
    /// Check a model's gradients against finite differences (exit status 1
    /// when a check fails).
    Gradcheck(gradcheck::Args),
    /// Every step of a forward and backward pass, generated from the
    /// recorded graph: worked example 1 by default, any MLP (--model,
    /// --init, --layers), or an expression (--expr "(x + y) * (x - 1)"
    /// --at x=3,y=2), as a table, Markdown or JSON.
    Explain(explain::Args),
    /// Draw the computational graph of an expression or of a network's
    /// forward pass and loss, with values and gradients, or any network
    /// layer by layer (--model, --arch; --ops for each layer's operations):
    /// Mermaid, DOT, SVG or PNG.
    Graph(graph::Args),
    /// A local web server: step through every forward and backward number
    /// in the browser (/explore).
    Serve(serve::Args),
}

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = if std::env::args_os().len() <= 1 {
        Cli::parse_from(["chainrule", "train"])
    } else {
        Cli::parse()
    };
    let result = match &cli.command {
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Export(args) => export::run(args),
        Command::Example(args) => example::run(args).map_err(chainrule_nn::Error::from),
        Command::Bench(args) => bench::run(args),
        Command::Diagnose(args) => diagnose::run(args),
        Command::Gradcheck(args) => match gradcheck::run(args) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
        Command::Explain(args) => explain::run(args),
        Command::Graph(args) => graph::run(args),
        Command::Serve(args) => serve::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            // 2, as for usage errors: 1 is reserved for a failed check.
            ExitCode::from(2)
        }
    }
}

/// Lets the process end quietly when its output pipe closes (`chainrule
/// bench | head -1`), as command-line tools do, instead of failing on the
/// next print.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: resetting a signal to its default action at start-up, before
    // any thread exists, has no other effect.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
