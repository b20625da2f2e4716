//! Item 12 of issue 10: explain's tables read as the lesson's worked
//! examples read: no internal names, no formula that repeats itself or puts
//! an equation inside a product, no gradient that reads as a second
//! derivative, sums of paths written with their signs.

use chainrule_inspect::trace::{
    explain_expression, explain_network, worked_example_1, NetworkSetup, Report, Show,
};
use chainrule_nn::trainer::Model;
use chainrule_nn::{Activation, Init, LossKind, MlpSpec};

const SHOW: Show = Show { full: true };

fn random_net(sizes: &[usize], act: Activation, out: Activation, seed: u64) -> Model<f64> {
    let spec = MlpSpec {
        sizes: sizes.to_vec(),
        activation: act,
        output_activation: out,
    };
    Model::from_spec(spec, Init::XavierUniform, seed, LossKind::Mse).unwrap()
}

/// Every formula cell of every table, for the lesson's examples, a
/// network step and several expressions.
fn all_reports() -> Vec<(String, Report)> {
    let mut reports = Vec::new();
    for (src, at) in [
        ("x^y", "x=2,y=3"),
        ("exp(x)*x*x", "x=1"),
        ("x*x*x", "x=2"),
        ("(x + y) * (x - 1)", "x=3,y=2"),
        ("sigmoid(x*y) + log(x^2 + 1)", "x=0.5,y=-1"),
        ("sqrt(x) / (1 + exp(-x))", "x=2"),
    ] {
        let x = explain_expression(src, at).unwrap();
        reports.push((format!("{src} at {at}"), x.report(SHOW)));
    }
    let (mut model, setup) = worked_example_1(0.5).unwrap();
    let x = explain_network(&mut model, &setup).unwrap();
    reports.push(("worked example 1".into(), x.report(SHOW)));
    let mut model = random_net(&[2, 3, 1], Activation::Tanh, Activation::Identity, 7);
    let setup = NetworkSetup {
        title: "2-3-1".into(),
        input: vec![0.5, -1.0],
        target: vec![0.25],
        loss: LossKind::Mse,
        lr: 0.1,
    };
    let x = explain_network(&mut model, &setup).unwrap();
    reports.push(("2-3-1 tanh".into(), x.report(SHOW)));
    // BCE on logits and on probabilities: losses made of several
    // elementwise operations and the mean.
    for out in [Activation::Identity, Activation::Sigmoid] {
        let mut model = random_net(&[2, 2, 1], Activation::Sigmoid, out, 0);
        let setup = NetworkSetup {
            title: "2-2-1 bce".into(),
            input: vec![0.5, -1.0],
            target: vec![1.0],
            loss: LossKind::Bce,
            lr: 0.5,
        };
        let x = explain_network(&mut model, &setup).unwrap();
        reports.push((format!("2-2-1 bce, {} output", out.name()), x.report(SHOW)));
    }
    reports
}

/// The cell at (`node`, formula) of the first row whose node column is `node`.
fn formula_of(r: &Report, section: &str, node: &str) -> String {
    r.sections
        .iter()
        .filter(|s| s.title.starts_with(section))
        .flat_map(|s| &s.rows)
        .find(|row| row.node == node || row.node.starts_with(&format!("{node} (")))
        .unwrap_or_else(|| panic!("no row for {node} in {section}: {}", r.to_table()))
        .formula
        .clone()
}

#[test]
fn item_12_no_internal_names_or_self_repeating_formulas() {
    for (what, r) in all_reports() {
        let table = r.to_table();
        for bad in [
            "backward rule of",
            "bias_act",
            "_backward",
            "= exp(x) = exp(x)",
            "bcast(",
            "reshape(∂",
        ] {
            assert!(!table.contains(bad), "{what}: '{bad}' in\n{table}");
        }
        // The mean that ends a loss reads (1/n)·Σℓ over the per-element
        // losses ℓ, not numbered nodes.
        for s in &r.sections {
            for row in &s.rows {
                let numbered = |t: &str| {
                    t.split(|c: char| !c.is_alphanumeric()).any(|w| {
                        w.len() > 1
                            && w.starts_with('v')
                            && w[1..].chars().all(|c| c.is_ascii_digit())
                    })
                };
                if row.what.starts_with("loss")
                    && (row.what.contains("reshape") || row.what.contains("sum over"))
                {
                    assert!(
                        !numbered(&row.node) && !numbered(&row.formula),
                        "{what}: {} | {}",
                        row.node,
                        row.formula
                    );
                }
            }
        }
        for s in &r.sections {
            for row in &s.rows {
                // No equals sign inside parentheses (a product's factor).
                let mut depth = 0;
                for c in row.formula.chars() {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        '=' => assert!(depth == 0, "{what}: '=' inside a factor: {}", row.formula),
                        _ => {}
                    }
                }
                // A gradient is never written ∂f/∂x² (a second derivative).
                for sup in ['²', '³'] {
                    for text in [&row.node, &row.formula] {
                        let bad = text.split('∂').skip(1).any(|p| {
                            p.starts_with(|c: char| c.is_alphanumeric())
                                && p.split(|c: char| !(c.is_alphanumeric() || c == sup))
                                    .next()
                                    .is_some_and(|w| w.contains(sup))
                        });
                        assert!(!bad, "{what}: ambiguous power after ∂ in {text}");
                    }
                }
            }
        }
    }
}

#[test]
fn item_12_lines_read_like_the_lesson() {
    let x = explain_expression("exp(x)*x*x", "x=1")
        .unwrap()
        .report(SHOW);
    assert_eq!(formula_of(&x, "Local", "exp(x)"), "∂(exp(x))/∂x = exp(x)");
    let x = explain_expression("x^y", "x=2,y=3").unwrap().report(SHOW);
    // ∂f/∂x = ∂f/∂f · y·x^(y−1) = 1·12.
    assert_eq!(
        formula_of(&x, "Backward", "∂f/∂x"),
        "∂f/∂f·(y·x^(y − 1)) = 1·12"
    );
    assert_eq!(
        formula_of(&x, "Backward", "∂f/∂y"),
        "∂f/∂f·(f·log(x)) = 1·5.54518"
    );
    let x = explain_expression("x*x*x", "x=2").unwrap().report(SHOW);
    assert!(x.to_table().contains("∂f/∂(x²)"), "{}", x.to_table());
    let (mut model, setup) = worked_example_1(0.5).unwrap();
    let n = explain_network(&mut model, &setup).unwrap().report(SHOW);
    // The bias's gradient: the layer's δ summed over the batch's rows.
    assert_eq!(
        formula_of(&n, "Backward", "∂L/∂b2"),
        "Σ over rows of ∂L/∂z2"
    );
    assert_eq!(formula_of(&n, "Backward", "∂L/∂(h1·W2ᵀ)"), "∂L/∂z2");
    // Paths add up with a minus sign, not `+ -`; a factor −1 is not
    // multiplied out; no derivative with respect to the constant 2.
    let x = explain_expression("2^x - abs(x)", "x=-1.5")
        .unwrap()
        .report(SHOW);
    let table = x.to_table();
    assert!(!table.contains("∂2"), "{table}");
    assert_eq!(formula_of(&x, "Backward", "∂f/∂(abs(x))"), "−∂f/∂f");
    let x = explain_expression("sigmoid(x*y) + log(x^2 + 1)", "x=0.5,y=-1")
        .unwrap()
        .report(SHOW);
    assert_eq!(formula_of(&x, "Backward", "∂f/∂x"), "0.8 − 0.235004");
}
