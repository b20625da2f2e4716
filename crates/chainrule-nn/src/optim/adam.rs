//! Adam and AdamW, as PyTorch's `torch.optim.Adam` / `AdamW`:
//!
//! ```text
//! Adam:   g = g + λθ                  (L2 weight decay in the gradient)
//! AdamW:  θ = θ (1 − lr λ)            (decoupled weight decay)
//! m = β₁m + (1 − β₁)g,   v = β₂v + (1 − β₂)g²
//! m̂ = m / (1 − β₁ᵗ),     v̂ = v / (1 − β₂ᵗ)
//! θ = θ − lr · m̂ / (√v̂ + ε)
//! ```

use super::{Optimizer, OptimizerState, Slots};
use chainrule::{Float, Graph};

/// Adam (or AdamW with `decoupled` weight decay).
#[derive(Clone, Debug)]
pub struct Adam<F: Float> {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// AdamW: decay the weights directly instead of adding λθ to the gradient.
    pub decoupled: bool,
    /// Steps taken so far (t).
    pub steps: u64,
    m: Slots<F>,
    v: Slots<F>,
}

impl<F: Float> Adam<F> {
    /// Adam with PyTorch's defaults: β = (0.9, 0.999), ε = 1e-8, no decay.
    pub fn new(lr: f64) -> Self {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            steps: 0,
            m: Slots::default(),
            v: Slots::default(),
        }
    }

    /// AdamW with decoupled weight decay `λ` (PyTorch's default λ is 0.01).
    pub fn adamw(lr: f64, weight_decay: f64) -> Self {
        Adam {
            weight_decay,
            decoupled: true,
            ..Self::new(lr)
        }
    }

    /// With L2 weight decay (Adam) `λ`.
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// The first and second moment buffers (for checkpoints).
    pub fn moments(&self) -> (&[Vec<F>], &[Vec<F>]) {
        (self.m.all(), self.v.all())
    }
}

impl<F: Float> Optimizer<F> for Adam<F> {
    fn step(&mut self, g: &mut Graph<F>) {
        self.steps += 1;
        let t = self.steps as i32;
        let (b1, b2) = (self.beta1, self.beta2);
        let bias1 = 1.0 - b1.powi(t);
        let bias2 = 1.0 - b2.powi(t);
        let lr = F::from_f64(self.lr);
        let step_size = F::from_f64(self.lr / bias1);
        let inv_sqrt_bias2 = F::from_f64(1.0 / bias2.sqrt());
        let (fb1, fb2, eps, wd) = (
            F::from_f64(b1),
            F::from_f64(b2),
            F::from_f64(self.eps),
            F::from_f64(self.weight_decay),
        );
        let (one_b1, one_b2) = (F::from_f64(1.0 - b1), F::from_f64(1.0 - b2));
        let decoupled = self.decoupled;
        let (ms, vs) = (&mut self.m, &mut self.v);
        g.update_params(|p, theta, grad| {
            let i = p.index();
            let m = ms.get(i, theta.len());
            let v = vs.get(i, theta.len());
            for (((th, &d), m), v) in theta
                .iter_mut()
                .zip(grad)
                .zip(m.iter_mut())
                .zip(v.iter_mut())
            {
                let d = if decoupled {
                    *th *= F::one() - lr * wd;
                    d
                } else {
                    d + wd * *th
                };
                *m = fb1 * *m + one_b1 * d;
                *v = fb2 * *v + one_b2 * d * d;
                *th -= step_size * *m / (v.sqrt() * inv_sqrt_bias2 + eps);
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
            kind: "adam".into(),
            steps: self.steps,
            buffers: vec![
                ("m".into(), self.m.all().to_vec()),
                ("v".into(), self.v.all().to_vec()),
            ],
        }
    }

    fn import_state(&mut self, state: &OptimizerState<F>) -> crate::Result<()> {
        state.expect("adam", &["m", "v"])?;
        let (m, v) = (state.buffer("m")?, state.buffer("v")?);
        let lens = |b: &[Vec<F>]| b.iter().map(Vec::len).collect::<Vec<_>>();
        if lens(m) != lens(v) {
            return Err(crate::Error::config(
                "optimizer state",
                "the adam moments m and v differ in their sizes",
            ));
        }
        self.steps = state.steps;
        self.m = Slots::from_vecs(m.to_vec());
        self.v = Slots::from_vecs(v.to_vec());
        Ok(())
    }
}
