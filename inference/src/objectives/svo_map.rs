//! `SvoMap`: stochastic variational optimisation for amortised MAP.

use super::sampled::Sampled;
use super::{Baseline, Estimate, EstimatorPolicy, Objective, Temperature};
use crate::Result;
use pact::nn::ParamStore;
use pact::ppl::Ctx;
use pact::Rng;

/// Generates the builder methods shared by the sampled objectives.
macro_rules! sampled_builders {
    ($ty:ident) => {
        impl $ty {
            /// The temperature schedule of the relaxed sites (default: constant 0.5).
            pub fn temperature(mut self, schedule: Temperature) -> Self {
                self.0.temperature = schedule;
                self
            }

            /// The number of samples averaged per step (default 1; 0 is refused when
            /// estimating).
            pub fn samples(mut self, samples: usize) -> Self {
                self.0.samples = samples;
                self
            }

            /// Whether prior terms with a closed-form expectation use it (default true).
            pub fn closed_form(mut self, on: bool) -> Self {
                self.0.closed_form = on;
                self
            }

            /// The baseline of score-function sites (default: moving average, decay 0.9).
            pub fn baseline(mut self, baseline: Baseline) -> Self {
                self.0.baseline = baseline;
                self
            }

            /// The number of estimates made so far (the step of the temperature schedule).
            pub fn step(&self) -> u64 {
                self.0.step
            }

            /// Sets the step counter (to resume training).
            pub fn set_step(&mut self, step: u64) {
                self.0.step = step;
            }

            /// Allows the model's latent sites `names` to be drawn from their prior: by default
            /// a model latent that the guide does not draw (and that is not a guided site) is
            /// an error, since the objective would silently sample it from the prior.
            pub fn allow_prior_sites<I: IntoIterator<Item = S>, S: Into<String>>(
                mut self,
                names: I,
            ) -> Self {
                self.0.prior_sites =
                    std::sync::Arc::new(names.into_iter().map(Into::into).collect());
                self
            }

            /// The current baseline state.
            pub fn current_baseline(&self) -> &Baseline {
                &self.0.baseline
            }
        }
    };
}
pub(crate) use sampled_builders;

/// Stochastic variational optimisation for amortised MAP (math.md §4): maximises
/// `J = E_q[log p(x | z) + log p(z)]` with no entropy term, so at the optimum `q` is a point
/// mass at the MAP configuration. Each discrete guide site is estimated by its
/// [`Estimator`](super::Estimator); the prior term uses its closed form where the laws allow.
/// See the [module example](super).
#[derive(Clone, Debug)]
pub struct SvoMap(pub(crate) Sampled);

impl SvoMap {
    /// The objective with the given estimators (one [`Estimator`](super::Estimator) for every
    /// site, or a [`EstimatorPolicy`] with exceptions).
    ///
    /// ```
    /// use pact_inference::objectives::{Estimator, EstimatorPolicy, SvoMap, Temperature};
    /// let svo = SvoMap::new(EstimatorPolicy::all(Estimator::Concrete).with("n", Estimator::ScoreFunction))
    ///     .temperature(Temperature::ExponentialDecay { initial: 1.0, rate: 0.99, floor: 0.1 })
    ///     .samples(4);
    /// assert_eq!(svo.step(), 0);
    /// ```
    pub fn new(estimators: impl Into<EstimatorPolicy>) -> Self {
        SvoMap(Sampled::new(estimators.into(), false))
    }
}

sampled_builders!(SvoMap);

impl Objective for SvoMap {
    fn name(&self) -> &'static str {
        "svo-map"
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
