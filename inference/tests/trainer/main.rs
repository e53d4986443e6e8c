//! Tests of the training loop: exact resume, determinism, the NaN guard, logs, checkpoint
//! files, configuration errors, and the objectives of `pact_inference::objectives` inside the
//! loop. One binary; one concern per module.

mod checkpoints;
mod common;
mod config;
mod guard;
mod logs;
mod objectives;
mod resume;
