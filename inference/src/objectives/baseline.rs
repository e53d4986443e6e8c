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
/// `−[f + (f − b)·log q(z)]` (with `f − b` held constant).
///
/// Two kinds:
///
/// - [`Baseline::moving_average`] (the default): one scalar reward for the whole sample and a
///   moving average of past rewards, plus an optional learned correction
///   ([`Baseline::with_learned`]). It uses past rewards only, so the estimator stays
///   unbiased.
/// - [`Baseline::leave_one_out`]: one reward per element of a plate, and for each element the
///   mean reward of the *other* elements of the same sample as its baseline (see there).
///
/// ```
/// use pact_inference::objectives::Baseline;
/// let b = Baseline::moving_average(0.9);
/// assert_eq!(b.value(), None);
/// assert_eq!(b.leave_one_out_plate(), None);
/// let loo = Baseline::leave_one_out("batch");
/// assert_eq!(loo.leave_one_out_plate(), Some("batch"));
/// ```
#[derive(Clone)]
pub struct Baseline {
    decay: f64,
    value: Option<f64>,
    learned: Option<LearnedBaseline>,
    /// The plate of the leave-one-out baseline, if it is one.
    leave_one_out: Option<String>,
}

impl fmt::Debug for Baseline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Baseline")
            .field("decay", &self.decay)
            .field("value", &self.value)
            .field("learned", &self.learned.is_some())
            .field("leave_one_out", &self.leave_one_out)
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
            leave_one_out: None,
        }
    }

    /// The leave-one-out baseline over the plate `plate`: the reward becomes per element of
    /// that plate, and each element's baseline is the mean reward of the other elements of
    /// the batch.
    ///
    /// **What it computes.** Per sample, for element `i` of the plate (`B` elements in all):
    ///
    /// - the reward `r_i`: the sum, over the model's sites inside the plate that are not in
    ///   closed form (observations, factors, and latent sites whose prior term is sampled,
    ///   not closed-form), of `scale · log p` at element `i` (each site's log-probability
    ///   summed over its other axes, times the site's subsampling [`scale`]: the reward of an
    ///   element is its share of the objective, so the surrogate's gradient estimates the
    ///   objective's gradient whatever the scale); with [`ScoreFunction::elbo`], minus
    ///   `scale · log q` at element `i` of the guide sites without a closed-form entropy.
    ///   Terms outside the plate and every closed-form term (closed-form prior terms
    ///   `Σ_z q(z) log p(z)` and closed-form entropies) are left out. Held constant.
    /// - `log q_i`: the sum over the score-function sites (all of which must sit in the
    ///   plate) of `log q(z)` at element `i`, *not* scaled (it is the score of the draw,
    ///   which the subsampling scale does not change);
    /// - the baseline `b_i = (Σ_j r_j − r_i)/(B − 1)`, the mean reward of the other
    ///   elements, and the advantage `r_i − b_i` (held constant; 0 for every element when
    ///   `B = 1`). In a data-parallel run ([`pact::collective::with_replicas`]) the sum and
    ///   `B` are over the whole batch, every replica's elements
    ///   ([`pact::collective::sum_over_replicas`]), so each replica computes what one process
    ///   with the whole batch would;
    ///
    /// and the surrogate objective is `f + Σ_i log q_i · (r_i − b_i)`, `f` the sampled
    /// objective (the loss is its negative, averaged over the samples as usual). With only an
    /// observation in the plate, scale 1, the score-function part of the loss is
    /// `Σ_i (ℓ_i − ℓ̄_{−i}) log q_i`, `ℓ_i = −log p(x_i | z_i)` and `ℓ̄_{−i}` the mean of
    /// the other `ℓ_j`: the per-example REINFORCE term with a leave-one-out baseline of the
    /// hand-written PACT score-function loss of `pact-models`, which takes the mean over the
    /// batch instead of the sum (the same with the plate's terms weighted by `1/B`).
    ///
    /// **Unbiasedness.** `b_i` depends only on the draws of the other elements, which are
    /// independent of element `i`'s under a guide that factorises over the plate, so
    /// `E[∇log q_i · b_i] = E[∇log q_i] E[b_i] = 0`: the baseline adds no bias. The estimate
    /// `Σ_i ∇log q_i · r_i` of the score-function part of `∇E_q[f]` is unbiased when (a) the
    /// guide factorises over the plate's elements, (b) the terms of element `i` depend on the
    /// plate's score-function draws only through element `i`'s (the elements are
    /// conditionally independent given the sites outside the plate), (c) no term outside the
    /// plate depends on a score-function draw (such a term would be common to all elements
    /// and cancel in `r_i − b_i` anyway), and (d) no closed-form term depends on a
    /// score-function draw (true of closed-form terms of sites drawn before any
    /// score-function site). Where (d) fails, for example the closed-form prior term of a
    /// later block's halting unit, whose posterior depends on the units an earlier block
    /// drew, the score-function part of that term is left out: it is what the hand-written
    /// PACT score-function loss of `pact-models` does, and the rest of the gradient is
    /// unaffected. The moving average and learned parts are not used with this baseline.
    ///
    /// Errors (when estimating): a plate of that name that no site of the model or guide sits
    /// in, a score-function site outside the plate, a site in the plate whose
    /// log-probability has no axis for it, and a learned part ([`Baseline::with_learned`]).
    ///
    /// [`scale`]: pact::ppl::Site::scale
    /// [`ScoreFunction::elbo`]: super::ScoreFunction::elbo
    ///
    /// ```
    /// use pact::dist::{Bernoulli, Normal};
    /// use pact::nn::ParamStore;
    /// use pact::ppl::Ctx;
    /// use pact::{DType, Device, Result, Rng, Tensor};
    /// use pact_inference::objectives::{Baseline, Objective, ScoreFunction};
    /// let t = |v: Vec<f64>| Tensor::from_f64_vec(v, [3], Device::Cpu);
    /// let x = t(vec![0.5, 2.5, -1.0])?;
    /// // z_i ~ Bernoulli(1/2), x_i ~ N(3 z_i, 1), per element of the plate "batch".
    /// let model = move |ctx: &mut Ctx| -> Result<()> {
    ///     ctx.plate("batch", 3, |ctx| {
    ///         let z = ctx.sample("z", Bernoulli::new(t(vec![0.0; 3])?)?)?;
    ///         let one = Tensor::scalar(1.0, DType::F64, Device::Cpu);
    ///         ctx.observe("x", Normal::new(z.mul_scalar(3.0)?, one)?, &x).map(|_| ())
    ///     })
    /// };
    /// let guide = |ctx: &mut Ctx| -> Result<()> {
    ///     let logits = ctx.param("logits", || t(vec![0.0; 3]))?;
    ///     ctx.plate("batch", 3, |ctx| ctx.sample("z", Bernoulli::new(logits)?).map(|_| ()))
    /// };
    /// let params = ParamStore::new(DType::F64, Device::Cpu);
    /// let mut sf = ScoreFunction::map().baseline(Baseline::leave_one_out("batch"));
    /// let e = sf.estimate(&model, &guide, &params, &mut Rng::seed(0))?;
    /// let grads = e.loss.backward()?;
    /// assert!(grads.get(&params.get("logits").unwrap().tensor()).is_some());
    /// // A plate that no site sits in is an error that names it.
    /// let mut bad = ScoreFunction::map().baseline(Baseline::leave_one_out("bacth"));
    /// let err = bad.estimate(&model, &guide, &params, &mut Rng::seed(0)).unwrap_err();
    /// assert!(err.to_string().contains("\"bacth\""));
    /// # Ok::<(), pact_inference::Error>(())
    /// ```
    pub fn leave_one_out(plate: impl Into<String>) -> Self {
        Baseline {
            decay: 0.0,
            value: None,
            learned: None,
            leave_one_out: Some(plate.into()),
        }
    }

    /// The plate of a leave-one-out baseline ([`Baseline::leave_one_out`]), `None` for a
    /// moving average.
    pub fn leave_one_out_plate(&self) -> Option<&str> {
        self.leave_one_out.as_deref()
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
        if let Some(plate) = &self.leave_one_out {
            if plate.is_empty() {
                return Err(crate::Error::InvalidConfig(
                    "the leave-one-out baseline needs a plate name, got an empty one".into(),
                ));
            }
            if self.learned.is_some() {
                return Err(crate::Error::InvalidConfig(format!(
                    "the leave-one-out baseline over plate {plate:?} takes no learned part \
                     (with_learned)"
                )));
            }
            return Ok(());
        }
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

/// The leave-one-out advantages `r_i − (Σ_j r_j − r_i)/(B − 1)` of this replica's rewards,
/// the sum and `B` taken over every replica of the current group (0 for every element when
/// `B = 1`).
pub(crate) fn leave_one_out_advantages(rewards: &[f64]) -> Result<Vec<f64>> {
    let mut whole = [rewards.iter().sum::<f64>(), rewards.len() as f64];
    pact::collective::sum_over_replicas(&mut whole)?;
    let [total, batch] = whole;
    Ok(rewards
        .iter()
        .map(|r| {
            if batch > 1.0 {
                r - (total - r) / (batch - 1.0)
            } else {
                0.0
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leave_one_out_advantages_subtract_the_mean_of_the_others() {
        let a = leave_one_out_advantages(&[1.0, 2.0, 6.0]).unwrap();
        assert_eq!(a, vec![1.0 - 4.0, 2.0 - 3.5, 6.0 - 1.5]);
        // They sum to zero: B/(B − 1) · Σ (r_i − mean r).
        assert!(a.iter().sum::<f64>().abs() < 1e-12);
    }

    #[test]
    fn one_element_has_zero_advantage() {
        assert_eq!(leave_one_out_advantages(&[-3.5]).unwrap(), vec![0.0]);
        assert!(leave_one_out_advantages(&[]).unwrap().is_empty());
    }
}
