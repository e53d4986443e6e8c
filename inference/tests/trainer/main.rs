//! Tests of the training loop: exact resume, determinism, the NaN guard, logs, checkpoint
//! files, configuration errors, and the objectives of `pact_inference::objectives` inside the
//! loop, and data-parallel training on replicas. One binary; one concern per module.

mod checkpoints;
mod common;
mod config;
mod guard;
mod logs;
mod objectives;
mod replicas;
mod resume;
