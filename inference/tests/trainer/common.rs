//! A tiny classifier on generated data, with a step that draws from the trainer's stream.

use pact::nn::{Linear, Optimizer, ParamStore};
use pact::{DType, Device, Rng, Tensor};
use pact_inference::trainer::Record;
use pact_inference::{Batch, Result, StepOutput, Trainer};
use std::path::Path;

pub const N: usize = 40;
pub const FEATURES: usize = 4;
pub const CLASSES: usize = 3;

/// Inputs (`N × FEATURES`) and labels from a fixed linear teacher.
pub struct Data {
    pub x: Vec<f32>,
    pub y: Vec<usize>,
}

pub fn data() -> Data {
    let mut rng = Rng::seed(99);
    let x: Vec<f32> = (0..N * FEATURES)
        .map(|_| (2.0 * rng.uniform() - 1.0) as f32)
        .collect();
    let y = x
        .chunks(FEATURES)
        .map(|r| {
            let scores = [r[0] + r[1], r[2] - r[0], r[3] - r[1]];
            (0..CLASSES)
                .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
                .unwrap_or(0)
        })
        .collect();
    Data { x, y }
}

/// A 4-8-3 MLP.
pub struct Mlp {
    pub fc1: Linear,
    pub fc2: Linear,
}

/// A fresh model; `init` seeds the initial parameters.
pub fn model(init: u64) -> (ParamStore, Mlp) {
    let store = ParamStore::new(DType::F32, Device::Cpu);
    let mut rng = Rng::seed(init);
    let fc1 = Linear::new(&store.pp("fc1"), FEATURES, 8, &mut rng).unwrap();
    let fc2 = Linear::new(&store.pp("fc2"), 8, CLASSES, &mut rng).unwrap();
    (store, Mlp { fc1, fc2 })
}

/// One step: inputs with random-noise augmentation and a random dropout mask, both drawn
/// from the trainer's stream; reports accuracy and the mean noise drawn.
pub fn step(mlp: &Mlp, data: &Data, batch: &Batch<'_>, rng: &mut Rng) -> Result<StepOutput> {
    let n = batch.indices.len();
    let mut x = Vec::with_capacity(n * FEATURES);
    for &i in batch.indices {
        x.extend_from_slice(&data.x[i * FEATURES..(i + 1) * FEATURES]);
    }
    let labels: Vec<usize> = batch.indices.iter().map(|&i| data.y[i]).collect();
    let x = Tensor::from_f32_vec(x, [n, FEATURES], Device::Cpu)?;
    let noise = Tensor::rand_uniform([n, FEATURES], -0.1, 0.1, DType::F32, Device::Cpu, rng)?;
    let h = mlp.fc1.forward(&x.add(&noise)?)?.relu()?;
    let keep = Tensor::full(0.8, [n, 8], DType::F32, Device::Cpu).bernoulli(rng)?;
    let logits = mlp.fc2.forward(&h.mul(&keep)?.mul_scalar(1.0 / 0.8)?)?;
    let loss = logits.cross_entropy(&labels)?;
    let predicted = logits.argmax(1)?;
    let hits = predicted
        .iter()
        .zip(&labels)
        .filter(|(p, l)| p == l)
        .count();
    Ok(StepOutput::new(loss)
        .metric("accuracy", hits as f64 / n as f64)
        .metric("noise", noise.mean_all()?.to_scalar()?))
}

/// Every parameter and buffer as bits (of the value widened to `f64`, which is exact for
/// `f32`), by name.
pub fn param_bits(store: &ParamStore) -> Vec<(String, Vec<u64>)> {
    store
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.to_f64_vec().iter().map(|v| v.to_bits()).collect()))
        .collect()
}

/// The optimiser's state as bits, by name.
pub fn optim_bits(opt: &dyn Optimizer) -> Vec<(String, Vec<u64>)> {
    opt.state()
        .into_iter()
        .map(|(n, t)| (n, t.to_f64_vec().iter().map(|v| v.to_bits()).collect()))
        .collect()
}

/// A record without its wall-clock fields, every float as bits.
pub fn record_bits(r: &Record) -> (u64, u64, u64, u64, u64, Vec<(String, u64)>) {
    (
        r.step,
        r.epoch,
        r.lr.to_bits(),
        r.loss.to_bits(),
        r.grad_norm.to_bits(),
        r.metrics
            .iter()
            .map(|(k, v)| (k.clone(), v.to_bits()))
            .collect(),
    )
}

/// The JSON-lines log without the wall-clock fields.
pub fn jsonl_without_timing(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let obj = v.as_object_mut().unwrap();
            obj.remove("examples_per_s");
            obj.remove("elapsed_s");
            v
        })
        .collect()
}

/// Runs `fit` with the standard step.
pub fn fit<O: Optimizer>(
    trainer: &mut Trainer<O>,
    mlp: &Mlp,
    data: &Data,
) -> Result<pact_inference::TrainSummary> {
    trainer.fit(N, |b, rng| step(mlp, data, b, rng))
}
