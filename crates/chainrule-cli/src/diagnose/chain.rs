//! `diagnose --chain N`: the lesson's Example 3, a chain of N one-unit
//! layers whose units all output the same value, compared with other
//! activations and with the two cures (`--compare relu,residual,batchnorm`).

use super::{out_path, reject, safe, Args};
use chainrule_inspect::flow::{self, ChainKind, ChainReport, BATCH_NORM_OFFSETS};
use chainrule_inspect::flow_chart;
use chainrule_nn::{Activation, Error, Result};
use serde_json::Value;

/// One chain to measure: plain with an activation, or the main activation
/// with a cure.
fn compare_kinds(args: &Args, main: Activation) -> Result<Vec<(ChainKind, Activation)>> {
    let mut out = vec![(ChainKind::Plain, main)];
    for item in super::compare_items(args) {
        out.push(match item.to_ascii_lowercase().as_str() {
            "residual" => (ChainKind::Residual, main),
            "batchnorm" | "batch_norm" | "batchnorm1d" => (ChainKind::BatchNorm, main),
            other => (
                ChainKind::Plain,
                Activation::parse(other).map_err(|_| {
                    Error::config(
                        "compare",
                        format!(
                            "unknown '{item}' (expected an activation: sigmoid, tanh, relu, \
                             leaky_relu[:SLOPE], identity; or a cure: residual, batchnorm)"
                        ),
                    )
                })?,
            ),
        });
    }
    Ok(out)
}

pub fn run_chain(args: &Args, n: usize) -> Result<()> {
    reject(
        "--chain",
        &[
            ("layers", args.layers.is_some()),
            ("arch", !args.arch.is_empty()),
            ("input-shape", args.input_shape.is_some()),
            ("init", args.init.is_some()),
            ("batch", args.batch.is_some()),
            ("seed", args.seed.is_some()),
            ("loss", args.loss.is_some()),
            ("model", args.model.is_some()),
            ("data", args.data.is_some()),
            ("task", args.task.is_some()),
            ("delimiter", args.delimiter.is_some()),
        ],
    )?;
    let activation = super::activation_of(args)?;
    let p = args.chain_output.unwrap_or(0.9);
    let kinds = compare_kinds(args, activation)?;
    let chains = kinds
        .iter()
        .map(|&(kind, act)| flow::chain_of(kind, n, p, act))
        .collect::<Result<Vec<ChainReport>>>()?;
    let refs: Vec<&ChainReport> = chains.iter().collect();

    let vs: Vec<String> = chains.iter().skip(1).map(|c| safe(&c.label())).collect();
    let vs = if vs.is_empty() {
        String::new()
    } else {
        format!("-vs-{}", vs.join("-"))
    };
    let path = out_path(args, &format!("chain{n}-{}-{p}{vs}", activation.name()))?;
    let title = format!("gradient reaching each unit of a {n}-unit chain (outputs {p})");
    flow_chart::chain_chart(&path, &title, &refs)?;

    if args.json {
        let mut o = chains[0].to_json();
        if chains.len() > 1 {
            o["compare"] = Value::Array(chains[1..].iter().map(ChainReport::to_json).collect());
        }
        println!("{o}");
        return Ok(());
    }
    println!(
        "Example 3: a chain of {n} one-unit layers, every unit outputting {p}\n  input x = {p}, every weight w = 1, every bias b = act⁻¹({p}) − {p}; L = the output, so ∂L/∂output = 1\n  local = ‖∂L/∂h_(k−1)‖ ÷ ‖∂L/∂h_k‖ (the factor unit k passes back, h_k its output), cumulative = ‖∂L/∂z_k‖ ÷ ‖∂L/∂output‖,\n  both read from the engine's backward pass"
    );
    for c in &chains[1..] {
        match c.kind {
            ChainKind::Residual => println!(
                "  {}: h_k = h_(k−1) + act(w·h_(k−1) + b_k), the biases chosen so that act(…) = {p} again",
                c.label()
            ),
            ChainKind::BatchNorm => println!(
                "  {}: h_k = act(batchnorm(w·h_(k−1) + b_k)) with γ = 1, β = act⁻¹({p}), on {} rows {}, \
                 scored by MSE against 0/1 targets (a sum of outputs would give batch norm nothing to pass back); z and a are batch means",
                c.label(),
                BATCH_NORM_OFFSETS.len(),
                offsets_text(p)
            ),
            ChainKind::Plain => {}
        }
    }
    println!();
    print_chain_table(&refs);
    println!();
    for c in &chains {
        if let Some(line) = by_hand(c) {
            println!("{line}");
        }
    }
    println!();
    for c in &chains {
        println!("{}:", c.label());
        for l in &c.flow.layers {
            println!("  {}", l.reason);
        }
    }
    println!();
    super::tables::print_thresholds();
    println!("bar chart: {}", path.display());
    Ok(())
}

/// `0.9 − 0.14 … 0.9 + 0.14`.
fn offsets_text(p: f64) -> String {
    let lo = BATCH_NORM_OFFSETS.first().copied().unwrap_or(0.0);
    let hi = BATCH_NORM_OFFSETS.last().copied().unwrap_or(0.0);
    format!("{p} − {} … {p} + {}", -lo, hi)
}

/// The closed form, for the reader to check the engine against.
fn by_hand(c: &ChainReport) -> Option<String> {
    let (p, n) = (c.target_output, c.layers.len());
    let (formula, factor) = match c.activation {
        Activation::Sigmoid => (
            format!("σ'(z) = a(1 − a) = {p} × {} = ", flow::short(1.0 - p)),
            p * (1.0 - p),
        ),
        Activation::Tanh => (format!("tanh'(z) = 1 − a² = 1 − {p}² = "), 1.0 - p * p),
        Activation::Relu => ("relu'(z) = ".into(), 1.0),
        _ => return None,
    };
    let f = flow::short(factor);
    Some(match c.kind {
        ChainKind::Plain => format!(
            "by hand, {}: {formula}{f}; cumulative at layer 1 = {f}^{n} = {:.4e}",
            c.label(),
            factor.powi(n as i32)
        ),
        ChainKind::Residual => format!(
            "by hand, {}: each block passes back 1 + w·act'(z) = 1 + {f} = {}; cumulative at layer 1 = {f} × {}^{} = {:.4e}",
            c.label(),
            flow::short(1.0 + factor),
            flow::short(1.0 + factor),
            n - 1,
            factor * (1.0 + factor).powi(n as i32 - 1)
        ),
        ChainKind::BatchNorm => format!(
            "by hand, {}: act'(z) is still about {f}, but batch norm divides ∂L/∂z by the spread of z over the batch, \
             which the activation before it shrank by about the same factor, so the two cancel",
            c.label()
        ),
    })
}

fn print_chain_table(chains: &[&ChainReport]) {
    let block = 46;
    print!("{:>5} {:<18}", "", "");
    for c in chains {
        let name = format!(" {} ", c.label());
        print!("  {name:-^block$}");
    }
    println!();
    print!("{:>5} {:<18}", "layer", "weight");
    for _ in chains {
        print!(
            "  {:>8} {:>7} {:>10} {:>11} {:>5}",
            "z", "a", "local", "cumulative", "verd."
        );
    }
    println!();
    let n = chains.first().map_or(0, |c| c.layers.len());
    for k in 0..n {
        let key = chains
            .first()
            .and_then(|c| c.flow.layers.get(k))
            .map_or(String::new(), |l| l.weight_key.clone());
        print!("{:>5} {key:<18}", k + 1);
        for c in chains {
            let l = &c.layers[k];
            let verdict = c.flow.layers.get(k).map_or("", |f| match f.verdict {
                flow::Verdict::Vanishing => "van.",
                flow::Verdict::Healthy => "ok",
                flow::Verdict::Exploding => "expl.",
            });
            print!(
                "  {:>8.4} {:>7.4} {:>10.6} {:>11.4e} {:>5}",
                l.pre_activation, l.output, l.local_factor, l.cumulative, verdict
            );
        }
        println!();
    }
}
