//! Helpers shared by the end-to-end tests: run the `chainrule` binary and
//! read what it printed.

// Each test file uses a different subset.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `chainrule` with `args` in folder `dir` (or the current one).
pub fn chainrule_in(dir: Option<&Path>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_chainrule"));
    c.args(args);
    if let Some(d) = dir {
        c.current_dir(d);
    }
    c.output().expect("the chainrule binary runs")
}

/// Runs `chainrule` with `args`.
pub fn chainrule(args: &[&str]) -> Output {
    chainrule_in(None, args)
}

/// What the process printed on standard output.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// What the process printed on standard error.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
