//! [`TrainerConfig`]: how long to train, the data order, checkpoints, logs and the progress bar.

use super::log::LogFormat;
use crate::{Error, Result};
use pact::nn::LrSchedule;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// When training ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// After this many passes over the data.
    Epochs(usize),
    /// After this many optimiser steps (which may end mid-epoch).
    Steps(u64),
}

/// Settings of a [`Trainer`](super::Trainer), checked by [`TrainerConfig::validate`].
///
/// `seed`, `batch_size` and `shuffle` fix the data order and the trainer's random stream; a
/// checkpoint can only be resumed under the same three values. The rest may change between
/// runs (for example a longer [`Stop`] to extend training).
///
/// ```
/// use pact_inference::{Stop, TrainerConfig};
/// let config = TrainerConfig { batch_size: 16, stop: Stop::Epochs(3), ..Default::default() };
/// config.validate()?;
/// assert_eq!(config.total_steps(100), 3 * 7);
/// assert!(TrainerConfig { batch_size: 0, ..config }.validate().is_err());
/// # Ok::<(), pact_inference::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainerConfig {
    /// Seeds the per-epoch shuffles and the random stream handed to each step.
    pub seed: u64,
    /// Examples per minibatch; the last batch of an epoch may be smaller.
    pub batch_size: usize,
    /// When training ends.
    pub stop: Stop,
    /// Visit the examples in a fresh random order each epoch (else in index order).
    pub shuffle: bool,
    /// Learning rate by step (counted from 0); `None` keeps the optimiser's own rate.
    pub schedule: Option<LrSchedule>,
    /// Rescale gradients to at most this global L2 norm before each update.
    pub clip_grad_norm: Option<f64>,
    /// Where checkpoints go (`last.safetensors`, and `step-N.safetensors` if kept); `None`
    /// writes none.
    pub checkpoint_dir: Option<PathBuf>,
    /// Write a checkpoint every this many steps (one is always written at the end and on
    /// interruption when `checkpoint_dir` is set).
    pub checkpoint_every: Option<u64>,
    /// Also keep a `step-N.safetensors` for every checkpoint, not only `last.safetensors`.
    pub keep_step_checkpoints: bool,
    /// A log file: `.jsonl` (JSON lines) or `.csv`, chosen by the extension.
    pub log_path: Option<PathBuf>,
    /// One log record per this many steps, averaging loss and metrics over them.
    pub log_every: u64,
    /// Show a progress bar (loss, accuracy if reported, examples per second) on stderr.
    pub progress: bool,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        TrainerConfig {
            seed: 0,
            batch_size: 32,
            stop: Stop::Epochs(1),
            shuffle: true,
            schedule: None,
            clip_grad_norm: None,
            checkpoint_dir: None,
            checkpoint_every: None,
            keep_step_checkpoints: false,
            log_path: None,
            log_every: 1,
            progress: false,
        }
    }
}

impl TrainerConfig {
    /// Checks every field; the error names the field and the value.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidConfig(m));
        if self.batch_size == 0 {
            return bad("batch_size must be at least 1".into());
        }
        match self.stop {
            Stop::Epochs(0) => return bad("stop: the number of epochs must be at least 1".into()),
            Stop::Steps(0) => return bad("stop: the number of steps must be at least 1".into()),
            _ => {}
        }
        if let Some(s) = &self.schedule {
            s.validate()
                .map_err(|e| Error::InvalidConfig(format!("schedule: {e}")))?;
        }
        if let Some(c) = self.clip_grad_norm {
            if !(c > 0.0 && c.is_finite()) {
                return bad(format!(
                    "clip_grad_norm must be positive and finite (got {c})"
                ));
            }
        }
        match (self.checkpoint_every, &self.checkpoint_dir) {
            (Some(0), _) => return bad("checkpoint_every must be at least 1".into()),
            (Some(k), None) => {
                return bad(format!(
                    "checkpoint_every = {k} needs a checkpoint_dir to write to"
                ))
            }
            _ => {}
        }
        if self.keep_step_checkpoints && self.checkpoint_dir.is_none() {
            return bad("keep_step_checkpoints needs a checkpoint_dir".into());
        }
        if self.log_every == 0 {
            return bad("log_every must be at least 1".into());
        }
        if let Some(p) = &self.log_path {
            LogFormat::from_path(p)?;
        }
        Ok(())
    }

    /// Minibatches in one epoch over `num_examples` examples (the last may be partial).
    pub fn steps_per_epoch(&self, num_examples: usize) -> u64 {
        num_examples.div_ceil(self.batch_size.max(1)) as u64
    }

    /// The step at which training ends for `num_examples` examples.
    pub fn total_steps(&self, num_examples: usize) -> u64 {
        match self.stop {
            Stop::Epochs(e) => self.steps_per_epoch(num_examples).saturating_mul(e as u64),
            Stop::Steps(s) => s,
        }
    }

    /// The path of the rolling checkpoint, `checkpoint_dir/last.safetensors`.
    pub fn last_checkpoint_path(&self) -> Option<PathBuf> {
        self.checkpoint_dir
            .as_ref()
            .map(|d| d.join("last.safetensors"))
    }
}
