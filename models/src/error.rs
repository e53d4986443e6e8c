//! The error type of `pact-models`.

/// Everything that can go wrong in the models layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An error from the core library.
    #[error(transparent)]
    Core(#[from] pact::Error),
    /// An error from an inference objective.
    #[error(transparent)]
    Inference(#[from] pact_inference::Error),
    /// A data file that cannot be read as the format it claims to be.
    #[error("{path}: {message}")]
    Data {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A data set that was asked for but whose files are not there.
    #[error("{0}")]
    MissingData(String),
    /// A value given by the user that is out of range or malformed.
    #[error("{0}")]
    InvalidInput(String),
    /// A file-system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Drawing a plot failed.
    #[error("plot: {0}")]
    Plot(String),
}

/// The result type of `pact-models`.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    /// A data-format error for `path`.
    pub fn data(path: impl AsRef<std::path::Path>, message: impl Into<String>) -> Self {
        Error::Data {
            path: path.as_ref().display().to_string(),
            message: message.into(),
        }
    }
}
