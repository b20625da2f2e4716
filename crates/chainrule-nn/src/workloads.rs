//! The benchmark workloads W1–W5 of `shared/WORKLOADS.md`, built exactly as
//! fixed there so that every engine does the same arithmetic and prints the
//! same losses. A step is: forward, loss, backward (all parameter
//! gradients), plain SGD update; gradients are fresh each step.
//!
//! | id | network | loss | batch | lr |
//! |----|---------|------|-------|----|
//! | W1 | 2-2-1 sigmoid/sigmoid, the worked example's weights | MSE | 1 | 0.5 |
//! | W2 | 784-512-256-10, ReLU hidden, linear output | softmax cross-entropy | 128 | 0.01 |
//! | W3 | 64 inputs, 32 tanh layers of 64, 1 linear output | MSE | 32 | 0.01 |
//! | W4 | LeNet-5 on 1×28×28: conv 6@5×5 pad 2, ReLU, max-pool 2, conv 16@5×5, ReLU, max-pool 2, 400-120-84-10 | softmax cross-entropy | 64 | 0.01 |
//! | W5 | a sweep ([`W5Point`]): 256-h-h-10 for h = 64 … 4096 at batch 128, and W2's network at batch 1 … 1024; ReLU hidden | softmax cross-entropy | as named | 0.01 |
//!
//! W2 and W3 draw data and weights from the counter-based generator of
//! [`chainrule::rng`]: `unit(s, i)`, `sym(s, i) = 2 unit − 1`, Kaiming
//! `sym · f32(√(6 / fan_in))`, labels `u64(s, i) mod 10`; weights are
//! `[in, out]` (y = x W + b), biases zero. W4's convolution weights are
//! `[out, in, kh, kw]` (PyTorch's layout) with fan-in `in·kh·kw`.

use crate::error::{Error, Result};
use crate::loss::{self, Reduction};
use chainrule::worked::TinyNet;
use chainrule::{rng, BiasAct, Conv2dParams, Graph, ParamId, Pool2dParams, Tensor, Var};

/// Which workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadId {
    W1,
    W2,
    W3,
    W4,
}

impl WorkloadId {
    /// All four, in order.
    pub const ALL: [WorkloadId; 4] = [
        WorkloadId::W1,
        WorkloadId::W2,
        WorkloadId::W3,
        WorkloadId::W4,
    ];

    /// `"W1"` … `"W4"`.
    pub fn name(&self) -> &'static str {
        match self {
            WorkloadId::W1 => "W1",
            WorkloadId::W2 => "W2",
            WorkloadId::W3 => "W3",
            WorkloadId::W4 => "W4",
        }
    }

    /// Parses `W1`, `w2`, ….
    pub fn parse(s: &str) -> Result<WorkloadId> {
        match s.trim().to_ascii_uppercase().as_str() {
            "W1" => Ok(WorkloadId::W1),
            "W2" => Ok(WorkloadId::W2),
            "W3" => Ok(WorkloadId::W3),
            "W4" => Ok(WorkloadId::W4),
            other => Err(Error::config(
                "workload",
                format!("unknown workload '{other}' (expected W1, W2, W3, W4 or all)"),
            )),
        }
    }

    /// Floating-point operations of one training step (multiply-adds
    /// count 2): forward products, weight gradients, and input gradients of
    /// every layer but the first (W4: convolutions as the products they
    /// are, pooling and activations not counted).
    pub fn flops_per_step(&self) -> f64 {
        match self {
            WorkloadId::W1 => dense_flops(&[2, 2, 1], 1),
            WorkloadId::W2 => dense_flops(&[784, 512, 256, 10], 128),
            WorkloadId::W3 => {
                let mut sizes = vec![64; 33];
                sizes.push(1);
                dense_flops(&sizes, 32)
            }
            WorkloadId::W4 => {
                let batch = 64.0;
                // Multiply-adds per image: conv1 6·28·28·25, conv2
                // 16·10·10·150, dense 400·120 + 120·84 + 84·10.
                let conv1 = 2.0 * batch * (6 * 28 * 28 * 25) as f64;
                let conv2 = 2.0 * batch * (16 * 10 * 10 * 150) as f64;
                let dense = 2.0 * batch * (400 * 120 + 120 * 84 + 84 * 10) as f64;
                2.0 * conv1 + 3.0 * conv2 + 3.0 * dense
            }
        }
    }

    /// `(warm-up steps, timed steps)` as WORKLOADS.md fixes them.
    pub fn steps(&self) -> (usize, usize) {
        match self {
            WorkloadId::W1 => (1_000, 100_000),
            WorkloadId::W2 => (20, 200),
            WorkloadId::W3 => (20, 1_000),
            WorkloadId::W4 => (20, 200),
        }
    }
}

/// The Kaiming-uniform weight `[fan_in, fan_out]` of stream `seed`, exactly
/// as every engine builds it (the bound rounded to f32 first).
fn kaiming(fan_in: usize, fan_out: usize, seed: u64) -> Result<Tensor<f32>> {
    let bound = (6.0f64 / fan_in as f64).sqrt() as f32;
    let n = fan_in * fan_out;
    let data = (0..n as u64)
        .map(|i| rng::sym_at(seed, i) as f32 * bound)
        .collect();
    Ok(Tensor::from_vec(data, &[fan_in, fan_out])?)
}

/// A convolution weight `[out, in, k, k]` of stream `seed` with fan-in
/// `in·k·k`, the bound rounded to f32 first (as [`kaiming`]).
fn kaiming_conv(out: usize, inp: usize, k: usize, seed: u64) -> Result<Tensor<f32>> {
    let fan_in = inp * k * k;
    let bound = (6.0f64 / fan_in as f64).sqrt() as f32;
    let data = (0..(out * fan_in) as u64)
        .map(|i| rng::sym_at(seed, i) as f32 * bound)
        .collect();
    Ok(Tensor::from_vec(data, &[out, inp, k, k])?)
}

/// LeNet-5 as W4 fixes it: two convolutions (with biases) and three dense
/// layers.
struct LeNet {
    conv: [(ParamId, ParamId); 2],
    dense: Dense,
}

impl LeNet {
    fn new(g: &mut Graph<f32>) -> Result<LeNet> {
        let c1 = g.parameter(&kaiming_conv(6, 1, 5, 23)?);
        let b1 = g.parameter(&Tensor::zeros(&[6])?);
        let c2 = g.parameter(&kaiming_conv(16, 6, 5, 24)?);
        let b2 = g.parameter(&Tensor::zeros(&[16])?);
        let dense = Dense::new(g, &[400, 120, 84, 10], 25)?;
        Ok(LeNet {
            conv: [(c1, b1), (c2, b2)],
            dense,
        })
    }

    /// The logits `[64, 10]` of images `x [64, 1, 28, 28]`.
    fn forward<'g>(&self, g: &'g Graph<f32>, x: Var<'g, f32>) -> Result<Var<'g, f32>> {
        let pool = Pool2dParams {
            kernel: [2, 2],
            stride: [2, 2],
            padding: [0, 0],
        };
        let mut h = x;
        for (k, &(w, b)) in self.conv.iter().enumerate() {
            let p = Conv2dParams {
                padding: if k == 0 { [2, 2] } else { [0, 0] },
                ..Conv2dParams::default()
            };
            h = h
                .conv2d_bias(g.param(w)?, Some(g.param(b)?), p)?
                .relu()
                .max_pool2d(pool)?;
        }
        self.dense.forward(g, h.flatten()?, BiasAct::Relu)
    }
}

/// A multilayer perceptron in the workloads' layout (`y = x W + b`).
struct Dense {
    layers: Vec<(ParamId, ParamId)>,
}

impl Dense {
    fn new(g: &mut Graph<f32>, sizes: &[usize], seed0: u64) -> Result<Dense> {
        let mut layers = Vec::new();
        for (k, pair) in sizes.windows(2).enumerate() {
            let w = g.parameter(&kaiming(pair[0], pair[1], seed0 + k as u64)?);
            let b = g.parameter(&Tensor::zeros(&[pair[1]])?);
            layers.push((w, b));
        }
        Ok(Dense { layers })
    }

    /// Hidden layers with `act`, the last one linear: `act(h W + b)`, the
    /// bias and activation fused into one op.
    fn forward<'g>(
        &self,
        g: &'g Graph<f32>,
        x: Var<'g, f32>,
        act: BiasAct,
    ) -> Result<Var<'g, f32>> {
        let mut h = x;
        for (k, &(w, b)) in self.layers.iter().enumerate() {
            let last = k + 1 == self.layers.len();
            let act = if last { BiasAct::Identity } else { act };
            h = h.matmul(g.param(w)?)?.bias_act(g.param(b)?, act)?;
        }
        Ok(h)
    }
}

/// One point of W5's sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum W5Point {
    /// 256-h-h-10 at batch 128.
    Width(usize),
    /// W2's 784-512-256-10 at this batch size.
    Batch(usize),
}

impl W5Point {
    /// The sweep's eight points, width first.
    pub const ALL: [W5Point; 8] = [
        W5Point::Width(64),
        W5Point::Width(256),
        W5Point::Width(1024),
        W5Point::Width(4096),
        W5Point::Batch(1),
        W5Point::Batch(16),
        W5Point::Batch(128),
        W5Point::Batch(1024),
    ];

    /// `W5 width 1024`, `W5 batch 16`.
    pub fn name(&self) -> String {
        match self {
            W5Point::Width(h) => format!("W5 width {h}"),
            W5Point::Batch(b) => format!("W5 batch {b}"),
        }
    }

    /// The point's short id, as `bench` and the peer scripts take it:
    /// `W5h1024` (width sweep), `W5b16` (batch sweep).
    pub fn id(&self) -> String {
        match self {
            W5Point::Width(h) => format!("W5h{h}"),
            W5Point::Batch(b) => format!("W5b{b}"),
        }
    }

    /// The point named by `id` (case-insensitive), if it is one of [`Self::ALL`].
    pub fn parse(id: &str) -> Option<W5Point> {
        W5Point::ALL
            .into_iter()
            .find(|p| p.id().eq_ignore_ascii_case(id.trim()))
    }

    /// The layer sizes, input first.
    pub fn sizes(&self) -> Vec<usize> {
        match *self {
            W5Point::Width(h) => vec![256, h, h, 10],
            W5Point::Batch(_) => vec![784, 512, 256, 10],
        }
    }

    /// Rows per step.
    pub fn batch(&self) -> usize {
        match *self {
            W5Point::Width(_) => 128,
            W5Point::Batch(b) => b,
        }
    }

    /// `(warm-up steps, timed steps)`: 10 and 100, 20 timed for the two
    /// largest points.
    pub fn steps(&self) -> (usize, usize) {
        match *self {
            W5Point::Width(4096) | W5Point::Batch(1024) => (10, 20),
            _ => (10, 100),
        }
    }

    /// Multiply-adds ×2 per training step: the forward products, the
    /// weight gradients, and the input gradients of every layer but the
    /// first (`2·batch·Σ in·out` each).
    pub fn flops_per_step(&self) -> f64 {
        dense_flops(&self.sizes(), self.batch())
    }
}

/// Arithmetic of one training step of a dense network: forward, weight
/// gradients, and input gradients of every layer but the first.
pub fn dense_flops(sizes: &[usize], batch: usize) -> f64 {
    let products: Vec<f64> = sizes
        .windows(2)
        .map(|w| 2.0 * batch as f64 * w[0] as f64 * w[1] as f64)
        .collect();
    let all: f64 = products.iter().sum();
    all * 3.0 - products.first().copied().unwrap_or(0.0)
}

/// A workload ready to run: its graph, parameters and fixed batch.
pub struct Workload {
    graph: Graph<f32>,
    kind: Kind,
    lr: f64,
}

enum Kind {
    W1 {
        net: TinyNet,
        x: Tensor<f32>,
        t: Tensor<f32>,
    },
    W2 {
        net: Dense,
        x: Tensor<f32>,
        labels: Vec<usize>,
    },
    W3 {
        net: Dense,
        x: Tensor<f32>,
        y: Tensor<f32>,
    },
    W4 {
        net: LeNet,
        x: Tensor<f32>,
        labels: Vec<usize>,
    },
}

impl Workload {
    /// Builds workload `id` with its weights and data.
    pub fn new(id: WorkloadId) -> Result<Workload> {
        let lr = match id {
            WorkloadId::W1 => 0.5,
            WorkloadId::W2 | WorkloadId::W3 | WorkloadId::W4 => 0.01,
        };
        let mut graph = Graph::new();
        let kind = match id {
            WorkloadId::W1 => {
                let net = TinyNet::new(&mut graph)?;
                let (x, t) = TinyNet::example_data()?;
                Kind::W1 { net, x, t }
            }
            WorkloadId::W2 => {
                let net = Dense::new(&mut graph, &[784, 512, 256, 10], 3)?;
                let x = Tensor::from_vec(
                    (0..128 * 784).map(|i| rng::unit_at(1, i) as f32).collect(),
                    &[128, 784],
                )?;
                let labels = (0..128)
                    .map(|i| (rng::u64_at(2, i) % 10) as usize)
                    .collect();
                Kind::W2 { net, x, labels }
            }
            WorkloadId::W3 => {
                let mut sizes = vec![64; 33];
                sizes.push(1);
                let net = Dense::new(&mut graph, &sizes, 100)?;
                let x = Tensor::from_vec(
                    (0..32 * 64).map(|i| rng::sym_at(11, i) as f32).collect(),
                    &[32, 64],
                )?;
                let y = Tensor::from_vec(
                    (0..32).map(|i| rng::sym_at(12, i) as f32).collect(),
                    &[32, 1],
                )?;
                Kind::W3 { net, x, y }
            }
            WorkloadId::W4 => {
                let net = LeNet::new(&mut graph)?;
                let x = Tensor::from_vec(
                    (0..64 * 28 * 28)
                        .map(|i| rng::unit_at(21, i) as f32)
                        .collect(),
                    &[64, 1, 28, 28],
                )?;
                let labels = (0..64)
                    .map(|i| (rng::u64_at(22, i) % 10) as usize)
                    .collect();
                Kind::W4 { net, x, labels }
            }
        };
        Ok(Workload { graph, kind, lr })
    }

    /// Builds W5's point `p`: weights of stream `33 + k` for layer `k`, the
    /// inputs `unit(31, ·)` and the labels `label(32, ·)`.
    pub fn sweep(p: W5Point) -> Result<Workload> {
        let mut graph = Graph::new();
        let sizes = p.sizes();
        let (rows, d) = (p.batch(), sizes[0]);
        let net = Dense::new(&mut graph, &sizes, 33)?;
        let x = Tensor::from_vec(
            (0..(rows * d) as u64)
                .map(|i| rng::unit_at(31, i) as f32)
                .collect(),
            &[rows, d],
        )?;
        let labels = (0..rows as u64)
            .map(|i| (rng::u64_at(32, i) % 10) as usize)
            .collect();
        Ok(Workload {
            graph,
            kind: Kind::W2 { net, x, labels },
            lr: 0.01,
        })
    }

    /// One training step; returns the loss computed in its forward pass
    /// (before its update).
    pub fn step(&mut self) -> Result<f32> {
        let g = &mut self.graph;
        g.zero_grad();
        let loss = {
            let l = match &self.kind {
                Kind::W1 { net, x, t } => net.forward(g, x, t)?.loss,
                Kind::W2 { net, x, labels } => {
                    let logits = net.forward(g, g.input(x), BiasAct::Relu)?;
                    loss::cross_entropy(logits, labels, Reduction::Mean)?
                }
                Kind::W3 { net, x, y } => {
                    let out = net.forward(g, g.input(x), BiasAct::Tanh)?;
                    loss::mse(out, g.input(y), Reduction::Mean)?
                }
                Kind::W4 { net, x, labels } => {
                    loss::cross_entropy(net.forward(g, g.input(x))?, labels, Reduction::Mean)?
                }
            };
            // Backward and the plain SGD step in one pass: each weight is
            // stepped inside the product that computes its gradient.
            l.backward_sgd(self.lr)?;
            l.item()?
        };
        // Spent gradients (of the biases): dropped before `clear`, which
        // would otherwise move them out of the arena.
        g.zero_grad();
        g.clear();
        Ok(loss)
    }

    /// The loss at the current weights, without a step.
    pub fn loss(&mut self) -> Result<f32> {
        let g = &self.graph;
        let l = {
            let _off = g.no_grad();
            match &self.kind {
                Kind::W1 { net, x, t } => net.forward(g, x, t)?.loss.item()?,
                Kind::W2 { net, x, labels } => loss::cross_entropy(
                    net.forward(g, g.input(x), BiasAct::Relu)?,
                    labels,
                    Reduction::Mean,
                )?
                .item()?,
                Kind::W3 { net, x, y } => loss::mse(
                    net.forward(g, g.input(x), BiasAct::Tanh)?,
                    g.input(y),
                    Reduction::Mean,
                )?
                .item()?,
                Kind::W4 { net, x, labels } => {
                    loss::cross_entropy(net.forward(g, g.input(x))?, labels, Reduction::Mean)?
                        .item()?
                }
            }
        };
        self.graph.clear();
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_match_every_peer() {
        // WORKLOADS.md: W1 after 1 step 5.47188e-2; W2 after 1 step 2.288159;
        // W3 after 1 step about 0.63141 (PyTorch, JAX, candle, burn agree).
        let mut w1 = Workload::new(WorkloadId::W1).unwrap();
        w1.step().unwrap();
        assert!((w1.loss().unwrap() as f64 - 5.47188e-2).abs() < 1e-6);
        let mut w2 = Workload::new(WorkloadId::W2).unwrap();
        w2.step().unwrap();
        assert!(
            (w2.loss().unwrap() as f64 - 2.288159).abs() < 2e-5,
            "{}",
            w2.loss().unwrap()
        );
        let mut w3 = Workload::new(WorkloadId::W3).unwrap();
        w3.step().unwrap();
        assert!(
            (w3.loss().unwrap() as f64 - 0.63141).abs() < 1e-4,
            "{}",
            w3.loss().unwrap()
        );
    }

    #[test]
    fn sweep_first_losses_match_every_peer() {
        // WORKLOADS.md, loss before the first update (PyTorch, JAX, candle
        // and burn agree to 5e-7): width 64 / 256 / 1024: 2.818989 /
        // 2.535676 / 2.585956; batch 1 / 16 / 128: 2.549123 / 2.409282 /
        // 2.506746. (Width 4096 and batch 1024, 2.658443 and 2.442320, are
        // checked by `chainrule bench W5`: too slow for a debug test.)
        let points = [
            (W5Point::Width(64), 2.818989),
            (W5Point::Width(256), 2.535676),
            (W5Point::Width(1024), 2.585956),
            (W5Point::Batch(1), 2.549123),
            (W5Point::Batch(16), 2.409282),
            (W5Point::Batch(128), 2.506746),
        ];
        for (p, want) in points {
            let mut w = Workload::sweep(p).unwrap();
            let first = w.step().unwrap() as f64;
            assert!((first - want).abs() < 2e-6, "{}: {first}", p.name());
        }
    }

    #[test]
    fn flops_per_step_by_hand() {
        // W2: 2·128·(784·512 + 512·256 + 256·10) = 137.0 MFLOP forward, as
        // much for the weight gradients, 2·128·(512·256 + 256·10) = 34.2
        // MFLOP for the input gradients of layers 2 and 3: 308.2 MFLOP.
        let f = W5Point::Batch(128).flops_per_step();
        let forward = 2.0 * 128.0 * (784.0 * 512.0 + 512.0 * 256.0 + 256.0 * 10.0);
        let input = 2.0 * 128.0 * (512.0 * 256.0 + 256.0 * 10.0);
        assert_eq!(f, 2.0 * forward + input);
        assert!((f / 1e6 - 308.2).abs() < 0.1, "{f}");
    }

    #[test]
    fn lenet_arithmetic_by_hand() {
        // conv1 2·64·6·28·28·25 = 15.05 M (forward and weight gradient),
        // conv2 2·64·16·100·150 = 30.72 M (and its weight and input
        // gradients), dense 2·64·58,920 = 7.54 M (three times): 144.9 M.
        let f = WorkloadId::W4.flops_per_step();
        assert!((f / 1e6 - 144.9).abs() < 0.05, "{f}");
    }

    #[test]
    fn lenet_losses_match_every_peer() {
        // WORKLOADS.md: W4 loss before the first update 2.575835, after 1
        // step 2.417293 (PyTorch, JAX, candle and burn agree to 5e-7).
        let mut w4 = Workload::new(WorkloadId::W4).unwrap();
        let before = w4.step().unwrap() as f64;
        let after = w4.loss().unwrap() as f64;
        assert!((before - 2.575835).abs() < 2e-6, "{before}");
        assert!((after - 2.417293).abs() < 2e-6, "{after}");
    }
}
