//! How a layer-by-layer explanation reads: the terminal table, Markdown
//! and JSON of a [`LayersExplanation`].

use super::layers::LayersExplanation;
use super::*;

/// `[1, 8, 8]` per example: the values with their shape, summarized when
/// large.
fn values_row(step: &str, node: &str, what: String, shape: &[usize], v: &[f64], show: Show) -> Row {
    Row {
        step: step.into(),
        node: node.into(),
        what,
        formula: String::new(),
        value: fmt_values(shape, v, show),
        sub: false,
    }
}

impl LayersExplanation {
    /// The report as a terminal table; with an element asked for, the
    /// report's header (model, example, target) and the element's report
    /// instead of every layer's.
    pub fn to_table(&self, show: Show) -> String {
        match &self.element {
            Some(e) => {
                let mut out = self.header(show).to_table();
                out.push('\n');
                out.push_str(&e.report().to_table());
                out
            }
            None => self.report(show).to_table(),
        }
    }

    /// The same as Markdown.
    pub fn to_markdown(&self, show: Show) -> String {
        match &self.element {
            Some(e) => {
                let mut out = self.header(show).to_markdown();
                out.push('\n');
                out.push_str(&e.report().to_markdown());
                out
            }
            None => self.report(show).to_markdown(),
        }
    }

    /// The report's title and introduction without its sections.
    fn header(&self, show: Show) -> Report {
        Report {
            sections: Vec::new(),
            outro: Vec::new(),
            ..self.report(show)
        }
    }

    /// The report: the forward pass layer by layer, the backward pass
    /// (each layer's `∂L/∂output`, each parameter's gradient under its
    /// layer) and the SGD step ([`LayersExplanation::to_table`] adds the
    /// element's).
    pub fn report(&self, show: Show) -> Report {
        let mut intro = vec![format!("network: {}", self.architecture)];
        intro.extend(self.notes.iter().cloned());
        intro.push(format!("loss: {}", self.loss_text));
        let from = self
            .source
            .as_ref()
            .map_or(String::new(), |s| format!(" ({s})"));
        intro.push(format!(
            "input x{from} = {}",
            fmt_values(&self.input_shape, &self.input, show)
        ));
        if let Some(s) = &self.standardized {
            intro.push(format!(
                "standardized with the model's statistics: {}",
                fmt_values(&self.input_shape, s, show)
            ));
        }
        intro.push(format!(
            "target t = {}",
            target_text(self.loss_kind, &self.target, show)
        ));
        let mut forward = vec![values_row(
            "",
            "x",
            format!("input {}", dims_text(&self.input_shape)),
            &self.input_shape,
            self.standardized.as_deref().unwrap_or(&self.input),
            show,
        )];
        for l in &self.layers {
            let mut what = format!("output {}", dims_text(&l.shape));
            if let Some(n) = &l.note {
                what = format!("{what} ({n})");
            }
            forward.push(values_row(
                &l.number, &l.text, what, &l.shape, &l.output, show,
            ));
        }
        forward.push(Row {
            step: String::new(),
            node: "L".into(),
            what: format!("loss ({})", self.loss_text),
            formula: String::new(),
            value: num(self.loss),
            sub: false,
        });
        let mut backward = Vec::new();
        for l in self.layers.iter().rev() {
            let value = l
                .grad
                .as_ref()
                .map_or("no gradient".into(), |g| fmt_values(&l.shape, g, show));
            backward.push(Row {
                step: l.number.clone(),
                node: l.text.clone(),
                what: "∂L/∂output".into(),
                formula: String::new(),
                value,
                sub: false,
            });
            for p in self.params.iter().filter(|p| owner(&p.key) == l.path) {
                backward.push(Row {
                    step: String::new(),
                    node: p.key.clone(),
                    what: format!("∂L/∂{} {}", p.key, dims_text(&p.shape)),
                    formula: String::new(),
                    value: fmt_values(&p.shape, &p.grad, show),
                    sub: true,
                });
            }
        }
        let update = self
            .params
            .iter()
            .map(|p| Row {
                step: String::new(),
                node: p.key.clone(),
                what: format!("{0} ← {0} − {1}·∂L/∂{0}", p.key, num(self.lr)),
                formula: String::new(),
                value: fmt_values(&p.shape, &p.updated, show),
                sub: false,
            })
            .collect();
        let sections = vec![
            Section {
                title: "Forward pass, layer by layer".into(),
                rows: forward,
            },
            Section {
                title: "Backward pass (∂L/∂output of each layer from the loss back; parameter gradients under their layer)".into(),
                rows: backward,
            },
            Section {
                title: format!("Gradient descent step, θ ← θ − {}·∂L/∂θ", num(self.lr)),
                rows: update,
            },
        ];
        Report {
            title: self.title.clone(),
            intro,
            sections,
            outro: vec![format!(
                "loss {} → {} after one step",
                num(self.loss),
                num(self.loss_after)
            )],
        }
    }

    /// `{"title", "network", "mode", "notes", "loss_kind", "input",
    /// "target", "loss", "layers": [{"number", "text", "shape", "output",
    /// "grad"}], "gradients", "update", "element"}`.
    pub fn to_json(&self, show: Show) -> Value {
        let layers: Vec<Value> = self
            .layers
            .iter()
            .map(|l| {
                json!({
                    "number": l.number,
                    "path": l.path,
                    "text": l.text,
                    "shape": l.shape,
                    "output": values_json(&l.shape, &l.output, show),
                    "grad": l.grad.as_ref().map(|g| values_json(&l.shape, g, show)),
                    "note": l.note,
                })
            })
            .collect();
        let mut grads = Map::new();
        let mut updated = Map::new();
        for p in &self.params {
            grads.insert(p.key.clone(), values_json(&p.shape, &p.grad, show));
            updated.insert(p.key.clone(), values_json(&p.shape, &p.updated, show));
        }
        json!({
            "title": self.title,
            "network": self.architecture,
            "mode": "eval",
            "notes": self.notes,
            "loss_kind": self.loss_kind.name(),
            "loss_formula": self.loss_text,
            "input_shape": self.input_shape,
            "input_source": self.source,
            "input": values_json(&self.input_shape, &self.input, show),
            "standardized_input": self.standardized.as_ref().map(|s| values_json(&self.input_shape, s, show)),
            "target": self.target,
            "loss": number(self.loss),
            "layers": layers,
            "gradients": grads,
            "update": {
                "lr": self.lr,
                "parameters": updated,
                "loss_after": number(self.loss_after),
            },
            "element": self.element.as_ref().map(ElementExplanation::to_json),
        })
    }
}

/// The layer path of a parameter key: `2.body.0.weight` → `2.body.0`.
fn owner(key: &str) -> &str {
    key.rsplit_once('.').map_or(key, |(p, _)| p)
}
