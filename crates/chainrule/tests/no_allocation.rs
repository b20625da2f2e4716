//! After warm-up, a training step allocates nothing: the tape, the value
//! arena and the gradient slots are reused. A counting global allocator
//! proves it. Only allocations made by the test's own thread are counted
//! (the test harness's threads may allocate at any time).

use chainrule::worked::{train_step, TinyNet};
use chainrule::{Graph, Tensor};
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

/// A warm step of a small convolutional network allocates nothing either:
/// conv2d (im2col scratch reused), batch norm with its statistics read
/// into the caller's buffers, max and average pooling, layer norm,
/// dropout and global average pooling, forward and backward.
///
/// The products here are small (the plain loop); the packed GEMM's warm
/// steps are checked on W2–W4 in chainrule-nn's `tests/no_allocation.rs`.
#[test]
fn a_warm_conv_pool_norm_step_allocates_nothing() {
    use chainrule::{Conv2dParams, Pool2dParams};
    let mut g = Graph::<f32>::new();
    let w1 = g.parameter(&Tensor::uniform(&[8, 3, 3, 3], -0.3, 0.3, 1).unwrap());
    let w2 = g.parameter(&Tensor::uniform(&[8, 4, 3, 3], -0.3, 0.3, 2).unwrap());
    let gamma = g.parameter(&Tensor::ones(&[8]).unwrap());
    let beta = g.parameter(&Tensor::zeros(&[8]).unwrap());
    let x = Tensor::<f32>::uniform(&[4, 3, 4, 4], -1.0, 1.0, 3).unwrap();
    let (mut mean, mut var) = (vec![0.0f32; 8], vec![0.0f32; 8]);
    let mut step = |g: &mut Graph<f32>, key: u64| {
        g.zero_grad();
        {
            let input = g.input_from(x.dims(), x.data()).unwrap();
            let same = Conv2dParams {
                padding: [1, 1],
                ..Conv2dParams::default()
            };
            let grouped = Conv2dParams {
                stride: [2, 2],
                padding: [1, 1],
                groups: 2,
                ..Conv2dParams::default()
            };
            let h = input.conv2d(g.param(w1).unwrap(), same).unwrap();
            let bn = h
                .batch_norm_train(
                    Some(g.param(gamma).unwrap()),
                    Some(g.param(beta).unwrap()),
                    1e-5,
                )
                .unwrap();
            bn.mean.read_into(&mut mean).unwrap();
            bn.var.read_into(&mut var).unwrap();
            let pool = Pool2dParams {
                kernel: [3, 3],
                stride: [2, 2],
                padding: [1, 1],
            };
            let h = bn.output.relu().max_pool2d(pool).unwrap();
            let h = h.conv2d(g.param(w2).unwrap(), grouped).unwrap();
            let avg = Pool2dParams {
                kernel: [2, 2],
                stride: [1, 1],
                padding: [1, 1],
            };
            let h = h
                .avg_pool2d(avg)
                .unwrap()
                .layer_norm(2, None, None, 1e-5)
                .unwrap();
            let h = h.dropout(0.25, key).unwrap().global_avg_pool2d().unwrap();
            h.square().mean().backward().unwrap();
        }
        g.clear();
    };
    for k in 0..5 {
        step(&mut g, k);
    }
    COUNTING.with(|c| c.set(true));
    for k in 0..50 {
        step(&mut g, 100 + k);
    }
    COUNTING.with(|c| c.set(false));
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(
        allocations, 0,
        "50 warm steps made {allocations} allocations"
    );
}

/// A warm step whose backward pass reports each parameter's gradient as it
/// becomes final (`backward_notify`, what data-parallel overlap uses)
/// allocates nothing either: the schedule keeps its capacity on the tape.
#[test]
fn a_warm_step_with_a_gradient_ready_hook_allocates_nothing() {
    let mut g = Graph::<f32>::new();
    let net = TinyNet::new(&mut g).unwrap();
    let (x, t) = TinyNet::example_data::<f32>().unwrap();
    let mut reported = 0usize;
    let mut total = 0.0f32;
    let step = |g: &mut Graph<f32>, reported: &mut usize, total: &mut f32| {
        g.zero_grad();
        {
            let trace = net.forward(g, &x, &t).unwrap();
            trace
                .loss
                .backward_notify(&mut |_, grad| {
                    *reported += 1;
                    *total += grad.iter().sum::<f32>();
                })
                .unwrap();
        }
        g.zero_grad();
        g.clear();
    };
    for _ in 0..10 {
        step(&mut g, &mut reported, &mut total);
    }
    let warm_up = reported;
    assert!(
        warm_up >= 10,
        "the hook was called {warm_up} times in 10 steps"
    );
    COUNTING.with(|c| c.set(true));
    for _ in 0..1_000 {
        step(&mut g, &mut reported, &mut total);
    }
    COUNTING.with(|c| c.set(false));
    assert_eq!(reported, warm_up / 10 * 1_010);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(
        allocations, 0,
        "1,000 warm steps with a hook made {allocations} allocations"
    );
}
