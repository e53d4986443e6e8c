//! Tests of the training loop: exact resume, determinism, the NaN guard, logs, checkpoint
//! files and configuration errors. One binary; one concern per module.

mod checkpoints;
mod common;
mod config;
mod guard;
mod logs;
mod resume;
