//! Averaging loss and metrics over the steps of a log record, and the records themselves.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One log record: means over the steps since the previous record.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The last step covered (counted from 1).
    pub step: u64,
    /// The epoch of that step (counted from 1).
    pub epoch: u64,
    /// The learning rate used at that step.
    pub lr: f64,
    /// Mean loss.
    pub loss: f64,
    /// Mean global gradient norm (before clipping).
    pub grad_norm: f64,
    /// Mean of each metric over the steps that reported it, by name.
    pub metrics: BTreeMap<String, f64>,
    /// Examples per second over the record's steps (wall clock; not reproducible).
    pub examples_per_s: f64,
    /// Seconds since this call of [`Trainer::fit`](super::Trainer::fit) began (wall clock).
    pub elapsed_s: f64,
}

/// Running sums over the steps since the last record.
///
/// Saved in checkpoints (as exact bit patterns), so a resumed run writes the same records.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Window {
    pub(crate) steps: u64,
    pub(crate) examples: u64,
    pub(crate) loss: f64,
    pub(crate) grad_norm: f64,
    pub(crate) metrics: BTreeMap<String, (f64, u64)>,
}

/// [`Window`] in checkpoint metadata: every `f64` as its bits, so JSON round-trips exactly.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct WindowState {
    steps: u64,
    examples: u64,
    loss: u64,
    grad_norm: u64,
    metrics: BTreeMap<String, (u64, u64)>,
}

impl Window {
    pub(crate) fn add(&mut self, loss: f64, grad_norm: f64, metrics: &[(String, f64)], n: usize) {
        self.steps += 1;
        self.examples += n as u64;
        self.loss += loss;
        self.grad_norm += grad_norm;
        for (name, v) in metrics {
            let e = self.metrics.entry(name.clone()).or_insert((0.0, 0));
            e.0 += v;
            e.1 += 1;
        }
    }

    /// The record of the steps so far (`step`, `epoch`, `lr` of the last one).
    pub(crate) fn record(&self, step: u64, epoch: u64, lr: f64, seconds: f64) -> Record {
        let n = self.steps.max(1) as f64;
        Record {
            step,
            epoch,
            lr,
            loss: self.loss / n,
            grad_norm: self.grad_norm / n,
            metrics: self
                .metrics
                .iter()
                .map(|(k, (sum, count))| (k.clone(), sum / (*count).max(1) as f64))
                .collect(),
            examples_per_s: if seconds > 0.0 {
                self.examples as f64 / seconds
            } else {
                0.0
            },
            elapsed_s: 0.0,
        }
    }

    pub(crate) fn state(&self) -> WindowState {
        WindowState {
            steps: self.steps,
            examples: self.examples,
            loss: self.loss.to_bits(),
            grad_norm: self.grad_norm.to_bits(),
            metrics: self
                .metrics
                .iter()
                .map(|(k, (s, c))| (k.clone(), (s.to_bits(), *c)))
                .collect(),
        }
    }

    pub(crate) fn from_state(s: &WindowState) -> Self {
        Window {
            steps: s.steps,
            examples: s.examples,
            loss: f64::from_bits(s.loss),
            grad_norm: f64::from_bits(s.grad_norm),
            metrics: s
                .metrics
                .iter()
                .map(|(k, (b, c))| (k.clone(), (f64::from_bits(*b), *c)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_averages_and_round_trips_exactly() {
        let mut w = Window::default();
        w.add(0.1, 1.0, &[("accuracy".into(), 0.5)], 4);
        w.add(0.2, 3.0, &[], 2);
        let r = w.record(2, 1, 0.01, 2.0);
        assert_eq!(r.loss, (0.1 + 0.2) / 2.0);
        assert_eq!(r.grad_norm, 2.0);
        assert_eq!(r.metrics["accuracy"], 0.5);
        assert_eq!(r.examples_per_s, 3.0);
        let json = serde_json::to_string(&w.state()).unwrap();
        let back: WindowState = serde_json::from_str(&json).unwrap();
        assert_eq!(Window::from_state(&back), w);
    }
}
