//! The `chainrule` command-line program: one file per subcommand.

mod example;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// chainrule: train neural networks by backpropagation, and see every number.
#[derive(Parser)]
#[command(name = "chainrule", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the forward and backward pass of the lesson's worked example 1
    /// (the 2-2-1 sigmoid network) and print every intermediate value.
    Example(example::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Example(args)) => example::run(&args),
        None => example::run(&example::Args::default()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
