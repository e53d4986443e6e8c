//! `relax`: per-site choice between the exact discrete law and its relaxations.

use super::{Ctx, HaltingClaim, HaltingPlan, HaltingRule, Handler, Message, SitePolicy};
use crate::dist::{Distribution, Draw, Support};
use crate::{DType, Device, Error, Result, Rng, Shape, Tensor};
use std::fmt;
use std::sync::Arc;

/// How a discrete latent site is treated.
#[derive(Clone, Debug)]
pub enum Relaxation {
    /// The exact discrete law (score-function or enumeration territory).
    Exact,
    /// The Concrete relaxation at `temperature` ([`Distribution::relaxed`]): soft values,
    /// reparameterised; scored by the raw-space Concrete density.
    Concrete {
        /// The temperature `t > 0`.
        temperature: f64,
    },
    /// Straight-through ([`Distribution::relaxed_straight_through`]): hard values forward,
    /// Concrete gradients backward; scored by the raw-space Concrete density.
    StraightThrough {
        /// The temperature `t > 0`.
        temperature: f64,
    },
    /// The value is the law's mean `E[z]` (deterministic, differentiable); the site
    /// contributes log-probability 0, and the original law stays in
    /// [`Site::dist`](super::Site::dist) for closed-form terms.
    Expectation,
    /// A user-defined relaxation.
    Custom(Arc<dyn CustomRelaxation>),
}

impl Relaxation {
    /// A short name for logs and reports.
    pub fn label(&self) -> String {
        match self {
            Relaxation::Exact => "exact".into(),
            Relaxation::Concrete { temperature } => format!("concrete(t={temperature})"),
            Relaxation::StraightThrough { temperature } => {
                format!("straight-through(t={temperature})")
            }
            Relaxation::Expectation => "expectation".into(),
            Relaxation::Custom(c) => c.name().to_string(),
        }
    }

    /// The distribution a site with law `dist` draws from and is scored by, or `None` to
    /// keep the exact law.
    pub fn apply(
        &self,
        site: &str,
        dist: &Arc<dyn Distribution>,
    ) -> Result<Option<Arc<dyn Distribution>>> {
        let in_site = |e: Error| Error::site(site, e.to_string());
        Ok(match self {
            Relaxation::Exact => None,
            Relaxation::Concrete { temperature } => {
                Some(dist.relaxed(*temperature).map_err(in_site)?)
            }
            Relaxation::StraightThrough { temperature } => Some(
                dist.relaxed_straight_through(*temperature)
                    .map_err(in_site)?,
            ),
            Relaxation::Expectation => Some(Arc::new(Expectation::new(dist.clone())?)),
            Relaxation::Custom(c) => Some(c.relax(site, dist).map_err(in_site)?),
        })
    }
}

/// A user-defined relaxation: given a site and its discrete law, the distribution to draw
/// from and score with instead (any [`Distribution`], typically reparameterised).
///
/// ```
/// use pact::dist::{Bernoulli, Distribution, Normal};
/// use pact::ppl::CustomRelaxation;
/// use pact::Result;
/// use std::sync::Arc;
///
/// /// A Gaussian with the Bernoulli's mean and variance.
/// #[derive(Debug)]
/// struct GaussianMoments;
/// impl CustomRelaxation for GaussianMoments {
///     fn name(&self) -> &str { "gaussian-moments" }
///     fn relax(&self, _site: &str, d: &Arc<dyn Distribution>) -> Result<Arc<dyn Distribution>> {
///         Ok(Arc::new(Normal::new(d.mean()?, d.variance()?.sqrt()?)?))
///     }
/// }
/// ```
pub trait CustomRelaxation: fmt::Debug + Send + Sync {
    /// A name recorded in traces.
    fn name(&self) -> &str;
    /// The replacement law for `site`, whose model law is `dist`.
    fn relax(&self, site: &str, dist: &Arc<dyn Distribution>) -> Result<Arc<dyn Distribution>>;

    /// The online rule that runs a halting site ([`Ctx::halting`]) under this relaxation, if
    /// it has one (ACT's weights accumulate step by step); `None` (the default) runs every
    /// step and relaxes the site's laws with [`CustomRelaxation::relax`].
    fn halting_rule(&self) -> Option<Arc<dyn HaltingRule>> {
        None
    }
}

/// Per-site relaxation choices.
pub type RelaxPolicy = SitePolicy<Relaxation>;

struct Relax {
    policy: Arc<RelaxPolicy>,
}

impl Handler for Relax {
    fn process(&mut self, msg: &mut Message) -> Result<()> {
        let eligible = msg.kind == super::SiteKind::Sample
            && !msg.enumerated
            && !msg.decoded
            && !msg.relaxation_decided
            && msg.dist.is_discrete();
        if !eligible {
            return Ok(());
        }
        let choice = self.policy.get(&msg.name).clone();
        msg.apply_relaxation(choice)
    }

    fn halting_plan(&mut self, name: &str) -> Result<Option<HaltingClaim>> {
        let choice = self.policy.get(name);
        let plan = match choice {
            Relaxation::Custom(c) => match c.halting_rule() {
                Some(rule) => HaltingPlan::Online {
                    rule,
                    relaxation: Some(choice.clone()),
                    decoded: false,
                },
                None => HaltingPlan::Dense,
            },
            _ => HaltingPlan::Dense,
        };
        Ok(Some(HaltingClaim {
            plan,
            fixes_value: false,
        }))
    }
}

/// The model with each discrete latent site drawn and scored by the relaxation `policy`
/// chooses for it (a single [`Relaxation`] applies to every such site). Observed, enumerated
/// and decoded sites, and continuous ones, are untouched. A replayed value (from a relaxed
/// guide, say) is scored by the relaxed law. If several `relax` handlers are nested, the
/// innermost decides.
///
/// A site whose law has no relaxation of the chosen kind (a `Categorical` index under
/// `Concrete`) is an error: choose `Exact` for it, or sample a `OneHotCategorical`.
///
/// ```
/// use pact::dist::Bernoulli;
/// use pact::nn::ParamStore;
/// use pact::ppl::{relax, run, Ctx, Relaxation};
/// use pact::{DType, Device, Result, Rng, Tensor};
/// let model = |ctx: &mut Ctx| -> Result<Tensor> {
///     ctx.sample("z", Bernoulli::new(Tensor::zeros([3], DType::F32, Device::Cpu))?)
/// };
/// let relaxed = relax(Relaxation::Concrete { temperature: 0.5 }, model);
/// let params = ParamStore::new(DType::F32, Device::Cpu);
/// let (z, trace) = run(&relaxed, &params, &mut Rng::seed(0))?;
/// assert!(z.to_f64_vec().iter().all(|v| *v > 0.0 && *v < 1.0));
/// assert_eq!(trace.get("z").unwrap().relaxation.label(), "concrete(t=0.5)");
/// # Ok::<(), pact::Error>(())
/// ```
pub fn relax<T>(
    policy: impl Into<RelaxPolicy>,
    model: impl Fn(&mut Ctx) -> Result<T>,
) -> impl Fn(&mut Ctx) -> Result<T> {
    let policy = Arc::new(policy.into());
    move |ctx: &mut Ctx| {
        let handler = Relax {
            policy: policy.clone(),
        };
        ctx.with_handler(Box::new(handler), &model)
    }
}

/// The law behind [`Relaxation::Expectation`]: the value is the mean of the wrapped law
/// (gradients flow to its parameters); every value has log-probability 0.
#[derive(Clone, Debug)]
pub struct Expectation {
    base: Arc<dyn Distribution>,
    mean: Tensor,
}

impl Expectation {
    /// Wraps a law with a closed-form mean.
    pub fn new(base: Arc<dyn Distribution>) -> Result<Self> {
        let mean = base.mean()?;
        Ok(Expectation { base, mean })
    }

    /// The wrapped law.
    pub fn base(&self) -> &Arc<dyn Distribution> {
        &self.base
    }
}

impl Distribution for Expectation {
    fn name(&self) -> &'static str {
        "Expectation"
    }

    fn batch_shape(&self) -> Shape {
        self.base.batch_shape()
    }

    fn event_shape(&self) -> Shape {
        self.base.event_shape()
    }

    fn support(&self) -> Support {
        Support::Point
    }

    fn dtype(&self) -> DType {
        self.base.dtype()
    }

    fn device(&self) -> Device {
        self.base.device()
    }

    fn has_rsample(&self) -> bool {
        true
    }

    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        Ok(Arc::new(Expectation::new(self.base.expand(batch_shape)?)?))
    }

    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        Ok(self.rsample(sample_shape, rng)?.detach())
    }

    fn rsample(&self, sample_shape: &[usize], _rng: &mut Rng) -> Result<Draw> {
        let mut dims = sample_shape.to_vec();
        dims.extend_from_slice(self.mean.dims());
        Ok(Draw::Exact(self.mean.broadcast_as(&Shape::new(dims))?))
    }

    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        let event = self.event_shape().rank();
        let dims = value.dims();
        let keep = dims.len().checked_sub(event).ok_or_else(|| {
            Error::invalid(
                "Expectation::log_prob",
                "value has fewer axes than an event",
            )
        })?;
        Ok(Tensor::zeros(&dims[..keep], value.dtype(), value.device()))
    }

    fn mean(&self) -> Result<Tensor> {
        Ok(self.mean.clone())
    }
}
