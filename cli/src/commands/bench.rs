//! `pact bench`: training and evaluation throughput, printed with the same keys as the
//! PyTorch peer (`scripts/peer/torch_resnet.py`) so the two compare line by line.

use super::common::{load_images, load_resnet};
use crate::{CliError, Result};
use pact::nn::{Optimizer, ParamStore, Sgd, SgdConfig};
use pact::{DType, Device, Rng, Tensor};
use pact_models::data::Split;
use pact_models::halting::ACT_EPSILON;
use pact_models::mode::HaltingMode;
use pact_models::objective::{image_step, Objective};
use pact_models::resnet::{ResNet, ResNetConfig, EVAL_CHUNK};
use std::time::Instant;

/// Which network to time.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum BenchModel {
    /// ResNet-32 (5 units per stage) on 3×32×32 inputs, 10 classes.
    Resnet32,
    /// ResNet-110 (18 units per stage).
    Resnet110,
}

/// How the network computes.
#[derive(Clone, Copy, Debug, PartialEq, clap::ValueEnum)]
pub enum BenchMode {
    /// Every unit runs (no halting).
    Plain,
    /// Graves' ACT per stage (ε = 0.01, ponder cost weight τ = 0.01) in training and
    /// evaluation.
    Act,
    /// PACT: Concrete-relaxed halting (temperature 0.5, λ = 0.01) in training, the
    /// deterministic rule with batch compaction in evaluation.
    Pact,
}

impl BenchMode {
    /// The training objective, with the peer's settings: ponder-cost weight 0.01, Concrete
    /// temperature 0.5.
    fn objective(self) -> Objective {
        match self {
            BenchMode::Plain => Objective::Plain,
            BenchMode::Act => Objective::Act {
                tau: 0.01,
                eps: ACT_EPSILON,
            },
            BenchMode::Pact => Objective::Pact {
                lambda: 0.01,
                temperature: 0.5,
                straight_through: false,
            },
        }
    }

    fn evaluation(self) -> HaltingMode {
        match self {
            BenchMode::Pact => HaltingMode::PactDeterministic,
            other => other.objective().training_mode(),
        }
    }
}

/// Arguments of `pact bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Network to time.
    #[arg(long, value_enum, default_value = "resnet32")]
    pub model: BenchModel,
    /// Computation mode.
    #[arg(long, value_enum, default_value = "plain")]
    pub mode: BenchMode,
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Timed steps (after 2 warm-up steps), for training and for evaluation.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Time a trained network instead of a freshly initialised ResNet: a checkpoint written by
    /// `pact train` (its own units per stage and widths; `--model` is then ignored). Halting
    /// decisions of a trained network are what make PACT's evaluation skip units.
    #[arg(long)]
    pub checkpoint: Option<std::path::PathBuf>,
    /// Examples per chunk of the low-memory evaluation (plain, ACT and PACT's deterministic
    /// rule run each unit over chunks of the running examples, so that only one chunk's
    /// intermediates per worker thread are held beside the states).
    #[arg(long, default_value_t = EVAL_CHUNK)]
    pub eval_chunk: usize,
    /// With `--checkpoint`: the data whose test split the timed batches are cut from (cycled
    /// in order), e.g. `shapes:2000:32`.
    #[arg(long, default_value = "shapes:2000:32", requires = "checkpoint")]
    pub data: String,
}

/// Peak resident memory of this process in MiB (Linux), or 0 where unknown.
pub fn peak_rss_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}

/// Sets the size of the global worker pool; call once, before any parallel work.
pub fn set_threads(threads: usize) -> Result<()> {
    if threads == 0 {
        return Ok(());
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .map_err(|e| CliError::Usage(format!("--threads {threads}: {e}")))
}

/// Runs `pact bench` on `device`.
pub fn run(args: BenchArgs, device: Device) -> Result<()> {
    if args.batch == 0 || args.steps == 0 || args.eval_chunk == 0 {
        return Err(CliError::Usage(
            "--batch, --steps and --eval-chunk must be at least 1".into(),
        ));
    }
    set_threads(args.threads)?;
    let units = match args.model {
        BenchModel::Resnet32 => 5,
        BenchModel::Resnet110 => 18,
    };
    let mut rng = Rng::seed(0);
    let setup = match &args.checkpoint {
        Some(path) => from_checkpoint(path, &args, device)?,
        None => fresh(units, &args, device, &mut rng)?,
    };
    let Setup {
        net,
        store,
        batches,
        units,
    } = setup;
    let (objective, eval_mode) = (args.mode.objective(), args.mode.evaluation());
    let config = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        nesterov: false,
        weight_decay: 1e-4,
    };
    let mut opt = Sgd::new(store.trainable(), config);

    let mut start = Instant::now();
    for i in 0..args.steps + 2 {
        if i == 2 {
            start = Instant::now();
        }
        let (x, labels) = &batches[i % batches.len()];
        let step = image_step(&net, x, labels, &objective, &mut rng)?;
        opt.step(&step.loss.backward()?)?;
    }
    // A device computes asynchronously: wait for it before reading the clock.
    device.synchronize()?;
    let train = (args.batch * args.steps) as f64 / start.elapsed().as_secs_f64();

    let base = pact::memory::reset_peak();
    let mut executed = vec![0usize; 3];
    let mut examples = 0;
    let eval = pact::no_grad(|| -> Result<f64> {
        let mut start = Instant::now();
        for i in 0..args.steps + 2 {
            if i == 2 {
                start = Instant::now();
            }
            let (x, _) = &batches[i % batches.len()];
            let out = net.run_in_mode(x, &eval_mode, args.eval_chunk, &mut rng)?;
            let units: Vec<Vec<usize>> = out.stages.into_iter().map(|s| s.steps).collect();
            if i >= 2 {
                examples += x.dims()[0];
                executed.resize(units.len(), 0);
                for (e, block) in executed.iter_mut().zip(&units) {
                    *e += block.iter().sum::<usize>();
                }
            }
        }
        device.synchronize()?;
        Ok((args.batch * args.steps) as f64 / start.elapsed().as_secs_f64())
    })?;
    let units_mean: Vec<f64> = executed
        .iter()
        .map(|&e| (e as f64 / examples.max(1) as f64 * 100.0).round() / 100.0)
        .collect();

    let activation_mb = (pact::memory::peak_bytes() - base) as f64 / (1 << 20) as f64;
    let mode = format!("{:?}", args.mode).to_lowercase();
    // The CPU kernels' instruction set (detected or `PACT_CPU`), the CPU that ran them, and
    // whether the convolutions ran the direct kernels or im2col + GEMM.
    let isa = pact::backend::cpu::isa::selected()?;
    let cpu = pact::backend::cpu::isa::cpu_description();
    let conv = if pact::backend::cpu::conv::direct::enabled() {
        "direct"
    } else {
        "im2col"
    };
    let report = serde_json::json!({
        "peer": "pact",
        "mode": mode,
        "isa": isa.name(),
        "cpu": &cpu,
        "conv": conv,
        "units": units,
        "batch": args.batch,
        "threads": rayon::current_num_threads(),
        "train_img_per_s": (train * 10.0).round() / 10.0,
        "eval_img_per_s": (eval * 10.0).round() / 10.0,
        "peak_rss_mb": peak_rss_mb(),
        "eval_peak_activation_mb": (activation_mb * 10.0).round() / 10.0,
        "eval_units_mean": units_mean,
        "eval_chunk": args.eval_chunk,
        "checkpoint": args.checkpoint.as_ref().map(|p| p.display().to_string()),
    });
    if args.json {
        println!("{report}");
    } else {
        println!(
            "model      {:?} ({} units per stage), mode {mode}",
            args.model, units
        );
        println!("batch      {}", args.batch);
        println!("device     {device}");
        println!("cpu        {cpu}");
        println!("cpu path   {isa}, {conv} convolutions");
        println!("threads    {}", rayon::current_num_threads());
        println!("train      {train:.1} images/s");
        println!("eval       {eval:.1} images/s");
        println!("peak RSS   {} MiB", peak_rss_mb());
        println!("evaluation activations at peak: {activation_mb:.1} MiB");
        println!("units per block in evaluation: {units_mean:?}");
    }
    Ok(())
}

/// The network and the batches a benchmark times.
struct Setup {
    net: ResNet,
    store: ParamStore,
    /// `(images, labels)`, cycled through by the timed steps.
    batches: Vec<(Tensor, Vec<usize>)>,
    /// Units per stage.
    units: usize,
}

/// A freshly initialised ResNet on one batch of random 3×32×32 images (the peer's setting).
fn fresh(units: usize, args: &BenchArgs, device: Device, rng: &mut Rng) -> Result<Setup> {
    let store = ParamStore::new(DType::F32, device);
    let config = match args.mode {
        BenchMode::Plain => ResNetConfig::cifar(units).plain(),
        _ => ResNetConfig::cifar(units),
    };
    let net = ResNet::new(&store, config, rng)?;
    let x = Tensor::randn([args.batch, 3, 32, 32], DType::F32, device, rng)?;
    let labels: Vec<usize> = (0..args.batch).map(|_| rng.below(10)).collect();
    Ok(Setup {
        net,
        store,
        batches: vec![(x, labels)],
        units,
    })
}

/// A trained network from a checkpoint, timed on consecutive batches of real test images.
fn from_checkpoint(path: &std::path::Path, args: &BenchArgs, device: Device) -> Result<Setup> {
    let (spec, net, store) = load_resnet(path, device)?;
    if args.mode != BenchMode::Plain && spec.resnet.halting_bias.is_none() {
        return Err(CliError::Usage(format!(
            "{}: a plain ResNet has no halting heads; use --mode plain",
            path.display()
        )));
    }
    let (_, set) = load_images(&args.data, Split::Test, 0)?;
    if set.channels != spec.resnet.in_channels {
        return Err(CliError::Usage(format!(
            "--data {}: {} channels, but the checkpoint's network takes {}",
            args.data, set.channels, spec.resnet.in_channels
        )));
    }
    let [c, h, w] = set.shape();
    let mut batches = Vec::new();
    for start in (0..set.len()).step_by(args.batch) {
        if start + args.batch > set.len() {
            break;
        }
        let indices: Vec<usize> = (start..start + args.batch).collect();
        let (pixels, labels) = set.to_batch(&indices)?;
        let x = Tensor::from_f32_vec(pixels, [args.batch, c, h, w], device)?;
        batches.push((x, labels));
    }
    if batches.is_empty() {
        return Err(CliError::Usage(format!(
            "--data {}: {} test images, fewer than one batch of {}",
            args.data,
            set.len(),
            args.batch
        )));
    }
    Ok(Setup {
        units: spec.resnet.units_per_stage,
        net,
        store,
        batches,
    })
}
