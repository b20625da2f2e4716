//! Gradient checking: analytical gradients against central finite
//! differences, in f64.
//!
//! `numeric = (f(x + ε) − f(x − ε)) / 2ε` per element; an element passes
//! when `|analytic − numeric| ≤ atol + rtol · |numeric|` (PyTorch's gradcheck
//! rule and defaults: ε = 1e-6, atol = 1e-5, rtol = 1e-3). The verdict follows
//! the classic lesson on the relative error: below 1e-5 correct, above 1e-3 a
//! bug, in between suspicious. One rule decides both, element by element
//! ([`Verdict::of_element`]): an element outside the tolerance is a bug, so
//! a check passes exactly when no element is a bug. An element whose
//! difference is within `atol` is correct whatever its relative error: for
//! gradients that small the relative error measures the rounding noise of
//! the finite differences (about 1e-10 in f64 with ε = 1e-6), not the
//! gradient.
//!
//! A function with a non-scalar output is reduced to the scalar
//! `Σ out ⊙ r` with fixed seeded weights `r`, which checks a random
//! vector-Jacobian product.

use crate::error::Result;
use crate::graph::{Graph, Var};
use crate::tensor::Tensor;

/// Tolerances and step of a check.
#[derive(Clone, Copy, Debug)]
pub struct GradcheckOptions {
    /// Finite-difference step.
    pub eps: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance.
    pub rtol: f64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions {
            eps: 1e-6,
            atol: 1e-5,
            rtol: 1e-3,
        }
    }
}

/// The lesson's reading of a relative error (ordered: correct < suspicious < bug).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Relative error below 1e-5.
    Correct,
    /// Between 1e-5 and 1e-3: look closer (kinks, float32, a large step).
    Suspicious,
    /// Above 1e-3.
    Bug,
}

impl Verdict {
    /// The verdict for a relative error.
    pub fn from_relative_error(rel: f64) -> Verdict {
        if rel < 1e-5 {
            Verdict::Correct
        } else if rel <= 1e-3 {
            Verdict::Suspicious
        } else {
            Verdict::Bug
        }
    }

    /// The verdict on one element: a bug when `|analytic − numeric|`
    /// exceeds `atol + rtol · |numeric|` (the pass rule); correct when the
    /// difference is within `atol` (the relative error of so small a
    /// difference is finite-difference noise); otherwise the lesson's
    /// reading of the relative error, at most suspicious (it passed).
    pub fn of_element(analytic: f64, numeric: f64, opts: &GradcheckOptions) -> Verdict {
        let abs = (analytic - numeric).abs();
        if abs.is_nan() || abs > opts.atol + opts.rtol * numeric.abs() {
            Verdict::Bug
        } else if abs <= opts.atol {
            Verdict::Correct
        } else {
            Verdict::from_relative_error(relative_error(analytic, numeric)).min(Verdict::Suspicious)
        }
    }

    /// `correct`, `suspicious` or `bug`.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Correct => "correct",
            Verdict::Suspicious => "suspicious",
            Verdict::Bug => "bug",
        }
    }
}

/// `|a − n| / max(|a|, |n|)` (0 when both are 0).
pub fn relative_error(analytic: f64, numeric: f64) -> f64 {
    let scale = analytic.abs().max(numeric.abs());
    if scale == 0.0 {
        0.0
    } else {
        (analytic - numeric).abs() / scale
    }
}

/// How much of its tolerance an element's difference uses:
/// `|a − n| / (atol + rtol · |n|)` (above 1: it fails).
pub fn tolerance_used(analytic: f64, numeric: f64, opts: &GradcheckOptions) -> f64 {
    (analytic - numeric).abs() / (opts.atol + opts.rtol * numeric.abs())
}

/// The comparison for one input tensor.
#[derive(Clone, Debug)]
pub struct InputReport {
    /// Position of the input in the list given to the check.
    pub input: usize,
    /// Largest `|analytic − numeric|`.
    pub max_abs_error: f64,
    /// Largest `|analytic − numeric| / max(|analytic|, |numeric|)` (0 when both are 0).
    pub max_rel_error: f64,
    /// Row-major index of the element that set the verdict (the worst
    /// verdict, then the most of its tolerance used).
    pub worst_element: usize,
    /// Whether every element is within `atol + rtol · |numeric|` (no bug).
    pub passed: bool,
    /// The worst element verdict ([`Verdict::of_element`]).
    pub verdict: Verdict,
    /// The analytical gradient.
    pub analytic: Vec<f64>,
    /// The numerical gradient.
    pub numeric: Vec<f64>,
}

/// The result of a check: one report per input.
#[derive(Clone, Debug)]
pub struct GradcheckReport {
    pub inputs: Vec<InputReport>,
}

impl GradcheckReport {
    /// Whether every input passed.
    pub fn passed(&self) -> bool {
        self.inputs.iter().all(|r| r.passed)
    }
}

/// A function from input handles to an output handle on one graph.
pub trait CheckedFn: for<'g> Fn(&'g Graph<f64>, &[Var<'g, f64>]) -> Result<Var<'g, f64>> {}
impl<T: for<'g> Fn(&'g Graph<f64>, &[Var<'g, f64>]) -> Result<Var<'g, f64>>> CheckedFn for T {}

/// Evaluates `f` at `inputs` and reduces the output to a scalar.
fn scalar_output<'g>(
    g: &'g Graph<f64>,
    f: &impl CheckedFn,
    vars: &[Var<'g, f64>],
) -> Result<Var<'g, f64>> {
    let out = f(g, vars)?;
    if out.shape().numel() == 1 {
        return out.reshape(&[]);
    }
    let r = Tensor::uniform(out.shape().dims(), 0.5, 1.5, 0x5EED)?;
    Ok(out.mul(g.input(&r))?.sum())
}

/// The scalar value of `f` at `inputs`.
fn value(f: &impl CheckedFn, inputs: &[Tensor<f64>]) -> Result<f64> {
    let g = Graph::new();
    let _off = g.no_grad();
    let vars: Vec<_> = inputs.iter().map(|t| g.input(t)).collect();
    scalar_output(&g, f, &vars)?.item()
}

/// Compares the gradient of `f` with respect to every input with central
/// finite differences.
pub fn check_gradients(
    f: impl CheckedFn,
    inputs: &[Tensor<f64>],
    opts: GradcheckOptions,
) -> Result<GradcheckReport> {
    let analytic: Vec<Vec<f64>> = {
        let g = Graph::new();
        let vars: Vec<_> = inputs.iter().map(|t| g.variable(t)).collect();
        let out = scalar_output(&g, &f, &vars)?;
        let grads = g.gradients(out, &vars, false)?;
        grads.iter().map(|v| v.to_vec()).collect()
    };
    compare(&analytic, inputs, opts, |x| value(&f, x))
}

/// Checks second-order gradients: the gradient of `h(x) = Σ ∇f(x) ⊙ v`
/// (fixed seeded `v`), computed by differentiating a recorded backward
/// pass, against finite differences of `h` (itself a first-order gradient).
pub fn check_second_order(
    f: impl CheckedFn,
    inputs: &[Tensor<f64>],
    opts: GradcheckOptions,
) -> Result<GradcheckReport> {
    let h = |g: &Graph<f64>, x: &[Tensor<f64>], create_graph: bool| -> Result<Vec<Vec<f64>>> {
        let vars: Vec<_> = x.iter().map(|t| g.variable(t)).collect();
        let out = scalar_output(g, &f, &vars)?;
        let grads = g.gradients(out, &vars, create_graph)?;
        let mut total: Option<Var<'_, f64>> = None;
        for (k, gr) in grads.iter().enumerate() {
            let v = g.input(&Tensor::uniform(
                gr.shape().dims(),
                -1.0,
                1.0,
                0xD0D0 + k as u64,
            )?);
            let term = gr.mul(v)?.sum();
            total = Some(match total {
                None => term,
                Some(t) => t.add(term)?,
            });
        }
        let total = total.unwrap_or_else(|| g.scalar(0.0));
        if !create_graph {
            return Ok(vec![vec![total.item()?]]);
        }
        if !total.requires_grad() {
            // h does not depend on x: its gradient is zero.
            return Ok(vars.iter().map(|v| vec![0.0; v.shape().numel()]).collect());
        }
        Ok(g.gradients(total, &vars, false)?
            .iter()
            .map(|v| v.to_vec())
            .collect())
    };
    let analytic = h(&Graph::new(), inputs, true)?;
    compare(&analytic, inputs, opts, |x| {
        Ok(h(&Graph::new(), x, false)?[0][0])
    })
}

/// Central differences of `value` around `inputs`, compared with `analytic`.
fn compare(
    analytic: &[Vec<f64>],
    inputs: &[Tensor<f64>],
    opts: GradcheckOptions,
    value: impl Fn(&[Tensor<f64>]) -> Result<f64>,
) -> Result<GradcheckReport> {
    let mut reports = Vec::with_capacity(inputs.len());
    for (k, input) in inputs.iter().enumerate() {
        let mut numeric = Vec::with_capacity(input.shape().numel());
        for e in 0..input.shape().numel() {
            let mut shifted = inputs.to_vec();
            let at = |delta: f64, shifted: &mut Vec<Tensor<f64>>| -> Result<f64> {
                shifted[k].data_mut()[e] = input.data()[e] + delta;
                value(shifted)
            };
            let plus = at(opts.eps, &mut shifted)?;
            let minus = at(-opts.eps, &mut shifted)?;
            numeric.push((plus - minus) / (2.0 * opts.eps));
        }
        reports.push(report(k, analytic[k].clone(), numeric, opts));
    }
    Ok(GradcheckReport { inputs: reports })
}

fn report(
    input: usize,
    analytic: Vec<f64>,
    numeric: Vec<f64>,
    opts: GradcheckOptions,
) -> InputReport {
    let (mut max_abs, mut max_rel) = (0.0f64, 0.0f64);
    let (mut verdict, mut worst, mut worst_used) = (Verdict::Correct, 0, f64::NEG_INFINITY);
    for (i, (&a, &n)) in analytic.iter().zip(&numeric).enumerate() {
        let abs = (a - n).abs();
        if abs.is_nan() || abs > max_abs {
            max_abs = abs; // a NaN stays
        }
        max_rel = max_rel.max(relative_error(a, n));
        let v = Verdict::of_element(a, n, &opts);
        let used = tolerance_used(a, n, &opts);
        let used = if used.is_nan() { f64::INFINITY } else { used };
        if v > verdict || (v == verdict && used > worst_used) {
            (verdict, worst, worst_used) = (v, i, used);
        }
    }
    InputReport {
        input,
        max_abs_error: max_abs,
        max_rel_error: max_rel,
        worst_element: worst,
        passed: verdict != Verdict::Bug,
        verdict,
        analytic,
        numeric,
    }
}
