//! Reports: rows of a trace rendered as a terminal table or Markdown.

use super::*;

/// One row of a report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    pub step: String,
    pub node: String,
    pub what: String,
    pub formula: String,
    pub value: String,
    /// A detail under the row above (a gradient's single path).
    pub sub: bool,
}

/// A titled group of rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Section {
    pub title: String,
    pub rows: Vec<Row>,
}

/// A whole explanation as text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub title: String,
    pub intro: Vec<String>,
    pub sections: Vec<Section>,
    pub outro: Vec<String>,
}

const HEADERS: [&str; 5] = ["#", "node", "what happens", "formula", "value"];

fn cells(r: &Row) -> [String; 5] {
    let node = if r.sub {
        format!("  ↳ {}", r.node)
    } else {
        r.node.clone()
    };
    [
        r.step.clone(),
        node,
        r.what.clone(),
        r.formula.clone(),
        r.value.clone(),
    ]
}

fn width(s: &str) -> usize {
    s.chars().count()
}

impl Report {
    /// A plain-text table for the terminal.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        out.push_str(&self.title);
        out.push('\n');
        for l in &self.intro {
            out.push_str(&format!("  {l}\n"));
        }
        // One set of column widths for every section, so they line up; a
        // column no row fills (other than #) is left out.
        let mut w = HEADERS.map(width);
        let mut used = [true, false, false, false, false];
        for s in &self.sections {
            for r in &s.rows {
                for (k, c) in cells(r).iter().enumerate() {
                    used[k] |= !c.is_empty();
                }
            }
        }
        for s in &self.sections {
            for r in &s.rows {
                for (k, c) in cells(r).iter().enumerate() {
                    w[k] = w[k].max(width(c));
                }
            }
        }
        for s in &self.sections {
            out.push('\n');
            out.push_str(&s.title);
            out.push('\n');
            let line = |c: &[String; 5]| {
                let mut l = String::from("  ");
                for k in (0..5).filter(|&k| used[k]) {
                    let cell = &c[k];
                    if k == 0 {
                        l.push_str(&" ".repeat(w[0] - width(cell)));
                        l.push_str(cell);
                    } else if k == 4 {
                        l.push_str(cell);
                    } else {
                        l.push_str(cell);
                        l.push_str(&" ".repeat(w[k] - width(cell)));
                    }
                    if k < 4 {
                        l.push_str("  ");
                    }
                }
                l.trim_end().to_string() + "\n"
            };
            out.push_str(&line(&HEADERS.map(String::from)));
            for r in &s.rows {
                out.push_str(&line(&cells(r)));
            }
        }
        if !self.outro.is_empty() {
            out.push('\n');
            for l in &self.outro {
                out.push_str(&format!("  {l}\n"));
            }
        }
        out
    }

    /// GitHub-flavoured Markdown: a heading, then one table per section.
    pub fn to_markdown(&self) -> String {
        let esc = |s: &str| s.replace('\\', "\\\\").replace('|', "\\|");
        let code = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("`{}`", esc(&s.replace('`', "'")))
            }
        };
        let mut out = format!("# {}\n\n", esc(&self.title));
        for l in &self.intro {
            out.push_str(&format!("- {}\n", esc(l)));
        }
        for s in &self.sections {
            out.push_str(&format!("\n## {}\n\n", esc(&s.title)));
            out.push_str("| # | node | what happens | formula | value |\n");
            out.push_str("|--:|---|---|---|---|\n");
            for r in &s.rows {
                let node = if r.sub {
                    format!("↳ {}", code(&r.node))
                } else {
                    code(&r.node)
                };
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    esc(&r.step),
                    node,
                    esc(&r.what),
                    code(&r.formula),
                    code(&r.value)
                ));
            }
        }
        if !self.outro.is_empty() {
            out.push('\n');
            for l in &self.outro {
                out.push_str(&format!("{}\n\n", esc(l)));
            }
        }
        out
    }
}

fn what_of(n: &TraceNode) -> String {
    let mut base = match n.kind {
        NodeKind::Operation => formula::describe(n.op),
        NodeKind::Parameter => "parameter".into(),
        NodeKind::Variable => "variable".into(),
        NodeKind::Constant => "constant".into(),
    };
    if matches!(n.op, Op::BroadcastTo | Op::Reshape | Op::SumTo) {
        base = format!("{base} to {}", dims_text(&n.shape));
    }
    match (&n.role, n.kind) {
        (Some(r), NodeKind::Operation) => format!("{r}: {base}"),
        (Some(r), _) => r.clone(),
        (None, _) => base,
    }
}

/// The forward pass: one row per node, inputs first.
pub fn forward_rows(t: &Trace, show: Show) -> Vec<Row> {
    t.nodes
        .iter()
        .map(|n| {
            let formula = match n.kind {
                NodeKind::Operation if n.formula == n.name => n.formula.clone(),
                NodeKind::Operation => format!("{} = {}", n.name, n.formula),
                _ => String::new(),
            };
            Row {
                step: n.id.to_string(),
                node: n.display_name(),
                what: what_of(n),
                formula,
                value: fmt_values(&n.shape, &n.value, show),
                sub: false,
            }
        })
        .collect()
}

/// The text of one contribution, with the numbers put in for scalars:
/// `∂f/∂(x + y)·1 = 2·1`.
fn contribution_text(t: &Trace, n: &TraceNode, c: &Incoming) -> String {
    let consumer = match t.node(c.from) {
        Some(x) => x,
        None => return c.formula.clone(),
    };
    let local = consumer.locals.iter().find(|l| l.position == c.position);
    match (local, &consumer.grad) {
        (Some(l), Some(g)) if n.is_scalar() && g.len() == 1 => match (&l.formula, &l.value) {
            // A factor of ±1 needs no numbers: the value column says it.
            (Some(lf), Some(lv)) if lf != "1" && lf != "−1" && lv.len() == 1 => {
                format!("{} = {}·{}", c.formula, num(g[0]), wrap(&num(lv[0])))
            }
            _ => c.formula.clone(),
        },
        _ => c.formula.clone(),
    }
}

/// Terms added up: `0.8 − 0.235` rather than `0.8 + -0.235`.
fn sum_text(parts: &[String]) -> String {
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        match (i, p.strip_prefix('-')) {
            (0, _) => out.push_str(p),
            (_, Some(magnitude)) => out.push_str(&format!(" − {magnitude}")),
            (_, None) => out.push_str(&format!(" + {p}")),
        }
    }
    out
}

/// The backward pass: one row per node with a gradient, output first;
/// where several paths add up, one indented row per path under the total.
pub fn backward_rows(t: &Trace, show: Show) -> Vec<Row> {
    let mut rows = Vec::new();
    for n in t.nodes.iter().rev() {
        let Some(g) = &n.grad else { continue };
        let node = match &n.key {
            Some(k) if *k != n.name => format!("{} ({k})", t.grad_name(&n.name)),
            _ => t.grad_name(&n.name),
        };
        let total = fmt_values(&n.shape, g, show);
        if n.id == t.output {
            rows.push(Row {
                step: n.id.to_string(),
                node,
                what: "seed: the output's gradient with respect to itself".into(),
                formula: "1".into(),
                value: total,
                sub: false,
            });
            continue;
        }
        match n.incoming.len() {
            0 => rows.push(Row {
                step: n.id.to_string(),
                node,
                what: "no contribution".into(),
                formula: String::new(),
                value: total,
                sub: false,
            }),
            1 => {
                let c = &n.incoming[0];
                rows.push(Row {
                    step: n.id.to_string(),
                    node,
                    what: format!("from {}", t.name_of(c.from)),
                    formula: contribution_text(t, n, c),
                    value: total,
                    sub: false,
                });
            }
            k => {
                let parts: Vec<String> = n
                    .incoming
                    .iter()
                    .map(|c| {
                        if n.is_scalar() && c.value.len() == 1 {
                            num(c.value[0])
                        } else {
                            format!("from {}", t.name_of(c.from))
                        }
                    })
                    .collect();
                rows.push(Row {
                    step: n.id.to_string(),
                    node,
                    what: format!("⊕ {k} paths add up"),
                    formula: sum_text(&parts),
                    value: total,
                    sub: false,
                });
                for (i, c) in n.incoming.iter().enumerate() {
                    rows.push(Row {
                        step: String::new(),
                        node: format!("path {}: from {}", i + 1, t.name_of(c.from)),
                        what: String::new(),
                        formula: contribution_text(t, n, c),
                        value: fmt_values(&n.shape, &c.value, show),
                        sub: true,
                    });
                }
            }
        }
    }
    rows
}
