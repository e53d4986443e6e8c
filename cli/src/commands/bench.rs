//! `pact bench`: training and evaluation throughput, printed with the same keys as the
//! PyTorch peer (`../shared/reference/torch_adaptive_resnet.py`) so the two compare line by
//! line.

use crate::{CliError, Result};
use pact::nn::{Optimizer, ParamStore, Sgd, SgdConfig};
use pact::{DType, Device, Rng, Tensor};
use pact_models::adaptive::HaltingMode;
use pact_models::halting::ACT_EPSILON;
use pact_models::objective::{image_step, Objective};
use pact_models::resnet::{ResNet, ResNetConfig};
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
    if args.batch == 0 || args.steps == 0 {
        return Err(CliError::Usage(
            "--batch and --steps must be at least 1".into(),
        ));
    }
    set_threads(args.threads)?;
    let units = match args.model {
        BenchModel::Resnet32 => 5,
        BenchModel::Resnet110 => 18,
    };
    let mut rng = Rng::seed(0);
    let store = ParamStore::new(DType::F32, device);
    let config = match args.mode {
        BenchMode::Plain => ResNetConfig::cifar(units).plain(),
        _ => ResNetConfig::cifar(units),
    };
    let net = ResNet::new(&store, config, &mut rng)?;
    let (objective, eval_mode) = (args.mode.objective(), args.mode.evaluation());
    let x = Tensor::randn([args.batch, 3, 32, 32], DType::F32, device, &mut rng)?;
    let labels: Vec<usize> = (0..args.batch).map(|_| rng.below(10)).collect();
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
        let step = image_step(&net, &x, &labels, &objective, &mut rng)?;
        opt.step(&step.loss.backward()?)?;
    }
    // A device computes asynchronously: wait for it before reading the clock.
    device.synchronize()?;
    let train = (args.batch * args.steps) as f64 / start.elapsed().as_secs_f64();

    let base = pact::memory::reset_peak();
    let eval = pact::no_grad(|| -> Result<f64> {
        let mut start = Instant::now();
        for i in 0..args.steps + 2 {
            if i == 2 {
                start = Instant::now();
            }
            net.forward_adaptive(&x, &eval_mode, false, &mut rng)?;
        }
        device.synchronize()?;
        Ok((args.batch * args.steps) as f64 / start.elapsed().as_secs_f64())
    })?;

    let activation_mb = (pact::memory::peak_bytes() - base) as f64 / (1 << 20) as f64;
    let mode = format!("{:?}", args.mode).to_lowercase();
    let report = serde_json::json!({
        "peer": "pact",
        "mode": mode,
        "units": units,
        "batch": args.batch,
        "threads": rayon::current_num_threads(),
        "train_img_per_s": (train * 10.0).round() / 10.0,
        "eval_img_per_s": (eval * 10.0).round() / 10.0,
        "peak_rss_mb": peak_rss_mb(),
        "eval_peak_activation_mb": (activation_mb * 10.0).round() / 10.0,
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
        println!("threads    {}", rayon::current_num_threads());
        println!("train      {train:.1} images/s");
        println!("eval       {eval:.1} images/s");
        println!("peak RSS   {} MiB", peak_rss_mb());
        println!("evaluation activations at peak: {activation_mb:.1} MiB");
    }
    Ok(())
}
