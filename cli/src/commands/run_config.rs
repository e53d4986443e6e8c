//! What every `pact train` run shares, images and sequences alike: its settings
//! ([`TrainConfig`], read from TOML and checked by [`check`]), the optimiser and schedule they
//! name, the checkpoint metadata, the trainer, and the closing lines printed.

use crate::{CliError, Result};
use pact::collective::{Collective, SingleProcess};
use pact::nn::{Adam, AdamConfig, LrSchedule, Optimizer, ParamStore, Sgd, SgdConfig};
use pact_inference::{Trainer, TrainerConfig};
use pact_models::data::DataSpec;
use pact_models::recurrent_spec::{DEFAULT_MAX_PONDER, RECURRENT_HALTING_BIAS};
use pact_models::resnet::HALTING_BIAS;
use pact_models::spec::{ModelName, RecurrentName};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// How a training run is carried out, apart from its settings.
#[derive(Clone)]
pub struct TrainOptions {
    /// Continue from `OUT/last.safetensors`.
    pub resume: bool,
    /// Print the opening line and show the progress bar (on rank 0).
    pub verbose: bool,
    /// The replicas of a data-parallel run ([`SingleProcess`] for one process).
    pub group: Arc<dyn Collective>,
}

impl TrainOptions {
    /// One process, verbose.
    pub fn single(resume: bool) -> Self {
        TrainOptions {
            resume,
            verbose: true,
            group: Arc::new(SingleProcess),
        }
    }

    /// Whether this process prints (rank 0 of a verbose run).
    pub fn prints(&self) -> bool {
        self.verbose && self.group.rank() == 0
    }
}

/// Every hyperparameter of a run, as read from a TOML file (unknown keys are an error).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Model name: `resnet`, `act-resnet`, `pact-resnet`, `sact-resnet` or
    /// `spatial-pact-resnet`.
    pub model: String,
    /// Data spec.
    pub data: String,
    /// Residual units per stage.
    pub units: usize,
    /// Channels of the three stages.
    pub widths: [usize; 3],
    /// Epochs.
    pub epochs: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Seed of initialisation, data order, augmentation and relaxed sampling.
    pub seed: u64,
    /// `sgd` or `adam`.
    pub optimizer: String,
    /// Base learning rate.
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// `cosine` (to lr/100 over the run) or `constant`.
    pub schedule: String,
    /// ACT: weight τ of the ponder cost.
    pub tau: f64,
    /// PACT: time penalty λ of the truncated geometric prior.
    pub lambda: f64,
    /// PACT: Concrete temperature.
    pub temperature: f64,
    /// ACT and PACT ResNets: the fraction of the training steps over which τ or λ grows
    /// linearly from 0 to its value.
    pub penalty_warmup: f64,
    /// PACT: straight-through relaxed halting.
    pub straight_through: bool,
    /// PACT: the score-function (REINFORCE) estimator instead of the Concrete relaxation.
    pub score_function: bool,
    /// Initial bias of the halting heads.
    pub halting_bias: f64,
    /// Augment images (pad 4 + random crop + flip).
    pub augment: bool,
    /// Write a checkpoint every this many steps (and at the end).
    pub checkpoint_every: u64,
    /// Recurrent models: hidden units of the cell.
    pub hidden: usize,
    /// Recurrent models: the step cap `M`, the most pondering steps per input step.
    pub max_ponder: usize,
    /// Recurrent models: training steps, each on a freshly generated batch.
    pub steps: u64,
    /// PonderNet: weight β of `KL(q ‖ truncated geometric(λ))`.
    pub beta: f64,
    /// Recurrent models: initial bias of the halting head (Graves used +1 for ACT; `pact
    /// train` gives PACT and PonderNet −1 where neither the file nor a flag sets it).
    pub recurrent_halting_bias: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            model: "pact-resnet".into(),
            data: "shapes".into(),
            units: 5,
            widths: [16, 32, 64],
            epochs: 10,
            batch_size: 64,
            seed: 0,
            optimizer: "sgd".into(),
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 1e-4,
            schedule: "cosine".into(),
            tau: 0.01,
            lambda: 0.03,
            temperature: 0.5,
            penalty_warmup: 0.5,
            straight_through: false,
            score_function: false,
            halting_bias: HALTING_BIAS,
            augment: false,
            checkpoint_every: 200,
            hidden: 128,
            max_ponder: DEFAULT_MAX_PONDER,
            steps: 10_000,
            beta: 0.01,
            recurrent_halting_bias: RECURRENT_HALTING_BIAS,
        }
    }
}

impl TrainConfig {
    /// Parses the text of a `--config` TOML file (`source` names it in messages). Unknown
    /// keys and values of the wrong type are errors naming the file, the line and the key;
    /// the values themselves are checked later, by [`train`].
    pub fn from_toml(text: &str, source: &str) -> Result<TrainConfig> {
        toml::from_str::<TrainConfig>(text).map_err(|e| {
            let place = match e.span() {
                Some(span) => {
                    let start = span.start.min(text.len());
                    let line_no = text[..start].matches('\n').count() + 1;
                    let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
                    format!("{source}, line {line_no} ({line:?})")
                }
                None => source.to_string(),
            };
            CliError::Usage(format!("{place}: {}", e.message().trim()))
        })
    }
}

/// A setting that cannot be used: its TOML key and what is wrong with its value.
#[derive(Debug)]
pub struct InvalidSetting {
    /// The TOML key (the flag is the same with `--` and dashes).
    pub key: &'static str,
    /// What is wrong, e.g. `must be at least 1, got 0`.
    pub why: String,
}

impl std::fmt::Display for InvalidSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let flag = match self.key {
            // Settings that only the TOML file can give.
            "widths" | "momentum" | "weight_decay" | "halting_bias" => self.key.to_string(),
            key => format!("--{}", key.replace('_', "-")),
        };
        write!(f, "{flag}: {}", self.why)
    }
}

/// Checks every value of a run's settings (names, ranges, finiteness) without touching any
/// file; the error names the setting.
pub fn check(c: &TrainConfig) -> std::result::Result<(), InvalidSetting> {
    let bad = |key: &'static str, why: String| Err(InvalidSetting { key, why });
    let at_least_one = |key: &'static str, v: u64| {
        if v == 0 {
            bad(key, "must be at least 1, got 0".into())
        } else {
            Ok(())
        }
    };
    at_least_one("units", c.units as u64)?;
    at_least_one("epochs", c.epochs as u64)?;
    at_least_one("batch_size", c.batch_size as u64)?;
    at_least_one("checkpoint_every", c.checkpoint_every)?;
    if c.widths.contains(&0) {
        return bad(
            "widths",
            format!("must all be at least 1, got {:?}", c.widths),
        );
    }
    let finite = |key: &'static str, v: f64, ok: bool, rule: &str| {
        if ok && v.is_finite() {
            Ok(())
        } else {
            bad(key, format!("must be {rule}, got {v}"))
        }
    };
    finite("lr", c.lr, c.lr > 0.0, "positive")?;
    finite(
        "temperature",
        c.temperature,
        c.temperature > 0.0,
        "positive",
    )?;
    finite("tau", c.tau, c.tau >= 0.0, "≥ 0")?;
    finite(
        "penalty_warmup",
        c.penalty_warmup,
        (0.0..=1.0).contains(&c.penalty_warmup),
        "in [0, 1]",
    )?;
    finite("lambda", c.lambda, c.lambda >= 0.0, "≥ 0")?;
    finite("weight_decay", c.weight_decay, c.weight_decay >= 0.0, "≥ 0")?;
    finite(
        "momentum",
        c.momentum,
        (0.0..1.0).contains(&c.momentum),
        "in [0, 1)",
    )?;
    finite("halting_bias", c.halting_bias, true, "finite")?;
    at_least_one("hidden", c.hidden as u64)?;
    at_least_one("max_ponder", c.max_ponder as u64)?;
    at_least_one("steps", c.steps)?;
    finite(
        "recurrent_halting_bias",
        c.recurrent_halting_bias,
        true,
        "finite",
    )?;
    if !["sgd", "adam"].contains(&c.optimizer.as_str()) {
        return bad(
            "optimizer",
            format!("unknown optimizer '{}'; valid: sgd, adam", c.optimizer),
        );
    }
    if !["cosine", "constant"].contains(&c.schedule.as_str()) {
        return bad(
            "schedule",
            format!("unknown schedule '{}'; valid: cosine, constant", c.schedule),
        );
    }
    if ModelName::parse(&c.model).is_err() && RecurrentName::parse(&c.model).is_err() {
        return bad(
            "model",
            format!(
                "unknown model '{}'; valid models: {} (image data), {} (sequence tasks)",
                c.model,
                ModelName::ALL.map(|(n, _)| n).join(", "),
                RecurrentName::ALL.map(|(n, _)| n).join(", ")
            ),
        );
    }
    if let Err(e) = DataSpec::parse(&c.data) {
        return bad("data", e.to_string());
    }
    Ok(())
}

/// The last lines of `pact train`: where the checkpoint and the log are, or how to continue
/// an interrupted run.
pub fn print_outcome(interrupted: bool, steps: u64, seconds: f64, checkpoint: &Path, out: &Path) {
    if interrupted {
        println!(
            "interrupted at step {steps}; checkpoint saved to {}",
            checkpoint.display()
        );
        println!("continue with the same command and --resume");
    } else {
        println!("trained {steps} steps in {seconds:.1}s");
        println!("checkpoint: {}", checkpoint.display());
        println!("log:        {}", out.join("log.jsonl").display());
    }
}

/// The trainer of a `pact train` run, whichever optimiser its settings name.
pub type RunTrainer = Trainer<Box<dyn Optimizer>>;

/// The optimiser `c` names (`sgd` with momentum, or `adam`) over the trainable parameters of
/// `store`.
pub fn optimizer(c: &TrainConfig, store: &ParamStore) -> Box<dyn Optimizer> {
    let trainable = store.trainable();
    match c.optimizer.as_str() {
        "adam" => Box::new(Adam::new(
            trainable,
            AdamConfig {
                lr: c.lr,
                weight_decay: c.weight_decay,
                ..Default::default()
            },
        )),
        _ => Box::new(Sgd::new(
            trainable,
            SgdConfig {
                lr: c.lr,
                momentum: c.momentum,
                nesterov: false,
                weight_decay: c.weight_decay,
            },
        )),
    }
}

/// The learning-rate schedule `c` names, over a run of `total_steps` steps.
pub fn schedule(c: &TrainConfig, total_steps: u64) -> LrSchedule {
    match c.schedule.as_str() {
        "cosine" => LrSchedule::Cosine {
            base: c.lr,
            min: c.lr / 100.0,
            total_steps,
        },
        _ => LrSchedule::Constant { value: c.lr },
    }
}

/// Checkpoint metadata of a run: the model's description (`model`, a key and its JSON) and
/// the run's settings under `pact.train_config`.
pub fn run_metadata(c: &TrainConfig, model: (String, String)) -> Result<BTreeMap<String, String>> {
    let mut metadata: BTreeMap<String, String> = [model].into_iter().collect();
    metadata.insert(
        "pact.train_config".into(),
        serde_json::to_string(c).map_err(|e| CliError::Usage(e.to_string()))?,
    );
    Ok(metadata)
}

/// A trainer that stops cleanly on Ctrl-C, one replica of `options.group`, continued from
/// the latest checkpoint in `out` with `options.resume` (an error if there is none).
pub fn start_trainer(
    mut config: TrainerConfig,
    store: ParamStore,
    opt: Box<dyn Optimizer>,
    metadata: BTreeMap<String, String>,
    options: &TrainOptions,
    out: &Path,
) -> Result<RunTrainer> {
    config.progress &= options.verbose;
    let mut trainer = Trainer::new(config, store, opt)?
        .with_metadata(metadata)
        .with_replicas(options.group.clone())
        .stop_on_ctrl_c()?;
    if options.resume && !trainer.resume_latest()? {
        return Err(CliError::Usage(format!(
            "--resume: no checkpoint in {}",
            out.display()
        )));
    }
    Ok(trainer)
}
