//! Tokens, the recursive-descent parser, and the values given for the
//! variables.

use super::{BinOp, Expr, ExprError, Func};

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
