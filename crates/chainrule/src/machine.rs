//! The machine's arithmetic peak, measured: how many f32 floating-point
//! operations per second its cores sustain when they do nothing but fused
//! multiply-adds, so that a benchmark can say what fraction of the hardware
//! it uses (`chainrule bench --peak`).
//!
//! Each thread runs [`CHAINS`] independent chains of vector FMAs
//! (`acc = acc·m + a`) for a fixed number of rounds: enough independent
//! chains to cover the FMA units' latency × throughput (4–5 cycles × 2
//! units), so the loop is bound by FMA throughput alone. The vector width
//! is the widest the CPU has (AVX-512, else AVX2 with FMA), detected at run
//! time; elsewhere a portable loop of `mul_add` stands in, whose figure is a
//! lower bound. Threads start together and the figure is the total
//! operations over the slowest thread's time, the best of several trials.

use std::time::Instant;

/// Independent accumulator chains per thread.
pub const CHAINS: usize = 12;

/// The instructions the measurement used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FmaWidth {
    /// 16 f32 lanes.
    Avx512,
    /// 8 f32 lanes.
    Avx2,
    /// Whatever the compiler makes of `f32::mul_add` chains.
    Portable,
}

impl FmaWidth {
    /// `avx512`, `avx2+fma`, `portable`.
    pub fn name(&self) -> &'static str {
        match self {
            FmaWidth::Avx512 => "avx512",
            FmaWidth::Avx2 => "avx2+fma",
            FmaWidth::Portable => "portable",
        }
    }

    /// The widest this CPU runs.
    pub fn detect() -> FmaWidth {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return FmaWidth::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return FmaWidth::Avx2;
            }
        }
        FmaWidth::Portable
    }

    fn lanes(&self) -> usize {
        match self {
            FmaWidth::Avx512 => 16,
            FmaWidth::Avx2 => 8,
            FmaWidth::Portable => 8,
        }
    }
}

/// A measured peak.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Peak {
    /// f32 operations per second (an FMA counts 2), all threads together.
    pub flops: f64,
    pub threads: usize,
    pub width: FmaWidth,
}

/// Runs `rounds` rounds of [`CHAINS`] FMA chains of `width` and returns a
/// value that depends on every result (so the work cannot be skipped).
fn chains(width: FmaWidth, rounds: usize) -> f32 {
    match width {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `detect` returned Avx512 only where the CPU has AVX-512F.
        FmaWidth::Avx512 => unsafe { x86::chains_avx512(rounds) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `detect` returned Avx2 only where the CPU has AVX2 and FMA.
        FmaWidth::Avx2 => unsafe { x86::chains_avx2(rounds) },
        _ => portable(rounds),
    }
}

fn portable(rounds: usize) -> f32 {
    let mut acc = [[0.0f32; 8]; CHAINS];
    let (m, a) = (
        std::hint::black_box(0.999_999f32),
        std::hint::black_box(1e-7f32),
    );
    for _ in 0..rounds {
        for chain in acc.iter_mut() {
            for v in chain.iter_mut() {
                *v = v.mul_add(m, a);
            }
        }
    }
    acc.iter().flatten().sum()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::CHAINS;
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn chains_avx512(rounds: usize) -> f32 {
        let m = _mm512_set1_ps(std::hint::black_box(0.999_999));
        let a = _mm512_set1_ps(std::hint::black_box(1e-7));
        let mut acc = [_mm512_setzero_ps(); CHAINS];
        for _ in 0..rounds {
            for v in acc.iter_mut() {
                *v = _mm512_fmadd_ps(*v, m, a);
            }
        }
        let mut sum = _mm512_setzero_ps();
        for v in acc {
            sum = _mm512_add_ps(sum, v);
        }
        _mm512_reduce_add_ps(sum)
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn chains_avx2(rounds: usize) -> f32 {
        let m = _mm256_set1_ps(std::hint::black_box(0.999_999));
        let a = _mm256_set1_ps(std::hint::black_box(1e-7));
        let mut acc = [_mm256_setzero_ps(); CHAINS];
        for _ in 0..rounds {
            for v in acc.iter_mut() {
                *v = _mm256_fmadd_ps(*v, m, a);
            }
        }
        let mut sum = _mm256_setzero_ps();
        for v in acc {
            sum = _mm256_add_ps(sum, v);
        }
        let mut lanes = [0.0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), sum);
        lanes.iter().sum()
    }
}

/// Measures the f32 FMA peak of `threads` threads running together: the
/// best of `trials` trials of `rounds` rounds per thread.
pub fn fma_peak(threads: usize, rounds: usize, trials: usize) -> Peak {
    let threads = threads.max(1);
    let width = FmaWidth::detect();
    // Warm up: wake the cores and let their clocks settle.
    std::hint::black_box(chains(width, rounds / 4 + 1));
    let mut best = 0.0f64;
    for _ in 0..trials.max(1) {
        let start = Instant::now();
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| s.spawn(move || std::hint::black_box(chains(width, rounds))))
                .collect();
            for h in handles {
                // A thread that panicked leaves the figure at the others'.
                let _ = h.join();
            }
        });
        let seconds = start.elapsed().as_secs_f64();
        let ops = 2.0 * (threads * rounds * CHAINS * width.lanes()) as f64;
        if seconds > 0.0 {
            best = best.max(ops / seconds);
        }
    }
    Peak {
        flops: best,
        threads,
        width,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chains_compute_the_recurrence() {
        // acc ← acc·m + a from 0, r times: a·(1 − mʳ)/(1 − m). With m = 1 −
        // 1e-6 and a = 1e-7, after 1000 rounds each lane holds about
        // 1e-7 · 999.5 = 9.995e-5; every width must agree on the sum.
        let width = FmaWidth::detect();
        let lanes = (CHAINS * width.lanes()) as f32;
        let got = chains(width, 1000) / lanes;
        let want = 1e-7 * (1.0 - 0.999_999f64.powi(1000)) / 1e-6;
        assert!((got as f64 - want).abs() < 1e-3 * want, "{got} vs {want}");
        let portable = portable(1000) / (CHAINS * 8) as f32;
        assert!((portable as f64 - want).abs() < 1e-3 * want);
    }

    #[test]
    fn a_peak_is_positive_and_names_its_width() {
        let p = fma_peak(1, 10_000, 1);
        assert!(p.flops > 0.0 && p.flops.is_finite());
        assert_eq!(p.width, FmaWidth::detect());
        assert_eq!(p.threads, 1);
    }
}
