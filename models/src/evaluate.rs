//! Evaluation of adaptive image classifiers: accuracy, FLOPs per example (math §9),
//! units executed per block, peak activation memory and speed.

use crate::data::ImageSet;
use crate::mode::HaltingMode;
use crate::resnet::{ResNet, EVAL_CHUNK};
use crate::Result;
use pact::{Device, Rng, Tensor};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// What `pact eval` reports (its JSON keys).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Fraction of correctly classified examples.
    pub accuracy: f64,
    /// Mean FLOPs per example.
    pub flops_mean: f64,
    /// Standard deviation of FLOPs per example.
    pub flops_std: f64,
    /// FLOPs per example of the cheapest run of the network: one unit per block.
    #[serde(default)]
    pub flops_least: f64,
    /// FLOPs per example of the whole network: every unit of every block.
    #[serde(default)]
    pub flops_most: f64,
    /// Mean units executed, one entry per adaptive block (for spatial models, the mean over
    /// examples and positions).
    pub units_mean: Vec<f64>,
    /// Most bytes of activations held at once (tensor storage beyond the parameters and the
    /// input batch), over the whole evaluation.
    pub peak_activation_bytes: usize,
    /// Examples per second.
    pub examples_per_s: f64,
    /// Accuracy per difficulty level, where the data set knows difficulties.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accuracy_by_difficulty: Vec<f64>,
    /// The class names, indexed by label, where the data set has them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub class_names: Vec<String>,
    /// Accuracy per class, indexed by label.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accuracy_by_class: Vec<f64>,
    /// Mean units executed per class (outer, indexed by label) and block (inner); for spatial
    /// models, the most units any position of the example executed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub units_by_class: Vec<Vec<f64>>,
    /// Units executed per example, one vector per block (for histograms; for spatial models,
    /// the most units any position of the example executed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub units_per_example: Vec<Vec<usize>>,
}

/// Evaluates `net` on `set` in `mode` (no graph, batch norm in evaluation mode), in batches of
/// `batch_size`, by [`ResNet::run_in_mode`]: the network's model under the mode's handlers.
/// Plain, ACT and deterministic PACT evaluation of a network with global halting heads runs
/// the chunked model ([`ResNet::chunked_model`], chunks of [`EVAL_CHUNK`] examples: the
/// activation memory is the batch's states plus one chunk's intermediates per worker thread). A spatial network
/// is counted per position: FLOPs by [`ResNet::spatial_flops`], units as the mean over
/// positions.
pub fn evaluate_images(
    net: &ResNet,
    set: &ImageSet,
    mode: &HaltingMode,
    batch_size: usize,
    device: Device,
) -> Result<EvalReport> {
    if set.is_empty() || batch_size == 0 {
        return Err(crate::Error::InvalidInput(
            "evaluation needs at least one example and a batch size of at least 1".into(),
        ));
    }
    let blocks = net.stages().len();
    let mut units: Vec<Vec<usize>> = vec![Vec::with_capacity(set.len()); blocks];
    // Spatial networks: per-example mean units per block, and FLOPs.
    let mut spatial_units: Vec<Vec<f64>> = vec![Vec::new(); blocks];
    let mut spatial_flops: Vec<f64> = Vec::new();
    let mut correct = 0usize;
    let levels = set
        .difficulty
        .as_ref()
        .map_or(0, |d| d.iter().max().map_or(0, |m| m + 1));
    let mut level_hits = vec![0usize; levels];
    let mut class_hits = vec![0usize; set.num_classes];
    let mut level_counts = vec![0usize; levels];
    let mut rng = Rng::seed(0);
    let mut peak = 0usize;
    let start = Instant::now();
    let indices: Vec<usize> = (0..set.len()).collect();
    for chunk in indices.chunks(batch_size) {
        let (images, labels) = set.to_batch(chunk)?;
        let shape = [chunk.len(), set.channels, set.height, set.width];
        let x = Tensor::from_f32_vec(images, shape, device)?;
        let base = pact::memory::reset_peak();
        let out = pact::no_grad(|| net.run_in_mode(&x, mode, EVAL_CHUNK, &mut rng))?;
        let predicted = out.logits.argmax(1)?;
        peak = peak.max(pact::memory::peak_bytes().saturating_sub(base));
        for (b, stage) in out.stages.iter().enumerate() {
            units[b].extend(stage.max_units());
            if net.is_spatial() {
                spatial_units[b].extend(stage.mean_units());
            }
        }
        if net.is_spatial() {
            let flops = out.flops_per_example(net, set.height, set.width)?;
            spatial_flops.extend(flops.iter().map(|&f| f as f64));
        }
        drop(out);
        for (k, (&p, &y)) in predicted.iter().zip(&labels).enumerate() {
            let hit = usize::from(p == y);
            correct += hit;
            if let Some(h) = class_hits.get_mut(y) {
                *h += hit;
            }
            if let Some(d) = &set.difficulty {
                level_hits[d[chunk[k]]] += hit;
                level_counts[d[chunk[k]]] += 1;
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let n = set.len() as f64;
    let flops: Vec<f64> = if net.is_spatial() {
        spatial_flops
    } else {
        (0..set.len())
            .map(|i| {
                let per_block: Vec<usize> = units.iter().map(|u| u[i]).collect();
                net.flops(set.height, set.width, &per_block) as f64
            })
            .collect()
    };
    let units_mean = if net.is_spatial() {
        spatial_units
            .iter()
            .map(|u| u.iter().sum::<f64>() / n)
            .collect()
    } else {
        units
            .iter()
            .map(|u| u.iter().sum::<usize>() as f64 / n)
            .collect()
    };
    let class_counts = set.class_counts();
    let units_by_class = (0..set.num_classes)
        .map(|c| {
            units
                .iter()
                .map(|block| {
                    let total: usize = block
                        .iter()
                        .zip(&set.labels)
                        .filter(|(_, &y)| y == c)
                        .map(|(&u, _)| u)
                        .sum();
                    total as f64 / class_counts[c].max(1) as f64
                })
                .collect()
        })
        .collect();
    let flops_mean = flops.iter().sum::<f64>() / n;
    let flops_std = (flops.iter().map(|f| (f - flops_mean).powi(2)).sum::<f64>() / n).sqrt();
    let units_per_block: Vec<usize> = net.stages().iter().map(|s| s.units.len()).collect();
    Ok(EvalReport {
        accuracy: correct as f64 / n,
        flops_mean,
        flops_std,
        flops_least: net.flops(set.height, set.width, &vec![1; blocks]) as f64,
        flops_most: net.flops(set.height, set.width, &units_per_block) as f64,
        units_mean,
        peak_activation_bytes: peak,
        examples_per_s: n / seconds.max(1e-9),
        accuracy_by_difficulty: level_hits
            .iter()
            .zip(&level_counts)
            .map(|(&h, &c)| h as f64 / c.max(1) as f64)
            .collect(),
        class_names: set.class_names.clone(),
        accuracy_by_class: class_hits
            .iter()
            .zip(&class_counts)
            .map(|(&h, &c)| h as f64 / c.max(1) as f64)
            .collect(),
        units_by_class,
        units_per_example: units,
    })
}
