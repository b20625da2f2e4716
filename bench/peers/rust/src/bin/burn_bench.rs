//! burn (ndarray backend + autodiff, CPU) on the workloads W1-W4 of
//! shared/WORKLOADS.md.
//!
//! Usage: burn_bench W1|W2|W3|W4|W5h64|...|W5b1024 [--threads 2] [--steps N]
//! A step: forward, loss, `loss.backward()` (fresh Gradients), and a plain
//! SGD update of every parameter (`p <- p - lr * grad`, on the inner
//! backend, then re-marked as a gradient-requiring leaf). Prints one JSON
//! line like the Python peers.

use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{activation, Device, Int, Tensor, TensorData};
use chainrule_peers::{self as peers, Bench};

/// The parameters of a network in the workloads' layout: per dense layer
/// weight `[in, out]` and bias `[out]` (y = x W + b); per convolution (W4
/// only) weight `[out, in, kh, kw]` and bias `[out]`.
struct Params {
    w: Vec<Tensor<2>>,
    b: Vec<Tensor<1>>,
    cw: Vec<Tensor<4>>,
    cb: Vec<Tensor<1>>,
}

impl Params {
    fn new(layers: &[peers::Layer], device: &Device) -> Self {
        Params {
            w: layers
                .iter()
                .map(|l| {
                    leaf(Tensor::from_data(
                        TensorData::new(l.w.clone(), [l.fan_in, l.fan_out]),
                        device,
                    ))
                })
                .collect(),
            b: layers
                .iter()
                .map(|l| {
                    leaf(Tensor::from_data(
                        TensorData::new(l.b.clone(), [l.fan_out]),
                        device,
                    ))
                })
                .collect(),
            cw: Vec::new(),
            cb: Vec::new(),
        }
    }

    /// Adds the convolutions (W4).
    fn with_convs(mut self, convs: &[peers::ConvLayer], device: &Device) -> Self {
        for c in convs {
            self.cw.push(leaf(Tensor::from_data(
                TensorData::new(c.w.clone(), [c.out, c.inp, c.k, c.k]),
                device,
            )));
            self.cb.push(leaf(Tensor::from_data(
                TensorData::new(c.b.clone(), [c.out]),
                device,
            )));
        }
        self
    }

    /// Without autodiff, for evaluating the loss only.
    fn inner(&self) -> Params {
        Params {
            w: self.w.iter().map(|t| t.clone().inner()).collect(),
            b: self.b.iter().map(|t| t.clone().inner()).collect(),
            cw: self.cw.iter().map(|t| t.clone().inner()).collect(),
            cb: self.cb.iter().map(|t| t.clone().inner()).collect(),
        }
    }

    /// Plain SGD on every parameter from freshly computed gradients.
    fn sgd(&mut self, loss: &Tensor<1>, lr: f32) {
        let grads = loss.backward();
        for p in self.w.iter_mut() {
            let g = p.grad(&grads).expect("weight gradient");
            *p = leaf(p.clone().inner() - g.mul_scalar(lr));
        }
        for p in self.b.iter_mut().chain(self.cb.iter_mut()) {
            let g = p.grad(&grads).expect("bias gradient");
            *p = leaf(p.clone().inner() - g.mul_scalar(lr));
        }
        for p in self.cw.iter_mut() {
            let g = p.grad(&grads).expect("convolution weight gradient");
            *p = leaf(p.clone().inner() - g.mul_scalar(lr));
        }
    }
}

/// A gradient-requiring autodiff leaf.
fn leaf<const D: usize>(t: Tensor<D>) -> Tensor<D> {
    t.autodiff().require_grad()
}

/// `x W + b` (b broadcast over the rows).
fn dense(x: Tensor<2>, w: &Tensor<2>, b: &Tensor<1>) -> Tensor<2> {
    x.matmul(w.clone()) + b.clone().unsqueeze::<2>()
}

enum Net {
    /// W1: weights `[out, in]`, y = sigmoid(x W^T + b).
    W1 {
        x: Tensor<2>,
        t: Tensor<2>,
    },
    W2 {
        x: Tensor<2>,
        labels: Tensor<2, Int>,
    },
    W3 {
        x: Tensor<2>,
        y: Tensor<2>,
    },
    /// W4 (LeNet-5): x `[64, 1, 28, 28]` NCHW.
    W4 {
        x: Tensor<4>,
        labels: Tensor<2, Int>,
    },
}

struct BurnBench {
    net: Net,
    params: Params,
    lr: f32,
}

impl BurnBench {
    fn forward(&self, p: &Params) -> Tensor<1> {
        match &self.net {
            Net::W1 { x, t } => {
                let h = activation::sigmoid(
                    x.clone().matmul(p.w[0].clone().transpose()) + p.b[0].clone().unsqueeze::<2>(),
                );
                let y = activation::sigmoid(
                    h.matmul(p.w[1].clone().transpose()) + p.b[1].clone().unsqueeze::<2>(),
                );
                (y - t.clone()).square().mean()
            }
            Net::W2 { x, labels } => {
                let mut h = x.clone();
                for k in 0..3 {
                    h = dense(h, &p.w[k], &p.b[k]);
                    if k < 2 {
                        h = activation::relu(h);
                    }
                }
                // Fused-style cross-entropy: log-softmax, pick the label's entry, mean, negate.
                activation::log_softmax(h, 1)
                    .gather(1, labels.clone())
                    .mean()
                    .neg()
            }
            Net::W4 { x, labels } => {
                // conv (stride 1, padding 2 then 0) with bias, ReLU, 2x2 max-pool stride 2.
                let pool = |h| max_pool2d(h, MaxPoolOptions::new([2, 2]));
                let conv = |h, k: usize, pad| {
                    conv2d(
                        h,
                        p.cw[k].clone(),
                        Some(p.cb[k].clone()),
                        ConvOptions::new([1, 1], [pad, pad], [1, 1], 1),
                    )
                };
                let h = pool(activation::relu(conv(x.clone(), 0, 2)));
                let h = pool(activation::relu(conv(h, 1, 0)));
                // Flatten over (channel, row, column), as torch.flatten(x, 1).
                let mut h: Tensor<2> = h.flatten(1, 3);
                for k in 0..3 {
                    h = dense(h, &p.w[k], &p.b[k]);
                    if k < 2 {
                        h = activation::relu(h);
                    }
                }
                activation::log_softmax(h, 1)
                    .gather(1, labels.clone())
                    .mean()
                    .neg()
            }
            Net::W3 { x, y } => {
                let n = p.w.len();
                let mut h = x.clone();
                for k in 0..n {
                    h = dense(h, &p.w[k], &p.b[k]);
                    if k + 1 < n {
                        h = activation::tanh(h);
                    }
                }
                (h - y.clone()).square().mean()
            }
        }
    }
}

impl Bench for BurnBench {
    fn step(&mut self) -> f32 {
        let loss = self.forward(&self.params);
        self.params.sgd(&loss, self.lr);
        loss.inner().into_scalar::<f32>()
    }

    fn loss(&mut self) -> f32 {
        let p = self.params.inner();
        self.forward(&p).into_scalar::<f32>()
    }
}

#[allow(deprecated)] // burn 0.22 marks ndarray deprecated in favour of flex; the brief fixes ndarray.
fn device() -> Device {
    Device::ndarray().autodiff()
}

fn build(workload: &str) -> BurnBench {
    let dev = device();
    let f2 =
        |v: Vec<f32>, r: usize, c: usize| Tensor::<2>::from_data(TensorData::new(v, [r, c]), &dev);
    match workload {
        "W1" => {
            let d = &peers::W1;
            let params = Params {
                w: vec![leaf(f2(d.w1.to_vec(), 2, 2)), leaf(f2(d.w2.to_vec(), 1, 2))],
                b: vec![
                    leaf(Tensor::from_data(TensorData::new(d.b1.to_vec(), [2]), &dev)),
                    leaf(Tensor::from_data(TensorData::new(d.b2.to_vec(), [1]), &dev)),
                ],
                cw: Vec::new(),
                cb: Vec::new(),
            };
            let net = Net::W1 {
                x: f2(d.x.to_vec(), 1, 2),
                t: f2(d.t.to_vec(), 1, 1),
            };
            BurnBench {
                net,
                params,
                lr: 0.5,
            }
        }
        w if w == "W2" || w.starts_with("W5") => {
            // W2 and the W5 points: the same three-layer ReLU classifier.
            let d = peers::classifier_workload(w).expect("a W2 or W5 workload name");
            let labels: Vec<i64> = d.labels.iter().map(|&l| l as i64).collect();
            let net = Net::W2 {
                x: f2(d.x, d.batch, d.inputs),
                labels: Tensor::from_data(TensorData::new(labels, [d.batch, 1]), &dev),
            };
            BurnBench {
                net,
                params: Params::new(&d.layers, &dev),
                lr: 0.01,
            }
        }
        "W4" => {
            let d = peers::w4();
            let labels: Vec<i64> = d.labels.iter().map(|&l| l as i64).collect();
            let side = peers::W4_SIDE;
            let net = Net::W4 {
                x: Tensor::from_data(TensorData::new(d.x, [peers::W4_BATCH, 1, side, side]), &dev),
                labels: Tensor::from_data(TensorData::new(labels, [peers::W4_BATCH, 1]), &dev),
            };
            BurnBench {
                net,
                params: Params::new(&d.layers, &dev).with_convs(&d.convs, &dev),
                lr: 0.01,
            }
        }
        _ => {
            let d = peers::w3();
            let net = Net::W3 {
                x: f2(d.x, peers::W3_BATCH, peers::W3_IN),
                y: f2(d.y, peers::W3_BATCH, 1),
            };
            BurnBench {
                net,
                params: Params::new(&d.layers, &dev),
                lr: 0.01,
            }
        }
    }
}

fn main() {
    let args = peers::parse_args("burn_bench");
    peers::set_threads(args.threads);
    let mut bench = build(&args.workload);
    peers::run("burn", env!("BURN_VERSION"), &args, &mut bench);
}
