//! Shared parts of the candle and burn peers: the counter-based generator of
//! shared/WORKLOADS.md (bit-identical to chainrule's and the Python peers'),
//! the workloads' data and weights, argument parsing, thread set-up and the
//! JSON line every peer prints.

use std::time::Instant;

/// SplitMix64 finaliser (wrapping u64 arithmetic).
pub fn mix(mut z: u64) -> u64 {
    z ^= z >> 30;
    z = z.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^= z >> 27;
    z = z.wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `u64(s, i) = mix(s * 2^32 + (i + 1) * 0x9E3779B97F4A7C15)`.
pub fn u64_at(seed: u64, i: u64) -> u64 {
    mix(seed
        .wrapping_mul(1 << 32)
        .wrapping_add((i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)))
}

/// Exact f32 in [0, 1): the top 24 bits times 2^-24.
pub fn unit(seed: u64, i: u64) -> f32 {
    ((u64_at(seed, i) >> 40) as f64 * (-24f64).exp2()) as f32
}

/// Exact f32 in [-1, 1): `2 unit - 1`.
pub fn sym(seed: u64, i: u64) -> f32 {
    (2.0 * unit(seed, i) as f64 - 1.0) as f32
}

/// `n` values of `unit(seed, ·)`.
pub fn units(seed: u64, n: usize) -> Vec<f32> {
    (0..n as u64).map(|i| unit(seed, i)).collect()
}

/// `n` values of `sym(seed, ·)`.
pub fn syms(seed: u64, n: usize) -> Vec<f32> {
    (0..n as u64).map(|i| sym(seed, i)).collect()
}

/// Kaiming-uniform weight `[fan_in, fan_out]` row-major: `sym * f32(sqrt(6 / fan_in))`.
pub fn kaiming(fan_in: usize, fan_out: usize, seed: u64) -> Vec<f32> {
    let bound = (6.0f64 / fan_in as f64).sqrt() as f32;
    (0..(fan_in * fan_out) as u64)
        .map(|i| sym(seed, i) * bound)
        .collect()
}

/// One dense layer's initial values: weight `[fan_in, fan_out]`, bias zero.
pub struct Layer {
    pub fan_in: usize,
    pub fan_out: usize,
    pub w: Vec<f32>,
    pub b: Vec<f32>,
}

fn layers(sizes: &[usize], seed0: u64) -> Vec<Layer> {
    (0..sizes.len() - 1)
        .map(|k| Layer {
            fan_in: sizes[k],
            fan_out: sizes[k + 1],
            w: kaiming(sizes[k], sizes[k + 1], seed0 + k as u64),
            b: vec![0.0; sizes[k + 1]],
        })
        .collect()
}

/// W1: the worked example, weights stored `[out, in]` (y = sigmoid(x W^T + b)).
pub struct W1Data {
    pub w1: [f32; 4],
    pub b1: [f32; 2],
    pub w2: [f32; 2],
    pub b2: [f32; 1],
    pub x: [f32; 2],
    pub t: [f32; 1],
}

pub const W1: W1Data = W1Data {
    w1: [0.15, 0.20, 0.25, 0.30],
    b1: [0.35, 0.35],
    w2: [0.40, 0.45],
    b2: [0.60],
    x: [0.05, 0.10],
    t: [1.0],
};

/// A three-layer ReLU classifier's data: W2 and every W5 point. x is
/// `[batch, inputs]` row-major, labels in 0..10.
pub struct ClassifierData {
    pub batch: usize,
    pub inputs: usize,
    pub x: Vec<f32>,
    pub labels: Vec<u32>,
    pub layers: Vec<Layer>,
}

fn classifier(batch: usize, sizes: &[usize], x_seed: u64, label_seed: u64, w_seed: u64) -> ClassifierData {
    ClassifierData {
        batch,
        inputs: sizes[0],
        x: units(x_seed, batch * sizes[0]),
        labels: (0..batch as u64)
            .map(|i| (u64_at(label_seed, i) % 10) as u32)
            .collect(),
        layers: layers(sizes, w_seed),
    }
}

/// W2: x `[128, 784]` = unit(1, ·), labels = u64(2, ·) mod 10, layers 784-512-256-10 seeds 3, 4, 5.
pub fn w2() -> ClassifierData {
    classifier(128, &[784, 512, 256, 10], 1, 2, 3)
}

/// W5's sweep points, as the peers name them: `W5h<width>` (256-h-h-10 at
/// batch 128) and `W5b<batch>` (W2's 784-512-256-10 at that batch).
pub const W5_POINTS: [&str; 8] = [
    "W5h64", "W5h256", "W5h1024", "W5h4096", "W5b1", "W5b16", "W5b128", "W5b1024",
];

/// `(is_width, size)` of a W5 point name, or `None` for another name.
pub fn w5_point(name: &str) -> Option<(bool, usize)> {
    if !W5_POINTS.contains(&name) {
        return None;
    }
    Some((name.as_bytes()[2] == b'h', name[3..].parse().ok()?))
}

/// W5 point `name`: x = unit(31, ·), labels = u64(32, ·) mod 10, layer k seed 33 + k.
pub fn w5(name: &str) -> Option<ClassifierData> {
    let (width, size) = w5_point(name)?;
    Some(if width {
        classifier(128, &[256, size, size, 10], 31, 32, 33)
    } else {
        classifier(size, &[784, 512, 256, 10], 31, 32, 33)
    })
}

/// W2 or a W5 point.
pub fn classifier_workload(name: &str) -> Option<ClassifierData> {
    if name == "W2" {
        Some(w2())
    } else {
        w5(name)
    }
}

/// W3: x `[32, 64]` = sym(11, ·), targets `[32, 1]` = sym(12, ·), 33 layers seeds 100 ..= 132.
pub struct W3Data {
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub layers: Vec<Layer>,
}

pub const W3_BATCH: usize = 32;
pub const W3_IN: usize = 64;

pub fn w3() -> W3Data {
    let mut sizes = vec![64usize; 33];
    sizes.push(1);
    W3Data {
        x: syms(11, W3_BATCH * W3_IN),
        y: syms(12, W3_BATCH),
        layers: layers(&sizes, 100),
    }
}

/// A convolution weight `[out, in, k, k]` (PyTorch's layout), kaiming with fan-in `in * k * k`.
pub fn kaiming_conv(out: usize, inp: usize, k: usize, seed: u64) -> Vec<f32> {
    let fan_in = inp * k * k;
    let bound = (6.0f64 / fan_in as f64).sqrt() as f32;
    (0..(out * fan_in) as u64)
        .map(|i| sym(seed, i) * bound)
        .collect()
}

/// One convolution layer's initial values: weight `[out, in, k, k]`, bias zero.
pub struct ConvLayer {
    pub out: usize,
    pub inp: usize,
    pub k: usize,
    pub w: Vec<f32>,
    pub b: Vec<f32>,
}

/// W4 (LeNet-5): x `[64, 1, 28, 28]` = unit(21, ·), labels = u64(22, ·) mod 10,
/// conv 1 -> 6 (5x5, seed 23), conv 6 -> 16 (5x5, seed 24), dense 400-120-84-10 seeds 25, 26, 27.
pub struct W4Data {
    pub x: Vec<f32>,
    pub labels: Vec<u32>,
    pub convs: Vec<ConvLayer>,
    pub layers: Vec<Layer>,
}

pub const W4_BATCH: usize = 64;
pub const W4_SIDE: usize = 28;

pub fn w4() -> W4Data {
    let conv = |out, inp, seed| ConvLayer {
        out,
        inp,
        k: 5,
        w: kaiming_conv(out, inp, 5, seed),
        b: vec![0.0; out],
    };
    W4Data {
        x: units(21, W4_BATCH * W4_SIDE * W4_SIDE),
        labels: (0..W4_BATCH as u64)
            .map(|i| (u64_at(22, i) % 10) as u32)
            .collect(),
        convs: vec![conv(6, 1, 23), conv(16, 6, 24)],
        layers: layers(&[400, 120, 84, 10], 25),
    }
}

/// `(warm-up steps, timed steps)` as WORKLOADS.md fixes them.
pub fn steps(workload: &str) -> (usize, usize) {
    match workload {
        "W1" => (1_000, 100_000),
        "W2" | "W4" => (20, 200),
        "W5h4096" | "W5b1024" => (10, 20),
        w if w.starts_with("W5") => (10, 100),
        _ => (20, 1_000),
    }
}

/// Command line: `WORKLOAD [--threads N] [--steps N]`.
pub struct Args {
    pub workload: String,
    pub threads: usize,
    pub steps: Option<usize>,
}

pub fn parse_args(bin: &str) -> Args {
    let usage = || -> ! {
        eprintln!("usage: {bin} W1|W2|W3|W4|W5h64|...|W5b1024 [--threads N] [--steps N]");
        std::process::exit(2)
    };
    let mut workload = None;
    let mut threads = 2;
    let mut steps = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> usize {
            let v = match a.split_once('=') {
                Some((_, v)) => v.to_string(),
                None => it.next().unwrap_or_else(|| usage()),
            };
            v.parse().unwrap_or_else(|_| {
                eprintln!("{bin}: {name} needs a positive integer, got '{v}'");
                usage()
            })
        };
        if a == "--threads" || a.starts_with("--threads=") {
            threads = value("--threads");
        } else if a == "--steps" || a.starts_with("--steps=") {
            steps = Some(value("--steps"));
        } else if a == "-h" || a == "--help" {
            usage();
        } else if workload.is_none() && !a.starts_with('-') {
            workload = Some(canonical(&a));
        } else {
            usage();
        }
    }
    let workload = workload.unwrap_or_else(|| usage());
    if !(matches!(workload.as_str(), "W1" | "W2" | "W3" | "W4") || w5_point(&workload).is_some())
        || threads == 0
    {
        usage();
    }
    Args {
        workload,
        threads,
        steps: steps.map(|s| s.max(1)),
    }
}

/// `w5h64` → `W5h64`, `w2` → `W2`.
fn canonical(name: &str) -> String {
    let mut s = name.to_ascii_lowercase();
    s.replace_range(..1.min(s.len()), &s[..1.min(s.len())].to_ascii_uppercase());
    s
}

/// Limits every thread pool the engines use to `n` threads. Must run first
/// in `main`, before any engine code and before any other thread exists:
/// candle reads `RAYON_NUM_THREADS` / `CANDLE_NUM_THREADS` for its gemm and
/// its own pools, burn-ndarray uses rayon's global pool and matrixmultiply's
/// pool (`MATMUL_NUM_THREADS`).
pub fn set_threads(n: usize) {
    let n = n.to_string();
    for var in [
        "RAYON_NUM_THREADS",
        "CANDLE_NUM_THREADS",
        "MATMUL_NUM_THREADS",
    ] {
        std::env::set_var(var, &n);
    }
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(n.parse().unwrap())
        .build_global();
}

/// The process's peak resident memory in KiB (VmHWM), if known.
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A training run as every peer does it. `step` does forward, loss,
/// backward, SGD update and returns the loss before the update; `loss`
/// evaluates the current loss without recording gradients.
pub trait Bench {
    fn step(&mut self) -> f32;
    fn loss(&mut self) -> f32;
}

/// Runs the protocol of the Python peers and prints one JSON line.
pub fn run(engine: &str, version: &str, args: &Args, bench: &mut dyn Bench) {
    let (warm, default_timed) = steps(&args.workload);
    let timed = args.steps.unwrap_or(default_timed);
    let first = bench.step();
    let after1 = bench.loss();
    for _ in 1..warm {
        bench.step();
    }
    let after_warm = bench.loss();
    let start = Instant::now();
    for _ in 0..timed {
        bench.step();
    }
    let secs = start.elapsed().as_secs_f64();
    let last = bench.loss();
    let rss = peak_rss_kb().map_or("null".to_string(), |r| r.to_string());
    let mut line = format!(
        "{{\"engine\": \"{engine}\", \"version\": \"{version}\", \"workload\": \"{}\", \"steps_per_s\": {}, \
         \"loss_first\": {}, \"loss_last\": {}, \"peak_rss_kb\": {rss}, \"timed_steps\": {timed}, \"warmup_steps\": {warm}, \
         \"threads\": {}",
        args.workload,
        num(timed as f64 / secs),
        num(first as f64),
        num(last as f64),
        args.threads
    );
    // The loss after 1 step for every workload (WORKLOADS.md quotes it for
    // W1-W4); after the 1,000 warm-up steps for W1.
    line += &format!(", \"loss_after_1\": {}", num(after1 as f64));
    if args.workload == "W1" {
        line += &format!(", \"loss_after_1000\": {}", num(after_warm as f64));
    }
    if let Some((width, size)) = w5_point(&args.workload) {
        let batch = if width { 128 } else { size };
        line += &format!(
            ", \"sweep\": \"{}\", \"size\": {size}, \"samples_per_s\": {}",
            if width { "width" } else { "batch" },
            num(batch as f64 * timed as f64 / secs)
        );
    }
    line.push('}');
    println!("{line}");
}

/// A JSON number (NaN and infinities, which JSON lacks, as null).
fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:?}")
    } else {
        "null".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_python_peers() {
        // Values printed by bench/peers/workloads.py (numpy), as f32.
        let d = w2();
        assert_eq!(&d.x[..3], &[0.766_301_75_f32, 0.217_489_18, 0.684_930_26]);
        assert_eq!(&d.labels[..6], &[2, 2, 6, 7, 9, 1]);
        assert_eq!(&d.layers[0].w[..2], &[-0.033_025_835_f32, -0.078_184_895]);
        let d = w3();
        assert_eq!(
            (d.x[0], d.y[0], d.layers[32].w[5]),
            (0.704_183_2_f32, -0.027_556_777, 0.242_085_96)
        );
    }

    #[test]
    fn w4_matches_the_python_peers() {
        // Values printed by bench/peers/workloads.py w4() (numpy), as f32.
        let d = w4();
        assert_eq!(&d.x[..3], &[0.037_140_667_f32, 0.442_743_72, 0.902_43]);
        assert_eq!(&d.labels[..6], &[5, 0, 9, 0, 6, 7]);
        assert_eq!(&d.convs[0].w[..2], &[0.429_051_9_f32, -0.468_780_42]);
        assert_eq!(*d.convs[1].w.last().unwrap(), 0.149_074_55_f32);
        assert_eq!(d.layers[2].w[5], 0.093_617_775_f32);
    }

    #[test]
    fn w5_matches_the_python_peers() {
        // Shapes and first values of bench/peers/workloads.py w5() (numpy).
        let d = w5("W5h1024").unwrap();
        assert_eq!((d.batch, d.inputs, d.layers[1].fan_in, d.layers[1].fan_out), (128, 256, 1024, 1024));
        let d = w5("W5b16").unwrap();
        assert_eq!((d.batch, d.inputs, d.x.len(), d.layers[2].fan_out), (16, 784, 16 * 784, 10));
        assert!(w5("W5h7").is_none() && w5("W2").is_none());
        assert_eq!(canonical("w5b16"), "W5b16");
    }

    #[test]
    fn generator_is_exact() {
        // unit values are multiples of 2^-24 in [0, 1); sym is exact.
        for i in 0..1000 {
            let u = unit(7, i);
            assert!((0.0..1.0).contains(&u));
            assert_eq!((u * 16_777_216.0).fract(), 0.0);
            assert_eq!(sym(7, i), 2.0 * u - 1.0);
        }
    }
}
