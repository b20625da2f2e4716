//! candle (CPU) on the workloads W1-W4 of shared/WORKLOADS.md.
//!
//! Usage: candle_bench W1|W2|W3|W4|W5h64|...|W5b1024 [--threads 2] [--steps N]
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

/// 2x2 max-pool, stride 2, on NCHW (H and W even).
///
/// Not `Tensor::max_pool2d`: in candle 0.11 its backward scales the gradient
/// wrongly. It multiplies the upsampled gradient by the window's
/// `avg_pool2d(mask)`, the fraction of maxima in the window (1/4 for a single
/// maximum), where dividing by the number of maxima was meant, so a 2x2
/// window passes on a quarter of the gradient (W4's loss after 1 step came
/// out 2.449046 instead of 2.417293). Two max reductions over a reshaped view
/// compute the same forward, and `max`'s backward routes the gradient to the
/// maximum unscaled.
fn max_pool2(h: &Tensor) -> Result<Tensor> {
    let (n, c, hh, ww) = h.dims4()?;
    h.reshape((n, c, hh / 2, 2, ww / 2, 2))?.max(5)?.max(3)
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
        w if w == "W2" || w.starts_with("W5") => {
            // W2 and the W5 points: the same three-layer ReLU classifier.
            let d = peers::classifier_workload(w).expect("a W2 or W5 workload name");
            let vars = dense_vars(&d.layers, &dev)?;
            let x = Tensor::from_vec(d.x, (d.batch, d.inputs), &dev)?;
            let labels = Tensor::from_vec(d.labels, d.batch, &dev)?;
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
        "W4" => {
            let d = peers::w4();
            let mut vars = Vec::new();
            for c in &d.convs {
                vars.push(Var::from_slice(&c.w, (c.out, c.inp, c.k, c.k), &dev)?);
                vars.push(Var::from_slice(&c.b, c.out, &dev)?);
            }
            vars.extend(dense_vars(&d.layers, &dev)?);
            let side = peers::W4_SIDE;
            let x = Tensor::from_vec(d.x, (peers::W4_BATCH, 1, side, side), &dev)?;
            let labels = Tensor::from_vec(d.labels, peers::W4_BATCH, &dev)?;
            let forward: Forward = Box::new(move |p| {
                // conv (NCHW, weight [out, in, 5, 5]) + bias per channel, ReLU, 2x2 max-pool.
                let conv = |h: &Tensor, w: &Tensor, b: &Tensor, pad| {
                    h.conv2d(w, pad, 1, 1, 1)?
                        .broadcast_add(&b.reshape((1, (), 1, 1))?)
                };
                let h = max_pool2(&conv(&x, &p[0], &p[1], 2)?.relu()?)?;
                let h = max_pool2(&conv(&h, &p[2], &p[3], 0)?.relu()?)?;
                let mut h = h.flatten_from(1)?; // (channel, row, column), as torch.flatten(x, 1)
                for k in 0..3 {
                    h = h.matmul(&p[4 + 2 * k])?.broadcast_add(&p[5 + 2 * k])?;
                    if k < 2 {
                        h = h.relu()?;
                    }
                }
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
