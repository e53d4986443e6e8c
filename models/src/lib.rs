//! # pact-models
//!
//! Adaptive computation expressed on the `pact` core: data sets and tasks, the analytic
//! ACT-vs-PACT comparison, plots, and (as they land) the halting block, ResNets and
//! recurrent cells.

#![warn(missing_docs)]

pub mod analysis;
pub mod data;
mod error;
pub mod evaluate;
pub mod evaluate_sequences;
pub mod halting;
pub mod mode;
pub mod objective;
pub mod plot;
pub mod recurrent;
pub mod recurrent_spec;
pub mod resnet;
pub mod sequence_objective;
pub mod spec;

pub use error::{Error, Result};

/// The guides' code blocks, compiled and run as doc tests (`cargo test -p pact-models --doc`).
#[cfg(doctest)]
mod guides {
    #[doc = include_str!("../../docs/guide/custom-models.md")]
    struct CustomModels;
    #[doc = include_str!("../../docs/guide/inference.md")]
    struct Inference;
    #[doc = include_str!("../../docs/guide/adding-an-op.md")]
    struct AddingAnOp;
    #[doc = include_str!("../../docs/guide/plots.md")]
    struct Plots;
}
