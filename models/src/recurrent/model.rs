//! The pondering network as a model of the modelling language ([`pact::ppl`]).
//!
//! In the plate `batch` of the sequences, every input step `t` is one halting site
//! ([`Ctx::halting`]) named `step{t}`: a block of `M` pondering steps of the cell, whose prior is
//! the time-penalty law `p(N) ∝ e^{−λN}` on `1..=M` and whose posterior is the stick-breaking
//! law of the halting head's logits. The step's targets are observed as `y{t}` under the
//! readout of the block's output (`K` categorical classifications, one event). Both sit under
//! [`Ctx::masked`]: the halting site under the step's validity (`t` below the example's length,
//! so padding is never charged for pondering) and the observation under the step's target mask
//! as well (a step without targets, padding included, contributes nothing). The state passed to
//! the next input step is the block's [`carry`](pact::ppl::HaltingOutput::carry).
//!
//! How many steps run and what the loss is, is up to the handlers and the objective
//! ([`crate::sequence_objective`]): ACT is the model relaxed by
//! [`ActRelaxation`](crate::halting::ActRelaxation), PACT the model under `SvoMap`, PonderNet
//! the model under the β-ELBO computed exactly by enumerating each `step{t}` (its carry is then
//! the expected state `Σ_n q(n) s_n`).

use super::PonderingRnn;
use crate::halting::HaltingLaw;
use crate::sequence_objective::SequenceTensors;
use crate::{Error, Result};
use pact::dist::{Categorical, Distribution, Independent};
use pact::ppl::{Ctx, HaltingSite};
use pact::Tensor;
use std::sync::Arc;

/// The name of the plate over the sequences of a batch.
pub const BATCH_PLATE: &str = "batch";

/// The name of input step `t`'s halting site.
///
/// ```
/// assert_eq!(pact_models::recurrent::step_site(3), "step3");
/// ```
pub fn step_site(t: usize) -> String {
    format!("step{t}")
}

/// The name of input step `t`'s observed targets.
///
/// ```
/// assert_eq!(pact_models::recurrent::target_site(3), "y3");
/// ```
pub fn target_site(t: usize) -> String {
    format!("y{t}")
}

/// What one run of the model computed.
#[derive(Clone, Debug)]
pub struct SequenceModelOutput {
    /// Output logits per input step, `[B, T, K·C]`, read from the state each step passes on
    /// (under PonderNet's enumeration, the expected state).
    pub logits: Tensor,
    /// Per input step, the pondering steps each example ran.
    pub steps: Vec<Vec<usize>>,
    /// Per input step, the posterior `q(N_t | x)` where the step ran densely (`None` where it
    /// ran online, and for a cell of one pondering step, which has no halting site).
    pub posteriors: Vec<Option<HaltingLaw>>,
}

/// Per input step, what the model reads from the batch.
struct StepData {
    /// `[B, D + 1]` inputs with the first-step flag set, and with it cleared.
    first: Tensor,
    rest: Tensor,
    /// `[B]` validity (`t < length`) and target mask.
    valid: Tensor,
    mask: Tensor,
    /// `[B, K]` target classes as values.
    targets: Tensor,
}

/// What one input step's block computed.
struct Ran {
    /// `Σ_n w_n s_n` for the site's value (every `s_n` along an axis when enumerated).
    output: Tensor,
    /// The posterior expectation of the output, when the site is enumerated in parallel.
    expected: Option<Tensor>,
    steps: Vec<usize>,
    posterior: Option<HaltingLaw>,
}

impl PonderingRnn {
    /// The network on the sequences of `batch` as a model (see the [module docs](self)): one
    /// halting site per input step with time penalty `penalty` (none if the cell ponders at
    /// most once), and, if `observed`, the targets observed under the readout.
    ///
    /// ```
    /// use pact::nn::ParamStore;
    /// use pact::ppl::{decode, run, DecodeRule};
    /// use pact::{DType, Device, Rng};
    /// use pact_models::data::{SequenceBatch, SequenceDims};
    /// use pact_models::recurrent::{CellKind, PonderingConfig, PonderingRnn};
    /// use pact_models::sequence_objective::SequenceTensors;
    /// let config = PonderingConfig {
    ///     cell: CellKind::Lstm,
    ///     inputs: 1,
    ///     hidden: 3,
    ///     outputs: 2,
    ///     max_ponder: 4,
    ///     halting_bias: 0.0,
    /// };
    /// let store = ParamStore::new(DType::F64, Device::Cpu);
    /// let net = PonderingRnn::new(&store, config, &mut Rng::seed(0))?;
    /// // Two sequences padded to two steps; the second has one step.
    /// let batch = SequenceBatch {
    ///     inputs: vec![1.0, -1.0, 0.5, 0.0],
    ///     targets: vec![1, 0, 0, 0],
    ///     mask: vec![true, true, true, false],
    ///     lengths: vec![2, 1],
    /// };
    /// let dims = SequenceDims {
    ///     examples: 2,
    ///     steps: 2,
    ///     input_size: 1,
    ///     outputs_per_step: 1,
    ///     num_classes: 2,
    /// };
    /// let batch = SequenceTensors::new(batch, dims, DType::F64, Device::Cpu)?;
    /// // PACT's deterministic evaluation: each example stops at its first confident head.
    /// let model = decode(DecodeRule::Threshold(0.5), net.model(&batch, 0.01, true)?);
    /// let (out, trace) = run(&model, &store, &mut Rng::seed(1))?;
    /// assert_eq!(out.logits.dims(), [2, 2, 2]);
    /// assert!(trace.get("step1").unwrap().decoded);
    /// // The padding step of the second sequence is masked out of both sites.
    /// let mask = trace.get("y1").unwrap().mask.as_ref().unwrap().to_f64_vec();
    /// assert_eq!(mask, vec![1.0, 0.0]);
    /// # Ok::<(), pact_models::Error>(())
    /// ```
    pub fn model<'a>(
        &'a self,
        batch: &'a SequenceTensors,
        penalty: f64,
        observed: bool,
    ) -> Result<impl Fn(&mut Ctx) -> pact::Result<SequenceModelOutput> + 'a> {
        let inputs = &batch.inputs;
        let d = inputs.dims();
        let (b, t) = (batch.len(), batch.steps);
        let (k, c) = (batch.outputs_per_step, batch.num_classes);
        if d.len() != 3 || d[0] != b || d[1] != t || d[2] != self.config.inputs {
            return Err(Error::InvalidInput(format!(
                "inputs of shape {} for {b} sequences of {t} steps of {} features",
                inputs.shape(),
                self.config.inputs
            )));
        }
        if k * c != self.config.outputs {
            return Err(Error::InvalidInput(format!(
                "{k} classifications of {c} classes per step, but the network has {} outputs",
                self.config.outputs
            )));
        }
        let (dt, dev) = (inputs.dtype(), inputs.device());
        let site = match self.config.max_ponder {
            0 | 1 => None,
            m => {
                let prior = HaltingLaw::time_penalty_prior(penalty, m, dt, dev)?;
                Some(HaltingSite::new(m, Arc::new(prior), |logits: &Tensor| {
                    let law: Arc<dyn Distribution> =
                        Arc::new(HaltingLaw::posterior(logits.clone())?);
                    Ok(law)
                }))
            }
        };
        let flags = [
            Tensor::ones([b, 1], dt, dev),
            Tensor::zeros([b, 1], dt, dev),
        ];
        let column = |values: Vec<f64>, dims: Vec<usize>| -> Result<Tensor> {
            Ok(Tensor::from_f64_slice(&values, dims, dt, dev)?)
        };
        let mut data = Vec::with_capacity(t);
        for s in 0..t {
            let x = inputs.narrow(1, s, 1)?.squeeze(1)?;
            let valid: Vec<f64> = batch
                .lengths
                .iter()
                .map(|&len| f64::from(u8::from(s < len)))
                .collect();
            let mask: Vec<f64> = (0..b)
                .map(|i| f64::from(u8::from(batch.mask[i * t + s])))
                .collect();
            let targets: Vec<f64> = (0..b)
                .flat_map(|i| (0..k).map(move |j| (i, j)))
                .map(|(i, j)| batch.targets[(i * t + s) * k + j] as f64)
                .collect();
            data.push(StepData {
                first: Tensor::concat(&[x.clone(), flags[0].clone()], 1)?,
                rest: Tensor::concat(&[x, flags[1].clone()], 1)?,
                valid: column(valid, vec![b])?,
                mask: column(mask, vec![b])?,
                targets: column(targets, vec![b, k])?,
            });
        }
        let width = self.state_width();
        Ok(move |ctx: &mut Ctx| {
            ctx.plate(BATCH_PLATE, b, |ctx| {
                let mut state = Tensor::zeros([b, width], dt, dev);
                let mut logits = Vec::with_capacity(t);
                let mut steps = Vec::with_capacity(t);
                let mut posteriors = Vec::with_capacity(t);
                // The steps form a chain: each reads the state the one before passed on.
                ctx.markov(t, |ctx, s| {
                    let step = &data[s];
                    let input = |n: usize, rows: &[usize]| -> pact::Result<Tensor> {
                        let x = if n == 0 { &step.first } else { &step.rest };
                        // Online decoding compacts the batch: the rows still running.
                        if rows.len() == b {
                            Ok(x.clone())
                        } else {
                            x.index_select(0, rows)
                        }
                    };
                    let ran = ctx.masked(&step.valid, |ctx| {
                        let ran = match &site {
                            Some(site) => {
                                let out = ctx.halting(
                                    &step_site(s),
                                    site,
                                    &state,
                                    |n, h, rows| self.step(&input(n, rows)?, h),
                                    |_, h| self.halt.forward(&self.hidden_of(h)?)?.squeeze(1),
                                )?;
                                let posterior = out
                                    .posterior
                                    .as_ref()
                                    .and_then(|q| q.as_any())
                                    .and_then(|any| any.downcast_ref::<HaltingLaw>())
                                    .cloned();
                                Ran {
                                    output: out.output,
                                    expected: out.expected,
                                    steps: out.steps,
                                    posterior,
                                }
                            }
                            // One pondering step leaves nothing to decide.
                            None => {
                                let all: Vec<usize> = (0..b).collect();
                                Ran {
                                    output: self.step(&input(0, &all)?, &state)?,
                                    expected: None,
                                    steps: vec![1; b],
                                    posterior: None,
                                }
                            }
                        };
                        let read = self.read(&ran.output)?;
                        if observed && !read.to_f64_vec().iter().all(|v| v.is_finite()) {
                            // Diverged weights: a non-finite log-likelihood, which the
                            // trainer's guard reports with the step and the last good
                            // checkpoint (a categorical law refuses such logits).
                            let rows = &read.dims()[..read.rank() - 1];
                            let nan = Tensor::full(f64::NAN, rows, read.dtype(), read.device());
                            ctx.factor(&target_site(s), &nan)?;
                        } else if observed {
                            // [.., B, K·C] → K categorical classifications, one event.
                            let mut dims = read.dims().to_vec();
                            dims.pop();
                            dims.extend([k, c]);
                            let law = Independent::new(Categorical::new(read.reshape(dims)?)?, 1)?;
                            ctx.masked(&step.mask, |ctx| {
                                ctx.observe(&target_site(s), law, &step.targets)
                            })?;
                        }
                        Ok((ran, read))
                    })?;
                    let (ran, read) = ran;
                    // Under enumeration the block passes on (and reports) the expected state.
                    state = match ran.expected {
                        Some(expected) => {
                            logits.push(self.read(&expected)?);
                            expected
                        }
                        None => {
                            logits.push(read);
                            ran.output
                        }
                    };
                    steps.push(ran.steps);
                    posteriors.push(ran.posterior);
                    Ok(())
                })?;
                Ok(SequenceModelOutput {
                    logits: Tensor::stack(&logits, 1)?,
                    steps,
                    posteriors,
                })
            })
        })
    }
}
