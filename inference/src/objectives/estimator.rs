//! How each discrete latent site of a guide is estimated, and the handler that applies it.

use pact::ppl::{Ctx, Handler, Message, Relaxation, SiteKind, SitePolicy};
use std::sync::Arc;

/// The gradient estimator of one discrete guide site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Estimator {
    /// The Concrete relaxation at the objective's current temperature (reparameterised).
    Concrete,
    /// Straight-through: hard values forward, Concrete gradients backward.
    StraightThrough,
    /// The site's mean in place of a sample (deterministic).
    Expectation,
    /// The exact law and the score-function (REINFORCE) estimator with a baseline.
    ScoreFunction,
}

impl Estimator {
    /// The relaxation that implements this estimator at temperature `t`.
    pub fn relaxation(&self, t: f64) -> Relaxation {
        match self {
            Estimator::Concrete => Relaxation::Concrete { temperature: t },
            Estimator::StraightThrough => Relaxation::StraightThrough { temperature: t },
            Estimator::Expectation => Relaxation::Expectation,
            Estimator::ScoreFunction => Relaxation::Exact,
        }
    }

    /// A short name for reports.
    pub fn label(&self) -> &'static str {
        match self {
            Estimator::Concrete => "concrete",
            Estimator::StraightThrough => "straight-through",
            Estimator::Expectation => "expectation",
            Estimator::ScoreFunction => "score-function",
        }
    }
}

/// Per-site estimator choices: a default and named exceptions.
pub type EstimatorPolicy = SitePolicy<Estimator>;

struct ApplyEstimators {
    policy: Arc<EstimatorPolicy>,
    temperature: f64,
}

impl Handler for ApplyEstimators {
    fn process(&mut self, msg: &mut Message) -> pact::Result<()> {
        let eligible = msg.kind == SiteKind::Sample
            && !msg.enumerated
            && !msg.decoded
            && !msg.relaxation_decided
            && msg.dist.is_discrete();
        if !eligible {
            return Ok(());
        }
        let choice = self.policy.get(&msg.name).relaxation(self.temperature);
        msg.apply_relaxation(choice)
    }
}

/// The model with each discrete latent site drawn and scored as `policy` says, at
/// `temperature` (like [`pact::ppl::relax`], with score-function sites kept exact).
pub(crate) fn with_estimators<T>(
    policy: Arc<EstimatorPolicy>,
    temperature: f64,
    model: impl Fn(&mut Ctx) -> pact::Result<T>,
) -> impl Fn(&mut Ctx) -> pact::Result<T> {
    move |ctx: &mut Ctx| {
        let handler = ApplyEstimators {
            policy: policy.clone(),
            temperature,
        };
        ctx.with_handler(Box::new(handler), &model)
    }
}
