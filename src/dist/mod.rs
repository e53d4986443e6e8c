//! Probability distributions, with first-class relaxations for discrete latents.
//!
//! Every distribution implements [`Distribution`]: batched tensor parameters (logits are the
//! primary parameterisation; probabilities are accepted by `from_probs` constructors),
//! a differentiable [`Distribution::log_prob`], [`Distribution::sample`], and, where the law
//! has them, [`Distribution::rsample`], closed-form moments, the mode, the entropy and the
//! finite support. Operations that do not apply answer with [`Error::Unsupported`], never a
//! panic.
//!
//! Shapes follow PyTorch: a value has shape `sample_shape ++ batch_shape ++ event_shape`;
//! `log_prob` sums over the event axes and returns `sample_shape ++ batch_shape`.
//! [`kl_divergence`] gives `KL(q ‖ p)` in closed form for laws with the same finite support
//! and for normals.
//!
//! | family | support | event | relaxations |
//! |---|---|---|---|
//! | [`Bernoulli`] | {0, 1} | `[]` | [`RelaxedBernoulli`], [`StraightThroughBernoulli`] |
//! | [`Categorical`] | {0, …, K−1} (index) | `[]` | none (use [`OneHotCategorical`]) |
//! | [`OneHotCategorical`] | one-hot vectors | `[K]` | [`RelaxedOneHotCategorical`], [`StraightThroughOneHotCategorical`] |
//! | [`Geometric`] | {0, 1, 2, …} (failures before the first success) | `[]` | none |
//! | [`TruncatedGeometric`] | {1, …, L} | `[]` | none |
//! | [`Normal`] | ℝ | `[]` | reparameterised |
//! | [`LogNormal`], [`Exponential`], [`Laplace`], [`Uniform`] | (0, ∞), [0, ∞), ℝ, [low, high) | `[]` | reparameterised |
//! | [`Gamma`], [`Beta`], [`StudentT`] | (0, ∞), (0, 1), ℝ | `[]` | none (exact draws; score function) |
//! | [`Dirichlet`] | the simplex | `[K]` | none (exact draws; score function) |
//! | [`Poisson`] | {0, 1, 2, …} | `[]` | none |
//! | [`Binomial`] | {0, …, n} | `[]` | none (finite: enumerates) |
//! | [`Delta`] | one point | any | reparameterised |
//! | [`Independent`] | that of its base law | base batch axes made event axes | those of its base |
//!
//! ## Relaxed draws and their densities
//! A relaxed sample is a [`Draw`] that carries, beside the value the model sees, its *raw*
//! value: the pre-sigmoid logit `y` for the binary Concrete, the log-simplex point `x` for
//! the categorical Concrete. [`Distribution::log_prob_draw`] of a relaxed distribution always
//! returns the density in that raw space (logit space, resp. the ExpConcrete density on the
//! log-simplex), computed from the raw value, so a value that rounded to exactly 0 or 1 in
//! `f32` never has its logit recomputed. [`Distribution::log_prob`] of a relaxed distribution
//! takes a value in (0, 1) (resp. on the simplex) and returns the density there; the two differ
//! by the log-Jacobian of the sigmoid (resp. `Σ_k x_k`).
//!
//! ```
//! use pact::dist::{Distribution, RelaxedBernoulli};
//! use pact::{DType, Device, Rng, Tensor};
//! let logits = Tensor::from_f64_slice(&[0.0, 2.0], [2], DType::F32, Device::Cpu)?;
//! let q = RelaxedBernoulli::new(logits, 0.01)?;
//! let draw = q.rsample(&[], &mut Rng::seed(0))?;
//! // At temperature 0.01 the values round to 0 or 1 in f32, yet the density stays finite.
//! assert!(q.log_prob_draw(&draw)?.to_f64_vec().iter().all(|v| v.is_finite()));
//! # Ok::<(), pact::Error>(())
//! ```

mod bernoulli;
mod beta;
mod binomial;
mod categorical;
mod continuous;
mod delta;
mod dirichlet;
mod draw;
mod exponential;
mod gamma;
mod geometric;
mod implicit;
mod independent;
mod kl;
mod kl_closed;
mod laplace;
mod log_normal;
mod normal;
mod one_hot_categorical;
mod poisson;
mod relaxed_bernoulli;
mod relaxed_one_hot_categorical;
mod straight_through;
mod student_t;
mod support;
mod truncated_geometric;
mod uniform;
mod util;

pub use bernoulli::Bernoulli;
pub use beta::Beta;
pub use binomial::Binomial;
pub use categorical::Categorical;
pub use delta::Delta;
pub use dirichlet::Dirichlet;
pub use draw::Draw;
pub use exponential::Exponential;
pub use gamma::Gamma;
pub use geometric::Geometric;
pub use independent::Independent;
pub use kl::kl_divergence;
pub use laplace::Laplace;
pub use log_normal::LogNormal;
pub use normal::Normal;
pub use one_hot_categorical::OneHotCategorical;
pub use poisson::Poisson;
pub use relaxed_bernoulli::RelaxedBernoulli;
pub use relaxed_one_hot_categorical::RelaxedOneHotCategorical;
pub use straight_through::{StraightThroughBernoulli, StraightThroughOneHotCategorical};
pub use student_t::StudentT;
pub use support::Support;
pub use truncated_geometric::TruncatedGeometric;
pub use uniform::Uniform;
pub use util::LOGIT_BOUND;

use crate::{DType, Device, Error, Result, Rng, Shape, Tensor};
use std::fmt;
use std::sync::Arc;

/// A probability distribution with batched tensor parameters.
///
/// Methods without a meaningful answer for a family return [`Error::Unsupported`]. Results
/// of `mean`, `variance`, `mode` have shape `batch_shape ++ event_shape`; `entropy` has
/// shape `batch_shape`; `enumerate_support` has shape `[n] ++ batch_shape ++ event_shape`.
pub trait Distribution: fmt::Debug + Send + Sync {
    /// The family's name, for messages and traces (`"Bernoulli"`, …).
    fn name(&self) -> &'static str;

    /// The shape of independent, non-identical draws.
    fn batch_shape(&self) -> Shape;

    /// The shape of one draw (`[]` for scalars, `[K]` for one-hot vectors).
    fn event_shape(&self) -> Shape;

    /// The set of values.
    fn support(&self) -> Support;

    /// The element type of parameters and values.
    fn dtype(&self) -> DType;

    /// The device of parameters and values.
    fn device(&self) -> Device;

    /// Whether this is a discrete law (a candidate for relaxation, enumeration and decoding).
    /// Relaxed and straight-through laws are continuous in their raw space and answer `false`.
    fn is_discrete(&self) -> bool {
        self.support().is_discrete()
    }

    /// Whether [`Distribution::enumerate_support`] is available: a discrete law with a
    /// finite support of [`Support::size`] values per batch element.
    fn has_enumerate_support(&self) -> bool {
        self.is_discrete() && self.support().size().is_some()
    }

    /// Whether [`Distribution::rsample`] is available.
    fn has_rsample(&self) -> bool {
        false
    }

    /// The same law with its parameters broadcast to `batch_shape`.
    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>>;

    /// Draws `sample_shape ++ batch_shape ++ event_shape` values; no gradient flows.
    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw>;

    /// Reparameterised draws: gradients flow from the values to the parameters.
    fn rsample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        let _ = (sample_shape, rng);
        Err(Error::unsupported(
            self.name(),
            "rsample",
            "the law is not reparameterisable; use sample (score-function estimators) or a relaxation",
        ))
    }

    /// Log-density (or log-mass) of `value`, summed over the event axes; differentiable with
    /// respect to the parameters (and to `value` where the formula is smooth in it).
    fn log_prob(&self, value: &Tensor) -> Result<Tensor>;

    /// Log-density of a draw. For exact laws this is `log_prob(draw.value())`; relaxed laws
    /// use the draw's raw value and return the raw-space density (see the module docs).
    fn log_prob_draw(&self, draw: &Draw) -> Result<Tensor> {
        self.log_prob(draw.value())
    }

    /// The mean.
    fn mean(&self) -> Result<Tensor> {
        Err(Error::unsupported(self.name(), "mean", "no closed form"))
    }

    /// The variance (elementwise).
    fn variance(&self) -> Result<Tensor> {
        Err(Error::unsupported(
            self.name(),
            "variance",
            "no closed form",
        ))
    }

    /// A most probable value (ties: the documented choice of each family).
    fn mode(&self) -> Result<Tensor> {
        Err(Error::unsupported(self.name(), "mode", "no closed form"))
    }

    /// The entropy, shape `batch_shape`.
    fn entropy(&self) -> Result<Tensor> {
        Err(Error::unsupported(self.name(), "entropy", "no closed form"))
    }

    /// Every value of a finite support, stacked along a new leading axis and expanded to the
    /// batch shape: `[n] ++ batch_shape ++ event_shape`.
    fn enumerate_support(&self) -> Result<Tensor> {
        Err(Error::unsupported(
            self.name(),
            "enumerate_support",
            format!("the support ({}) is not finite", self.support()),
        ))
    }

    /// The Concrete relaxation of this discrete law at `temperature`.
    fn relaxed(&self, temperature: f64) -> Result<Arc<dyn Distribution>> {
        let _ = temperature;
        Err(Error::unsupported(
            self.name(),
            "relaxed",
            "no Concrete relaxation for this family",
        ))
    }

    /// The straight-through relaxation: hard values forward, Concrete gradients backward.
    fn relaxed_straight_through(&self, temperature: f64) -> Result<Arc<dyn Distribution>> {
        let _ = temperature;
        Err(Error::unsupported(
            self.name(),
            "relaxed_straight_through",
            "no straight-through relaxation for this family",
        ))
    }

    /// The law as [`std::any::Any`], for code that knows a concrete family and wants to reach
    /// it through an `Arc<dyn Distribution>` (a [custom relaxation](crate::ppl::CustomRelaxation)
    /// that treats one family specially, say). Families opt in by returning `Some(self)`; the
    /// default is `None`.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

/// Anything that can stand at a model site: a distribution by value or an
/// `Arc<dyn Distribution>`.
pub trait IntoDistribution {
    /// The shared trait object.
    fn into_distribution(self) -> Arc<dyn Distribution>;
}

impl<D: Distribution + 'static> IntoDistribution for D {
    fn into_distribution(self) -> Arc<dyn Distribution> {
        Arc::new(self)
    }
}

impl IntoDistribution for Arc<dyn Distribution> {
    fn into_distribution(self) -> Arc<dyn Distribution> {
        self
    }
}
