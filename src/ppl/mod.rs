//! The modelling language: models are ordinary Rust functions of a [`Ctx`], and handlers
//! wrapped around them condition, replay, relax, enumerate and decode their sites.
//!
//! A model is any `Fn(&mut Ctx) -> Result<T>`. Its statements:
//!
//! - [`Ctx::sample`]`(name, dist)`: a latent variable;
//! - [`Ctx::observe`]`(name, dist, value)`: an observation;
//! - [`Ctx::factor`]`(name, log_weight)`: an extra term of the log joint;
//! - [`Ctx::param`]`(name, init)`: a learnable tensor from the [`ParamStore`](crate::nn::ParamStore);
//! - [`Ctx::plate`]`(name, size, body)`: a batch axis of conditionally independent elements;
//! - [`Ctx::markov`]`(steps, body)`: the steps of a chain, each depending on the one before;
//! - [`Ctx::halting`]`(name, site, input, step, head)`: a block of steps whose number is a
//!   latent variable, run as far as the handlers decide (a [halting site](halting));
//!   [`Ctx::halting_in_place`] for rows that are elements of one state (the positions of a
//!   feature map), halted in place.
//!
//! [`run`] executes a model and returns its [`Trace`]: per site its value (with the raw,
//! hard and soft values of relaxed draws), log-probability, kind, plates and the relaxation
//! used. Handlers are functions from models to models and compose by nesting:
//!
//! - [`condition`]: fix latent values as observations;
//! - [`replay`]: reuse the latent values of another trace (a guide's);
//! - [`relax`]: per site, the exact law, Concrete, straight-through, the expectation, or a
//!   [`CustomRelaxation`];
//! - [`enumerate()`]: the exact sum over finite supports, one run per configuration (small
//!   models);
//! - [`enumerate_parallel`]: the same in one run, every enumerated site along an axis of its
//!   own, contracted by variable elimination (chains and plates at linear cost), with the MAP
//!   (Viterbi), posterior draws and marginals; [`infer_discrete`] runs the model at them;
//! - [`decode`]: each discrete latent at its mode or a threshold.
//!
//! Variational distributions are models too: a guide samples the same latent names, and
//! `replay(guide_trace, model)` scores the model at the guide's values.
//!
//! ```
//! use pact::dist::{Bernoulli, Normal};
//! use pact::nn::ParamStore;
//! use pact::ppl::{relax, replay, run, Ctx, Relaxation};
//! use pact::{DType, Device, Result, Rng, Tensor};
//!
//! let data = Tensor::from_f64_slice(&[0.1, 2.9, 3.2], [3], DType::F64, Device::Cpu)?;
//! let s = |v: f64| Tensor::scalar(v, DType::F64, Device::Cpu);
//! // p(z, x) = Π_n Bernoulli(z_n; 0.5) N(x_n; 3 z_n, 1)
//! let model = |ctx: &mut Ctx| -> Result<()> {
//!     ctx.plate("data", 3, |ctx| {
//!         let z = ctx.sample("z", Bernoulli::new(s(0.0))?)?;
//!         ctx.observe("x", Normal::new(z.mul_scalar(3.0)?, s(1.0))?, &data)?;
//!         Ok(())
//!     })
//! };
//! // q(z) = Π_n Bernoulli(z_n; σ(φ_n)), φ learnable
//! let guide = |ctx: &mut Ctx| -> Result<()> {
//!     let phi = ctx.param("phi", || Ok(Tensor::zeros([3], DType::F64, Device::Cpu)))?;
//!     ctx.plate("data", 3, |ctx| ctx.sample("z", Bernoulli::new(phi)?).map(|_| ()))
//! };
//! let concrete = Relaxation::Concrete { temperature: 0.5 };
//! let params = ParamStore::new(DType::F64, Device::Cpu);
//! let mut rng = Rng::seed(0);
//! let (_, q) = run(&relax(concrete.clone(), guide), &params, &mut rng)?;
//! let (_, p) = run(&relax(concrete, replay(q.clone(), model)), &params, &mut rng)?;
//! // A relaxed ELBO sample; its gradient reaches φ through the relaxed values.
//! let elbo = p.log_joint()?.sub(&q.log_joint()?)?;
//! let grads = elbo.backward()?;
//! assert!(grads.get(&params.get("phi").unwrap().tensor()).is_some());
//! # Ok::<(), pact::Error>(())
//! ```

pub mod chunked;
mod condition;
mod ctx;
mod decode;
pub mod enumerate;
pub mod halting;
mod handler;
mod in_place;
mod per_element;
mod relax;
mod side_by_side;
mod site;
mod trace;
pub mod ve;

pub use chunked::{run_chunked, ChunkedHaltingOutput, ChunkedSteps};
pub use condition::{condition, replay};
pub use ctx::{run, Ctx};
pub use decode::{decode, DecodeFn, DecodeRule};
pub use enumerate::{enumerate, EnumRun, Enumeration};
pub use halting::{
    full_depth, weighted_states, FullDepthRule, HaltingClaim, HaltingOutput, HaltingPlan,
    HaltingRule, HaltingRun, HaltingSite, PosteriorFn, StepDecision, ThresholdRule,
};
pub use handler::{Handler, Select, SitePolicy};
pub use per_element::PerElement;
pub use relax::{relax, CustomRelaxation, Expectation, RelaxPolicy, Relaxation};
pub use side_by_side::map_side_by_side;
pub use site::{MarkovFrame, Message, PlateFrame, Site, SiteKind};
pub use trace::{Trace, Values};
pub use ve::{
    enumerate_parallel, infer_discrete, lookup, FactorGraph, GuideExpectation, MapEstimate,
    ParallelEnum, Posterior,
};
