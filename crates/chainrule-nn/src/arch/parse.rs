//! The recursive-descent parser of architecture strings:
//!
//! ```text
//! sequence := layer ("," layer)*
//! layer    := NAME ["(" [argument ("," argument)*] ")"]
//!           | "residual" "(" sequence ")"
//!           | "repeat" "(" NUMBER "," sequence ")"
//! argument := value | NAME "=" value
//! value    := NUMBER | NAME
//! ```
//!
//! Names are case-insensitive. Each layer's arguments are bound and checked
//! here (see [`super::args`]); what depends on the input shape is checked by
//! [`super::infer`].

use super::args::{Args, Signature, Value, Written};
use super::error::ArchError;
use super::lex::{self, Tok, Token};
use super::{ConvSpec, LayerKind, LayerSpec, NormSpec, PoolSpec, MAX_NESTING};
use crate::activation::Activation;

/// The most layers a `repeat(…)` may expand to (its nested blocks'
/// layers counted), so that a short string cannot build a huge network.
pub const MAX_REPEATED_LAYERS: usize = 4096;

/// The layer names, in the order error messages list them.
pub const LAYER_NAMES: [&str; 17] = [
    "linear",
    "conv2d",
    "maxpool2d",
    "avgpool2d",
    "globalavgpool2d",
    "flatten",
    "batchnorm1d",
    "batchnorm2d",
    "layernorm",
    "dropout",
    "relu",
    "sigmoid",
    "tanh",
    "leaky_relu",
    "identity",
    "residual",
    "repeat",
];

/// Parses an architecture string into its layers (see the [module
/// documentation](super) for the layers and their arguments).
pub fn parse(text: &str) -> Result<Vec<LayerSpec>, ArchError> {
    let tokens = lex::tokens(text)?;
    let mut p = Parser {
        text,
        tokens,
        next: 0,
    };
    if p.peek().tok == Tok::End {
        return Err(ArchError::new(text, 0, "empty architecture")
            .note("write layers separated by commas, e.g. linear(64),relu,linear(10)"));
    }
    let layers = p.sequence(0)?;
    let t = p.advance();
    match t.tok {
        Tok::End => Ok(layers),
        Tok::Close => Err(p.error(t.at, "unbalanced ')': there is no '(' to close")),
        other => Err(p.error(
            t.at,
            format!("expected ',' between layers, found {}", other.describe()),
        )),
    }
}

struct Parser<'t> {
    text: &'t str,
    tokens: Vec<Token>,
    next: usize,
}

impl<'t> Parser<'t> {
    fn peek(&self) -> &Token {
        &self.tokens[self.next]
    }

    /// The next token; the end repeats forever.
    fn advance(&mut self) -> Token {
        let t = self.tokens[self.next].clone();
        if t.tok != Tok::End {
            self.next += 1;
        }
        t
    }

    fn error(&self, at: usize, message: impl Into<String>) -> ArchError {
        ArchError::new(self.text, at, message)
    }

    fn unclosed(&self, open_at: usize) -> ArchError {
        self.error(open_at, "unbalanced '(': it is never closed")
            .note("add the missing ')'")
    }

    /// Layers separated by commas, inside `depth` residual blocks.
    fn sequence(&mut self, depth: usize) -> Result<Vec<LayerSpec>, ArchError> {
        let mut layers = self.item(depth)?;
        while self.peek().tok == Tok::Comma {
            self.advance();
            layers.extend(self.item(depth)?);
        }
        Ok(layers)
    }

    /// One layer, or the layers a `repeat(N, …)` expands to.
    fn item(&mut self, depth: usize) -> Result<Vec<LayerSpec>, ArchError> {
        match &self.peek().tok {
            Tok::Word(w) if w.eq_ignore_ascii_case("repeat") => self.repeat(depth),
            _ => Ok(vec![self.layer(depth)?]),
        }
    }

    /// `repeat(N, layers…)`: the layers written `N` times over, each copy
    /// keeping the positions of the text it came from.
    fn repeat(&mut self, depth: usize) -> Result<Vec<LayerSpec>, ArchError> {
        let at = self.advance().at;
        let usage = "write it as repeat(20, linear(32), sigmoid)";
        let open = self.advance();
        if open.tok != Tok::Open {
            return Err(self
                .error(at, "repeat needs a count and layers in parentheses")
                .note(usage));
        }
        let t = self.advance();
        let count = match &t.tok {
            Tok::Num(n) => n.parse::<usize>().ok().filter(|&n| n >= 1),
            Tok::End => return Err(self.unclosed(open.at)),
            _ => None,
        };
        let Some(count) = count else {
            return Err(self
                .error(
                    t.at,
                    format!(
                        "repeat's count must be a whole number of at least 1, found {}",
                        t.tok.describe()
                    ),
                )
                .note(usage));
        };
        let comma = self.advance();
        if comma.tok != Tok::Comma {
            return Err(match comma.tok {
                Tok::End => self.unclosed(open.at),
                other => self
                    .error(
                        comma.at,
                        format!(
                            "expected ',' after repeat's count, found {}",
                            other.describe()
                        ),
                    )
                    .note(usage),
            });
        }
        if depth + 1 > MAX_NESTING {
            return Err(self.error(
                at,
                format!("repeat and residual blocks nested more than {MAX_NESTING} deep"),
            ));
        }
        let body = self.sequence(depth + 1)?;
        self.close(open.at)?;
        let total = count.checked_mul(layer_count(&body));
        match total {
            Some(n) if n <= MAX_REPEATED_LAYERS => {}
            _ => {
                return Err(self.error(
                    at,
                    format!(
                        "repeat would build more than {MAX_REPEATED_LAYERS} layers ({count} × {})",
                        layer_count(&body)
                    ),
                ))
            }
        }
        let mut layers = Vec::with_capacity(count * body.len());
        for _ in 0..count {
            layers.extend(body.iter().cloned());
        }
        Ok(layers)
    }

    fn layer(&mut self, depth: usize) -> Result<LayerSpec, ArchError> {
        let t = self.advance();
        let Tok::Word(word) = t.tok else {
            return Err(self.error(
                t.at,
                format!("expected a layer name, found {}", t.tok.describe()),
            ));
        };
        let at = t.at;
        let lower = word.to_ascii_lowercase();
        let Some(&name) = LAYER_NAMES.iter().find(|&&n| n == lower) else {
            return Err(self
                .error(at, format!("unknown layer '{word}'"))
                .note(format!("known layers: {}", LAYER_NAMES.join(", ")))
                .suggest(&lower, &LAYER_NAMES));
        };
        if name == "residual" {
            let open = self.advance();
            if open.tok != Tok::Open {
                return Err(self
                    .error(at, "residual needs its body in parentheses")
                    .note("write it as residual(linear(64),relu)"));
            }
            if depth + 1 > MAX_NESTING {
                return Err(self.error(
                    at,
                    format!("residual blocks nested more than {MAX_NESTING} deep"),
                ));
            }
            if self.peek().tok == Tok::Close {
                return Err(self
                    .error(at, "residual has an empty body")
                    .note("write it as residual(linear(64),relu)"));
            }
            let body = self.sequence(depth + 1)?;
            self.close(open.at)?;
            return Ok(LayerSpec {
                kind: LayerKind::Residual(body),
                at,
            });
        }
        let written = if self.peek().tok == Tok::Open {
            let open_at = self.advance().at;
            self.arguments(open_at)?
        } else {
            Vec::new()
        };
        let kind = build(self.text, name, at, written)?;
        Ok(LayerSpec { kind, at })
    }

    /// Expects the `)` closing the `(` at `open_at`.
    fn close(&mut self, open_at: usize) -> Result<(), ArchError> {
        let t = self.advance();
        match t.tok {
            Tok::Close => Ok(()),
            Tok::End => Err(self.unclosed(open_at)),
            other => Err(self.error(
                t.at,
                format!("expected ',' or ')', found {}", other.describe()),
            )),
        }
    }

    /// The arguments after a `(` at `open_at`, through the `)`.
    fn arguments(&mut self, open_at: usize) -> Result<Vec<Written>, ArchError> {
        let mut written = Vec::new();
        if self.peek().tok == Tok::Close {
            self.advance();
            return Ok(written);
        }
        loop {
            written.push(self.argument(open_at)?);
            let t = self.advance();
            match t.tok {
                Tok::Comma => {}
                Tok::Close => return Ok(written),
                Tok::End => return Err(self.unclosed(open_at)),
                other => {
                    return Err(self.error(
                        t.at,
                        format!(
                            "expected ',' or ')' after an argument, found {}",
                            other.describe()
                        ),
                    ))
                }
            }
        }
    }

    fn argument(&mut self, open_at: usize) -> Result<Written, ArchError> {
        let t = self.advance();
        match t.tok {
            Tok::Word(w) if self.peek().tok == Tok::Equals => {
                self.advance();
                let value = self.value(open_at)?;
                Ok(Written {
                    name: Some((w.to_ascii_lowercase(), t.at)),
                    value,
                })
            }
            tok @ (Tok::Word(_) | Tok::Num(_)) => Ok(Written {
                name: None,
                value: Value { tok, at: t.at },
            }),
            Tok::End => Err(self.unclosed(open_at)),
            other => Err(self.error(
                t.at,
                format!("expected an argument, found {}", other.describe()),
            )),
        }
    }

    fn value(&mut self, open_at: usize) -> Result<Value, ArchError> {
        let t = self.advance();
        match t.tok {
            tok @ (Tok::Word(_) | Tok::Num(_)) => Ok(Value { tok, at: t.at }),
            Tok::End => Err(self.unclosed(open_at)),
            other => Err(self.error(
                t.at,
                format!("expected a value after '=', found {}", other.describe()),
            )),
        }
    }
}

/// Layers in all, those inside residual blocks included.
fn layer_count(layers: &[LayerSpec]) -> usize {
    layers
        .iter()
        .map(|l| match &l.kind {
            LayerKind::Residual(body) => 1 + layer_count(body),
            _ => 1,
        })
        .sum()
}

const KERNEL: &[(&str, &str)] = &[
    ("k", "k"),
    ("kh", "kh"),
    ("kw", "kw"),
    ("stride", "stride"),
    ("sh", "sh"),
    ("sw", "sw"),
    ("pad", "pad"),
    ("padding", "pad"),
    ("ph", "ph"),
    ("pw", "pw"),
];

const LINEAR: Signature = Signature {
    layer: "linear",
    positional: &["out"],
    named: &[("out", "out"), ("bias", "bias")],
    usage: "linear(OUT) or linear(OUT, bias=false)",
};

const CONV: Signature = Signature {
    layer: "conv2d",
    positional: &["out", "k"],
    named: &[
        ("out", "out"),
        ("k", "k"),
        ("kh", "kh"),
        ("kw", "kw"),
        ("stride", "stride"),
        ("sh", "sh"),
        ("sw", "sw"),
        ("pad", "pad"),
        ("padding", "pad"),
        ("ph", "ph"),
        ("pw", "pw"),
        ("dilation", "dilation"),
        ("dh", "dh"),
        ("dw", "dw"),
        ("groups", "groups"),
        ("bias", "bias"),
    ],
    usage: "conv2d(OUT, K, stride=1, pad=0, dilation=1, groups=1, bias=true), or kh=…, kw=… for a rectangular kernel",
};

const MAXPOOL: Signature = Signature {
    layer: "maxpool2d",
    positional: &["k"],
    named: KERNEL,
    usage: "maxpool2d(K, stride=K, pad=0)",
};

const AVGPOOL: Signature = Signature {
    layer: "avgpool2d",
    positional: &["k"],
    named: KERNEL,
    usage: "avgpool2d(K, stride=K, pad=0)",
};

const BATCHNORM1D: Signature = Signature {
    layer: "batchnorm1d",
    positional: &[],
    named: &[
        ("eps", "eps"),
        ("momentum", "momentum"),
        ("affine", "affine"),
    ],
    usage: "batchnorm1d(eps=1e-5, momentum=0.1, affine=true)",
};

const BATCHNORM2D: Signature = Signature {
    layer: "batchnorm2d",
    ..BATCHNORM1D
};

const LAYERNORM: Signature = Signature {
    layer: "layernorm",
    positional: &[],
    named: &[("axes", "axes"), ("eps", "eps"), ("affine", "affine")],
    usage: "layernorm(axes=1, eps=1e-5, affine=true)",
};

const DROPOUT: Signature = Signature {
    layer: "dropout",
    positional: &["p"],
    named: &[("p", "p")],
    usage: "dropout(P) with P in [0, 1), e.g. dropout(0.5)",
};

const LEAKY_RELU: Signature = Signature {
    layer: "leaky_relu",
    positional: &["slope"],
    named: &[("slope", "slope")],
    usage: "leaky_relu or leaky_relu(SLOPE)",
};

/// The layer `name` (one of [`LAYER_NAMES`], not residual) at `at` with the
/// arguments `written`.
fn build(
    text: &str,
    name: &'static str,
    at: usize,
    written: Vec<Written>,
) -> Result<LayerKind, ArchError> {
    let bare = Signature {
        layer: name,
        positional: &[],
        named: &[],
        usage: name,
    };
    let sig = match name {
        "linear" => &LINEAR,
        "conv2d" => &CONV,
        "maxpool2d" => &MAXPOOL,
        "avgpool2d" => &AVGPOOL,
        "batchnorm1d" => &BATCHNORM1D,
        "batchnorm2d" => &BATCHNORM2D,
        "layernorm" => &LAYERNORM,
        "dropout" => &DROPOUT,
        "leaky_relu" => &LEAKY_RELU,
        _ => &bare,
    };
    let a = Args::bind(text, sig, at, written)?;
    let kind = match name {
        "linear" => LayerKind::Linear {
            out_features: a.whole("out", 1)?.ok_or_else(|| a.missing("output size"))?,
            bias: a.flag("bias")?.unwrap_or(true),
        },
        "conv2d" => LayerKind::Conv2d(conv(&a)?),
        "maxpool2d" => LayerKind::MaxPool2d(pool(&a)?),
        "avgpool2d" => LayerKind::AvgPool2d(pool(&a)?),
        "globalavgpool2d" => LayerKind::GlobalAvgPool2d,
        "flatten" => LayerKind::Flatten,
        "batchnorm1d" => LayerKind::BatchNorm1d(norm(&a)?),
        "batchnorm2d" => LayerKind::BatchNorm2d(norm(&a)?),
        "layernorm" => LayerKind::LayerNorm {
            axes: a.whole("axes", 1)?.unwrap_or(1),
            norm: norm(&a)?,
        },
        "dropout" => LayerKind::Dropout(
            a.real("p", "in [0, 1)", |p| (0.0..1.0).contains(&p))?
                .ok_or_else(|| a.missing("drop probability"))?,
        ),
        "relu" => LayerKind::Activation(Activation::Relu),
        "sigmoid" => LayerKind::Activation(Activation::Sigmoid),
        "tanh" => LayerKind::Activation(Activation::Tanh),
        "identity" => LayerKind::Activation(Activation::Identity),
        "leaky_relu" => LayerKind::Activation(Activation::LeakyRelu(
            a.real("slope", "a finite number", |_| true)?
                .unwrap_or(Activation::LEAKY_SLOPE),
        )),
        _ => unreachable!("every name of LAYER_NAMES but residual and repeat has a case"),
    };
    // What involves several arguments (groups dividing the channels, a
    // pool's padding at most half its window).
    kind.check().map_err(|detail| a.error(detail))?;
    Ok(kind)
}

/// The pair of whole numbers set by `both` (both axes) and overridden by
/// `rows`/`cols`, each at least `min`; `None` for an axis not given.
fn pair(
    a: &Args,
    [both, rows, cols]: [&str; 3],
    min: usize,
) -> Result<[Option<usize>; 2], ArchError> {
    let both = a.whole(both, min)?;
    Ok([a.whole(rows, min)?.or(both), a.whole(cols, min)?.or(both)])
}

fn conv(a: &Args) -> Result<ConvSpec, ArchError> {
    let out_channels = a
        .whole("out", 1)?
        .ok_or_else(|| a.missing("output channel count"))?;
    let [Some(kh), Some(kw)] = pair(a, ["k", "kh", "kw"], 1)? else {
        return Err(a.missing("kernel size"));
    };
    let [sh, sw] = pair(a, ["stride", "sh", "sw"], 1)?;
    let [ph, pw] = pair(a, ["pad", "ph", "pw"], 0)?;
    let [dh, dw] = pair(a, ["dilation", "dh", "dw"], 1)?;
    Ok(ConvSpec {
        out_channels,
        kernel: [kh, kw],
        stride: [sh.unwrap_or(1), sw.unwrap_or(1)],
        padding: [ph.unwrap_or(0), pw.unwrap_or(0)],
        dilation: [dh.unwrap_or(1), dw.unwrap_or(1)],
        groups: a.whole("groups", 1)?.unwrap_or(1),
        bias: a.flag("bias")?.unwrap_or(true),
    })
}

fn pool(a: &Args) -> Result<PoolSpec, ArchError> {
    let [Some(kh), Some(kw)] = pair(a, ["k", "kh", "kw"], 1)? else {
        return Err(a.missing("window size"));
    };
    let [sh, sw] = pair(a, ["stride", "sh", "sw"], 1)?;
    let [ph, pw] = pair(a, ["pad", "ph", "pw"], 0)?;
    Ok(PoolSpec {
        kernel: [kh, kw],
        stride: [sh.unwrap_or(kh), sw.unwrap_or(kw)],
        padding: [ph.unwrap_or(0), pw.unwrap_or(0)],
    })
}

fn norm(a: &Args) -> Result<NormSpec, ArchError> {
    let d = NormSpec::default();
    Ok(NormSpec {
        eps: a
            .real("eps", "a positive number", |e| e > 0.0)?
            .unwrap_or(d.eps),
        momentum: a
            .real("momentum", "in (0, 1]", |m| m > 0.0 && m <= 1.0)?
            .unwrap_or(d.momentum),
        affine: a.flag("affine")?.unwrap_or(d.affine),
    })
}
