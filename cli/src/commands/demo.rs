//! `pact demo`: the README's main job. Until the adaptive models land it trains a small
//! pre-activation ResNet on the built-in shapes task (generated, no download) and reports
//! its test accuracy overall and per difficulty level.

use crate::Result;
use pact::nn::{LrSchedule, ParamStore, Sgd, SgdConfig};
use pact::{DType, Device, Rng, Tensor};
use pact_inference::{StepOutput, Stop, Trainer, TrainerConfig};
use pact_models::data::shapes::{self, ShapesConfig};
use pact_models::data::ImageSet;
use pact_models::resnet::{ResNet, ResNetConfig};

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

fn to_tensor(set: &ImageSet, indices: &[usize]) -> Result<(Tensor, Vec<usize>)> {
    let (images, labels) = set.to_batch(indices)?;
    let shape = [indices.len(), set.channels, set.height, set.width];
    Ok((Tensor::from_f32_vec(images, shape, Device::Cpu)?, labels))
}

/// Runs `pact demo`.
pub fn run(args: DemoArgs) -> Result<()> {
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
    let train = shapes::generate(plan.train, &data, &mut rng)?;
    let test = shapes::generate(plan.test, &data, &mut rng)?;

    let store = ParamStore::new(DType::F32, Device::Cpu);
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
    let opt = Sgd::new(store.trainable(), sgd);
    let config = TrainerConfig {
        seed: args.seed,
        batch_size: batch,
        stop: Stop::Epochs(plan.epochs),
        schedule: Some(schedule),
        progress: true,
        ..Default::default()
    };
    let mut trainer = Trainer::new(config, store, opt)?;
    trainer.fit(train.len(), |batch, _rng| {
        let (x, y) = to_tensor(&train, batch.indices).map_err(pact_inference::Error::step)?;
        let logits = net.forward(&x, true)?;
        let hits = logits
            .argmax(1)?
            .iter()
            .zip(&y)
            .filter(|(p, l)| p == l)
            .count();
        Ok(StepOutput::new(logits.cross_entropy(&y)?)
            .metric("accuracy", hits as f64 / y.len() as f64))
    })?;

    let (correct, per_level) = pact::no_grad(|| evaluate(&net, &test))?;
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
fn evaluate(net: &ResNet, test: &ImageSet) -> Result<(f64, Vec<f64>)> {
    let levels = test
        .difficulty
        .clone()
        .unwrap_or_else(|| vec![0; test.len()]);
    let n_levels = levels.iter().max().map_or(1, |m| m + 1);
    let mut hits = vec![0usize; n_levels];
    let mut counts = vec![0usize; n_levels];
    let all: Vec<usize> = (0..test.len()).collect();
    for chunk in all.chunks(256) {
        let (x, y) = to_tensor(test, chunk)?;
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
