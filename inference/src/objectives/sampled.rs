//! The Monte Carlo machinery shared by [`SvoMap`](super::SvoMap), [`Elbo`](super::Elbo) and
//! [`ScoreFunction`](super::ScoreFunction).

use super::baseline::leave_one_out_advantages;
use super::terms::sample_terms;
use super::{Baseline, Estimate, EstimatorPolicy, Temperature};
use crate::{Error, Result};
use pact::nn::ParamStore;
use pact::ppl::Ctx;
use pact::{Rng, Tensor};
use std::sync::Arc;

/// Settings and state of a sampled objective.
#[derive(Clone, Debug)]
pub(crate) struct Sampled {
    pub estimators: Arc<EstimatorPolicy>,
    pub temperature: Temperature,
    pub samples: usize,
    pub closed_form: bool,
    pub entropy: bool,
    pub baseline: Baseline,
    pub step: u64,
    /// Model latent sites allowed to be drawn from their prior (neither in the guide nor
    /// guided).
    pub prior_sites: Arc<std::collections::BTreeSet<String>>,
}

impl Sampled {
    pub fn new(estimators: EstimatorPolicy, entropy: bool) -> Self {
        Sampled {
            estimators: Arc::new(estimators),
            temperature: Temperature::default(),
            samples: 1,
            closed_form: true,
            entropy,
            baseline: Baseline::default(),
            step: 0,
            prior_sites: Arc::default(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        self.temperature.validate()?;
        self.baseline.validate()?;
        if self.samples == 0 {
            return Err(Error::InvalidConfig(
                "the number of samples must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// One step: `samples` draws, the loss (negative objective, with the score-function
    /// surrogate for score-function sites), then the step counter and baseline advance.
    pub fn estimate<T, U>(
        &mut self,
        model: &impl Fn(&mut Ctx) -> pact::Result<T>,
        guide: &impl Fn(&mut Ctx) -> pact::Result<U>,
        params: &ParamStore,
        rng: &mut Rng,
    ) -> Result<Estimate> {
        self.validate()?;
        let temperature = self.temperature.at(self.step);
        let (b_avg, b_learned) = self.baseline.current(params)?;
        let scale = 1.0 / self.samples as f64;
        let mut loss: Option<Tensor> = None;
        let mut value = 0.0;
        let mut mean_reward = 0.0;
        let mut entropy = Some(0.0);
        let mut sites = Vec::new();
        for _ in 0..self.samples {
            let terms = sample_terms(
                model,
                guide,
                params,
                rng,
                &self.estimators,
                temperature,
                self.entropy,
                self.closed_form,
                &self.prior_sites,
                self.baseline.leave_one_out_plate(),
            )?;
            let total = terms.f.to_scalar()?;
            value += total * scale;
            // The score-function reward: the sampled objective without the closed-form terms
            // that no score-function sample influences.
            let reward = total - terms.fixed;
            mean_reward += reward * scale;
            let mut objective = terms.f.clone();
            if self.baseline.leave_one_out_plate().is_some() {
                // Per element: `Σ_i log q_i · (r_i − b_i)`, `b_i` the mean reward of the
                // other elements (see `Baseline::leave_one_out`).
                if let Some(per) = &terms.per_element {
                    let advantage = leave_one_out_advantages(&per.reward)?;
                    let advantage = Tensor::from_f64_slice(
                        &advantage,
                        [advantage.len()],
                        per.log_q.dtype(),
                        per.log_q.device(),
                    )?;
                    objective = objective.add(&per.log_q.mul(&advantage)?.sum_all()?)?;
                }
            } else if let Some(log_q) = &terms.log_q_sf {
                let advantage = match &b_learned {
                    Some(b) => b.detach().mul_scalar(-1.0)?.add_scalar(reward - b_avg)?,
                    None => Tensor::scalar(reward - b_avg, log_q.dtype(), log_q.device()),
                };
                objective = objective.add(&log_q.mul(&advantage)?)?;
                if let Some(b) = &b_learned {
                    // Fit the learned part to the reward left after the moving average.
                    let err = b.mul_scalar(-1.0)?.add_scalar(reward - b_avg)?;
                    objective = objective.sub(&err.mul(&err)?)?;
                }
            }
            let term = objective.mul_scalar(-scale)?;
            loss = Some(match loss {
                Some(l) => l.add(&term)?,
                None => term,
            });
            entropy = entropy.zip(terms.entropy).map(|(a, b)| a + b * scale);
            sites = terms.sites;
        }
        self.baseline.update(mean_reward);
        self.step += 1;
        let loss = loss.ok_or_else(|| Error::InvalidConfig("no samples".into()))?;
        Ok(Estimate {
            loss,
            objective: value,
            entropy,
            temperature: Some(temperature),
            sites,
        })
    }
}
