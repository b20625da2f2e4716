//! `chainrule bench` reports the arithmetic rate of each workload as a
//! fraction of the FMA peak it measures in the same process.

mod common;
use common::*;

#[test]
fn a_workload_states_its_arithmetic_and_fraction_of_the_peak() {
    let o = chainrule(&["bench", "W3", "--steps", "2", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(j["workload"], "W3");
    let steps = j["steps_per_s"].as_f64().unwrap();
    let gflops = j["gflops"].as_f64().unwrap();
    let peak = j["peak_gflops"].as_f64().unwrap();
    assert!(peak > 0.0 && steps > 0.0);
    // W3 by hand: 32 layers 64×64 and one 64×1 at batch 32 make
    // 2·32·(32·4096 + 64) = 8,392,704 operations per pass; forward, weight
    // gradients and input gradients of all but the first layer
    // (2·32·4096 = 262,144) give 3 × 8,392,704 − 262,144 = 24,915,968.
    let per_step = gflops * 1e9 / steps;
    assert!((per_step - 24_915_968.0).abs() < 1.0, "{per_step}");
    let fraction = j["fraction_of_peak"].as_f64().unwrap();
    assert!((fraction - gflops / peak).abs() < 1e-12 * fraction.max(1.0));
}

#[test]
fn an_unknown_workload_names_the_ones_there_are() {
    let o = chainrule(&["bench", "W9"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown workload 'W9' (expected W1, W2, W3, W4, W5 or all)"),
        "{}",
        stderr(&o)
    );
}
