//! Training objectives of the pondering recurrent networks on Graves' sequence tasks
//! (math §10), as losses to minimise.
//!
//! The task loss of an example is the cross-entropy summed over its targets: every
//! classification (`K` per step) of every step whose mask is set, as in Graves (2016), where the
//! sequence loss is the sum of the per-output log-losses. Padding steps (past an example's
//! length) carry no target and are never charged a ponder cost; the network still runs on them,
//! but nothing it computes there reaches the loss or the reported figures. Everything is
//! averaged over the batch:
//!
//! - ACT (§2 per input step): `mean_b [ task(b) + τ Σ_t (N_t(b) + R_t(b)) ]`;
//! - PACT by stochastic variational MAP (§4, §5 per input step, no entropy term): the task loss
//!   of the Concrete-relaxed network plus the closed-form prior term,
//!   `mean_b [ task(b) + Σ_t (λ E_q[N_t](b) + log Z) ]` (`log Z`, the normaliser of the prior,
//!   is a constant);
//! - PonderNet (§10): `mean_b Σ_t [ Σ_n q_t(N = n) · task_t(b, ŷ_n) + β KL(q_t ‖ p_λ) ]`, with
//!   `ŷ_n` the output read from the `n`-th pondering state and `p_λ` the truncated geometric
//!   prior `∝ e^{−λn}` on `1..=M`. The state carried to the next input step is the expected
//!   state `Σ_n q_t(n) s_t^n`.
//!
//! Each is an objective of `pact-inference` over one model, the network as a model of the
//! modelling language ([`PonderingRnn::model`]: a halting site per input step, masked by the
//! step's validity, and the targets observed under the step's target mask); see
//! [`sequence_step`].

use crate::data::{SequenceBatch, SequenceDims};
use crate::halting::kl_to_truncated_geometric;
use crate::mode::HaltingMode;
use crate::objective::{act_estimate, relaxed_pact_estimate};
use crate::recurrent::PonderingRnn;
use crate::{Error, Result};
use pact::nn::ParamStore;
use pact::ppl::Ctx;
use pact::{DType, Device, Rng, Tensor};
use pact_inference::objectives::{Estimator, Exact, Objective as _, SvoMap};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;

/// Which objective to train a pondering network with.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "objective", rename_all = "snake_case")]
pub enum SequenceObjective {
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
    /// PonderNet: expected task loss under `q(N | x)` plus `β KL(q ‖ p_λ)`.
    PonderNet {
        /// β, the weight of the KL term.
        beta: f64,
        /// λ of the truncated geometric prior `p_λ(N = n) ∝ e^{−λn}`.
        lambda: f64,
    },
}

impl SequenceObjective {
    /// Checks the values; the error names the bad one.
    pub fn validate(&self) -> Result<()> {
        let non_negative = |name: &str, v: f64| {
            if v >= 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(Error::InvalidInput(format!("{name} must be ≥ 0, got {v}")))
            }
        };
        match *self {
            SequenceObjective::Act { tau, eps } => {
                non_negative("ponder cost weight tau", tau)?;
                if !(eps > 0.0 && eps < 1.0) {
                    return Err(Error::InvalidInput(format!(
                        "ACT's eps must be in (0, 1), got {eps}"
                    )));
                }
                Ok(())
            }
            SequenceObjective::Pact {
                lambda,
                temperature,
                ..
            } => {
                non_negative("time penalty lambda", lambda)?;
                if !(temperature > 0.0 && temperature.is_finite()) {
                    return Err(Error::InvalidInput(format!(
                        "temperature must be > 0, got {temperature}"
                    )));
                }
                Ok(())
            }
            SequenceObjective::PonderNet { beta, lambda } => {
                non_negative("KL weight beta", beta)?;
                non_negative("time penalty lambda", lambda)
            }
        }
    }

    /// The time penalty of the halting sites' prior: ACT's τ (whose relaxation charges
    /// `τ (N + R)`), PACT's and PonderNet's λ.
    ///
    /// ```
    /// use pact_models::sequence_objective::SequenceObjective;
    /// assert_eq!(SequenceObjective::Act { tau: 0.01, eps: 0.1 }.penalty(), 0.01);
    /// assert_eq!(SequenceObjective::PonderNet { beta: 0.5, lambda: 0.2 }.penalty(), 0.2);
    /// ```
    pub fn penalty(&self) -> f64 {
        match *self {
            SequenceObjective::Act { tau, .. } => tau,
            SequenceObjective::Pact { lambda, .. }
            | SequenceObjective::PonderNet { lambda, .. } => lambda,
        }
    }

    /// The halting mode whose handlers the network's model ([`PonderingRnn::model`]) runs under
    /// while training with this objective.
    pub fn training_mode(&self) -> HaltingMode {
        match *self {
            SequenceObjective::Act { eps, .. } => HaltingMode::Act { eps },
            SequenceObjective::Pact {
                temperature,
                straight_through,
                ..
            } => HaltingMode::PactRelaxed {
                temperature,
                straight_through,
            },
            SequenceObjective::PonderNet { .. } => HaltingMode::PonderNet,
        }
    }
}

/// A mini-batch of a sequence task as the network takes it: the inputs as a tensor, the
/// targets, mask and lengths as host data (layouts of [`crate::data::SequenceSet`]).
#[derive(Clone, Debug)]
pub struct SequenceTensors {
    /// `[B, T, D]` inputs.
    pub inputs: Tensor,
    /// `[B, T, K]` target classes.
    pub targets: Vec<usize>,
    /// `[B, T]`: whether a step has targets.
    pub mask: Vec<bool>,
    /// `[B]` real steps per example.
    pub lengths: Vec<usize>,
    /// T.
    pub steps: usize,
    /// K, the classifications per step.
    pub outputs_per_step: usize,
    /// The classes of each classification.
    pub num_classes: usize,
}

impl SequenceTensors {
    /// The tensors of `batch`, a batch of a set of dimensions `dims` (its `examples` is
    /// ignored), in `dtype` on `device`.
    pub fn new(
        batch: SequenceBatch,
        dims: SequenceDims,
        dtype: DType,
        device: Device,
    ) -> Result<Self> {
        let b = batch.lengths.len();
        let (t, d, k) = (dims.steps, dims.input_size, dims.outputs_per_step);
        if batch.inputs.len() != b * t * d
            || batch.targets.len() != b * t * k
            || batch.mask.len() != b * t
        {
            return Err(Error::InvalidInput(format!(
                "a batch of {b} sequences does not match [B, T = {t}, D = {d}] inputs and K = {k} \
                 targets per step"
            )));
        }
        let inputs = if dtype == DType::F32 {
            Tensor::from_f32_vec(batch.inputs, [b, t, d], device)?
        } else {
            let values: Vec<f64> = batch.inputs.iter().map(|&v| f64::from(v)).collect();
            Tensor::from_f64_slice(&values, [b, t, d], dtype, device)?
        };
        Ok(SequenceTensors {
            inputs,
            targets: batch.targets,
            mask: batch.mask,
            lengths: batch.lengths,
            steps: t,
            outputs_per_step: k,
            num_classes: dims.num_classes,
        })
    }

    /// The batch size B.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// The per-example task loss `[B]`: cross-entropy summed over the masked targets, from
    /// logits `[B, T, K·C]`.
    pub fn task_loss(&self, logits: &Tensor) -> Result<Tensor> {
        let (b, t, k, c) = (
            self.len(),
            self.steps,
            self.outputs_per_step,
            self.num_classes,
        );
        let nll = logits
            .reshape([b * t * k, c])?
            .nll_per_example(&self.targets)?;
        let weights: Vec<f64> = self
            .mask
            .iter()
            .flat_map(|&m| std::iter::repeat_n(f64::from(u8::from(m)), k))
            .collect();
        let weights = Tensor::from_f64_slice(&weights, [b * t * k], nll.dtype(), nll.device())?;
        Ok(nll.mul(&weights)?.reshape([b, t * k])?.sum(1)?)
    }

    /// Scores logits `[B, T, K·C]` against the masked targets: per example, the targets hit
    /// and the targets there are.
    pub fn score(&self, logits: &Tensor) -> Result<Vec<(usize, usize)>> {
        let (b, t, k, c) = (
            self.len(),
            self.steps,
            self.outputs_per_step,
            self.num_classes,
        );
        let predicted = logits.reshape([b * t * k, c])?.argmax(1)?;
        Ok((0..b)
            .map(|i| {
                let mut hits = (0, 0);
                for s in (0..t).filter(|&s| self.mask[i * t + s]) {
                    for j in 0..k {
                        let flat = (i * t + s) * k + j;
                        hits.0 += usize::from(predicted[flat] == self.targets[flat]);
                        hits.1 += 1;
                    }
                }
                hits
            })
            .collect())
    }
}

/// Whole-sequence and per-element accuracy from [`SequenceTensors::score`]'s counts.
pub fn accuracies(scores: &[(usize, usize)]) -> (f64, f64) {
    let whole = scores.iter().filter(|(h, n)| h == n).count();
    let (hits, total) = scores
        .iter()
        .fold((0, 0), |(h, n), (sh, sn)| (h + sh, n + sn));
    (
        whole as f64 / scores.len().max(1) as f64,
        hits as f64 / total.max(1) as f64,
    )
}

/// The loss of one batch and what to log about it.
pub struct SequenceStepOutput {
    /// The scalar loss to minimise.
    pub loss: Tensor,
    /// Mean task loss per example (the cross-entropy part of the loss; for PonderNet its
    /// expectation under `q`).
    pub task_loss: f64,
    /// Fraction of examples with every target right.
    pub accuracy: f64,
    /// Fraction of targets right.
    pub element_accuracy: f64,
    /// Mean pondering steps per real input step: executed (ACT) or expected under `q` (PACT,
    /// PonderNet).
    pub ponder: f64,
}

/// The training loss of `net` on one batch under `objective` (see the module docs).
///
/// The network runs as a model of the modelling language ([`PonderingRnn::model`]) and the
/// loss is that of an objective of `pact-inference` over it, divided by the batch size:
///
/// - ACT: [`SvoMap`] over the model relaxed by
///   [`ActRelaxation`](crate::halting::ActRelaxation) (math §7): the rule runs the pondering
///   steps online and the prior term is `−τ (N + R)`;
/// - PACT: [`SvoMap`] through the Concrete (or straight-through) relaxation at the objective's
///   temperature, with the closed-form prior term `E_q[log p(N)] = −λ E_q[N] − log Z`;
/// - PonderNet: the β-ELBO `E_q[log p(y | N)] − β KL(q ‖ p_λ)` computed exactly
///   ([`Exact::elbo`] with [`Exact::beta`]) by enumerating every input step's halting site in
///   parallel; each step then passes on the expected state `Σ_n q(n) s_n`
///   ([`HaltingOutput::carry`](pact::ppl::HaltingOutput::carry)). A cell of one pondering step
///   has no halting site, and the objective is the log-likelihood.
///
/// The losses are those of math §2, §4 and §10 (the golden trajectories of the hand-written
/// losses they replaced reproduce to 1e-10), except for two constants without gradient: PACT's keeps each real step's `log Z`, and a cell of one
/// pondering step has no halting site, so ACT charges it nothing (its `N + R` was 2).
pub fn sequence_step(
    net: &PonderingRnn,
    batch: &SequenceTensors,
    objective: &SequenceObjective,
    rng: &mut Rng,
) -> Result<SequenceStepOutput> {
    objective.validate()?;
    if batch.is_empty() {
        return Err(Error::InvalidInput("an empty batch of sequences".into()));
    }
    let b = batch.len();
    let model = net.model(batch, objective.penalty(), true)?;
    let captured = RefCell::new(None);
    let capture = |ctx: &mut Ctx| -> pact::Result<()> {
        let out = model(ctx)?;
        *captured.borrow_mut() = Some(out);
        Ok(())
    };
    let no_guide = |_: &mut Ctx| -> pact::Result<()> { Ok(()) };
    let params = ParamStore::new(batch.inputs.dtype(), batch.inputs.device());
    let halting_sites = net.config().max_ponder > 1;
    let estimate = match *objective {
        SequenceObjective::Act { eps, .. } => act_estimate(eps, capture, &params, rng)?,
        SequenceObjective::Pact {
            temperature,
            straight_through,
            ..
        } => relaxed_pact_estimate(temperature, straight_through, &capture, &params, rng)?,
        // One plate axis: the batch. Knowing it spares a trial run of the model.
        SequenceObjective::PonderNet { beta, .. } if halting_sites => Exact::elbo()
            .beta(beta)
            .parallel(true)
            .max_plate_nesting(1)
            .estimate(&capture, &no_guide, &params, rng)?,
        // Nothing to enumerate: the objective is the log-likelihood.
        SequenceObjective::PonderNet { .. } => {
            SvoMap::new(Estimator::Concrete).estimate(&capture, &no_guide, &params, rng)?
        }
    };
    let out = captured
        .into_inner()
        .ok_or_else(|| Error::InvalidInput("the model did not run".into()))?;
    let loss = estimate.loss.mul_scalar(1.0 / b as f64)?;
    let (accuracy, element_accuracy) = accuracies(&batch.score(&out.logits)?);
    let real_steps = batch.lengths.iter().sum::<usize>().max(1) as f64;
    // Per input step and real example: E_q[N] where the step ran densely, else the steps run.
    let mut ponder = 0.0;
    let mut kl = 0.0;
    for (t, (ran, posterior)) in out.steps.iter().zip(&out.posteriors).enumerate() {
        let real: Vec<bool> = batch.lengths.iter().map(|&len| t < len).collect();
        let per_example = match (objective, posterior) {
            (SequenceObjective::Act { .. }, _) | (_, None) => {
                ran.iter().map(|&n| n as f64).collect()
            }
            (_, Some(q)) => {
                if let SequenceObjective::PonderNet { lambda, .. } = *objective {
                    let step_kl = pact::no_grad(|| {
                        kl_to_truncated_geometric(&q.log_probs().detach(), lambda)
                    })?;
                    kl += step_kl
                        .to_f64_vec()
                        .iter()
                        .zip(&real)
                        .filter(|(_, &r)| r)
                        .map(|(v, _)| v)
                        .sum::<f64>();
                }
                q.expected_n()?.to_f64_vec()
            }
        };
        ponder += per_example
            .iter()
            .zip(&real)
            .filter(|(_, &r)| r)
            .map(|(v, _)| v)
            .sum::<f64>();
    }
    let task_loss = match *objective {
        // The objective is −(Σ task) − β Σ KL over the batch.
        SequenceObjective::PonderNet { beta, .. } => (-estimate.objective - beta * kl) / b as f64,
        _ => pact::no_grad(|| -> Result<f64> {
            Ok(batch
                .task_loss(&out.logits.detach())?
                .mean_all()?
                .to_scalar()?)
        })?,
    };
    Ok(SequenceStepOutput {
        loss,
        task_loss,
        accuracy,
        element_accuracy,
        ponder: ponder / real_steps,
    })
}
