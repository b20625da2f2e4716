//! A/B benchmark of the two GEMMs behind `matmul`: ours
//! (`kernels/gemm`) against the gemm crate's, at the shapes of the
//! training steps (W2, W3, W4, W5's widths, forward `X·W`, weight gradient
//! `Xᵀ·dY` with `ta`, input gradient `dY·Wᵀ` with `tb`) and 2048³.
//!
//! On a shared machine timings are noisy, so the two run interleaved in
//! the same process (A, B, A, B, …) and each reports its best sample; on
//! one thread a sample is the thread's own time on the CPU.
//!
//! `cargo run --release -p chainrule --example gemm_ab [rounds] [filter]`

use chainrule::kernels::matmul::{matmul, set_backend, Backend, MatMulDims};
use chainrule::kernels::threads::set_num_threads;
use std::hint::black_box;
use std::time::Instant;

/// (name, m, k, n, ta, tb, threads).
const SHAPES: &[(&str, usize, usize, usize, bool, bool, usize)] = &[
    ("W2 l1 fwd", 128, 784, 512, false, false, 1),
    ("W2 l2 fwd", 128, 512, 256, false, false, 1),
    ("W2 l3 fwd", 128, 256, 10, false, false, 1),
    ("W2 l1 dW", 784, 128, 512, true, false, 1),
    ("W2 l2 dW", 512, 128, 256, true, false, 1),
    ("W2 l3 dW", 256, 128, 10, true, false, 1),
    ("W2 l1 dX", 128, 512, 784, false, true, 1),
    ("W2 l2 dX", 128, 256, 512, false, true, 1),
    ("W2 l3 dX", 128, 10, 256, false, true, 1),
    ("W2 l1 fwd", 128, 784, 512, false, false, 2),
    ("W2 l1 dW", 784, 128, 512, true, false, 2),
    ("W3 fwd", 32, 64, 64, false, false, 1),
    ("W3 dW", 64, 32, 64, true, false, 1),
    ("W3 dX", 32, 64, 64, false, true, 1),
    // W4's convolutions as im2col products over chunks of 13 (conv1) and
    // 17 (conv2) images, and its first dense layer.
    ("W4 c1 fwd", 6, 25, 10192, false, false, 1),
    ("W4 c1 dW", 6, 10192, 25, false, true, 1),
    ("W4 c2 fwd", 16, 150, 1700, false, false, 1),
    ("W4 c2 dX", 150, 16, 1700, true, false, 1),
    ("W4 c2 dW", 16, 1700, 150, false, true, 1),
    ("W4 d1 fwd", 64, 400, 120, false, false, 1),
    ("W4 d1 dW", 400, 64, 120, true, false, 1),
    ("W4 d2 dX", 64, 120, 400, false, true, 1),
    ("W5 1024 fwd", 128, 1024, 1024, false, false, 1),
    ("W5 1024 dW", 1024, 128, 1024, true, false, 1),
    ("W5 1024 dX", 128, 1024, 1024, false, true, 1),
    ("W5 1024 fwd", 128, 1024, 1024, false, false, 2),
    ("W5 4096 fwd", 128, 4096, 4096, false, false, 1),
    ("W5 4096 dW", 4096, 128, 4096, true, false, 1),
    ("W5 4096 dX", 128, 4096, 4096, false, true, 1),
    ("W5 4096 fwd", 128, 4096, 4096, false, false, 2),
    ("2048³", 2048, 2048, 2048, false, false, 1),
    ("2048³", 2048, 2048, 2048, false, false, 2),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(7);
    let filter = args.get(2).cloned().unwrap_or_default();
    println!(
        "{:<12} {:>16} {:>3} {:>9} {:>9} {:>6}",
        "shape", "m×k×n flags", "thr", "own", "crate", "ratio"
    );
    // GEMM_SHAPE=m,k,n,ta,tb,threads (0/1 flags) measures one other shape.
    let custom: Vec<usize> = std::env::var("GEMM_SHAPE")
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_default();
    let extra = [(
        "custom",
        custom.first().copied().unwrap_or(0),
        custom.get(1).copied().unwrap_or(0),
        custom.get(2).copied().unwrap_or(0),
        custom.get(3) == Some(&1),
        custom.get(4) == Some(&1),
        custom.get(5).copied().unwrap_or(1),
    )];
    let shapes = if custom.len() == 6 {
        &extra[..]
    } else {
        SHAPES
    };
    for &(name, m, k, n, ta, tb, threads) in shapes {
        if !name.contains(filter.as_str()) {
            continue;
        }
        set_num_threads(threads);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7919) % 1000) as f32 * 1e-3 - 0.5)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 104729) % 1000) as f32 * 1e-3 - 0.5)
            .collect();
        let mut c = vec![0.0f32; m * n];
        let d = MatMulDims::single(m, k, n, ta, tb);
        let mut once = |backend| {
            set_backend(backend);
            matmul(black_box(&a), black_box(&b), &mut c, d);
        };
        // Warm both and size a sample to about 20 ms.
        let start = Instant::now();
        once(Backend::Own);
        once(Backend::Crate);
        let per = start.elapsed().as_secs_f64() / 2.0;
        let iters = ((0.02 / per) as usize).max(1);
        let mut best = [f64::INFINITY; 2];
        for _ in 0..rounds {
            for (slot, backend) in [Backend::Own, Backend::Crate].into_iter().enumerate() {
                // On one thread, the time this thread spent on the CPU:
                // what another process takes from it does not count.
                let (start, cpu) = (Instant::now(), on_cpu_seconds());
                for _ in 0..iters {
                    once(backend);
                }
                let spent = match (threads, cpu, on_cpu_seconds()) {
                    (1, Some(a), Some(b)) => b - a,
                    _ => start.elapsed().as_secs_f64(),
                };
                best[slot] = best[slot].min(spent / iters as f64);
            }
        }
        let flops = 2.0 * (m * k * n) as f64;
        let flags = match (ta, tb) {
            (false, false) => "",
            (true, false) => " ta",
            (false, true) => " tb",
            (true, true) => " ta tb",
        };
        println!(
            "{:<12} {:>16} {:>3} {:>9.1} {:>9.1} {:>6.2}",
            name,
            format!("{m}×{k}×{n}{flags}"),
            threads,
            flops / best[0] * 1e-9,
            flops / best[1] * 1e-9,
            best[1] / best[0]
        );
    }
    set_backend(Backend::Auto);
}

/// Seconds the calling thread has spent on a CPU (POSIX's thread CPU-time
/// clock, exact to the nanosecond at any moment, unlike the scheduler's
/// counters, which move at its ticks), if known.
#[cfg(target_os = "linux")]
fn on_cpu_seconds() -> Option<f64> {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, now: *mut Timespec) -> i32;
    }
    /// Linux's `CLOCK_THREAD_CPUTIME_ID`.
    const THREAD_CPU_TIME: i32 = 3;
    let mut now = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `clock_gettime` writes one `struct timespec` (two 64-bit
    // fields on x86-64 and aarch64 Linux) to a valid pointer.
    let ok = unsafe { clock_gettime(THREAD_CPU_TIME, &mut now) } == 0;
    ok.then_some(now.sec as f64 + now.nsec as f64 * 1e-9)
}

/// Elsewhere: unknown (samples are wall-clock time).
#[cfg(not(target_os = "linux"))]
fn on_cpu_seconds() -> Option<f64> {
    None
}
