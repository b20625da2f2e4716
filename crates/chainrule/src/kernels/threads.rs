//! How many threads large kernels may use. Small products stay on the
//! calling thread: handing a 64×64 product to a pool costs more than it
//! saves.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Products with at least this many multiply-adds may use several threads.
pub const PARALLEL_PRODUCT: usize = 1 << 21;

/// 0: the default (every available core).
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Sets the number of threads large kernels may use (0 restores the
/// default: every available core).
pub fn set_num_threads(n: usize) {
    THREADS.store(n, Ordering::Relaxed);
}

/// The number of threads large kernels use.
pub fn num_threads() -> usize {
    // A background job's kernels stay on the helper that runs it (see
    // `background.rs`).
    if super::background::alone() {
        return 1;
    }
    match THREADS.load(Ordering::Relaxed) {
        // Asking the system reads files (cgroup limits): once is enough.
        0 => *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        n => n,
    }
}

static CORES: OnceLock<usize> = OnceLock::new();

/// How many threads a product of `work` multiply-adds should use.
pub(crate) fn threads_for(work: usize) -> usize {
    if work >= PARALLEL_PRODUCT {
        num_threads()
    } else {
        1
    }
}
