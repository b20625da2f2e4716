//! After warm-up, a training step allocates nothing: the tape, the value
//! arena and the gradient slots are reused. A counting global allocator
//! proves it. Only allocations made by the test's own thread are counted
//! (the test harness's threads may allocate at any time).

use chainrule::worked::{train_step, TinyNet};
use chainrule::Graph;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread's allocations are being counted.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTING.with(|c| c.get()) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
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

#[test]
fn a_warm_training_step_allocates_nothing() {
    let mut g = Graph::<f32>::new();
    let net = TinyNet::new(&mut g).unwrap();
    let (x, t) = TinyNet::example_data::<f32>().unwrap();
    for _ in 0..10 {
        train_step(&mut g, &net, &x, &t, 0.5).unwrap();
    }
    COUNTING.with(|c| c.set(true));
    for _ in 0..1_000 {
        train_step(&mut g, &net, &x, &t, 0.5).unwrap();
    }
    COUNTING.with(|c| c.set(false));
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(
        allocations, 0,
        "1,000 warm steps made {allocations} allocations"
    );
}
