//! `pact plot ponder-map`: ponder-cost maps of a spatial model (math §8) for a few test
//! images, next to each image and overlaid on it, with one colour scale for all of them.

use super::{model_and_data, spread_examples, Examples};
use crate::{CliError, Result};
use pact::{Device, Rng};
use pact_models::mode::HaltingMode;
use pact_models::plot::{save, Figure, Heatmap, Panel, Raster};
use pact_models::resnet::EVAL_CHUNK;
use std::path::PathBuf;

/// Arguments of `pact plot ponder-map`.
#[derive(clap::Args, Debug)]
pub struct PonderMapArgs {
    /// Checkpoint of a spatial model written by `pact train` (`sact-resnet` or
    /// `spatial-pact-resnet`).
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

/// Draws the figure: one row per example with the input image and its ponder-cost map (the
/// sum over blocks of each position's ponder cost, upsampled to the image) over the image.
pub fn ponder_map(args: PonderMapArgs, device: Device) -> Result<()> {
    if args.examples == 0 {
        return Err(CliError::Usage("--examples must be at least 1".into()));
    }
    let (spec, net, set) = model_and_data(&args.checkpoint, &args.data, args.seed, device)?;
    if !spec.name.is_spatial() || !net.is_spatial() {
        return Err(CliError::Usage(format!(
            "{}: ponder maps need a spatial model (sact-resnet or spatial-pact-resnet), not {}",
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
    let mode = spec.name.default_eval_mode();
    let out = pact::no_grad(|| net.run_in_mode(&x, &mode, EVAL_CHUNK, &mut Rng::seed(0)))?;
    let predicted = out.logits.argmax(1)?;
    let maps = out.ponder_maps(&mode, set.height, set.width)?;
    let all = maps.iter().flatten().copied();
    let lo = all.clone().fold(f64::INFINITY, f64::min);
    let hi = all.fold(f64::NEG_INFINITY, f64::max);
    let (quantity, label) = match mode {
        HaltingMode::Act { .. } => ("ponder cost N + R", "N + R"),
        _ => ("units executed N", "N"),
    };
    let mut fig = Figure::new(
        format!(
            "{} of {}, summed over blocks ({})",
            capitalise(quantity),
            spec.name.as_str(),
            set.name
        ),
        2,
    )
    .cell(460, 340);
    let plane = set.channels * set.height * set.width;
    for (row, (&index, map)) in chosen.iter().zip(maps).enumerate() {
        let image = Raster::from_chw(
            &images[row * plane..(row + 1) * plane],
            set.channels,
            set.height,
            set.width,
            format!(
                "#{index}: class {}, predicted {}",
                labels[row], predicted[row]
            ),
        )?;
        let mean = map.iter().sum::<f64>() / map.len().max(1) as f64;
        let max = map.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let heat = Heatmap::new(
            map,
            set.height,
            set.width,
            format!("#{index}: {label} mean {mean:.2}, max {max:.2}"),
        )?
        .range(lo, hi)
        .over(image.clone(), 0.7)
        .scale_label(label);
        fig = fig.panel(Panel::Image(image)).panel(Panel::Heatmap(heat));
    }
    save(&fig, &args.out)?;
    Ok(())
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
