//! What the trainer hands a training step ([`Batch`]) and what the step returns
//! ([`StepOutput`]).

use crate::{Error, Result};
use pact::Tensor;

/// One minibatch, as the trainer hands it to the training step.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    /// Indices of the examples in this batch, into the data set of `num_examples` given to
    /// [`Trainer::fit`](super::Trainer::fit).
    pub indices: &'a [usize],
    /// The step this batch is for, counted from 1 (the number of updates after it).
    pub step: u64,
    /// The epoch this batch belongs to, counted from 1.
    pub epoch: u64,
}

/// The result of one training step: the scalar loss to minimise and named metrics.
///
/// Metrics are averaged over the steps of each log record; one named `accuracy` is also
/// shown on the progress bar.
///
/// ```
/// use pact::{DType, Device, Tensor};
/// let out = pact_inference::StepOutput::new(Tensor::scalar(0.5, DType::F32, Device::Cpu))
///     .metric("accuracy", 0.75);
/// assert_eq!(out.metrics, vec![("accuracy".to_string(), 0.75)]);
/// ```
#[derive(Clone)]
pub struct StepOutput {
    /// The loss, a scalar tensor that depends on the trainable parameters.
    pub loss: Tensor,
    /// Named metrics of this step (accuracy, mean computation units, …).
    pub metrics: Vec<(String, f64)>,
}

impl StepOutput {
    /// An output with `loss` and no metrics.
    pub fn new(loss: Tensor) -> Self {
        StepOutput {
            loss,
            metrics: Vec::new(),
        }
    }

    /// The same output with one more metric.
    pub fn metric(mut self, name: impl Into<String>, value: f64) -> Self {
        self.metrics.push((name.into(), value));
        self
    }
}

/// Column names the trainer writes itself; metrics may not use them.
pub(crate) const RESERVED: [&str; 7] = [
    "step",
    "epoch",
    "lr",
    "loss",
    "grad_norm",
    "examples_per_s",
    "elapsed_s",
];

/// Checks that a metric name is usable as a JSON key and a CSV column.
pub(crate) fn check_metric_name(name: &str) -> Result<()> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if name.is_empty() || !ok_chars {
        return Err(Error::InvalidConfig(format!(
            "metric name {name:?} must be non-empty ASCII letters, digits, '_', '.' or '-'"
        )));
    }
    if RESERVED.contains(&name) {
        return Err(Error::InvalidConfig(format!(
            "metric name {name:?} is reserved for the trainer's own columns"
        )));
    }
    Ok(())
}
