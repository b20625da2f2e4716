//! `chainrule explain`: every step of a forward and backward pass as a
//! table (or Markdown, or JSON), generated from the recorded graph: worked
//! example 1 by default, any MLP (`--model`, `--init`, `--layers`), any
//! other network layer by layer (`--model`, `--arch`; one output element in
//! full with `--element`), or a scalar expression (`--expr "(x + y) * (x -
//! 1)" --at x=3,y=2`).

pub use crate::explain_source::Example;
use crate::explain_source::{arch_model, model_row};
use crate::numeric_args;
use chainrule_inspect::expr::ExprError;
use chainrule_inspect::trace::{self, LayersSetup, NetworkSetup, Show, Trace};
use chainrule_nn::mlp::parse_sizes;
use chainrule_nn::model_io;
use chainrule_nn::trainer::Model;
use chainrule_nn::{Activation, Error, Init, LossKind, MlpSpec, Result};
use std::path::PathBuf;

/// What to trace: an expression, or a network and one example.
#[derive(clap::Args, Clone, Debug)]
pub struct Source {
    /// A scalar expression instead of a network: numbers, variables,
    /// + - * / ^, parentheses, exp log sqrt abs sin cos tanh sigmoid relu.
    #[arg(long, allow_hyphen_values = true)]
    pub expr: Option<String>,
    /// The values of the expression's variables, e.g. x=3,y=2.
    #[arg(long, allow_hyphen_values = true, requires = "expr")]
    pub at: Option<String>,
    /// A model file written by `chainrule train` (architecture from its metadata).
    #[arg(long, conflicts_with_all = ["expr", "init", "layers", "arch"])]
    pub model: Option<PathBuf>,
    /// A fresh network of this architecture, e.g.
    /// "conv2d(4,3,pad=1),relu,maxpool2d(2),flatten,linear(10)" (weights
    /// drawn with --seed, kaiming-uniform as train draws them).
    #[arg(long, conflicts_with_all = ["expr", "init", "layers"])]
    pub arch: Option<String>,
    /// The shape of one example for --arch: CxHxW for images (1x8x8), or
    /// the number of features [default: the number of --input values].
    #[arg(long, requires = "arch")]
    pub input_shape: Option<String>,
    /// Take the example (input and target) from row N of the data the
    /// model file records (its rows as loaded, from 0), instead of --input.
    #[arg(long, requires = "model", conflicts_with = "input", allow_negative_numbers = true, value_parser = numeric_args::seed)]
    pub row: Option<u64>,
    /// A weights file for the architecture given by --layers.
    #[arg(long, requires = "layers", conflicts_with = "expr")]
    pub init: Option<PathBuf>,
    /// Layer sizes from input to output, e.g. 2,2,1 (weights drawn with
    /// --seed unless --init). Without --model or --layers: worked example 1.
    #[arg(long, conflicts_with = "expr")]
    pub layers: Option<String>,
    /// Hidden activation with --layers [default: sigmoid].
    #[arg(long, requires = "layers")]
    pub activation: Option<String>,
    /// Output activation with --layers [default: the loss's, as `train`
    /// builds it: identity, a linear output for mse and logits for bce and
    /// cce]. sigmoid gives the lesson's network (mse, or bce on probabilities).
    #[arg(long, requires = "layers")]
    pub output_activation: Option<String>,
    /// Seed of the weights drawn for --layers (Xavier uniform, zero biases).
    #[arg(long, default_value_t = 0, conflicts_with = "expr", allow_negative_numbers = true, value_parser = numeric_args::seed)]
    pub seed: u64,
    /// One input row, comma separated (worked example 1: 0.05,0.10).
    #[arg(long, allow_hyphen_values = true, conflicts_with = "expr")]
    pub input: Option<String>,
    /// The target: one value per output (mse, bce) or a class index (cce)
    /// (worked example 1: 1).
    #[arg(long, allow_hyphen_values = true, conflicts_with = "expr")]
    pub target: Option<String>,
    /// The loss: mse, bce or cce [default: the model file's, else mse].
    #[arg(long, conflicts_with = "expr")]
    pub loss: Option<String>,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub source: Source,
    /// Learning rate of the gradient-descent step shown after the backward pass.
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true, value_parser = numeric_args::positive)]
    pub lr: f64,
    /// Output: table (terminal), markdown or json.
    #[arg(long, default_value = "table", value_parser = ["table", "markdown", "json"])]
    pub format: String,
    /// Print every value of large tensors instead of a summary.
    #[arg(long)]
    pub full: bool,
    /// One output element written out with every number, forward and
    /// backward: LAYER:INDEX with layers numbered as in the table (1:0,2,3 is
    /// layer 1's output at channel 0, row 2, column 3; 3:5 a flat output's
    /// element 5; 2.1:… inside a residual block; 1:0 a whole channel).
    #[arg(long, conflicts_with = "expr")]
    pub element: Option<String>,
}

/// A traced source: an expression or one training step of a network.
pub enum Traced {
    Expression(Box<trace::ExpressionExplanation>),
    Network(Box<trace::NetworkExplanation>),
    /// A network that is not an MLP (or any with `--element`), layer by layer.
    Layers(Box<trace::LayersExplanation>),
}

impl Traced {
    /// The trace underneath.
    pub fn trace(&self) -> &Trace {
        match self {
            Traced::Expression(e) => &e.trace,
            Traced::Network(n) => &n.trace,
            Traced::Layers(l) => &l.trace,
        }
    }

    /// A one-line title for drawings.
    pub fn title(&self) -> String {
        match self {
            Traced::Expression(e) => {
                let at: Vec<String> =
                    e.at.iter()
                        .map(|(n, v)| format!("{n}={}", chainrule_inspect::formula::num(*v)))
                        .collect();
                if at.is_empty() {
                    format!("f = {}", e.expression)
                } else {
                    format!("f = {} at {}", e.expression, at.join(", "))
                }
            }
            Traced::Network(n) => format!("{}, loss {}", n.title, n.loss_text),
            Traced::Layers(l) => format!("{}, loss {}", l.title, l.loss_text),
        }
    }
}

fn expr_error(e: ExprError) -> Error {
    match e {
        ExprError::Engine(e) => Error::Engine(e),
        other => Error::config("expr", other.to_string()),
    }
}

fn numbers(setting: &str, s: &str) -> Result<Vec<f64>> {
    s.split(',')
        .enumerate()
        .map(|(i, p)| {
            p.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    Error::config(
                        setting,
                        format!("value {} ('{}') is not a finite number", i + 1, p.trim()),
                    )
                })
        })
        .collect()
}

/// Runs the source: parses and traces the expression, or builds the
/// network and traces one step with learning rate `lr`.
pub fn trace_source(src: &Source, lr: f64) -> Result<Traced> {
    trace_source_with(src, lr, None)
}

/// [`trace_source`], writing out output element `element` (`LAYER:INDEX`)
/// if given (any network is then traced layer by layer).
pub fn trace_source_with(src: &Source, lr: f64, element: Option<&str>) -> Result<Traced> {
    if let Some(e) = &src.expr {
        let at = src.at.as_deref().unwrap_or("");
        let x = trace::explain_expression(e, at).map_err(expr_error)?;
        return Ok(Traced::Expression(Box::new(x)));
    }
    let loss = src.loss.as_deref().map(LossKind::parse).transpose()?;
    let given = src
        .input
        .as_deref()
        .map(|s| numbers("input", s))
        .transpose()?;
    let mut example: Option<Example> = None;
    let (model, mut setup) = match (&src.model, &src.layers, &src.arch) {
        (Some(path), _, _) => {
            let (model, record) = model_io::load_model_with_data::<f64>(path, None)?;
            if let Some(row) = src.row {
                let row = usize::try_from(row).unwrap_or(usize::MAX);
                example = Some(model_row(path, record.as_ref(), &model, row)?);
            }
            let setup = NetworkSetup {
                title: format!("Model {}", path.display()),
                input: Vec::new(),
                target: Vec::new(),
                loss: model.loss,
                lr,
            };
            (model, setup)
        }
        (None, _, Some(arch)) => {
            let kind = loss.unwrap_or(LossKind::Mse);
            let count = given.as_ref().map(Vec::len);
            let model = arch_model(arch, src.input_shape.as_deref(), count, src.seed, kind)?;
            let setup = NetworkSetup {
                title: format!("Network {arch} with weights drawn from seed {}", src.seed),
                input: Vec::new(),
                target: Vec::new(),
                loss: kind,
                lr,
            };
            (model, setup)
        }
        (None, Some(layers), None) => {
            let kind = loss.unwrap_or(LossKind::Mse);
            let mut model = fresh_mlp(src, layers, kind)?;
            let title = match &src.init {
                Some(path) => {
                    model_io::apply_loaded(&mut model, path)?;
                    format!("Network {layers} with the weights of {}", path.display())
                }
                None => format!("Network {layers} with weights drawn from seed {}", src.seed),
            };
            let setup = NetworkSetup {
                title,
                input: Vec::new(),
                target: Vec::new(),
                loss: kind,
                lr,
            };
            (model, setup)
        }
        (None, None, None) => trace::worked_example_1(lr)?,
    };
    if let Some(l) = loss {
        setup.loss = l;
    }
    let mlp = model.network.as_mlp().filter(|_| element.is_none());
    let features = model.network.in_features();
    match (given, &example) {
        (Some(v), _) => setup.input = v,
        (None, Some(e)) => setup.input = e.input.clone(),
        (None, None) if setup.input.is_empty() => {
            let how = match (&mlp, &src.model) {
                (Some(_), _) => String::new(),
                (None, Some(_)) => " or --row N of the model's data".into(),
                (None, None) => String::new(),
            };
            let shape = if model.network.input_shape().len() > 1 {
                format!(
                    ", an example of shape {}",
                    trace::dims_text(model.network.input_shape())
                )
            } else {
                String::new()
            };
            return Err(Error::config(
                "input",
                format!("give one input row with --input ({features} comma-separated values{shape}){how}"),
            ));
        }
        (None, None) => {}
    }
    match (&src.target, &example) {
        (Some(s), _) => setup.target = numbers("target", s)?,
        (None, Some(e)) => setup.target = e.target.clone(),
        (None, None) if setup.target.is_empty() => {
            let what = if setup.loss == LossKind::Cce {
                "a class index".to_string()
            } else {
                format!("{} value(s)", model.network.out_features())
            };
            return Err(Error::config(
                "target",
                format!("give the target with --target ({what})"),
            ));
        }
        (None, None) => {}
    }
    trace_setup(model, setup, example.map(|e| e.source), element)
}

/// Traces one example (`example`: its input as the network reads it, its
/// target) through `model`, named `title`: an MLP node by node, any other
/// network layer by layer.
pub fn trace_example(
    model: Model<f64>,
    title: String,
    example: Example,
    lr: f64,
) -> Result<Traced> {
    let setup = NetworkSetup {
        title,
        input: example.input,
        target: example.target,
        loss: model.loss,
        lr,
    };
    trace_setup(model, setup, Some(example.source), None)
}

/// The trace of `setup` through `model` (layer by layer, and element
/// `element` written out, if given or if the network is not an MLP).
fn trace_setup(
    mut model: Model<f64>,
    setup: NetworkSetup,
    source: Option<String>,
    element: Option<&str>,
) -> Result<Traced> {
    if model.network.as_mlp().is_some() && element.is_none() {
        let x = trace::explain_network(&mut model, &setup)?;
        return Ok(Traced::Network(Box::new(x)));
    }
    let layers = LayersSetup {
        title: setup.title,
        input: setup.input,
        source,
        target: setup.target,
        loss: setup.loss,
        lr: setup.lr,
        element: element.map(str::to_string),
    };
    let x = trace::explain_layers(&mut model, &layers)?;
    Ok(Traced::Layers(Box::new(x)))
}

pub fn run(args: &Args) -> Result<()> {
    let traced = trace_source_with(&args.source, args.lr, args.element.as_deref())?;
    let show = Show { full: args.full };
    let text = match (&traced, args.format.as_str()) {
        (Traced::Expression(e), "json") => pretty(&e.to_json(show)),
        (Traced::Network(n), "json") => pretty(&n.to_json(show)),
        (Traced::Layers(l), "json") => pretty(&l.to_json(show)),
        (Traced::Layers(l), "markdown") => l.to_markdown(show),
        (Traced::Layers(l), _) => l.to_table(show),
        (Traced::Expression(e), "markdown") => e.report(show).to_markdown(),
        (Traced::Network(n), "markdown") => n.report(show).to_markdown(),
        (Traced::Expression(e), _) => e.report(show).to_table(),
        (Traced::Network(n), _) => n.report(show).to_table(),
    };
    let mut text = text;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    write_stdout(text.as_bytes())
}

/// Writes to standard output; a closed pipe (`| head`) is not an error.
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::config(
            "output",
            format!("cannot write to standard output: {e}"),
        )),
    }
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// The MLP of `--layers` (with `--activation`, `--output-activation` and
/// `--seed`) for loss `kind`: Xavier-uniform weights, zero biases.
pub fn fresh_mlp(src: &Source, layers: &str, kind: LossKind) -> Result<Model<f64>> {
    let output = src
        .output_activation
        .as_deref()
        .map(Activation::parse)
        .transpose()?;
    let spec = MlpSpec::for_loss(
        parse_sizes("layers", layers)?,
        Activation::parse(src.activation.as_deref().unwrap_or("sigmoid"))?,
        kind,
        output,
    )?;
    Model::from_spec(spec, Init::XavierUniform, src.seed, kind)
}
