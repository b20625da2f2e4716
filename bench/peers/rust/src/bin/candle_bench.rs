//! candle (CPU) on the workloads W1-W3 of shared/WORKLOADS.md.
//!
//! Usage: candle_bench W1|W2|W3 [--threads 2] [--steps N]
//! A step: forward, loss, `loss.backward()` (a fresh GradStore), and
//! candle-nn's plain SGD (`var <- var - lr * grad`), as a candle user would
//! write it. Prints one JSON line like the Python peers.

use candle_core::{Device, Result, Tensor, Var};
use candle_nn::optim::{Optimizer, SGD};
use chainrule_peers::{self as peers, Bench};

type Forward = Box<dyn Fn(&[Tensor]) -> Result<Tensor>>;

struct CandleBench {
    vars: Vec<Var>,
    sgd: SGD,
    forward: Forward,
}

impl CandleBench {
    fn new(vars: Vec<Var>, lr: f64, forward: Forward) -> Result<Self> {
        let sgd = SGD::new(vars.clone(), lr)?;
        Ok(Self { vars, sgd, forward })
    }

    fn try_step(&mut self) -> Result<f32> {
        let params: Vec<Tensor> = self.vars.iter().map(|v| v.as_tensor().clone()).collect();
        let loss = (self.forward)(&params)?;
        self.sgd.backward_step(&loss)?;
        loss.to_scalar::<f32>()
    }

    fn try_loss(&mut self) -> Result<f32> {
        let params: Vec<Tensor> = self.vars.iter().map(|v| v.as_detached_tensor()).collect();
        (self.forward)(&params)?.to_scalar::<f32>()
    }
}

impl Bench for CandleBench {
    fn step(&mut self) -> f32 {
        self.try_step().expect("candle step")
    }
    fn loss(&mut self) -> f32 {
        self.try_loss().expect("candle loss")
    }
}

fn dense_vars(layers: &[peers::Layer], dev: &Device) -> Result<Vec<Var>> {
    let mut vars = Vec::new();
    for l in layers {
        vars.push(Var::from_slice(&l.w, (l.fan_in, l.fan_out), dev)?);
        vars.push(Var::from_slice(&l.b, l.fan_out, dev)?);
    }
    Ok(vars)
}

fn build(workload: &str) -> Result<CandleBench> {
    let dev = Device::Cpu;
    match workload {
        "W1" => {
            let d = &peers::W1;
            let vars = vec![
                Var::from_slice(&d.w1, (2, 2), &dev)?,
                Var::from_slice(&d.b1, 2, &dev)?,
                Var::from_slice(&d.w2, (1, 2), &dev)?,
                Var::from_slice(&d.b2, 1, &dev)?,
            ];
            let x = Tensor::from_slice(&d.x, (1, 2), &dev)?;
            let t = Tensor::from_slice(&d.t, (1, 1), &dev)?;
            let forward: Forward = Box::new(move |p| {
                let h = candle_nn::ops::sigmoid(&x.matmul(&p[0].t()?)?.broadcast_add(&p[1])?)?;
                let y = candle_nn::ops::sigmoid(&h.matmul(&p[2].t()?)?.broadcast_add(&p[3])?)?;
                candle_nn::loss::mse(&y, &t)
            });
            CandleBench::new(vars, 0.5, forward)
        }
        "W2" => {
            let d = peers::w2();
            let vars = dense_vars(&d.layers, &dev)?;
            let x = Tensor::from_vec(d.x, (peers::W2_BATCH, peers::W2_IN), &dev)?;
            let labels = Tensor::from_vec(d.labels, peers::W2_BATCH, &dev)?;
            let forward: Forward = Box::new(move |p| {
                let mut h = x.clone();
                for k in 0..3 {
                    h = h.matmul(&p[2 * k])?.broadcast_add(&p[2 * k + 1])?;
                    if k < 2 {
                        h = h.relu()?;
                    }
                }
                // log-softmax over the classes, then the mean negative log-likelihood.
                candle_nn::loss::cross_entropy(&h, &labels)
            });
            CandleBench::new(vars, 0.01, forward)
        }
        _ => {
            let d = peers::w3();
            let vars = dense_vars(&d.layers, &dev)?;
            let x = Tensor::from_vec(d.x, (peers::W3_BATCH, peers::W3_IN), &dev)?;
            let y = Tensor::from_vec(d.y, (peers::W3_BATCH, 1), &dev)?;
            let n = d.layers.len();
            let forward: Forward = Box::new(move |p| {
                let mut h = x.clone();
                for k in 0..n {
                    h = h.matmul(&p[2 * k])?.broadcast_add(&p[2 * k + 1])?;
                    if k + 1 < n {
                        h = h.tanh()?;
                    }
                }
                candle_nn::loss::mse(&h, &y)
            });
            CandleBench::new(vars, 0.01, forward)
        }
    }
}

fn main() {
    let args = peers::parse_args("candle_bench");
    peers::set_threads(args.threads);
    let mut bench = build(&args.workload).expect("candle: building the workload");
    peers::run("candle", env!("CANDLE_VERSION"), &args, &mut bench);
}
