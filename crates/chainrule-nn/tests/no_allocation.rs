//! Issue 13: after a few warm-up steps, a training step of W1, W2, W3 and
//! W4 allocates nothing on the calling thread. A counting global
//! allocator proves it (only the test's own thread is counted: the
//! harness's threads may allocate at any time, and the product team's
//! helpers keep their own grow-only buffers).
//!
//! `CHAINRULE_ALLOC_TRACE=1` prints a backtrace for each counted
//! allocation (to find one that appears).

use chainrule_nn::workloads::{Workload, WorkloadId};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

/// Whether to print a backtrace per counted allocation (read before
/// counting starts: reading the environment allocates).
static TRACE: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Whether this thread's allocations are being counted.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTING.with(|c| c.get()) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        if TRACE.load(Ordering::Relaxed) {
            // Not counted while the trace itself allocates.
            COUNTING.with(|c| c.set(false));
            eprintln!("{}", std::backtrace::Backtrace::force_capture());
            COUNTING.with(|c| c.set(true));
        }
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The allocations made by `steps` warm steps of `id` (after `warm`).
fn warm_allocations(id: WorkloadId, warm: usize, steps: usize) -> usize {
    TRACE.store(
        std::env::var_os("CHAINRULE_ALLOC_TRACE").is_some(),
        Ordering::Relaxed,
    );
    let mut w = Workload::new(id).unwrap();
    for _ in 0..warm {
        w.step().unwrap();
    }
    ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    for _ in 0..steps {
        w.step().unwrap();
    }
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::Relaxed)
}

// One test function: the counter is global, and the harness would run
// separate tests on parallel threads.
#[test]
fn warm_steps_of_w1_to_w4_allocate_nothing() {
    for (id, steps) in [
        (WorkloadId::W1, 200),
        (WorkloadId::W2, 3),
        (WorkloadId::W3, 10),
        (WorkloadId::W4, 2),
    ] {
        let n = warm_allocations(id, 3, steps);
        assert_eq!(
            n,
            0,
            "{steps} warm steps of {} made {n} allocations",
            id.name()
        );
    }
}
