//! Criterion benchmarks of the hot operations at the shapes of workloads
//! W2 and W3 (shared/WORKLOADS.md): matrix products forward and backward
//! (with transpose flags, as the backward rules call them), elementwise
//! activations, and the fused bias + activation against the unfused chain.

use chainrule::kernels::matmul::{matmul, MatMulDims};
use chainrule::{BiasAct, Graph, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

fn product(c: &mut Criterion) {
    let mut group = c.benchmark_group("matmul");
    // (name, m, k, n, transpose A, transpose B): C = op(A)·op(B).
    let cases = [
        ("W2 layer 1 forward x·W", 128, 784, 512, false, false),
        ("W2 layer 1 weight grad xᵀ·G", 784, 128, 512, true, false),
        ("W2 layer 2 input grad G·Wᵀ", 128, 256, 512, false, true),
        ("W3 layer forward x·W", 32, 64, 64, false, false),
        ("W3 layer weight grad xᵀ·G", 64, 32, 64, true, false),
        ("W3 layer input grad G·Wᵀ", 32, 64, 64, false, true),
    ];
    for (name, m, k, n, ta, tb) in cases {
        let a = Tensor::<f32>::uniform(&[m * k], -1.0, 1.0, 1)
            .unwrap()
            .into_vec();
        let b = Tensor::<f32>::uniform(&[k * n], -1.0, 1.0, 2)
            .unwrap()
            .into_vec();
        let mut out = vec![0.0f32; m * n];
        let dims = MatMulDims::single(m, k, n, ta, tb);
        group.throughput(Throughput::Elements((2 * m * k * n) as u64));
        group.bench_function(BenchmarkId::from_parameter(name), |bench| {
            bench.iter(|| matmul(black_box(&a), black_box(&b), &mut out, dims))
        });
    }
    group.finish();
}

fn elementwise(c: &mut Criterion) {
    let mut group = c.benchmark_group("elementwise");
    for (name, dims) in [
        ("tanh 32×64 (W3)", [32usize, 64]),
        ("relu 128×512 (W2)", [128, 512]),
    ] {
        let t = Tensor::<f32>::uniform(&dims, -3.0, 3.0, 3).unwrap();
        let mut g = Graph::<f32>::new();
        group.throughput(Throughput::Elements((dims[0] * dims[1]) as u64));
        group.bench_function(BenchmarkId::from_parameter(name), |bench| {
            bench.iter(|| {
                {
                    let x = g.input(&t);
                    black_box(if name.starts_with("tanh") {
                        x.tanh()
                    } else {
                        x.relu()
                    });
                }
                g.clear();
            })
        });
    }
    group.finish();
}

/// A dense layer's end, `act(z + b)`: the fused op against the unfused
/// chain (bias broadcast, add, activation) it replaces.
fn bias_activation(c: &mut Criterion) {
    let mut group = c.benchmark_group("bias_activation");
    for (name, rows, cols, act) in [
        ("relu 128×512 (W2)", 128usize, 512usize, BiasAct::Relu),
        ("tanh 32×64 (W3)", 32, 64, BiasAct::Tanh),
    ] {
        let z = Tensor::<f32>::uniform(&[rows, cols], -3.0, 3.0, 4).unwrap();
        let b = Tensor::<f32>::uniform(&[cols], -1.0, 1.0, 5).unwrap();
        let mut g = Graph::<f32>::new();
        group.throughput(Throughput::Elements((rows * cols) as u64));
        for fused in [true, false] {
            let id = format!("{name} {}", if fused { "fused" } else { "unfused" });
            group.bench_function(BenchmarkId::from_parameter(id), |bench| {
                bench.iter(|| {
                    {
                        let (z, b) = (g.input(&z), g.input(&b));
                        black_box(if fused {
                            z.bias_act(b, act).unwrap()
                        } else {
                            let s = z.add(b).unwrap();
                            match act {
                                BiasAct::Relu => s.relu(),
                                _ => s.tanh(),
                            }
                        });
                    }
                    g.clear();
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, product, elementwise, bias_activation);
criterion_main!(benches);
