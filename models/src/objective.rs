//! Training objectives of the adaptive image classifiers, as losses to minimise.
//!
//! - ACT (math §2): `cross-entropy + τ · Σ_blocks mean_batch(N + R)`;
//! - PACT by stochastic variational MAP (§4, §5): the negative bound
//!   `−E_q[log p(y | x, z) + log p(z)]`, with the likelihood term estimated through the
//!   Concrete-relaxed block outputs and the prior term in closed form,
//!   `−E_q[log p(N)] = λ E_q[N] + log Z` (the constant `log Z` is dropped);
//! - plain: cross-entropy.
//!
//! The spatial variants (math §8) train with the same objectives on a spatial network
//! ([`ResNet::new_spatial`]), whose stages halt per position: the ponder cost `N + R` and
//! `E_q[N]` are per position (`[B, H, W]`), so every mean below is over batch *and* positions:
//!
//! - SACT ([`Objective::Act`]): `cross-entropy + τ · Σ_blocks mean_{batch, positions}(N + R)`;
//! - spatial PACT ([`Objective::Pact`]): the cross-entropy of the output computed through the
//!   Concrete-relaxed stick-breaking weights of every position, plus the closed-form prior term
//!   of every position, `λ · Σ_blocks mean_{batch, positions} E_q[N]` (averaging rather than
//!   summing over positions keeps `λ` on the scale of SACT's `τ`, as in §7), plus `log Z` per
//!   block (a constant).
//!
//! The score-function estimator is not offered for spatial networks.

use crate::halting::ActRelaxation;
use crate::mode::HaltingMode;
use crate::resnet::{ResNet, BATCH_PLATE};
use crate::{Error, Result};
use pact::nn::ParamStore;
use pact::ppl::{full_depth, relax, Ctx};
use pact::{Rng, Tensor};
use pact_inference::objectives::{
    Baseline, Estimate, Estimator, Objective as _, ScoreFunction, SvoMap, Temperature,
};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;

/// Which objective to train with.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "objective", rename_all = "snake_case")]
pub enum Objective {
    /// Cross-entropy of the plain network.
    Plain,
    /// ACT with ponder-cost weight `tau` and threshold slack `eps`.
    Act {
        /// τ, the weight of the ponder cost.
        tau: f64,
        /// ε of the halting threshold.
        eps: f64,
    },
    /// PACT by stochastic variational MAP with the score-function (REINFORCE) estimator for
    /// the likelihood term, a leave-one-out baseline, and the closed-form prior term.
    PactScoreFunction {
        /// λ, the time penalty of the truncated geometric prior.
        lambda: f64,
    },
    /// PACT by stochastic variational MAP through the Concrete relaxation.
    Pact {
        /// λ, the time penalty of the truncated geometric prior.
        lambda: f64,
        /// Concrete temperature.
        temperature: f64,
        /// Straight-through (hard forward, relaxed backward).
        straight_through: bool,
    },
}

impl Objective {
    /// Checks the values; the error names the bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidInput(m));
        match *self {
            Objective::Plain => Ok(()),
            Objective::Act { tau, eps } => {
                if !(tau >= 0.0 && tau.is_finite()) {
                    bad(format!("ponder cost weight tau must be ≥ 0, got {tau}"))
                } else if !(eps > 0.0 && eps < 1.0) {
                    bad(format!("ACT's eps must be in (0, 1), got {eps}"))
                } else {
                    Ok(())
                }
            }
            Objective::PactScoreFunction { lambda } => {
                if !(lambda >= 0.0 && lambda.is_finite()) {
                    bad(format!("time penalty lambda must be ≥ 0, got {lambda}"))
                } else {
                    Ok(())
                }
            }
            Objective::Pact {
                lambda,
                temperature,
                ..
            } => {
                if !(lambda >= 0.0 && lambda.is_finite()) {
                    bad(format!("time penalty lambda must be ≥ 0, got {lambda}"))
                } else if !(temperature > 0.0 && temperature.is_finite()) {
                    bad(format!("temperature must be > 0, got {temperature}"))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The same objective with its computation penalty (ACT's τ, PACT's λ) multiplied by
    /// `scale`; the plain objective is unchanged. Used by [`PenaltyWarmup`].
    ///
    /// ```
    /// use pact_models::objective::Objective;
    /// let act = Objective::Act { tau: 0.1, eps: 0.01 };
    /// assert_eq!(act.with_penalty_scaled(0.5), Objective::Act { tau: 0.05, eps: 0.01 });
    /// ```
    pub fn with_penalty_scaled(&self, scale: f64) -> Objective {
        match *self {
            Objective::Plain => Objective::Plain,
            Objective::Act { tau, eps } => Objective::Act {
                tau: tau * scale,
                eps,
            },
            Objective::PactScoreFunction { lambda } => Objective::PactScoreFunction {
                lambda: lambda * scale,
            },
            Objective::Pact {
                lambda,
                temperature,
                straight_through,
            } => Objective::Pact {
                lambda: lambda * scale,
                temperature,
                straight_through,
            },
        }
    }

    /// The computation penalty: ACT's τ, PACT's λ, 0 for the plain network.
    pub fn penalty(&self) -> f64 {
        match *self {
            Objective::Plain => 0.0,
            Objective::Act { tau, .. } => tau,
            Objective::PactScoreFunction { lambda } | Objective::Pact { lambda, .. } => lambda,
        }
    }

    /// The halting mode whose handlers the network's model ([`ResNet::model`]) runs under
    /// while training with this objective.
    pub fn training_mode(&self) -> HaltingMode {
        match *self {
            Objective::Plain => HaltingMode::Plain,
            Objective::Act { eps, .. } => HaltingMode::Act { eps },
            Objective::PactScoreFunction { .. } => HaltingMode::PactSample,
            Objective::Pact {
                temperature,
                straight_through,
                ..
            } => HaltingMode::PactRelaxed {
                temperature,
                straight_through,
            },
        }
    }
}

/// A linear warm-up of the computation penalty: over the first `fraction` of the training
/// steps, τ or λ grows linearly from 0 to its value, and stays there after.
///
/// Without it, the penalty's gradient acts from the first step, while the units' outputs are
/// still untrained and a deeper network is not yet any better than a shallow one; PACT's
/// halting heads then commit to one unit per block before the later units have learnt
/// anything, and those units, weighted by almost zero, never do (`docs/guide/concepts.md`,
/// "Why λ needs a warm-up").
///
/// ```
/// use pact_models::objective::PenaltyWarmup;
/// let w = PenaltyWarmup { fraction: 0.5 };
/// assert_eq!(w.scale(0, 100), 0.0);
/// assert_eq!(w.scale(25, 100), 0.5);
/// assert_eq!(w.scale(80, 100), 1.0);
/// assert_eq!(PenaltyWarmup { fraction: 0.0 }.scale(0, 100), 1.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PenaltyWarmup {
    /// The fraction of the training steps over which the penalty grows, in `[0, 1]`.
    pub fraction: f64,
}

impl PenaltyWarmup {
    /// The penalty's multiplier at `step` (0-based: the number of updates done) of a run of
    /// `total` steps.
    pub fn scale(&self, step: u64, total: u64) -> f64 {
        let ramp = self.fraction * total as f64;
        if ramp <= 0.0 {
            1.0
        } else {
            (step as f64 / ramp).min(1.0)
        }
    }
}

/// The loss of one batch and what to log about it.
pub struct StepOutput {
    /// The scalar loss to minimise.
    pub loss: Tensor,
    /// Fraction of the batch classified correctly.
    pub accuracy: f64,
    /// Cross-entropy part of the loss.
    pub cross_entropy: f64,
    /// Mean units executed (ACT) or expected (PACT), per block.
    pub units: Vec<f64>,
}

/// The training loss of `net` on one batch (`x`, `labels`) under `objective`, averaged over
/// the batch.
///
/// The network runs as a model of the modelling language ([`ResNet::model`]: one halting
/// site per stage, the labels observed), and the loss is that of an objective of
/// `pact-inference` over it, divided by the batch size:
///
/// - plain: the model under [`full_depth`] (every unit, no heads), so `−log p(y | x)` (plus
///   the constant `−log p(N = L)` of each stage of a network that has halting heads);
/// - ACT: [`SvoMap`] over the model relaxed by [`ActRelaxation`] (math §7), whose halting rule
///   runs the units online and whose prior term is `−τ (N + R)`;
/// - PACT: [`SvoMap`] through the Concrete (or straight-through) relaxation at the objective's
///   temperature, with the closed-form prior term `E_q[log p(N)] = −λ E_q[N] − log Z`;
/// - PACT by the score function: [`ScoreFunction`] with the leave-one-out baseline over the
///   images of the batch.
///
/// The losses are the hand-written ones of math §2 and §4 plus, for PACT, the constant
/// `log Z` of each stage's prior (it has no gradient). A spatial network runs the same way:
/// its stages are in-place halting sites over their positions, scaled by `1/(H·W)`, so the
/// prior terms are means over positions (see the module docs); the score-function estimator
/// is refused for it.
pub fn image_step(
    net: &ResNet,
    x: &Tensor,
    labels: &[usize],
    objective: &Objective,
    rng: &mut Rng,
) -> Result<StepOutput> {
    objective.validate()?;
    if net.is_spatial() && matches!(objective, Objective::PactScoreFunction { .. }) {
        return Err(Error::InvalidInput(
            "the score-function estimator (pact_score_function) is not offered for spatial \
             networks: train spatial PACT through the Concrete relaxation (pact)"
                .into(),
        ));
    }
    let b = labels.len();
    if b == 0 || x.dims().first() != Some(&b) {
        return Err(Error::InvalidInput(format!(
            "a batch of {b} labels for images of shape {}",
            x.shape()
        )));
    }
    let values: Vec<f64> = labels.iter().map(|&l| l as f64).collect();
    let y = Tensor::from_f64_slice(&values, [b], x.dtype(), x.device())?;
    let model = net.model(x, Some(&y), objective.penalty(), true)?;
    let captured = RefCell::new(None);
    let capture = |ctx: &mut Ctx| -> pact::Result<()> {
        let out = model(ctx)?;
        *captured.borrow_mut() = Some(out);
        Ok(())
    };
    let no_guide = |_: &mut Ctx| -> pact::Result<()> { Ok(()) };
    let params = ParamStore::new(x.dtype(), x.device());
    let estimate = match *objective {
        // full_depth fixes every stage's value at e_L (a decoded site); its term,
        // log p(e_L), is a constant.
        Objective::Plain => SvoMap::new(Estimator::Concrete).estimate(
            &full_depth(capture),
            &no_guide,
            &params,
            rng,
        )?,
        Objective::Act { eps, .. } => act_estimate(eps, capture, &params, rng)?,
        Objective::Pact {
            temperature,
            straight_through,
            ..
        } => relaxed_pact_estimate(temperature, straight_through, &capture, &params, rng)?,
        Objective::PactScoreFunction { .. } => ScoreFunction::map()
            .baseline(Baseline::leave_one_out(BATCH_PLATE))
            .estimate(&capture, &no_guide, &params, rng)?,
    };
    let out = captured
        .into_inner()
        .ok_or_else(|| Error::InvalidInput("the model did not run".into()))?;
    let loss = estimate.loss.mul_scalar(1.0 / b as f64)?;
    let cross_entropy = pact::no_grad(|| out.logits.cross_entropy(labels)?.to_scalar())?;
    let predicted = out.logits.argmax(1)?;
    let accuracy = predicted.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / b as f64;
    let mut units = Vec::with_capacity(out.steps.len());
    for (steps, expected) in out.steps.iter().zip(&out.expected_n) {
        units.push(match (objective, expected) {
            (Objective::Pact { .. } | Objective::PactScoreFunction { .. }, Some(e)) => {
                e.mean_all()?.to_scalar()?
            }
            _ => steps.iter().sum::<usize>() as f64 / steps.len().max(1) as f64,
        });
    }
    Ok(StepOutput {
        loss,
        accuracy,
        cross_entropy,
        units,
    })
}

/// ACT's objective over a model of the language: [`SvoMap`] over the model relaxed by
/// [`ActRelaxation`] (whose halting rule runs the steps online), with no guide.
pub(crate) fn act_estimate<T>(
    eps: f64,
    model: impl Fn(&mut Ctx) -> pact::Result<T>,
    params: &ParamStore,
    rng: &mut Rng,
) -> Result<Estimate> {
    let act = relax(ActRelaxation::new(eps).into_relaxation(), model);
    let no_guide = |_: &mut Ctx| -> pact::Result<()> { Ok(()) };
    Ok(SvoMap::new(Estimator::Concrete).estimate(&act, &no_guide, params, rng)?)
}

/// PACT's relaxed objective over a model of the language: [`SvoMap`] through the Concrete (or
/// straight-through) relaxation at a constant `temperature`, with no guide.
pub(crate) fn relaxed_pact_estimate<T>(
    temperature: f64,
    straight_through: bool,
    model: &impl Fn(&mut Ctx) -> pact::Result<T>,
    params: &ParamStore,
    rng: &mut Rng,
) -> Result<Estimate> {
    let estimator = if straight_through {
        Estimator::StraightThrough
    } else {
        Estimator::Concrete
    };
    let no_guide = |_: &mut Ctx| -> pact::Result<()> { Ok(()) };
    Ok(SvoMap::new(estimator)
        .temperature(Temperature::Constant(temperature))
        .estimate(model, &no_guide, params, rng)?)
}
