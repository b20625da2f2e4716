//! Values as text and JSON: full or summarized, nested like the tensor.

use super::*;

/// How values are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Show {
    /// Every value, however large the tensor.
    pub full: bool,
}

impl Show {
    /// Tensors with more elements than this are summarized unless `full`.
    pub const SUMMARIZE_ABOVE: usize = 12;

    fn summarize(&self, n: usize) -> bool {
        !self.full && n > Self::SUMMARIZE_ABOVE
    }
}

/// Values as nested brackets in their shape, or (when large) a summary.
pub fn fmt_values(shape: &[usize], values: &[f64], show: Show) -> String {
    if values.len() == 1 {
        return num(values[0]);
    }
    if show.summarize(values.len()) {
        return fmt_summary(shape, values);
    }
    nested_text(shape, values)
}

/// `[64, 784] min …, max …, mean …, norm …`.
pub fn fmt_summary(shape: &[usize], values: &[f64]) -> String {
    let s = Summary::of(values);
    let mut out = format!(
        "{} min {}, max {}, mean {}, norm {}",
        dims_text(shape),
        num(s.min),
        num(s.max),
        num(s.mean),
        num(s.norm)
    );
    if s.non_finite() > 0 {
        out.push_str(&format!(", {} non-finite", s.non_finite()));
    }
    out
}

/// `[2, 3]`.
pub fn dims_text(shape: &[usize]) -> String {
    let d: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", d.join(", "))
}

/// Values as nested brackets in their shape: `[[1, 2], [3, 4]]`.
pub fn nested_text(shape: &[usize], values: &[f64]) -> String {
    if shape.len() <= 1 || values.is_empty() {
        let items: Vec<String> = values.iter().map(|v| num(*v)).collect();
        return format!("[{}]", items.join(", "));
    }
    let inner: usize = shape[1..].iter().product::<usize>().max(1);
    let parts: Vec<String> = values
        .chunks(inner)
        .map(|c| nested_text(&shape[1..], c))
        .collect();
    format!("[{}]", parts.join(", "))
}

pub(super) fn number(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// Values as JSON arrays nested in their shape (a number for a scalar).
pub fn nested_json(shape: &[usize], values: &[f64]) -> Value {
    if shape.is_empty() {
        return values.first().map_or(Value::Null, |v| number(*v));
    }
    if shape.len() == 1 {
        return Value::Array(values.iter().map(|v| number(*v)).collect());
    }
    let inner: usize = shape[1..].iter().product::<usize>().max(1);
    Value::Array(
        values
            .chunks(inner)
            .map(|c| nested_json(&shape[1..], c))
            .collect(),
    )
}

pub(super) fn values_json(shape: &[usize], values: &[f64], show: Show) -> Value {
    if show.summarize(values.len()) {
        let s = Summary::of(values);
        json!({
            "shape": shape,
            "summary": {"min": number(s.min), "max": number(s.max), "mean": number(s.mean), "norm": number(s.norm), "non_finite": s.non_finite()},
        })
    } else {
        nested_json(shape, values)
    }
}

/// One node as JSON.
pub fn node_json(t: &Trace, n: &TraceNode, show: Show) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(n.id));
    o.insert("name".into(), json!(n.name));
    if let Some(k) = &n.key {
        o.insert("key".into(), json!(k));
    }
    if let Some(r) = &n.role {
        o.insert("role".into(), json!(r));
    }
    o.insert("kind".into(), json!(n.kind.name()));
    o.insert("op".into(), json!(n.op.name()));
    o.insert("formula".into(), json!(n.formula));
    o.insert("inputs".into(), json!(n.inputs));
    o.insert("shape".into(), json!(n.shape));
    o.insert("value".into(), values_json(&n.shape, &n.value, show));
    let locals: Vec<Value> = n
        .locals
        .iter()
        .map(|l| {
            let in_shape = t.node(l.input).map_or(&n.shape, |i| &i.shape);
            json!({
                "input": l.input,
                "input_name": t.name_of(l.input),
                "position": l.position,
                "formula": l.formula,
                "value": l.value.as_ref().map(|v| values_json(in_shape, v, show)),
                "backward": l.backward,
                "input_shape": in_shape,
            })
        })
        .collect();
    o.insert("local_derivatives".into(), Value::Array(locals));
    let incoming: Vec<Value> = n
        .incoming
        .iter()
        .map(|c| {
            json!({
                "from": c.from,
                "from_name": t.name_of(c.from),
                "position": c.position,
                "formula": c.formula,
                "value": values_json(&n.shape, &c.value, show),
            })
        })
        .collect();
    o.insert("incoming".into(), Value::Array(incoming));
    o.insert(
        "grad".into(),
        n.grad
            .as_ref()
            .map_or(Value::Null, |g| values_json(&n.shape, g, show)),
    );
    o.insert("paths".into(), json!(n.incoming.len()));
    o.insert("accumulated".into(), json!(n.incoming.len() > 1));
    Value::Object(o)
}

pub(super) fn nodes_json(t: &Trace, show: Show) -> Value {
    Value::Array(t.nodes.iter().map(|n| node_json(t, n, show)).collect())
}

/// A target as the explanations state it: `class 3` for cross-entropy,
/// else its values.
pub fn target_text(loss: LossKind, target: &[f64], show: Show) -> String {
    if loss == LossKind::Cce {
        format!("class {}", num(target.first().copied().unwrap_or(f64::NAN)))
    } else {
        fmt_values(&[target.len()], target, show)
    }
}
