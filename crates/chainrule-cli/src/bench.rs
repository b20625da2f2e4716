//! `chainrule bench`: the fixed workloads W1–W4 (shared/WORKLOADS.md), run
//! exactly as specified: warm-up steps, then timed steps; prints steps per
//! second, the first and last loss, and the process's peak resident memory.

use crate::numeric_args;
use chainrule_nn::workloads::{Workload, WorkloadId};
use chainrule_nn::Result;
use serde_json::json;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// W1, W2, W3, W4 or all.
    #[arg(default_value = "all")]
    workload: String,
    /// Threads for large matrix products (default: every available core).
    #[arg(long, allow_negative_numbers = true, value_parser = numeric_args::at_least_one)]
    threads: Option<usize>,
    /// Timed steps (default: as WORKLOADS.md fixes them).
    #[arg(long, allow_negative_numbers = true, value_parser = numeric_args::at_least_one)]
    steps: Option<usize>,
    /// One JSON object per workload, one per line.
    #[arg(long)]
    json: bool,
}

/// The process's peak resident memory in KiB (Linux), if known.
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn run(args: &Args) -> Result<()> {
    crate::threads::configure(args.threads)?;
    let ids = if args.workload.eq_ignore_ascii_case("all") {
        WorkloadId::ALL.to_vec()
    } else {
        vec![WorkloadId::parse(&args.workload)?]
    };
    for id in ids {
        let (warmup, default_timed) = id.steps();
        let timed = args.steps.unwrap_or(default_timed).max(1);
        let mut w = Workload::new(id)?;
        let loss_first = w.step()?;
        let loss_after_1 = w.loss()?;
        for _ in 1..warmup {
            w.step()?;
        }
        let loss_after_warmup = w.loss()?;
        let start = Instant::now();
        for _ in 0..timed {
            w.step()?;
        }
        let seconds = start.elapsed().as_secs_f64();
        let loss_last = w.loss()?;
        let steps_per_s = timed as f64 / seconds;
        let rss = peak_rss_kb();
        if args.json {
            let mut o = json!({
                "workload": id.name(), "steps_per_s": steps_per_s, "loss_first": loss_first,
                "loss_last": loss_last, "peak_rss_kb": rss, "timed_steps": timed, "warmup_steps": warmup,
            });
            if id == WorkloadId::W4 {
                o["loss_after_1"] = json!(loss_after_1);
            }
            if id == WorkloadId::W1 {
                o["loss_after_1"] = json!(loss_after_1);
                o["loss_after_1000"] = json!(loss_after_warmup);
            }
            println!("{o}");
        } else {
            println!(
                "{}: {steps_per_s:.0} steps/s ({timed} timed steps after {warmup} warm-up, {:.3} s)  loss first {loss_first:.6}, last {loss_last:.6}  peak RSS {} KiB",
                id.name(),
                seconds,
                rss.map_or("?".into(), |r| r.to_string())
            );
            if id == WorkloadId::W4 {
                println!("    W4 loss after 1 step {loss_after_1:.6}");
            }
            if id == WorkloadId::W1 {
                println!("    W1 loss after 1 step {loss_after_1:.7}, after {warmup} steps {loss_after_warmup:.7}");
            }
        }
    }
    Ok(())
}
