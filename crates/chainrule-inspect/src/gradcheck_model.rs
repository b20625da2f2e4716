//! Gradient checks of whole models: every parameter's analytical gradient
//! on a batch against central finite differences, in f64, with PyTorch's
//! gradcheck defaults (ε = 1e-6, atol = 1e-5, rtol = 1e-3). Large tensors
//! are checked on a seeded sample of elements. Elements at a kink (ReLU at
//! 0, |x| at 0), where the one-sided differences disagree, are reported and
//! not counted as failures. Each element gets a verdict by one rule
//! ([`Verdict::of_element`]): outside the tolerance it is a bug (and the
//! check fails), within `atol` it is correct whatever its relative error
//! (for gradients that small the relative error measures the rounding noise
//! of the finite differences, about 1e-10 in f64, not the gradient). A
//! parameter's verdict is its worst element's, and that element is the
//! first one reported. A model of another precision (f32 weights) is
//! widened to f64 first, so the differences are taken in f64. When a check
//! fails, every user-defined operation in the graph is checked on its own,
//! so the report can name a broken backward rule (the built-in ones are
//! checked by the test suite).

use chainrule::gradcheck::{relative_error, tolerance_used, GradcheckOptions, Verdict};
use chainrule::{rng, Float, Graph, ParamId, Result, Tensor, Var};
use std::rc::Rc;

/// How a model check runs.
#[derive(Clone, Copy, Debug)]
pub struct ModelCheckOptions {
    /// Finite-difference step.
    pub eps: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance.
    pub rtol: f64,
    /// At most this many elements per parameter (a seeded sample beyond).
    pub max_elements: usize,
    /// Seed of the sample.
    pub seed: u64,
}

impl ModelCheckOptions {
    /// The step and tolerances, as the engine's gradient check takes them.
    pub fn tolerances(&self) -> GradcheckOptions {
        GradcheckOptions {
            eps: self.eps,
            atol: self.atol,
            rtol: self.rtol,
        }
    }
}

impl Default for ModelCheckOptions {
    fn default() -> Self {
        ModelCheckOptions {
            eps: 1e-6,
            atol: 1e-5,
            rtol: 1e-3,
            max_elements: 64,
            seed: 0,
        }
    }
}

/// One element compared.
#[derive(Clone, Debug, PartialEq)]
pub struct ElementCheck {
    /// Row-major index into the parameter.
    pub index: usize,
    pub analytic: f64,
    pub numeric: f64,
    pub abs_error: f64,
    pub rel_error: f64,
    /// The one-sided differences disagree: a non-differentiable point.
    pub kink: bool,
    /// This element's verdict ([`Verdict::of_element`]; kinks are correct).
    pub verdict: Verdict,
}

/// The check of one parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamCheck {
    pub name: String,
    /// Elements compared, and the parameter's size.
    pub checked: usize,
    pub total: usize,
    /// Largest `|analytic − numeric|` (kinks excluded).
    pub max_abs_error: f64,
    /// Largest relative error among the elements whose difference exceeds
    /// `atol` (below it the relative error is finite-difference noise and
    /// not read); 0 when there are none. Kinks excluded.
    pub max_rel_error: f64,
    /// Elements (kinks excluded) whose difference is within `atol`, so that
    /// their relative error is not read, and the largest such relative error.
    pub below_atol: usize,
    pub max_rel_error_below_atol: f64,
    /// The worst element verdict (kinks excluded).
    pub verdict: Verdict,
    /// Elements at kinks (not counted).
    pub kinks: usize,
    /// No element is a bug: every compared element is within
    /// `atol + rtol · |numeric|` (kinks excluded).
    pub passed: bool,
    /// The worst elements (at most 3): worst verdict first, then the most
    /// of its tolerance used. The first one set the verdict.
    pub worst: Vec<ElementCheck>,
}

impl ParamCheck {
    /// Elements that were really compared (checked, less the kinks).
    pub fn counted(&self) -> usize {
        self.checked - self.kinks
    }
}

/// A user-defined operation whose backward rule disagrees with finite
/// differences at the values it saw.
#[derive(Clone, Debug, PartialEq)]
pub struct BrokenOp {
    pub name: String,
    pub node: usize,
    pub max_rel_error: f64,
}

/// The result of a model check.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelCheckReport {
    pub params: Vec<ParamCheck>,
    /// User-defined operations found broken (checked when a parameter fails).
    pub broken_ops: Vec<BrokenOp>,
}

impl ModelCheckReport {
    /// Whether every parameter passed (no verdict is a bug).
    pub fn passed(&self) -> bool {
        self.params.iter().all(|p| p.passed)
    }

    /// The worst parameter verdict.
    pub fn verdict(&self) -> Verdict {
        self.params
            .iter()
            .map(|p| p.verdict)
            .max()
            .unwrap_or(Verdict::Correct)
    }

    /// The names of the parameters with verdict `v`.
    pub fn named(&self, v: Verdict) -> Vec<&str> {
        self.params
            .iter()
            .filter(|p| p.verdict == v)
            .map(|p| p.name.as_str())
            .collect()
    }

    /// The names of the parameters of which no element was compared
    /// (every sampled element at a kink).
    pub fn unchecked(&self) -> Vec<&str> {
        self.params
            .iter()
            .filter(|p| p.counted() == 0)
            .map(|p| p.name.as_str())
            .collect()
    }

    /// The closing lines a person reads: which parameters failed, which
    /// are suspicious, which could not be checked, and why small
    /// gradients' relative errors were not read.
    pub fn summary(&self, opts: &ModelCheckOptions) -> Vec<String> {
        let mut lines = Vec::new();
        let (bugs, suspicious) = (self.named(Verdict::Bug), self.named(Verdict::Suspicious));
        if !bugs.is_empty() {
            lines.push(format!(
                "gradient check FAILED: {} disagree with finite differences (bug: an element outside {:e} + {:e}·|numeric|)",
                bugs.join(", "),
                opts.atol,
                opts.rtol
            ));
        }
        if !suspicious.is_empty() {
            lines.push(format!(
                "suspicious (relative error between 1e-5 and 1e-3): {}; look closer (kinks, the step)",
                suspicious.join(", ")
            ));
        }
        if bugs.is_empty() && suspicious.is_empty() {
            lines.push("all gradients agree with finite differences".to_string());
        } else if bugs.is_empty() {
            lines.push("no parameter failed".to_string());
        }
        let unchecked = self.unchecked();
        if !unchecked.is_empty() {
            lines.push(format!(
                "not checked (every sampled element at a kink): {}",
                unchecked.join(", ")
            ));
        }
        let below: usize = self.params.iter().map(|p| p.below_atol).sum();
        let noisy = self
            .params
            .iter()
            .map(|p| p.max_rel_error_below_atol)
            .fold(0.0, f64::max);
        if noisy >= 1e-5 {
            lines.push(format!(
                "{below} elements differ by less than atol = {:e}: their relative error (up to {noisy:.3e}) is \
                 the rounding noise of finite differences in f64 on gradients this small, not read as a verdict",
                opts.atol
            ));
        }
        lines.push(format!(
            "(in f64; relative error below 1e-5: correct; above 1e-3: a bug; differences within atol = {:e}: correct; kinks are not counted)",
            opts.atol
        ));
        lines
    }
}

/// Checks the gradient of `loss` (a function recording a scalar on the
/// graph) with respect to each named parameter.
pub fn check_params(
    g: &mut Graph<f64>,
    params: &[(String, ParamId)],
    loss: &dyn for<'g> Fn(&'g Graph<f64>) -> Result<Var<'g, f64>>,
    opts: ModelCheckOptions,
) -> Result<ModelCheckReport> {
    g.clear();
    g.zero_grad();
    let custom_nodes = {
        let l = loss(g)?;
        l.backward()?;
        custom_nodes(g)?
    };
    g.clear();
    let value = |g: &mut Graph<f64>| -> Result<f64> {
        let v = {
            let _off = g.no_grad();
            loss(g)?.item()?
        };
        g.clear();
        Ok(v)
    };
    let tol = opts.tolerances();
    let mut reports = Vec::new();
    for (k, (name, p)) in params.iter().enumerate() {
        let original = g.param_value(*p)?;
        let analytic = g
            .param_grad(*p)
            .map(|t| t.into_vec())
            .unwrap_or_else(|_| vec![0.0; original.data().len()]);
        let total = original.data().len();
        let elements = sample(total, opts.max_elements, opts.seed.wrapping_add(k as u64));
        let mut checks = Vec::new();
        for &e in &elements {
            let at = |delta: f64, g: &mut Graph<f64>| -> Result<f64> {
                let mut t = original.clone();
                t.data_mut()[e] += delta;
                g.set_param(*p, &t)?;
                value(g)
            };
            let f0 = at(0.0, g)?;
            let plus = at(opts.eps, g)?;
            let minus = at(-opts.eps, g)?;
            g.set_param(*p, &original)?;
            let numeric = (plus - minus) / (2.0 * opts.eps);
            let (right, left) = ((plus - f0) / opts.eps, (f0 - minus) / opts.eps);
            // One-sided slopes differing by far more than rounding noise:
            // the step crossed a kink.
            let kink = (right - left).abs() > 10.0 * (opts.atol + opts.rtol * numeric.abs())
                && (right - left).abs() > 1e-4;
            let a = analytic[e];
            checks.push(ElementCheck {
                index: e,
                analytic: a,
                numeric,
                abs_error: (a - numeric).abs(),
                rel_error: relative_error(a, numeric),
                kink,
                verdict: if kink {
                    Verdict::Correct
                } else {
                    Verdict::of_element(a, numeric, &tol)
                },
            });
        }
        let counted: Vec<&ElementCheck> = checks.iter().filter(|c| !c.kink).collect();
        let (read, below): (Vec<&ElementCheck>, Vec<&ElementCheck>) = counted
            .iter()
            .partition(|c| c.abs_error.is_nan() || c.abs_error > opts.atol);
        let max_of = |v: &[&ElementCheck], f: fn(&ElementCheck) -> f64| {
            v.iter()
                .map(|c| f(c))
                .fold(0.0, |m: f64, x| if x.is_nan() { x } else { m.max(x) })
        };
        let mut worst: Vec<ElementCheck> = counted.iter().map(|c| (*c).clone()).collect();
        let used = |c: &ElementCheck| {
            let u = tolerance_used(c.analytic, c.numeric, &tol);
            if u.is_nan() {
                f64::INFINITY
            } else {
                u
            }
        };
        worst.sort_by(|a, b| b.verdict.cmp(&a.verdict).then(used(b).total_cmp(&used(a))));
        worst.truncate(3);
        let verdict = worst.first().map_or(Verdict::Correct, |w| w.verdict);
        reports.push(ParamCheck {
            name: name.clone(),
            checked: checks.len(),
            total,
            max_abs_error: max_of(&counted, |c| c.abs_error),
            max_rel_error: max_of(&read, |c| c.rel_error),
            below_atol: below.len(),
            max_rel_error_below_atol: max_of(&below, |c| c.rel_error),
            verdict,
            kinks: checks.len() - counted.len(),
            passed: verdict != Verdict::Bug,
            worst,
        });
    }
    let broken_ops = if reports.iter().all(|r| r.passed) {
        Vec::new()
    } else {
        check_custom_ops(g, &custom_nodes, opts)?
    };
    Ok(ModelCheckReport {
        params: reports,
        broken_ops,
    })
}

/// A seeded sample of `k` distinct indices of `0..n` (all of them if n ≤ k).
fn sample(n: usize, k: usize, seed: u64) -> Vec<usize> {
    if n <= k {
        return (0..n).collect();
    }
    let mut idx: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let j = i + (rng::u64_at(seed, i as u64) % (n - i) as u64) as usize;
        idx.swap(i, j);
    }
    let mut chosen = idx[..k].to_vec();
    chosen.sort_unstable();
    chosen
}

/// A recorded use of a custom operation: its id, node and input values.
struct CustomUse {
    id: u16,
    node: usize,
    inputs: Vec<Tensor<f64>>,
}

fn custom_nodes(g: &Graph<f64>) -> Result<Vec<CustomUse>> {
    let mut out = Vec::new();
    for n in g.nodes() {
        if let chainrule::Op::Custom(id) = n.op {
            let inputs = n
                .inputs
                .iter()
                .flatten()
                .map(|&i| g.var(i).map(|v| v.value()))
                .collect::<Result<Vec<_>>>()?;
            out.push(CustomUse {
                id,
                node: n.id,
                inputs,
            });
        }
    }
    Ok(out)
}

/// Checks each custom operation's backward rule at the values it saw: a
/// random vector-Jacobian product against central differences of its
/// forward kernel.
fn check_custom_ops(
    g: &Graph<f64>,
    uses: &[CustomUse],
    opts: ModelCheckOptions,
) -> Result<Vec<BrokenOp>> {
    let mut broken = Vec::new();
    for u in uses {
        let op = g.custom_op(u.id)?;
        let local = |x: &[Tensor<f64>]| -> Result<(f64, Vec<Vec<f64>>)> {
            let lg = Graph::new();
            let id = lg.register_op(Rc::clone(&op))?;
            let vars: Vec<_> = x.iter().map(|t| lg.variable(t)).collect();
            let out = vars[0].custom(id, vars.get(1).copied())?;
            let r = lg.input(&Tensor::uniform(out.shape().dims(), 0.5, 1.5, 0xC0FFEE)?);
            let l = out.mul(r)?.sum();
            let grads = lg.gradients(l, &vars, false)?;
            Ok((l.item()?, grads.iter().map(|v| v.to_vec()).collect()))
        };
        let (_, analytic) = local(&u.inputs)?;
        let mut worst = 0.0f64;
        for (k, t) in u.inputs.iter().enumerate() {
            for (e, &a) in analytic[k]
                .iter()
                .enumerate()
                .take(t.data().len().min(opts.max_elements))
            {
                let shifted = |d: f64| -> Result<f64> {
                    let mut x = u.inputs.clone();
                    x[k].data_mut()[e] += d;
                    Ok(local(&x)?.0)
                };
                let numeric = (shifted(opts.eps)? - shifted(-opts.eps)?) / (2.0 * opts.eps);
                let err = (a - numeric).abs();
                if err > opts.atol + opts.rtol * numeric.abs() {
                    worst = worst.max(err / a.abs().max(numeric.abs()).max(f64::MIN_POSITIVE));
                }
            }
        }
        if worst > 0.0 {
            broken.push(BrokenOp {
                name: op.name().to_string(),
                node: u.node,
                max_rel_error: worst,
            });
        }
    }
    Ok(broken)
}

/// Checks a model's parameter gradients on `rows` of `data` (in f64: a
/// model of another precision is copied).
pub fn check_model<F: Float>(
    model: &chainrule_nn::trainer::Model<F>,
    data: &chainrule_nn::data::Dataset,
    rows: &[usize],
    opts: ModelCheckOptions,
) -> chainrule_nn::Result<ModelCheckReport> {
    model.check_data(data)?;
    let mut m64 = to_f64(model)?;
    let params = m64.network.parameters();
    let (network, kind) = (m64.network.clone(), m64.loss);
    let loss = loss_fn(move |g| {
        chainrule_nn::trainer::loss_on_rows(g, &network, kind, data, rows).map_err(engine_error)
    });
    Ok(check_params(&mut m64.graph, &params, &loss, opts)?)
}

/// Gives a closure the signature `check_params` needs (a loss valid for
/// any borrow of the graph).
pub fn loss_fn<L: for<'g> Fn(&'g Graph<f64>) -> Result<Var<'g, f64>>>(f: L) -> L {
    f
}

fn engine_error(e: chainrule_nn::Error) -> chainrule::Error {
    match e {
        chainrule_nn::Error::Engine(e) => e,
        other => chainrule::Error::from(chainrule::ErrorKind::Invalid {
            op: "model",
            detail: other.to_string(),
            shape: chainrule::Shape::scalar(),
        }),
    }
}

/// A copy of `model` in f64.
pub fn to_f64<F: Float>(
    model: &chainrule_nn::trainer::Model<F>,
) -> chainrule_nn::Result<chainrule_nn::trainer::Model<f64>> {
    model.cast::<f64>()
}
