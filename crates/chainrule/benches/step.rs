//! Criterion benchmarks of the hot paths. `W1 step`: one full training step
//! of workload W1 (forward, MSE loss, backward, SGD update, graph cleared),
//! in f32 as `shared/WORKLOADS.md` fixes it.

use chainrule::worked::{train_step, TinyNet};
use chainrule::Graph;
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

fn w1_step(c: &mut Criterion) {
    let mut g = Graph::<f32>::new();
    let net = TinyNet::new(&mut g).expect("worked-example weights");
    let (x, t) = TinyNet::example_data::<f32>().expect("worked-example data");
    for _ in 0..1000 {
        train_step(&mut g, &net, &x, &t, 0.5).expect("warm-up step");
    }
    c.bench_function("W1 step (f32)", |b| {
        b.iter(|| black_box(train_step(&mut g, &net, &x, &t, 0.5).expect("step")))
    });
}

criterion_group!(benches, w1_step);
criterion_main!(benches);
