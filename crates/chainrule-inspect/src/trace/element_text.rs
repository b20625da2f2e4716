//! The text of one output element per layer kind, forward and backward,
//! with the numbers filled in (see [`super::element`]). Each function
//! returns the forward lines (the result line with the engine's value is
//! added by the caller) and the backward lines after `∂L/∂y`.
//!
//! Numbers are the engine's: values and gradients from the recorded graph,
//! an activation's local derivative from [`Graph::local_derivatives`]
//! (the operation's own backward rule). Products of two recorded numbers
//! (`w·x`, `∂L/∂y·x`) are multiplied out for display only.

use super::element::{factor, index_text, ravel, unravel, At, Line, Recorded};
use super::element_pool::{avg_pool, global_avg_pool, max_pool};
use super::*;
use chainrule_nn::network::{BatchNormLayer, ConvLayer, Layer, LayerNormLayer, LinearLayer};
use chainrule_nn::{Activation, Result as NnResult};

pub(super) type Lines = (Vec<Line>, Vec<Line>);

/// The element's lines for its layer kind.
pub fn element(at: &At<'_, '_, '_>) -> NnResult<Lines> {
    match &at.visit.layer {
        Layer::Conv2d(c) => conv(at, c),
        Layer::Linear(l) => linear(at, l),
        Layer::MaxPool2d(p) => max_pool(at, p),
        Layer::AvgPool2d(p) => avg_pool(at, p),
        Layer::GlobalAvgPool2d => global_avg_pool(at),
        Layer::Flatten => Ok(flatten(at)),
        Layer::BatchNorm(bn) => batch_norm(at, bn),
        Layer::LayerNorm(ln) => layer_norm(at, ln),
        Layer::Dropout { p, .. } => Ok(passthrough(
            at,
            &format!("dropout in evaluation mode is the identity (p = {p} in training)"),
        )),
        Layer::Activation(Activation::Identity) => Ok(passthrough(at, "the identity")),
        Layer::Activation(a) => activation(at, *a),
        Layer::Residual(_) => residual(at),
    }
}

/// `∂L/∂x[...]` of the input at flat position `i` from the engine, if the
/// input needs a gradient.
pub(super) fn gx_line(at: &At<'_, '_, '_>, i: usize, what: &str) -> Option<Line> {
    let g = at.gx.as_ref()?;
    let ix = index_text(&unravel(i, &at.x_shape));
    Some(Line::value(format!("∂L/∂x{ix} (engine{what})"), g[i]))
}

/// A parameter's values and gradient (zeros if it got none).
fn param(at: &At<'_, '_, '_>, p: chainrule::ParamId) -> NnResult<(Vec<f64>, Vec<f64>)> {
    let id = at.rec.param_id(p)?;
    let v = at.rec.value(id)?;
    let g = at.rec.grad(id).unwrap_or_else(|| vec![0.0; v.len()]);
    Ok((v, g))
}

/// One tap of a weighted sum: the weight's index and value, the input's
/// flat position and value.
struct Tap {
    /// `w[0,0,1,1]`, `W[5,0]`.
    w_index: String,
    w: f64,
    x_flat: usize,
    x: f64,
}

/// The lines of `y = b + Σ w·x` over `taps`, and its backward: what each
/// tap adds to `∂L/∂w` (`∂L/∂y·x`) and to `∂L/∂x` (`∂L/∂y·w`).
fn weighted_sum(
    at: &At<'_, '_, '_>,
    head: String,
    bias: Option<(String, f64)>,
    taps: &[Tap],
) -> Lines {
    let mut f = vec![Line::note(head)];
    let mut sum = 0.0;
    if let Some((name, b)) = &bias {
        f.push(Line::value(format!("bias {name}"), *b));
        sum += b;
    }
    for t in taps {
        let xi = index_text(&unravel(t.x_flat, &at.x_shape));
        f.push(Line::new(
            format!("{}·x{xi}", t.w_index),
            format!("{}·{}", factor(t.w), factor(t.x)),
            Some(t.w * t.x),
        ));
        sum += t.w * t.x;
    }
    let terms = taps.len() + usize::from(bias.is_some());
    f.push(Line::new(
        "sum of the terms above",
        format!("{terms} terms"),
        Some(sum),
    ));
    let mut b = Vec::new();
    let Some(gy) = at.gy else { return (f, b) };
    if let Some((name, _)) = &bias {
        b.push(Line::new(format!("∂L/∂{name} += ∂L/∂y"), num(gy), Some(gy)));
    }
    for t in taps {
        b.push(Line::new(
            format!(
                "∂L/∂{} += ∂L/∂y·x{}",
                t.w_index,
                index_text(&unravel(t.x_flat, &at.x_shape))
            ),
            format!("{}·{}", factor(gy), factor(t.x)),
            Some(gy * t.x),
        ));
    }
    if at.gx.is_some() {
        for t in taps {
            b.push(Line::new(
                format!(
                    "∂L/∂x{} += ∂L/∂y·{}",
                    index_text(&unravel(t.x_flat, &at.x_shape)),
                    t.w_index
                ),
                format!("{}·{}", factor(gy), factor(t.w)),
                Some(gy * t.w),
            ));
        }
    } else {
        b.push(Line::note("the input x needs no gradient"));
    }
    b.push(Line::note(
        "each += is this element's share; the totals add every output the parameter or input feeds",
    ));
    (f, b)
}

fn conv(at: &At<'_, '_, '_>, c: &ConvLayer) -> NnResult<Lines> {
    let s = &c.spec;
    let (co, i, j) = (at.index[0], at.index[1], at.index[2]);
    let [cin, h, w] = [at.x_shape[0], at.x_shape[1], at.x_shape[2]];
    let (wv, wg) = param(at, c.weight)?;
    let cg = cin / s.groups.max(1);
    let og = s.out_channels / s.groups.max(1);
    let first = (co / og.max(1)) * cg;
    let [kh, kw] = s.kernel;
    let mut taps = Vec::new();
    let mut padding = 0;
    for ci in 0..cg {
        for ki in 0..kh {
            for kj in 0..kw {
                let r = (i * s.stride[0] + ki * s.dilation[0]) as isize - s.padding[0] as isize;
                let q = (j * s.stride[1] + kj * s.dilation[1]) as isize - s.padding[1] as isize;
                if r < 0 || q < 0 || r as usize >= h || q as usize >= w {
                    padding += 1;
                    continue;
                }
                let x_flat = ravel(&[first + ci, r as usize, q as usize], &at.x_shape);
                let wi = ((co * cg + ci) * kh + ki) * kw + kj;
                taps.push(Tap {
                    w_index: format!("w{}", index_text(&[co, ci, ki, kj])),
                    w: wv[wi],
                    x_flat,
                    x: at.x[x_flat],
                });
            }
        }
    }
    let bias = match c.bias {
        Some(b) => {
            let (bv, _) = param(at, b)?;
            Some((format!("b[{co}]"), bv[co]))
        }
        None => None,
    };
    // With groups, output channel c reads the input channels of its group:
    // g·C_in/groups + ci, g = c ÷ (C_out/groups).
    let channel = if s.groups > 1 {
        format!("{}·{cg}+ci", co / og.max(1))
    } else {
        "ci".to_string()
    };
    let head = format!(
        "y[c,i,j] = {}Σ w[c,ci,ki,kj]·x[{channel}, i·{}−{}+ki·{}, j·{}−{}+kj·{}]",
        if bias.is_some() { "b[c] + " } else { "" },
        s.stride[0],
        s.padding[0],
        s.dilation[0],
        s.stride[1],
        s.padding[1],
        s.dilation[1]
    );
    let (mut f, mut b) = weighted_sum(at, head, bias, &taps);
    if padding > 0 {
        let at_sum = f.len() - 1;
        f.insert(
            at_sum,
            Line::note(format!(
                "{padding} taps fall on the padding (x = 0) and add nothing"
            )),
        );
    }
    if at.gy.is_some() {
        let kernel = &wg[co * cg * kh * kw..(co + 1) * cg * kh * kw];
        b.push(Line::new(
            format!("∂L/∂w[{co}] (engine, every output position)"),
            fmt_values(&[cg, kh, kw], kernel, Show { full: false }),
            None,
        ));
    }
    Ok((f, b))
}

fn linear(at: &At<'_, '_, '_>, l: &LinearLayer) -> NnResult<Lines> {
    let j = at.index[0];
    let (wv, _) = param(at, l.weight)?;
    let taps: Vec<Tap> = (0..l.in_features)
        .map(|i| Tap {
            w_index: format!("W{}", index_text(&[j, i])),
            w: wv[j * l.in_features + i],
            x_flat: i,
            x: at.x[i],
        })
        .collect();
    let bias = match l.bias {
        Some(b) => Some((format!("b[{j}]"), param(at, b)?.0[j])),
        None => None,
    };
    let head = format!(
        "z_j = {}Σ W[j,i]·x_i (the pre-activation; an activation after it is its own layer)",
        if bias.is_some() { "b_j + " } else { "" }
    );
    Ok(weighted_sum(at, head, bias, &taps))
}

/// The window of a pooling output: each position's flat index in the
/// input, or `None` on the padding.
pub(super) fn x_name(at: &At<'_, '_, '_>, flat: usize) -> String {
    format!("x{}", index_text(&unravel(flat, &at.x_shape)))
}

fn flatten(at: &At<'_, '_, '_>) -> Lines {
    let f = vec![Line::new(
        format!("y[{}] = {} (row-major)", at.flat, x_name(at, at.flat)),
        "",
        Some(at.x[at.flat]),
    )];
    let b = gx_line(at, at.flat, ": ∂L/∂y passes through")
        .into_iter()
        .collect();
    (f, b)
}

fn passthrough(at: &At<'_, '_, '_>, what: &str) -> Lines {
    let f = vec![Line::new(
        format!("y = x: {what}"),
        x_name(at, at.flat),
        Some(at.x[at.flat]),
    )];
    let b = gx_line(at, at.flat, ": ∂L/∂y passes through")
        .into_iter()
        .collect();
    (f, b)
}

/// `(x − μ)/√(σ² + ε)·γ + β` with the numbers, and the backward.
fn normalized(at: &At<'_, '_, '_>, mean: f64, var: f64, eps: f64, gamma: f64, beta: f64) -> Lines {
    let x = at.x[at.flat];
    let xhat = (x - mean) / (var + eps).sqrt();
    let f = vec![
        Line::new(
            "x̂ = (x − μ)/√(σ² + ε)",
            format!(
                "({} − {})/√({} + {})",
                num(x),
                factor(mean),
                num(var),
                num(eps)
            ),
            Some(xhat),
        ),
        Line::new(
            "y = x̂·γ + β",
            format!("{}·{} + {}", factor(xhat), factor(gamma), factor(beta)),
            Some(xhat * gamma + beta),
        ),
    ];
    (f, Vec::new())
}

fn batch_norm(at: &At<'_, '_, '_>, bn: &BatchNormLayer) -> NnResult<Lines> {
    let c = at.index[0];
    let buffers = &at.rec.network.batch_norm_buffers()[bn.index];
    let (mean, var) = (buffers.running_mean[c], buffers.running_var[c]);
    let gamma = match bn.gamma {
        Some(p) => param(at, p)?.0[c],
        None => 1.0,
    };
    let beta = match bn.beta {
        Some(p) => param(at, p)?.0[c],
        None => 0.0,
    };
    let eps = bn.norm.eps;
    let mut f = vec![
        Line::note(
            "evaluation mode: y = (x − running_mean[c]) / √(running_var[c] + ε) · γ[c] + β[c]",
        ),
        Line::value(x_name(at, at.flat), at.x[at.flat]),
        Line::value(format!("running_mean[{c}] μ"), mean),
        Line::value(format!("running_var[{c}] σ²"), var),
        Line::value("ε", eps),
        Line::value(format!("γ[{c}]"), gamma),
        Line::value(format!("β[{c}]"), beta),
    ];
    let (more, _) = normalized(at, mean, var, eps, gamma, beta);
    f.extend(more);
    let mut b = Vec::new();
    if let Some(gy) = at.gy {
        let scale = gamma / (var + eps).sqrt();
        let xhat = (at.x[at.flat] - mean) / (var + eps).sqrt();
        if let Some(g) = &at.gx {
            b.push(Line::new(
                format!("∂L/∂{} = ∂L/∂y·γ/√(σ² + ε) (engine)", x_name(at, at.flat)),
                format!("{}·{}", factor(gy), factor(scale)),
                Some(g[at.flat]),
            ));
        }
        if bn.gamma.is_some() {
            b.push(Line::new(
                format!("∂L/∂γ[{c}] += ∂L/∂y·x̂"),
                format!("{}·{}", factor(gy), factor(xhat)),
                Some(gy * xhat),
            ));
            b.push(Line::new(format!("∂L/∂β[{c}] += ∂L/∂y"), num(gy), Some(gy)));
        }
    }
    Ok((f, b))
}

fn layer_norm(at: &At<'_, '_, '_>, ln: &LayerNormLayer) -> NnResult<Lines> {
    let m: usize = at.x_shape[at.x_shape.len() - ln.axes..].iter().product();
    let start = at.flat / m * m;
    let group = &at.x[start..start + m];
    let mean = group.iter().sum::<f64>() / m as f64;
    let var = group.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / m as f64;
    let k = at.flat - start;
    let gamma = match ln.gamma {
        Some(p) => param(at, p)?.0[k],
        None => 1.0,
    };
    let beta = match ln.beta {
        Some(p) => param(at, p)?.0[k],
        None => 0.0,
    };
    let normalized_shape = &at.x_shape[at.x_shape.len() - ln.axes..];
    let mut f = vec![
        Line::note(format!(
            "y = (x − mean)/√(var + ε)·γ + β over the last {} axes {}",
            ln.axes,
            dims_text(normalized_shape)
        )),
        Line::new(
            "the normalized values",
            fmt_values(normalized_shape, group, Show { full: false }),
            None,
        ),
        Line::new(
            "mean μ = Σx / n",
            format!("{}/{m}", factor(group.iter().sum::<f64>())),
            Some(mean),
        ),
        Line::new("variance σ² = Σ(x − μ)² / n (biased)", "", Some(var)),
        Line::value("ε", ln.norm.eps),
    ];
    let (more, _) = normalized(at, mean, var, ln.norm.eps, gamma, beta);
    f.extend(more);
    let b = gx_line(
        at,
        at.flat,
        "; every value of the group moves μ and σ², so every ∂L/∂y of the group reaches it",
    )
    .into_iter()
    .collect();
    Ok((f, b))
}

/// The derivative of an activation as text, in terms of `a` and `z`.
fn derivative_text(a: Activation) -> String {
    match a {
        Activation::Sigmoid => "a·(1 − a)".into(),
        Activation::Tanh => "1 − a²".into(),
        Activation::Relu => "1 if z > 0, else 0".into(),
        Activation::LeakyRelu(s) => format!("1 if z > 0, else {}", num(s)),
        Activation::Identity => "1".into(),
    }
}

fn activation(at: &At<'_, '_, '_>, a: Activation) -> NnResult<Lines> {
    let z = at.x[at.flat];
    let name = a.name();
    let f = vec![Line::new(
        format!("a = {name}(z), z = {}", x_name(at, at.flat)),
        format!("{name}({})", num(z)),
        None,
    )];
    // The local derivative from the operation's own backward rule.
    let g = at.rec.g;
    let out = g.var(at.visit.output)?;
    let local = g.local_derivatives(out)?[0]
        .map(|d| d.to_vec())
        .and_then(|d| d.get(at.flat).copied());
    let mut b = Vec::new();
    if let Some(d) = local {
        b.push(Line::new(
            format!(
                "local derivative ∂a/∂z = {} (engine's backward rule)",
                derivative_text(a)
            ),
            "",
            Some(d),
        ));
        if let (Some(gy), Some(gx)) = (at.gy, &at.gx) {
            b.push(Line::new(
                "∂L/∂z = ∂L/∂a·∂a/∂z (engine)",
                format!("{}·{}", factor(gy), factor(d)),
                Some(gx[at.flat]),
            ));
        }
    } else {
        b.extend(gx_line(at, at.flat, ""));
    }
    Ok((f, b))
}

fn residual(at: &At<'_, '_, '_>) -> NnResult<Lines> {
    let g = at.rec.g;
    let infos = g.nodes();
    let add = &infos[at.visit.output];
    let body_id = add.inputs[1].unwrap_or(at.visit.output);
    let body = at.rec.value(body_id)?;
    let x = at.x[at.flat];
    let xi = x_name(at, at.flat);
    let f = vec![
        Line::note("y = x + body(x)"),
        Line::value(xi.clone(), x),
        Line::value(format!("body(x){}", index_text(&at.index)), body[at.flat]),
        Line::new(
            "x + body(x)",
            format!("{} + {}", num(x), factor(body[at.flat])),
            Some(x + body[at.flat]),
        ),
    ];
    let mut b = Vec::new();
    let Some(node) = at.rec.nodes.get(&at.visit.input) else {
        return Ok((f, b));
    };
    let Some(total) = &node.grad else {
        b.push(Line::note("the input x needs no gradient"));
        return Ok((f, b));
    };
    let (mut skip, mut through) = (0.0, 0.0);
    for c in &node.incoming {
        if c.from == at.visit.output {
            skip += c.value[at.flat];
        } else {
            through += c.value[at.flat];
        }
    }
    b.push(Line::new(
        format!("skip path: ∂L/∂y·1 reaches {xi} (engine)"),
        "",
        Some(skip),
    ));
    b.push(Line::new(
        format!("body path: back through the body's layers to {xi} (engine)"),
        "",
        Some(through),
    ));
    b.push(Line::new(
        format!("∂L/∂{xi} = skip + body: two paths add up (engine)"),
        format!("{} + {}", num(skip), factor(through)),
        Some(total[at.flat]),
    ));
    Ok((f, b))
}

/// A whole channel of a multi-axis output, summarized.
pub fn channel(
    rec: &Recorded<'_, '_>,
    visit: &Visit,
    c: usize,
    y: &[f64],
    gy: Option<&[f64]>,
) -> NnResult<Lines> {
    let shape = &visit.row.output;
    let inner = &shape[1..];
    let n: usize = inner.iter().product();
    let show = Show { full: false };
    let mut f = vec![Line::new(
        format!("y[{c}] (engine)"),
        fmt_values(inner, &y[c * n..(c + 1) * n], show),
        None,
    )];
    let mut b = Vec::new();
    if let Some(g) = gy {
        b.push(Line::new(
            format!("∂L/∂y[{c}] (engine)"),
            fmt_values(inner, &g[c * n..(c + 1) * n], show),
            None,
        ));
    }
    if let Layer::Conv2d(conv) = &visit.layer {
        let id = rec.param_id(conv.weight)?;
        let w = rec.value(id)?;
        let k = w.len() / conv.spec.out_channels;
        let kshape = [
            k / (conv.spec.kernel[0] * conv.spec.kernel[1]),
            conv.spec.kernel[0],
            conv.spec.kernel[1],
        ];
        f.insert(
            0,
            Line::new(
                format!("kernel w[{c}]"),
                fmt_values(&kshape, &w[c * k..(c + 1) * k], show),
                None,
            ),
        );
        if let Some(bias) = conv.bias {
            let bv = rec.value(rec.param_id(bias)?)?;
            f.insert(1, Line::value(format!("bias b[{c}]"), bv[c]));
            if let Some(g) = rec.grad(rec.param_id(bias)?) {
                b.push(Line::value(
                    format!("∂L/∂b[{c}] (engine, the channel's ∂L/∂y summed)"),
                    g[c],
                ));
            }
        }
        if let Some(g) = rec.grad(id) {
            b.push(Line::new(
                format!("∂L/∂w[{c}] (engine)"),
                fmt_values(&kshape, &g[c * k..(c + 1) * k], show),
                None,
            ));
        }
    }
    Ok((f, b))
}
