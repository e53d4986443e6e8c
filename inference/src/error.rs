//! The error type of `pact-inference`.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in `pact-inference`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An error from the core library (tensors, autodiff, optimisers, checkpoint files).
    #[error(transparent)]
    Core(#[from] pact::Error),
    /// A configuration value that cannot work; the message names the field and the value.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A NaN or infinity in the loss or a gradient: training stopped before the update.
    #[error(
        "non-finite value in {tensor} at step {step}; {}",
        describe_checkpoint(last_checkpoint.as_deref())
    )]
    NonFinite {
        /// The step (counted from 1) whose update was refused.
        step: u64,
        /// The offending tensor: `loss` or `gradient of <parameter name>`.
        tensor: String,
        /// The last checkpoint written or resumed from, if any.
        last_checkpoint: Option<PathBuf>,
    },
    /// A training step that failed before its update (a non-finite intermediate value such as
    /// NaN halting logits, a shape error): which step, why, and the last checkpoint.
    #[error(
        "step {step} failed: {source}; {}",
        describe_checkpoint(last_checkpoint.as_deref())
    )]
    StepFailed {
        /// The step (counted from 1) that failed.
        step: u64,
        /// What went wrong.
        source: Box<Error>,
        /// The last checkpoint written or resumed from, if any.
        last_checkpoint: Option<PathBuf>,
    },
    /// A checkpoint that cannot be resumed from: unreadable, corrupt, written by something
    /// other than the trainer, or made with an incompatible configuration.
    #[error("cannot resume from {}: {reason}", path.display())]
    Resume {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file-system operation failed (logs).
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An error raised by user code inside a training step (see [`Error::step`]).
    #[error("training step failed: {0}")]
    Step(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// An objective cannot be evaluated on the given model and guide (for example sites
    /// that [`Exact`](crate::objectives::Exact) cannot enumerate together).
    #[error("objective: {0}")]
    Objective(String),
    /// The Ctrl-C handler could not be installed.
    #[error("cannot install the Ctrl-C handler: {0}")]
    Signal(String),
}

fn describe_checkpoint(path: Option<&Path>) -> String {
    match path {
        Some(p) => format!("last good checkpoint: {}", p.display()),
        None => "no checkpoint was written before it".to_string(),
    }
}

impl Error {
    /// Wraps an error from user code (a data loader, a model crate) for a training step.
    ///
    /// ```
    /// let e = pact_inference::Error::step(std::fmt::Error);
    /// assert!(e.to_string().starts_with("training step failed"));
    /// ```
    pub fn step(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Step(source.into())
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
}

/// The result type of `pact-inference`.
pub type Result<T> = std::result::Result<T, Error>;
