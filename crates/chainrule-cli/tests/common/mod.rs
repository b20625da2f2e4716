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

/// Runs `chainrule train --data DATA --quiet --out OUT` with `extra`
/// flags, asserts that it succeeded, and returns the model file's path.
pub fn train_quietly(data: &str, out: &Path, extra: &[&str]) -> std::path::PathBuf {
    let out_s = out.to_str().expect("a UTF-8 path");
    let mut args = vec!["train", "--data", data, "--quiet", "--out", out_s];
    args.extend_from_slice(extra);
    let o = chainrule(&args);
    assert!(o.status.success(), "{args:?} failed: {}", stderr(&o));
    out.join("model.safetensors")
}

/// A JSON file's contents (a fixture or a run's metrics.json).
pub fn json_file(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A JSON array of numbers.
pub fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}
