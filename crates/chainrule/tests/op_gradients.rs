//! Every operation's gradient against central finite differences, first
//! and second order, from one table of rows.
//!
//! Each row is a small function of one or more f64 inputs built around one
//! operation (with broadcasting, repeated inputs, transposes, batches and
//! every axis). For each row the first-order gradient (`check_gradients`)
//! and the gradient of a recorded backward pass (`check_second_order`) must
//! pass with `TABLE_TOLERANCES` (measured; 100× tighter than PyTorch's
//! defaults). A second test builds every row's graph
//! once, runs a backward pass with `create_graph`, and asserts that every
//! name of `all_op_names()` was seen on some tape: an operation added to the
//! engine without a row here makes it fail.

use chainrule::gradcheck::{check_gradients, check_second_order, GradcheckOptions};
use chainrule::ops::all_op_names;
use chainrule::{rng, BiasAct, Graph, Result, Tensor, Var};
use std::collections::BTreeSet;

/// The function of a row: input handles to an output handle on one graph.
type RowFn = Box<dyn for<'g> Fn(&'g Graph<f64>, &[Var<'g, f64>]) -> Result<Var<'g, f64>>>;

struct Row {
    name: &'static str,
    inputs: Vec<Tensor<f64>>,
    f: RowFn,
}

fn row(
    name: &'static str,
    inputs: Vec<Tensor<f64>>,
    f: impl for<'g> Fn(&'g Graph<f64>, &[Var<'g, f64>]) -> Result<Var<'g, f64>> + 'static,
) -> Row {
    Row {
        name,
        inputs,
        f: Box::new(f),
    }
}

// ----- inputs -----------------------------------------------------------------

/// Explicit values.
fn t(data: &[f64], dims: &[usize]) -> Tensor<f64> {
    Tensor::from_f64(data, dims).unwrap()
}

/// Uniform in `[-1, 1)`.
fn u(dims: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::uniform(dims, -1.0, 1.0, seed).unwrap()
}

/// Uniform in `[lo, hi)`.
fn ur(dims: &[usize], lo: f64, hi: f64, seed: u64) -> Tensor<f64> {
    Tensor::uniform(dims, lo, hi, seed).unwrap()
}

/// Standard normal.
fn n(dims: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::normal(dims, 0.0, 1.0, seed).unwrap()
}

/// Positive values in `[0.5, 2)`: for log, sqrt, negative powers and
/// denominators.
fn pos(dims: &[usize], seed: u64) -> Tensor<f64> {
    ur(dims, 0.5, 2.0, seed)
}

/// Random signs with magnitudes in `[0.2, 1.5)`: away from the kinks of
/// relu, leaky_relu, abs and sign.
fn away(dims: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::from_fn(dims, |i| {
        let magnitude = 0.2 + 1.3 * rng::unit_at(seed, i);
        if rng::unit_at(seed ^ 0xA5A5, i) < 0.5 {
            -magnitude
        } else {
            magnitude
        }
    })
    .unwrap()
}

/// Pairwise distinct values, at least 0.25 apart (a shuffled range), for
/// max and argmax.
fn distinct(dims: &[usize]) -> Tensor<f64> {
    let count: usize = dims.iter().product();
    // 7 is coprime with every count used here, so `7i mod count` is a
    // permutation of `0..count`.
    assert!(!count.is_multiple_of(7));
    Tensor::from_fn(dims, |i| {
        ((i as usize * 7) % count) as f64 * 0.25 - count as f64 * 0.125
    })
    .unwrap()
}

// ----- the table --------------------------------------------------------------

/// Convolution, pooling and normalization rows (same table, own file).
#[path = "op_gradients/rows_conv.rs"]
mod rows_conv;

fn rows() -> Vec<Row> {
    let mut rows = vec![
        // --- add -------------------------------------------------------------
        row(
            "add [2,3]+[2,3]",
            vec![u(&[2, 3], 1), u(&[2, 3], 2)],
            |_, x| x[0].add(x[1]),
        ),
        row("add [2,3]+[3]", vec![u(&[2, 3], 3), u(&[3], 4)], |_, x| {
            x[0].add(x[1])
        }),
        row("add [3]+[2,3]", vec![u(&[3], 5), u(&[2, 3], 6)], |_, x| {
            x[0].add(x[1])
        }),
        row(
            "add [2,1]+[1,3]",
            vec![u(&[2, 1], 7), u(&[1, 3], 8)],
            |_, x| x[0].add(x[1]),
        ),
        row("add []+[2,3]", vec![u(&[], 9), u(&[2, 3], 10)], |_, x| {
            x[0].add(x[1])
        }),
        row("add [2,3]+[]", vec![u(&[2, 3], 11), u(&[], 12)], |_, x| {
            x[0].add(x[1])
        }),
        row(
            "add [2,1,3]+[4,1]",
            vec![u(&[2, 1, 3], 13), u(&[4, 1], 14)],
            |_, x| x[0].add(x[1]),
        ),
        row("add x+x", vec![u(&[2, 3], 15)], |_, x| x[0].add(x[0])),
        row("add (x+x)*x", vec![u(&[2, 3], 16)], |_, x| {
            x[0].add(x[0])?.mul(x[0])
        }),
        // --- sub -------------------------------------------------------------
        row(
            "sub [2,3]-[2,3]",
            vec![u(&[2, 3], 20), u(&[2, 3], 21)],
            |_, x| x[0].sub(x[1]),
        ),
        row(
            "sub [2,3]-[3]",
            vec![u(&[2, 3], 22), u(&[3], 23)],
            |_, x| x[0].sub(x[1]),
        ),
        row(
            "sub [3]-[2,3]",
            vec![u(&[3], 24), u(&[2, 3], 25)],
            |_, x| x[0].sub(x[1]),
        ),
        row(
            "sub [2,1]-[1,3]",
            vec![u(&[2, 1], 26), u(&[1, 3], 27)],
            |_, x| x[0].sub(x[1]),
        ),
        row("sub []-[2,3]", vec![u(&[], 28), u(&[2, 3], 29)], |_, x| {
            x[0].sub(x[1])
        }),
        row("sub x-x", vec![u(&[2, 3], 30)], |_, x| x[0].sub(x[0])),
        row("sub (x-y)^2", vec![u(&[2, 3], 31), u(&[3], 32)], |_, x| {
            Ok(x[0].sub(x[1])?.square())
        }),
        // --- mul -------------------------------------------------------------
        row(
            "mul [2,3]*[2,3]",
            vec![u(&[2, 3], 40), u(&[2, 3], 41)],
            |_, x| x[0].mul(x[1]),
        ),
        row(
            "mul [2,3]*[3]",
            vec![u(&[2, 3], 42), u(&[3], 43)],
            |_, x| x[0].mul(x[1]),
        ),
        row(
            "mul [2,1]*[1,3]",
            vec![u(&[2, 1], 44), u(&[1, 3], 45)],
            |_, x| x[0].mul(x[1]),
        ),
        row("mul []*[2,3]", vec![u(&[], 46), u(&[2, 3], 47)], |_, x| {
            x[0].mul(x[1])
        }),
        row("mul [2,3]*[]", vec![u(&[2, 3], 48), u(&[], 49)], |_, x| {
            x[0].mul(x[1])
        }),
        row(
            "mul [4,1,3]*[2,1]",
            vec![u(&[4, 1, 3], 50), u(&[2, 1], 51)],
            |_, x| x[0].mul(x[1]),
        ),
        row("mul x*x", vec![u(&[2, 3], 52)], |_, x| x[0].mul(x[0])),
        row("mul x*x*x", vec![u(&[2, 3], 53)], |_, x| {
            x[0].mul(x[0])?.mul(x[0])
        }),
        row("mul square", vec![u(&[2, 3], 54)], |_, x| Ok(x[0].square())),
        row("mul x*y*x", vec![u(&[2, 3], 55), u(&[3], 56)], |_, x| {
            x[0].mul(x[1])?.mul(x[0])
        }),
        // --- div -------------------------------------------------------------
        row(
            "div [2,3]/[2,3]",
            vec![u(&[2, 3], 60), pos(&[2, 3], 61)],
            |_, x| x[0].div(x[1]),
        ),
        row(
            "div [2,3]/[3]",
            vec![u(&[2, 3], 62), pos(&[3], 63)],
            |_, x| x[0].div(x[1]),
        ),
        row(
            "div [3]/[2,3]",
            vec![u(&[3], 64), pos(&[2, 3], 65)],
            |_, x| x[0].div(x[1]),
        ),
        row(
            "div [2,1]/[1,3]",
            vec![u(&[2, 1], 66), pos(&[1, 3], 67)],
            |_, x| x[0].div(x[1]),
        ),
        row(
            "div []/[2,3]",
            vec![u(&[], 68), pos(&[2, 3], 69)],
            |_, x| x[0].div(x[1]),
        ),
        row(
            "div [2,3]/[]",
            vec![u(&[2, 3], 70), pos(&[], 71)],
            |_, x| x[0].div(x[1]),
        ),
        row(
            "div negative denominators",
            vec![u(&[2, 3], 72), ur(&[2, 3], -2.0, -0.5, 73)],
            |_, x| x[0].div(x[1]),
        ),
        row("div x/x", vec![pos(&[2, 3], 74)], |_, x| x[0].div(x[0])),
        row("div x/(x+2)", vec![pos(&[2, 3], 75)], |_, x| {
            x[0].div(x[0].add_scalar(2.0))
        }),
        // --- unary arithmetic ------------------------------------------------
        row("neg", vec![u(&[2, 3], 80)], |_, x| Ok(x[0].neg())),
        row("neg * x", vec![u(&[2, 3], 81)], |_, x| x[0].neg().mul(x[0])),
        row("add_scalar", vec![u(&[2, 3], 82)], |_, x| {
            Ok(x[0].add_scalar(0.75))
        }),
        row("add_scalar squared", vec![u(&[2, 3], 83)], |_, x| {
            Ok(x[0].add_scalar(-0.3).square())
        }),
        row("mul_scalar", vec![u(&[2, 3], 84)], |_, x| {
            Ok(x[0].mul_scalar(-2.5))
        }),
        row("mul_scalar * x", vec![u(&[2, 3], 85)], |_, x| {
            x[0].mul_scalar(3.0).mul(x[0])
        }),
        // --- pow -------------------------------------------------------------
        row("pow 2", vec![u(&[2, 3], 90)], |_, x| Ok(x[0].pow(2.0))),
        row("pow 3", vec![u(&[2, 3], 91)], |_, x| Ok(x[0].pow(3.0))),
        row("pow 0.5", vec![pos(&[2, 3], 92)], |_, x| Ok(x[0].pow(0.5))),
        row("pow -1", vec![pos(&[2, 3], 93)], |_, x| Ok(x[0].pow(-1.0))),
        row("pow -2", vec![pos(&[2, 3], 94)], |_, x| Ok(x[0].pow(-2.0))),
        row("pow 1.5", vec![pos(&[2, 3], 95)], |_, x| Ok(x[0].pow(1.5))),
        row("pow 1", vec![u(&[2, 3], 96)], |_, x| Ok(x[0].pow(1.0))),
        row("pow 0", vec![u(&[2, 3], 97)], |_, x| Ok(x[0].pow(0.0))),
        row("pow 2 * x", vec![u(&[2, 3], 98)], |_, x| {
            x[0].pow(2.0).mul(x[0])
        }),
        // --- pow with a recorded exponent ------------------------------------
        row(
            "pow_var",
            vec![pos(&[2, 3], 110), u(&[2, 3], 111)],
            |_, x| x[0].pow_var(x[1]),
        ),
        row(
            "pow_var broadcast exponent",
            vec![pos(&[2, 3], 112), u(&[3], 113)],
            |_, x| x[0].pow_var(x[1]),
        ),
        row("pow_var x^x", vec![pos(&[2, 3], 114)], |_, x| {
            x[0].pow_var(x[0])
        }),
        // A negative base has real powers at integer exponents (constant
        // here: the exponent's derivative is NaN there, as in PyTorch).
        row("pow_var negative base", vec![u(&[2, 3], 115)], |g, x| {
            x[0].pow_var(g.input(&t(&[2.0, 3.0, 1.0, 4.0, -1.0, 0.0], &[2, 3])))
        }),
        // A zero base: ∂/∂x = y·x^(y−1) (0 for y > 1) ...
        row(
            "pow_var zero base",
            vec![t(&[0.0, 0.0, 0.7, -0.4, 0.0, 1.3], &[2, 3])],
            |g, x| x[0].pow_var(g.input(&t(&[2.0, 3.0, 2.0, 3.0, 4.0, 0.5], &[2, 3]))),
        ),
        // ... and ∂/∂y = 0 where x = 0 and y ≥ 0 (0^y is constant in y).
        row(
            "pow_var zero base, exponent varies",
            vec![ur(&[2, 3], 0.5, 2.0, 116)],
            |g, x| {
                g.input(&t(&[0.0, 0.0, 0.0, 1.5, 0.5, 2.0], &[2, 3]))
                    .pow_var(x[0])
            },
        ),
        // --- elementwise math ------------------------------------------------
        row("exp", vec![u(&[2, 3], 100)], |_, x| Ok(x[0].exp())),
        row("exp * x", vec![u(&[2, 3], 101)], |_, x| {
            x[0].exp().mul(x[0])
        }),
        row("log", vec![pos(&[2, 3], 102)], |_, x| Ok(x[0].log())),
        row("log of exp", vec![u(&[2, 3], 103)], |_, x| {
            Ok(x[0].exp().add_scalar(1.0).log())
        }),
        row("sqrt", vec![pos(&[2, 3], 104)], |_, x| Ok(x[0].sqrt())),
        row("sqrt(x^2+1)", vec![u(&[2, 3], 105)], |_, x| {
            Ok(x[0].square().add_scalar(1.0).sqrt())
        }),
        row(
            "abs explicit",
            vec![t(&[-1.5, -0.2, 0.3, 2.0, -0.6, 0.9], &[2, 3])],
            |_, x| Ok(x[0].abs()),
        ),
        row("abs", vec![away(&[2, 3], 106)], |_, x| Ok(x[0].abs())),
        row("abs * x", vec![away(&[2, 3], 107)], |_, x| {
            x[0].abs().mul(x[0])
        }),
        row("sign * x", vec![away(&[2, 3], 108)], |_, x| {
            x[0].sign().mul(x[0])
        }),
        row(
            "sign * y",
            vec![away(&[2, 3], 109), u(&[2, 3], 110)],
            |_, x| x[0].sign().mul(x[1].square()),
        ),
        row("sin", vec![n(&[2, 3], 111)], |_, x| Ok(x[0].sin())),
        row("cos", vec![n(&[2, 3], 112)], |_, x| Ok(x[0].cos())),
        row("sin * cos", vec![n(&[2, 3], 113)], |_, x| {
            x[0].sin().mul(x[0].cos())
        }),
        // --- activations -----------------------------------------------------
        row("sigmoid", vec![n(&[2, 3], 120)], |_, x| Ok(x[0].sigmoid())),
        row(
            "sigmoid large",
            vec![ur(&[2, 3], -6.0, 6.0, 121)],
            |_, x| Ok(x[0].sigmoid()),
        ),
        row("sigmoid * x", vec![n(&[2, 3], 122)], |_, x| {
            x[0].sigmoid().mul(x[0])
        }),
        row(
            "sigmoid_backward_of",
            vec![u(&[2, 3], 123), ur(&[2, 3], 0.1, 0.9, 124)],
            |_, x| x[0].sigmoid_backward_of(x[1]),
        ),
        row(
            "sigmoid_backward_of sigmoid",
            vec![u(&[2, 3], 125), n(&[2, 3], 126)],
            |_, x| x[0].sigmoid_backward_of(x[1].sigmoid()),
        ),
        row(
            "sigmoid_backward_of g=y",
            vec![ur(&[2, 3], 0.1, 0.9, 127)],
            |_, x| x[0].sigmoid_backward_of(x[0]),
        ),
        row("tanh", vec![n(&[2, 3], 130)], |_, x| Ok(x[0].tanh())),
        row("tanh * x", vec![n(&[2, 3], 131)], |_, x| {
            x[0].tanh().mul(x[0])
        }),
        row(
            "tanh_backward_of",
            vec![u(&[2, 3], 132), u(&[2, 3], 133)],
            |_, x| x[0].tanh_backward_of(x[1]),
        ),
        row(
            "tanh_backward_of tanh",
            vec![u(&[2, 3], 134), n(&[2, 3], 135)],
            |_, x| x[0].tanh_backward_of(x[1].tanh()),
        ),
        row("tanh_backward_of g=y", vec![u(&[2, 3], 136)], |_, x| {
            x[0].tanh_backward_of(x[0])
        }),
        row("relu", vec![away(&[3, 4], 140)], |_, x| Ok(x[0].relu())),
        row(
            "mse_loss mean",
            vec![u(&[3, 4], 150), u(&[3, 4], 151)],
            |_, x| x[0].mse_loss(x[1], true),
        ),
        row(
            "mse_loss sum of a product",
            vec![u(&[2, 3], 152), u(&[2, 3], 153)],
            |_, x| x[0].mul(x[1])?.mse_loss(x[1], false),
        ),
        row("cross_entropy mean", vec![n(&[4, 5], 154)], |_, x| {
            x[0].cross_entropy_loss(&[0, 4, 2, 2], true)
        }),
        row(
            "cross_entropy sum of tanh",
            vec![n(&[3, 3], 155)],
            |_, x| x[0].tanh().cross_entropy_loss(&[1, 0, 2], false),
        ),
        row("custom cube", vec![u(&[2, 3], 147)], |g, x| {
            let id = g.register_op(std::rc::Rc::new(Cube))?;
            x[0].custom(id, None)
        }),
        row(
            "custom cube of a product",
            vec![u(&[2, 3], 148), u(&[3], 149)],
            |g, x| {
                let id = g.register_op(std::rc::Rc::new(Cube))?;
                x[0].mul(x[1])?.custom(id, None)?.sum_axis(1, false)
            },
        ),
        row("softplus", vec![ur(&[3, 4], -4.0, 4.0, 145)], |_, x| {
            Ok(x[0].softplus())
        }),
        row("softplus * x", vec![n(&[2, 3], 146)], |_, x| {
            x[0].softplus().mul(x[0])
        }),
        // Explicit inputs at least 0.1 away from the bounds ±0.5.
        row(
            "clamp",
            vec![t(&[-0.9, -0.3, 0.1, 0.4, 0.7, -0.7], &[2, 3])],
            |_, x| Ok(x[0].clamp(-0.5, 0.5)),
        ),
        row(
            "clamp squared",
            vec![t(&[-0.9, -0.3, 0.1, 0.4, 0.7, -0.7], &[2, 3])],
            |_, x| Ok(x[0].clamp(-0.5, 0.5).square()),
        ),
        row(
            "clamp_mask * x",
            vec![t(&[-0.9, -0.3, 0.1, 0.4, 0.7, -0.7], &[2, 3])],
            |_, x| x[0].clamp_mask(-0.5, 0.5).mul(x[0]),
        ),
        row("relu * x", vec![away(&[3, 4], 141)], |_, x| {
            x[0].relu().mul(x[0])
        }),
        row("leaky_relu 0.1", vec![away(&[3, 4], 142)], |_, x| {
            Ok(x[0].leaky_relu(0.1))
        }),
        row(
            "leaky_relu 0.3 squared",
            vec![away(&[3, 4], 143)],
            |_, x| Ok(x[0].leaky_relu(0.3).square()),
        ),
        row("step_mask * x", vec![away(&[3, 4], 144)], |_, x| {
            x[0].step_mask(0.2).mul(x[0])
        }),
        row(
            "step_mask * y",
            vec![away(&[3, 4], 145), u(&[3, 4], 146)],
            |_, x| x[0].step_mask(0.0).mul(x[1].exp()),
        ),
        // --- matmul ----------------------------------------------------------
        row(
            "matmul [2,3]·[3,4]",
            vec![u(&[2, 3], 150), u(&[3, 4], 151)],
            |_, x| x[0].matmul(x[1]),
        ),
        row(
            "matmul_t ta [3,2]ᵀ·[3,4]",
            vec![u(&[3, 2], 152), u(&[3, 4], 153)],
            |_, x| x[0].matmul_t(x[1], true, false),
        ),
        row(
            "matmul_t tb [2,3]·[4,3]ᵀ",
            vec![u(&[2, 3], 154), u(&[4, 3], 155)],
            |_, x| x[0].matmul_t(x[1], false, true),
        ),
        row(
            "matmul_t ta tb [3,2]ᵀ·[4,3]ᵀ",
            vec![u(&[3, 2], 156), u(&[4, 3], 157)],
            |_, x| x[0].matmul_t(x[1], true, true),
        ),
        row(
            "matmul [1,3]·[3,1]",
            vec![u(&[1, 3], 158), u(&[3, 1], 159)],
            |_, x| x[0].matmul(x[1]),
        ),
        row(
            "matmul [4,1]·[1,3]",
            vec![u(&[4, 1], 160), u(&[1, 3], 161)],
            |_, x| x[0].matmul(x[1]),
        ),
        row("matmul x·x", vec![u(&[3, 3], 162)], |_, x| {
            x[0].matmul(x[0])
        }),
        row("matmul_t xᵀ·x", vec![u(&[3, 3], 163)], |_, x| {
            x[0].matmul_t(x[0], true, false)
        }),
        row("matmul_t x·xᵀ [2,3]", vec![u(&[2, 3], 164)], |_, x| {
            x[0].matmul_t(x[0], false, true)
        }),
        row("matmul_t xᵀ·xᵀ", vec![u(&[3, 3], 165)], |_, x| {
            x[0].matmul_t(x[0], true, true)
        }),
        row(
            "matmul large (GEMM) [17,16]·[16,18]",
            vec![u(&[17, 16], 166), u(&[16, 18], 167)],
            |_, x| x[0].matmul(x[1]),
        ),
        row(
            "matmul_t large (GEMM) ta tb [16,17]ᵀ·[18,16]ᵀ",
            vec![u(&[16, 17], 168), u(&[18, 16], 169)],
            |_, x| x[0].matmul_t(x[1], true, true),
        ),
        row(
            "matmul_t large (GEMM) ta [16,17]ᵀ·[16,18]",
            vec![u(&[16, 17], 170), u(&[16, 18], 171)],
            |_, x| x[0].matmul_t(x[1], true, false),
        ),
        row(
            "matmul_t large (GEMM) tb [17,16]·[18,16]ᵀ",
            vec![u(&[17, 16], 172), u(&[18, 16], 173)],
            |_, x| x[0].matmul_t(x[1], false, true),
        ),
        row(
            "matmul batched [2,3,4]·[2,4,5]",
            vec![u(&[2, 3, 4], 180), u(&[2, 4, 5], 181)],
            |_, x| x[0].matmul(x[1]),
        ),
        row(
            "matmul batched ta [2,4,3]ᵀ·[2,4,5]",
            vec![u(&[2, 4, 3], 182), u(&[2, 4, 5], 183)],
            |_, x| x[0].matmul_t(x[1], true, false),
        ),
        row(
            "matmul batched tb [2,3,4]·[2,5,4]ᵀ",
            vec![u(&[2, 3, 4], 184), u(&[2, 5, 4], 185)],
            |_, x| x[0].matmul_t(x[1], false, true),
        ),
        row(
            "matmul batched ta tb [2,4,3]ᵀ·[2,5,4]ᵀ",
            vec![u(&[2, 4, 3], 186), u(&[2, 5, 4], 187)],
            |_, x| x[0].matmul_t(x[1], true, true),
        ),
        row(
            "matmul batch of one [1,2,3]·[1,3,2]",
            vec![u(&[1, 2, 3], 188), u(&[1, 3, 2], 189)],
            |_, x| x[0].matmul(x[1]),
        ),
        row(
            "matmul 3-D·2-D [2,3,4]·[4,5]",
            vec![u(&[2, 3, 4], 190), u(&[4, 5], 191)],
            |_, x| x[0].matmul(x[1]),
        ),
        row(
            "matmul_t 3-D·2-D tb [2,3,4]·[5,4]ᵀ",
            vec![u(&[2, 3, 4], 192), u(&[5, 4], 193)],
            |_, x| x[0].matmul_t(x[1], false, true),
        ),
        row(
            "matmul_t 3-D·2-D ta [2,4,3]ᵀ·[4,5]",
            vec![u(&[2, 4, 3], 194), u(&[4, 5], 195)],
            |_, x| x[0].matmul_t(x[1], true, false),
        ),
        row(
            "matmul_t 3-D·2-D ta tb [2,4,3]ᵀ·[5,4]ᵀ",
            vec![u(&[2, 4, 3], 196), u(&[5, 4], 197)],
            |_, x| x[0].matmul_t(x[1], true, true),
        ),
        row(
            "matmul 2-D·3-D [3,4]·[2,4,5]",
            vec![u(&[3, 4], 198), u(&[2, 4, 5], 199)],
            |_, x| x[0].matmul(x[1]),
        ),
        row(
            "matmul_t 2-D·3-D ta [4,3]ᵀ·[2,4,5]",
            vec![u(&[4, 3], 200), u(&[2, 4, 5], 201)],
            |_, x| x[0].matmul_t(x[1], true, false),
        ),
        row(
            "matmul_t 2-D·3-D tb [3,4]·[2,5,4]ᵀ",
            vec![u(&[3, 4], 202), u(&[2, 5, 4], 203)],
            |_, x| x[0].matmul_t(x[1], false, true),
        ),
        row(
            "matmul_t 2-D·3-D ta tb [4,3]ᵀ·[2,5,4]ᵀ",
            vec![u(&[4, 3], 204), u(&[2, 5, 4], 205)],
            |_, x| x[0].matmul_t(x[1], true, true),
        ),
        row(
            "matmul batched x·x [2,3,3]",
            vec![u(&[2, 3, 3], 206)],
            |_, x| x[0].matmul(x[0]),
        ),
        // --- layout ----------------------------------------------------------
        row("reshape [2,3]->[3,2]", vec![u(&[2, 3], 210)], |_, x| {
            x[0].reshape(&[3, 2])
        }),
        row(
            "reshape [2,3,4]->[6,4]",
            vec![u(&[2, 3, 4], 211)],
            |_, x| x[0].reshape(&[6, 4]),
        ),
        row("reshape [1]->[]", vec![u(&[1], 212)], |_, x| {
            x[0].reshape(&[])
        }),
        row("reshape [6]->[2,3] squared", vec![u(&[6], 213)], |_, x| {
            Ok(x[0].reshape(&[2, 3])?.square())
        }),
        row(
            "reshape then matmul",
            vec![u(&[6], 214), u(&[3, 2], 215)],
            |_, x| x[0].reshape(&[2, 3])?.matmul(x[1]),
        ),
        row("reshape * x", vec![u(&[2, 2], 216)], |_, x| {
            x[0].reshape(&[4])?.reshape(&[2, 2])?.mul(x[0])
        }),
        row(
            "permute [2,3,4] (2,0,1)",
            vec![u(&[2, 3, 4], 220)],
            |_, x| x[0].permute(&[2, 0, 1]),
        ),
        row(
            "permute [2,3,4] (1,2,0)",
            vec![u(&[2, 3, 4], 221)],
            |_, x| x[0].permute(&[1, 2, 0]),
        ),
        row(
            "permute [2,3,4] (0,2,1) squared",
            vec![u(&[2, 3, 4], 222)],
            |_, x| Ok(x[0].permute(&[0, 2, 1])?.square()),
        ),
        row("permute [2,3] (1,0)", vec![u(&[2, 3], 223)], |_, x| {
            x[0].permute(&[1, 0])
        }),
        row(
            "transpose [2,3,4] (0,2)",
            vec![u(&[2, 3, 4], 224)],
            |_, x| x[0].transpose(0, 2),
        ),
        row("transpose x·xᵀ", vec![u(&[2, 3], 225)], |_, x| {
            x[0].matmul(x[0].transpose(0, 1)?)
        }),
        row("broadcast_to [3]->[2,3]", vec![u(&[3], 230)], |_, x| {
            x[0].broadcast_to(chainrule::Shape::new(&[2, 3])?)
        }),
        row(
            "broadcast_to [2,1]->[2,4]",
            vec![u(&[2, 1], 231)],
            |_, x| x[0].broadcast_to(chainrule::Shape::new(&[2, 4])?),
        ),
        row("broadcast_to []->[2,2]", vec![u(&[], 232)], |_, x| {
            x[0].broadcast_to(chainrule::Shape::new(&[2, 2])?)
        }),
        row(
            "broadcast_to [1,3]->[2,4,3]",
            vec![u(&[1, 3], 233)],
            |_, x| x[0].broadcast_to(chainrule::Shape::new(&[2, 4, 3])?),
        ),
        row("broadcast_to squared", vec![u(&[2, 1], 234)], |_, x| {
            Ok(x[0].broadcast_to(chainrule::Shape::new(&[2, 3])?)?.square())
        }),
        row("sum_to [2,3]->[3]", vec![u(&[2, 3], 240)], |_, x| {
            x[0].sum_to(chainrule::Shape::new(&[3])?)
        }),
        row("sum_to [2,3]->[2,1]", vec![u(&[2, 3], 241)], |_, x| {
            x[0].sum_to(chainrule::Shape::new(&[2, 1])?)
        }),
        row("sum_to [2,4,3]->[4,1]", vec![u(&[2, 4, 3], 242)], |_, x| {
            x[0].sum_to(chainrule::Shape::new(&[4, 1])?)
        }),
        row("sum_to [2,3]->[]", vec![u(&[2, 3], 243)], |_, x| {
            x[0].sum_to(chainrule::Shape::scalar())
        }),
        row("sum_to squared", vec![u(&[2, 3], 244)], |_, x| {
            Ok(x[0].sum_to(chainrule::Shape::new(&[1, 3])?)?.square())
        }),
        row(
            "detach (softmax shifted by a detached max)",
            vec![n(&[2, 3], 250)],
            |_, x| {
                // Softmax is invariant to the shift, so treating it as a
                // constant does not change the true derivative.
                let m = x[0].max_axis(1, true)?.detach();
                let e = x[0].sub(m)?.exp();
                e.div(e.sum_axis(1, true)?)
            },
        ),
        // --- reductions ------------------------------------------------------
        row("sum all", vec![u(&[2, 3], 260)], |_, x| Ok(x[0].sum())),
        row("sum all squared", vec![u(&[2, 3], 261)], |_, x| {
            Ok(x[0].sum().square())
        }),
        row("sum of scalar", vec![u(&[], 262)], |_, x| Ok(x[0].sum())),
        row("sum_axis 0", vec![u(&[2, 3], 263)], |_, x| {
            x[0].sum_axis(0, false)
        }),
        row("sum_axis 0 keepdim", vec![u(&[2, 3], 264)], |_, x| {
            x[0].sum_axis(0, true)
        }),
        row("sum_axis 1", vec![u(&[2, 3], 265)], |_, x| {
            x[0].sum_axis(1, false)
        }),
        row("sum_axis 1 keepdim", vec![u(&[2, 3], 266)], |_, x| {
            x[0].sum_axis(1, true)
        }),
        row("sum_axis 3-D axis 1", vec![u(&[2, 3, 4], 267)], |_, x| {
            x[0].sum_axis(1, false)
        }),
        row(
            "sum_axis 3-D axis 2 keepdim",
            vec![u(&[2, 3, 4], 268)],
            |_, x| x[0].sum_axis(2, true),
        ),
        row("sum_axis squared", vec![u(&[2, 3], 269)], |_, x| {
            Ok(x[0].sum_axis(1, false)?.square())
        }),
        row("mean all", vec![u(&[2, 3], 270)], |_, x| Ok(x[0].mean())),
        row("mean_axis 0", vec![u(&[2, 3], 271)], |_, x| {
            x[0].mean_axis(0, false)
        }),
        row("mean_axis 0 keepdim", vec![u(&[2, 3], 272)], |_, x| {
            x[0].mean_axis(0, true)
        }),
        row("mean_axis 1", vec![u(&[2, 3], 273)], |_, x| {
            x[0].mean_axis(1, false)
        }),
        row("mean_axis 1 keepdim", vec![u(&[2, 3], 274)], |_, x| {
            x[0].mean_axis(1, true)
        }),
        row(
            "mean_axis 3-D axis 0 squared",
            vec![u(&[2, 3, 4], 275)],
            |_, x| Ok(x[0].mean_axis(0, false)?.square()),
        ),
        row(
            "max_axis explicit, negative values",
            vec![t(&[-0.5, -2.0, -0.1, -3.0, -1.0, -0.7], &[2, 3])],
            |_, x| x[0].max_axis(1, false),
        ),
        row("max_axis 0", vec![distinct(&[2, 3])], |_, x| {
            x[0].max_axis(0, false)
        }),
        row("max_axis 0 keepdim", vec![distinct(&[2, 3])], |_, x| {
            x[0].max_axis(0, true)
        }),
        row("max_axis 1", vec![distinct(&[2, 3])], |_, x| {
            x[0].max_axis(1, false)
        }),
        row("max_axis 1 keepdim", vec![distinct(&[2, 3])], |_, x| {
            x[0].max_axis(1, true)
        }),
        row("max_axis 3-D axis 1", vec![distinct(&[2, 3, 4])], |_, x| {
            x[0].max_axis(1, false)
        }),
        row(
            "max_axis 3-D axis 2 keepdim",
            vec![distinct(&[2, 3, 4])],
            |_, x| x[0].max_axis(2, true),
        ),
        row("max_axis squared", vec![distinct(&[3, 4])], |_, x| {
            Ok(x[0].max_axis(1, false)?.square())
        }),
        row("argmax_mask * x", vec![distinct(&[3, 4])], |_, x| {
            x[0].argmax_mask(1)?.mul(x[0])?.sum_axis(1, false)
        }),
        row(
            "argmax_mask axis 0 * y",
            vec![distinct(&[3, 4]), u(&[3, 4], 280)],
            |_, x| x[0].argmax_mask(0)?.mul(x[1].square()),
        ),
        // --- softmax ---------------------------------------------------------
        row("softmax axis 0", vec![n(&[3, 4], 290)], |_, x| {
            x[0].softmax(0)
        }),
        row("softmax axis 1", vec![n(&[3, 4], 291)], |_, x| {
            x[0].softmax(1)
        }),
        row("softmax 3-D axis 1", vec![n(&[2, 3, 4], 292)], |_, x| {
            x[0].softmax(1)
        }),
        row("softmax 1-D", vec![n(&[5], 293)], |_, x| x[0].softmax(0)),
        row("softmax * x", vec![n(&[3, 4], 294)], |_, x| {
            x[0].softmax(1)?.mul(x[0])
        }),
        row("log_softmax axis 0", vec![n(&[3, 4], 295)], |_, x| {
            x[0].log_softmax(0)
        }),
        row("log_softmax axis 1", vec![n(&[3, 4], 296)], |_, x| {
            x[0].log_softmax(1)
        }),
        row(
            "log_softmax 3-D axis 2",
            vec![n(&[2, 3, 4], 297)],
            |_, x| x[0].log_softmax(2),
        ),
        row("log_softmax squared", vec![n(&[3, 4], 298)], |_, x| {
            Ok(x[0].log_softmax(1)?.square())
        }),
        // --- indexing --------------------------------------------------------
        row(
            "gather_rows explicit",
            vec![t(&[0.1, -0.4, 0.9, 1.3, -0.7, 0.2], &[2, 3])],
            |_, x| x[0].gather_rows(&[1, 2]),
        ),
        row("gather_rows", vec![u(&[3, 4], 300)], |_, x| {
            x[0].gather_rows(&[2, 0, 3])
        }),
        row("gather_rows same column", vec![u(&[3, 4], 301)], |_, x| {
            x[0].gather_rows(&[1, 1, 1])
        }),
        row("gather_rows squared", vec![u(&[3, 4], 302)], |_, x| {
            Ok(x[0].gather_rows(&[3, 1, 0])?.square())
        }),
        row(
            "cross-entropy (log_softmax, gather_rows, mean)",
            vec![n(&[3, 4], 303)],
            |_, x| Ok(x[0].log_softmax(1)?.gather_rows(&[1, 3, 0])?.mean().neg()),
        ),
        row(
            "concat axis 0",
            vec![u(&[2, 3], 310), u(&[1, 3], 311)],
            |_, x| x[0].concat(x[1], 0),
        ),
        row(
            "concat axis 1",
            vec![u(&[2, 3], 312), u(&[2, 2], 313)],
            |_, x| x[0].concat(x[1], 1),
        ),
        row(
            "concat 3-D axis 2",
            vec![u(&[2, 3, 1], 314), u(&[2, 3, 2], 315)],
            |_, x| x[0].concat(x[1], 2),
        ),
        row("concat x with x", vec![u(&[2, 3], 316)], |_, x| {
            x[0].concat(x[0], 1)
        }),
        row(
            "concat squared",
            vec![u(&[2, 3], 317), u(&[2, 3], 318)],
            |_, x| Ok(x[0].concat(x[1], 0)?.square()),
        ),
        row(
            "concat_all three parts",
            vec![u(&[1, 3], 319), u(&[2, 3], 320), u(&[1, 3], 321)],
            |_, x| Var::concat_all(&[x[0], x[1], x[2]], 0),
        ),
        row("slice axis 0", vec![u(&[4, 3], 330)], |_, x| {
            x[0].slice(0, 1, 3)
        }),
        row("slice axis 1", vec![u(&[2, 5], 331)], |_, x| {
            x[0].slice(1, 2, 5)
        }),
        row("slice 3-D axis 1", vec![u(&[2, 4, 3], 332)], |_, x| {
            x[0].slice(1, 1, 3)
        }),
        row("slice full range", vec![u(&[2, 3], 333)], |_, x| {
            x[0].slice(1, 0, 3)
        }),
        row("slice squared", vec![u(&[3, 4], 334)], |_, x| {
            Ok(x[0].slice(1, 1, 3)?.square())
        }),
        row("slice overlapping halves", vec![u(&[2, 4], 335)], |_, x| {
            x[0].slice(1, 0, 3)?.mul(x[0].slice(1, 1, 4)?)
        }),
        // --- bias_act --------------------------------------------------------
        row(
            "bias_act identity [3,4]+[4]",
            vec![u(&[3, 4], 350), u(&[4], 351)],
            |_, x| x[0].bias_act(x[1], BiasAct::Identity),
        ),
        row(
            // |z| ≥ 0.2 and |b| < 0.1: z + b stays away from the kink.
            "bias_act relu [3,4]+[1,4]",
            vec![away(&[3, 4], 352), ur(&[1, 4], -0.1, 0.1, 353)],
            |_, x| x[0].bias_act(x[1], BiasAct::Relu),
        ),
        row(
            "bias_act tanh [2,3,4]+[4], squared",
            vec![n(&[2, 3, 4], 354), u(&[4], 355)],
            |_, x| Ok(x[0].bias_act(x[1], BiasAct::Tanh)?.square()),
        ),
        row(
            "bias_act sigmoid [5,2]+[2] times z",
            vec![n(&[5, 2], 356), u(&[2], 357)],
            |_, x| x[0].bias_act(x[1], BiasAct::Sigmoid)?.mul(x[0]),
        ),
        row(
            "bias_act tanh of a product (a dense layer)",
            vec![u(&[4, 3], 358), u(&[5, 3], 359), u(&[5], 360)],
            |_, x| {
                x[0].matmul_t(x[1], false, true)?
                    .bias_act(x[2], BiasAct::Tanh)
            },
        ),
        // --- compositions ----------------------------------------------------
        row(
            "dense tanh layer",
            vec![u(&[4, 3], 340), u(&[3, 5], 341), u(&[5], 342)],
            |_, x| Ok(x[0].matmul(x[1])?.add(x[2])?.tanh()),
        ),
        row(
            "two-layer sigmoid net with MSE",
            vec![u(&[4, 3], 343), u(&[5, 3], 344), u(&[1, 5], 345)],
            |g, x| {
                let h = x[0].matmul_t(x[1], false, true)?.sigmoid();
                let y = h.matmul_t(x[2], false, true)?.sigmoid();
                let target = g.input(&Tensor::uniform(&[4, 1], 0.0, 1.0, 346)?);
                Ok(y.sub(target)?.square().mean())
            },
        ),
        row("layer norm", vec![n(&[3, 5], 347)], |_, x| {
            let centred = x[0].sub(x[0].mean_axis(1, true)?)?;
            let var = centred.square().mean_axis(1, true)?;
            centred.div(var.add_scalar(1e-5).sqrt())
        }),
        row(
            "attention softmax(q·kᵀ/√d)·v",
            vec![u(&[2, 3, 4], 348), u(&[2, 5, 4], 349), u(&[2, 5, 2], 350)],
            |_, x| {
                let scores = x[0].matmul_t(x[1], false, true)?.mul_scalar(0.5);
                scores.softmax(2)?.matmul(x[2])
            },
        ),
        row(
            "split, recombine and reshape",
            vec![u(&[2, 6], 351)],
            |_, x| {
                let left = x[0].slice(1, 0, 3)?;
                let right = x[0].slice(1, 3, 6)?;
                left.mul(right)?
                    .concat(left.sin(), 0)?
                    .reshape(&[3, 4])?
                    .permute(&[1, 0])
            },
        ),
    ];
    rows.extend(rows_conv::rows());
    rows
}

/// A user-defined operation, x³, with its backward rule g · 3x² written in
/// the engine's own operations (so second order works too).
struct Cube;

impl chainrule::CustomOp<f64> for Cube {
    fn name(&self) -> &str {
        "cube"
    }
    fn output_shape(&self, inputs: &[chainrule::Shape]) -> Result<chainrule::Shape> {
        Ok(inputs[0])
    }
    fn forward(&self, inputs: &[&[f64]], _shapes: &[chainrule::Shape], out: &mut [f64]) {
        for (o, &x) in out.iter_mut().zip(inputs[0]) {
            *o = x * x * x;
        }
    }
    fn backward<'g>(
        &self,
        c: &chainrule::BackwardCtx<'g, f64>,
    ) -> Result<chainrule::Grads<'g, f64>> {
        Ok([Some(c.grad.mul(c.a.square().mul_scalar(3.0))?), None])
    }
}

// ----- the tests --------------------------------------------------------------

#[test]
fn every_row_passes_first_and_second_order_gradchecks() {
    let opts = TABLE_TOLERANCES;
    let mut failures = Vec::new();
    let rows = rows();
    for r in &rows {
        match check_gradients(&r.f, &r.inputs, opts) {
            Ok(report) if report.passed() => {}
            Ok(report) => failures.push(format!("{} (first order): {report:#?}", r.name)),
            Err(e) => failures.push(format!("{} (first order): error {e}", r.name)),
        }
        match check_second_order(&r.f, &r.inputs, opts) {
            Ok(report) if report.passed() => {}
            Ok(report) => failures.push(format!("{} (second order): {report:#?}", r.name)),
            Err(e) => failures.push(format!("{} (second order): error {e}", r.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} checks failed:\n{}",
        failures.len(),
        2 * rows.len(),
        failures.join("\n")
    );
}

/// Builds a row's graph, reduces its output to a scalar with seeded
/// weights, and records a backward pass with `create_graph` (and one more
/// backward through it), returning the names of every op on the tape.
fn ops_on_tape(r: &Row) -> Result<BTreeSet<&'static str>> {
    let g = Graph::<f64>::new();
    let vars: Vec<_> = r.inputs.iter().map(|t| g.variable(t)).collect();
    let out = (r.f)(&g, &vars)?;
    let scalar = if out.shape().numel() == 1 {
        out.reshape(&[])?
    } else {
        let w = Tensor::uniform(out.shape().dims(), 0.5, 1.5, 0x5EED)?;
        out.mul(g.input(&w))?.sum()
    };
    let grads = g.gradients(scalar, &vars, true)?;
    let mut total = g.scalar(0.0);
    for (k, gr) in grads.iter().enumerate() {
        let v = Tensor::uniform(gr.shape().dims(), -1.0, 1.0, 0xD0D0 + k as u64)?;
        total = total.add(gr.mul(g.input(&v))?.sum())?;
    }
    if total.requires_grad() {
        g.gradients(total, &vars, false)?;
    }
    Ok(g.nodes().iter().map(|n| n.op.name()).collect())
}

#[test]
fn every_operation_has_a_row() {
    let mut seen = BTreeSet::new();
    for r in &rows() {
        match ops_on_tape(r) {
            Ok(names) => seen.extend(names),
            Err(e) => panic!("{}: building the graph failed: {e}", r.name),
        }
    }
    // Parameters cannot enter a gradcheck row (they need `&mut Graph`), so
    // they are put on a tape here.
    let mut g = Graph::<f64>::new();
    let p = g.parameter(&u(&[2, 3], 400));
    let w = g.param(p).unwrap();
    let loss = w.square().sum();
    g.gradients(loss, &[w], true).unwrap();
    seen.extend(g.nodes().iter().map(|n| n.op.name()));

    let all: Vec<&str> = all_op_names().collect();
    let missing: Vec<_> = all.iter().filter(|name| !seen.contains(*name)).collect();
    assert!(
        missing.is_empty(),
        "operations without a gradient row: {missing:?}"
    );
    let unknown: Vec<_> = seen.iter().filter(|name| !all.contains(name)).collect();
    assert!(
        unknown.is_empty(),
        "op names missing from all_op_names(): {unknown:?}"
    );
}

#[test]
fn parameters_get_the_same_gradient_as_variables() {
    // The one op the table cannot reach through gradcheck: a parameter's
    // gradient must match that of a variable with the same value.
    let value = u(&[2, 3], 401);
    let mut g = Graph::<f64>::new();
    let p = g.parameter(&value);
    let w = g.param(p).unwrap();
    w.sin().mul(w).unwrap().sum().backward().unwrap();
    let from_param = g.param_grad(p).unwrap();

    let h = Graph::<f64>::new();
    let v = h.variable(&value);
    v.sin().mul(v).unwrap().sum().backward().unwrap();
    assert_eq!(from_param, v.grad().unwrap());
}

#[test]
fn reductions_over_an_empty_axis_give_zero() {
    // An empty slice is a valid value ([2, 0]); summing it must give zeros
    // (as NumPy and PyTorch do), and its gradient must be zero too.
    let g = Graph::<f64>::new();
    let x = g.variable(&u(&[2, 3], 410));
    let empty = x.slice(1, 1, 1).unwrap();
    assert_eq!(empty.shape().dims(), &[2, 0]);
    assert_eq!(
        empty.sum_axis(0, false).unwrap().to_vec(),
        Vec::<f64>::new()
    );
    assert_eq!(empty.sum_axis(1, false).unwrap().to_vec(), vec![0.0, 0.0]);
    let total = empty.sum();
    assert_eq!(total.item().unwrap(), 0.0);
    assert_eq!(empty.mean().item().unwrap(), 0.0);
    let loss = x.sum().add(total).unwrap();
    loss.backward().unwrap();
    assert_eq!(x.grad().unwrap().to_f64_vec(), vec![1.0; 6]);

    let report = check_gradients(
        |_: &Graph<f64>, x: &[Var<'_, f64>]| Ok(x[0].slice(1, 1, 1)?.sum()),
        &[u(&[2, 3], 411)],
        GradcheckOptions::default(),
    )
    .unwrap();
    assert!(report.passed(), "{report:#?}");
}

#[test]
fn bias_act_forward_by_hand() {
    // z = [[1, −2], [0.5, 3]], b = [0.5, −1]: z + b = [[1.5, −3], [1, 2]].
    let g = Graph::<f64>::new();
    let z = g.input(&t(&[1.0, -2.0, 0.5, 3.0], &[2, 2]));
    let b = g.input(&t(&[0.5, -1.0], &[2]));
    let sum = [1.5, -3.0, 1.0, 2.0];
    let value = |act| z.bias_act(b, act).unwrap().to_vec();
    assert_eq!(value(BiasAct::Identity), sum.to_vec());
    assert_eq!(value(BiasAct::Relu), vec![1.5, 0.0, 1.0, 2.0]);
    let tanh: Vec<f64> = sum.iter().map(|v: &f64| v.tanh()).collect();
    assert_eq!(value(BiasAct::Tanh), tanh);
    let sigmoid: Vec<f64> = sum.iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect();
    for (got, want) in value(BiasAct::Sigmoid).iter().zip(&sigmoid) {
        assert!((got - want).abs() < 1e-15, "{got} vs {want}");
    }
}

/// Item 5: powers have their real meaning (`(−2)^2 = 4`, `0^2 = 0`) and
/// the derivatives that go with it, with PyTorch's conventions where the
/// formulas give 0·∞. Expected values by hand: at (x, y) = (2, 0.5),
/// f = √2, ∂f/∂x = 0.5/√2, ∂f/∂y = √2·ln 2.
#[test]
fn item_05_pow_var_values_and_gradients_by_hand() {
    let sqrt2 = std::f64::consts::SQRT_2;
    let ln2 = std::f64::consts::LN_2;
    let nan = f64::NAN;
    // (x, y, f, ∂f/∂x, ∂f/∂y)
    let cases = [
        (-2.0, 2.0, 4.0, -4.0, nan),
        (0.0, 2.0, 0.0, 0.0, 0.0),
        (2.0, 0.5, sqrt2, 0.5 / sqrt2, sqrt2 * ln2),
        (-8.0, 1.0 / 3.0, nan, nan, nan),
        (0.0, 0.0, 1.0, 0.0, 0.0),
        (3.0, 2.0, 9.0, 6.0, 9.0 * 3f64.ln()),
    ];
    let same = |got: f64, want: f64| {
        (got.is_nan() && want.is_nan()) || (got - want).abs() <= 1e-15 * want.abs().max(1.0)
    };
    for (x0, y0, f0, dx, dy) in cases {
        let g = Graph::<f64>::new();
        let (x, y) = (g.scalar_variable(x0), g.scalar_variable(y0));
        let f = x.pow_var(y).unwrap();
        let grads = g.gradients(f, &[x, y], false).unwrap();
        let got = (
            f.item().unwrap(),
            grads[0].item().unwrap(),
            grads[1].item().unwrap(),
        );
        assert!(
            same(got.0, f0) && same(got.1, dx) && same(got.2, dy),
            "at x = {x0}, y = {y0}: got (f, ∂x, ∂y) = {got:?}, want ({f0}, {dx}, {dy})"
        );
    }
}

/// Item 5, second order: d²(x^y)/dx² = y·(y−1)·x^(y−2) at (−2, 3) is
/// 3·2·(−2) = −12, and at (0, 2) it is 2.
#[test]
fn item_05_pow_var_second_derivative_by_hand() {
    for (x0, y0, want) in [(-2.0, 3.0, -12.0), (0.0, 2.0, 2.0)] {
        let g = Graph::<f64>::new();
        let x = g.scalar_variable(x0);
        let y = g.scalar(y0);
        let f = x.pow_var(y).unwrap();
        let dx = g.gradients(f, &[x], true).unwrap()[0];
        let d2 = g.gradients(dx, &[x], false).unwrap()[0].item().unwrap();
        assert_eq!(d2, want, "d²/dx² of x^{y0} at {x0}");
    }
}

// ----- tolerances (measured) --------------------------------------------------

/// The table's tolerances: 100× tighter than PyTorch's gradcheck defaults
/// (atol 1e-5, rtol 1e-3), which leave room for any function. Measured
/// with ε = 1e-6 over every row (one run, Dec 2026): the largest
/// |analytic − numeric| is 1.29e-8 first order and 1.39e-8 second order,
/// both in the large GEMM rows (whose seeded scalar output is largest, so
/// its rounding over 2ε is largest); every other row stays below 3.5e-9
/// (first) and 3.1e-9 (second). atol = 1e-7 leaves a margin of 7× over the
/// worst row; no element needs the relative term, which is kept at 1e-5
/// (100× PyTorch's) for rows with large gradients.
const TABLE_TOLERANCES: GradcheckOptions = GradcheckOptions {
    eps: 1e-6,
    atol: 1e-7,
    rtol: 1e-5,
};
