//! `pact train`: trains an adaptive ResNet on an image data set, or a pondering RNN/LSTM on a
//! sequence task ([`super::sequence`]). Every hyperparameter can be set in a TOML file
//! (`--config`) and overridden by a flag; checkpoints (`last.safetensors`) and a JSON-lines log
//! go to `--out`.

use super::common::load_images;
use super::sequence;
use crate::{CliError, Result};
use pact::nn::{Adam, AdamConfig, LrSchedule, Optimizer, ParamStore, Sgd, SgdConfig};
use pact::{DType, Device, Rng, Tensor};
use pact_inference::{StepOutput, Stop, Trainer, TrainerConfig};
use pact_models::data::augment::Augment;
use pact_models::data::{DataSpec, ImageSet, Split};
use pact_models::halting::ACT_EPSILON;
use pact_models::objective::{image_step, Objective, PenaltyWarmup};
use pact_models::recurrent_spec::{DEFAULT_MAX_PONDER, RECURRENT_HALTING_BIAS};
use pact_models::resnet::{ResNet, ResNetConfig, HALTING_BIAS};
use pact_models::spec::{ModelName, ModelSpec, RecurrentName};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    /// Recurrent models: initial bias of the halting head (Graves used +1 for ACT; see
    /// [`sequence::apply_recurrent_defaults`] for PACT and PonderNet).
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

/// Arguments of `pact train` (flags override `--config`).
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Model. Image data: `resnet` (plain), `act-resnet`, `pact-resnet`, `sact-resnet`,
    /// `spatial-pact-resnet`. Sequence tasks: a
    /// pondering tanh RNN or LSTM (step cap --max-ponder), trained with ACT, PACT or PonderNet:
    /// `act-rnn`, `pact-rnn`, `pondernet-rnn`, `act-lstm`, `pact-lstm`, `pondernet-lstm`.
    /// Recurrent runs default to Adam, --lr 0.01, a constant schedule, no weight decay,
    /// --batch-size 128 and --tau = --lambda = 0.001; halting bias +1 for ACT (Graves), −1 for
    /// PACT and PonderNet; PACT at --temperature 2 (flags and TOML keys override these)
    /// [default: pact-resnet]
    #[arg(long)]
    pub model: Option<String>,
    /// Data spec. Images: `shapes[:N[:SIZE[:NOISE]]]`, `cifar10:DIR`, `mnist:DIR`, `fashion-mnist[:DIR]`, `csv:FILE:CxHxW`.
    /// Sequence tasks (generated): `parity[:B]`, `logic[:GATES]`, `addition[:DIGITS]`,
    /// `sort[:LEN]` [default: shapes]
    #[arg(long)]
    pub data: Option<String>,
    /// TOML file of settings, snake_case keys (e.g. `batch_size = 64`; every key, with its default,
    /// in docs/reference/config.md); flags given with it override the file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output directory for checkpoints and the log.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue from `OUT/last.safetensors` with the same settings.
    #[arg(long)]
    pub resume: bool,
    /// Residual units per stage (5: ResNet-32, 18: ResNet-110) [default: 5]
    #[arg(long)]
    pub units: Option<usize>,
    /// Epochs [default: 10]
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Batch size (recurrent models: 128) [default: 64]
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Seed of initialisation, data order, augmentation, relaxed sampling and generated data
    /// [default: 0]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Optimiser: `sgd` (momentum) or `adam` [default: sgd]
    #[arg(long)]
    pub optimizer: Option<String>,
    /// Learning rate [default: 0.1]
    #[arg(long)]
    pub lr: Option<f64>,
    /// Schedule: `cosine` or `constant` [default: cosine]
    #[arg(long)]
    pub schedule: Option<String>,
    /// ACT ponder-cost weight τ [default: 0.01]
    #[arg(long)]
    pub tau: Option<f64>,
    /// PACT time penalty λ (larger: fewer units; docs/RESULTS.md shows the trade-off on
    /// Fashion-MNIST) [default: 0.03]
    #[arg(long)]
    pub lambda: Option<f64>,
    /// PACT Concrete temperature [default: 0.5]
    #[arg(long)]
    pub temperature: Option<f64>,
    /// ACT and PACT ResNets: fraction of the training steps over which --tau or --lambda grows
    /// linearly from 0 to its value (0 applies it from the first step) [default: 0.5]
    #[arg(long)]
    pub penalty_warmup: Option<f64>,
    /// PACT straight-through halting.
    #[arg(long)]
    pub straight_through: bool,
    /// PACT with the score-function (REINFORCE) estimator instead of the Concrete relaxation.
    #[arg(long)]
    pub score_function: bool,
    /// Augment images (pad 4, random crop, flip).
    #[arg(long)]
    pub augment: bool,
    /// Checkpoint every N steps [default: 200]
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    /// Recurrent models: hidden units [default: 128]
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Recurrent models: step cap M, the most pondering steps per input step [default: 100]
    #[arg(long)]
    pub max_ponder: Option<usize>,
    /// Recurrent models: training steps, each on a fresh batch (--epochs applies to images)
    /// [default: 10000]
    #[arg(long)]
    pub steps: Option<u64>,
    /// PonderNet: KL weight β (the prior's λ is --lambda) [default: 0.01]
    #[arg(long)]
    pub beta: Option<f64>,
    /// Recurrent models: initial halting bias (TOML `recurrent_halting_bias`; ResNets use
    /// `halting_bias`, −3) [default: 1 for ACT, −1 for PACT and PonderNet]
    #[arg(long, allow_hyphen_values = true)]
    pub recurrent_halting_bias: Option<f64>,
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

fn merge(args: &TrainArgs) -> Result<TrainConfig> {
    // The keys the file or a flag sets (recurrent runs have other defaults for the rest).
    let mut given = std::collections::BTreeSet::new();
    let mut c = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| CliError::Io {
                path: path.display().to_string(),
                source: e,
            })?;
            if let Ok(table) = toml::from_str::<toml::Table>(&text) {
                given.extend(table.keys().cloned());
            }
            TrainConfig::from_toml(&text, &path.display().to_string())?
        }
        None => TrainConfig::default(),
    };
    macro_rules! set {
        ($($field:ident),*) => { $(if let Some(v) = &args.$field {
            c.$field = v.clone();
            given.insert(stringify!($field).to_string());
        })* };
    }
    set!(
        model,
        data,
        units,
        epochs,
        batch_size,
        seed,
        optimizer,
        lr,
        schedule,
        tau,
        lambda,
        temperature,
        penalty_warmup,
        checkpoint_every,
        hidden,
        max_ponder,
        steps,
        beta,
        recurrent_halting_bias
    );
    c.straight_through |= args.straight_through;
    c.score_function |= args.score_function;
    c.augment |= args.augment;
    sequence::apply_recurrent_defaults(&mut c, &given);
    // Values are checked here, where it is known whether a flag or the file gave them, so
    // that the message names the one the user wrote.
    check(&c).map_err(|invalid| {
        let from_file = args
            .config
            .as_ref()
            .filter(|_| !given_as_flag(args, invalid.key));
        CliError::Usage(match from_file {
            Some(path) => format!("{}: {}: {}", path.display(), invalid.key, invalid.why),
            None => invalid.to_string(),
        })
    })?;
    Ok(c)
}

/// Whether the setting with TOML key `key` was given as a flag.
fn given_as_flag(args: &TrainArgs, key: &str) -> bool {
    match key {
        "model" => args.model.is_some(),
        "data" => args.data.is_some(),
        "units" => args.units.is_some(),
        "epochs" => args.epochs.is_some(),
        "batch_size" => args.batch_size.is_some(),
        "optimizer" => args.optimizer.is_some(),
        "lr" => args.lr.is_some(),
        "schedule" => args.schedule.is_some(),
        "tau" => args.tau.is_some(),
        "lambda" => args.lambda.is_some(),
        "temperature" => args.temperature.is_some(),
        "penalty_warmup" => args.penalty_warmup.is_some(),
        "checkpoint_every" => args.checkpoint_every.is_some(),
        _ => false,
    }
}

fn objective(name: ModelName, c: &TrainConfig) -> Objective {
    match name {
        ModelName::Resnet => Objective::Plain,
        ModelName::ActResnet | ModelName::SactResnet => Objective::Act {
            tau: c.tau,
            eps: ACT_EPSILON,
        },
        ModelName::PactResnet | ModelName::SpatialPactResnet if c.score_function => {
            Objective::PactScoreFunction { lambda: c.lambda }
        }
        ModelName::PactResnet | ModelName::SpatialPactResnet => Objective::Pact {
            lambda: c.lambda,
            temperature: c.temperature,
            straight_through: c.straight_through,
        },
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

/// Runs `pact train`.
pub fn run(args: TrainArgs, device: Device) -> Result<()> {
    let c = merge(&args)?;
    if sequence::run_if_recurrent(&c, &args.out, args.resume, device)? {
        return Ok(());
    }
    let trained = train(&c, &args.out, args.resume, device)?;
    print_outcome(
        trained.interrupted,
        trained.steps,
        trained.seconds,
        &trained.checkpoint,
        &args.out,
    );
    Ok(())
}

/// The last lines of `pact train`: where the checkpoint and the log are, or how to continue
/// an interrupted run.
pub(super) fn print_outcome(
    interrupted: bool,
    steps: u64,
    seconds: f64,
    checkpoint: &Path,
    out: &Path,
) {
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

/// A finished (or interrupted) training run.
pub struct Trained {
    /// What the checkpoint describes.
    pub spec: ModelSpec,
    /// The trained network (its parameters live in the run's store).
    pub net: ResNet,
    /// Steps completed.
    pub steps: u64,
    /// Wall-clock seconds of this call.
    pub seconds: f64,
    /// Whether Ctrl-C stopped it early.
    pub interrupted: bool,
    /// The last checkpoint.
    pub checkpoint: PathBuf,
}

/// Trains the model `c` describes, writing checkpoints and `log.jsonl` to `out`.
pub fn train(c: &TrainConfig, out: &Path, resume: bool, device: Device) -> Result<Trained> {
    check(c).map_err(|e| CliError::Usage(e.to_string()))?;
    let name = ModelName::parse(&c.model)?;
    let objective = objective(name, c);
    objective.validate()?;
    std::fs::create_dir_all(out).map_err(|e| CliError::Io {
        path: out.display().to_string(),
        source: e,
    })?;
    let (_, train) = load_images(&c.data, Split::Train, c.seed)?;
    let [channels, height, width] = train.shape();
    if height % 4 != 0 || width % 4 != 0 {
        return Err(CliError::Usage(format!(
            "--data {}: images of {channels}x{height}x{width} do not fit the ResNet, which \
             halves their height and width twice: both must be multiples of 4",
            c.data
        )));
    }
    let resnet = ResNetConfig {
        units_per_stage: c.units,
        widths: c.widths,
        in_channels: channels,
        num_classes: train.num_classes,
        halting_bias: (name != ModelName::Resnet).then_some(c.halting_bias),
    };
    let spec = ModelSpec {
        name,
        resnet: resnet.clone(),
        input_size: [height, width],
        data: c.data.clone(),
    };
    let store = ParamStore::new(DType::F32, device);
    let net = spec.build_resnet(&store, &mut Rng::seed(c.seed))?;
    println!(
        "pact train: {} (ResNet-{}, {} trainable parameters) on {} ({} images {}x{}x{}, {} classes)",
        name.as_str(),
        6 * c.units + 2,
        store.num_trainable(),
        c.data,
        train.len(),
        channels,
        height,
        width,
        train.num_classes
    );
    let steps = train
        .len()
        .div_ceil(c.batch_size)
        .checked_mul(c.epochs)
        .ok_or_else(|| CliError::Usage(format!("--epochs: {} epochs is too many", c.epochs)))?
        as u64;
    let trainer_config = TrainerConfig {
        seed: c.seed,
        batch_size: c.batch_size,
        stop: Stop::Epochs(c.epochs),
        schedule: Some(schedule(c, steps)),
        checkpoint_dir: Some(out.to_path_buf()),
        checkpoint_every: Some(c.checkpoint_every),
        log_path: Some(out.join("log.jsonl")),
        progress: true,
        ..Default::default()
    };
    let metadata = run_metadata(c, spec.to_metadata()?)?;
    let run = Run {
        device,
        train: &train,
        net: &net,
        objective: &objective,
        warmup: PenaltyWarmup {
            fraction: c.penalty_warmup,
        },
        total_steps: steps,
        augment: c.augment,
    };
    let opt = optimizer(c, &store);
    let trainer = start_trainer(trainer_config, store, opt, metadata, resume, out)?;
    let summary = run.fit(trainer)?;
    Ok(Trained {
        spec,
        net,
        steps: summary.step,
        seconds: summary.elapsed.as_secs_f64(),
        interrupted: summary.interrupted,
        checkpoint: summary
            .last_checkpoint
            .unwrap_or_else(|| out.join("last.safetensors")),
    })
}

/// The trainer of a `pact train` run, whichever optimiser its settings name.
pub(super) type RunTrainer = Trainer<Box<dyn Optimizer>>;

/// The optimiser `c` names (`sgd` with momentum, or `adam`) over the trainable parameters of
/// `store`.
pub(super) fn optimizer(c: &TrainConfig, store: &ParamStore) -> Box<dyn Optimizer> {
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
pub(super) fn schedule(c: &TrainConfig, total_steps: u64) -> LrSchedule {
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
pub(super) fn run_metadata(
    c: &TrainConfig,
    model: (String, String),
) -> Result<BTreeMap<String, String>> {
    let mut metadata: BTreeMap<String, String> = [model].into_iter().collect();
    metadata.insert(
        "pact.train_config".into(),
        serde_json::to_string(c).map_err(|e| CliError::Usage(e.to_string()))?,
    );
    Ok(metadata)
}

/// A trainer that stops cleanly on Ctrl-C, continued from the latest checkpoint in `out`
/// with `resume` (an error if there is none).
pub(super) fn start_trainer(
    config: TrainerConfig,
    store: ParamStore,
    opt: Box<dyn Optimizer>,
    metadata: BTreeMap<String, String>,
    resume: bool,
    out: &Path,
) -> Result<RunTrainer> {
    let mut trainer = Trainer::new(config, store, opt)?
        .with_metadata(metadata)
        .stop_on_ctrl_c()?;
    if resume && !trainer.resume_latest()? {
        return Err(CliError::Usage(format!(
            "--resume: no checkpoint in {}",
            out.display()
        )));
    }
    Ok(trainer)
}

/// What one training run works on.
struct Run<'a> {
    device: Device,
    train: &'a ImageSet,
    net: &'a ResNet,
    objective: &'a Objective,
    warmup: PenaltyWarmup,
    total_steps: u64,
    augment: bool,
}

impl Run<'_> {
    fn fit(&self, mut trainer: RunTrainer) -> Result<pact_inference::TrainSummary> {
        let shape = self.train.shape();
        let augmenter = Augment {
            pad: 4,
            flip: true,
            standardize: false,
        };
        let summary = trainer.fit(self.train.len(), |batch, rng| {
            let (mut images, labels) = self
                .train
                .to_batch(batch.indices)
                .map_err(pact_inference::Error::step)?;
            if self.augment {
                augmenter
                    .apply(&mut images, shape, rng)
                    .map_err(pact_inference::Error::step)?;
            }
            let x = Tensor::from_f32_vec(
                images,
                [labels.len(), shape[0], shape[1], shape[2]],
                self.device,
            )?;
            let penalty = self.warmup.scale(batch.step - 1, self.total_steps);
            let objective = self.objective.with_penalty_scaled(penalty);
            let out = image_step(self.net, &x, &labels, &objective, rng)
                .map_err(pact_inference::Error::step)?;
            let mut step = StepOutput::new(out.loss)
                .metric("accuracy", out.accuracy)
                .metric("cross_entropy", out.cross_entropy);
            for (b, u) in out.units.iter().enumerate() {
                step = step.metric(format!("units_{}", b + 1), *u);
            }
            Ok(step)
        })?;
        Ok(summary)
    }
}
