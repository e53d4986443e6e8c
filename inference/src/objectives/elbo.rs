//! `Elbo`: the evidence lower bound, for comparison with `SvoMap`.

use super::sampled::Sampled;
use super::svo_map::sampled_builders;
use super::{Baseline, Estimate, EstimatorPolicy, Objective, Temperature};
use crate::Result;
use pact::nn::ParamStore;
use pact::ppl::Ctx;
use pact::Rng;

/// The evidence lower bound `E_q[log p(x, z)] + H[q]`: [`SvoMap`](super::SvoMap)'s objective
/// plus the entropy of `q` (closed form where the guide's law has one, else `−log q(z)` of
/// the sample). Its optimum is the posterior, so `q` keeps the posterior's entropy.
///
/// ```
/// use pact_inference::objectives::{Elbo, Estimator, Objective};
/// let elbo = Elbo::new(Estimator::StraightThrough);
/// assert_eq!(elbo.name(), "elbo");
/// ```
#[derive(Clone, Debug)]
pub struct Elbo(pub(crate) Sampled);

impl Elbo {
    /// The objective with the given estimators.
    pub fn new(estimators: impl Into<EstimatorPolicy>) -> Self {
        Elbo(Sampled::new(estimators.into(), true))
    }
}

sampled_builders!(Elbo);

impl Objective for Elbo {
    fn name(&self) -> &'static str {
        "elbo"
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
