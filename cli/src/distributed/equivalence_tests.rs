//! `pact train`'s own training path (augmentation, Concrete noise, ACT's halting loop, the
//! score function's baseline, batch norm, the spatial models) on K replicas that are threads:
//! the parameters after one epoch are those of one process, up to the order of
//! floating-point sums. The same code runs over MPI; `cli/tests/distributed.rs` runs it
//! under `mpirun`.

use crate::commands::run_config::{TrainConfig, TrainOptions};
use crate::commands::train::train_with;
use pact::collective::{Collective, ThreadGroup};
use pact::nn::checkpoint;
use pact::Device;
use std::path::Path;
use std::sync::Arc;

/// The largest relative difference (absolute below 1) allowed between the `f32` parameters
/// (and optimiser state) of K replicas and of one process after one epoch (5 steps): sums
/// over replicas add the same terms in another order (see `cli/tests/distributed.rs`); the
/// largest difference measured was 7e-7.
const TOLERANCE: f64 = 1e-5;

/// A small run: 48 8×8 shapes in batches of 10 (the last has 8), one epoch.
fn config(model: &str) -> TrainConfig {
    TrainConfig {
        model: model.into(),
        data: "shapes:48:8".into(),
        units: 2,
        widths: [4, 4, 4],
        epochs: 1,
        batch_size: 10,
        lr: 0.05,
        schedule: "constant".into(),
        penalty_warmup: 0.0,
        augment: true,
        checkpoint_every: 1000,
        ..TrainConfig::default()
    }
}

fn values(dir: &Path) -> Vec<(String, Vec<f64>)> {
    checkpoint::load(dir.join("last.safetensors"), Device::Cpu)
        .unwrap()
        .tensors
        .into_iter()
        .map(|(n, t)| (n, t.to_f64_vec()))
        .collect()
}

/// Trains `c` on `k` replicas (threads) with output directory `dir` (replica 0 writes);
/// the parameters it saved.
fn on_replicas(c: &TrainConfig, k: usize, dir: &Path) -> Vec<(String, Vec<f64>)> {
    std::thread::scope(|s| {
        for member in ThreadGroup::new(k) {
            s.spawn(move || {
                let group: Arc<dyn Collective> = Arc::new(member);
                let options = TrainOptions {
                    resume: false,
                    verbose: false,
                    group,
                };
                train_with(c, dir, &options, Device::Cpu).unwrap();
            });
        }
    });
    values(dir)
}

fn assert_close(model: &str, k: usize, got: &[(String, Vec<f64>)], want: &[(String, Vec<f64>)]) {
    assert_eq!(got.len(), want.len());
    let mut worst = 0.0f64;
    for ((name, g), (_, w)) in got.iter().zip(want) {
        for (a, b) in g.iter().zip(w) {
            let d = (a - b).abs() / b.abs().max(1.0);
            worst = worst.max(d);
            assert!(
                d <= TOLERANCE,
                "{model} on {k} replicas: {name} is {a}, {b} in one process"
            );
        }
    }
    eprintln!("{model} on {k} replicas: largest relative difference {worst:.1e}");
}

fn check(model: &str, extra: impl Fn(&mut TrainConfig), replicas: &[usize]) {
    let mut c = config(model);
    extra(&mut c);
    let dir = tempfile::tempdir().unwrap();
    let alone = dir.path().join("alone");
    train_with(
        &c,
        &alone,
        &TrainOptions {
            verbose: false,
            ..TrainOptions::single(false)
        },
        Device::Cpu,
    )
    .unwrap();
    let want = values(&alone);
    for &k in replicas {
        let got = on_replicas(&c, k, &dir.path().join(format!("k{k}")));
        if k == 1 {
            assert_eq!(got, want, "{model}: one replica differs from one process");
        }
        assert_close(model, k, &got, &want);
    }
}

#[test]
fn pact_with_augmentation_on_one_two_and_three_replicas() {
    check("pact-resnet", |_| {}, &[1, 2, 3]);
}

#[test]
fn act_and_the_plain_resnet_on_two_replicas() {
    check("act-resnet", |_| {}, &[2]);
    check("resnet", |_| {}, &[2]);
}

#[test]
fn the_score_function_estimator_on_two_replicas() {
    check("pact-resnet", |c| c.score_function = true, &[2]);
}

#[test]
fn spatial_models_on_two_replicas() {
    check("sact-resnet", |_| {}, &[2]);
    check("spatial-pact-resnet", |c| c.straight_through = true, &[2]);
}
