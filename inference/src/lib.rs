//! Objectives over `pact` models and the training loop.
//!
//! [`objectives`] holds stochastic variational MAP ([`objectives::SvoMap`]), the ELBO, the
//! score-function estimator and exact enumeration over `pact::ppl` models and guides.
//!
//! [`trainer::Trainer`] runs a minibatch loop over any [`pact::nn::Optimizer`], with metrics,
//! a progress bar, JSON-lines or CSV logs, periodic atomic checkpoints, exact resume and a
//! guard against NaN and infinity; [`trainer::Trainer::with_replicas`] makes it one replica of
//! a data-parallel run (`docs/distributed.md`).

#![warn(missing_docs)]

pub mod error;
pub mod objectives;
pub mod trainer;

pub use error::{Error, Result};
pub use trainer::{Batch, StepOutput, Stop, TrainSummary, Trainer, TrainerConfig};

/// `docs/distributed.md`'s code, compiled and run as a doc test (`cargo test -p
/// pact-inference --doc DistributedGuide`).
#[cfg(doctest)]
#[doc = include_str!("../../docs/distributed.md")]
struct DistributedGuide;
