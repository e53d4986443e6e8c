//! Objectives over `pact::ppl` models with discrete latent variables.
//!
//! An objective takes a model `p(x, z)` and an amortised guide `q(z | x)`, both written in
//! the modelling language ([`pact::ppl`]) and sharing one [`ParamStore`], and returns an
//! [`Estimate`]: a scalar loss to minimise (the negative objective) and diagnostics.
//! Data and other arguments are captured by the closures.
//!
//! - [`SvoMap`]: stochastic variational optimisation for amortised MAP,
//!   `max E_q[log p(x | z) + log p(z)]` with no entropy term, so `q` tends to a point mass
//!   at the MAP configuration (math.md §4);
//! - [`Elbo`]: the same plus the entropy of `q`;
//! - [`ScoreFunction`]: either objective by REINFORCE with a [`Baseline`];
//! - [`Exact`]: the expectation over `q` by enumeration of the guide's discrete sites
//!   (ground truth for small models).
//!
//! The sampled objectives estimate each discrete guide site as its [`Estimator`] says
//! (Concrete, straight-through, expectation or score function), at a temperature from a
//! [`Temperature`] schedule, averaged over a number of samples. Where a guide site and the
//! model site of the same name have the same finite support (Bernoulli, categorical, the
//! truncated geometric prior over the number of units), the prior term uses its closed form
//! `Σ_z q(z) log p(z)` — unless the model site carries a custom relaxation, which replaces
//! the law and its term; the entropy uses the closed form of `q` where it has one.
//!
//! ```
//! use pact::dist::{Bernoulli, Normal};
//! use pact::nn::{Adam, AdamConfig, Optimizer, ParamStore};
//! use pact::ppl::Ctx;
//! use pact::{DType, Device, Result, Rng, Tensor};
//! use pact_inference::objectives::{Estimator, Objective, SvoMap, Temperature};
//!
//! let s = |v: f64| Tensor::scalar(v, DType::F64, Device::Cpu);
//! // p(z) p(x | z): z ~ Bernoulli(1/2), x ~ N(3z, 1), observed x = 2.5.
//! let model = |ctx: &mut Ctx| -> Result<()> {
//!     let z = ctx.sample("z", Bernoulli::new(s(0.0))?)?;
//!     ctx.observe("x", Normal::new(z.mul_scalar(3.0)?, s(1.0))?, &s(2.5))?;
//!     Ok(())
//! };
//! let guide = |ctx: &mut Ctx| -> Result<()> {
//!     let phi = ctx.param("phi", || Ok(s(0.0)))?;
//!     ctx.sample("z", Bernoulli::new(phi)?).map(|_| ())
//! };
//! let params = ParamStore::new(DType::F64, Device::Cpu);
//! let mut rng = Rng::seed(0);
//! let mut svo = SvoMap::new(Estimator::Concrete).temperature(Temperature::Constant(0.5));
//! svo.estimate(&model, &guide, &params, &mut rng)?; // creates φ
//! let mut opt = Adam::new(params.trainable(), AdamConfig { lr: 0.1, ..Default::default() });
//! for _ in 0..200 {
//!     let e = svo.estimate(&model, &guide, &params, &mut rng)?;
//!     opt.step(&e.loss.backward()?)?;
//! }
//! // The MAP is z = 1; q has collapsed onto it.
//! let phi = params.get("phi").unwrap().tensor().to_scalar()?;
//! assert!(phi > 3.0);
//! # Ok::<(), pact_inference::Error>(())
//! ```

mod baseline;
mod elbo;
mod estimator;
mod exact;
mod sampled;
mod score_function;
mod svo_map;
mod temperature;
mod terms;

pub use baseline::{Baseline, LearnedBaseline};
pub use elbo::Elbo;
pub use estimator::{Estimator, EstimatorPolicy};
pub use exact::Exact;
pub use score_function::ScoreFunction;
pub use svo_map::SvoMap;
pub use temperature::Temperature;
pub use terms::expected_log_prob_closed_form;

use crate::Result;
use pact::nn::ParamStore;
use pact::ppl::Ctx;
use pact::{Rng, Tensor};

/// What an objective returns for one step.
#[derive(Clone, Debug)]
pub struct Estimate {
    /// The loss to minimise: the negative objective (for score-function sites, the
    /// surrogate whose gradient is the REINFORCE estimate), rank 0.
    pub loss: Tensor,
    /// The estimated objective value (not negated), averaged over the samples.
    pub objective: f64,
    /// The entropy of `q` (summed over sites and plate elements), where every discrete
    /// guide site has a closed form.
    pub entropy: Option<f64>,
    /// The temperature of the relaxations this step (`None` for [`Exact`]).
    pub temperature: Option<f64>,
    /// Per guide site (of the last sample).
    pub sites: Vec<SiteReport>,
}

/// Diagnostics of one latent guide site.
#[derive(Clone, Debug, PartialEq)]
pub struct SiteReport {
    /// The site's name.
    pub name: String,
    /// How it was estimated: a relaxation label, `score-function`, `reparameterised` or
    /// `enumerated`.
    pub estimator: String,
    /// The closed-form entropy of `q` at the site (summed over its elements), if any.
    pub entropy: Option<f64>,
    /// Whether the prior term of the site used the closed form `Σ_z q(z) log p(z)`.
    pub closed_form_prior: bool,
}

/// An objective over a model and a guide.
pub trait Objective {
    /// A short name for logs.
    fn name(&self) -> &'static str;

    /// Evaluates the objective once (advancing the step counter of sampled objectives).
    fn estimate<T, U>(
        &mut self,
        model: &impl Fn(&mut Ctx) -> pact::Result<T>,
        guide: &impl Fn(&mut Ctx) -> pact::Result<U>,
        params: &ParamStore,
        rng: &mut Rng,
    ) -> Result<Estimate>;
}
