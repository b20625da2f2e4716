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
        stderr(&o).contains(
            "unknown workload 'W9' (expected W1, W2, W3, W4, W5, a W5 point such as W5h1024 or W5b16, or all)"
        ),
        "{}",
        stderr(&o)
    );
}

#[test]
fn one_sweep_point_runs_alone_with_the_peers_first_loss() {
    let o = chainrule(&["bench", "w5h64", "--steps", "1", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(j["workload"], "W5h64");
    assert_eq!(
        (j["sweep"].as_str(), j["size"].as_u64()),
        (Some("width"), Some(64))
    );
    // WORKLOADS.md: PyTorch, JAX, candle and burn print 2.818989 before the
    // first update of 256-64-64-10 at batch 128.
    let first = j["loss_first"].as_f64().unwrap();
    assert!((first - 2.818989).abs() < 1e-5, "{first}");
    let (steps, samples) = (
        j["steps_per_s"].as_f64().unwrap(),
        j["samples_per_s"].as_f64().unwrap(),
    );
    assert!((samples - 128.0 * steps).abs() < 1e-9 * samples);
    // 2·128·(256·64 + 64·64 + 64·10) per pass; forward, weight gradients and
    // the input gradients of layers 2 and 3 (2·128·(64·64 + 64·10)).
    let pass = 2.0 * 128.0 * (256.0 * 64.0 + 64.0 * 64.0 + 64.0 * 10.0);
    let per_step = j["gflops"].as_f64().unwrap() * 1e9 / steps;
    let expected = 2.0 * pass + 2.0 * 128.0 * (64.0 * 64.0 + 64.0 * 10.0);
    assert!(
        (per_step - expected).abs() < 1e-3 * expected,
        "{per_step} vs {expected}"
    );
}
