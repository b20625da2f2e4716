//! The mathematics of each operation as text: its forward formula, its
//! local derivative `∂out/∂input` (for elementwise operations) and the
//! gradient it sends back to each input (the vector-Jacobian product of its
//! backward rule).
//!
//! Only text lives here: the numbers of every local derivative come from
//! the engine's own backward rules ([`chainrule::Graph::local_derivatives`]).
//! Every `match` over [`Op`] is exhaustive, so an operation added to the
//! engine does not compile until it has its text.
//!
//! Names passed in are the names of the nodes (`x`, `z1`, `x + y`); a name
//! that is not atomic is put in parentheses where the formula needs it.

use chainrule::{BiasAct, Op};

pub use crate::number::{num, num_digits};

/// Whether `s` can stand next to an operator without parentheses: no
/// spaces and no operator outside parentheses.
pub fn is_atomic(s: &str) -> bool {
    // A gradient `∂f/∂x` or `∂f/∂(x + y)` is one symbol.
    if let Some(rest) = s.strip_prefix('∂') {
        if let Some((_, of)) = rest.split_once("/∂") {
            return is_simple(of) || (of.starts_with('(') && of.ends_with(')') && is_atomic(of));
        }
    }
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ' ' | '+' | '−' | '-' | '·' | '⊙' | '/' | '*' | '^' if depth == 0 => return false,
            _ => {}
        }
    }
    !s.is_empty()
}

/// Whether `s` is a plain name (letters, digits 0–9, `_`, `.`, primes).
/// A superscript is not part of a name: `x²` is a power, so that `∂f/∂x²`
/// (which reads as a second derivative) is written `∂f/∂(x²)`.
pub fn is_simple(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphabetic() || c.is_ascii_digit() || matches!(c, '_' | '.' | '\''))
}

/// The gradient of `of` with respect to `name`: `∂f/∂x`, `∂f/∂(x + y)`,
/// `∂f/∂(x²)`.
pub fn grad_text(of: &str, name: &str) -> String {
    if is_simple(name) {
        format!("∂{of}/∂{name}")
    } else {
        format!("∂{of}/∂({name})")
    }
}

/// The local derivative of node `of` with respect to its input `name`:
/// `∂z1/∂x`, `∂(x²)/∂x`, `∂f/∂(exp(x))`.
pub fn partial_text(of: &str, name: &str) -> String {
    let of = if is_simple(of) {
        of.to_string()
    } else {
        format!("({of})")
    };
    grad_text(&of, name)
}

/// Parenthesizes `s` only when it is a sum or difference at top level (an
/// operand of `+` or `−`).
pub fn wrap_sum(s: &str) -> String {
    let mut depth = 0i32;
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            '+' | '−' if depth == 0 && i > 0 => return format!("({s})"),
            '-' if depth == 0 && i > 0 && chars[i - 1] == ' ' => return format!("({s})"),
            _ => {}
        }
    }
    s.to_string()
}

/// `s`, in parentheses unless atomic.
pub fn wrap(s: &str) -> String {
    if is_atomic(s) {
        s.to_string()
    } else {
        format!("({s})")
    }
}

/// The product of two factors as text, dropping factors of 1 and folding −1.
fn times(a: &str, b: &str, sym: &str) -> String {
    match (a, b) {
        ("1", _) => b.to_string(),
        (_, "1") => a.to_string(),
        ("−1", _) => format!("−{}", wrap(b)),
        (_, "−1") => format!("−{}", wrap(a)),
        _ => format!("{}{sym}{}", wrap(a), wrap(b)),
    }
}

fn superscript(p: f64) -> Option<&'static str> {
    if p == 2.0 {
        Some("²")
    } else if p == 3.0 {
        Some("³")
    } else {
        None
    }
}

fn power(a: &str, p: f64) -> String {
    match superscript(p) {
        Some(s) => format!("{}{s}", wrap(a)),
        None if p == 1.0 => a.to_string(),
        None => format!("{}^{}", wrap(a), wrap(&num(p))),
    }
}

/// The symbol of an elementwise product: `·` for scalars, `⊙` for tensors.
pub fn prod_sym(scalar: bool) -> &'static str {
    if scalar {
        "·"
    } else {
        "⊙"
    }
}

fn t(s: &str, on: bool) -> String {
    if on {
        format!("{}ᵀ", wrap(s))
    } else {
        s.to_string()
    }
}

/// A short phrase saying what the operation does.
pub fn describe(op: Op) -> String {
    match op {
        Op::Leaf => "input".into(),
        Op::Param => "parameter".into(),
        Op::Add => "add".into(),
        Op::Sub => "subtract".into(),
        Op::Mul => "multiply (elementwise)".into(),
        Op::Div => "divide (elementwise)".into(),
        Op::Neg => "negate".into(),
        Op::AddScalar(_) => "add a constant".into(),
        Op::MulScalar(_) => "scale by a constant".into(),
        Op::PowScalar(_) => "power with a constant exponent".into(),
        Op::Pow => "power".into(),
        Op::Exp => "exponential".into(),
        Op::Log => "natural logarithm".into(),
        Op::Sqrt => "square root".into(),
        Op::Abs => "absolute value".into(),
        Op::Sign => "sign (no gradient)".into(),
        Op::Sin => "sine".into(),
        Op::Cos => "cosine".into(),
        Op::Sigmoid => "sigmoid".into(),
        Op::SigmoidBackward => "sigmoid's backward".into(),
        Op::Tanh => "tanh".into(),
        Op::TanhBackward => "tanh's backward".into(),
        Op::Relu => "ReLU".into(),
        Op::LeakyRelu(s) => format!("leaky ReLU (slope {})", num(s)),
        Op::Softplus => "softplus".into(),
        Op::Clamp(lo, hi) => format!("clamp to [{}, {}]", num(lo), num(hi)),
        Op::ClampMask(..) => "clamp mask (no gradient)".into(),
        Op::StepMask(_) => "step mask (no gradient)".into(),
        Op::MatMul { .. } => "matrix product".into(),
        Op::BiasAct(BiasAct::Identity) => "add the bias row".into(),
        Op::BiasAct(act) => format!("add the bias row, then {}", act.name()),
        Op::Reshape => "reshape".into(),
        Op::Permute(_) => "permute axes".into(),
        Op::BroadcastTo => "broadcast".into(),
        Op::SumTo => "sum back to a smaller shape".into(),
        Op::Detach => "detach (no gradient)".into(),
        Op::SumAxis { axis, .. } => format!("sum over axis {axis}"),
        Op::MaxAxis { axis, .. } => format!("maximum over axis {axis}"),
        Op::ArgMaxMask { axis } => format!("argmax mask over axis {axis} (no gradient)"),
        Op::Softmax { axis } => format!("softmax over axis {axis}"),
        Op::LogSoftmax { axis } => format!("log-softmax over axis {axis}"),
        Op::GatherRows { .. } => "pick each row's label entry".into(),
        Op::ScatterRows { .. } => "scatter into each row's label entry".into(),
        Op::Concat { axis } => format!("concatenate along axis {axis}"),
        Op::Slice { axis, .. } => format!("slice along axis {axis}"),
        Op::Pad { axis, .. } => format!("pad with zeros along axis {axis}"),
        Op::MseLoss { mean: true } => "mean squared error".into(),
        Op::MseLoss { mean: false } => "sum of squared errors".into(),
        Op::CrossEntropy { mean: true, .. } => "softmax cross-entropy (mean over rows)".into(),
        Op::CrossEntropy { mean: false, .. } => "softmax cross-entropy (sum over rows)".into(),
        Op::Custom(_) => "custom operation".into(),
        Op::Conv2d(_) => "2-D convolution".into(),
        Op::Conv2dInputGrad { .. } => "2-D convolution's input gradient".into(),
        Op::Conv2dWeightGrad { .. } => "2-D convolution's weight gradient".into(),
        Op::MaxPool2d(_) => "2-D max pooling".into(),
        Op::MaxPool2dScatter(_) => "scatter to each window's maximum".into(),
        Op::MaxPool2dGather(_) => "gather at each window's maximum".into(),
        Op::AvgPool2d(_) => "2-D average pooling".into(),
        Op::AvgPool2dAdjoint { .. } => "spread over each pooling window".into(),
    }
}

/// The forward formula of `op` applied to the named inputs (`scalar`: the
/// output is a single number, so products are written `·`, else `⊙`).
pub fn forward(op: Op, inputs: &[&str], scalar: bool) -> String {
    let a = inputs.first().copied().unwrap_or("?");
    let b = inputs.get(1).copied().unwrap_or(a);
    let same = inputs.len() == 2 && inputs[0] == inputs[1];
    let x = prod_sym(scalar);
    match op {
        Op::Leaf | Op::Param => a.to_string(),
        Op::Add => format!("{} + {}", wrap_sum(a), wrap_sum(b)),
        Op::Sub => format!("{} − {}", wrap_sum(a), wrap_sum(b)),
        Op::Mul if same => power(a, 2.0),
        Op::Mul => format!("{}{x}{}", wrap(a), wrap(b)),
        Op::Div => format!("{} / {}", wrap(a), wrap(b)),
        Op::Neg => format!("−{}", wrap(a)),
        Op::AddScalar(s) if s < 0.0 => format!("{} − {}", wrap_sum(a), num(-s)),
        Op::AddScalar(s) => format!("{} + {}", wrap_sum(a), num(s)),
        Op::MulScalar(s) => format!("{}·{}", wrap(&num(s)), wrap(a)),
        Op::PowScalar(p) => power(a, p),
        Op::Pow => format!("{}^{}", wrap(a), wrap(b)),
        Op::Exp => format!("exp({a})"),
        Op::Log => format!("log({a})"),
        Op::Sqrt => format!("√{}", wrap(a)),
        Op::Abs => format!("abs({a})"),
        Op::Sign => format!("sign({a})"),
        Op::Sin => format!("sin({a})"),
        Op::Cos => format!("cos({a})"),
        Op::Sigmoid => format!("σ({a})"),
        Op::SigmoidBackward => format!("{}{x}{}{x}(1 − {})", wrap(a), wrap(b), wrap(b)),
        Op::Tanh => format!("tanh({a})"),
        Op::TanhBackward => format!("{}{x}(1 − {}²)", wrap(a), wrap(b)),
        Op::Relu => format!("relu({a})"),
        Op::LeakyRelu(s) => format!("leaky_relu({a}, {})", num(s)),
        Op::Softplus => format!("softplus({a})"),
        Op::Clamp(lo, hi) => format!("clamp({a}, {}, {})", num(lo), num(hi)),
        Op::ClampMask(lo, hi) => format!("[{} ≤ {a} ≤ {}]", num(lo), num(hi)),
        Op::StepMask(_) => format!("[{a} > 0]"),
        Op::MatMul { ta, tb } => format!("{}·{}", t(a, ta), t(b, tb)),
        Op::BiasAct(BiasAct::Identity) => format!("{} + {}", wrap_sum(a), wrap_sum(b)),
        Op::BiasAct(BiasAct::Sigmoid) => format!("σ({a} + {b})"),
        Op::BiasAct(act) => format!("{}({a} + {b})", act.name()),
        Op::Reshape => format!("reshape({a})"),
        Op::Permute(_) => format!("permute({a})"),
        Op::BroadcastTo => format!("bcast({a})"),
        Op::SumTo => format!("sum_to({a})"),
        Op::Detach => format!("detach({a})"),
        Op::SumAxis { .. } => format!("Σ {}", wrap(a)),
        Op::MaxAxis { .. } => format!("max({a})"),
        Op::ArgMaxMask { .. } => format!("argmax_mask({a})"),
        Op::Softmax { .. } => format!("softmax({a})"),
        Op::LogSoftmax { .. } => format!("log_softmax({a})"),
        Op::GatherRows { .. } => format!("{}[i, labelᵢ]", wrap(a)),
        Op::ScatterRows { .. } => format!("scatter({a})"),
        Op::Concat { .. } => format!("concat({a}, {b})"),
        Op::Slice { .. } => format!("slice({a})"),
        Op::Pad { .. } => format!("pad({a})"),
        Op::MseLoss { mean: true } => format!("mean(({} − {})²)", wrap_sum(a), wrap_sum(b)),
        Op::MseLoss { mean: false } => format!("Σ ({} − {})²", wrap_sum(a), wrap_sum(b)),
        Op::CrossEntropy { mean: true, .. } => {
            format!("mean(logsumexp({a}) − {}[i, labelᵢ])", wrap(a))
        }
        Op::CrossEntropy { mean: false, .. } => {
            format!("Σ (logsumexp({a}) − {}[i, labelᵢ])", wrap(a))
        }
        Op::Custom(_) => format!("{}({})", op.name(), inputs.join(", ")),
        Op::Conv2d(_) => format!("conv2d({a}, {b})"),
        Op::Conv2dInputGrad { .. } => format!("conv2d_input_grad({a}, {b})"),
        Op::Conv2dWeightGrad { .. } => format!("conv2d_weight_grad({a}, {b})"),
        Op::MaxPool2d(_) => format!("max_pool2d({a})"),
        Op::MaxPool2dScatter(_) => format!("max_pool2d_scatter({a}, {b})"),
        Op::MaxPool2dGather(_) => format!("max_pool2d_gather({a}, {b})"),
        Op::AvgPool2d(_) => format!("avg_pool2d({a})"),
        Op::AvgPool2dAdjoint { .. } => format!("avg_pool2d_adjoint({a})"),
    }
}

/// The local derivative `∂out/∂input[position]` of an elementwise
/// operation (or of the mean squared error, one number per element), in
/// terms of its inputs and its output `out`; `None` for operations whose
/// Jacobian is not diagonal (see [`backward`]). `scalar`: the values are
/// single numbers, so products of them are written `·`, else `⊙`.
pub fn local(op: Op, position: usize, inputs: &[&str], out: &str, scalar: bool) -> Option<String> {
    let x = prod_sym(scalar);
    let raw_a = inputs.first().copied().unwrap_or("?");
    let raw_b = inputs.get(1).copied().unwrap_or(raw_a);
    let (a, b, o) = (wrap(raw_a), wrap(raw_b), wrap(out));
    let first = position == 0;
    Some(match op {
        Op::Add | Op::AddScalar(_) => "1".into(),
        Op::Sub if first => "1".into(),
        Op::Sub => "−1".into(),
        Op::Mul if first => raw_b.to_string(),
        Op::Mul => raw_a.to_string(),
        Op::Div if first => format!("1/{b}"),
        Op::Div => format!("−{a}/{b}²"),
        Op::Neg => "−1".into(),
        Op::MulScalar(s) => num(s),
        Op::PowScalar(2.0) => format!("2·{a}"),
        Op::PowScalar(p) => format!("{}·{}", wrap(&num(p)), power(raw_a, p - 1.0)),
        Op::Pow if first => format!("{b}{x}{a}^({} − 1)", wrap_sum(raw_b)),
        Op::Pow => format!("{o}{x}log({raw_a})"),
        Op::Exp => format!("exp({raw_a})"),
        Op::Log => format!("1/{a}"),
        Op::Sqrt => format!("1/(2·{o})"),
        Op::Abs => format!("sign({raw_a})"),
        Op::Sin => format!("cos({raw_a})"),
        Op::Cos => format!("−sin({raw_a})"),
        Op::Sigmoid => format!("{o}{x}(1 − {o})"),
        Op::Tanh => format!("1 − {o}²"),
        Op::Relu => format!("[{raw_a} > 0]"),
        Op::LeakyRelu(s) => format!("1 if {raw_a} > 0 else {}", num(s)),
        Op::Softplus => format!("σ({raw_a})"),
        Op::Clamp(lo, hi) => format!("[{} ≤ {raw_a} ≤ {}]", num(lo), num(hi)),
        Op::SigmoidBackward if first => format!("{b}{x}(1 − {b})"),
        Op::SigmoidBackward => format!("{a}{x}(1 − 2·{b})"),
        Op::TanhBackward if first => format!("1 − {b}²"),
        Op::TanhBackward => format!("−2·{a}{x}{b}"),
        Op::Sign | Op::ClampMask(..) | Op::StepMask(_) | Op::Detach => "0".into(),
        Op::MseLoss { mean } => {
            let d = format!("({} − {})", wrap_sum(raw_a), wrap_sum(raw_b));
            let n = if mean { "/n" } else { "" };
            if first {
                format!("2·{d}{n}")
            } else {
                format!("−2·{d}{n}")
            }
        }
        Op::Leaf
        | Op::Param
        | Op::MatMul { .. }
        | Op::BiasAct(_)
        | Op::Reshape
        | Op::Permute(_)
        | Op::BroadcastTo
        | Op::SumTo
        | Op::SumAxis { .. }
        | Op::MaxAxis { .. }
        | Op::ArgMaxMask { .. }
        | Op::Softmax { .. }
        | Op::LogSoftmax { .. }
        | Op::GatherRows { .. }
        | Op::ScatterRows { .. }
        | Op::Concat { .. }
        | Op::Slice { .. }
        | Op::Pad { .. }
        | Op::CrossEntropy { .. }
        | Op::Custom(_)
        | Op::Conv2d(_)
        | Op::Conv2dInputGrad { .. }
        | Op::Conv2dWeightGrad { .. }
        | Op::MaxPool2d(_)
        | Op::MaxPool2dScatter(_)
        | Op::MaxPool2dGather(_)
        | Op::AvgPool2d(_)
        | Op::AvgPool2dAdjoint { .. } => return None,
    })
}

/// The gradient that `op` sends to its input at `position`, given the
/// gradient `g` of its output: the chain rule for this one step.
/// `scalar`: the output is a single number.
pub fn backward(
    op: Op,
    position: usize,
    inputs: &[&str],
    out: &str,
    g: &str,
    scalar: bool,
) -> String {
    if let Some(l) = local(op, position, inputs, out, scalar) {
        if l == "0" {
            return "0 (no gradient)".into();
        }
        return times(g, &l, prod_sym(scalar));
    }
    let a = inputs.first().copied().unwrap_or("?");
    let b = inputs.get(1).copied().unwrap_or(a);
    let first = position == 0;
    let gw = wrap(g);
    let gt = if is_simple(g) {
        format!("{g}ᵀ")
    } else {
        format!("({g})ᵀ")
    };
    let act_local = |act: BiasAct| match act {
        BiasAct::Identity => None,
        BiasAct::Relu => Some(format!("[{} > 0]", wrap(out))),
        BiasAct::Tanh => Some(format!("(1 − {}²)", wrap(out))),
        BiasAct::Sigmoid => Some(format!("{o}⊙(1 − {o})", o = wrap(out))),
    };
    match op {
        // out = act(a + b) with the bias row b added to every row.
        Op::BiasAct(act) => {
            let dz = match act_local(act) {
                Some(l) => format!("{gw}⊙{l}"),
                None => g.to_string(),
            };
            if first {
                dz
            } else {
                format!("Σ over rows of {dz}")
            }
        }
        // out = A'·B' with A' = Aᵀ if ta: ∂A' = G·B'ᵀ, ∂B' = A'ᵀ·G.
        Op::MatMul { ta, tb } => match (first, ta, tb) {
            (true, false, false) => format!("{gw}·{}", t(b, true)),
            (true, false, true) => format!("{gw}·{}", wrap(b)),
            (true, true, false) => format!("{}·{gt}", wrap(b)),
            (true, true, true) => format!("{}·{gt}", t(b, true)),
            (false, false, false) => format!("{}·{gw}", t(a, true)),
            (false, true, false) => format!("{}·{gw}", wrap(a)),
            (false, false, true) => format!("{gt}·{}", wrap(a)),
            (false, true, true) => format!("{gt}·{}", t(a, true)),
        },
        Op::Reshape => format!("{g} reshaped to {a}'s shape"),
        Op::Permute(_) => format!("permute⁻¹({g})"),
        Op::BroadcastTo => format!("sum_to({g}) (sum over the broadcast axes)"),
        Op::SumTo => format!("{g} copied to every broadcast element"),
        Op::SumAxis { .. } => format!("{g}, for each summed element"),
        Op::MaxAxis { .. } => format!("{g} at the maximum, 0 elsewhere"),
        Op::Softmax { .. } => format!("{o}⊙({g} − Σ {g}⊙{o})", o = wrap(out)),
        Op::LogSoftmax { .. } => format!("{g} − softmax({a})·Σ {g}"),
        Op::GatherRows { .. } => format!("{g} at [i, labelᵢ], 0 elsewhere"),
        Op::ScatterRows { .. } => format!("{gw}[i, labelᵢ]"),
        Op::Concat { .. } if first => format!("the part of {g} from {a}"),
        Op::Concat { .. } => format!("the part of {g} from {b}"),
        Op::Slice { .. } => format!("pad({g}) with zeros"),
        Op::Pad { .. } => format!("slice({g})"),
        Op::CrossEntropy { mean, .. } => {
            let n = if mean { " / rows" } else { "" };
            format!("(softmax({a}) − onehot(label))·{gw}{n}")
        }
        Op::Custom(_) => format!("its registered backward rule applied to {g}"),
        Op::Conv2d(_) if first => format!("conv2d_input_grad({g}, {b})"),
        Op::Conv2d(_) => format!("conv2d_weight_grad({a}, {g})"),
        Op::Conv2dInputGrad { .. } if first => format!("conv2d({g}, {b})"),
        Op::Conv2dInputGrad { .. } => format!("conv2d_weight_grad({g}, {a})"),
        Op::Conv2dWeightGrad { .. } if first => format!("conv2d_input_grad({b}, {g})"),
        Op::Conv2dWeightGrad { .. } => format!("conv2d({a}, {g})"),
        Op::MaxPool2d(_) => format!("{g} at each window's maximum of {a}, 0 elsewhere"),
        Op::MaxPool2dScatter(_) | Op::MaxPool2dGather(_) if first => {
            "0 (piecewise constant in the selection)".into()
        }
        Op::MaxPool2dScatter(_) => format!("{g} read at each window's maximum of {a}"),
        Op::MaxPool2dGather(_) => format!("{g} at each window's maximum of {a}, 0 elsewhere"),
        Op::AvgPool2d(_) => format!("{g} / (kh·kw) spread over each window"),
        Op::AvgPool2dAdjoint { .. } => format!("avg_pool2d({g})"),
        Op::Leaf | Op::Param | Op::ArgMaxMask { .. } => "0 (no gradient)".into(),
        // These have a local derivative's text, used above.
        Op::Add
        | Op::Sub
        | Op::Mul
        | Op::Div
        | Op::Neg
        | Op::AddScalar(_)
        | Op::MulScalar(_)
        | Op::PowScalar(_)
        | Op::Pow
        | Op::Exp
        | Op::Log
        | Op::Sqrt
        | Op::Abs
        | Op::Sign
        | Op::Sin
        | Op::Cos
        | Op::Sigmoid
        | Op::SigmoidBackward
        | Op::Tanh
        | Op::TanhBackward
        | Op::Relu
        | Op::LeakyRelu(_)
        | Op::Softplus
        | Op::Clamp(..)
        | Op::ClampMask(..)
        | Op::StepMask(_)
        | Op::Detach
        | Op::MseLoss { .. } => {
            let input = if first { a } else { b };
            format!("{gw}·{}", partial_text(out, input))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_six_significant_digits() {
        assert_eq!(num(0.0618193), "0.0618193");
        assert_eq!(num(-0.000448326), "-0.000448326");
        assert_eq!(num(1.105906), "1.10591");
        assert_eq!(num(3.0), "3");
        assert_eq!(num(-1e-7), "-1e-7");
        assert_eq!(num(2.5e12), "2.5e12");
        assert_eq!(num(f64::NAN), "NaN");
        assert_eq!(num(-0.0), "0");
    }

    #[test]
    fn wrapping_and_formulas() {
        assert!(is_atomic("σ(z1)"));
        assert!(is_atomic("x"));
        assert!(!is_atomic("x + y"));
        assert!(!is_atomic("-1"));
        assert_eq!(forward(Op::Add, &["x", "y"], true), "x + y");
        assert_eq!(
            forward(Op::Mul, &["x + y", "x − 1"], true),
            "(x + y)·(x − 1)"
        );
        assert_eq!(forward(Op::AddScalar(-1.0), &["x"], true), "x − 1");
        assert_eq!(
            forward(
                Op::MatMul {
                    ta: false,
                    tb: true
                },
                &["x", "W1"],
                false
            ),
            "x·W1ᵀ"
        );
        assert_eq!(forward(Op::Mul, &["d", "d"], false), "d²");
        assert_eq!(
            local(Op::Mul, 0, &["x + y", "x − 1"], "f", true).unwrap(),
            "x − 1"
        );
        assert_eq!(
            backward(Op::Mul, 1, &["a", "b"], "f", "∂f/∂f", true),
            "∂f/∂f·a"
        );
        assert_eq!(backward(Op::Add, 0, &["a", "b"], "f", "g", true), "g");
        assert_eq!(backward(Op::Sub, 1, &["a", "b"], "f", "g", true), "−g");
        assert_eq!(
            backward(
                Op::MatMul {
                    ta: false,
                    tb: true
                },
                0,
                &["x", "W1"],
                "z",
                "g",
                false
            ),
            "g·W1"
        );
        assert_eq!(
            backward(
                Op::MatMul {
                    ta: false,
                    tb: true
                },
                1,
                &["x", "W1"],
                "z",
                "g",
                false
            ),
            "gᵀ·x"
        );
    }
}
