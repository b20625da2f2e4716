//! `chainrule diagnose`: how much gradient reaches each layer, and whether
//! it vanishes or explodes on the way back (the vanishing-gradient lesson).
//!
//! Three modes:
//! - a fresh network (`--layers`, `--activation`, `--init`) on a batch of
//!   random N(0, 1) inputs with random targets (`--batch`, `--seed`,
//!   `--loss`);
//! - a saved model (`--model FILE --data SPEC`) on a seeded sample of rows of
//!   its data, standardized as the model was trained;
//! - the lesson's Example 3 (`--chain N --chain-output P`): N one-unit layers
//!   whose outputs all equal P, showing the factor σ'(z) each passes back and
//!   the cumulative product, from the engine's backward pass.
//!
//! `--compare ACT` measures the same network (or chain) with another
//! activation, side by side. The bar chart of per-layer gradient magnitudes
//! (log scale) goes to `--out`, by default `runs/diagnose-<what>.svg`, where
//! `<what>` names the configuration (the same command overwrites the same
//! file).

use crate::data_args;
use crate::numeric_args;
use chainrule::Graph;
use chainrule_inspect::flow::{
    self, default_init, random_batch, ChainReport, FlowReport, EXPLODING_GRAD_TO_WEIGHT,
    EXPLODING_RATIO, VANISHING_RATIO,
};
use chainrule_inspect::flow_chart;
use chainrule_nn::data::shuffled_indices;
use chainrule_nn::mlp::{parse_sizes, Mlp, MlpSpec};
use chainrule_nn::model_io::load_model_with_data;
use chainrule_nn::{Activation, Error, Init, LossKind, Result};
use serde_json::json;
use std::path::{Path, PathBuf};

const DEFAULT_LAYERS: &str = "32,32,32,32,32,32,1";

#[derive(clap::Args)]
pub struct Args {
    /// Layer sizes from input to output, comma separated [default: 32,32,32,32,32,32,1].
    #[arg(long)]
    layers: Option<String>,
    /// Activation after every layer but the last: sigmoid, tanh, relu, leaky_relu[:SLOPE], identity [default: sigmoid].
    #[arg(long)]
    activation: Option<String>,
    /// Also measure the same network (or chain) with this activation, side by side.
    #[arg(long, value_name = "ACTIVATION")]
    compare: Option<String>,
    /// Weight initialiser: auto, xavier-uniform, xavier-normal, kaiming-uniform, kaiming-normal [default: auto: xavier for sigmoid/tanh, kaiming for relu].
    #[arg(long)]
    init: Option<String>,
    /// Rows of the measured batch [default: 64].
    #[arg(long, allow_negative_numbers = true, value_parser = numeric_args::at_least_one)]
    batch: Option<usize>,
    /// Seed of the weights and the random batch (or of the rows sampled with --model) [default: 0].
    #[arg(long, allow_negative_numbers = true, value_parser = numeric_args::seed)]
    seed: Option<u64>,
    /// Loss on the random targets: mse, bce or cce [default: mse].
    #[arg(long)]
    loss: Option<String>,
    /// Example 3: a chain of N one-unit layers, each followed by the activation.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = numeric_args::at_least_one)]
    chain: Option<usize>,
    /// The output of every unit of the chain (weights 1, biases chosen to give it) [default: 0.9].
    #[arg(long, value_name = "VALUE", allow_negative_numbers = true)]
    chain_output: Option<f64>,
    /// Diagnose a model file written by `chainrule train` (on the data it records, or --data).
    #[arg(long)]
    model: Option<PathBuf>,
    /// The model's data: digits | breast-cancer | iris | diabetes | csv:PATH | mnist:DIR
    #[arg(long)]
    data: Option<String>,
    /// With --data: auto | regression | classification (must agree with the model's loss) [default: auto].
    #[arg(long)]
    task: Option<String>,
    /// With --data: the field delimiter of a csv: file [default: detected].
    #[arg(long)]
    delimiter: Option<String>,
    /// Print one JSON object: {"layers": [...]} (with --compare also "compare"; with --chain also "chain").
    #[arg(long)]
    json: bool,
    /// The bar chart (SVG) [default: runs/diagnose-<what>.svg].
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<()> {
    if let Some(n) = args.chain {
        run_chain(args, n)
    } else if let Some(model) = &args.model {
        run_model(args, model)
    } else {
        run_random(args)
    }
}

/// Refuses flags that the chosen mode does not use.
fn reject(mode: &str, flags: &[(&str, bool)]) -> Result<()> {
    match flags.iter().find(|(_, given)| *given) {
        Some((name, _)) => Err(Error::config(name, format!("is not used with {mode}"))),
        None => Ok(()),
    }
}

fn activation_of(args: &Args) -> Result<Activation> {
    Activation::parse(args.activation.as_deref().unwrap_or("sigmoid"))
}

fn compare_of(args: &Args) -> Result<Option<Activation>> {
    args.compare
        .as_deref()
        .map(|s| {
            Activation::parse(s).map_err(|_| {
                Error::config(
                    "compare",
                    format!("unknown activation '{s}' (expected sigmoid, tanh, relu, leaky_relu[:SLOPE] or identity)"),
                )
            })
        })
        .transpose()
}

/// Makes a string safe as part of a file name.
fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn out_path(args: &Args, what: &str) -> Result<PathBuf> {
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(format!("diagnose-{}.svg", safe(what))));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::config("out", format!("{}: {e}", dir.display())))?;
    }
    Ok(path)
}

fn vs(compare: Option<Activation>) -> String {
    compare.map_or(String::new(), |c| format!("-vs-{}", c.name()))
}

fn init_name(init: Init) -> String {
    match init {
        Init::XavierUniform => "xavier-uniform".into(),
        Init::XavierNormal => "xavier-normal".into(),
        Init::KaimingUniform => "kaiming-uniform".into(),
        Init::KaimingNormal => "kaiming-normal".into(),
        Init::Zeros => "zeros".into(),
        Init::Constant(c) => format!("constant:{c}"),
    }
}

// ----- a fresh network on random data ------------------------------------

fn run_random(args: &Args) -> Result<()> {
    reject(
        "a random network (no --chain or --model)",
        &[
            ("data", args.data.is_some()),
            ("task", args.task.is_some()),
            ("delimiter", args.delimiter.is_some()),
            ("chain-output", args.chain_output.is_some()),
        ],
    )?;
    let sizes = parse_sizes("layers", args.layers.as_deref().unwrap_or(DEFAULT_LAYERS))?;
    if sizes.len() < 2 || sizes.contains(&0) || sizes.len() > 1001 {
        return Err(Error::config(
            "layers",
            format!("need 2 to 1001 positive sizes (input first, output last), got {sizes:?}"),
        ));
    }
    let weights: u128 = sizes.windows(2).map(|w| w[0] as u128 * w[1] as u128).sum();
    if weights > 1 << 25 {
        return Err(Error::config(
            "layers",
            format!("{weights} weights is more than diagnose handles (2^25 at most)"),
        ));
    }
    let activation = activation_of(args)?;
    let compare = compare_of(args)?;
    let loss = LossKind::parse(args.loss.as_deref().unwrap_or("mse"))?;
    let init = match args.init.as_deref() {
        None => None,
        Some(s) if s.trim().eq_ignore_ascii_case("auto") => None,
        Some(s) => Some(Init::parse(s)?),
    };
    let rows = args.batch.unwrap_or(64);
    if rows == 0 || rows > 1 << 16 {
        return Err(Error::config(
            "batch",
            format!("must be 1 to 65536 rows, got {rows}"),
        ));
    }
    let units: u128 = sizes.iter().map(|&s| s as u128).sum();
    if rows as u128 * units > 1 << 26 {
        return Err(Error::config(
            "batch",
            format!("{rows} rows through {units} units is more than diagnose handles (2^26 values at most)"),
        ));
    }
    let seed = args.seed.unwrap_or(0);
    let (d, k) = (sizes[0], sizes[sizes.len() - 1]);
    let batch = random_batch(d, k, loss, rows, seed)?;

    let measure = |act: Activation| -> Result<(Init, FlowReport)> {
        let init = init.unwrap_or_else(|| default_init(act));
        let mut graph = Graph::<f64>::new();
        // The output activation the loss decides, as `train` builds it.
        let spec = MlpSpec::for_loss(sizes.clone(), act, loss, None)?;
        let mlp = Mlp::new(&mut graph, spec, init, seed)?;
        Ok((init, flow::measure(&mut graph, &mlp, &batch)?))
    };
    let mut runs = vec![(activation, measure(activation)?)];
    if let Some(c) = compare {
        runs.push((c, measure(c)?));
    }

    let shape: Vec<String> = sizes.iter().map(|s| s.to_string()).collect();
    let path = out_path(
        args,
        &format!("{}-{}{}", activation.name(), shape.join("-"), vs(compare)),
    )?;
    let names: Vec<String> = runs.iter().map(|(a, _)| a.name()).collect();
    let labelled: Vec<(&str, &FlowReport)> = names
        .iter()
        .zip(&runs)
        .map(|(n, (_, (_, r)))| (n.as_str(), r))
        .collect();
    let title = format!(
        "gradient reaching each layer of {}: {}",
        shape.join("→"),
        names.join(" vs ")
    );
    flow_chart::flow_chart(&path, &title, &labelled)?;

    if args.json {
        let mut o = runs[0].1 .1.to_json();
        if let Some((c, (_, r))) = runs.get(1) {
            o["compare"] = json!({ "activation": c.name(), "layers": r.layers_json() });
        }
        println!("{o}");
        return Ok(());
    }
    for (act, (init, report)) in &runs {
        println!(
            "network {}, {} activations, {} init; {} loss on {rows} random N(0, 1) rows (seed {seed}): loss {:.4}",
            shape.join("→"),
            act.name(),
            init_name(*init),
            loss.name(),
            report.loss
        );
        print_table(report);
        println!();
    }
    if let [(a, (_, ra)), (b, (_, rb))] = &runs[..] {
        print_side_by_side(&a.name(), ra, &b.name(), rb);
        println!();
    }
    print_thresholds();
    println!("bar chart: {}", path.display());
    Ok(())
}

// ----- a saved model on its data -------------------------------------------

fn run_model(args: &Args, model_path: &Path) -> Result<()> {
    reject(
        "--model",
        &[
            ("layers", args.layers.is_some()),
            ("activation", args.activation.is_some()),
            ("compare", args.compare.is_some()),
            ("init", args.init.is_some()),
            ("loss", args.loss.is_some()),
            ("chain-output", args.chain_output.is_some()),
        ],
    )?;
    let rows = args.batch.unwrap_or(64);
    let seed = args.seed.unwrap_or(0);
    let (mut model, record) = load_model_with_data::<f64>(model_path, None)?;
    let mlp = model.mlp_for("diagnose")?;
    let spec = data_args::model_data(args.data.as_deref(), record.as_ref(), model_path, "")?;
    let spec = spec.as_str();
    let data = data_args::prepare(
        spec,
        Some(model.loss),
        &data_args::Reading::for_model(
            args.task.as_deref().unwrap_or("auto"),
            args.delimiter.as_deref(),
            record.as_ref(),
        ),
        0.0,
        seed,
        false,
        model.standardizer.clone(),
    )?;
    let set = &data.train;
    if set.n == 0 {
        return Err(Error::config("data", format!("{} has no rows", set.name)));
    }
    let mut sample = shuffled_indices(set.n, seed);
    sample.truncate(rows.min(set.n));
    let report = flow::layer_report(&mut model, set, &sample)?;

    // `runs/iris-…/model.safetensors` is named by its run folder.
    let stem = model_path
        .file_stem()
        .map_or("model".into(), |s| s.to_string_lossy().into_owned());
    let stem = match model_path.parent().and_then(|p| p.file_name()) {
        Some(dir) if stem == "model" => dir.to_string_lossy().into_owned(),
        _ => stem,
    };
    let path = out_path(args, &format!("model-{stem}"))?;
    let act = mlp.spec.activation.name();
    let title = format!(
        "gradient reaching each layer: {} on {spec}",
        model_path.display()
    );
    flow_chart::flow_chart(&path, &title, &[(act.as_str(), &report)])?;
    if args.json {
        println!("{}", report.to_json());
        return Ok(());
    }
    let sizes: Vec<String> = mlp.spec.sizes.iter().map(|s| s.to_string()).collect();
    println!(
        "model {} ({}, {act} activations), {} loss on {} rows of {} (seed {seed}): loss {:.4}",
        model_path.display(),
        sizes.join("→"),
        model.loss.name(),
        sample.len(),
        set.name,
        report.loss
    );
    print_table(&report);
    println!();
    print_thresholds();
    println!("bar chart: {}", path.display());
    Ok(())
}

// ----- Example 3: the chain ------------------------------------------------

fn run_chain(args: &Args, n: usize) -> Result<()> {
    reject(
        "--chain",
        &[
            ("layers", args.layers.is_some()),
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
    let activation = activation_of(args)?;
    let compare = compare_of(args)?;
    let p = args.chain_output.unwrap_or(0.9);
    let main = flow::chain(n, p, activation)?;
    let other = compare.map(|c| flow::chain(n, p, c)).transpose()?;
    let mut chains = vec![&main];
    chains.extend(other.as_ref());

    let path = out_path(
        args,
        &format!("chain{n}-{}-{p}{}", activation.name(), vs(compare)),
    )?;
    let title = format!("gradient reaching each unit of a {n}-unit chain (outputs {p})");
    flow_chart::chain_chart(&path, &title, &chains)?;

    if args.json {
        let mut o = main.to_json();
        if let Some(c) = &other {
            o["compare"] = c.to_json();
        }
        println!("{o}");
        return Ok(());
    }
    println!(
        "Example 3: a chain of {n} one-unit layers, every unit outputting {p}\n  input x = {p}, every weight w = 1, every bias b = act⁻¹({p}) − {p}; L = the output, so ∂L/∂output = 1\n  local = ∂L/∂z ÷ ∂L/∂a (the activation's derivative at z), cumulative = ∂L/∂z ÷ ∂L/∂output,\n  both read from the engine's backward pass\n"
    );
    print_chain_table(&chains);
    println!();
    for c in &chains {
        if let Some(line) = by_hand(c) {
            println!("{line}");
        }
    }
    println!();
    for c in &chains {
        println!("{}:", c.activation.name());
        for l in &c.flow.layers {
            println!("  {}", l.reason);
        }
    }
    println!();
    print_thresholds();
    println!("bar chart: {}", path.display());
    Ok(())
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
    Some(format!(
        "by hand, {}: {formula}{}; cumulative at layer 1 = {}^{n} = {:.4e}",
        c.activation.name(),
        flow::short(factor),
        flow::short(factor),
        factor.powi(n as i32)
    ))
}

fn print_chain_table(chains: &[&ChainReport]) {
    let block = 46;
    print!("{:>5} {:<18}", "", "");
    for c in chains {
        let name = format!(" {} ", c.activation.name());
        print!("  {name:-^block$}");
    }
    println!();
    print!("{:>5} {:<18}", "layer", "state_dict");
    for _ in chains {
        print!(
            "  {:>8} {:>7} {:>10} {:>11} {:>5}",
            "z", "a", "local", "cumulative", "verd."
        );
    }
    println!();
    let n = chains.first().map_or(0, |c| c.layers.len());
    for k in 0..n {
        let keys = chains
            .first()
            .and_then(|c| c.flow.layers.get(k))
            .map_or(String::new(), |l| {
                format!("{}, {}", l.weight_key, l.bias_key)
            });
        print!("{:>5} {keys:<18}", k + 1);
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

// ----- tables --------------------------------------------------------------

fn pct(f: f64) -> String {
    format!("{:.1}%", 100.0 * f)
}

/// A number for a table cell: scientific with two decimals.
fn sci(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x.is_finite() {
        format!("{x:.2e}")
    } else {
        format!("{x}")
    }
}

fn print_table(r: &FlowReport) {
    println!(
        "{:>5} {:<18} {:>9} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9} {:>6} {:>9}  reason",
        "layer",
        "state_dict",
        "shape",
        "‖∂L/∂z‖",
        "÷ last",
        "grad norm",
        "mean |g|",
        "g/w",
        "saturated",
        "dead",
        "verdict"
    );
    for l in &r.layers {
        println!(
            "{:>5} {:<18} {:>9} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9} {:>6} {:>9}  {}",
            l.layer,
            format!("{}, {}", l.weight_key, l.bias_key),
            format!("{}→{}", l.in_features, l.out_features),
            sci(l.delta_norm),
            flow::short(l.delta_ratio),
            sci(l.grad_norm),
            sci(l.mean_abs_grad),
            sci(l.grad_to_weight),
            pct(l.saturated_fraction),
            pct(l.dead_fraction),
            l.verdict.name(),
            l.reason
        );
    }
}

fn print_side_by_side(a_name: &str, a: &FlowReport, b_name: &str, b: &FlowReport) {
    println!("side by side: ‖∂L/∂z‖ (÷ the last layer's) and verdict");
    println!(
        "{:>5} {:<18} {:<34}{}",
        "layer", "state_dict", a_name, b_name
    );
    let cell = |r: &FlowReport, k: usize| {
        r.layers.get(k).map_or(String::new(), |l| {
            format!(
                "{:>9} ({:>7})  {}",
                sci(l.delta_norm),
                flow::short(l.delta_ratio),
                l.verdict.name()
            )
        })
    };
    for k in 0..a.layers.len().max(b.layers.len()) {
        let keys = a.layers.get(k).map_or(String::new(), |l| {
            format!("{}, {}", l.weight_key, l.bias_key)
        });
        println!("{:>5} {keys:<18} {:<34}{}", k + 1, cell(a, k), cell(b, k));
    }
}

fn print_thresholds() {
    println!(
        "‖∂L/∂z‖: the gradient backpropagated to a layer's pre-activations; grad norm, mean |g|: of its weights; g/w: grad norm ÷ weight norm\n\
         verdicts: vanishing when ‖∂L/∂z‖ is below {VANISHING_RATIO:.0e} × the last layer's (or the weight gradient is 0); \
         exploding above {EXPLODING_RATIO:.0e} ×, when g/w exceeds {EXPLODING_GRAD_TO_WEIGHT:.0e}, or when not finite"
    );
}
