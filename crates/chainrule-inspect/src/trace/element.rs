//! One output element of one layer written out with every number
//! (`explain --element LAYER:INDEX`): the forward formula with its terms
//! filled in, the engine's value, and where the element's gradient goes.
//!
//! This file parses the `--element` text, holds the result and renders it;
//! the text of each layer kind lives in [`super::element_text`], so a new
//! layer type needs only its text there. Values and gradients come from the
//! recorded graph and the engine's backward pass; the terms of a sum may be
//! multiplied out for display, but each result line shows the engine's
//! value.

use super::element_text;
use super::*;
use chainrule_nn::network::{LayerRow, Network};
use chainrule_nn::Result as NnResult;

/// Which element: a layer (by its state_dict path) and an index into its
/// per-example output (a whole channel when one index is given for a
/// multi-axis output).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElementSpec {
    pub path: String,
    pub index: Vec<usize>,
}

fn element_err(detail: String) -> NnError {
    NnError::config("element", detail)
}

/// Parses `LAYER:INDEX` (`1:0,2,3`, `3:5`, `2.1:0`), layers numbered as
/// [`LayerRow::number`]; errors name the layer and its output shape.
pub fn parse_element(text: &str, rows: &[LayerRow]) -> NnResult<ElementSpec> {
    let Some((layer, index)) = text.split_once(':') else {
        return Err(element_err(format!(
            "'{text}' is not LAYER:INDEX (for example 1:0,2,3 is layer 1's output at channel 0, \
             row 2, column 3; 3:5 is element 5 of a flat output)"
        )));
    };
    let layer = layer.trim();
    let Some(row) = rows.iter().find(|r| r.number() == layer) else {
        let mut numbers: Vec<String> = rows.iter().map(LayerRow::number).collect();
        if numbers.len() > 20 {
            let tail = numbers.split_off(numbers.len() - 3);
            numbers.truncate(10);
            numbers.push("…".into());
            numbers.extend(tail);
        }
        return Err(element_err(format!(
            "there is no layer '{layer}'; the layers are {}",
            numbers.join(", ")
        )));
    };
    let shape = &row.output;
    let index = index
        .split(',')
        .map(|p| {
            p.trim().parse::<usize>().map_err(|_| {
                element_err(format!(
                    "{}: '{}' is not an index (whole numbers from 0, comma separated; the output \
                     shape is {})",
                    row.describe(),
                    p.trim(),
                    dims_text(shape)
                ))
            })
        })
        .collect::<NnResult<Vec<usize>>>()?;
    if !(index.len() == shape.len() || (shape.len() > 1 && index.len() == 1)) {
        let channel = if shape.len() > 1 {
            " (or 1 for a whole channel)"
        } else {
            ""
        };
        return Err(element_err(format!(
            "{} has the output shape {}: give {} indices{channel}, got {}",
            row.describe(),
            dims_text(shape),
            shape.len(),
            index.len()
        )));
    }
    for (axis, (&i, &n)) in index.iter().zip(shape).enumerate() {
        if i >= n {
            return Err(element_err(format!(
                "{}: index {i} on axis {axis} is out of range for the output shape {} (0..{n})",
                row.describe(),
                dims_text(shape)
            )));
        }
    }
    Ok(ElementSpec {
        path: row.path.clone(),
        index,
    })
}

/// One line of an element's explanation.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    /// What the line is (`w[0,0,1,1]·x[0,1,2]`, `∂L/∂y[0,2,3]`).
    pub what: String,
    /// The numbers (`0.5·1.25`), if any.
    pub formula: String,
    /// Its value, if it is one number.
    pub value: Option<f64>,
}

impl Line {
    pub fn new(what: impl Into<String>, formula: impl Into<String>, value: Option<f64>) -> Line {
        Line {
            what: what.into(),
            formula: formula.into(),
            value,
        }
    }

    /// A line with a value and no formula.
    pub fn value(what: impl Into<String>, v: f64) -> Line {
        Line::new(what, "", Some(v))
    }

    /// A line of text only.
    pub fn note(what: impl Into<String>) -> Line {
        Line::new(what, "", None)
    }
}

/// One element of one layer, forward and backward.
#[derive(Clone, Debug, PartialEq)]
pub struct ElementExplanation {
    /// The layer's number (`3.1`) and text.
    pub layer: String,
    pub text: String,
    /// `layer 3.1 conv2d(4,3,pad=1) (character 17)`.
    pub describe: String,
    /// The layer's per-example output shape.
    pub shape: Vec<usize>,
    pub index: Vec<usize>,
    /// `y[0,2,3]` (`y[0]` for a channel).
    pub name: String,
    /// The engine's value and `∂L/∂y` of the element (none for a channel).
    pub value: Option<f64>,
    pub grad: Option<f64>,
    pub forward: Vec<Line>,
    pub backward: Vec<Line>,
}

/// What a per-layer text needs: the recorded graph and the trace's nodes.
pub struct Recorded<'a, 'g> {
    pub g: &'g Graph<f64>,
    pub network: &'a Network<f64>,
    pub visits: &'a [Visit],
    pub nodes: &'a HashMap<usize, &'a TraceNode>,
}

impl Recorded<'_, '_> {
    /// A node's values (from the trace, else the graph).
    pub fn value(&self, id: usize) -> NnResult<Vec<f64>> {
        match self.nodes.get(&id) {
            Some(n) => Ok(n.value.clone()),
            None => Ok(self.g.var(id)?.to_vec()),
        }
    }

    /// A node's total gradient from the backward pass, if it has one.
    pub fn grad(&self, id: usize) -> Option<Vec<f64>> {
        self.nodes.get(&id).and_then(|n| n.grad.clone())
    }

    /// A parameter's node id.
    pub fn param_id(&self, p: chainrule::ParamId) -> NnResult<usize> {
        Ok(self.g.param(p)?.id())
    }
}

/// The element of one layer: its values around it.
pub struct At<'a, 'r, 'g> {
    pub rec: &'r Recorded<'a, 'g>,
    pub visit: &'r Visit,
    /// The index into the per-example output and its flat position.
    pub index: Vec<usize>,
    pub flat: usize,
    /// The layer's input per example: shape and values.
    pub x_shape: Vec<usize>,
    pub x: Vec<f64>,
    /// `∂L/∂x` of the input, if it needs a gradient.
    pub gx: Option<Vec<f64>>,
    pub y: f64,
    pub gy: Option<f64>,
}

/// `[0,2,3]`.
pub fn index_text(index: &[usize]) -> String {
    let parts: Vec<String> = index.iter().map(usize::to_string).collect();
    format!("[{}]", parts.join(","))
}

/// A number as a factor of a product: negative numbers in parentheses.
pub fn factor(v: f64) -> String {
    formula::wrap(&num(v))
}

/// The flat position of `index` in `shape`, row-major.
pub fn ravel(index: &[usize], shape: &[usize]) -> usize {
    index.iter().zip(shape).fold(0, |acc, (&i, &n)| acc * n + i)
}

/// The index of flat position `flat` in `shape`, row-major.
pub fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut out = vec![0; shape.len()];
    for (k, &n) in shape.iter().enumerate().rev() {
        out[k] = flat % n.max(1);
        flat /= n.max(1);
    }
    out
}

/// Explains the element `spec` of the recorded pass.
pub fn explain_element(rec: &Recorded<'_, '_>, spec: &ElementSpec) -> NnResult<ElementExplanation> {
    let Some(visit) = rec.visits.iter().find(|v| v.row.path == spec.path) else {
        return Err(element_err(format!("no layer at path {}", spec.path)));
    };
    let row = &visit.row;
    let shape = row.output.clone();
    let y = rec.value(visit.output)?;
    let gy = rec.grad(visit.output);
    let x_var = rec.g.var(visit.input)?;
    let x_shape = x_var.shape().dims()[1..].to_vec();
    let name = format!("y{}", index_text(&spec.index));
    let mut out = ElementExplanation {
        layer: row.number(),
        text: row.text.clone(),
        describe: row.describe(),
        shape: shape.clone(),
        index: spec.index.clone(),
        name,
        value: None,
        grad: None,
        forward: Vec::new(),
        backward: Vec::new(),
    };
    if spec.index.len() < shape.len() {
        let (f, b) = element_text::channel(rec, visit, spec.index[0], &y, gy.as_deref())?;
        out.forward = f;
        out.backward = b;
        return Ok(out);
    }
    let flat = ravel(&spec.index, &shape);
    let at = At {
        rec,
        visit,
        index: spec.index.clone(),
        flat,
        x: rec.value(visit.input)?,
        gx: rec.grad(visit.input),
        x_shape,
        y: y[flat],
        gy: gy.as_ref().map(|g| g[flat]),
    };
    out.value = Some(at.y);
    out.grad = at.gy;
    let (mut f, b) = element_text::element(&at)?;
    f.push(Line::value(format!("{} (engine)", out.name), at.y));
    out.forward = f;
    let mut backward = match at.gy {
        Some(g) => vec![Line::value(format!("∂L/∂{} (engine)", out.name), g)],
        None => vec![Line::note("nothing before the loss needs a gradient here")],
    };
    if at.gy.is_some() {
        backward.extend(b);
    }
    out.backward = backward;
    Ok(out)
}

impl ElementExplanation {
    /// The element as its own report (its columns sized apart from the
    /// layer table): forward and backward, notes as rows without a value.
    pub fn report(&self) -> Report {
        // Notes (no numbers) go above and below the table, so that the
        // columns stay as wide as the numbers need.
        let is_note = |l: &&Line| l.value.is_none() && l.formula.is_empty();
        let rows = |lines: &[Line]| -> Vec<Row> {
            lines
                .iter()
                .filter(|l| !is_note(l))
                .map(|l| Row {
                    step: String::new(),
                    node: l.what.clone(),
                    what: String::new(),
                    formula: l.formula.clone(),
                    value: l.value.map_or(String::new(), num),
                    sub: false,
                })
                .collect()
        };
        let mut intro = vec![format!(
            "the layer's output per example is {}; x is the layer's input",
            dims_text(&self.shape)
        )];
        intro.extend(self.forward.iter().filter(is_note).map(|l| l.what.clone()));
        let forward = &self.forward[..];
        Report {
            title: format!("Element {} of {}", self.name, self.describe),
            intro,
            sections: vec![
                Section {
                    title: "Forward".into(),
                    rows: rows(forward),
                },
                Section {
                    title: "Backward".into(),
                    rows: rows(&self.backward),
                },
            ],
            outro: self
                .backward
                .iter()
                .filter(is_note)
                .map(|l| l.what.clone())
                .collect(),
        }
    }

    /// `{"layer", "text", "index", "name", "value", "grad", "forward":
    /// [{"what", "formula", "value"}], "backward": […]}`.
    pub fn to_json(&self) -> Value {
        let lines = |lines: &[Line]| -> Value {
            Value::Array(
                lines
                    .iter()
                    .map(|l| {
                        json!({
                            "what": l.what,
                            "formula": l.formula,
                            "value": l.value.map(number),
                        })
                    })
                    .collect(),
            )
        };
        json!({
            "layer": self.layer,
            "text": self.text,
            "shape": self.shape,
            "index": self.index,
            "name": self.name,
            "value": self.value.map(number),
            "grad": self.grad.map(number),
            "forward": lines(&self.forward),
            "backward": lines(&self.backward),
        })
    }
}
