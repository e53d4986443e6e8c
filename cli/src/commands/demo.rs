//! `pact demo`: the README's main job. Trains ACT and PACT ResNets on the built-in shapes task
//! (generated, no download; images have known difficulty levels), evaluates each with its
//! test-time procedure (ACT: weighted halting; PACT: the deterministic rule with early exit),
//! prints a comparison table and writes a report directory.

use super::common::{eval_json, load_images};
use super::train::{train, TrainConfig};
use crate::{CliError, Result};
use pact_models::data::Split;
use pact_models::evaluate::{evaluate_images, EvalReport};
use std::path::{Path, PathBuf};

/// Arguments of `pact demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Finish in well under a minute (for CI): less data, shallower networks, one setting per
    /// method.
    #[arg(long)]
    pub quick: bool,
    /// Random seed (data, initialisation, shuffling, relaxed sampling).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Report directory.
    #[arg(long, default_value = "pact-report")]
    pub out: PathBuf,
}

/// One trained configuration and its evaluation.
struct Row {
    method: &'static str,
    penalty: f64,
    report: EvalReport,
    train_seconds: f64,
}

struct Plan {
    data_train: String,
    data_test: String,
    units: usize,
    epochs: usize,
    act_tau: Vec<f64>,
    pact_lambda: Vec<f64>,
}

fn plan(quick: bool) -> Plan {
    if quick {
        Plan {
            data_train: "shapes:960:16".into(),
            data_test: "shapes:240:16".into(),
            units: 2,
            epochs: 3,
            act_tau: vec![0.01],
            pact_lambda: vec![0.05],
        }
    } else {
        Plan {
            data_train: "shapes:3000:16".into(),
            data_test: "shapes:900:16".into(),
            units: 3,
            epochs: 4,
            act_tau: vec![0.01, 0.1],
            pact_lambda: vec![0.05, 0.5],
        }
    }
}

/// Runs `pact demo`.
pub fn run(args: DemoArgs, device: pact::Device) -> Result<()> {
    let p = plan(args.quick);
    std::fs::create_dir_all(&args.out).map_err(|e| CliError::Io {
        path: args.out.display().to_string(),
        source: e,
    })?;
    println!(
        "pact demo: ACT and PACT ResNet-{} on the built-in shapes task (16×16 images, 6 classes, difficulty levels 0–3)",
        6 * p.units + 2
    );
    let (_, test) = load_images(&p.data_test, Split::Test, args.seed)?;
    let mut rows = Vec::new();
    let mut dirs = Vec::new();
    let runs = p
        .act_tau
        .iter()
        .map(|&t| ("act-resnet", t))
        .chain(p.pact_lambda.iter().map(|&l| ("pact-resnet", l)));
    for (model, penalty) in runs {
        let dir = args.out.join(format!("{model}-{penalty}"));
        dirs.push(dir.clone());
        let config = TrainConfig {
            model: model.into(),
            data: p.data_train.clone(),
            units: p.units,
            epochs: p.epochs,
            batch_size: 64,
            seed: args.seed,
            tau: penalty,
            lambda: penalty,
            checkpoint_every: 10_000,
            ..TrainConfig::default()
        };
        println!("\n== {model}, penalty {penalty}");
        let trained = train(&config, &dir, false, device)?;
        let mode = trained.spec.name.default_eval_mode();
        let report = evaluate_images(&trained.net, &test, &mode, 128, device)?;
        write(&dir.join("eval.json"), &eval_json(&report, model, &mode)?)?;
        rows.push(Row {
            method: if model == "act-resnet" { "ACT" } else { "PACT" },
            penalty,
            report,
            train_seconds: trained.seconds,
        });
    }
    plots(&args.out, &p, &dirs, args.seed, device)?;
    let table = markdown_table(&rows);
    println!("\n{table}");
    write(&args.out.join("report.md"), &format!("# pact demo\n\nTest set: {} ({} images). ACT is evaluated with its weighted halting (every example holds a state and a running sum); PACT with the deterministic rule (an example stops at the first unit with h ≥ 0.5 and leaves the batch).\n\n{table}\n\n![Accuracy against FLOPs](tradeoff.png)\n\n![Posterior halting distributions](halting.png)\n\n![Units executed by difficulty](histogram.png)\n", p.data_test, test.len()))?;
    let json: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "method": r.method,
                "penalty": r.penalty,
                "accuracy": r.report.accuracy,
                "accuracy_by_difficulty": r.report.accuracy_by_difficulty,
                "flops_mean": r.report.flops_mean,
                "flops_std": r.report.flops_std,
                "units_mean": r.report.units_mean,
                "peak_activation_bytes": r.report.peak_activation_bytes,
                "examples_per_s": r.report.examples_per_s,
                "train_seconds": r.train_seconds,
            })
        })
        .collect();
    write(
        &args.out.join("report.json"),
        &serde_json::to_string_pretty(&json).map_err(|e| CliError::Usage(e.to_string()))?,
    )?;
    println!("report: {}", args.out.join("report.md").display());
    Ok(())
}

/// The report's plots: halting distributions and the units histogram of the first PACT run,
/// and the accuracy/FLOPs trade-off of every run.
fn plots(out: &Path, p: &Plan, dirs: &[PathBuf], seed: u64, device: pact::Device) -> Result<()> {
    use super::plot::{
        self, HaltingArgs, HistogramArgs, PlotArgs, PlotCommand, SplitBy, TradeoffArgs,
    };
    let pact_run = dirs
        .iter()
        .find(|d| d.to_string_lossy().contains("pact-resnet"))
        .ok_or_else(|| CliError::Usage("the demo trained no PACT model".into()))?;
    let checkpoint = pact_run.join("last.safetensors");
    plot::run(
        PlotArgs {
            what: PlotCommand::Halting(HaltingArgs {
                checkpoint: checkpoint.clone(),
                data: p.data_test.clone(),
                out: out.join("halting.png"),
                examples: 4,
                seed,
            }),
        },
        device,
    )?;
    plot::run(
        PlotArgs {
            what: PlotCommand::Histogram(HistogramArgs {
                checkpoint,
                data: p.data_test.clone(),
                out: out.join("histogram.png"),
                split_by: SplitBy::Auto,
                lambda: None,
                batch_size: 256,
                seed,
            }),
        },
        device,
    )?;
    plot::run(
        PlotArgs {
            what: PlotCommand::Tradeoff(TradeoffArgs {
                runs: dirs.to_vec(),
                out: out.join("tradeoff.png"),
                title: "Accuracy against FLOPs (shapes task, test set)".into(),
            }),
        },
        device,
    )
}

fn markdown_table(rows: &[Row]) -> String {
    let mut s = String::from("| method | penalty | accuracy | by difficulty 0/1/2/3 | MFLOPs / example | units per block | eval activations (MiB) | eval images/s |\n|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        let by: Vec<String> = r
            .report
            .accuracy_by_difficulty
            .iter()
            .map(|a| format!("{:.0}", 100.0 * a))
            .collect();
        let units: Vec<String> = r
            .report
            .units_mean
            .iter()
            .map(|u| format!("{u:.2}"))
            .collect();
        s.push_str(&format!(
            "| {} | {} | {:.1}% | {} | {:.2} ± {:.2} | {} | {:.1} | {:.0} |\n",
            r.method,
            r.penalty,
            100.0 * r.report.accuracy,
            by.join("/"),
            r.report.flops_mean / 1e6,
            r.report.flops_std / 1e6,
            units.join(" / "),
            r.report.peak_activation_bytes as f64 / (1 << 20) as f64,
            r.report.examples_per_s
        ));
    }
    s
}

fn write(path: &Path, text: &str) -> Result<()> {
    pact::nn::checkpoint::write_atomic(path, text.as_bytes())?;
    Ok(())
}
