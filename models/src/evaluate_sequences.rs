//! Evaluation of pondering recurrent networks on Graves' sequence tasks: accuracy (whole
//! sequence and per element), pondering steps per input step, FLOPs per example (math §9),
//! peak activation memory and speed.
//!
//! Accuracy follows each task's definition: an example counts as right only if every one of
//! its targets is (for parity, one target: the sign of the parity; for logic, addition and
//! sort, the whole output sequence), and `element_accuracy` counts the targets one by one.
//! Only real input steps count toward the pondering figures and FLOPs; padding does not.
//! In PACT's deterministic mode (§6) the rule applies at every input step: an example stops
//! pondering at the first `h ≥ 0.5` and leaves the batch until the next input step.
//!
//! The network runs as a model of the modelling language ([`PonderingRnn::model`]), under the
//! handlers of the halting mode asked for ([`run_in_mode`]).

use crate::data::SequenceSet;
use crate::mode::{drawn_steps, HaltingMode};
use crate::recurrent::{step_site, PonderingRnn, SequenceModelOutput};
use crate::sequence_objective::SequenceTensors;
use crate::{Error, Result};
use pact::nn::ParamStore;
use pact::ppl::{run, ParallelEnum, Select};
use pact::{DType, Device, Rng};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// What `pact eval` reports for a sequence task (its JSON keys are those of
/// [`crate::evaluate::EvalReport`] where they apply, plus the sequence-specific ones).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SequenceEvalReport {
    /// Fraction of examples with every target right (parity: the parity bit).
    pub accuracy: f64,
    /// Fraction of individual targets right.
    pub element_accuracy: f64,
    /// Mean FLOPs per example.
    pub flops_mean: f64,
    /// Standard deviation of FLOPs per example.
    pub flops_std: f64,
    /// Mean pondering steps per real input step, as a one-entry vector (the pondering cell is
    /// the network's one adaptive block), like the per-block units of image models.
    pub units_mean: Vec<f64>,
    /// Most bytes of activations held at once (tensor storage beyond the parameters and the
    /// input batch), over the whole evaluation.
    pub peak_activation_bytes: usize,
    /// Examples per second.
    pub examples_per_s: f64,
    /// The difficulty levels that occur in the set (the task's own measure: parity, the
    /// non-zero entries), ascending.
    pub difficulty_levels: Vec<usize>,
    /// Accuracy at each of `difficulty_levels`.
    pub accuracy_by_difficulty: Vec<f64>,
    /// Mean pondering steps per input step at each of `difficulty_levels`.
    pub units_by_difficulty: Vec<f64>,
}

/// Evaluates `net` on `set` in `mode` (no graph), in batches of `batch_size`, computing in
/// `dtype` on `device`.
pub fn evaluate_sequences(
    net: &PonderingRnn,
    set: &SequenceSet,
    mode: &HaltingMode,
    batch_size: usize,
    dtype: DType,
    device: Device,
) -> Result<SequenceEvalReport> {
    if set.is_empty() || batch_size == 0 {
        return Err(Error::InvalidInput(
            "evaluation needs at least one example and a batch size of at least 1".into(),
        ));
    }
    let c = net.config();
    if set.input_size != c.inputs || set.outputs_per_step * set.num_classes != c.outputs {
        return Err(Error::InvalidInput(format!(
            "{} has {} inputs and {}×{} outputs per step, but the network takes {} inputs and \
             gives {} outputs",
            set.name, set.input_size, set.outputs_per_step, set.num_classes, c.inputs, c.outputs
        )));
    }
    let n = set.len();
    let mut scores = Vec::with_capacity(n);
    let mut flops = Vec::with_capacity(n);
    // Per example: pondering steps summed over its real input steps.
    let mut pondered = Vec::with_capacity(n);
    let mut rng = Rng::seed(0);
    let mut peak = 0usize;
    let start = Instant::now();
    let indices: Vec<usize> = (0..n).collect();
    for chunk in indices.chunks(batch_size) {
        let batch = SequenceTensors::new(set.to_batch(chunk)?, set.dims(), dtype, device)?;
        let base = pact::memory::reset_peak();
        let out = pact::no_grad(|| run_in_mode(net, &batch, mode, &mut rng))?;
        scores.extend(batch.score(&out.logits)?);
        drop(out.logits);
        peak = peak.max(pact::memory::peak_bytes().saturating_sub(base));
        for (i, &len) in batch.lengths.iter().enumerate() {
            let steps: Vec<usize> = out.steps[..len].iter().map(|s| s[i]).collect();
            flops.push(net.flops(&steps) as f64);
            pondered.push(steps.iter().sum::<usize>());
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let (accuracy, element_accuracy) = crate::sequence_objective::accuracies(&scores);
    let count = n as f64;
    let flops_mean = flops.iter().sum::<f64>() / count;
    let flops_std = (flops.iter().map(|f| (f - flops_mean).powi(2)).sum::<f64>() / count).sqrt();
    let real_steps = set.lengths.iter().sum::<usize>().max(1);
    let mut levels: Vec<usize> = set.difficulty.clone();
    levels.sort_unstable();
    levels.dedup();
    let by_level = |value: &dyn Fn(usize) -> (f64, f64)| -> Vec<f64> {
        levels
            .iter()
            .map(|&level| {
                let (num, den) = (0..n)
                    .filter(|&i| set.difficulty[i] == level)
                    .map(value)
                    .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
                num / f64::max(den, 1.0)
            })
            .collect()
    };
    let accuracy_by_difficulty = by_level(&|i| {
        let (hits, total) = scores[i];
        (f64::from(u8::from(hits == total)), 1.0)
    });
    let units_by_difficulty = by_level(&|i| (pondered[i] as f64, set.lengths[i] as f64));
    Ok(SequenceEvalReport {
        accuracy,
        element_accuracy,
        flops_mean,
        flops_std,
        units_mean: vec![pondered.iter().sum::<usize>() as f64 / real_steps as f64],
        peak_activation_bytes: peak,
        examples_per_s: count / seconds.max(1e-9),
        difficulty_levels: levels,
        accuracy_by_difficulty,
        units_by_difficulty,
    })
}

/// Runs `net` on `batch` in `mode`: the network as a model ([`PonderingRnn::model`], nothing
/// observed) under the handlers of that mode ([`HaltingMode::run`]; see [`crate::mode`]):
///
/// | mode | handler |
/// |---|---|
/// | plain | [`full_depth`](pact::ppl::full_depth) |
/// | ACT | [`relax`](pact::ppl::relax) by [`ActRelaxation`](crate::halting::ActRelaxation) (online, streaming) |
/// | PACT, deterministic | [`decode`](pact::ppl::decode) by `DecodeRule::Threshold(0.5)` (online, compacting) |
/// | PACT, relaxed | [`relax`](pact::ppl::relax) by the Concrete (or straight-through) relaxation |
/// | PACT, sampled | none: each step's `N` is drawn from the heads' posterior |
/// | PonderNet | parallel enumeration: each step passes on `Σ_n q(n) s_n` |
///
/// A dense run (relaxed, sampled, PonderNet) computes every pondering step; the steps it
/// reports are `M`, except in the sampled mode, which reports the `N` it drew.
///
/// ```
/// use pact::nn::ParamStore;
/// use pact::{DType, Device, Rng};
/// use pact_models::mode::HaltingMode;
/// use pact_models::data::DataSpec;
/// use pact_models::evaluate_sequences::run_in_mode;
/// use pact_models::recurrent::{CellKind, PonderingConfig, PonderingRnn};
/// use pact_models::sequence_objective::SequenceTensors;
/// let set = DataSpec::parse("parity:4")?.generate_sequences(3, &mut Rng::seed(0))?;
/// let config = PonderingConfig {
///     cell: CellKind::Rnn,
///     inputs: 4,
///     hidden: 5,
///     outputs: 2,
///     max_ponder: 3,
///     halting_bias: 0.0,
/// };
/// let net = PonderingRnn::new(&ParamStore::new(DType::F64, Device::Cpu), config, &mut Rng::seed(1))?;
/// let batch = SequenceTensors::new(set.to_batch(&[0, 1, 2])?, set.dims(), DType::F64, Device::Cpu)?;
/// let out = run_in_mode(&net, &batch, &HaltingMode::PactDeterministic, &mut Rng::seed(2))?;
/// assert_eq!(out.logits.dims(), [3, 1, 2]);
/// assert!(out.steps[0].iter().all(|n| (1..=3).contains(n)));
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn run_in_mode(
    net: &PonderingRnn,
    batch: &SequenceTensors,
    mode: &HaltingMode,
    rng: &mut Rng,
) -> Result<SequenceModelOutput> {
    let model = net.model(batch, 0.0, false)?;
    let params = ParamStore::new(batch.inputs.dtype(), batch.inputs.device());
    if let HaltingMode::PonderNet = mode {
        let enumerated = ParallelEnum::new(Select::All)
            .max_plate_nesting(1)
            .wrap(&model);
        return Ok(run(&enumerated, &params, rng)?.0.output);
    }
    let (mut out, trace) = mode.run(&model, &params, rng)?;
    if let HaltingMode::PactSample = mode {
        for (t, steps) in out.steps.iter_mut().enumerate() {
            // The one-hot e_N drawn at each step (none for a cell of one pondering step).
            if let Some(site) = trace.get(&step_site(t)) {
                *steps = drawn_steps(site.value(), steps.len())?;
            }
        }
    }
    Ok(out)
}
