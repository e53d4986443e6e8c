//! `pact train`: trains an adaptive ResNet on an image data set, or a pondering RNN/LSTM on a
//! sequence task ([`super::sequence`]). Every hyperparameter can be set in a TOML file
//! (`--config`) and overridden by a flag; checkpoints (`last.safetensors`) and a JSON-lines log
//! go to `--out`.
//!
//! Started by an MPI launcher (`mpirun -np K pact train …`, with a `pact` built with
//! `--features mpi`), the K processes train one ResNet together: each takes its shard of every
//! global batch (`--batch-size` stays the global batch) and the result is what one process
//! computes (see [`pact_inference::Trainer::with_replicas`] and `docs/distributed.md`).

use super::common::load_images;
use super::run_config::{
    check, optimizer, print_outcome, run_metadata, schedule, start_trainer, RunTrainer,
    TrainConfig, TrainOptions,
};
use super::sequence;
use crate::distributed;
use crate::{CliError, Result};
use pact::nn::ParamStore;
use pact::{DType, Device, Rng, Tensor};
use pact_inference::{StepOutput, Stop, TrainerConfig};
use pact_models::data::augment::Augment;
use pact_models::data::{ImageSet, Split};
use pact_models::halting::ACT_EPSILON;
use pact_models::objective::{image_step, Objective, PenaltyWarmup};
use pact_models::resnet::{ResNet, ResNetConfig};
use pact_models::spec::{ModelName, ModelSpec};
use std::path::{Path, PathBuf};

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

/// Runs `pact train` (one process, or one rank of a data-parallel run).
pub fn run(args: TrainArgs, device: Device) -> Result<()> {
    let world = distributed::start("pact train")?;
    let result = run_on(&world, args, device);
    world.conclude(result)
}

fn run_on(world: &distributed::World, args: TrainArgs, device: Device) -> Result<()> {
    let c = merge(&args)?;
    if world.size() > 1 && world.is_root() {
        println!("pact train: {}", world.describe());
    }
    let options = TrainOptions {
        resume: args.resume,
        verbose: true,
        group: world.group.clone(),
    };
    let device = distributed::device_for_rank(device, world.launch.local_rank)?;
    if sequence::run_if_recurrent(&c, &args.out, &options, device)? {
        return Ok(());
    }
    let trained = train_with(&c, &args.out, &options, device)?;
    if world.is_root() {
        print_outcome(
            trained.interrupted,
            trained.steps,
            trained.seconds,
            &trained.checkpoint,
            &args.out,
        );
    }
    Ok(())
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

/// Trains the model `c` describes in one process, writing checkpoints and `log.jsonl` to
/// `out`.
pub fn train(c: &TrainConfig, out: &Path, resume: bool, device: Device) -> Result<Trained> {
    train_with(c, out, &TrainOptions::single(resume), device)
}

/// Trains the model `c` describes as one replica of `options.group` (rank 0 writes
/// checkpoints and `log.jsonl` to `out`). The ranks first check that they were started with
/// the same settings, data and binary.
pub fn train_with(
    c: &TrainConfig,
    out: &Path,
    options: &TrainOptions,
    device: Device,
) -> Result<Trained> {
    check(c).map_err(|e| CliError::Usage(e.to_string()))?;
    let name = ModelName::parse(&c.model)?;
    let objective = objective(name, c);
    objective.validate()?;
    std::fs::create_dir_all(out).map_err(|e| CliError::Io {
        path: out.display().to_string(),
        source: e,
    })?;
    let (_, train) = load_images(&c.data, Split::Train, c.seed)?;
    distributed::check::agree_on_training(&options.group, c, out, options.resume, device, || {
        distributed::check::describe_images(&train)
    })?;
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
    if device == Device::Cpu {
        refuse_what_cannot_fit(&resnet, c, height, width)?;
    }
    let spec = ModelSpec {
        name,
        resnet: resnet.clone(),
        input_size: [height, width],
        data: c.data.clone(),
    };
    let store = ParamStore::new(DType::F32, device);
    let net = spec.build_resnet(&store, &mut Rng::seed(c.seed))?;
    if options.prints() {
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
    }
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
    let trainer = start_trainer(trainer_config, store, opt, metadata, options, out)?;
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

/// Refuses, before anything is allocated, a network whose training step would not fit in the
/// memory the machine has available, with the estimate and what makes it large.
fn refuse_what_cannot_fit(
    resnet: &ResNetConfig,
    c: &TrainConfig,
    h: usize,
    w: usize,
) -> Result<()> {
    let copies = if c.optimizer == "adam" { 2 } else { 1 };
    let need = resnet.training_memory(c.batch_size, h, w, 4, copies);
    let Some(available) = pact::memory::available_system_memory() else {
        return Ok(());
    };
    if need.total() <= available {
        return Ok(());
    }
    let large = if need.activations >= need.parameters {
        format!(
            "most of it is the activations of {} units per stage on batches of {} images \
             (--units, --batch-size)",
            c.units, c.batch_size
        )
    } else {
        format!(
            "most of it is the parameters of {} units per stage with widths {:?} (--units, \
             widths)",
            c.units, c.widths
        )
    };
    Err(CliError::Usage(format!(
        "--units {}: training ResNet-{} ({:.1} million parameters) on {h}x{w} images needs about \
         {} (parameters, gradients and optimiser state {}; activations {}), but this machine \
         has {} available; {large}",
        c.units,
        resnet.depth(),
        resnet.parameter_count() as f64 / 1e6,
        bytes(need.total()),
        bytes(need.parameters),
        bytes(need.activations),
        bytes(available)
    )))
}

/// A size in GiB, MiB or KiB.
fn bytes(n: u64) -> String {
    let n = n as f64;
    if n >= (1u64 << 30) as f64 {
        format!("{:.1} GiB", n / (1u64 << 30) as f64)
    } else if n >= (1u64 << 20) as f64 {
        format!("{:.1} MiB", n / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", n / 1024.0)
    }
}
