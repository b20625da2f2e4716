//! Helpers of the tests on a run's training steps: a run trained into the
//! runs folder, the explorer's JSON read back, and a small network's
//! forward pass written out by hand (independent of the engine).

use super::Server;
use serde_json::Value;
use std::path::Path;

/// Trains `chainrule train ARGS --out RUNS/NAME --quiet`, streaming to
/// `server` when given (which writes `start.safetensors`).
pub fn train(runs: &Path, name: &str, server: Option<&Server>, args: &[&str]) {
    let out = runs.join(name);
    let mut all: Vec<String> = vec!["train".into()];
    all.extend(args.iter().map(|s| s.to_string()));
    all.extend(["--quiet".into(), "--out".into(), out.display().to_string()]);
    if let Some(s) = server {
        all.extend(["--serve".into(), s.addr.rsplit(':').next().unwrap().into()]);
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chainrule"))
        .args(&all)
        .output()
        .expect("chainrule train runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn metrics(runs: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(runs.join(name).join("metrics.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The node of the explorer's JSON named `name`.
pub fn node<'v>(v: &'v Value, name: &str) -> &'v Value {
    v["explain"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node {name}"))
}

pub fn matrix(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

pub fn vector(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// A one-hidden-layer ReLU network with cross-entropy on its logits,
/// written out by hand: the test's own forward pass, independent of the
/// engine.
pub struct Mlp {
    pub w1: Vec<Vec<f64>>,
    pub b1: Vec<f64>,
    pub w2: Vec<Vec<f64>>,
    pub b2: Vec<f64>,
}

impl Mlp {
    pub fn loss(&self, x: &[f64], class: usize) -> f64 {
        let h: Vec<f64> = self
            .w1
            .iter()
            .zip(&self.b1)
            .map(|(w, b)| (w.iter().zip(x).map(|(a, b)| a * b).sum::<f64>() + b).max(0.0))
            .collect();
        let z: Vec<f64> = self
            .w2
            .iter()
            .zip(&self.b2)
            .map(|(w, b)| w.iter().zip(&h).map(|(a, b)| a * b).sum::<f64>() + b)
            .collect();
        let m = z.iter().cloned().fold(f64::MIN, f64::max);
        m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln() - z[class]
    }

    /// ∂loss/∂W1 by central differences.
    pub fn w1_gradient(&mut self, x: &[f64], class: usize) -> Vec<Vec<f64>> {
        let h = 1e-6;
        let shape: Vec<usize> = self.w1.iter().map(Vec::len).collect();
        let mut g = Vec::new();
        for (i, n) in shape.into_iter().enumerate() {
            let mut row = Vec::with_capacity(n);
            for j in 0..n {
                let keep = self.w1[i][j];
                self.w1[i][j] = keep + h;
                let up = self.loss(x, class);
                self.w1[i][j] = keep - h;
                let down = self.loss(x, class);
                self.w1[i][j] = keep;
                row.push((up - down) / (2.0 * h));
            }
            g.push(row);
        }
        g
    }
}
