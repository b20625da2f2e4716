//! Scalar expressions such as `(x + y) * (x - 1)`: a parser with errors
//! that point at the column, a plain f64 evaluator, and a builder that
//! records the expression on a [`Graph`] so that its forward and backward
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

use chainrule::{Graph, Var};
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

// ----- tokens ---------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(f64),
    Name(String),
    Op(char),
    LParen,
    RParen,
    End,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    /// 1-based column of the first character.
    column: usize,
    text: String,
}

fn parse_error(message: impl Into<String>, column: usize) -> ExprError {
    ExprError::Parse {
        message: message.into(),
        column,
    }
}

fn tokenize(src: &str) -> Result<Vec<Token>, ExprError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            // An exponent: e or E, an optional sign, digits.
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    while j < chars.len() && chars[j].is_ascii_digit() {
                        j += 1;
                    }
                    i = j;
                } else {
                    // `2e` or `2e+`: part of a malformed number.
                    let text: String = chars[start..j].iter().collect();
                    return Err(parse_error(format!("bad number '{text}'"), column));
                }
            }
            let text: String = chars[start..i].iter().collect();
            // A letter glued to the number: `2x`, `1.5e3y`.
            if i < chars.len() && (chars[i].is_alphabetic() || chars[i] == '_') {
                let name_end = (i..chars.len())
                    .find(|&k| !(chars[k].is_alphanumeric() || chars[k] == '_'))
                    .unwrap_or(chars.len());
                let name: String = chars[i..name_end].iter().collect();
                return Err(parse_error(
                    format!("unexpected '{name}' after the number '{text}' (write {text}*{name})"),
                    i + 1,
                ));
            }
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => out.push(Token {
                    tok: Tok::Num(v),
                    column,
                    text,
                }),
                Ok(_) => {
                    return Err(parse_error(
                        format!("the number '{text}' is too large"),
                        column,
                    ))
                }
                Err(_) => return Err(parse_error(format!("bad number '{text}'"), column)),
            }
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            out.push(Token {
                tok: Tok::Name(text.clone()),
                column,
                text,
            });
            continue;
        }
        let tok = match c {
            '+' | '-' | '*' | '/' | '^' => Tok::Op(c),
            '−' => Tok::Op('-'),
            '×' | '·' => Tok::Op('*'),
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            _ => return Err(parse_error(format!("unexpected character '{c}'"), column)),
        };
        out.push(Token {
            tok,
            column,
            text: c.to_string(),
        });
        i += 1;
    }
    out.push(Token {
        tok: Tok::End,
        column: chars.len() + 1,
        text: String::new(),
    });
    Ok(out)
}

// ----- parser ---------------------------------------------------------------

/// Nesting deeper than this is refused (it would only overflow the stack).
const MAX_DEPTH: usize = 200;
/// Longer expressions are refused: every recursive walk of the tree stays
/// far from the stack's limit.
const MAX_TOKENS: usize = 2000;

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn unexpected(&self, t: &Token, expected: &str) -> ExprError {
        match t.tok {
            Tok::End => parse_error(
                format!("unexpected end of the expression (expected {expected})"),
                t.column,
            ),
            _ => parse_error(format!("unexpected '{}'", t.text), t.column),
        }
    }

    fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(parse_error(
                format!("the expression nests deeper than {MAX_DEPTH} levels"),
                self.peek().column,
            ));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, ExprError> {
        self.enter()?;
        let mut lhs = self.term()?;
        while let Tok::Op(c @ ('+' | '-')) = self.peek().tok {
            self.next();
            let rhs = self.term()?;
            let op = if c == '+' { BinOp::Add } else { BinOp::Sub };
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn term(&mut self) -> Result<Expr, ExprError> {
        let mut lhs = self.unary()?;
        while let Tok::Op(c @ ('*' | '/')) = self.peek().tok {
            self.next();
            let rhs = self.unary()?;
            let op = if c == '*' { BinOp::Mul } else { BinOp::Div };
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        self.enter()?;
        let e = match self.peek().tok {
            Tok::Op('-') => {
                self.next();
                match self.unary()? {
                    Expr::Num(v) => Expr::Num(-v),
                    e => Expr::Neg(Box::new(e)),
                }
            }
            Tok::Op('+') => {
                self.next();
                self.unary()?
            }
            _ => self.power()?,
        };
        self.depth -= 1;
        Ok(e)
    }

    fn power(&mut self) -> Result<Expr, ExprError> {
        let base = self.atom()?;
        if let Tok::Op('^') = self.peek().tok {
            self.next();
            let exponent = self.unary()?;
            return Ok(Expr::Bin(BinOp::Pow, Box::new(base), Box::new(exponent)));
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<Expr, ExprError> {
        let t = self.next();
        match &t.tok {
            Tok::Num(v) => Ok(Expr::Num(*v)),
            Tok::LParen => {
                let e = self.expr()?;
                self.close(&t)?;
                Ok(e)
            }
            Tok::Name(name) => {
                if self.peek().tok == Tok::LParen {
                    let open = self.next();
                    let func = Func::parse(name).ok_or_else(|| {
                        let known: Vec<&str> = Func::ALL.iter().map(|f| f.name()).collect();
                        parse_error(
                            format!("unknown function '{name}' (known: {})", known.join(", ")),
                            t.column,
                        )
                    })?;
                    let arg = self.expr()?;
                    self.close(&open)?;
                    Ok(Expr::Call(func, Box::new(arg)))
                } else if Func::parse(name).is_some() {
                    Err(parse_error(
                        format!("the function '{name}' needs its argument in parentheses, e.g. {name}(x)"),
                        t.column,
                    ))
                } else {
                    Ok(Expr::Var(name.clone(), t.column))
                }
            }
            _ => Err(self.unexpected(&t, "a number, a variable, a function or '('")),
        }
    }

    fn close(&mut self, open: &Token) -> Result<(), ExprError> {
        let t = self.next();
        match t.tok {
            Tok::RParen => Ok(()),
            Tok::End => Err(parse_error(
                format!(
                    "missing ')' for the '(' at column {} (unexpected end of the expression)",
                    open.column
                ),
                t.column,
            )),
            _ => Err(self.unexpected(&t, "')'")),
        }
    }
}

/// Parses an expression; errors name the 1-based column.
pub fn parse(src: &str) -> Result<Expr, ExprError> {
    let tokens = tokenize(src)?;
    if tokens.len() > MAX_TOKENS {
        return Err(parse_error(
            format!("the expression is too long (more than {MAX_TOKENS} tokens)"),
            tokens[MAX_TOKENS].column,
        ));
    }
    if tokens.len() == 1 {
        return Err(parse_error("the expression is empty", 1));
    }
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    let e = p.expr()?;
    let t = p.next();
    if t.tok != Tok::End {
        return Err(p.unexpected(&t, "the end"));
    }
    Ok(e)
}

/// Parses `x=3,y=2` (spaces allowed; values are finite numbers).
pub fn parse_values(s: &str) -> Result<Vec<(String, f64)>, ExprError> {
    let mut out: Vec<(String, f64)> = Vec::new();
    if s.trim().is_empty() {
        return Ok(out);
    }
    for part in s.split(',') {
        let part = part.trim();
        let (name, value) = part.split_once('=').ok_or_else(|| {
            ExprError::BadValues(format!("'{part}' is not NAME=VALUE (e.g. --at x=3,y=2)"))
        })?;
        let (name, value) = (name.trim(), value.trim());
        let valid_name = name
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_alphanumeric() || c == '_');
        if !valid_name {
            return Err(ExprError::BadValues(format!(
                "'{name}' is not a variable name"
            )));
        }
        let v = value
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| {
                ExprError::BadValues(format!(
                    "the value of {name}, '{value}', is not a finite number"
                ))
            })?;
        if out.iter().any(|(n, _)| n == name) {
            return Err(ExprError::BadValues(format!("{name} is given twice")));
        }
        out.push((name.to_string(), v));
    }
    Ok(out)
}

/// Checks that `values` gives every variable of `expr` and nothing else.
pub fn check_values(expr: &Expr, values: &[(String, f64)]) -> Result<(), ExprError> {
    let vars = expr.variables();
    for (name, column) in &vars {
        if !values.iter().any(|(n, _)| n == name) {
            let example: Vec<String> = vars
                .iter()
                .map(|(n, _)| {
                    let v = values.iter().find(|(m, _)| m == n).map(|(_, v)| *v);
                    match v {
                        Some(v) => format!("{n}={v}"),
                        None => format!("{n}=1"),
                    }
                })
                .collect();
            return Err(ExprError::MissingValue {
                name: name.clone(),
                column: *column,
                example: example.join(","),
            });
        }
    }
    for (name, _) in values {
        if !vars.iter().any(|(n, _)| n == name) {
            let used: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
            return Err(ExprError::UnusedValue {
                name: name.clone(),
                used: if used.is_empty() {
                    "none".into()
                } else {
                    used.join(", ")
                },
            });
        }
    }
    Ok(())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> String {
        parse(src).unwrap_err().to_string()
    }

    #[test]
    fn precedence_and_associativity() {
        let v = |s: &str| {
            parse(s)
                .unwrap()
                .eval(&HashMap::from([("x".to_string(), 3.0)]))
        };
        assert_eq!(v("1 + 2 * 3"), 7.0);
        assert_eq!(v("-x^2"), -9.0);
        assert_eq!(v("2^3^2"), 512.0);
        assert_eq!(v("2^-1"), 0.5);
        assert_eq!(v("(1 + 2) * 3"), 9.0);
        assert_eq!(v("8 / 4 / 2"), 1.0);
        assert_eq!(v("1 - 2 - 3"), -4.0);
        assert_eq!(v("--x"), 3.0);
        assert_eq!(v("1.5e1 + .5"), 15.5);
        assert_eq!(v("exp(0) + relu(-x)"), 1.0);
    }

    #[test]
    fn errors_point_at_the_column() {
        assert_eq!(err("(x + 1))"), "unexpected ')' at column 8");
        assert_eq!(err("(x + )"), "unexpected ')' at column 6");
        assert_eq!(err("x + "), "unexpected end of the expression (expected a number, a variable, a function or '(') at column 5");
        assert!(err("(x + 1").starts_with("missing ')' for the '(' at column 1"));
        assert!(err("foo(x)").starts_with("unknown function 'foo'"));
        assert!(err("foo(x)").ends_with("at column 1"));
        assert_eq!(err("1.2.3 + x"), "bad number '1.2.3' at column 1");
        assert_eq!(err("x + 2e"), "bad number '2e' at column 5");
        assert!(err("2x").contains("write 2*x"));
        assert_eq!(err("x $ y"), "unexpected character '$' at column 3");
        assert_eq!(err("   "), "the expression is empty at column 1");
        assert!(err("exp + 1").contains("needs its argument in parentheses"));
        assert!(err(&"(".repeat(150)).contains("deeper than"));
        assert!(err(&"x+".repeat(5000)).contains("too long"));
    }

    #[test]
    fn values_are_checked() {
        assert_eq!(
            parse_values("x=3, y=-2").unwrap(),
            vec![("x".to_string(), 3.0), ("y".to_string(), -2.0)]
        );
        assert!(parse_values("x").is_err());
        assert!(parse_values("x=abc").is_err());
        assert!(parse_values("x=1,x=2").is_err());
        assert!(parse_values("1x=1").is_err());
        let e = parse("x * y").unwrap();
        let missing = check_values(&e, &parse_values("x=1").unwrap()).unwrap_err();
        assert!(missing.to_string().contains("'y'"), "{missing}");
        assert!(check_values(&e, &parse_values("x=1,y=2,z=3").unwrap()).is_err());
    }

    #[test]
    fn display_parses_back() {
        for s in ["(x + y) * (x - 1)", "-x^2 / sigmoid(y)", "2^-x - -3"] {
            // Equal up to the columns recorded for variables.
            let e = parse(s).unwrap();
            let again = parse(&e.to_string()).unwrap();
            assert_eq!(again.to_string(), e.to_string(), "{s}");
            let values = HashMap::from([("x".to_string(), 0.7), ("y".to_string(), -1.3)]);
            assert_eq!(again.eval(&values), e.eval(&values));
        }
    }

    #[test]
    fn variables_are_one_leaf() {
        let g = Graph::<f64>::new();
        let e = parse("(x + y) * (x - 1)").unwrap();
        let r = record(&g, &e, &parse_values("x=3,y=2").unwrap()).unwrap();
        assert_eq!(r.output.item().unwrap(), 10.0);
        assert_eq!(r.variables.len(), 2);
        // x, y, x + y, x − 1, product.
        assert_eq!(g.len(), 5);
    }
}
