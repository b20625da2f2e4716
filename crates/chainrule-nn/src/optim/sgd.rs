//! Stochastic gradient descent, as PyTorch's `torch.optim.SGD` (dampening 0):
//!
//! ```text
//! d = g + λθ                          (weight decay λ)
//! v = d  (first step),  v = μv + d    (momentum μ)
//! d = d + μv (Nesterov)  or  d = v
//! θ = θ − lr · d
//! ```

use super::{Optimizer, OptimizerState, Slots};
use chainrule::{Float, Graph};

/// SGD with optional momentum, Nesterov momentum and weight decay.
#[derive(Clone, Debug)]
pub struct Sgd<F: Float> {
    pub lr: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    velocity: Slots<F>,
    started: Vec<bool>,
}

impl<F: Float> Sgd<F> {
    /// Plain gradient descent with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        Sgd {
            lr,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            velocity: Slots::default(),
            started: Vec::new(),
        }
    }

    /// With momentum `μ`.
    pub fn with_momentum(mut self, momentum: f64, nesterov: bool) -> Self {
        self.momentum = momentum;
        self.nesterov = nesterov;
        self
    }

    /// With L2 weight decay `λ` added to the gradient.
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// The momentum buffers (for checkpoints).
    pub fn velocity(&self) -> &[Vec<F>] {
        self.velocity.all()
    }
}

impl<F: Float> Optimizer<F> for Sgd<F> {
    fn plain_descent_lr(&self) -> Option<f64> {
        (self.momentum == 0.0 && self.weight_decay == 0.0).then_some(self.lr)
    }

    fn step(&mut self, g: &mut Graph<F>) {
        let (lr, mu, wd) = (
            F::from_f64(self.lr),
            F::from_f64(self.momentum),
            F::from_f64(self.weight_decay),
        );
        let (use_momentum, nesterov) = (self.momentum != 0.0, self.nesterov);
        let (velocity, started) = (&mut self.velocity, &mut self.started);
        g.update_params(|p, theta, grad| {
            let i = p.index();
            if !use_momentum {
                for (t, &d) in theta.iter_mut().zip(grad) {
                    *t -= lr * (d + wd * *t);
                }
                return;
            }
            if started.len() <= i {
                started.resize(i + 1, false);
            }
            let v = velocity.get(i, theta.len());
            let first = !std::mem::replace(&mut started[i], true);
            for ((t, &d), v) in theta.iter_mut().zip(grad).zip(v.iter_mut()) {
                let d = d + wd * *t;
                *v = if first { d } else { mu * *v + d };
                let step = if nesterov { d + mu * *v } else { *v };
                *t -= lr * step;
            }
        });
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    fn export_state(&self) -> OptimizerState<F> {
        OptimizerState {
            kind: "sgd".into(),
            steps: 0,
            buffers: vec![("velocity".into(), self.velocity.all().to_vec())],
        }
    }

    /// A parameter counts as started (its next step updates the buffer
    /// rather than starting it) exactly when its buffer is not empty.
    fn import_state(&mut self, state: &OptimizerState<F>) -> crate::Result<()> {
        state.expect("sgd", &["velocity"])?;
        let velocity = state.buffer("velocity")?.to_vec();
        self.started = velocity.iter().map(|v| !v.is_empty()).collect();
        self.velocity = Slots::from_vecs(velocity);
        Ok(())
    }
}
