//! Baselines for the score-function estimator.

use crate::Result;
use pact::nn::ParamStore;
use pact::Tensor;
use std::fmt;
use std::sync::Arc;

/// A learned baseline: a rank-0 tensor computed from the parameter store (a learnable
/// constant, or a small network of the inputs the closure captures). It is trained to
/// predict the reward left after the moving average by a squared error added to the loss.
pub type LearnedBaseline = Arc<dyn Fn(&ParamStore) -> pact::Result<Tensor> + Send + Sync>;

/// The baseline `b` subtracted from the reward `f` of the score-function surrogate
/// `−[f + (f − b)·log q(z)]` (with `f − b` held constant): a moving average of past rewards
/// plus an optional learned correction. It uses past rewards only, so the estimator stays
/// unbiased.
///
/// ```
/// use pact_inference::objectives::Baseline;
/// let b = Baseline::moving_average(0.9);
/// assert_eq!(b.value(), None);
/// ```
#[derive(Clone)]
pub struct Baseline {
    decay: f64,
    value: Option<f64>,
    learned: Option<LearnedBaseline>,
}

impl fmt::Debug for Baseline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Baseline")
            .field("decay", &self.decay)
            .field("value", &self.value)
            .field("learned", &self.learned.is_some())
            .finish()
    }
}

impl Default for Baseline {
    fn default() -> Self {
        Baseline::moving_average(0.9)
    }
}

impl Baseline {
    /// A moving average `b ← decay·b + (1 − decay)·f` (the first reward starts it; before
    /// it the baseline is 0). `decay = 0` disables it.
    pub fn moving_average(decay: f64) -> Self {
        Baseline {
            decay,
            value: None,
            learned: None,
        }
    }

    /// Adds a learned correction (see [`LearnedBaseline`]).
    pub fn with_learned(mut self, learned: LearnedBaseline) -> Self {
        self.learned = Some(learned);
        self
    }

    /// The current moving average, `None` before the first reward.
    pub fn value(&self) -> Option<f64> {
        self.value
    }

    /// Sets the moving average (to resume training).
    pub fn set_value(&mut self, value: Option<f64>) {
        self.value = value;
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.decay) {
            return Err(crate::Error::InvalidConfig(format!(
                "baseline decay must lie in [0, 1), got {}",
                self.decay
            )));
        }
        Ok(())
    }

    /// The moving average (0 if unset) and the learned part (if any) for this step.
    pub(crate) fn current(&self, params: &ParamStore) -> Result<(f64, Option<Tensor>)> {
        let learned = match &self.learned {
            Some(l) => Some(l(params)?.sum_all()?),
            None => None,
        };
        Ok((self.value.unwrap_or(0.0), learned))
    }

    /// Folds the mean reward of a step into the moving average.
    pub(crate) fn update(&mut self, reward: f64) {
        if self.decay == 0.0 || !reward.is_finite() {
            return;
        }
        self.value = Some(match self.value {
            Some(b) => self.decay * b + (1.0 - self.decay) * reward,
            None => reward,
        });
    }
}
