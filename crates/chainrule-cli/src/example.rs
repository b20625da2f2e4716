//! `chainrule example`: worked example 1, every intermediate value of the
//! forward pass, the backward pass and one gradient-descent step.

use crate::numeric_args;
use chainrule::worked::{sgd_update, TinyNet};
use chainrule::{Graph, Result, Var};

#[derive(clap::Args)]
pub struct Args {
    /// Learning rate of the gradient-descent step.
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true, value_parser = numeric_args::positive)]
    lr: f64,
}

fn fmt(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{x:.9}")).collect();
    if items.len() == 1 {
        items[0].clone()
    } else {
        format!("[{}]", items.join(", "))
    }
}

fn row(step: &str, formula: &str, values: &[f64]) {
    println!("  {step:<10} {formula:<34} {}", fmt(values));
}

fn values(v: Var<'_, f64>) -> Vec<f64> {
    v.to_vec()
}

fn grad(v: Var<'_, f64>) -> Result<Vec<f64>> {
    Ok(v.grad()?.into_vec())
}

pub fn run(args: &Args) -> Result<()> {
    if !args.lr.is_finite() || args.lr <= 0.0 {
        return Err(chainrule::Error::from(chainrule::ErrorKind::Invalid {
            op: "example",
            detail: format!("--lr must be a positive number, got {}", args.lr),
            shape: chainrule::Shape::scalar(),
        }));
    }
    let mut g = Graph::<f64>::new();
    let net = TinyNet::new(&mut g)?;
    let (x, t) = TinyNet::example_data::<f64>()?;
    println!("Worked example 1: a 2-2-1 network, sigmoid hidden and output, MSE loss (f64)\n");
    println!(
        "  W1 = {:.2}  b1 = {:.2}",
        g.param_value(net.w1)?,
        g.param_value(net.b1)?
    );
    println!(
        "  W2 = {:.2}  b2 = {:.2}",
        g.param_value(net.w2)?,
        g.param_value(net.b2)?
    );
    println!("  x  = {x:.2}  target = {t:.2}\n");
    let loss_before = {
        let tr = net.forward(&g, &x, &t)?;
        for v in [tr.z1, tr.h, tr.z2, tr.y] {
            v.retain_grad();
        }
        println!("Forward pass");
        row("z1", "x · W1ᵀ + b1", &values(tr.z1));
        row("h", "σ(z1) = 1 / (1 + e^−z1)", &values(tr.h));
        row("z2", "h · W2ᵀ + b2", &values(tr.z2));
        row("ŷ", "σ(z2)", &values(tr.y));
        row("L", "mean((ŷ − t)²)", &values(tr.loss));
        tr.loss.backward()?;
        println!("\nBackward pass (chain rule, output to input)");
        row("∂L/∂ŷ", "2(ŷ − t) / n", &grad(tr.y)?);
        row("δ2", "∂L/∂z2 = ∂L/∂ŷ · ŷ(1 − ŷ)", &grad(tr.z2)?);
        row("∂L/∂W2", "δ2 · h", &g.param_grad(net.w2)?.into_vec());
        row("∂L/∂b2", "δ2", &g.param_grad(net.b2)?.into_vec());
        row("∂L/∂h", "δ2 · W2", &grad(tr.h)?);
        row("δ1", "∂L/∂z1 = ∂L/∂h · h(1 − h)", &grad(tr.z1)?);
        row("∂L/∂W1", "δ1ᵀ · x", &g.param_grad(net.w1)?.into_vec());
        row("∂L/∂b1", "δ1", &g.param_grad(net.b1)?.into_vec());
        tr.loss.item()?
    };
    sgd_update(&mut g, args.lr);
    g.clear();
    println!("\nGradient descent, θ ← θ − {} · ∂L/∂θ", args.lr);
    for (name, p) in [
        ("W1", net.w1),
        ("b1", net.b1),
        ("W2", net.w2),
        ("b2", net.b2),
    ] {
        println!("  {name:<10} {:<34} {:.9}", "", g.param_value(p)?);
    }
    let loss_after = net.forward(&g, &x, &t)?.loss.item()?;
    println!("\n  loss {loss_before:.9} → {loss_after:.9} after one step");
    Ok(())
}
