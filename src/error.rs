//! The error type of the core library.

use crate::shape::Shape;

/// Everything that can go wrong in the core library: shapes, dtypes, devices, files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Two shapes that an operation needs to agree do not.
    #[error("shape mismatch in {op}: {lhs} vs {rhs}")]
    ShapeMismatch {
        /// The operation that was asked for.
        op: &'static str,
        /// The first shape.
        lhs: Shape,
        /// The second shape.
        rhs: Shape,
    },
    /// Shapes that cannot be broadcast together.
    #[error("cannot broadcast {lhs} with {rhs} in {op}")]
    Broadcast {
        /// The operation that was asked for.
        op: &'static str,
        /// The first shape.
        lhs: Shape,
        /// The second shape.
        rhs: Shape,
    },
    /// An axis outside the tensor's rank.
    #[error("axis {axis} out of range for a tensor of rank {rank} in {op}")]
    AxisOutOfRange {
        /// The operation that was asked for.
        op: &'static str,
        /// The axis given.
        axis: usize,
        /// The tensor's rank.
        rank: usize,
    },
    /// Two tensors of different element types met in one operation.
    #[error("dtype mismatch in {op}: {lhs:?} vs {rhs:?}")]
    DTypeMismatch {
        /// The operation that was asked for.
        op: &'static str,
        /// The first dtype.
        lhs: crate::DType,
        /// The second dtype.
        rhs: crate::DType,
    },
    /// Two tensors on different devices met in one operation.
    #[error("device mismatch in {op}: {lhs} vs {rhs}")]
    DeviceMismatch {
        /// The operation that was asked for.
        op: &'static str,
        /// The first device.
        lhs: String,
        /// The second device.
        rhs: String,
    },
    /// An argument outside the values an operation accepts.
    #[error("invalid argument to {op}: {message}")]
    InvalidArgument {
        /// The operation that was asked for.
        op: &'static str,
        /// What was wrong.
        message: String,
    },
    /// An index outside a dimension.
    #[error("index {index} out of range for dimension of size {size} in {op}")]
    IndexOutOfRange {
        /// The operation that was asked for.
        op: &'static str,
        /// The index given.
        index: usize,
        /// The size of the dimension.
        size: usize,
    },
    /// A backend that was asked for but is not compiled in or not available.
    #[error("backend unavailable: {0}")]
    BackendUnavailable(String),
    /// A failure reported by a backend library.
    #[error("backend error: {0}")]
    Backend(String),
    /// A checkpoint that does not match the parameters it is loaded into.
    #[error("checkpoint {path} does not match the model:\n{}", problems.join("\n"))]
    CheckpointMismatch {
        /// The checkpoint file.
        path: String,
        /// One line per mismatched, missing or unexpected tensor.
        problems: Vec<String>,
    },
    /// A checkpoint file that cannot be parsed.
    #[error("corrupt checkpoint {path}: {message}")]
    CorruptCheckpoint {
        /// The checkpoint file.
        path: String,
        /// What the parser reported.
        message: String,
    },
    /// A file-system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A non-finite value where a finite one is required.
    #[error("non-finite value in {0}")]
    NonFinite(String),
    /// Gradients were asked of a tensor that does not depend on any variable.
    #[error("{0}")]
    Autodiff(String),
    /// An operation that a distribution does not offer: no closed form, not
    /// reparameterisable, no finite support, no relaxation.
    #[error("{dist}: {op} is not available: {reason}")]
    Unsupported {
        /// The distribution asked.
        dist: &'static str,
        /// The operation that was asked for.
        op: &'static str,
        /// Why, and what to use instead.
        reason: String,
    },
    /// A collective operation between the replicas of a data-parallel run failed (a replica
    /// left, timed out, or the communication library reported an error).
    #[error("collective communication failed: {0}")]
    Collective(String),
    /// A site name used twice in one run of a model.
    #[error("duplicate site name {0:?} in one run of the model")]
    DuplicateSite(String),
    /// Brute-force enumeration ([`enumerate`](crate::ppl::enumerate())) asked for more
    /// joint configurations than it may run; found after its first run.
    #[error(
        "enumerate: the enumerated sites {sites} have {count} joint configurations, more than the {limit} runs brute-force enumeration may take; enumerate_parallel sums plates and markov chains out in one run"
    )]
    TooManyConfigurations {
        /// The enumerated sites with their numbers of values.
        sites: String,
        /// The number of joint configurations (`more than 2^64` when it overflows).
        count: String,
        /// The most runs allowed.
        limit: usize,
    },
    /// A model site that a handler or query cannot work with (wrong kind, wrong shape,
    /// continuous where a finite support is needed, …).
    #[error("site {site:?}: {message}")]
    Site {
        /// The site's name.
        site: String,
        /// What was wrong.
        message: String,
    },
}

/// The result type of the core library.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    /// An [`Error::Unsupported`] for distribution `dist` and operation `op`.
    pub fn unsupported(dist: &'static str, op: &'static str, reason: impl Into<String>) -> Self {
        Error::Unsupported {
            dist,
            op,
            reason: reason.into(),
        }
    }

    /// An [`Error::Site`] for the site `site`.
    pub fn site(site: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Site {
            site: site.into(),
            message: message.into(),
        }
    }

    /// An invalid-argument error for operation `op`.
    pub fn invalid(op: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            op,
            message: message.into(),
        }
    }
}
