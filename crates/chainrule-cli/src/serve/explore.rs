//! `/api/explore`: one traced forward and backward pass as JSON, the same
//! numbers `chainrule explain --format json` prints (the same
//! [`trace_source`]), with the report's rows (formulas with their numbers),
//! the drawing of `chainrule graph` (its SVG and its layout's
//! coordinates), and a gradient check.

use super::error::ApiError;
use super::limits::*;
use super::query::{self, Params};
use super::replay::{self, StepRequest};
use super::runs::model_file;
use super::AppState;
use crate::explain::{trace_source, Source, Traced};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use chainrule::gradcheck::{relative_error, Verdict};
use chainrule_inspect::draw;
use chainrule_inspect::trace::{self, Report, Show, Trace};
use serde_json::{json, Value};
use std::sync::LazyLock;
use tokio::sync::Semaphore;

/// The query parameters of `/explore` and `/api/explore`.
pub const KEYS: [&str; 17] = [
    "expr",
    "at",
    "example",
    "layers",
    "activation",
    "output_activation",
    "seed",
    "input",
    "target",
    "loss",
    "lr",
    "model",
    "row",
    "step",
    "check",
    "train_step",
    "batch_row",
];

static TRACES: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(MAX_CONCURRENT_TRACES));

static REPLAYS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(MAX_CONCURRENT_REPLAYS));

/// What one explorer request traces.
enum Subject {
    Source(Box<Source>, f64),
    Step(Box<StepRequest>),
}

pub async fn api(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let params = query::parse(raw.as_deref().unwrap_or(""), &KEYS)?;
    let subject = match replay::requested(&params, &state.runs, lr_param(&params)?)? {
        Some(req) => Subject::Step(Box::new(req)),
        None => {
            let (source, lr) = source(&params, &state)?;
            Subject::Source(Box::new(source), lr)
        }
    };
    let closing = |_| ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        setting: None,
        message: "the server is shutting down".into(),
    };
    // A replay (many training steps) waits for one of its own few slots
    // first, so that replays never hold up plain traces.
    let _replay = match &subject {
        Subject::Step(_) => Some(REPLAYS.acquire().await.map_err(closing)?),
        Subject::Source(..) => None,
    };
    let _permit = TRACES.acquire().await.map_err(closing)?;
    let value = tokio::task::spawn_blocking(move || match subject {
        Subject::Source(source, lr) => explore(&source, lr),
        Subject::Step(req) => explore_step(&req),
    })
    .await
    .map_err(|e| ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        setting: None,
        message: format!("the trace failed: {e}"),
    })??;
    Ok(Json(value))
}

/// `lr`, if given: a number in (0, 100].
fn lr_param(params: &Params) -> Result<Option<f64>, ApiError> {
    params
        .get("lr")
        .map(|s| {
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0 && *v <= 100.0)
                .ok_or_else(|| ApiError::bad("lr", format!("'{s}' is not a number in (0, 100]")))
        })
        .transpose()
}

fn list(params: &Params, key: &str) -> Result<Option<String>, ApiError> {
    match params.get(key) {
        Some(v) if v.chars().count() > MAX_LIST_CHARS => Err(ApiError::bad(
            key,
            format!("longer than {MAX_LIST_CHARS} characters"),
        )),
        Some(v) if v.trim().is_empty() => Ok(None),
        v => Ok(v.map(str::to_string)),
    }
}

fn check_expr(e: &str) -> Result<(), ApiError> {
    let n = e.chars().count();
    if n > MAX_EXPR_CHARS {
        return Err(ApiError::bad(
            "expr",
            format!("the expression is {n} characters, more than {MAX_EXPR_CHARS}"),
        ));
    }
    let (mut depth, mut deepest) = (0usize, 0usize);
    for c in e.chars() {
        match c {
            '(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest > MAX_EXPR_DEPTH {
        return Err(ApiError::bad(
            "expr",
            format!("parentheses nest {deepest} deep, more than {MAX_EXPR_DEPTH}"),
        ));
    }
    Ok(())
}

fn check_layers(s: &str) -> Result<(), ApiError> {
    let sizes = chainrule_nn::mlp::parse_sizes("layers", s)?;
    if sizes.len() < 2 || sizes.len() > MAX_LAYERS {
        return Err(ApiError::bad(
            "layers",
            format!("give 2 to {MAX_LAYERS} sizes from input to output, e.g. 2,3,1"),
        ));
    }
    if let Some(&big) = sizes.iter().find(|&&n| n == 0 || n > MAX_LAYER_SIZE) {
        return Err(ApiError::bad(
            "layers",
            format!("each size must be 1 to {MAX_LAYER_SIZE}, got {big}"),
        ));
    }
    Ok(())
}

/// A default input for a fresh network of `n` features: 0.05, 0.10, … as
/// the worked example's.
fn default_input(n: usize) -> String {
    (1..=n)
        .map(|k| format!("{}", (k as f64 * 0.05 * 100.0).round() / 100.0))
        .collect::<Vec<_>>()
        .join(",")
}

/// The traced source a query asks for, and the learning rate.
pub fn source(params: &Params, state: &AppState) -> Result<(Source, f64), ApiError> {
    let mut src = Source {
        expr: None,
        at: None,
        model: None,
        arch: None,
        input_shape: None,
        row: None,
        init: None,
        layers: None,
        activation: None,
        output_activation: None,
        seed: 0,
        input: list(params, "input")?,
        target: list(params, "target")?,
        loss: params.get("loss").map(str::to_string),
    };
    let lr = lr_param(params)?.unwrap_or(0.5);
    let given: Vec<&str> = ["expr", "example", "layers", "model"]
        .into_iter()
        .filter(|k| params.get(k).is_some())
        .collect();
    if given.len() > 1 {
        return Err(ApiError::bad(
            given[1],
            format!(
                "give one of expr, example, layers or model, not {}",
                given.join(" and ")
            ),
        ));
    }
    match given.first().copied() {
        Some("expr") => {
            let e = params.get("expr").unwrap_or_default();
            check_expr(e)?;
            src.expr = Some(e.to_string());
            src.at = list(params, "at")?;
            src.input = None;
            src.target = None;
            src.loss = None;
        }
        Some("layers") => {
            let l = params.get("layers").unwrap_or_default();
            check_layers(l)?;
            let sizes = chainrule_nn::mlp::parse_sizes("layers", l)?;
            src.layers = Some(l.to_string());
            src.activation = params.get("activation").map(str::to_string);
            src.output_activation = params.get("output_activation").map(str::to_string);
            if let Some(s) = params.get("seed") {
                src.seed = s.parse().map_err(|_| {
                    ApiError::bad("seed", format!("'{s}' is not a whole number ≥ 0"))
                })?;
            }
            if src.input.is_none() {
                src.input = Some(default_input(sizes[0]));
            }
            if src.target.is_none() && src.loss.as_deref().is_none_or(|l| l == "mse") {
                src.target = Some(vec!["1"; sizes[sizes.len() - 1]].join(","));
            }
        }
        Some("model") => {
            let name = params.get("model").unwrap_or_default();
            src.model = Some(model_file(&state.runs, name)?);
            if let Some(r) = params.get("row") {
                src.row =
                    Some(r.parse().map_err(|_| {
                        ApiError::bad("row", format!("'{r}' is not a row number ≥ 0"))
                    })?);
            } else if src.input.is_none() {
                src.row = Some(0);
            }
        }
        _ => match params.get("example").unwrap_or("1") {
            "1" => {}
            "2" => {
                src.expr = Some("(x+y)*(x-1)".into());
                src.at = Some("x=3,y=2".into());
                src.input = None;
                src.target = None;
                src.loss = None;
            }
            other => {
                return Err(ApiError::bad(
                    "example",
                    format!(
                    "'{other}' is not a worked example: 1 (the 2-2-1 network) or 2 (a shared node)"
                ),
                ))
            }
        },
    }
    Ok((src, lr))
}

fn report_json(r: &Report) -> Value {
    let sections: Vec<Value> = r
        .sections
        .iter()
        .map(|s| {
            let rows: Vec<Value> = s
                .rows
                .iter()
                .map(|w| {
                    json!({"step": w.step, "node": w.node, "what": w.what,
                           "formula": w.formula, "value": w.value, "sub": w.sub})
                })
                .collect();
            json!({"title": s.title, "rows": rows})
        })
        .collect();
    json!({"title": r.title, "intro": r.intro, "sections": sections, "outro": r.outro})
}

fn layout_json(t: &Trace, title: &str) -> Value {
    let l = draw::layout(t);
    let nodes: Vec<Value> = l
        .nodes
        .iter()
        .map(|p| json!({"id": p.id, "x": p.x, "y": p.y, "w": p.w, "h": p.h, "lines": p.lines}))
        .collect();
    let routes: Vec<Value> = l
        .routes
        .iter()
        .map(|r| {
            json!({"from": r.from, "to": r.to, "position": r.position,
                   "backward": r.backward, "label": r.label.as_ref().map(|(t, _)| t)})
        })
        .collect();
    json!({
        "width": l.width,
        "height": l.height,
        "nodes": nodes,
        "routes": routes,
        "svg": draw::svg_of(t, &l, Some(title)),
    })
}

fn verdict_json(name: &str, analytic: f64, numeric: f64) -> Value {
    let rel = relative_error(analytic, numeric);
    json!({"name": name, "analytic": analytic, "numeric": numeric,
           "rel_error": rel, "verdict": Verdict::from_relative_error(rel).name()})
}

/// Central differences of the expression in each variable, step 1e-6.
fn check_expression(e: &trace::ExpressionExplanation) -> Vec<Value> {
    let h = 1e-6;
    let at_text = |k: usize, d: f64| {
        e.at.iter()
            .enumerate()
            .map(|(j, (n, v))| format!("{n}={:e}", if j == k { v + d } else { *v }))
            .collect::<Vec<_>>()
            .join(",")
    };
    let f = |k: usize, d: f64| {
        trace::explain_expression(&e.expression, &at_text(k, d)).map(|x| x.value)
    };
    e.gradients
        .iter()
        .enumerate()
        .filter_map(|(k, (name, analytic))| {
            let numeric = (f(k, h).ok()? - f(k, -h).ok()?) / (2.0 * h);
            Some(verdict_json(&format!("∂f/∂{name}"), *analytic, numeric))
        })
        .collect()
}

/// Everything the explorer page shows for `src`.
pub fn explore(src: &Source, lr: f64) -> Result<Value, ApiError> {
    let traced = trace_source(src, lr)?;
    // A model of the runs folder is named by its run, not by a path on
    // the server's disk, in every title the page gets.
    let hide_path = |text: String| -> String {
        match &src.model {
            Some(path) => match path.parent().and_then(|d| d.file_name()) {
                Some(run) => text.replace(
                    &path.display().to_string(),
                    &format!("of run {}", run.to_string_lossy()),
                ),
                None => text,
            },
            None => text,
        }
    };
    let check = match &traced {
        Traced::Expression(e) => json!(check_expression(e)),
        Traced::Network(n) => super::check::network(src, n),
        Traced::Layers(_) => Value::Null,
    };
    Ok(page_json(&traced, &hide_path, check))
}

/// The explorer on a run's training step ([`replay`]): the page's JSON
/// with `train_step`, what the page says about the step.
fn explore_step(req: &StepRequest) -> Result<Value, ApiError> {
    let r = replay::replay(req)?;
    let check = match &r.traced {
        Traced::Network(n) => super::check::of_model(&r.model, n),
        Traced::Expression(_) | Traced::Layers(_) => Value::Null,
    };
    let mut value = page_json(&r.traced, &|t| t, check);
    value["train_step"] = r.facts;
    Ok(value)
}

/// The JSON of `/api/explore` for a trace, every title passed through
/// `hide_path`.
fn page_json(traced: &Traced, hide_path: &dyn Fn(String) -> String, check: Value) -> Value {
    let show = Show { full: true };
    let title = hide_path(traced.title());
    let (kind, mut explain, mut report) = match traced {
        Traced::Expression(e) => ("expression", e.to_json(show), e.report(show)),
        Traced::Network(n) => ("network", n.to_json(show), n.report(show)),
        Traced::Layers(l) => ("layers", l.to_json(show), l.report(show)),
    };
    if let Some(t) = explain.get("title").and_then(Value::as_str) {
        explain["title"] = json!(hide_path(t.to_string()));
    }
    report.title = hide_path(report.title);
    json!({
        "kind": kind,
        "title": title,
        "explain": explain,
        "report": report_json(&report),
        "layout": layout_json(traced.trace(), &title),
        "check": check,
    })
}
