//! `chainrule bench`: the fixed workloads W1–W5 (shared/WORKLOADS.md), run
//! exactly as specified: warm-up steps, then timed steps; prints steps per
//! second, the first and last loss, the process's peak resident memory and
//! the arithmetic rate, as a fraction of the machine's FMA peak measured in
//! the same process (`--peak` prints the peak itself and one large GEMM).

use crate::numeric_args;
use chainrule::machine::{self, Peak};
use chainrule_nn::workloads::{W5Point, Workload, WorkloadId};
use chainrule_nn::Result;
use serde_json::json;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// W1, W2, W3, W4, W5 (the eight sweep points), one sweep point
    /// (W5h64, W5h256, W5h1024, W5h4096: width; W5b1, W5b16, W5b128,
    /// W5b1024: batch) or all (W1–W4).
    #[arg(default_value = "all")]
    workload: String,
    /// Threads for large matrix products (default: every available core).
    #[arg(long, allow_negative_numbers = true, value_parser = numeric_args::at_least_one)]
    threads: Option<usize>,
    /// Timed steps (default: as WORKLOADS.md fixes them).
    #[arg(long, allow_negative_numbers = true, value_parser = numeric_args::at_least_one)]
    steps: Option<usize>,
    /// One JSON object per workload (per sweep point), one per line.
    #[arg(long)]
    json: bool,
    /// Also print the machine's f32 FMA peak and one 2048³ GEMM's rate.
    #[arg(long)]
    peak: bool,
}

/// The process's peak resident memory in KiB (Linux), if known.
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What to run: a fixed workload or a sweep point.
enum Job {
    Fixed(WorkloadId),
    Sweep(W5Point),
}

impl Job {
    fn name(&self) -> String {
        match self {
            Job::Fixed(id) => id.name().into(),
            Job::Sweep(p) => p.name(),
        }
    }
    fn steps(&self) -> (usize, usize) {
        match self {
            Job::Fixed(id) => id.steps(),
            Job::Sweep(p) => p.steps(),
        }
    }
    fn flops(&self) -> f64 {
        match self {
            Job::Fixed(id) => id.flops_per_step(),
            Job::Sweep(p) => p.flops_per_step(),
        }
    }
    fn build(&self) -> Result<Workload> {
        match self {
            Job::Fixed(id) => Workload::new(*id),
            Job::Sweep(p) => Workload::sweep(*p),
        }
    }
}

fn jobs(workload: &str) -> Result<Vec<Job>> {
    let w = workload.trim();
    Ok(if w.eq_ignore_ascii_case("all") {
        WorkloadId::ALL.iter().map(|&id| Job::Fixed(id)).collect()
    } else if w.eq_ignore_ascii_case("w5") {
        W5Point::ALL.iter().map(|&p| Job::Sweep(p)).collect()
    } else if let Some(p) = W5Point::parse(w) {
        vec![Job::Sweep(p)]
    } else {
        vec![Job::Fixed(WorkloadId::parse(w).map_err(|_| {
            chainrule_nn::Error::config(
                "workload",
                format!(
                    "unknown workload '{w}' (expected W1, W2, W3, W4, W5, a W5 point such as W5h1024 or W5b16, or all)"
                ),
            )
        })?)]
    })
}

/// The FMA peak of the threads the products use (0.2 s or so).
fn measure_peak() -> Peak {
    machine::fma_peak(chainrule::kernels::threads::num_threads(), 2_000_000, 3)
}

/// One 2048×2048·2048×2048 product through the engine, in FLOP/s.
fn gemm_rate() -> Result<f64> {
    let n = 2048;
    let g = chainrule::Graph::<f32>::new();
    let a = g.input(&chainrule::Tensor::uniform(&[n, n], -1.0, 1.0, 1)?);
    let b = g.input(&chainrule::Tensor::uniform(&[n, n], -1.0, 1.0, 2)?);
    let mut best = 0.0f64;
    for _ in 0..3 {
        let start = Instant::now();
        let c = a.matmul(b)?;
        std::hint::black_box(c.shape());
        let s = start.elapsed().as_secs_f64();
        best = best.max(2.0 * (n * n * n) as f64 / s);
    }
    Ok(best)
}

pub fn run(args: &Args) -> Result<()> {
    crate::threads::configure(args.threads)?;
    let jobs = jobs(&args.workload)?;
    let peak = measure_peak();
    if args.peak {
        let gemm = gemm_rate()?;
        if args.json {
            println!(
                "{}",
                json!({
                    "peak_gflops": peak.flops / 1e9, "threads": peak.threads,
                    "instructions": peak.width.name(), "gemm_2048_gflops": gemm / 1e9,
                    "gemm_fraction_of_peak": gemm / peak.flops,
                })
            );
        } else {
            println!(
                "FMA peak: {:.1} GFLOP/s on {} thread(s) ({}, f32); one 2048³ GEMM: {:.1} GFLOP/s, {:.0}% of the peak",
                peak.flops / 1e9,
                peak.threads,
                peak.width.name(),
                gemm / 1e9,
                100.0 * gemm / peak.flops
            );
        }
    }
    for job in jobs {
        let (warmup, default_timed) = job.steps();
        let timed = args.steps.unwrap_or(default_timed).max(1);
        let mut w = job.build()?;
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
        let gflops = steps_per_s * job.flops() / 1e9;
        let fraction = gflops * 1e9 / peak.flops;
        let rss = peak_rss_kb();
        let name = job.name();
        if args.json {
            let mut o = json!({
                "workload": match &job { Job::Sweep(p) => p.id(), Job::Fixed(_) => name.clone() },
                "name": name, "steps_per_s": steps_per_s, "loss_first": loss_first,
                "loss_last": loss_last, "peak_rss_kb": rss, "timed_steps": timed, "warmup_steps": warmup,
                "gflops": gflops, "fraction_of_peak": fraction, "peak_gflops": peak.flops / 1e9,
            });
            match &job {
                Job::Fixed(WorkloadId::W4) => o["loss_after_1"] = json!(loss_after_1),
                Job::Fixed(WorkloadId::W1) => {
                    o["loss_after_1"] = json!(loss_after_1);
                    o["loss_after_1000"] = json!(loss_after_warmup);
                }
                Job::Sweep(p) => {
                    o["samples_per_s"] = json!(steps_per_s * p.batch() as f64);
                    o["sweep"] = json!(match p {
                        W5Point::Width(_) => "width",
                        W5Point::Batch(_) => "batch",
                    });
                    o["size"] = json!(match *p {
                        W5Point::Width(h) => h,
                        W5Point::Batch(b) => b,
                    });
                }
                _ => {}
            }
            println!("{o}");
        } else {
            println!(
                "{name}: {steps_per_s:.0} steps/s ({timed} timed steps after {warmup} warm-up, {:.3} s), {gflops:.1} GFLOP/s = {:.0}% of the FMA peak  loss first {loss_first:.6}, last {loss_last:.6}  peak RSS {} KiB",
                seconds,
                100.0 * fraction,
                rss.map_or("?".into(), |r| r.to_string())
            );
            match &job {
                Job::Fixed(WorkloadId::W4) => println!("    W4 loss after 1 step {loss_after_1:.6}"),
                Job::Fixed(WorkloadId::W1) => println!(
                    "    W1 loss after 1 step {loss_after_1:.7}, after {warmup} steps {loss_after_warmup:.7}"
                ),
                Job::Sweep(p) => println!(
                    "    {:.0} samples/s",
                    steps_per_s * p.batch() as f64
                ),
                _ => {}
            }
        }
    }
    Ok(())
}
