//! Objectives over `pact` models and the training loop.
//!
//! [`objectives`] holds stochastic variational MAP ([`objectives::SvoMap`]), the ELBO, the
//! score-function estimator and exact enumeration over `pact::ppl` models and guides.
//!
//! [`trainer::Trainer`] runs a minibatch loop over any [`pact::nn::Optimizer`], with metrics,
//! a progress bar, JSON-lines or CSV logs, periodic atomic checkpoints, exact resume and a
//! guard against NaN and infinity.

#![warn(missing_docs)]

pub mod error;
pub mod objectives;
pub mod trainer;

pub use error::{Error, Result};
pub use trainer::{Batch, StepOutput, Stop, TrainSummary, Trainer, TrainerConfig};
