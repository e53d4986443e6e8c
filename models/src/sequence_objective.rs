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
//!   `mean_b [ task(b) + λ Σ_t E_q[N_t](b) ]` (the constant `log Z` per step is dropped);
//! - PonderNet (§10): `mean_b Σ_t [ Σ_n q_t(N = n) · task_t(b, ŷ_n) + β KL(q_t ‖ p_λ) ]`, with
//!   `ŷ_n` the output read from the `n`-th pondering state and `p_λ` the truncated geometric
//!   prior `∝ e^{−λn}` on `1..=M`. The state carried to the next input step is the expected
//!   state `Σ_n q_t(n) s_t^n`.

use crate::adaptive::HaltingMode;
use crate::data::{SequenceBatch, SequenceDims};
use crate::halting::kl_to_truncated_geometric;
use crate::recurrent::{PonderingOutput, PonderingRnn};
use crate::{Error, Result};
use pact::{DType, Device, Rng, Tensor};
use serde::{Deserialize, Serialize};

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

    /// The halting mode used while training with this objective.
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

    /// `[B]` indicator (as a tensor like `like`) of the examples whose step `t` is real.
    fn valid_at(&self, t: usize, like: &Tensor) -> Result<Tensor> {
        let v: Vec<f64> = self
            .lengths
            .iter()
            .map(|&len| f64::from(u8::from(t < len)))
            .collect();
        Ok(Tensor::from_f64_slice(
            &v,
            [v.len()],
            like.dtype(),
            like.device(),
        )?)
    }

    /// `[B]` indicator of the examples whose step `t` has targets.
    fn mask_at(&self, t: usize, like: &Tensor) -> Result<Tensor> {
        let v: Vec<f64> = (0..self.len())
            .map(|b| f64::from(u8::from(self.mask[b * self.steps + t])))
            .collect();
        Ok(Tensor::from_f64_slice(
            &v,
            [v.len()],
            like.dtype(),
            like.device(),
        )?)
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
    let out = net.forward(&batch.inputs, &objective.training_mode(), rng)?;
    let (accuracy, element_accuracy) = accuracies(&batch.score(&out.logits)?);
    let real_steps = batch.lengths.iter().sum::<usize>().max(1) as f64;
    let (per_example, task, ponder) = match *objective {
        SequenceObjective::Act { tau, .. } => {
            let task = batch.task_loss(&out.logits)?;
            let cost = per_step_sum(batch, &out, |block| {
                block
                    .ponder
                    .clone()
                    .ok_or_else(|| Error::InvalidInput("ACT block without ponder cost".into()))
            })?;
            let executed: usize = out
                .steps
                .iter()
                .enumerate()
                .map(|(t, block)| {
                    block
                        .units
                        .iter()
                        .zip(&batch.lengths)
                        .filter(|(_, &len)| t < len)
                        .map(|(&n, _)| n)
                        .sum::<usize>()
                })
                .sum();
            let total = task.add(&cost.mul_scalar(tau)?)?;
            (total, task, executed as f64 / real_steps)
        }
        SequenceObjective::Pact { lambda, .. } => {
            let task = batch.task_loss(&out.logits)?;
            let expected = per_step_sum(batch, &out, |block| {
                block
                    .expected_n
                    .clone()
                    .ok_or_else(|| Error::InvalidInput("PACT block without E_q[N]".into()))
            })?;
            let ponder = expected.sum_all()?.to_scalar()? / real_steps;
            let total = task.add(&expected.mul_scalar(lambda)?)?;
            (total, task, ponder)
        }
        SequenceObjective::PonderNet { beta, lambda } => {
            let (task, kl, expected) = ponder_net_terms(net, batch, &out, lambda)?;
            let ponder = expected.sum_all()?.to_scalar()? / real_steps;
            let total = task.add(&kl.mul_scalar(beta)?)?;
            (total, task, ponder)
        }
    };
    Ok(SequenceStepOutput {
        loss: per_example.mean_all()?,
        task_loss: task.mean_all()?.to_scalar()?,
        accuracy,
        element_accuracy,
        ponder,
    })
}

/// `Σ_t valid_t(b) · f(block_t)(b)`, `[B]`, over the input steps.
fn per_step_sum(
    batch: &SequenceTensors,
    out: &PonderingOutput,
    f: impl Fn(&crate::adaptive::BlockOutput) -> Result<Tensor>,
) -> Result<Tensor> {
    let mut total: Option<Tensor> = None;
    for (t, block) in out.steps.iter().enumerate() {
        let v = f(block)?;
        let term = v.mul(&batch.valid_at(t, &v)?)?;
        total = Some(match total {
            Some(acc) => acc.add(&term)?,
            None => term,
        });
    }
    total.ok_or_else(|| Error::InvalidInput("sequences of zero steps".into()))
}

/// PonderNet's per-example terms `[B]`: the expected task loss `Σ_t Σ_n q_t(n) task_t(ŷ_n)`,
/// `Σ_t KL(q_t ‖ p_λ)` over real steps, and `Σ_t E_q[N_t]` over real steps.
fn ponder_net_terms(
    net: &PonderingRnn,
    batch: &SequenceTensors,
    out: &PonderingOutput,
    lambda: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (b, t_max, k, c) = (
        batch.len(),
        batch.steps,
        batch.outputs_per_step,
        batch.num_classes,
    );
    let missing = |what: &str| Error::InvalidInput(format!("PonderNet block without {what}"));
    let (mut task, mut kl, mut expected): (Option<Tensor>, Option<Tensor>, Option<Tensor>) =
        (None, None, None);
    let add = |acc: Option<Tensor>, term: Tensor| -> Result<Option<Tensor>> {
        Ok(Some(match acc {
            Some(a) => a.add(&term)?,
            None => term,
        }))
    };
    for (t, block) in out.steps.iter().enumerate().take(t_max) {
        let states = block.states.as_ref().ok_or_else(|| missing("states"))?;
        let log_q = block.log_q.as_ref().ok_or_else(|| missing("log q"))?;
        let m = states.len();
        // Every state's readout at once: [M·B, K·C] → per (n, b) summed over the K outputs.
        let logits = net.readout(&Tensor::concat(states, 0)?)?;
        let labels: Vec<usize> = (0..m)
            .flat_map(|_| (0..b).flat_map(move |i| (0..k).map(move |j| (i, j))))
            .map(|(i, j)| batch.targets[(i * t_max + t) * k + j])
            .collect();
        let per_state = logits
            .reshape([m * b * k, c])?
            .nll_per_example(&labels)?
            .reshape([m, b, k])?
            .sum(2)?
            .transpose(0, 1)?;
        let q = log_q.exp()?;
        let step_task = q.mul(&per_state)?.sum(1)?;
        task = add(task, step_task.mul(&batch.mask_at(t, &q)?)?)?;
        let valid = batch.valid_at(t, &q)?;
        let step_kl = kl_to_truncated_geometric(log_q, lambda)?;
        kl = add(kl, step_kl.mul(&valid)?)?;
        let step_n = block.expected_n.as_ref().ok_or_else(|| missing("E_q[N]"))?;
        expected = add(expected, step_n.mul(&valid)?)?;
    }
    match (task, kl, expected) {
        (Some(a), Some(b), Some(c)) => Ok((a, b, c)),
        _ => Err(Error::InvalidInput("sequences of zero steps".into())),
    }
}
