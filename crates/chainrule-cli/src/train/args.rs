//! The flags of `chainrule train` and the [`TrainConfig`] they decide.

use crate::numeric_args;
use chainrule_nn::mlp::parse_sizes;
use chainrule_nn::optim::Schedule;
use chainrule_nn::trainer::{OptimizerKind, TrainConfig};
use chainrule_nn::{Activation, LossKind, Result};
use std::path::PathBuf;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// digits | breast-cancer | iris | diabetes | csv:PATH | mnist:DIR
    #[arg(long, default_value = "digits")]
    pub data: String,
    /// Hidden layer sizes, comma separated (input and output sizes come from the data).
    #[arg(long, default_value = "64,32")]
    pub hidden: String,
    /// Hidden activation: relu, tanh, sigmoid, leaky_relu[:SLOPE], identity.
    #[arg(long, default_value = "relu")]
    pub activation: String,
    /// Any sequential network as an architecture string instead of
    /// --hidden/--activation, e.g. "conv2d(4,3,pad=1),batchnorm2d,relu,maxpool2d(2),flatten,linear(10)"
    /// or "linear(64),residual(linear(64),batchnorm1d,relu),linear(10)"; the last layer gives the outputs.
    #[arg(long, conflicts_with_all = ["hidden", "activation"])]
    pub arch: Option<String>,
    /// The shape of one example as C,H,W (a csv: file's columns read as
    /// images, row-major); the product must equal the column count
    /// [default: digits 1,8,8, mnist 1,28,28, else the column count].
    #[arg(long, value_name = "C,H,W")]
    pub input_shape: Option<String>,
    /// auto | mse | bce | cce (auto: MSE for regression, BCE for two classes, cross-entropy for more).
    #[arg(long, default_value = "auto")]
    pub loss: String,
    /// auto | regression | classification: how to read a csv: file's last column (auto: from --loss, else its values; the first line says which and why).
    #[arg(long, default_value = "auto")]
    pub task: String,
    /// The field delimiter of a csv: file: one character, or tab [default: detected: tab, ';' or ','].
    #[arg(long)]
    pub delimiter: Option<String>,
    /// sgd | adam | adamw
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    /// Learning rate.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true, value_parser = numeric_args::positive)]
    pub lr: f64,
    /// Momentum (SGD; default 0, plain gradient descent, as torch.optim.SGD).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true, value_parser = numeric_args::fraction)]
    pub momentum: f64,
    /// Weight decay (L2 for SGD and Adam, decoupled for AdamW).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true, value_parser = numeric_args::non_negative)]
    pub weight_decay: f64,
    /// Passes over the training data.
    #[arg(long, default_value_t = 30, allow_negative_numbers = true, value_parser = numeric_args::at_least_one)]
    pub epochs: usize,
    /// Rows per mini-batch.
    #[arg(long, default_value_t = 32, allow_negative_numbers = true, value_parser = numeric_args::at_least_one)]
    pub batch_size: usize,
    /// Seed of the split, the initial weights and the shuffling.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = numeric_args::seed)]
    pub seed: u64,
    /// Worker threads for large matrix products (default: all cores).
    #[arg(long, allow_negative_numbers = true, value_parser = numeric_args::at_least_one)]
    pub threads: Option<usize>,
    /// Fraction of the rows held out for testing.
    #[arg(long, default_value_t = 0.2, allow_negative_numbers = true, value_parser = numeric_args::fraction)]
    pub test_fraction: f64,
    /// Standardize features with training statistics (default for built-in sets).
    #[arg(long, overrides_with = "no_standardize")]
    pub standardize: bool,
    /// Do not standardize (default for csv and mnist).
    #[arg(long)]
    pub no_standardize: bool,
    /// Batches in file order, the last partial batch included.
    #[arg(long)]
    pub no_shuffle: bool,
    /// Learning-rate schedule per epoch: constant, step:SIZE:GAMMA or cosine[:MIN_LR].
    #[arg(long, default_value = "constant")]
    pub schedule: String,
    /// Clip the global gradient norm to this value before each update.
    #[arg(long, allow_negative_numbers = true, value_parser = numeric_args::positive)]
    pub clip_norm: Option<f64>,
    /// Check every operation for NaN or infinity (forward and backward) and
    /// stop at the first, naming it (slower).
    #[arg(long)]
    pub detect_anomaly: bool,
    /// Start from the weights of this safetensors file.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Run folder (default runs/<data>-<timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No progress bar, no header and no per-epoch lines: only the result
    /// and the paths of the files written (errors still go to stderr).
    #[arg(long)]
    pub quiet: bool,
    /// Let --out name a folder that already holds files (its model,
    /// metrics, curves and checkpoint are replaced).
    #[arg(long)]
    pub overwrite: bool,
    /// Record the per-layer gradient flow (as `chainrule diagnose`) of 64
    /// training rows every epoch into metrics.json.
    #[arg(long)]
    pub grad_report: bool,
    /// Write TensorBoard event files into DIR (created if needed) as the
    /// run goes: every step's loss, every epoch's losses, accuracy,
    /// learning rate, gradient flow and weight and gradient histograms
    /// (see docs/tensorboard.md). Kept by --resume.
    #[arg(long, value_name = "DIR")]
    pub tensorboard: Option<PathBuf>,
    /// Print one JSON object with the final metrics.
    #[arg(long)]
    pub json: bool,
    /// Stream every step and epoch to `chainrule serve` on this local port,
    /// where the run appears live at /runs (training goes on without it).
    #[arg(long, value_name = "PORT")]
    pub serve: Option<u16>,
    /// Every N epochs, save a checkpoint (weights, optimizer state,
    /// progress, metrics and these flags) as checkpoint.safetensors in the
    /// run folder, with model.safetensors and metrics.json; 0: never.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = numeric_args::whole_number)]
    pub checkpoint_every: usize,
    /// Stop after this epoch, saving a checkpoint: continue later with
    /// --resume.
    #[arg(long, value_name = "EPOCH", allow_negative_numbers = true, value_parser = numeric_args::at_least_one)]
    pub stop_after: Option<usize>,
    /// Continue the run in folder DIR from its checkpoint, with the flags it
    /// was started with (flags that contradict them are refused).
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// One process of a data-parallel run under MPI (`mpirun -np N chainrule
    /// train --distributed ...`; needs a build with `--features mpi`).
    #[arg(long)]
    pub distributed: bool,
    /// With --distributed, when the gradients are summed across the
    /// processes: `overlap`, each bucket as soon as the backward pass has
    /// completed it (non-blocking, while the backward pass goes on), or
    /// `after` the backward pass (blocking). The sums are the same.
    #[arg(long, default_value = "overlap", value_parser = ["overlap", "after"])]
    pub allreduce: String,
    /// With --distributed, the size of a bucket of gradients summed at once,
    /// in KiB (in `overlap`, a bucket holds whole parameters: at least this
    /// size, or one larger parameter).
    #[arg(long, default_value_t = 4096, allow_negative_numbers = true, value_parser = numeric_args::at_least_one)]
    pub bucket_kib: usize,
}

/// `--input-shape C,H,W` (or any number of sizes) for examples of `d`
/// values: the product must be `d`.
pub fn parse_input_shape(text: &str, d: usize) -> Result<Vec<usize>> {
    let shape = parse_sizes("input-shape", text)?;
    if shape.is_empty() || shape.contains(&0) {
        return Err(chainrule_nn::Error::config(
            "input-shape",
            format!("'{text}' is not a shape of positive sizes"),
        ));
    }
    let product = shape
        .iter()
        .try_fold(1usize, |a, &s| a.checked_mul(s))
        .unwrap_or(usize::MAX);
    if product != d {
        return Err(chainrule_nn::Error::config(
            "input-shape",
            format!("{text} holds {product} values, but the data has {d} columns per row"),
        ));
    }
    Ok(shape)
}

/// The loss flag: `None` for auto.
pub fn parse_loss(s: &str) -> Result<Option<LossKind>> {
    if s.trim().eq_ignore_ascii_case("auto") {
        Ok(None)
    } else {
        LossKind::parse(s).map(Some)
    }
}

/// The training config the flags decide.
pub fn config(args: &Args) -> Result<TrainConfig> {
    Ok(TrainConfig {
        hidden: parse_sizes("hidden", &args.hidden)?,
        activation: Activation::parse(&args.activation)?,
        loss: parse_loss(&args.loss)?,
        optimizer: OptimizerKind::parse(&args.optimizer)?,
        lr: args.lr,
        momentum: args.momentum,
        weight_decay: args.weight_decay,
        epochs: args.epochs,
        batch_size: args.batch_size,
        seed: args.seed,
        shuffle: !args.no_shuffle,
        schedule: Schedule::parse(&args.schedule, args.epochs)?,
        clip_norm: args.clip_norm,
        detect_anomaly: args.detect_anomaly,
        ..TrainConfig::default()
    })
}
