//! A/B benchmark of whole training steps on the two GEMMs behind
//! `matmul` (ours, `kernels/gemm`, against the gemm crate's): W2, W3, W4
//! and two W5 widths, one workload per GEMM, stepped interleaved in the
//! same process (A, B, A, B, …) on a shared machine; each reports its best
//! sample.
//!
//! `cargo run --release -p chainrule-nn --example step_ab [rounds] [threads]`

use chainrule::kernels::matmul::{set_backend, Backend};
use chainrule::kernels::threads::set_num_threads;
use chainrule_nn::workloads::{W5Point, Workload, WorkloadId};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(7);
    let threads: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    set_num_threads(threads);
    let make = |name: &str| -> Workload {
        match WorkloadId::parse(name) {
            Ok(id) => Workload::new(id).unwrap(),
            Err(_) => Workload::sweep(W5Point::parse(name).unwrap()).unwrap(),
        }
    };
    println!(
        "{:<10} {:>12} {:>12} {:>6}",
        "workload", "own µs", "crate µs", "ratio"
    );
    for name in ["W2", "W3", "W4", "W5h1024", "W5h4096"] {
        let mut w = [make(name), make(name)];
        let backends = [Backend::Own, Backend::Crate];
        let mut per = 0.0;
        for (wl, &b) in w.iter_mut().zip(&backends) {
            set_backend(b);
            let start = Instant::now();
            for _ in 0..3 {
                wl.step().unwrap();
            }
            per = start.elapsed().as_secs_f64() / 3.0;
        }
        let steps = ((0.05 / per) as usize).max(1);
        let mut best = [f64::INFINITY; 2];
        for _ in 0..rounds {
            for (slot, (wl, &b)) in w.iter_mut().zip(&backends).enumerate() {
                set_backend(b);
                let start = Instant::now();
                for _ in 0..steps {
                    wl.step().unwrap();
                }
                best[slot] = best[slot].min(start.elapsed().as_secs_f64() / steps as f64);
            }
        }
        println!(
            "{:<10} {:>12.1} {:>12.1} {:>6.2}",
            name,
            best[0] * 1e6,
            best[1] * 1e6,
            best[1] / best[0]
        );
    }
    set_backend(Backend::Auto);
}
