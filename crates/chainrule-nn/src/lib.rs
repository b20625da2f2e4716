//! # chainrule-nn
//!
//! Layers, losses, optimizers, data sets and model files on top of the
//! chainrule engine: everything a training run needs.
//!
//! - [`module`], [`linear`], [`activation`], [`mlp`]: MLPs, with
//!   PyTorch's parameter names and layouts; [`arch`] and [`network`]: any
//!   sequential network with nested residual blocks, from an architecture
//!   string (the model every command trains, saves and loads).
//! - [`init`]: seeded initialisers; [`loss`]: losses with their gradients
//!   stated; [`optim`]: SGD, Adam, AdamW, schedules, clipping.
//! - [`data`]: the embedded data sets, CSV and MNIST loaders, splits,
//!   standardization, batches; [`model_file`]: safetensors files;
//!   [`onnx`]: export to ONNX.
//! - [`trainer`]: the training loop, one epoch at a time ([`trainer::Trainer`]),
//!   and a whole run in its folder ([`trainer::TrainingRun`]: epochs,
//!   checkpoints, model and metrics files, seen through a
//!   [`trainer::RunObserver`]); [`checkpoint`]: exact checkpoints of a run,
//!   to resume it.

pub mod activation;
pub mod arch;
pub mod atomic;
pub mod checkpoint;
pub mod error;
pub mod init;
pub mod linear;
pub mod loss;
pub mod mlp;
pub mod model_file;
pub mod model_io;
pub mod module;
pub mod network;
pub mod onnx;
pub mod optim;
pub mod tensor_file;
pub mod trainer;
pub mod workloads;

pub use activation::Activation;
pub use error::{Error, Result};
pub use init::Init;
pub use linear::Linear;
pub use loss::{LossKind, Reduction};
pub use mlp::{Mlp, MlpSpec};
pub use module::Module;
pub use network::{Mode, Network};
pub mod data;
