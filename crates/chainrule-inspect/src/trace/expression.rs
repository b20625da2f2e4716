//! Tracing a scalar expression: forward, local derivatives, backward.

use super::*;

/// A traced scalar expression.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpressionExplanation {
    /// The expression as given.
    pub expression: String,
    /// The variables' values, in order of first appearance.
    pub at: Vec<(String, f64)>,
    pub trace: Trace,
    /// The expression's value.
    pub value: f64,
    /// `∂f/∂v` for every variable, in order of first appearance.
    pub gradients: Vec<(String, f64)>,
}

/// Parses `src`, records it at the values `at` (`x=3,y=2`), and traces its
/// forward and backward pass. The output is named `f`.
pub fn explain_expression(src: &str, at: &str) -> Result<ExpressionExplanation, ExprError> {
    let e = expr::parse(src)?;
    let values = expr::parse_values(at)?;
    let g = Graph::<f64>::new();
    let rec = expr::record(&g, &e, &values)?;
    let mut labels = Labels::new();
    for (name, v) in &rec.variables {
        labels.insert(
            v.id(),
            Label {
                name: name.clone(),
                key: None,
                role: None,
            },
        );
    }
    labels.entry(rec.output.id()).or_insert_with(|| Label {
        name: "f".into(),
        key: None,
        role: None,
    });
    let trace = Trace::record(&g, rec.output, &labels)?;
    let value = rec.output.item()?;
    let gradients = rec
        .variables
        .iter()
        .map(|(name, v)| {
            let d = trace
                .node(v.id())
                .and_then(|n| n.grad.as_ref())
                .and_then(|g| g.first().copied())
                .unwrap_or(0.0);
            (name.clone(), d)
        })
        .collect();
    let at = rec
        .variables
        .iter()
        .map(|(n, _)| {
            let v = values
                .iter()
                .find(|(m, _)| m == n)
                .map_or(f64::NAN, |x| x.1);
            (n.clone(), v)
        })
        .collect();
    Ok(ExpressionExplanation {
        expression: src.to_string(),
        at,
        trace,
        value,
        gradients,
    })
}

impl ExpressionExplanation {
    /// The report: forward pass, local derivatives, backward pass.
    pub fn report(&self, show: Show) -> Report {
        let t = &self.trace;
        let at: Vec<String> = self
            .at
            .iter()
            .map(|(n, v)| format!("{n} = {}", num(*v)))
            .collect();
        let mut intro = vec![format!("f = {}", self.expression)];
        if !at.is_empty() {
            intro.push(format!("at {}", at.join(", ")));
        }
        let mut sections = vec![Section {
            title: "Forward pass (inputs first)".into(),
            rows: forward_rows(t, show),
        }];
        let locals = local_rows(t, show);
        if !locals.is_empty() {
            sections.push(Section {
                title: "Local derivatives (each node with respect to each of its inputs)".into(),
                rows: locals,
            });
        }
        if t.has_backward {
            sections.push(Section {
                title: "Backward pass (chain rule, from f back to the variables)".into(),
                rows: backward_rows(t, show),
            });
        }
        let mut outro = vec![format!("f = {}", num(self.value))];
        for (n, d) in &self.gradients {
            let paths = t.find(n).map_or(0, |x| x.incoming.len());
            let note = if paths > 1 {
                format!(" ({paths} paths added up)")
            } else {
                String::new()
            };
            outro.push(format!("∂f/∂{n} = {}{note}", num(*d)));
        }
        Report {
            title: "Expression".into(),
            intro,
            sections,
            outro,
        }
    }

    /// `{"expression", "at", "value", "gradients", "nodes"}`.
    pub fn to_json(&self, show: Show) -> Value {
        let mut grads = Map::new();
        for (n, d) in &self.gradients {
            grads.insert(n.clone(), number(*d));
        }
        let mut at = Map::new();
        for (n, v) in &self.at {
            at.insert(n.clone(), number(*v));
        }
        json!({
            "expression": self.expression,
            "at": at,
            "value": number(self.value),
            "gradients": grads,
            "nodes": nodes_json(&self.trace, show),
        })
    }
}

/// One row per (node, input): the local derivative's formula and value.
pub fn local_rows(t: &Trace, show: Show) -> Vec<Row> {
    let mut rows = Vec::new();
    for n in &t.nodes {
        // Derivatives with respect to constants are not needed (nor shown).
        let needed = |l: &&Local| t.node(l.input).is_some_and(|i| i.requires_grad);
        for l in n.locals.iter().filter(needed) {
            let input = t.name_of(l.input);
            let d = formula::partial_text(&n.name, input);
            let in_shape = t.node(l.input).map_or(&n.shape, |i| &i.shape);
            let (formula, value) = match (&l.formula, &l.value) {
                (Some(f), Some(v)) => (format!("{d} = {f}"), fmt_values(in_shape, v, show)),
                (Some(f), None) => (format!("{d} = {f}"), String::new()),
                _ => (
                    format!("sends {}", l.backward),
                    "(not elementwise)".to_string(),
                ),
            };
            rows.push(Row {
                step: n.id.to_string(),
                node: n.display_name(),
                what: format!("{}, input {}", formula::describe(n.op), l.position + 1),
                formula,
                value,
                sub: false,
            });
        }
    }
    rows
}
