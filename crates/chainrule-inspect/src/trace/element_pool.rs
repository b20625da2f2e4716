//! The text of one pooling output element: the window's values, which one
//! is the maximum (and takes the whole gradient), or the average (and its
//! equal shares), with the numbers filled in (see [`super::element_text`]).

use super::element::{factor, ravel, At, Line};
use super::element_text::{gx_line, x_name, Lines};
use super::*;
use chainrule_nn::arch::PoolSpec;
use chainrule_nn::Result as NnResult;

fn window(at: &At<'_, '_, '_>, p: &PoolSpec) -> Vec<Option<usize>> {
    let (c, i, j) = (at.index[0], at.index[1], at.index[2]);
    let (h, w) = (at.x_shape[1] as isize, at.x_shape[2] as isize);
    let mut out = Vec::new();
    for ki in 0..p.kernel[0] {
        for kj in 0..p.kernel[1] {
            let r = (i * p.stride[0] + ki) as isize - p.padding[0] as isize;
            let q = (j * p.stride[1] + kj) as isize - p.padding[1] as isize;
            out.push(
                (r >= 0 && q >= 0 && r < h && q < w)
                    .then(|| ravel(&[c, r as usize, q as usize], &at.x_shape)),
            );
        }
    }
    out
}

pub(super) fn max_pool(at: &At<'_, '_, '_>, p: &PoolSpec) -> NnResult<Lines> {
    let win = window(at, p);
    let mut best: Option<usize> = None;
    for &k in win.iter().flatten() {
        if best.is_none_or(|b| at.x[k] > at.x[b]) {
            best = Some(k);
        }
    }
    let mut f = vec![Line::note(format!(
        "y[c,i,j] = max of the {}×{} window (stride {}, padding {} counted as −∞)",
        p.kernel[0], p.kernel[1], p.stride[0], p.padding[0]
    ))];
    for k in &win {
        match k {
            Some(k) => f.push(Line::value(x_name(at, *k), at.x[*k])),
            None => f.push(Line::note("padding (−∞, never the max)")),
        }
    }
    let mut b = Vec::new();
    if let Some(m) = best {
        f.push(Line::new(
            "the max (the first of equal values wins, as PyTorch)",
            x_name(at, m),
            Some(at.x[m]),
        ));
        if let Some(gy) = at.gy {
            b.push(Line::new(
                format!("∂L/∂{} += ∂L/∂y (the max only)", x_name(at, m)),
                num(gy),
                Some(gy),
            ));
            b.push(Line::note(format!(
                "the other {} positions of the window get 0 from this output",
                win.len() - 1
            )));
        }
    }
    for k in win.iter().flatten() {
        b.extend(gx_line(at, *k, ", every window"));
    }
    Ok((f, b))
}

pub(super) fn avg_pool(at: &At<'_, '_, '_>, p: &PoolSpec) -> NnResult<Lines> {
    let win = window(at, p);
    let div = (p.kernel[0] * p.kernel[1]) as f64;
    let mut f = vec![Line::note(format!(
        "y[c,i,j] = (Σ window) / {} (the {}×{} window, padding counted as 0: count_include_pad)",
        num(div),
        p.kernel[0],
        p.kernel[1]
    ))];
    let mut sum = 0.0;
    for k in &win {
        match k {
            Some(k) => {
                f.push(Line::value(x_name(at, *k), at.x[*k]));
                sum += at.x[*k];
            }
            None => f.push(Line::value("padding (counted as 0)", 0.0)),
        }
    }
    f.push(Line::value("sum of the window", sum));
    f.push(Line::new(
        "sum / divisor",
        format!("{}/{}", factor(sum), num(div)),
        Some(sum / div),
    ));
    let mut b = Vec::new();
    if let Some(gy) = at.gy {
        b.push(Line::new(
            format!(
                "each of the {} positions gets ∂L/∂y / {}",
                win.len(),
                num(div)
            ),
            format!("{}/{}", factor(gy), num(div)),
            Some(gy / div),
        ));
    }
    for k in win.iter().flatten() {
        b.extend(gx_line(at, *k, ", every window"));
    }
    Ok((f, b))
}

pub(super) fn global_avg_pool(at: &At<'_, '_, '_>) -> NnResult<Lines> {
    let c = at.index[0];
    let n: usize = at.x_shape[1..].iter().product();
    let ch = &at.x[c * n..(c + 1) * n];
    let sum: f64 = ch.iter().sum();
    let f = vec![
        Line::note(format!("y[c] = (Σ x[c,·,·]) / {n}, the channel's mean")),
        Line::new(
            format!("x[{c}]"),
            fmt_values(&at.x_shape[1..], ch, Show { full: false }),
            None,
        ),
        Line::value("sum of the channel", sum),
        Line::new(
            "sum / divisor",
            format!("{}/{n}", factor(sum)),
            Some(sum / n as f64),
        ),
    ];
    let mut b = Vec::new();
    if let Some(gy) = at.gy {
        b.push(Line::new(
            format!("each of the {n} positions of channel {c} gets ∂L/∂y / {n}"),
            format!("{}/{n}", factor(gy)),
            Some(gy / n as f64),
        ));
    }
    if let Some(g) = &at.gx {
        b.push(Line::new(
            format!("∂L/∂x[{c}] (engine)"),
            fmt_values(
                &at.x_shape[1..],
                &g[c * n..(c + 1) * n],
                Show { full: false },
            ),
            None,
        ));
    }
    Ok((f, b))
}
