//! The error type of the `pact` binary: one line for the user, a non-zero exit.

/// Everything the command line reports.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// From the core library.
    #[error(transparent)]
    Core(#[from] pact::Error),
    /// From the models layer.
    #[error(transparent)]
    Models(#[from] pact_models::Error),
    /// From the inference layer (the training loop).
    #[error(transparent)]
    Inference(#[from] pact_inference::Error),
    /// A flag or value the user gave that cannot be used.
    #[error("{0}")]
    Usage(String),
    /// A problem every process of a multi-process run found alike (ranks started with
    /// different settings): rank 0 reports it, the others end quietly.
    #[error("{0}")]
    Agreed(String),
    /// A file-system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// The result type of the binary.
pub type Result<T> = std::result::Result<T, CliError>;
