//! `explain` through its JSON: worked examples 1 and 2 against the numbers
//! computed by hand, random expressions against central finite differences
//! of an independent evaluator, and errors that point at the column.

use chainrule_inspect::expr;
use chainrule_inspect::trace::{
    explain_expression, explain_network, worked_example_1, NetworkSetup, Show,
};
use chainrule_nn::trainer::Model;
use chainrule_nn::{Activation, Init, LossKind, MlpSpec};
use serde_json::Value;

const SHOW: Show = Show { full: true };

fn close(got: f64, want: f64, what: &str) {
    // The lesson's numbers are rounded to 6 significant digits.
    let tol = 5e-6 * want.abs().max(1e-4);
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, want {want} (±{tol})"
    );
}

fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Number(n) => vec![n.as_f64().unwrap()],
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        other => panic!("not numbers: {other}"),
    }
}

fn node<'a>(j: &'a Value, name: &str) -> &'a Value {
    j["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node named {name}"))
}

fn check(got: &Value, want: &[f64], what: &str) {
    let got = flat(got);
    assert_eq!(got.len(), want.len(), "{what}: {got:?}");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        close(*g, *w, &format!("{what}[{k}]"));
    }
}

#[test]
fn worked_example_1_every_number() {
    let (mut model, setup) = worked_example_1(0.5).unwrap();
    let x = explain_network(&mut model, &setup).unwrap();
    let j = x.to_json(SHOW);
    // Forward.
    check(&node(&j, "z1")["value"], &[0.3775, 0.3925], "z1");
    check(&node(&j, "h1")["value"], &[0.593270, 0.596884], "h");
    check(&node(&j, "z2")["value"], &[1.105906], "z2");
    check(&node(&j, "ŷ")["value"], &[0.751365], "ŷ");
    close(j["loss"].as_f64().unwrap(), 0.0618193, "L");
    check(&node(&j, "L")["value"], &[0.0618193], "L node");
    // Backward.
    check(&node(&j, "ŷ")["grad"], &[-0.497270], "∂L/∂ŷ");
    check(&node(&j, "z2")["grad"], &[-0.0928978], "δ2");
    check(
        &j["gradients"]["2.weight"],
        &[-0.0551135, -0.0554492],
        "∂L/∂W2",
    );
    check(&j["gradients"]["2.bias"], &[-0.0928978], "∂L/∂b2");
    check(&node(&j, "z1")["grad"], &[-0.00896652, -0.0100586], "δ1");
    check(
        &j["gradients"]["0.weight"],
        &[-0.000448326, -0.000896652, -0.000502930, -0.00100586],
        "∂L/∂W1",
    );
    check(
        &j["gradients"]["0.bias"],
        &[-0.00896652, -0.0100586],
        "∂L/∂b1",
    );
    // Gradients keep the parameters' shapes.
    assert_eq!(j["gradients"]["0.weight"].as_array().unwrap().len(), 2);
    assert!(j["gradients"]["0.weight"][0].is_array());
    // The SGD step and the loss after it.
    close(
        j["update"]["loss_after"].as_f64().unwrap(),
        0.0547188,
        "loss after",
    );
    check(
        &j["update"]["parameters"]["2.bias"],
        &[0.6 + 0.5 * 0.0928978],
        "b2 after",
    );
}

#[test]
fn worked_example_2_two_paths() {
    let x = explain_expression("(x + y) * (x - 1)", "x=3,y=2").unwrap();
    let j = x.to_json(SHOW);
    assert_eq!(j["expression"], "(x + y) * (x - 1)");
    assert_eq!(j["value"], 10.0);
    assert_eq!(j["gradients"]["x"], 7.0);
    assert_eq!(j["gradients"]["y"], 2.0);
    let nodes = j["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 5, "x, y, x + y, x − 1, f");
    let xn = node(&j, "x");
    assert_eq!(xn["accumulated"], true);
    let mut paths: Vec<f64> = xn["incoming"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_f64().unwrap())
        .collect();
    paths.sort_by(f64::total_cmp);
    assert_eq!(paths, vec![2.0, 5.0]);
    assert_eq!(node(&j, "y")["accumulated"], false);
    // Local derivatives of f = (x + y)·(x − 1): x − 1 = 2 and x + y = 5.
    let f = node(&j, "f");
    let locals: Vec<f64> = f["local_derivatives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["value"].as_f64().unwrap())
        .collect();
    assert_eq!(locals, vec![2.0, 5.0]);
    // The table says where paths add up.
    let table = x.report(SHOW).to_table();
    assert!(table.contains("⊕ 2 paths add up"), "{table}");
    assert!(table.contains("∂f/∂x = 7 (2 paths added up)"), "{table}");
    let md = x.report(SHOW).to_markdown();
    assert!(md.contains("| # | node | what happens | formula | value |"));
}

// ----- random expressions against finite differences --------------------------

/// SplitMix64: a tiny seeded generator for the test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const VARS: [&str; 3] = ["x", "y", "z"];

/// A random expression from the grammar whose every operation stays in its
/// domain: logarithms and square roots of squares plus one or of
/// exponentials, denominators of squares plus one, variable exponents of
/// positive bases, exponentials of bounded arguments.
fn gen(r: &mut Rng, depth: u32) -> String {
    // The root is always an operation; below it, a leaf one time in five.
    if depth == 0 || (depth < 4 && r.below(5) == 0) {
        return match r.below(4) {
            0 => format!("{}", (r.uniform(0.2, 3.0) * 100.0).round() / 100.0),
            k => VARS[(k - 1) as usize].to_string(),
        };
    }
    let mut sub = || gen(r, depth - 1);
    let (a, b) = (sub(), sub());
    match r.below(20) {
        0 => format!("({a} + {b})"),
        1 => format!("({a} - {b})"),
        2 => format!("{a} * {b}"),
        3 => format!("({a}) / (({b})^2 + 1)"),
        4 => format!("exp(tanh({a}))"),
        5 => format!("log(({a})^2 + 1)"),
        6 => format!("sqrt(({a}) * ({a}) + 1)"),
        7 => format!("sin({a})"),
        8 => format!("cos({a} - {b})"),
        9 => format!("tanh({a})"),
        10 => format!("sigmoid({a} * {b})"),
        11 => format!("-({a})"),
        12 => format!("({a})^3"),
        13 => format!("(({a})^2 + 1)^(sin({b}))"),
        14 => format!("2^tanh({a})"),
        15 => format!("log(exp(sin({a})) + ({b})^2)"),
        16 => format!("({a} + 3) / exp(cos({b}))"),
        17 => format!("abs({a}) + 1"),
        18 => format!("relu({a}) * {b}"),
        _ => format!("({a}) * ({b} - {a})"),
    }
}

/// An evaluator written for this test alone (not the crate's parser):
/// recursive descent straight to a number.
struct Eval<'a> {
    s: &'a [u8],
    i: usize,
    vars: [(&'a str, f64); 3],
}

impl Eval<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i] == b' ' {
            self.i += 1;
        }
    }
    fn peek(&mut self) -> u8 {
        self.ws();
        self.s.get(self.i).copied().unwrap_or(0)
    }
    fn sum(&mut self) -> f64 {
        let mut v = self.product();
        loop {
            match self.peek() {
                b'+' => {
                    self.i += 1;
                    v += self.product();
                }
                b'-' => {
                    self.i += 1;
                    v -= self.product();
                }
                _ => return v,
            }
        }
    }
    fn product(&mut self) -> f64 {
        let mut v = self.signed();
        loop {
            match self.peek() {
                b'*' => {
                    self.i += 1;
                    v *= self.signed();
                }
                b'/' => {
                    self.i += 1;
                    v /= self.signed();
                }
                _ => return v,
            }
        }
    }
    fn signed(&mut self) -> f64 {
        if self.peek() == b'-' {
            self.i += 1;
            return -self.signed();
        }
        let base = self.primary();
        if self.peek() == b'^' {
            self.i += 1;
            let e = self.signed();
            return base.powf(e);
        }
        base
    }
    fn primary(&mut self) -> f64 {
        let c = self.peek();
        if c == b'(' {
            self.i += 1;
            let v = self.sum();
            assert_eq!(self.peek(), b')');
            self.i += 1;
            return v;
        }
        let start = self.i;
        if c.is_ascii_digit() || c == b'.' {
            while self.i < self.s.len()
                && (self.s[self.i].is_ascii_digit() || self.s[self.i] == b'.')
            {
                self.i += 1;
            }
            return std::str::from_utf8(&self.s[start..self.i])
                .unwrap()
                .parse()
                .unwrap();
        }
        while self.i < self.s.len() && self.s[self.i].is_ascii_alphanumeric() {
            self.i += 1;
        }
        let name = std::str::from_utf8(&self.s[start..self.i]).unwrap();
        if let Some((_, v)) = self.vars.iter().find(|(n, _)| *n == name) {
            return *v;
        }
        assert_eq!(self.peek(), b'(', "function call expected after {name}");
        self.i += 1;
        let a = self.sum();
        assert_eq!(self.peek(), b')');
        self.i += 1;
        match name {
            "exp" => a.exp(),
            "log" => a.ln(),
            "sqrt" => a.sqrt(),
            "abs" => a.abs(),
            "sin" => a.sin(),
            "cos" => a.cos(),
            "tanh" => a.tanh(),
            "sigmoid" => 1.0 / (1.0 + (-a).exp()),
            "relu" => a.max(0.0),
            other => panic!("unknown function {other}"),
        }
    }
}

fn eval(src: &str, at: [f64; 3]) -> f64 {
    let mut e = Eval {
        s: src.as_bytes(),
        i: 0,
        vars: [("x", at[0]), ("y", at[1]), ("z", at[2])],
    };
    let v = e.sum();
    assert_eq!(e.peek(), 0, "trailing input in {src}");
    v
}

/// Central differences with one Richardson step (error O(h⁴)).
fn finite_difference(src: &str, at: [f64; 3], k: usize, step: f64) -> f64 {
    let d = |h: f64| {
        let (mut p, mut m) = (at, at);
        p[k] += h;
        m[k] -= h;
        (eval(src, p) - eval(src, m)) / (2.0 * h)
    };
    let h = step * at[k].abs().max(1.0);
    (4.0 * d(h / 2.0) - d(h)) / 3.0
}

#[test]
fn random_expressions_match_finite_differences() {
    let mut r = Rng(20_240_611);
    let mut checked = 0;
    let mut tries = 0;
    while checked < 20 {
        tries += 1;
        assert!(tries < 200, "could not generate 20 expressions");
        let src = gen(&mut r, 4);
        let at = [
            r.uniform(-1.5, 1.5),
            r.uniform(-1.5, 1.5),
            r.uniform(-1.5, 1.5),
        ];
        let parsed = expr::parse(&src).unwrap_or_else(|e| panic!("{src}: {e}"));
        let used: Vec<String> = parsed.variables().into_iter().map(|(n, _)| n).collect();
        if used.is_empty() {
            continue;
        }
        // Stay clear of the kinks of abs and relu: there, differences with
        // two step sizes disagree.
        let near_kink = (0..3).any(|k| {
            let (a, b) = (
                finite_difference(&src, at, k, 1e-3),
                finite_difference(&src, at, k, 1e-4),
            );
            (a - b).abs() > 1e-7 * a.abs().max(1.0) || a.is_nan()
        });
        if near_kink {
            continue;
        }
        let at_text: Vec<String> = VARS
            .iter()
            .zip(at)
            .filter(|(n, _)| used.iter().any(|u| u == *n))
            .map(|(n, v)| format!("{n}={v:?}"))
            .collect();
        let x = explain_expression(&src, &at_text.join(","))
            .unwrap_or_else(|e| panic!("{src} at {at_text:?}: {e}"));
        let j = x.to_json(SHOW);
        let want = eval(&src, at);
        let got = j["value"].as_f64().unwrap();
        assert!(
            (got - want).abs() <= 1e-12 * want.abs().max(1.0),
            "{src}: value {got} vs {want}"
        );
        for (k, name) in VARS.iter().enumerate() {
            if !used.iter().any(|u| u == name) {
                continue;
            }
            let fd = finite_difference(&src, at, k, 1e-3);
            let g = j["gradients"][*name].as_f64().unwrap();
            assert!(
                (g - fd).abs() <= 1e-6 * fd.abs().max(1.0),
                "{src} at {at_text:?}: ∂/∂{name} = {g}, finite differences {fd}"
            );
        }
        checked += 1;
    }
}

// ----- errors ------------------------------------------------------------------------

#[test]
fn errors_are_clear_and_point_at_the_column() {
    let e = |src: &str, at: &str| explain_expression(src, at).unwrap_err().to_string();
    assert_eq!(e("x + 1 )", "x=1"), "unexpected ')' at column 7");
    assert!(e("(x + 1", "x=1").contains("missing ')'"));
    assert_eq!(
        e("x * foo(2)", "x=1"),
        "unknown function 'foo' (known: exp, log, sqrt, abs, sin, cos, tanh, sigmoid, relu) at column 5"
    );
    assert_eq!(e("1..5 * x", "x=1"), "bad number '1..5' at column 1");
    let missing = e("x * y", "x=1");
    assert!(
        missing.contains("'y'") && missing.contains("--at"),
        "{missing}"
    );
    assert!(e("x", "").contains("'x'"));
    assert!(e("x", "x=abc").contains("not a finite number"));
    assert!(e("x", "x=1,w=2").contains("'w'"));
}

#[test]
fn constants_and_shared_subexpressions() {
    // A constant expression has a value and no gradient.
    let x = explain_expression("2 * (3 + 4)", "").unwrap();
    assert_eq!(x.value, 14.0);
    assert!(x.gradients.is_empty());
    assert!(!x.trace.has_backward);
    // x·x: one leaf, two paths of x each.
    let x = explain_expression("x * x", "x=3").unwrap();
    assert_eq!(x.gradients, vec![("x".to_string(), 6.0)]);
    assert_eq!(x.trace.find("x").unwrap().incoming.len(), 2);
    // Variable exponent: d/dx x^y = y·x^(y−1), d/dy = ln x · x^y.
    let x = explain_expression("x ^ y", "x=2,y=3").unwrap();
    let g: Vec<f64> = x.gradients.iter().map(|(_, v)| *v).collect();
    assert!((g[0] - 12.0).abs() < 1e-12 && (g[1] - 8.0 * 2f64.ln()).abs() < 1e-12);
}

fn random_net(sizes: &[usize], act: Activation, out: Activation, seed: u64) -> Model<f64> {
    let spec = MlpSpec {
        sizes: sizes.to_vec(),
        activation: act,
        output_activation: out,
    };
    Model::from_spec(spec, Init::XavierUniform, seed, LossKind::Mse).unwrap()
}

#[test]
fn every_loss_traces_and_descends() {
    for (loss, out, target) in [
        (LossKind::Cce, Activation::Identity, vec![2.0]),
        (LossKind::Bce, Activation::Identity, vec![1.0]),
        (LossKind::Bce, Activation::Sigmoid, vec![0.0]),
        (LossKind::Mse, Activation::Tanh, vec![0.5]),
    ] {
        let outputs = if loss == LossKind::Cce { 3 } else { 1 };
        let mut m = random_net(&[3, 5, outputs], Activation::Relu, out, 7);
        let setup = NetworkSetup {
            title: "test".into(),
            input: vec![0.3, -0.2, 0.9],
            target,
            loss,
            lr: 0.05,
        };
        let x = explain_network(&mut m, &setup).unwrap();
        assert!(x.loss.is_finite() && x.loss_after < x.loss, "{loss:?}");
        let j = x.to_json(SHOW);
        for key in ["0.weight", "0.bias", "2.weight", "2.bias"] {
            assert!(j["gradients"][key].is_array(), "{key}");
        }
        let table = x.report(SHOW).to_table();
        assert!(table.contains("Backward pass"));
    }
}

#[test]
fn large_tensors_are_summarized_unless_full() {
    let mut m = random_net(&[20, 16, 1], Activation::Tanh, Activation::Identity, 1);
    let setup = NetworkSetup {
        title: "big".into(),
        input: (0..20).map(|i| i as f64 / 20.0).collect(),
        target: vec![1.0],
        loss: LossKind::Mse,
        lr: 0.1,
    };
    let x = explain_network(&mut m, &setup).unwrap();
    let short = x.report(Show { full: false }).to_table();
    assert!(short.contains("[16, 20] min "), "{short}");
    let j = x.to_json(Show { full: false });
    assert!(node(&j, "W1")["value"]["summary"]["norm"].is_number());
    // The gradients keyed by parameter are always complete.
    assert_eq!(flat(&j["gradients"]["0.weight"]).len(), 320);
    let full = x.report(Show { full: true }).to_table();
    assert!(!full.contains("[16, 20] min "));
}

#[test]
fn bad_network_inputs_are_errors() {
    let (mut m, mut setup) = worked_example_1(0.5).unwrap();
    setup.input = vec![1.0];
    assert!(explain_network(&mut m, &setup)
        .unwrap_err()
        .to_string()
        .contains("2 inputs"));
    let (mut m, mut setup) = worked_example_1(0.5).unwrap();
    setup.loss = LossKind::Cce;
    assert!(explain_network(&mut m, &setup).is_err());
    let (mut m, mut setup) = worked_example_1(0.5).unwrap();
    setup.lr = -1.0;
    assert!(explain_network(&mut m, &setup).is_err());
}

// ----- item 5: powers with their real meaning -----------------------------------

/// `x^y` with a varying exponent: values and gradients by hand arithmetic.
/// (−2)² = 4, ∂/∂x = y·x^(y−1) = 2·(−2) = −4, ∂/∂y = x^y·ln x has no real
/// value for x < 0 (NaN, as PyTorch); 0² = 0 with ∂/∂x = 2·0 = 0 and
/// ∂/∂y = 0 (0^y is constant for y > 0); 2^0.5 = √2 with ∂/∂x = 0.5/√2 and
/// ∂/∂y = √2·ln 2; (−8)^(1/3) has no real value (NaN, as `powf`).
#[test]
fn item_05_powers_have_their_real_meaning() {
    let sqrt2 = std::f64::consts::SQRT_2;
    let ln2 = std::f64::consts::LN_2;
    let nan = f64::NAN;
    let same = |got: f64, want: f64| {
        (got.is_nan() && want.is_nan()) || (got - want).abs() <= 1e-14 * want.abs().max(1.0)
    };
    let cases = [
        ("x=-2,y=2", 4.0, -4.0, nan),
        ("x=0,y=2", 0.0, 0.0, 0.0),
        ("x=2,y=0.5", sqrt2, 0.5 / sqrt2, sqrt2 * ln2),
        ("x=-8,y=0.3333333333333333", nan, nan, nan),
    ];
    for (at, f, dx, dy) in cases {
        let x = explain_expression("x^y", at).unwrap();
        let (gx, gy) = (x.gradients[0].1, x.gradients[1].1);
        assert!(
            same(x.value, f) && same(gx, dx) && same(gy, dy),
            "x^y at {at}: got f = {}, ∂f/∂x = {gx}, ∂f/∂y = {gy}; want {f}, {dx}, {dy}",
            x.value
        );
    }
    // A constant base with a varying exponent: (−2)^x at x = 3 is −8, and
    // 0^x at x = 2 is 0 with derivative 0.
    let x = explain_expression("(-2)^x", "x=3").unwrap();
    assert_eq!(x.value, -8.0);
    let x = explain_expression("0^x", "x=2").unwrap();
    assert_eq!((x.value, x.gradients[0].1), (0.0, 0.0));
    // The graph holds one power node, not exp(y·log x).
    let x = explain_expression("x^y", "x=2,y=3").unwrap();
    let ops: Vec<&str> = x.trace.nodes.iter().map(|n| n.op.name()).collect();
    assert_eq!(ops, ["leaf", "leaf", "pow_var"]);
}

// ----- derivatives written once: the numbers shown are the engine's -------------

/// Expressions whose output node takes the variables themselves as inputs,
/// so that the output's local derivatives, summed over the inputs that are
/// one variable, are `∂f/∂variable`: checked against central differences
/// of the test's own evaluator. Covers every operation the expression
/// language reaches.
#[test]
fn local_derivatives_shown_match_finite_differences() {
    let exprs = [
        "x + y",
        "x - y",
        "x * y",
        "x / y",
        "x * x",
        "x ^ y",
        "x ^ x",
        "x ^ 3",
        "x ^ 0.5",
        "x ^ -2",
        "2 ^ x",
        "-x",
        "x + 2",
        "3 * x",
        "exp(x)",
        "log(x)",
        "sqrt(x)",
        "abs(x)",
        "sin(x)",
        "cos(x)",
        "tanh(x)",
        "sigmoid(x)",
        "relu(x)",
    ];
    let points = [[0.7, 1.3, 0.0], [1.9, -0.6, 0.0], [0.35, 2.0, 0.0]];
    let mut checked = 0;
    for src in exprs {
        for at in points {
            let at_text = format!("x={:?},y={:?}", at[0], at[1]);
            let used = expr::parse(src).unwrap().variables();
            let at_text = if used.len() == 1 {
                format!("x={:?}", at[0])
            } else {
                at_text
            };
            let x = explain_expression(src, &at_text).unwrap();
            let t = &x.trace;
            let out = t.output_node().unwrap();
            for (k, name) in ["x", "y"].iter().enumerate() {
                let Some(var) = t.find(name) else { continue };
                let mine: Vec<_> = out.locals.iter().filter(|l| l.input == var.id).collect();
                assert!(
                    !mine.is_empty(),
                    "{src}: the output's inputs are not the variables"
                );
                let shown: f64 = mine
                    .iter()
                    .map(|l| {
                        assert!(l.formula.is_some(), "{src}: no local derivative text");
                        l.value.as_ref().expect("a local derivative's value")[0]
                    })
                    .sum();
                let fd = finite_difference(src, at, k, 1e-3);
                assert!(
                    (shown - fd).abs() <= 1e-7 * fd.abs().max(1.0),
                    "{src} at {at_text}: shown ∂f/∂{name} = {shown}, finite differences {fd}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 84, "local derivatives checked");
}
