//! Recording an expression on a graph: one leaf per variable, constants
//! folded into scalar operations.

use super::{check_values, BinOp, Expr, ExprError};
use chainrule::{Graph, Var};
use std::collections::HashMap;

/// An expression recorded on a graph.
pub struct Recorded<'g> {
    /// The result.
    pub output: Var<'g, f64>,
    /// Each variable's leaf, in order of first appearance.
    pub variables: Vec<(String, Var<'g, f64>)>,
}

enum Val<'g> {
    Const(f64),
    Node(Var<'g, f64>),
}

/// Records `expr` on `g` with the given variable values (checked with
/// [`check_values`]): one leaf per variable, created first, in order of
/// first appearance.
pub fn record<'g>(
    g: &'g Graph<f64>,
    expr: &Expr,
    values: &[(String, f64)],
) -> Result<Recorded<'g>, ExprError> {
    check_values(expr, values)?;
    let variables: Vec<(String, Var<'g, f64>)> = expr
        .variables()
        .into_iter()
        .map(|(name, _)| {
            let v = values
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(f64::NAN, |(_, v)| *v);
            (name, g.scalar_variable(v))
        })
        .collect();
    let leaves: HashMap<&str, Var<'g, f64>> =
        variables.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    let output = match build(g, expr, &leaves)? {
        Val::Node(v) => v,
        Val::Const(c) => g.scalar(c),
    };
    Ok(Recorded { output, variables })
}

fn build<'g>(
    g: &'g Graph<f64>,
    e: &Expr,
    leaves: &HashMap<&str, Var<'g, f64>>,
) -> Result<Val<'g>, ExprError> {
    Ok(match e {
        Expr::Num(v) => Val::Const(*v),
        Expr::Var(name, column) => match leaves.get(name.as_str()) {
            Some(v) => Val::Node(*v),
            None => {
                return Err(ExprError::MissingValue {
                    name: name.clone(),
                    column: *column,
                    example: format!("{name}=1"),
                })
            }
        },
        Expr::Neg(a) => match build(g, a, leaves)? {
            Val::Const(c) => Val::Const(-c),
            Val::Node(v) => Val::Node(v.neg()),
        },
        Expr::Call(f, a) => match build(g, a, leaves)? {
            Val::Const(c) => Val::Const(f.apply(c)),
            Val::Node(v) => Val::Node(f.record(v)),
        },
        Expr::Bin(op, a, b) => {
            let (a, b) = (build(g, a, leaves)?, build(g, b, leaves)?);
            Val::Node(match (op, a, b) {
                (op, Val::Const(x), Val::Const(y)) => return Ok(Val::Const(op.apply(x, y))),
                (BinOp::Add, Val::Node(x), Val::Node(y)) => x.add(y)?,
                (BinOp::Add, Val::Node(x), Val::Const(c)) => x.add_scalar(c),
                (BinOp::Add, Val::Const(c), Val::Node(y)) => y.add_scalar(c),
                (BinOp::Sub, Val::Node(x), Val::Node(y)) => x.sub(y)?,
                (BinOp::Sub, Val::Node(x), Val::Const(c)) => x.add_scalar(-c),
                (BinOp::Sub, Val::Const(c), Val::Node(y)) => y.neg().add_scalar(c),
                (BinOp::Mul, Val::Node(x), Val::Node(y)) => x.mul(y)?,
                (BinOp::Mul, Val::Node(x), Val::Const(c)) => x.mul_scalar(c),
                (BinOp::Mul, Val::Const(c), Val::Node(y)) => y.mul_scalar(c),
                (BinOp::Div, Val::Node(x), Val::Node(y)) => x.div(y)?,
                (BinOp::Div, Val::Node(x), Val::Const(c)) => x.mul_scalar(1.0 / c),
                (BinOp::Div, Val::Const(c), Val::Node(y)) => g.scalar(c).div(y)?,
                (BinOp::Pow, Val::Node(x), Val::Const(p)) => x.pow(p),
                (BinOp::Pow, Val::Node(x), Val::Node(y)) => x.pow_var(y)?,
                (BinOp::Pow, Val::Const(c), Val::Node(y)) => g.scalar(c).pow_var(y)?,
            })
        }
    })
}
