//! Scalar expressions such as `(x + y) * (x - 1)`: a parser with errors
//! that point at the column, a plain f64 evaluator, and a builder that
//! records the expression on a [`Graph`](chainrule::Graph) so that its forward and backward
//! passes can be traced and drawn.
//!
//! Grammar (usual precedence, `^` binding tightest and to the right, so
//! `-x^2` is `-(x^2)` and `2^3^2` is `2^(3^2)`):
//!
//! ```text
//! expr    := term (('+' | '-') term)*
//! term    := unary (('*' | '/') unary)*
//! unary   := ('-' | '+') unary | power
//! power   := atom ('^' unary)?
//! atom    := NUMBER | NAME | FUNC '(' expr ')' | '(' expr ')'
//! FUNC    := exp | log | sqrt | abs | sin | cos | tanh | sigmoid | relu
//! ```
//!
//! On the graph every variable is one leaf, however often it is used, so
//! gradients from several uses add up on it. A constant meeting a variable
//! becomes a scalar operation (`x - 1` is `add_scalar(-1)`, `2*x` is
//! `mul_scalar(2)`, `x^3` is `pow(3)`); a varying exponent is the binary
//! `pow_var`, so powers keep their real meaning wherever it exists
//! (`(−2)^y` at y = 2, `0^y` for y > 0), as `f64::powf` and `torch.pow`.

mod parse;
mod record;
#[cfg(test)]
mod tests;

pub use parse::{check_values, parse, parse_values};
pub use record::{record, Recorded};

use chainrule::Var;
use std::collections::HashMap;
use std::fmt;

/// An error in an expression or in the values given for its variables.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ExprError {
    /// A syntax error, with the 1-based column it was found at.
    #[error("{message} at column {column}")]
    Parse { message: String, column: usize },
    /// A variable without a value.
    #[error("the variable '{name}' (column {column}) has no value: give it with --at, e.g. --at {example}")]
    MissingValue {
        name: String,
        column: usize,
        example: String,
    },
    /// Values given for names the expression does not use.
    #[error("--at gives a value for '{name}', which the expression does not use (its variables: {used})")]
    UnusedValue { name: String, used: String },
    /// A malformed `--at` list.
    #[error("--at: {0}")]
    BadValues(String),
    /// An error of the engine.
    #[error(transparent)]
    Engine(#[from] chainrule::Error),
}

/// The functions of the grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Exp,
    Log,
    Sqrt,
    Abs,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    Relu,
}

impl Func {
    /// Every function, in the order the grammar lists them.
    pub const ALL: [Func; 9] = [
        Func::Exp,
        Func::Log,
        Func::Sqrt,
        Func::Abs,
        Func::Sin,
        Func::Cos,
        Func::Tanh,
        Func::Sigmoid,
        Func::Relu,
    ];

    /// The name as written in expressions.
    pub fn name(&self) -> &'static str {
        match self {
            Func::Exp => "exp",
            Func::Log => "log",
            Func::Sqrt => "sqrt",
            Func::Abs => "abs",
            Func::Sin => "sin",
            Func::Cos => "cos",
            Func::Tanh => "tanh",
            Func::Sigmoid => "sigmoid",
            Func::Relu => "relu",
        }
    }

    fn parse(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The function on a plain f64.
    pub fn apply(&self, x: f64) -> f64 {
        match self {
            Func::Exp => x.exp(),
            Func::Log => x.ln(),
            Func::Sqrt => x.sqrt(),
            Func::Abs => x.abs(),
            Func::Sin => x.sin(),
            Func::Cos => x.cos(),
            Func::Tanh => x.tanh(),
            Func::Sigmoid => {
                if x >= 0.0 {
                    1.0 / (1.0 + (-x).exp())
                } else {
                    let e = x.exp();
                    e / (1.0 + e)
                }
            }
            Func::Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
        }
    }

    fn record<'g>(&self, v: Var<'g, f64>) -> Var<'g, f64> {
        match self {
            Func::Exp => v.exp(),
            Func::Log => v.log(),
            Func::Sqrt => v.sqrt(),
            Func::Abs => v.abs(),
            Func::Sin => v.sin(),
            Func::Cos => v.cos(),
            Func::Tanh => v.tanh(),
            Func::Sigmoid => v.sigmoid(),
            Func::Relu => v.relu(),
        }
    }
}

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

impl BinOp {
    fn symbol(&self) -> char {
        match self {
            BinOp::Add => '+',
            BinOp::Sub => '-',
            BinOp::Mul => '*',
            BinOp::Div => '/',
            BinOp::Pow => '^',
        }
    }

    fn apply(&self, a: f64, b: f64) -> f64 {
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
            BinOp::Pow => a.powf(b),
        }
    }
}

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Num(f64),
    /// A variable and the column of its first character.
    Var(String, usize),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Call(Func, Box<Expr>),
}

impl fmt::Display for Expr {
    /// Fully parenthesized, in the grammar's own syntax (parses back to an
    /// equal expression).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Num(v) if *v < 0.0 => write!(f, "({v:?})"),
            Expr::Num(v) => write!(f, "{v:?}"),
            Expr::Var(name, _) => write!(f, "{name}"),
            Expr::Neg(e) => write!(f, "(-{e})"),
            Expr::Bin(op, a, b) => write!(f, "({a} {} {b})", op.symbol()),
            Expr::Call(func, e) => write!(f, "{}({e})", func.name()),
        }
    }
}

impl Expr {
    /// The variables in order of first appearance, with that column.
    pub fn variables(&self) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = Vec::new();
        self.visit_vars(&mut |name, col| {
            if !out.iter().any(|(n, _)| n == name) {
                out.push((name.to_string(), col));
            }
        });
        out
    }

    fn visit_vars(&self, f: &mut impl FnMut(&str, usize)) {
        match self {
            Expr::Num(_) => {}
            Expr::Var(name, col) => f(name, *col),
            Expr::Neg(e) | Expr::Call(_, e) => e.visit_vars(f),
            Expr::Bin(_, a, b) => {
                a.visit_vars(f);
                b.visit_vars(f);
            }
        }
    }

    /// Evaluates in plain f64 (no graph); unknown variables are NaN.
    pub fn eval(&self, values: &HashMap<String, f64>) -> f64 {
        match self {
            Expr::Num(v) => *v,
            Expr::Var(name, _) => values.get(name).copied().unwrap_or(f64::NAN),
            Expr::Neg(e) => -e.eval(values),
            Expr::Bin(op, a, b) => op.apply(a.eval(values), b.eval(values)),
            Expr::Call(func, e) => func.apply(e.eval(values)),
        }
    }
}
