//! # pact
//!
//! Probabilistic models with discrete latent variables, built to make adaptive computation
//! practical (Figurnov, Sobolev and Vetrov, "Probabilistic Adaptive Computation Time", 2017).
//!
//! This crate is the core library, in layers that depend only downwards:
//!
//! - [`backend`]: where data lives and the primitive kernels (CPU by default);
//! - [`Tensor`]: shapes, broadcasting and the op set, each op recorded for
//! - [`autodiff`]: reverse-mode differentiation;
//! - [`nn`]: named parameters, layers, initialisers, optimisers, schedules, checkpoints;
//! - [`dist`]: distributions, with relaxations of discrete laws as first-class citizens;
//! - [`collective`]: the replicas of a data-parallel run and what they share;
//! - [`ppl`]: the modelling language (sample, observe, factor, param, plate) and its
//!   handlers (condition, replay, relax, enumerate, decode).
//!
//! ```
//! use pact::{Device, Tensor};
//! let x = Tensor::var_from_f64(&[1.0, 2.0, 3.0], [3], Device::Cpu)?;
//! let y = x.square()?.sum_all()?; // y = Σ x²
//! let grads = y.backward()?;
//! assert_eq!(grads.get(&x).unwrap().to_f64_vec(), vec![2.0, 4.0, 6.0]);
//! # Ok::<(), pact::Error>(())
//! ```

#![warn(missing_docs)]

pub mod autodiff;
pub mod backend;
pub mod collective;
pub mod dist;
mod dtype;
mod error;
pub mod memory;
pub mod nn;
pub mod ppl;
mod rng;
mod shape;
pub mod tensor;

pub use autodiff::{no_grad, GradStore, NoGradGuard};
pub use backend::Device;
pub use dtype::{DType, Element};
pub use error::{Error, Result};
pub use rng::{Rng, RngState, Shard};
pub use shape::Shape;
pub use tensor::Tensor;

/// `docs/gpu.md`'s code, compiled as a doc test where the ArrayFire backend's code is
/// (`cargo test -p pact --features arrayfire-emulator --doc GpuGuide`).
#[cfg(all(doctest, any(feature = "arrayfire", feature = "arrayfire-emulator")))]
#[doc = include_str!("../docs/gpu.md")]
struct GpuGuide;
