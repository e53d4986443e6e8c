//! `pact plot`: figures of halting distributions, units histograms, speed/accuracy trade-offs,
//! training curves and spatial ponder maps, as PNG or SVG (by the output file's extension).

mod classes;
mod ponder_map;
mod records;

use super::common::{load_images, load_resnet};
use crate::{CliError, Result};
use pact::nn::{checkpoint, ParamStore};
use pact::{Device, Rng, Tensor};
use pact_models::analysis::{geometric_prior, halting_chart};
use pact_models::data::{ImageSet, Split};
use pact_models::evaluate::evaluate_images;
use pact_models::halting::{act_from_probs, deterministic_n, HaltingLaw, ACT_EPSILON};
use pact_models::mode::HaltingMode;
use pact_models::plot::{
    save, BarSeries, Figure, Format, GroupedBarChart, LegendPosition, LineChart, Panel, Raster,
    YAxis,
};
use pact_models::resnet::{stage_site, ResNet};
use pact_models::spec::ModelSpec;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Arguments of `pact plot`.
#[derive(clap::Args, Debug)]
pub struct PlotArgs {
    /// What to plot.
    #[command(subcommand)]
    pub what: PlotCommand,
}

/// The figures `pact plot` draws.
#[derive(clap::Subcommand, Debug)]
pub enum PlotCommand {
    /// Posterior halting distribution q(N|x) per block for a few inputs, with ACT's weights and
    /// the deterministic N marked, next to each input image.
    Halting(HaltingArgs),
    /// Distribution of executed units per block over a data set, split by difficulty or class,
    /// with the truncated geometric prior for reference.
    Histogram(HistogramArgs),
    /// Accuracy against mean FLOPs, one curve per method, from `pact eval --json` files.
    Tradeoff(TradeoffArgs),
    /// Loss, accuracy and mean units against steps, from a `pact train` log.jsonl.
    Training(TrainingArgs),
    /// Ponder-cost maps of a spatial model (sact-resnet, spatial-pact-resnet) over a few test
    /// images, with a colour scale.
    PonderMap(ponder_map::PonderMapArgs),
    /// Units executed and accuracy per class, one bar series per run directory, from
    /// `pact eval --json` files (averaged over the records of a directory, e.g. seeds).
    Classes(classes::ClassesArgs),
}

/// Arguments of `pact plot halting`.
#[derive(clap::Args, Debug)]
pub struct HaltingArgs {
    /// Checkpoint written by `pact train` (a model with halting heads).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Data spec (e.g. `shapes`, `cifar10:DIR`); examples come from the test split.
    #[arg(long)]
    pub data: String,
    /// Output file: `.png` or `.svg`.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of examples (rows), spread evenly over the test split.
    #[arg(long, default_value_t = 4)]
    pub examples: usize,
    /// Seed of generated test data (training's `--seed` gives the matching test set).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// How `pact plot histogram` splits the examples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitBy {
    /// By difficulty level where the data set has them (built-in tasks), else by class.
    Auto,
    /// By difficulty level (an error if the data set has none).
    Difficulty,
    /// By class label.
    Class,
    /// No split: one bar per number of units.
    None,
}

/// Arguments of `pact plot histogram`.
#[derive(clap::Args, Debug)]
pub struct HistogramArgs {
    /// Checkpoint written by `pact train`.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Data spec (e.g. `shapes`, `cifar10:DIR`); the test split is used.
    #[arg(long)]
    pub data: String,
    /// Output file: `.png` or `.svg`.
    #[arg(long)]
    pub out: PathBuf,
    /// How to split the counts.
    #[arg(long, value_enum, default_value_t = SplitBy::Auto)]
    pub split_by: SplitBy,
    /// λ of the truncated geometric prior drawn for reference [default: the checkpoint's
    /// training config (`pact.train_config`); without either, no prior is drawn].
    #[arg(long)]
    pub lambda: Option<f64>,
    /// Batch size.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Seed of generated test data.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Arguments of `pact plot tradeoff`.
#[derive(clap::Args, Debug)]
pub struct TradeoffArgs {
    /// Directories holding `*.json` files written by `pact eval --json`: one point per
    /// directory and method, labelled with the directory's name; several records of one
    /// method in a directory (seeds) give their mean with ±1 standard deviation error bars.
    #[arg(long, num_args = 1.., required = true)]
    pub runs: Vec<PathBuf>,
    /// Output file: `.png` or `.svg`.
    #[arg(long)]
    pub out: PathBuf,
    /// Chart title.
    #[arg(long, default_value = "Accuracy against FLOPs")]
    pub title: String,
}

/// Arguments of `pact plot training`.
#[derive(clap::Args, Debug)]
pub struct TrainingArgs {
    /// The `log.jsonl` written by `pact train` (one JSON record per logged step).
    #[arg(long)]
    pub log: PathBuf,
    /// Output file: `.png` or `.svg`.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `pact plot`.
pub fn run(args: PlotArgs, device: Device) -> Result<()> {
    let out = match &args.what {
        PlotCommand::Halting(a) => &a.out,
        PlotCommand::Histogram(a) => &a.out,
        PlotCommand::Tradeoff(a) => &a.out,
        PlotCommand::Training(a) => &a.out,
        PlotCommand::PonderMap(a) => &a.out,
        PlotCommand::Classes(a) => &a.out,
    }
    .clone();
    // Check the extension before any expensive work.
    Format::from_path(&out)?;
    match args.what {
        PlotCommand::Halting(a) => halting(a, device)?,
        PlotCommand::Histogram(a) => histogram(a, device)?,
        PlotCommand::Tradeoff(a) => records::tradeoff(a)?,
        PlotCommand::Training(a) => training(a)?,
        PlotCommand::PonderMap(a) => ponder_map::ponder_map(a, device)?,
        PlotCommand::Classes(a) => classes::classes(a)?,
    }
    println!("wrote {}", out.display());
    Ok(())
}

/// Loads a checkpoint onto `device` and the matching test images, checking the image shape.
fn model_and_data(
    checkpoint: &Path,
    data: &str,
    seed: u64,
    device: Device,
) -> Result<(ModelSpec, ResNet, ImageSet)> {
    let (spec, net, _store) = load_resnet(checkpoint, device)?;
    let (_, set) = load_images(data, Split::Test, seed)?;
    let expected = [
        spec.resnet.in_channels,
        spec.input_size[0],
        spec.input_size[1],
    ];
    if set.shape() != expected {
        return Err(CliError::Usage(format!(
            "data {data} has images of shape {:?} but the model was trained on {}x{}x{}",
            set.shape(),
            expected[0],
            expected[1],
            expected[2]
        )));
    }
    if set.is_empty() {
        return Err(CliError::Usage(format!("data {data} has no test examples")));
    }
    Ok((spec, net, set))
}

/// Test examples spread evenly over a set, as a plot's rows.
struct Examples {
    /// Their indices in the set.
    chosen: Vec<usize>,
    /// Their pixels, NCHW.
    images: Vec<f32>,
    /// Their labels.
    labels: Vec<usize>,
    /// The pixels as a `[k, C, H, W]` batch on the device.
    x: Tensor,
}

/// `examples` (at most all) test examples spread evenly over `set`.
fn spread_examples(set: &ImageSet, examples: usize, device: Device) -> Result<Examples> {
    let k = examples.min(set.len());
    let chosen: Vec<usize> = (0..k).map(|i| i * set.len() / k).collect();
    let (images, labels) = set.to_batch(&chosen)?;
    let x = Tensor::from_f32_vec(
        images.clone(),
        [k, set.channels, set.height, set.width],
        device,
    )?;
    Ok(Examples {
        chosen,
        images,
        labels,
        x,
    })
}

fn halting(args: HaltingArgs, device: Device) -> Result<()> {
    if args.examples == 0 {
        return Err(CliError::Usage("--examples must be at least 1".into()));
    }
    let (spec, net, set) = model_and_data(&args.checkpoint, &args.data, args.seed, device)?;
    if spec.resnet.halting_bias.is_none() {
        return Err(CliError::Usage(format!(
            "{}: model {} has no halting heads, so no halting distribution",
            args.checkpoint.display(),
            spec.name.as_str()
        )));
    }
    let Examples {
        chosen,
        images,
        labels,
        x,
    } = spread_examples(&set, args.examples, device)?;
    // The model with no handler runs every unit and records each stage's posterior.
    let model = net.model(&x, None, 0.0, false)?;
    let (out, trace) = pact::no_grad(|| {
        HaltingMode::PactSample.run(
            &model,
            &ParamStore::new(x.dtype(), device),
            &mut Rng::seed(0),
        )
    })?;
    let posteriors = (0..out.steps.len())
        .map(|k| {
            trace
                .get(&stage_site(k))
                .and_then(|site| site.guide.as_ref())
                .and_then(|q| q.as_any())
                .and_then(|q| q.downcast_ref::<HaltingLaw>())
                .cloned()
        })
        .collect::<Vec<_>>();
    let predicted = out.logits.argmax(1)?;
    let units = spec.resnet.units_per_stage;
    let mut fig = Figure::new(
        format!(
            "Halting distributions of {} on {}",
            spec.name.as_str(),
            set.name
        ),
        1 + posteriors.len(),
    )
    .cell(560, 320);
    let plane = set.channels * set.height * set.width;
    for (row, &index) in chosen.iter().enumerate() {
        let name = |label: usize| {
            if set.class_names.is_empty() {
                label.to_string()
            } else {
                set.class_name(label)
            }
        };
        let mut caption = format!(
            "#{index}: class {}, predicted {}",
            name(labels[row]),
            name(predicted[row])
        );
        if let Some(d) = &set.difficulty {
            caption.push_str(&format!(", level {}", d[index]));
        }
        fig = fig.panel(Panel::Image(Raster::from_chw(
            &images[row * plane..(row + 1) * plane],
            set.channels,
            set.height,
            set.width,
            caption,
        )?));
        for (b, posterior) in posteriors.iter().enumerate() {
            let (q, act_w, act_n, det_n) = match posterior {
                Some(law) => {
                    let a = law.logits();
                    let q = law.log_probs().exp()?.to_f64_vec();
                    let q = q[row * units..(row + 1) * units].to_vec();
                    let act = act_from_probs(&a.sigmoid()?, ACT_EPSILON)?;
                    let w = act.weights.to_f64_vec();
                    (
                        q,
                        w[row * units..(row + 1) * units].to_vec(),
                        act.n[row],
                        deterministic_n(a)[row],
                    )
                }
                None => (vec![1.0], vec![1.0], 1, 1),
            };
            let chart = halting_chart(format!("block {}", b + 1), &q, &act_w, act_n, det_n);
            fig = fig.panel(Panel::Bars {
                chart,
                lines: Vec::new(),
            });
        }
    }
    save(&fig, &args.out)?;
    Ok(())
}

/// λ from the checkpoint's training config, if it records one.
fn lambda_from_checkpoint(path: &Path) -> Result<Option<f64>> {
    let ckpt = checkpoint::load(path, Device::Cpu)?;
    Ok(ckpt
        .metadata
        .get("pact.train_config")
        .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
        .and_then(|v| v.get("lambda").and_then(serde_json::Value::as_f64)))
}

fn histogram(args: HistogramArgs, device: Device) -> Result<()> {
    if args.batch_size == 0 {
        return Err(CliError::Usage("--batch-size must be at least 1".into()));
    }
    if let Some(l) = args.lambda {
        if !(l.is_finite() && l >= 0.0) {
            return Err(CliError::Usage(format!(
                "--lambda must be a non-negative number, got {l}"
            )));
        }
    }
    let (spec, net, set) = model_and_data(&args.checkpoint, &args.data, args.seed, device)?;
    let lambda = match args.lambda {
        Some(l) => Some(l),
        None => lambda_from_checkpoint(&args.checkpoint)?,
    };
    if lambda.is_none() {
        eprintln!("note: no λ in the checkpoint and no --lambda: the prior is not drawn");
    }
    let mode = spec.name.default_eval_mode();
    let report = evaluate_images(&net, &set, &mode, args.batch_size, device)?;
    let split = match args.split_by {
        SplitBy::Auto if set.difficulty.is_some() => SplitBy::Difficulty,
        SplitBy::Auto => SplitBy::Class,
        SplitBy::Difficulty if set.difficulty.is_none() => {
            return Err(CliError::Usage(format!(
                "data {} has no difficulty levels; use --split-by class or none",
                args.data
            )))
        }
        s => s,
    };
    let (group_of, group_names): (Vec<usize>, Vec<String>) = match split {
        SplitBy::Difficulty => {
            let d = set.difficulty.clone().unwrap_or_default();
            let levels = d.iter().max().map_or(1, |m| m + 1);
            (d, (0..levels).map(|l| format!("level {l}")).collect())
        }
        SplitBy::Class => (
            set.labels.clone(),
            (0..set.num_classes).map(|c| set.class_name(c)).collect(),
        ),
        _ => (vec![0; set.len()], vec!["examples".to_string()]),
    };
    let units = spec.resnet.units_per_stage;
    let categories: Vec<String> = (1..=units).map(|n| n.to_string()).collect();
    let prior = match lambda {
        Some(l) => Some(geometric_prior(l, units)?),
        None => None,
    };
    let mut fig = Figure::new(
        format!(
            "Units executed by {} ({}) on {}",
            spec.name.as_str(),
            mode.name(),
            set.name
        ),
        report.units_per_example.len().max(1),
    )
    .cell(560, 420)
    .share_y();
    for (b, per_example) in report.units_per_example.iter().enumerate() {
        let mut counts = vec![vec![0.0f64; units]; group_names.len()];
        for (i, &n) in per_example.iter().enumerate() {
            if (1..=units).contains(&n) {
                counts[group_of[i]][n - 1] += 1.0;
            }
        }
        let mut chart = GroupedBarChart::new(format!("block {}", b + 1), categories.clone())
            .x_label("units executed N")
            .y_label("examples")
            .y_axis(YAxis::Counts);
        for (name, c) in group_names.iter().zip(counts) {
            chart = chart.series(name.clone(), c);
        }
        let lines = prior
            .iter()
            .map(|p| BarSeries {
                name: format!("prior, λ = {}", lambda.unwrap_or_default()),
                values: p.iter().map(|v| v * set.len() as f64).collect(),
            })
            .collect();
        fig = fig.panel(Panel::Bars { chart, lines });
    }
    save(&fig, &args.out)?;
    Ok(())
}

fn training(args: TrainingArgs) -> Result<()> {
    let shown = args.log.display().to_string();
    let text = std::fs::read_to_string(&args.log).map_err(|e| CliError::Io {
        path: shown.clone(),
        source: e,
    })?;
    let mut loss = Vec::new();
    let mut accuracy = Vec::new();
    let mut units: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            CliError::Usage(format!("{shown}:{}: not a JSON log record: {e}", i + 1))
        })?;
        let step = v
            .get("step")
            .and_then(serde_json::Value::as_f64)
            .ok_or_else(|| CliError::Usage(format!("{shown}:{}: record has no `step`", i + 1)))?;
        if let Some(l) = v.get("loss").and_then(serde_json::Value::as_f64) {
            loss.push((step, l));
        }
        // Metrics are top-level keys of a record (`accuracy`, `units_1`, …), or nested under
        // `metrics`; both are read.
        let nested = v.get("metrics").and_then(|m| m.as_object());
        if let Some(top) = v.as_object() {
            for (key, value) in top.iter().chain(nested.into_iter().flatten()) {
                let Some(value) = value.as_f64() else {
                    continue;
                };
                if key == "accuracy" {
                    accuracy.push((step, value));
                } else if let Some(block) = key.strip_prefix("units_") {
                    units
                        .entry(format!("block {block}"))
                        .or_default()
                        .push((step, value));
                }
            }
        }
    }
    if loss.is_empty() {
        return Err(CliError::Usage(format!(
            "{shown}: no log records with a loss (is it a `pact train` log.jsonl?)"
        )));
    }
    let mut fig = Figure::new(format!("Training ({shown})"), 1).cell(900, 320);
    fig = fig.panel(Panel::Lines(
        LineChart::new("loss")
            .x_label("step")
            .y_label("loss")
            .series("loss", loss),
    ));
    if !accuracy.is_empty() {
        fig = fig.panel(Panel::Lines(
            LineChart::new("accuracy (training batches)")
                .x_label("step")
                .y_label("accuracy")
                .legend(LegendPosition::LowerRight)
                .series("accuracy", accuracy),
        ));
    }
    if !units.is_empty() {
        let mut chart = LineChart::new("mean units executed")
            .x_label("step")
            .y_label("units");
        for (name, points) in units {
            chart = chart.series(name, points);
        }
        fig = fig.panel(Panel::Lines(chart));
    }
    save(&fig, &args.out)?;
    Ok(())
}
