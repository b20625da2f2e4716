//! A layer's arguments: which it takes (positional and named, with
//! aliases), bound to the values written, and read as whole numbers, reals
//! or booleans with their ranges checked, each error pointing at the value.

use super::error::ArchError;
use super::lex::Tok;

/// The arguments one layer takes.
pub(super) struct Signature {
    /// The layer's name, for messages.
    pub layer: &'static str,
    /// Names of the positional arguments, in order.
    pub positional: &'static [&'static str],
    /// Accepted names and the argument each sets (`padding` sets `pad`).
    pub named: &'static [(&'static str, &'static str)],
    /// How the layer is written, for "missing" messages.
    pub usage: &'static str,
}

/// A value as written: a number or a word, and where.
#[derive(Clone, Debug)]
pub(super) struct Value {
    pub tok: Tok,
    pub at: usize,
}

/// One argument as written: `value` or `name=value`.
#[derive(Clone, Debug)]
pub(super) struct Written {
    /// The name as written (lowercased) and its position, if named.
    pub name: Option<(String, usize)>,
    pub value: Value,
}

/// A layer's arguments, bound to the names of its [`Signature`].
pub(super) struct Args<'t> {
    text: &'t str,
    sig: &'t Signature,
    /// The layer name's position.
    at: usize,
    bound: Vec<(&'static str, Value)>,
}

impl<'t> Args<'t> {
    /// Binds `written` to `sig`: positional arguments first, then named
    /// ones; no unknown names, no argument given twice.
    pub fn bind(
        text: &'t str,
        sig: &'t Signature,
        at: usize,
        written: Vec<Written>,
    ) -> Result<Args<'t>, ArchError> {
        let mut bound: Vec<(&'static str, Value)> = Vec::new();
        let mut seen_named = false;
        let mut positional = 0;
        for w in written {
            let (name, name_at) = match w.name {
                None => {
                    if seen_named {
                        return Err(ArchError::new(
                            text,
                            w.value.at,
                            format!("{}: a positional argument after named ones", sig.layer),
                        )
                        .note(format!("write it as {}", sig.usage)));
                    }
                    let Some(&name) = sig.positional.get(positional) else {
                        let takes = match sig.positional.len() {
                            0 => "no positional arguments".to_string(),
                            1 => format!("one positional argument ({})", sig.positional[0]),
                            n => {
                                format!("{n} positional arguments ({})", sig.positional.join(", "))
                            }
                        };
                        let e = ArchError::new(
                            text,
                            w.value.at,
                            format!("{} takes {takes}", sig.layer),
                        );
                        return Err(if sig.named.is_empty() {
                            e
                        } else {
                            e.note(format!("write it as {}", sig.usage))
                        });
                    };
                    positional += 1;
                    (name, w.value.at)
                }
                Some((written_name, name_at)) => {
                    seen_named = true;
                    let Some(&(_, name)) = sig.named.iter().find(|(n, _)| *n == written_name)
                    else {
                        return Err(unknown_argument(text, sig, &written_name, name_at));
                    };
                    (name, name_at)
                }
            };
            if bound.iter().any(|(n, _)| *n == name) {
                return Err(ArchError::new(
                    text,
                    name_at,
                    format!("{}: argument '{name}' given twice", sig.layer),
                ));
            }
            bound.push((name, w.value));
        }
        Ok(Args {
            text,
            sig,
            at,
            bound,
        })
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.bound.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// An error at the layer's name.
    pub fn error(&self, message: impl Into<String>) -> ArchError {
        ArchError::new(self.text, self.at, message)
    }

    /// The error "missing argument" for `what`, with the usage.
    pub fn missing(&self, what: &str) -> ArchError {
        self.error(format!("{} is missing its {what}", self.sig.layer))
            .note(format!("write it as {}", self.sig.usage))
    }

    fn bad(&self, value: &Value, name: &str, wanted: &str) -> ArchError {
        let got = match &value.tok {
            Tok::Num(n) | Tok::Word(n) => n.clone(),
            other => other.describe(),
        };
        ArchError::new(
            self.text,
            value.at,
            format!("{} {name} must be {wanted}, got {got}", self.sig.layer),
        )
    }

    /// The whole number `name`, at least `min`, if given.
    pub fn whole(&self, name: &str, min: usize) -> Result<Option<usize>, ArchError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let wanted = if min == 0 {
            "a whole number ≥ 0".to_string()
        } else if min == 1 {
            "a positive whole number".to_string()
        } else {
            format!("a whole number ≥ {min}")
        };
        let Tok::Num(n) = &v.tok else {
            return Err(self.bad(v, name, &wanted));
        };
        let digits = n.strip_prefix('+').unwrap_or(n);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.bad(v, name, &wanted));
        }
        match digits.parse::<usize>() {
            Ok(x) if x >= min => Ok(Some(x)),
            Ok(_) => Err(self.bad(v, name, &wanted)),
            Err(_) => Err(ArchError::new(
                self.text,
                v.at,
                format!("{} {name} is too large: {n}", self.sig.layer),
            )),
        }
    }

    /// The finite real `name` in the range `ok` describes as `wanted`, if
    /// given.
    pub fn real(
        &self,
        name: &str,
        wanted: &str,
        ok: impl Fn(f64) -> bool,
    ) -> Result<Option<f64>, ArchError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        match &v.tok {
            Tok::Num(n) => match n.parse::<f64>() {
                Ok(x) if x.is_finite() && ok(x) => Ok(Some(x)),
                _ => Err(self.bad(v, name, wanted)),
            },
            _ => Err(self.bad(v, name, wanted)),
        }
    }

    /// The boolean `name` (`true` or `false`, any case), if given.
    pub fn flag(&self, name: &str) -> Result<Option<bool>, ArchError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        match &v.tok {
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => Ok(Some(false)),
            _ => Err(self.bad(v, name, "true or false")),
        }
    }
}

/// The error for an argument name `sig` does not take.
fn unknown_argument(text: &str, sig: &Signature, name: &str, at: usize) -> ArchError {
    if sig.named.is_empty() {
        return ArchError::new(
            text,
            at,
            format!("{} takes no arguments, got '{name}'", sig.layer),
        );
    }
    let names: Vec<&str> = sig.named.iter().map(|(n, _)| *n).collect();
    ArchError::new(
        text,
        at,
        format!("unknown argument '{name}' for {}", sig.layer),
    )
    .note(format!("{} takes: {}", sig.layer, names.join(", ")))
    .suggest(name, &names)
}
