//! `ScoreFunction`: REINFORCE for every discrete site.

use super::sampled::Sampled;
use super::svo_map::sampled_builders;
use super::{Baseline, Estimate, Estimator, EstimatorPolicy, Objective, Temperature};
use crate::Result;
use pact::nn::ParamStore;
use pact::ppl::Ctx;
use pact::Rng;

/// The score-function (REINFORCE) estimator of [`SvoMap`](super::SvoMap)'s objective (or,
/// with [`ScoreFunction::elbo`], the ELBO) for every discrete guide site: the loss is the
/// surrogate `−[f + (f − b)·log q(z)]`, `f` the sampled objective held constant in the
/// second term, `b` a [`Baseline`] (moving average, optionally plus a learned part). Its
/// gradient is unbiased. With [`Baseline::leave_one_out`] the reward and the baseline are per
/// element of a plate instead, `−[f + Σ_i (r_i − b_i)·log q_i]`.
///
/// ```
/// use pact_inference::objectives::{Baseline, Objective, ScoreFunction};
/// let sf = ScoreFunction::map().baseline(Baseline::moving_average(0.95)).samples(8);
/// assert_eq!(sf.name(), "score-function");
/// ```
#[derive(Clone, Debug)]
pub struct ScoreFunction(pub(crate) Sampled);

impl ScoreFunction {
    /// REINFORCE for `E_q[log p(x, z)]` (the MAP objective).
    pub fn map() -> Self {
        ScoreFunction(Sampled::new(
            EstimatorPolicy::all(Estimator::ScoreFunction),
            false,
        ))
    }

    /// REINFORCE for the ELBO `E_q[log p(x, z)] + H[q]`.
    pub fn elbo() -> Self {
        ScoreFunction(Sampled::new(
            EstimatorPolicy::all(Estimator::ScoreFunction),
            true,
        ))
    }
}

sampled_builders!(ScoreFunction);

impl Objective for ScoreFunction {
    fn name(&self) -> &'static str {
        "score-function"
    }

    fn estimate<T, U>(
        &mut self,
        model: &impl Fn(&mut Ctx) -> pact::Result<T>,
        guide: &impl Fn(&mut Ctx) -> pact::Result<U>,
        params: &ParamStore,
        rng: &mut Rng,
    ) -> Result<Estimate> {
        self.0.estimate(model, guide, params, rng)
    }
}
