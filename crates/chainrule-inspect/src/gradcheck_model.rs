//! Gradient checks of whole models: every parameter's analytical gradient
//! on a batch against central finite differences, in f64, with PyTorch's
//! gradcheck defaults (ε = 1e-6, atol = 1e-5, rtol = 1e-3). Large tensors
//! are checked on a seeded sample of elements. Elements at a kink (ReLU at
//! 0, |x| at 0), where the one-sided differences disagree, are reported and
//! not counted as failures. When a check fails, every user-defined
//! operation in the graph is checked on its own, so the report can name a
//! broken backward rule (the built-in ones are checked by the test suite).

use chainrule::gradcheck::Verdict;
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
}

/// The check of one parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamCheck {
    pub name: String,
    /// Elements compared, and the parameter's size.
    pub checked: usize,
    pub total: usize,
    pub max_abs_error: f64,
    pub max_rel_error: f64,
    /// The lesson's reading of `max_rel_error` (kinks excluded).
    pub verdict: Verdict,
    /// Elements at kinks (not counted).
    pub kinks: usize,
    /// Every compared element is within `atol + rtol · |numeric|` (kinks excluded).
    pub passed: bool,
    /// The worst elements, largest absolute error first (at most 3).
    pub worst: Vec<ElementCheck>,
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
    /// Whether every parameter passed.
    pub fn passed(&self) -> bool {
        self.params.iter().all(|p| p.passed)
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
            let abs_error = (a - numeric).abs();
            let scale = a.abs().max(numeric.abs());
            let rel_error = if scale == 0.0 { 0.0 } else { abs_error / scale };
            checks.push(ElementCheck {
                index: e,
                analytic: a,
                numeric,
                abs_error,
                rel_error,
                kink,
            });
        }
        let counted: Vec<&ElementCheck> = checks.iter().filter(|c| !c.kink).collect();
        let passed = counted
            .iter()
            .all(|c| c.abs_error <= opts.atol + opts.rtol * c.numeric.abs());
        let max_abs_error = counted.iter().map(|c| c.abs_error).fold(0.0, f64::max);
        let max_rel_error = counted.iter().map(|c| c.rel_error).fold(0.0, f64::max);
        let mut worst: Vec<ElementCheck> = counted.iter().map(|c| (*c).clone()).collect();
        worst.sort_by(|a, b| b.abs_error.total_cmp(&a.abs_error));
        worst.truncate(3);
        reports.push(ParamCheck {
            name: name.clone(),
            checked: checks.len(),
            total,
            max_abs_error,
            max_rel_error,
            verdict: Verdict::from_relative_error(max_rel_error),
            kinks: checks.len() - counted.len(),
            passed,
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
    let params = chainrule_nn::Module::<f64>::parameters(&m64.mlp);
    let (mlp, kind) = (m64.mlp.clone(), m64.loss);
    let loss = loss_fn(move |g| {
        chainrule_nn::trainer::loss_on_rows(g, &mlp, kind, data, rows).map_err(engine_error)
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
    let mut graph = Graph::<f64>::new();
    let mlp = chainrule_nn::Mlp::new(
        &mut graph,
        model.mlp.spec.clone(),
        chainrule_nn::Init::Zeros,
        0,
    )?;
    let from = chainrule_nn::Module::<F>::parameters(&model.mlp);
    let to = chainrule_nn::Module::<f64>::parameters(&mlp);
    for ((_, src), (_, dst)) in from.iter().zip(&to) {
        graph.set_param(*dst, &model.graph.param_value(*src)?.cast::<f64>())?;
    }
    Ok(chainrule_nn::trainer::Model {
        graph,
        mlp,
        loss: model.loss,
        standardizer: model.standardizer.clone(),
    })
}
