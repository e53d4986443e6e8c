//! Training objectives of the adaptive image classifiers, as losses to minimise.
//!
//! - ACT (pact-math §2): `cross-entropy + τ · Σ_blocks mean_batch(N + R)`;
//! - PACT by stochastic variational MAP (§4, §5): the negative bound
//!   `−E_q[log p(y | x, z) + log p(z)]`, with the likelihood term estimated through the
//!   Concrete-relaxed block outputs and the prior term in closed form,
//!   `−E_q[log p(N)] = λ E_q[N] + log Z` (the constant `log Z` is dropped);
//! - plain: cross-entropy.

use crate::adaptive::HaltingMode;
use crate::resnet::ResNet;
use crate::{Error, Result};
use pact::{Rng, Tensor};
use serde::{Deserialize, Serialize};

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

    /// The halting mode used while training with this objective.
    pub fn training_mode(&self) -> HaltingMode {
        match *self {
            Objective::Plain => HaltingMode::Plain,
            Objective::Act { eps, .. } => HaltingMode::Act { eps },
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

/// The training loss of `net` on one batch (`x`, `labels`) under `objective`.
pub fn image_step(
    net: &ResNet,
    x: &Tensor,
    labels: &[usize],
    objective: &Objective,
    rng: &mut Rng,
) -> Result<StepOutput> {
    objective.validate()?;
    let out = net.forward_adaptive(x, &objective.training_mode(), true, rng)?;
    let ce = out.logits.cross_entropy(labels)?;
    let cross_entropy = ce.to_scalar()?;
    let predicted = out.logits.argmax(1)?;
    let accuracy = predicted.iter().zip(labels).filter(|(p, l)| p == l).count() as f64
        / labels.len().max(1) as f64;
    let mut loss = ce;
    let mut units = Vec::with_capacity(out.blocks.len());
    for block in &out.blocks {
        match *objective {
            Objective::Plain => units.push(block.units[0] as f64),
            Objective::Act { tau, .. } => {
                let ponder = block
                    .ponder
                    .as_ref()
                    .ok_or_else(|| Error::InvalidInput("ACT block without ponder cost".into()))?;
                loss = loss.add(&ponder.mean_all()?.mul_scalar(tau)?)?;
                units.push(
                    block.units.iter().sum::<usize>() as f64 / block.units.len().max(1) as f64,
                );
            }
            Objective::Pact { lambda, .. } => {
                let expected = block
                    .expected_n
                    .as_ref()
                    .ok_or_else(|| Error::InvalidInput("PACT block without E_q[N]".into()))?;
                let mean = expected.mean_all()?;
                units.push(mean.to_scalar()?);
                loss = loss.add(&mean.mul_scalar(lambda)?)?;
            }
        }
    }
    Ok(StepOutput {
        loss,
        accuracy,
        cross_entropy,
        units,
    })
}
