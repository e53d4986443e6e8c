//! The recurrent side of `pact train` and `pact eval`: pondering RNNs and LSTMs (math §10)
//! on Graves' generated sequence tasks (`parity`, `logic`, `addition`, `sort`).
//!
//! Training draws a fresh batch at every step, as Graves did, from a generator seeded by the
//! run's seed and the step number, so a resumed run sees exactly the batches the uninterrupted
//! one would have. The trainer's "epoch" is one such batch. Evaluation draws `--examples` test
//! sequences from a seed kept apart from every training seed.

use super::common::TEST_SEED_OFFSET;
use super::run_config::{
    check, optimizer, print_outcome, run_metadata, schedule, start_trainer, RunTrainer,
    TrainConfig, TrainOptions,
};
use crate::distributed;
use crate::{CliError, Result};
use pact::nn::{checkpoint, ParamStore};
use pact::{DType, Device, Rng};
use pact_inference::{StepOutput, Stop, TrainerConfig};
use pact_models::data::{DataKind, DataSpec, SequenceSet};
use pact_models::evaluate_sequences::SequenceEvalReport;
use pact_models::halting::ACT_EPSILON;
use pact_models::mode::HaltingMode;
use pact_models::recurrent::{CellKind, PonderingConfig, PonderingRnn};
use pact_models::recurrent_spec::RecurrentMethod;
use pact_models::sequence_objective::{sequence_step, SequenceObjective, SequenceTensors};
use pact_models::spec::{ModelName, RecurrentName, RecurrentSpec};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Seed offset of the generator of training batches (step `s` uses `seed + offset + s·φ`).
const TRAIN_SEED_OFFSET: u64 = 0x5e9_0000;

/// The dtype sequence models train and evaluate in.
pub const SEQUENCE_DTYPE: DType = DType::F32;

/// A model family named on the command line: an image ResNet or a pondering recurrent net.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// An adaptive ResNet (image data).
    Image(ModelName),
    /// A pondering RNN or LSTM (sequence tasks).
    Recurrent(RecurrentName),
}

impl Family {
    /// Parses `--model`; the error lists every valid name.
    pub fn parse(name: &str) -> Result<Family> {
        if let Ok(n) = ModelName::parse(name) {
            return Ok(Family::Image(n));
        }
        if let Ok(n) = RecurrentName::parse(name) {
            return Ok(Family::Recurrent(n));
        }
        Err(CliError::Usage(format!(
            "unknown model '{name}'; valid models: {} (image data), {} (sequence tasks)",
            ModelName::ALL.map(|(n, _)| n).join(", "),
            RecurrentName::ALL.map(|(n, _)| n).join(", ")
        )))
    }

    /// Checks that `data` is the kind of data the family takes; the one-line error names both.
    pub fn check_data(self, data: &str) -> Result<DataSpec> {
        let spec = DataSpec::parse(data)?;
        match (self, spec.kind()) {
            (Family::Image(_), DataKind::Images) | (Family::Recurrent(_), DataKind::Sequences) => {
                Ok(spec)
            }
            (Family::Image(n), DataKind::Sequences) => Err(CliError::Usage(format!(
                "model {} is an image model but data {data} is a sequence task; for sequence \
                 tasks use a recurrent model ({})",
                n.as_str(),
                RecurrentName::ALL.map(|(n, _)| n).join(", ")
            ))),
            (Family::Recurrent(n), DataKind::Images) => Err(CliError::Usage(format!(
                "model {} is a recurrent model but data {data} is an image set; recurrent models \
                 take sequence tasks (parity[:B], logic[:GATES], addition[:DIGITS], sort[:LEN])",
                n.as_str()
            ))),
        }
    }
}

/// `pact train` for recurrent models: checks that `--model` and `--data` go together (for every
/// family), and trains and reports if the model is recurrent. `Ok(false)` leaves an image
/// model to the ResNet path.
pub fn run_if_recurrent(
    c: &TrainConfig,
    out: &Path,
    options: &TrainOptions,
    device: Device,
) -> Result<bool> {
    let family = Family::parse(&c.model)?;
    family.check_data(&c.data)?;
    let Family::Recurrent(name) = family else {
        return Ok(false);
    };
    let trained = train(c, name, out, options, device)?;
    if options.group.rank() == 0 {
        print_outcome(
            trained.interrupted,
            trained.steps,
            trained.seconds,
            &trained.checkpoint,
            out,
        );
    }
    Ok(true)
}

/// Gives a recurrent run the settings that suit it where neither the TOML file nor a flag set
/// them (`given` holds the keys that were set): Adam at lr 0.01 with a constant schedule, no
/// weight decay, batches of 128 (Graves'); penalties τ = λ = 0.001; the halting bias +1 for ACT (Graves)
/// but −1 for PACT and PonderNet, and PACT's Concrete temperature 2. The image defaults (SGD at
/// 0.1, cosine, weight decay 1e-4) leave a parity RNN at chance, and so do, for PACT, a bias of
/// +1, temperature 0.5 or λ = 0.01: its relaxed RNN settles on a single pondering step before
/// it has learnt anything, and one step of a tanh RNN does not find parity:8 in 5000 steps.
/// Batches of 32 left parity:8 unsolved after 5000 steps in 2 of 5 seeds for PACT (73%, 86%)
/// and 2 of 5 for ACT (97%, 94%): the task sits at chance for thousands of steps before the
/// loss breaks through, and small batches break through later. With 128, all of 10 seeds
/// reached ≥ 99.8% for both, at 1.4× the time. Image models are left alone.
pub fn apply_recurrent_defaults(c: &mut TrainConfig, given: &BTreeSet<String>) {
    let Ok(Family::Recurrent(name)) = Family::parse(&c.model) else {
        return;
    };
    let unset = |key: &str| !given.contains(key);
    if unset("optimizer") {
        c.optimizer = "adam".into();
    }
    if unset("lr") {
        c.lr = 0.01;
    }
    if unset("schedule") {
        c.schedule = "constant".into();
    }
    if unset("weight_decay") {
        c.weight_decay = 0.0;
    }
    if unset("batch_size") {
        c.batch_size = 128;
    }
    if unset("tau") {
        c.tau = 0.001;
    }
    if unset("lambda") {
        c.lambda = 0.001;
    }
    if unset("recurrent_halting_bias") && name.method() != RecurrentMethod::Act {
        c.recurrent_halting_bias = -1.0;
    }
    if unset("temperature") && name.method() == RecurrentMethod::Pact {
        c.temperature = 2.0;
    }
}

/// The training objective of a recurrent family under the settings `c`.
fn objective(name: RecurrentName, c: &TrainConfig) -> SequenceObjective {
    match name.method() {
        RecurrentMethod::Act => SequenceObjective::Act {
            tau: c.tau,
            eps: ACT_EPSILON,
        },
        RecurrentMethod::Pact => SequenceObjective::Pact {
            lambda: c.lambda,
            temperature: c.temperature,
            straight_through: c.straight_through,
        },
        RecurrentMethod::PonderNet => SequenceObjective::PonderNet {
            beta: c.beta,
            lambda: c.lambda,
        },
    }
}

/// The batch of training step `step` (1-based), fresh from a generator of its own.
fn training_batch(data: &DataSpec, c: &TrainConfig, step: u64) -> Result<SequenceSet> {
    let seed = c
        .seed
        .wrapping_add(TRAIN_SEED_OFFSET)
        .wrapping_add(step.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    Ok(data.generate_sequences(c.batch_size, &mut Rng::seed(seed))?)
}

/// `n` test sequences of `data`, from a seed that depends on `seed` but never meets a training
/// batch's.
pub fn test_sequences(data: &DataSpec, n: usize, seed: u64) -> Result<SequenceSet> {
    if n == 0 {
        return Err(CliError::Usage("--examples must be at least 1".into()));
    }
    Ok(data.generate_sequences(n, &mut Rng::seed(seed.wrapping_add(TEST_SEED_OFFSET)))?)
}

/// A finished (or interrupted) recurrent training run.
pub struct TrainedSequence {
    /// The trained network (its parameters live in the run's store).
    pub net: PonderingRnn,
    /// Steps completed.
    pub steps: u64,
    /// Wall-clock seconds of this call.
    pub seconds: f64,
    /// Whether Ctrl-C stopped it early.
    pub interrupted: bool,
    /// The last checkpoint.
    pub checkpoint: PathBuf,
}

/// Trains the recurrent model `name` on the sequence task `c.data` for `c.steps` steps, writing
/// checkpoints and `log.jsonl` to `out`.
pub fn train(
    c: &TrainConfig,
    name: RecurrentName,
    out: &Path,
    options: &TrainOptions,
    device: Device,
) -> Result<TrainedSequence> {
    check(c).map_err(|invalid| CliError::Usage(invalid.to_string()))?;
    let data = Family::Recurrent(name).check_data(&c.data)?;
    let objective = objective(name, c);
    objective.validate()?;
    std::fs::create_dir_all(out).map_err(|e| CliError::Io {
        path: out.display().to_string(),
        source: e,
    })?;
    let probe = training_batch(&data, c, 1)?;
    distributed::check::agree_on_training(&options.group, c, out, options.resume, device, || {
        distributed::check::describe_sequences(&probe)
    })?;
    let network = PonderingConfig {
        cell: name.cell(),
        inputs: probe.input_size,
        hidden: c.hidden,
        outputs: probe.outputs_per_step * probe.num_classes,
        max_ponder: c.max_ponder,
        halting_bias: c.recurrent_halting_bias,
    };
    let spec = RecurrentSpec {
        name,
        network: network.clone(),
        data: c.data.clone(),
    };
    let store = ParamStore::new(SEQUENCE_DTYPE, device);
    let net = PonderingRnn::new(&store, network, &mut Rng::seed(c.seed))?;
    if options.prints() {
        println!(
        "pact train: {} ({} of {} units, at most {} pondering steps, {} trainable parameters) on \
         {} (fresh batches of {} sequences of at most {} steps, {} inputs and {}×{} outputs \
         per step)",
        name.as_str(),
        cell_name(name.cell()),
        c.hidden,
        c.max_ponder,
        store.num_trainable(),
        c.data,
        c.batch_size,
        probe.steps,
        probe.input_size,
        probe.outputs_per_step,
        probe.num_classes
    );
    }
    let trainer_config = TrainerConfig {
        seed: c.seed,
        batch_size: c.batch_size,
        stop: Stop::Steps(c.steps),
        shuffle: false,
        schedule: Some(schedule(c, c.steps)),
        clip_grad_norm: Some(CLIP_GRAD_NORM),
        checkpoint_dir: Some(out.to_path_buf()),
        checkpoint_every: Some(c.checkpoint_every.max(1)),
        log_path: Some(out.join("log.jsonl")),
        progress: true,
        ..Default::default()
    };
    let metadata = run_metadata(c, spec.to_metadata()?)?;
    let run = Run {
        device,
        data: &data,
        config: c,
        net: &net,
        objective: &objective,
    };
    let opt = optimizer(c, &store);
    let trainer = start_trainer(trainer_config, store, opt, metadata, options, out)?;
    let summary = run.fit(trainer)?;
    Ok(TrainedSequence {
        net,
        steps: summary.step,
        seconds: summary.elapsed.as_secs_f64(),
        interrupted: summary.interrupted,
        checkpoint: summary
            .last_checkpoint
            .unwrap_or_else(|| out.join("last.safetensors")),
    })
}

/// Gradients are rescaled to at most this global norm (recurrent nets are prone to spikes).
pub const CLIP_GRAD_NORM: f64 = 5.0;

fn cell_name(cell: CellKind) -> &'static str {
    match cell {
        CellKind::Rnn => "tanh RNN",
        CellKind::Lstm => "LSTM",
    }
}

/// What one recurrent training run works on.
struct Run<'a> {
    device: Device,
    data: &'a DataSpec,
    config: &'a TrainConfig,
    net: &'a PonderingRnn,
    objective: &'a SequenceObjective,
}

impl Run<'_> {
    fn fit(&self, mut trainer: RunTrainer) -> Result<pact_inference::TrainSummary> {
        let summary = trainer.fit(self.config.batch_size, |batch, rng| {
            // The step's global batch, generated alike on every rank; this replica's rows
            // (all of them in one process).
            let set = training_batch(self.data, self.config, batch.step)
                .map_err(pact_inference::Error::step)?;
            let tensors = SequenceTensors::new(
                set.to_batch(batch.indices)
                    .map_err(pact_inference::Error::step)?,
                set.dims(),
                SEQUENCE_DTYPE,
                self.device,
            )
            .map_err(pact_inference::Error::step)?;
            let out = sequence_step(self.net, &tensors, self.objective, rng)
                .map_err(pact_inference::Error::step)?;
            Ok(StepOutput::new(out.loss)
                .metric("accuracy", out.accuracy)
                .metric("element_accuracy", out.element_accuracy)
                .metric("task_loss", out.task_loss)
                // As the image models' per-block `units_b`: the pondering cell is one block.
                .metric("units_1", out.ponder))
        })?;
        Ok(summary)
    }
}

/// Reads a checkpoint's recurrent model, if it holds one: the spec, the network with its
/// weights, and their store. `Ok(None)` for a missing file or a checkpoint of another kind
/// (the image path reports those).
pub fn load_recurrent(
    path: &Path,
    device: Device,
) -> Result<Option<(RecurrentSpec, PonderingRnn, ParamStore)>> {
    if !path.exists() {
        return Ok(None);
    }
    let shown = path.display().to_string();
    let ckpt = checkpoint::load(path, device)?;
    let Some(spec) = RecurrentSpec::from_metadata(&ckpt.metadata, &shown)? else {
        return Ok(None);
    };
    let store = ParamStore::new(SEQUENCE_DTYPE, device);
    let net = PonderingRnn::new(&store, spec.network.clone(), &mut Rng::seed(0))?;
    checkpoint::load_into_store(&store, path)?;
    Ok(Some((spec, net, store)))
}

/// Checks that the sequence set fits the network a checkpoint holds; the error names both.
pub fn check_fits(spec: &RecurrentSpec, data: &str, set: &SequenceSet) -> Result<()> {
    let n = &spec.network;
    if set.input_size != n.inputs || set.outputs_per_step * set.num_classes != n.outputs {
        return Err(CliError::Usage(format!(
            "data {data} has {} inputs and {}×{} outputs per step but the model was trained on {} \
             ({} inputs, {} outputs per step)",
            set.input_size, set.outputs_per_step, set.num_classes, spec.data, n.inputs, n.outputs
        )));
    }
    Ok(())
}

/// The JSON line `pact eval --json` prints for a sequence task (and the demo stores as
/// `eval.json`): the report's keys plus the model name and halting mode.
pub fn sequence_eval_json(
    report: &SequenceEvalReport,
    model: &str,
    mode: &HaltingMode,
) -> Result<String> {
    let mut v = serde_json::to_value(report).map_err(|e| CliError::Usage(e.to_string()))?;
    v["model"] = model.into();
    v["mode"] = mode.name().into();
    Ok(v.to_string())
}

/// Prints a sequence evaluation for people.
pub fn print_report(
    spec: &RecurrentSpec,
    mode: &HaltingMode,
    set: &SequenceSet,
    report: &SequenceEvalReport,
) {
    println!(
        "model        {} ({} of {} units, at most {} pondering steps), mode {}",
        spec.name.as_str(),
        cell_name(spec.network.cell),
        spec.network.hidden,
        spec.network.max_ponder,
        mode.name()
    );
    println!("examples     {} {} sequences", set.len(), set.name);
    println!(
        "accuracy     {:.2}% of sequences, {:.2}% of elements",
        100.0 * report.accuracy,
        100.0 * report.element_accuracy
    );
    println!(
        "FLOPs        {:.3e} ± {:.3e} per example",
        report.flops_mean, report.flops_std
    );
    println!(
        "pondering    {:.2} steps per input step (mean)",
        report.units_mean[0]
    );
    let by: Vec<String> = report
        .difficulty_levels
        .iter()
        .zip(&report.accuracy_by_difficulty)
        .zip(&report.units_by_difficulty)
        .map(|((l, a), u)| format!("{l}: {:.0}% / {u:.2}", 100.0 * a))
        .collect();
    println!("by difficulty (accuracy / pondering): {}", by.join(", "));
    println!(
        "activations  {:.2} MiB at peak",
        report.peak_activation_bytes as f64 / (1 << 20) as f64
    );
    println!("speed        {:.0} examples/s", report.examples_per_s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recurrent_defaults_fill_only_what_was_not_given() {
        let config = |model: &str| TrainConfig {
            model: model.into(),
            data: "parity:8".into(),
            ..TrainConfig::default()
        };
        let mut act = config("act-rnn");
        apply_recurrent_defaults(&mut act, &BTreeSet::new());
        assert_eq!((act.optimizer.as_str(), act.lr), ("adam", 0.01));
        assert_eq!((act.schedule.as_str(), act.weight_decay), ("constant", 0.0));
        assert_eq!((act.batch_size, act.tau, act.lambda), (128, 0.001, 0.001));
        assert_eq!(act.recurrent_halting_bias, 1.0);
        assert_eq!(act.temperature, TrainConfig::default().temperature);

        let mut pact = config("pact-lstm");
        let given: BTreeSet<String> = ["lr", "temperature"].map(String::from).into();
        pact.lr = 0.5;
        pact.temperature = 0.7;
        apply_recurrent_defaults(&mut pact, &given);
        assert_eq!((pact.lr, pact.temperature), (0.5, 0.7));
        assert_eq!(pact.recurrent_halting_bias, -1.0);

        let mut ponder = config("pondernet-rnn");
        apply_recurrent_defaults(&mut ponder, &BTreeSet::new());
        assert_eq!(ponder.recurrent_halting_bias, -1.0);
        assert_eq!(ponder.temperature, TrainConfig::default().temperature);

        let mut image = config("act-resnet");
        apply_recurrent_defaults(&mut image, &BTreeSet::new());
        assert_eq!(
            serde_json::to_string(&image).unwrap(),
            serde_json::to_string(&config("act-resnet")).unwrap()
        );
    }
}
