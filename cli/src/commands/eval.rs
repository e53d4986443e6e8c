//! `pact eval`: accuracy, FLOPs, units per block, activation memory and speed of a trained
//! model, in its test-time procedure or another halting mode. Recurrent checkpoints are
//! evaluated on generated sequences ([`super::sequence`]).

use super::common::{eval_json, load_images, load_resnet};
use super::sequence::{self, load_recurrent, Family};
use crate::{CliError, Result};
use pact_models::data::{DataSpec, SequenceSet, Split};
use pact_models::evaluate::{evaluate_images, EvalReport};
use pact_models::evaluate_sequences::{evaluate_sequences, SequenceEvalReport};
use pact_models::halting::ACT_EPSILON;
use pact_models::mode::HaltingMode;
use pact_models::spec::{ModelSpec, RecurrentSpec};
use std::path::PathBuf;

/// How to run the halting blocks in evaluation.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum EvalMode {
    /// PACT's test-time rule: halt at the first h ≥ 0.5, halted examples leave the batch.
    Deterministic,
    /// Graves' ACT (ε = 0.01).
    Act,
    /// Concrete-relaxed PACT weights at --temperature.
    Relaxed,
    /// Every unit runs.
    Plain,
}

/// Arguments of `pact eval`.
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Checkpoint written by `pact train`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Data spec (e.g. `shapes`, `fashion-mnist`, `cifar10:DIR`, `mnist:DIR`, `csv:FILE:1x8x8`); the test split
    /// is used. Recurrent models take a sequence task (`parity:16`, `logic`, ...), generated.
    #[arg(long)]
    pub data: String,
    /// Halting mode [default: the model's test-time procedure].
    #[arg(long, value_enum)]
    pub mode: Option<EvalMode>,
    /// Temperature of `--mode relaxed`.
    #[arg(long, default_value_t = 0.5)]
    pub temperature: f64,
    /// Batch size.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Seed of generated test data (the same as training's `--seed` gives the matching test
    /// set).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Sequence tasks: test sequences to generate.
    #[arg(long, default_value_t = 1000)]
    pub examples: usize,
}

impl EvalArgs {
    /// The halting mode `--mode` asks for, if any.
    fn chosen_mode(&self) -> Option<HaltingMode> {
        self.mode.map(|m| match m {
            EvalMode::Deterministic => HaltingMode::PactDeterministic,
            EvalMode::Act => HaltingMode::Act { eps: ACT_EPSILON },
            EvalMode::Relaxed => HaltingMode::PactRelaxed {
                temperature: self.temperature,
                straight_through: false,
            },
            EvalMode::Plain => HaltingMode::Plain,
        })
    }
}

/// What an evaluation found, for printing or as the JSON record.
enum Evaluated {
    /// A recurrent model on generated sequences.
    Sequences {
        spec: RecurrentSpec,
        mode: HaltingMode,
        set: SequenceSet,
        report: SequenceEvalReport,
    },
    /// A ResNet on the test split of an image set.
    Images {
        spec: ModelSpec,
        mode: HaltingMode,
        examples: usize,
        report: EvalReport,
    },
}

/// Runs `pact eval`.
pub fn run(args: EvalArgs, device: pact::Device) -> Result<()> {
    let evaluated = evaluate(&args, device)?;
    if args.json {
        println!("{}", evaluated.json()?);
    } else {
        evaluated.print();
    }
    Ok(())
}

/// The JSON record `pact eval --json` prints for `args` (one line).
pub fn json_record(args: &EvalArgs, device: pact::Device) -> Result<String> {
    evaluate(args, device)?.json()
}

fn evaluate(args: &EvalArgs, device: pact::Device) -> Result<Evaluated> {
    if args.batch_size == 0 {
        return Err(CliError::Usage("--batch-size must be at least 1".into()));
    }
    if !(args.temperature > 0.0 && args.temperature.is_finite()) {
        return Err(CliError::Usage(format!(
            "--temperature must be positive, got {}",
            args.temperature
        )));
    }
    // The data spec is checked before any file is read.
    DataSpec::parse(&args.data).map_err(|e| CliError::Usage(format!("--data: {e}")))?;
    if let Some((spec, net, _store)) = load_recurrent(&args.checkpoint, device)? {
        let mode = args
            .chosen_mode()
            .unwrap_or_else(|| spec.name.default_eval_mode());
        let data = Family::Recurrent(spec.name).check_data(&args.data)?;
        let set = sequence::test_sequences(&data, args.examples, args.seed)?;
        sequence::check_fits(&spec, &args.data, &set)?;
        let report = evaluate_sequences(
            &net,
            &set,
            &mode,
            args.batch_size,
            sequence::SEQUENCE_DTYPE,
            device,
        )?;
        return Ok(Evaluated::Sequences {
            spec,
            mode,
            set,
            report,
        });
    }
    let (spec, net, _store) = load_resnet(&args.checkpoint, device)?;
    let mode = args
        .chosen_mode()
        .unwrap_or_else(|| spec.name.default_eval_mode());
    Family::Image(spec.name).check_data(&args.data)?;
    let (_, set) = load_images(&args.data, Split::Test, args.seed)?;
    if set.shape()
        != [
            spec.resnet.in_channels,
            spec.input_size[0],
            spec.input_size[1],
        ]
    {
        return Err(CliError::Usage(format!(
            "data {} has images of shape {:?} but the model was trained on {}x{}x{}",
            args.data,
            set.shape(),
            spec.resnet.in_channels,
            spec.input_size[0],
            spec.input_size[1]
        )));
    }
    let report = evaluate_images(&net, &set, &mode, args.batch_size, device)?;
    Ok(Evaluated::Images {
        spec,
        mode,
        examples: set.len(),
        report,
    })
}

impl Evaluated {
    fn json(&self) -> Result<String> {
        match self {
            Evaluated::Sequences {
                spec, mode, report, ..
            } => sequence::sequence_eval_json(report, spec.name.as_str(), mode),
            Evaluated::Images {
                spec, mode, report, ..
            } => eval_json(report, spec.name.as_str(), mode),
        }
    }

    fn print(&self) {
        let (spec, mode, examples, report) = match self {
            Evaluated::Sequences {
                spec,
                mode,
                set,
                report,
            } => {
                sequence::print_report(spec, mode, set, report);
                return;
            }
            Evaluated::Images {
                spec,
                mode,
                examples,
                report,
            } => (spec, mode, examples, report),
        };
        println!(
            "model        {} ({} units per stage), mode {}",
            spec.name.as_str(),
            spec.resnet.units_per_stage,
            mode.name()
        );
        println!("examples     {examples}");
        println!("accuracy     {:.2}%", 100.0 * report.accuracy);
        println!(
            "FLOPs        {:.3e} ± {:.3e} per example",
            report.flops_mean, report.flops_std
        );
        let units: Vec<String> = report
            .units_mean
            .iter()
            .map(|u| format!("{u:.2}"))
            .collect();
        println!("units        {} (mean per block)", units.join(" / "));
        println!(
            "activations  {:.2} MiB at peak",
            report.peak_activation_bytes as f64 / (1 << 20) as f64
        );
        println!("speed        {:.0} examples/s", report.examples_per_s);
    }
}
