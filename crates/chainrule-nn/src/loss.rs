//! Loss functions, each with its gradient stated, built from the engine's
//! differentiable operations (so second-order gradients work through them).
//!
//! | loss | formula per element | gradient w.r.t. the prediction |
//! |---|---|---|
//! | MSE | `(p − y)²` | `2 (p − y)` |
//! | BCE on probabilities | `−[y ln p + (1 − y) ln(1 − p)]`, `p` clamped to `[ε, 1 − ε]` | `(p − y) / (p (1 − p))` inside the clamp, 0 outside |
//! | BCE on logits | `softplus(z) − y z` = `max(z, 0) − y z + ln(1 + e^−|z|)` | `σ(z) − y` |
//! | cross-entropy on logits | `−ln softmax(z)_y` = `−(z_y − logsumexp(z))` | `softmax(z) − onehot(y)` (p − y) |
//! | negative log-likelihood | `−(log-probabilities)_y` | `−onehot(y)` |
//!
//! With [`Reduction::Mean`] every gradient is further divided by the number
//! of elements (rows for the class losses).

use crate::activation::Activation;
use crate::error::{Error, Result};
use chainrule::{Float, Var};

/// How per-element losses are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reduction {
    /// The mean (PyTorch's default).
    #[default]
    Mean,
    /// The sum.
    Sum,
}

fn reduce<'g, F: Float>(v: Var<'g, F>, reduction: Reduction) -> Var<'g, F> {
    match reduction {
        Reduction::Mean => v.mean(),
        Reduction::Sum => v.sum(),
    }
}

fn same_shape<F: Float>(loss: &str, pred: Var<'_, F>, target: Var<'_, F>) -> Result<()> {
    if pred.shape() != target.shape() {
        return Err(Error::config(
            loss,
            format!(
                "the prediction has shape {} but the target has shape {}",
                pred.shape(),
                target.shape()
            ),
        ));
    }
    Ok(())
}

/// Mean squared error: `(p − y)²` reduced. ∂/∂p = 2(p − y) (÷ n for the mean).
pub fn mse<'g, F: Float>(
    pred: Var<'g, F>,
    target: Var<'g, F>,
    reduction: Reduction,
) -> Result<Var<'g, F>> {
    same_shape("mse", pred, target)?;
    Ok(pred.mse_loss(target, reduction == Reduction::Mean)?)
}

/// Binary cross-entropy on probabilities: `−[y ln p + (1 − y) ln(1 − p)]`,
/// with `p` clamped to `[ε, 1 − ε]` (ε the type's machine epsilon) so that
/// `ln 0` never appears. ∂/∂p = (p − y) / (p(1 − p)) inside the clamp.
pub fn bce<'g, F: Float>(
    prob: Var<'g, F>,
    target: Var<'g, F>,
    reduction: Reduction,
) -> Result<Var<'g, F>> {
    same_shape("bce", prob, target)?;
    let eps = F::epsilon().as_f64();
    let p = prob.clamp(eps, 1.0 - eps);
    let pos = target.mul(p.log())?;
    let neg = target
        .neg()
        .add_scalar(1.0)
        .mul(p.neg().add_scalar(1.0).log())?;
    Ok(reduce(pos.add(neg)?.neg(), reduction))
}

/// Binary cross-entropy on logits: `softplus(z) − y z`, exact for logits
/// of ±1e4. ∂/∂z = σ(z) − y.
pub fn bce_with_logits<'g, F: Float>(
    logits: Var<'g, F>,
    target: Var<'g, F>,
    reduction: Reduction,
) -> Result<Var<'g, F>> {
    same_shape("bce", logits, target)?;
    Ok(reduce(
        logits.softplus().sub(target.mul(logits)?)?,
        reduction,
    ))
}

/// Categorical cross-entropy on logits `[n, classes]` with fused, stable
/// log-softmax, one node (`Var::cross_entropy_loss`):
/// `−ln softmax(z)ᵢ[yᵢ]`. ∂/∂z = softmax(z) − onehot(y) = p − y.
pub fn cross_entropy<'g, F: Float>(
    logits: Var<'g, F>,
    labels: &[usize],
    reduction: Reduction,
) -> Result<Var<'g, F>> {
    Ok(logits.cross_entropy_loss(labels, reduction == Reduction::Mean)?)
}

/// Negative log-likelihood of log-probabilities `[n, classes]`:
/// `−logpᵢ[yᵢ]`. ∂/∂logp = −onehot(y).
pub fn nll<'g, F: Float>(
    log_probs: Var<'g, F>,
    labels: &[usize],
    reduction: Reduction,
) -> Result<Var<'g, F>> {
    Ok(reduce(log_probs.gather_rows(labels)?.neg(), reduction))
}

/// The loss a training run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossKind {
    /// Mean squared error on the raw outputs (regression).
    Mse,
    /// Binary cross-entropy on one logit per row.
    Bce,
    /// Categorical cross-entropy on logits.
    Cce,
}

impl LossKind {
    /// `mse`, `bce` or `cce`.
    pub fn name(&self) -> &'static str {
        match self {
            LossKind::Mse => "mse",
            LossKind::Bce => "bce",
            LossKind::Cce => "cce",
        }
    }

    /// Parses `mse`, `bce` or `cce`.
    pub fn parse(s: &str) -> Result<LossKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mse" => Ok(LossKind::Mse),
            "bce" => Ok(LossKind::Bce),
            "cce" | "ce" | "cross-entropy" => Ok(LossKind::Cce),
            other => Err(Error::config(
                "loss",
                format!("unknown loss '{other}' (expected auto, mse, bce or cce)"),
            )),
        }
    }
}

/// How a loss reads a network's output: decided once, by
/// [`LossKind::reading`], for every command that builds or scores a
/// network (train, eval, predict, explain, graph, gradcheck, diagnose).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputReading {
    /// MSE on the output as it is (a linear output unless the network
    /// ends in an activation, as the lesson's worked example does).
    Values,
    /// BCE with logits or cross-entropy on logits: the network ends in
    /// its last linear layer and the loss applies σ or softmax itself
    /// (PyTorch's `BCEWithLogitsLoss` and `CrossEntropyLoss`).
    Logits,
    /// BCE on probabilities: the network ends in a sigmoid (PyTorch's
    /// `Sigmoid` followed by `BCELoss`).
    Probabilities,
}

impl OutputReading {
    /// The probability of the positive class that a one-output network's
    /// `output` stands for: σ(z) for a logit, the value itself for a
    /// probability (and for values, read as scores between 0 and 1).
    pub fn positive_probability(self, output: f64) -> f64 {
        match self {
            OutputReading::Logits => 1.0 / (1.0 + (-output).exp()),
            OutputReading::Probabilities | OutputReading::Values => output,
        }
    }

    /// Whether a one-output network's `output` predicts the positive
    /// class: a logit above 0, a probability (or value) above 0.5.
    pub fn predicts_positive(self, output: f64) -> bool {
        match self {
            OutputReading::Logits => output > 0.0,
            OutputReading::Probabilities | OutputReading::Values => output > 0.5,
        }
    }
}

/// What a loss compares a network's output with.
#[derive(Clone, Copy, Debug)]
pub enum LossTarget<'a, 'g, F: Float> {
    /// One value per output (MSE, BCE), the output's shape.
    Values(Var<'g, F>),
    /// One class index per row (cross-entropy).
    Classes(&'a [usize]),
}

impl LossKind {
    /// The output activation of a network built for this loss when none is
    /// asked for: the identity for every loss, as PyTorch models are built —
    /// a linear output for MSE regression, logits for BCE and cross-entropy
    /// (the loss applies σ or softmax itself, stably). Every command that
    /// builds a network from `--layers`/`--activation`/`--loss` takes it
    /// from here, so the same flags mean the same network everywhere.
    pub fn default_output_activation(self) -> Activation {
        match self {
            LossKind::Mse | LossKind::Bce | LossKind::Cce => Activation::Identity,
        }
    }

    /// How this loss reads a network whose last activation is `output`:
    /// MSE reads any output as values; BCE reads a linear output as logits
    /// and a sigmoid output as probabilities; cross-entropy reads logits
    /// only (softmax over sigmoid outputs would be a different network
    /// from the one `train` builds). Other pairs are errors.
    pub fn reading(self, output: Activation) -> Result<OutputReading> {
        match (self, output) {
            (LossKind::Mse, _) => Ok(OutputReading::Values),
            (LossKind::Bce | LossKind::Cce, Activation::Identity) => Ok(OutputReading::Logits),
            (LossKind::Bce, Activation::Sigmoid) => Ok(OutputReading::Probabilities),
            (LossKind::Bce, other) => Err(Error::config(
                "output activation",
                format!(
                    "bce reads logits (output activation identity) or probabilities (sigmoid), not {} outputs",
                    other.name()
                ),
            )),
            (LossKind::Cce, other) => Err(Error::config(
                "output activation",
                format!(
                    "cce applies softmax to logits itself: the output activation must be identity, not {}",
                    other.name()
                ),
            )),
        }
    }

    /// How this loss is computed on an output read as `reading`, in words:
    /// `mse`, `bce with logits`, `bce on probabilities`,
    /// `cross-entropy on logits`.
    pub fn describe(self, reading: OutputReading) -> &'static str {
        match (self, reading) {
            (LossKind::Mse, _) => "mse",
            (LossKind::Bce, OutputReading::Probabilities) => "bce on probabilities",
            (LossKind::Bce, _) => "bce with logits",
            (LossKind::Cce, _) => "cross-entropy on logits",
        }
    }

    /// The mean loss of a network's `output`, whose last activation is
    /// `output_activation`, against `target`: the one place where a
    /// network's output is scored (training, evaluation, explain,
    /// gradcheck, gradient flow).
    pub fn of_output<'g, F: Float>(
        self,
        output_activation: Activation,
        output: Var<'g, F>,
        target: LossTarget<'_, 'g, F>,
    ) -> Result<Var<'g, F>> {
        let reading = self.reading(output_activation)?;
        let r = Reduction::Mean;
        match (self, reading, target) {
            (LossKind::Mse, _, LossTarget::Values(t)) => mse(output, t, r),
            (LossKind::Bce, OutputReading::Probabilities, LossTarget::Values(t)) => {
                bce(output, t, r)
            }
            (LossKind::Bce, _, LossTarget::Values(t)) => bce_with_logits(output, t, r),
            (LossKind::Cce, _, LossTarget::Classes(labels)) => cross_entropy(output, labels, r),
            (LossKind::Cce, _, LossTarget::Values(_)) => Err(Error::config(
                "target",
                "cce needs one class index per row, not target values",
            )),
            (LossKind::Mse | LossKind::Bce, _, LossTarget::Classes(_)) => Err(Error::config(
                "target",
                format!(
                    "{} needs one target value per output, not class indices",
                    self.name()
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chainrule::{Graph, Tensor};

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9 * (1.0 + b.abs()), "{a} vs {b}");
    }

    fn t(v: &[f64], d: &[usize]) -> Tensor<f64> {
        Tensor::from_f64(v, d).unwrap()
    }

    #[test]
    fn mse_by_hand() {
        // p = [1, 2], y = [0, 4]: ((1)² + (−2)²) / 2 = 2.5; ∂/∂p = [2·1, 2·(−2)] / 2.
        let g = Graph::<f64>::new();
        let p = g.variable(&t(&[1.0, 2.0], &[2]));
        let l = mse(p, g.input(&t(&[0.0, 4.0], &[2])), Reduction::Mean).unwrap();
        close(l.item().unwrap(), 2.5);
        l.backward().unwrap();
        assert_eq!(p.grad().unwrap().to_f64_vec(), vec![1.0, -2.0]);
        let s = mse(p, g.input(&t(&[0.0, 4.0], &[2])), Reduction::Sum).unwrap();
        close(s.item().unwrap(), 5.0);
        assert!(mse(p, g.input(&t(&[0.0], &[1])), Reduction::Mean).is_err());
    }

    #[test]
    fn bce_with_logits_is_stable_at_extremes() {
        // (z, y, loss, dloss/dz) computed by hand: softplus(z) − yz and σ(z) − y.
        let cases = [
            (0.0, 1.0, std::f64::consts::LN_2, -0.5),
            (1e4, 0.0, 1e4, 1.0),
            (1e4, 1.0, 0.0, 0.0),
            (-1e4, 0.0, 0.0, 0.0),
            (-1e4, 1.0, 1e4, -1.0),
            (
                2.0,
                1.0,
                (1.0 + (-2.0f64).exp()).ln(),
                -1.0 / (1.0 + 2.0f64.exp()),
            ),
        ];
        for (z, y, loss, grad) in cases {
            let g = Graph::<f64>::new();
            let zv = g.variable(&t(&[z], &[1]));
            let l = bce_with_logits(zv, g.input(&t(&[y], &[1])), Reduction::Mean).unwrap();
            close(l.item().unwrap(), loss);
            l.backward().unwrap();
            close(zv.grad().unwrap().item().unwrap(), grad);
        }
        // The same in f32 stays finite.
        let g = Graph::<f32>::new();
        let zv = g.variable(&Tensor::from_f64(&[1e4, -1e4], &[2]).unwrap());
        let l = bce_with_logits(
            zv,
            g.input(&Tensor::from_f64(&[0.0, 1.0], &[2]).unwrap()),
            Reduction::Sum,
        )
        .unwrap();
        assert_eq!(l.item().unwrap(), 2e4);
        l.backward().unwrap();
        assert_eq!(zv.grad().unwrap().into_vec(), vec![1.0, -1.0]);
    }

    #[test]
    fn bce_on_probabilities_never_takes_log_of_zero() {
        // p = 0.8, y = 1: −ln 0.8; ∂/∂p = (p − y)/(p(1 − p)) = −0.2/0.16 = −1.25.
        let g = Graph::<f64>::new();
        let p = g.variable(&t(&[0.8], &[1]));
        let l = bce(p, g.input(&t(&[1.0], &[1])), Reduction::Mean).unwrap();
        close(l.item().unwrap(), -(0.8f64.ln()));
        l.backward().unwrap();
        close(p.grad().unwrap().item().unwrap(), -1.25);
        // p = 0 with y = 1: clamped to ε, loss −ln ε, gradient finite.
        let g = Graph::<f64>::new();
        let p = g.variable(&t(&[0.0, 1.0], &[2]));
        let l = bce(p, g.input(&t(&[1.0, 0.0], &[2])), Reduction::Sum).unwrap();
        close(l.item().unwrap(), -2.0 * f64::EPSILON.ln() + 0.0 * 1.0);
        l.backward().unwrap();
        assert!(p.grad().unwrap().data().iter().all(|v| v.is_finite()));
    }

    #[test]
    fn the_loss_decides_how_it_reads_the_output() {
        use crate::activation::Activation as A;
        for k in [LossKind::Mse, LossKind::Bce, LossKind::Cce] {
            assert_eq!(k.default_output_activation(), A::Identity);
        }
        assert_eq!(
            LossKind::Mse.reading(A::Sigmoid).unwrap(),
            OutputReading::Values
        );
        assert_eq!(
            LossKind::Bce.reading(A::Identity).unwrap(),
            OutputReading::Logits
        );
        assert_eq!(
            LossKind::Bce.reading(A::Sigmoid).unwrap(),
            OutputReading::Probabilities
        );
        assert!(LossKind::Bce.reading(A::Tanh).is_err());
        let e = LossKind::Cce.reading(A::Sigmoid).unwrap_err().to_string();
        assert!(e.contains("must be identity"), "{e}");
        // BCE of logit z = 1 with y = 1 is ln(1 + e^−1), read either way.
        let want = (1.0 + (-1.0f64).exp()).ln();
        let g = Graph::<f64>::new();
        let z = g.variable(&t(&[1.0], &[1, 1]));
        let y = LossTarget::Values(g.input(&t(&[1.0], &[1, 1])));
        close(
            LossKind::Bce
                .of_output(A::Identity, z, y)
                .unwrap()
                .item()
                .unwrap(),
            want,
        );
        let p = z.sigmoid();
        close(
            LossKind::Bce
                .of_output(A::Sigmoid, p, y)
                .unwrap()
                .item()
                .unwrap(),
            want,
        );
        assert!(OutputReading::Logits.predicts_positive(1e-30));
        assert!(!OutputReading::Probabilities.predicts_positive(0.5));
        // Cross-entropy needs classes, MSE and BCE values.
        assert!(LossKind::Cce.of_output(A::Identity, z, y).is_err());
        assert!(LossKind::Mse
            .of_output(A::Identity, z, LossTarget::Classes(&[0]))
            .is_err());
    }

    #[test]
    fn cross_entropy_by_hand() {
        // logits [1, 2, 3], label 2: ln(1 + e^−1 + e^−2); gradient p − onehot.
        let g = Graph::<f64>::new();
        let z = g.variable(&t(&[1.0, 2.0, 3.0], &[1, 3]));
        let l = cross_entropy(z, &[2], Reduction::Mean).unwrap();
        close(
            l.item().unwrap(),
            (1.0 + (-1.0f64).exp() + (-2.0f64).exp()).ln(),
        );
        l.backward().unwrap();
        let total: f64 = [1.0f64, 2.0, 3.0].iter().map(|v| v.exp()).sum();
        let expected = [
            1f64.exp() / total,
            2f64.exp() / total,
            3f64.exp() / total - 1.0,
        ];
        for (a, b) in z.grad().unwrap().data().iter().zip(expected) {
            close(*a, b);
        }
        // Extreme and equal logits.
        let g = Graph::<f64>::new();
        let z = g.variable(&t(&[1e4, 0.0, -1e4, 5.0, 5.0, 5.0], &[2, 3]));
        let l = cross_entropy(z, &[2, 0], Reduction::Sum).unwrap();
        close(l.item().unwrap(), 2e4 + 3f64.ln());
        l.backward().unwrap();
        let third = 1.0 / 3.0;
        let expected = [1.0, 0.0, -1.0, third - 1.0, third, third];
        for (a, b) in z.grad().unwrap().data().iter().zip(expected) {
            close(*a, b);
        }
    }
}
