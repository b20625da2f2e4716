//! The error type of the nn crate: engine errors, configuration errors, and
//! training failures, each saying what and where.

/// Result of nn operations.
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An error of the engine (shapes, gradients).
    #[error(transparent)]
    Engine(#[from] chainrule::Error),
    /// An invalid setting: names the setting and the value.
    #[error("{setting}: {detail}")]
    Config { setting: String, detail: String },
    /// A data set that could not be loaded.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// A model file that could not be read or written.
    #[error(transparent)]
    ModelFile(#[from] crate::model_file::ModelFileError),
    /// A model file whose tensors do not fit the architecture.
    #[error("{path}: {detail}")]
    ModelMismatch { path: String, detail: String },
    /// A checkpoint that cannot be read, or does not fit the run resumed.
    #[error("{path}: {detail}")]
    Checkpoint { path: String, detail: String },
    /// An architecture string that does not parse.
    #[error(transparent)]
    Arch(#[from] crate::arch::ArchError),
    /// An architecture that does not fit its input shape.
    #[error("architecture: {0}")]
    ArchShape(#[from] crate::arch::ShapeError),
    /// A NaN or infinity caught by anomaly mode during training.
    #[error("training stopped at epoch {epoch}, step {step}{}: {source}", in_layer(.layer))]
    Anomaly {
        epoch: usize,
        step: usize,
        /// Where the first non-finite value was born: `layer 4
        /// batchnorm1d (character 23)`, or `the loss`; `None` if unknown.
        layer: Option<String>,
        source: chainrule::Error,
    },
    /// A loss or gradient that is not finite during training.
    #[error("training stopped: the loss became {value} at epoch {epoch}, step {step} (try a lower learning rate, gradient clipping, or standardized inputs)")]
    NonFinite {
        value: f64,
        epoch: usize,
        step: usize,
    },
}

impl Error {
    /// A configuration error for `setting`.
    pub fn config(setting: &str, detail: impl Into<String>) -> Self {
        Error::Config {
            setting: setting.to_string(),
            detail: detail.into(),
        }
    }
}

fn in_layer(layer: &Option<String>) -> String {
    layer
        .as_ref()
        .map_or(String::new(), |l| format!(", in {l}"))
}
