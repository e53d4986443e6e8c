//! `pact demo`: the README's main job. Until the adaptive models land it trains a small
//! pre-activation ResNet on the built-in shapes task (generated, no download) and reports
//! its test accuracy overall and per difficulty level.

use crate::Result;
use indicatif::{ProgressBar, ProgressStyle};
use pact::nn::{LrSchedule, Optimizer, ParamStore, Sgd, SgdConfig};
use pact::{DType, Device, Rng, Tensor};
use pact_models::data::shapes::{self, ShapesConfig};
use pact_models::data::ImageSet;
use pact_models::resnet::{ResNet, ResNetConfig};
use std::time::Instant;

/// Arguments of `pact demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Finish in well under a minute (for CI): fewer images and one epoch.
    #[arg(long)]
    pub quick: bool,
    /// Random seed (data, initialisation, shuffling).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

struct Plan {
    train: usize,
    test: usize,
    epochs: usize,
    units: usize,
}

fn to_tensor(set: &ImageSet, indices: &[usize], device: Device) -> Result<(Tensor, Vec<usize>)> {
    let (images, labels) = set.to_batch(indices)?;
    let shape = [indices.len(), set.channels, set.height, set.width];
    Ok((Tensor::from_f32_vec(images, shape, device)?, labels))
}

/// Runs `pact demo` on `device`.
pub fn run(args: DemoArgs, device: Device) -> Result<()> {
    let plan = if args.quick {
        Plan {
            train: 768,
            test: 384,
            epochs: 2,
            units: 1,
        }
    } else {
        Plan {
            train: 6000,
            test: 1200,
            epochs: 6,
            units: 2,
        }
    };
    let mut rng = Rng::seed(args.seed);
    let data = ShapesConfig {
        size: 16,
        ..Default::default()
    };
    println!(
        "pact demo: a ResNet-{} on the built-in shapes task ({} classes, {}×{} images, difficulty levels 0–3)",
        6 * plan.units + 2,
        data.classes,
        data.size,
        data.size
    );
    if device != Device::Cpu {
        println!("computing on {device}");
    }
    let train = shapes::generate(plan.train, &data, &mut rng)?;
    let test = shapes::generate(plan.test, &data, &mut rng)?;

    let store = ParamStore::new(DType::F32, device);
    let config = ResNetConfig {
        units_per_stage: plan.units,
        widths: [16, 32, 64],
        in_channels: data.channels,
        num_classes: data.classes,
        halting_bias: None,
    };
    let net = ResNet::new(&store, config, &mut rng)?;
    let batch = 64;
    let steps_per_epoch = plan.train.div_ceil(batch);
    let total = (steps_per_epoch * plan.epochs) as u64;
    let schedule = LrSchedule::Cosine {
        base: 0.1,
        min: 0.001,
        total_steps: total,
    };
    let sgd = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        nesterov: false,
        weight_decay: 1e-4,
    };
    let mut opt = Sgd::new(store.trainable(), sgd);

    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  [{elapsed_precise}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let mut step = 0u64;
    for epoch in 0..plan.epochs {
        for indices in train.batches(batch, true, &mut rng)? {
            let (x, y) = to_tensor(&train, &indices, device)?;
            opt.set_learning_rate(schedule.at(step));
            let logits = net.forward(&x, true)?;
            let loss = logits.cross_entropy(&y)?;
            let loss_value = loss.to_scalar()?;
            opt.step(&loss.backward()?)?;
            step += 1;
            bar.inc(1);
            let rate = (step as usize * batch) as f64 / start.elapsed().as_secs_f64();
            bar.set_message(format!(
                "epoch {} loss {loss_value:.3}  {rate:.0} img/s",
                epoch + 1
            ));
        }
    }
    bar.finish();

    let (correct, per_level) = pact::no_grad(|| evaluate(&net, &test, device))?;
    println!(
        "test accuracy: {:.1}% on {} images",
        100.0 * correct,
        test.len()
    );
    for (level, acc) in per_level.iter().enumerate() {
        println!("  difficulty {level}: {:.1}%", 100.0 * acc);
    }
    Ok(())
}

/// Overall accuracy and accuracy per difficulty level.
fn evaluate(net: &ResNet, test: &ImageSet, device: Device) -> Result<(f64, Vec<f64>)> {
    let levels = test
        .difficulty
        .clone()
        .unwrap_or_else(|| vec![0; test.len()]);
    let n_levels = levels.iter().max().map_or(1, |m| m + 1);
    let mut hits = vec![0usize; n_levels];
    let mut counts = vec![0usize; n_levels];
    let all: Vec<usize> = (0..test.len()).collect();
    for chunk in all.chunks(256) {
        let (x, y) = to_tensor(test, chunk, device)?;
        let predicted = net.forward(&x, false)?.argmax(1)?;
        for ((&i, &p), &label) in chunk.iter().zip(&predicted).zip(&y) {
            counts[levels[i]] += 1;
            hits[levels[i]] += usize::from(p == label);
        }
    }
    let overall = hits.iter().sum::<usize>() as f64 / test.len().max(1) as f64;
    let per_level = hits
        .iter()
        .zip(&counts)
        .map(|(&h, &c)| h as f64 / c.max(1) as f64)
        .collect();
    Ok((overall, per_level))
}
