//! Data-parallel training on replicas that are threads ([`ThreadGroup`]): K = 1, 2 and 3
//! replicas end with the parameters of one process, up to the order of floating-point sums
//! (relative 1e-9 in `f64`); a run checkpointed by K replicas resumes with another K; only
//! replica 0 writes.

use crate::common::{data, Data, CLASSES, FEATURES, N};
use pact::collective::{Collective, ThreadGroup};
use pact::nn::{BatchNorm, Linear, ParamStore, Sgd, SgdConfig};
use pact::{DType, Device, Rng, Tensor};
use pact_inference::{Batch, Result, StepOutput, Stop, Trainer, TrainerConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The largest relative difference allowed between a data-parallel run and one process.
const TOLERANCE: f64 = 1e-9;

/// A 4-8-3 MLP with batch norm after the hidden layer, in `f64`.
struct Net {
    fc1: Linear,
    bn: BatchNorm,
    fc2: Linear,
}

fn net() -> (ParamStore, Net) {
    let store = ParamStore::new(DType::F64, Device::Cpu);
    let mut rng = Rng::seed(5);
    let fc1 = Linear::new(&store.pp("fc1"), FEATURES, 8, &mut rng).unwrap();
    let bn = BatchNorm::new(&store.pp("bn"), 8, 1e-5, 0.1).unwrap();
    let fc2 = Linear::new(&store.pp("fc2"), 8, CLASSES, &mut rng).unwrap();
    (store, Net { fc1, bn, fc2 })
}

/// Noise on the inputs and a dropout mask, both drawn per example from the trainer's stream.
fn step(net: &Net, data: &Data, batch: &Batch<'_>, rng: &mut Rng) -> Result<StepOutput> {
    let n = batch.indices.len();
    let mut x = Vec::with_capacity(n * FEATURES);
    for &i in batch.indices {
        x.extend(
            data.x[i * FEATURES..(i + 1) * FEATURES]
                .iter()
                .map(|&v| v as f64),
        );
    }
    let labels: Vec<usize> = batch.indices.iter().map(|&i| data.y[i]).collect();
    let x = Tensor::from_f64_vec(x, [n, FEATURES], Device::Cpu)?;
    let noise = Tensor::rand_uniform([n, FEATURES], -0.1, 0.1, DType::F64, Device::Cpu, rng)?;
    let h = net.fc1.forward(&x.add(&noise)?)?;
    let h = net.bn.forward(&h, true)?.relu()?;
    let keep = Tensor::full(0.8, [n, 8], DType::F64, Device::Cpu).bernoulli(rng)?;
    let logits = net.fc2.forward(&h.mul(&keep)?.mul_scalar(1.0 / 0.8)?)?;
    let loss = logits.cross_entropy(&labels)?;
    let hits = logits
        .argmax(1)?
        .iter()
        .zip(&labels)
        .filter(|(p, l)| p == l)
        .count();
    Ok(StepOutput::new(loss).metric("accuracy", hits as f64 / n as f64))
}

fn sgd(store: &ParamStore) -> Sgd {
    let config = SgdConfig {
        lr: 0.3,
        momentum: 0.9,
        nesterov: false,
        weight_decay: 1e-3,
    };
    Sgd::new(store.trainable(), config)
}

/// Batches of 12 over 40 examples: the last batch of each epoch has 4.
fn config(steps: u64, dir: Option<&Path>) -> TrainerConfig {
    TrainerConfig {
        seed: 3,
        batch_size: 12,
        stop: Stop::Steps(steps),
        checkpoint_dir: dir.map(Path::to_path_buf),
        log_path: dir.map(|d| d.join("log.jsonl")),
        ..Default::default()
    }
}

/// What one replica ends with: every parameter and buffer, and the log records' losses.
type Outcome = (Vec<(String, Vec<f64>)>, Vec<f64>);

fn values(store: &ParamStore) -> Vec<(String, Vec<f64>)> {
    store
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.to_f64_vec()))
        .collect()
}

/// Trains to `steps` on one replica of `group` (or alone), resuming from `dir` if asked.
fn replica(
    group: Option<Arc<dyn Collective>>,
    steps: u64,
    dir: Option<&Path>,
    resume: bool,
) -> Outcome {
    let data = data();
    let (store, net) = net();
    let mut trainer = Trainer::new(config(steps, dir), store.clone(), sgd(&store)).unwrap();
    if let Some(g) = group {
        trainer = trainer.with_replicas(g);
    }
    if resume {
        assert!(trainer.resume_latest().unwrap());
    }
    let summary = trainer.fit(N, |b, rng| step(&net, &data, b, rng)).unwrap();
    let losses = summary.records.iter().map(|r| r.loss).collect();
    (values(&store), losses)
}

/// Runs `replica` on each of `k` threads; the outcomes by rank.
fn on_replicas(k: usize, steps: u64, dirs: &[PathBuf], resume: bool) -> Vec<Outcome> {
    std::thread::scope(|s| {
        let handles: Vec<_> = ThreadGroup::new(k)
            .into_iter()
            .enumerate()
            .map(|(r, member)| {
                let dir = dirs.get(r).or(dirs.first()).cloned();
                s.spawn(move || replica(Some(Arc::new(member)), steps, dir.as_deref(), resume))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let scale = w.abs().max(1.0);
        assert!(
            (g - w).abs() <= TOLERANCE * scale,
            "{what}[{i}]: {g} on the replicas, {w} in one process"
        );
    }
}

fn assert_same_run(got: &Outcome, want: &Outcome) {
    for ((name, g), (_, w)) in got.0.iter().zip(&want.0) {
        assert_close(name, g, w);
    }
    assert_close("losses", &got.1, &want.1);
}

#[test]
fn one_two_and_three_replicas_train_as_one_process() {
    // 10 steps: three epochs and a bit, through the short last batches.
    let alone = replica(None, 10, None, false);
    for k in 1..=3 {
        let outcomes = on_replicas(k, 10, &[], false);
        for (rank, outcome) in outcomes.iter().enumerate() {
            assert_same_run(outcome, &alone);
            // The replicas agree exactly with each other.
            assert_eq!(outcome.0, outcomes[0].0, "replica {rank} of {k}");
        }
    }
}

#[test]
fn a_run_checkpointed_by_two_replicas_resumes_on_three_and_alone() {
    let straight = replica(None, 10, None, false);
    for resumed_on in [3, 1] {
        let dir = tempfile::tempdir().unwrap();
        // Each replica has its own directory: only replica 0's receives files.
        let dirs: Vec<PathBuf> = (0..3).map(|r| dir.path().join(format!("r{r}"))).collect();
        on_replicas(2, 6, &dirs[..2], false);
        assert!(dirs[0].join("last.safetensors").exists());
        assert!(dirs[0].join("log.jsonl").exists());
        assert!(!dirs[1].exists(), "replica 1 wrote files");
        let resumed = if resumed_on == 1 {
            vec![replica(None, 10, Some(&dirs[0]), true)]
        } else {
            // Replica 0 reads the checkpoint and sends it: the others have none.
            let shared = vec![dirs[0].clone(), dirs[1].clone(), dirs[2].clone()];
            on_replicas(resumed_on, 10, &shared, true)
        };
        for outcome in &resumed {
            for ((name, g), (_, w)) in outcome.0.iter().zip(&straight.0) {
                assert_close(name, g, w);
            }
        }
        // The log holds the steps of both parts, as one run's.
        let lines = std::fs::read_to_string(dirs[0].join("log.jsonl")).unwrap();
        assert_eq!(lines.lines().count(), 10);
    }
}

#[test]
fn batches_smaller_than_the_replicas_are_refused_on_every_replica() {
    let errors: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = ThreadGroup::new(3)
            .into_iter()
            .map(|m| {
                s.spawn(move || {
                    let data = data();
                    let (store, net) = net();
                    let mut c = config(10, None);
                    c.batch_size = 2;
                    let mut trainer = Trainer::new(c, store.clone(), sgd(&store))
                        .unwrap()
                        .with_replicas(Arc::new(m));
                    match trainer.fit(N, |b, rng| step(&net, &data, b, rng)) {
                        Ok(_) => String::new(),
                        Err(e) => e.to_string(),
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for e in errors {
        assert!(
            e.contains("needs at least 3 examples in every batch"),
            "{e}"
        );
    }
}

#[test]
fn a_failing_replica_stops_the_others_with_an_error() {
    let errors: Vec<Option<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = ThreadGroup::new(2)
            .into_iter()
            .map(|m| {
                s.spawn(move || {
                    let rank = m.rank();
                    let data = data();
                    let (store, net) = net();
                    let mut trainer = Trainer::new(config(10, None), store.clone(), sgd(&store))
                        .unwrap()
                        .with_replicas(Arc::new(m));
                    let result = trainer.fit(N, |b, rng| {
                        if rank == 1 && b.step == 3 {
                            return Err(pact_inference::Error::step(std::fmt::Error));
                        }
                        step(&net, &data, b, rng)
                    });
                    // Leaving drops this replica's member, as a process that exits would.
                    drop(trainer);
                    result.err().map(|e| e.to_string())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(errors[1]
        .as_deref()
        .unwrap()
        .contains("training step failed"));
    let other = errors[0].as_deref().unwrap();
    assert!(other.contains("replica 1 left"), "{other}");
}
