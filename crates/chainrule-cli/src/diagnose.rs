//! `chainrule diagnose`: how much gradient reaches each layer, and whether
//! it vanishes or explodes on the way back (the vanishing-gradient lesson).
//!
//! Four modes:
//! - a fresh multilayer perceptron (`--layers`, `--activation`, `--init`)
//!   on a batch of random N(0, 1) inputs with random targets (`--batch`,
//!   `--seed`, `--loss`); `--compare ACT[,ACT…]` measures the same network
//!   with other activations, side by side;
//! - fresh networks of any architecture (`--arch [NAME=]TEXT`, repeatable,
//!   with `--input-shape`), measured on the same random batch, side by
//!   side: e.g. 20 sigmoid layers against the same with residual blocks and
//!   with batch norm;
//! - a saved model of any architecture (`--model FILE --data SPEC`) on a
//!   seeded sample of rows of its data, standardized as it was trained;
//! - the lesson's Example 3 (`--chain N --chain-output P`): N one-unit
//!   layers whose outputs all equal P, showing the factor each passes back
//!   and the cumulative product, from the engine's backward pass, compared
//!   with other activations and the cures (`--compare relu,residual,batchnorm`).
//!
//! The bar chart of per-layer gradient magnitudes (log scale) goes to
//! `--out`, by default `runs/diagnose-<what>.svg`, where `<what>` names the
//! configuration (the same command overwrites the same file).

mod chain;
mod tables;

use crate::data_args;
use crate::numeric_args;
use chainrule::Graph;
use chainrule_inspect::flow::{self, default_init, random_batch, FlowReport};
use chainrule_inspect::flow_chart;
use chainrule_nn::arch::{self, LayerKind, LayerSpec};
use chainrule_nn::data::shuffled_indices;
use chainrule_nn::mlp::{parse_sizes, MlpSpec};
use chainrule_nn::model_io::load_model_with_data;
use chainrule_nn::network::Network;
use chainrule_nn::{Activation, Error, Init, LossKind, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use tables::{dims, print_side_by_side, print_table, print_thresholds};

const DEFAULT_LAYERS: &str = "32,32,32,32,32,32,1";

#[derive(clap::Args)]
pub struct Args {
    /// Layer sizes from input to output, comma separated [default: 32,32,32,32,32,32,1].
    #[arg(long)]
    layers: Option<String>,
    /// Activation after every layer but the last: sigmoid, tanh, relu, leaky_relu[:SLOPE], identity [default: sigmoid].
    #[arg(long)]
    activation: Option<String>,
    /// Also measure the same network with these activations, side by side (comma separated); with --chain also the cures: residual, batchnorm.
    #[arg(long, value_name = "ACTIVATION,…")]
    compare: Option<String>,
    /// A network to measure, as `train --arch` takes it, optionally named: plain="repeat(20,linear(32),sigmoid),linear(1)". Repeat the flag to compare networks side by side.
    #[arg(long, value_name = "[NAME=]ARCH")]
    arch: Vec<String>,
    /// With --arch: the shape of one input example, e.g. 32 or 1x8x8 [default: 32].
    #[arg(long)]
    input_shape: Option<String>,
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
    /// Print one JSON object: {"layers": [...]} (with --compare or several --arch also "compare": [...]; with --chain also "chain").
    #[arg(long)]
    json: bool,
    /// The bar chart (SVG) [default: runs/diagnose-<what>.svg].
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<()> {
    if let Some(n) = args.chain {
        chain::run_chain(args, n)
    } else if let Some(model) = &args.model {
        run_model(args, model)
    } else if !args.arch.is_empty() {
        run_arch(args)
    } else {
        run_random(args)
    }
}

/// The items of `--compare`, trimmed, empty ones dropped.
fn compare_items(args: &Args) -> Vec<String> {
    args.compare
        .as_deref()
        .map(|s| {
            s.split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Refuses flags that the chosen mode does not use.
pub(crate) fn reject(mode: &str, flags: &[(&str, bool)]) -> Result<()> {
    match flags.iter().find(|(_, given)| *given) {
        Some((name, _)) => Err(Error::config(name, format!("is not used with {mode}"))),
        None => Ok(()),
    }
}

pub(crate) fn activation_of(args: &Args) -> Result<Activation> {
    Activation::parse(args.activation.as_deref().unwrap_or("sigmoid"))
}

fn compare_of(args: &Args) -> Result<Vec<Activation>> {
    compare_items(args)
        .iter()
        .map(|s| {
            Activation::parse(s).map_err(|_| {
                Error::config(
                    "compare",
                    format!("unknown activation '{s}' (expected sigmoid, tanh, relu, leaky_relu[:SLOPE] or identity; residual and batchnorm compare chains, use --arch for networks)"),
                )
            })
        })
        .collect()
}

/// Makes a string safe as part of a file name.
pub(crate) fn safe(s: &str) -> String {
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

pub(crate) fn out_path(args: &Args, what: &str) -> Result<PathBuf> {
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

fn vs(compare: &[Activation]) -> String {
    compare
        .iter()
        .map(|c| format!("-vs-{}", c.name()))
        .collect()
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

// ----- fresh networks on random data ------------------------------------

/// The batch's rows: 1 to 65536, and at most 2^26 values through the
/// layers in all (`values_per_row`: every layer's output per example).
fn batch_rows(args: &Args, values_per_row: u128) -> Result<usize> {
    let rows = args.batch.unwrap_or(64);
    if rows == 0 || rows > 1 << 16 {
        return Err(Error::config(
            "batch",
            format!("must be 1 to 65536 rows, got {rows}"),
        ));
    }
    if rows as u128 * values_per_row > 1 << 26 {
        return Err(Error::config(
            "batch",
            format!("{rows} rows through {values_per_row} values per example is more than diagnose handles (2^26 values at most)"),
        ));
    }
    Ok(rows)
}

fn init_of(args: &Args) -> Result<Option<Init>> {
    match args.init.as_deref() {
        None => Ok(None),
        Some(s) if s.trim().eq_ignore_ascii_case("auto") => Ok(None),
        Some(s) => Ok(Some(Init::parse(s)?)),
    }
}

/// One measured network: its name, a description and the report.
struct Measured {
    name: String,
    what: String,
    report: FlowReport,
}

/// Prints the reports, side by side when several, writes the chart and
/// the JSON.
fn print_reports(
    args: &Args,
    runs: &[Measured],
    path: &Path,
    title: &str,
    json_key: &str,
) -> Result<()> {
    let labelled: Vec<(&str, &FlowReport)> =
        runs.iter().map(|m| (m.name.as_str(), &m.report)).collect();
    flow_chart::flow_chart(path, title, &labelled)?;
    if args.json {
        let mut o = runs[0].report.to_json();
        if runs.len() > 1 {
            o["compare"] = Value::Array(
                runs[1..]
                    .iter()
                    .map(|m| json!({ json_key: m.name, "layers": m.report.layers_json() }))
                    .collect(),
            );
        }
        println!("{o}");
        return Ok(());
    }
    for m in runs {
        println!("{}: loss {:.4}", m.what, m.report.loss);
        print_table(&m.report);
        println!();
    }
    if runs.len() > 1 {
        print_side_by_side(&labelled);
        println!();
    }
    print_thresholds();
    println!("bar chart: {}", path.display());
    Ok(())
}

fn run_random(args: &Args) -> Result<()> {
    reject(
        "a random network (no --chain, --arch or --model)",
        &[
            ("data", args.data.is_some()),
            ("task", args.task.is_some()),
            ("delimiter", args.delimiter.is_some()),
            ("chain-output", args.chain_output.is_some()),
            ("input-shape", args.input_shape.is_some()),
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
    let init = init_of(args)?;
    let units: u128 = sizes.iter().map(|&s| s as u128).sum();
    let rows = batch_rows(args, units)?;
    let seed = args.seed.unwrap_or(0);
    let (d, k) = (sizes[0], sizes[sizes.len() - 1]);
    let batch = random_batch(d, k, loss, rows, seed)?;
    let shape: Vec<String> = sizes.iter().map(|s| s.to_string()).collect();

    let measure = |act: Activation| -> Result<Measured> {
        let init = init.unwrap_or_else(|| default_init(act));
        let mut graph = Graph::<f64>::new();
        // The output activation the loss decides, as `train` builds it.
        let spec = MlpSpec::for_loss(sizes.clone(), act, loss, None)?;
        let network = Network::from_mlp_spec(&mut graph, &spec, init, seed)?;
        Ok(Measured {
            name: act.name(),
            what: format!(
                "network {}, {} activations, {} init; {} loss on {rows} random N(0, 1) rows (seed {seed})",
                shape.join("→"),
                act.name(),
                init_name(init),
                loss.name()
            ),
            report: flow::measure_network(&mut graph, &network, &batch)?,
        })
    };
    let mut runs = vec![measure(activation)?];
    for &c in &compare {
        runs.push(measure(c)?);
    }
    let path = out_path(
        args,
        &format!("{}-{}{}", activation.name(), shape.join("-"), vs(&compare)),
    )?;
    let names: Vec<&str> = runs.iter().map(|m| m.name.as_str()).collect();
    let title = format!(
        "gradient reaching each layer of {}: {}",
        shape.join("→"),
        names.join(" vs ")
    );
    print_reports(args, &runs, &path, &title, "activation")
}

/// `[NAME=]ARCH`: a name is letters, digits, `_` and `-` before a `=` that
/// comes before any parenthesis or comma.
fn named_arch(text: &str, k: usize) -> (String, &str) {
    if let Some((name, rest)) = text.split_once('=') {
        let ok = !name.is_empty()
            && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if ok {
            return (name.to_string(), rest);
        }
    }
    (format!("arch {k}"), text)
}

/// The first activation of an architecture (residual bodies included).
fn first_activation(specs: &[LayerSpec]) -> Option<Activation> {
    specs.iter().find_map(|s| match &s.kind {
        LayerKind::Activation(a) => Some(*a),
        LayerKind::Residual(body) => first_activation(body),
        _ => None,
    })
}

fn parse_shape(text: &str) -> Result<Vec<usize>> {
    let shape: Option<Vec<usize>> = text
        .split(['x', 'X', '×', ','])
        .map(|p| p.trim().parse::<usize>().ok().filter(|&n| n > 0))
        .collect();
    match shape {
        Some(s) if !s.is_empty() && s.len() <= 3 => Ok(s),
        _ => Err(Error::config(
            "input-shape",
            format!("'{text}' is not a shape of one to three positive sizes, e.g. 32 or 1x8x8"),
        )),
    }
}

fn run_arch(args: &Args) -> Result<()> {
    reject(
        "--arch",
        &[
            ("layers", args.layers.is_some()),
            ("activation", args.activation.is_some()),
            ("compare", args.compare.is_some()),
            ("data", args.data.is_some()),
            ("task", args.task.is_some()),
            ("delimiter", args.delimiter.is_some()),
            ("chain-output", args.chain_output.is_some()),
        ],
    )?;
    if args.arch.len() > 8 {
        return Err(Error::config(
            "arch",
            format!("{} networks; diagnose compares at most 8", args.arch.len()),
        ));
    }
    let input_shape = parse_shape(args.input_shape.as_deref().unwrap_or("32"))?;
    let loss = LossKind::parse(args.loss.as_deref().unwrap_or("mse"))?;
    let init = init_of(args)?;
    let seed = args.seed.unwrap_or(0);
    let d: usize = input_shape.iter().product();
    let mut runs = Vec::new();
    for (k, text) in args.arch.iter().enumerate() {
        let (name, text) = named_arch(text, k + 1);
        let specs = arch::parse(text)?;
        let init = init
            .unwrap_or_else(|| first_activation(&specs).map_or(Init::XavierUniform, default_init));
        let mut graph = Graph::<f64>::new();
        let network = Network::new(&mut graph, &specs, &input_shape, init, seed)?;
        let out = network.out_features();
        if network.output_shape().len() != 1 {
            return Err(Error::config(
                "arch",
                format!(
                    "{name}: the output per example is {:?}; the loss needs a flat output (end with flatten or linear)",
                    network.output_shape()
                ),
            ));
        }
        let values: u128 = network
            .summary()
            .iter()
            .map(|r| r.output.iter().product::<usize>() as u128)
            .sum::<u128>()
            + d as u128;
        let rows = batch_rows(args, values)?;
        let batch = random_batch(d, out, loss, rows, seed)?;
        let report = flow::measure_network(&mut graph, &network, &batch)?;
        runs.push(Measured {
            what: format!(
                "{name} = {} on {} ({} weight layers, {} parameters, {} init); {} loss on {rows} random N(0, 1) rows (seed {seed})",
                text.trim(),
                dims(&input_shape),
                report.layers.len(),
                network.parameter_count(),
                init_name(init),
                loss.name()
            ),
            name,
            report,
        });
    }
    let names: Vec<&str> = runs.iter().map(|m| m.name.as_str()).collect();
    let path = out_path(args, &format!("arch-{}", names.join("-vs-")))?;
    let title = format!(
        "gradient reaching each weight layer: {}",
        names.join(" vs ")
    );
    print_reports(args, &runs, &path, &title, "name")
}

// ----- a saved model on its data -------------------------------------------

fn run_model(args: &Args, model_path: &Path) -> Result<()> {
    reject(
        "--model",
        &[
            ("layers", args.layers.is_some()),
            ("arch", !args.arch.is_empty()),
            ("input-shape", args.input_shape.is_some()),
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
    let title = format!(
        "gradient reaching each layer: {} on {spec}",
        model_path.display()
    );
    let what = format!(
        "model {} ({}), {} loss on {} rows of {} (seed {seed}, training mode)",
        model_path.display(),
        chainrule_nn::network::arch_text(model.network.specs()),
        model.loss.name(),
        sample.len(),
        set.name,
    );
    let run = Measured {
        name: "model".into(),
        what,
        report,
    };
    print_reports(args, &[run], &path, &title, "name")
}
