//! Exact resume and determinism.

use crate::common::*;
use pact::nn::{Adam, AdamConfig, LrSchedule, Sgd, SgdConfig};
use pact_inference::{Stop, Trainer, TrainerConfig};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn sgd(store: &pact::nn::ParamStore) -> Sgd {
    let config = SgdConfig {
        lr: 0.2,
        momentum: 0.9,
        nesterov: true,
        weight_decay: 1e-3,
    };
    Sgd::new(store.trainable(), config)
}

fn adam(store: &pact::nn::ParamStore) -> Adam {
    Adam::new(store.trainable(), AdamConfig::default())
}

fn csv_without_timing(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            cells[..cells.len() - 2].join(",")
        })
        .collect()
}

#[test]
fn resume_after_interruption_is_bit_identical_with_momentum_sgd() {
    let data = data();
    let dir = tempfile::tempdir().unwrap();
    let config = |name: &str| TrainerConfig {
        seed: 11,
        batch_size: 8,
        stop: Stop::Epochs(3),
        checkpoint_dir: Some(dir.path().join(name)),
        checkpoint_every: Some(3),
        log_path: Some(dir.path().join(format!("{name}.jsonl"))),
        log_every: 2,
        ..Default::default()
    };

    let (store, mlp) = model(1);
    let mut straight = Trainer::new(config("straight"), store.clone(), sgd(&store)).unwrap();
    let full = fit(&mut straight, &mlp, &data).unwrap();
    assert_eq!((full.step, full.interrupted), (15, false));

    // Interrupted at the boundary after step 7 (mid-epoch, mid-log-window), as Ctrl-C does.
    let (store, mlp) = model(1);
    let flag = Arc::new(AtomicBool::new(false));
    let mut first = Trainer::new(config("split"), store.clone(), sgd(&store))
        .unwrap()
        .with_stop_flag(flag.clone());
    let part = first
        .fit(N, |b, rng| {
            if b.step == 7 {
                flag.store(true, Ordering::SeqCst);
            }
            step(&mlp, &data, b, rng)
        })
        .unwrap();
    assert_eq!((part.step, part.interrupted), (7, true));
    let last = dir.path().join("split/last.safetensors");
    assert_eq!(part.last_checkpoint.as_deref(), Some(last.as_path()));
    drop(first);

    // Everything dropped; a model initialised differently is overwritten by the checkpoint.
    let (store, mlp) = model(5);
    let mut second = Trainer::new(config("split"), store.clone(), sgd(&store)).unwrap();
    assert!(second.resume_latest().unwrap());
    assert_eq!(second.step(), 7);
    let rest = fit(&mut second, &mlp, &data).unwrap();
    assert_eq!((rest.step, rest.interrupted), (15, false));

    assert_eq!(param_bits(straight.store()), param_bits(second.store()));
    assert_eq!(
        optim_bits(straight.optimizer()),
        optim_bits(second.optimizer())
    );
    assert_eq!(straight.rng().state(), second.rng().state());
    let together: Vec<_> = part.records.iter().chain(&rest.records).collect();
    assert_eq!(full.records.len(), together.len());
    for (a, b) in full.records.iter().zip(together) {
        assert_eq!(record_bits(a), record_bits(b));
    }
    assert_eq!(
        jsonl_without_timing(&dir.path().join("straight.jsonl")),
        jsonl_without_timing(&dir.path().join("split.jsonl"))
    );
}

#[test]
fn extending_a_finished_run_with_adam_matches_one_long_run() {
    let data = data();
    let dir = tempfile::tempdir().unwrap();
    let config = |name: &str, stop| TrainerConfig {
        seed: 3,
        batch_size: 8,
        stop,
        schedule: Some(LrSchedule::Cosine {
            base: 0.05,
            min: 0.001,
            total_steps: 15,
        }),
        clip_grad_norm: Some(0.5),
        checkpoint_dir: Some(dir.path().join(name)),
        log_path: Some(dir.path().join(format!("{name}.csv"))),
        log_every: 4,
        ..Default::default()
    };

    let (store, mlp) = model(2);
    let mut straight = Trainer::new(
        config("straight", Stop::Epochs(3)),
        store.clone(),
        adam(&store),
    )
    .unwrap();
    let full = fit(&mut straight, &mlp, &data).unwrap();
    assert_eq!(
        full.records.iter().map(|r| r.step).collect::<Vec<_>>(),
        [4, 8, 12, 15]
    );

    // A run of 6 steps logs a partial record at its end ...
    let (store, mlp) = model(2);
    let mut short =
        Trainer::new(config("split", Stop::Steps(6)), store.clone(), adam(&store)).unwrap();
    let part = fit(&mut short, &mlp, &data).unwrap();
    assert_eq!(
        part.records.iter().map(|r| r.step).collect::<Vec<_>>(),
        [4, 6]
    );
    // ... which a longer run resumed from its checkpoint replaces with the full one.
    let (store, mlp) = model(9);
    let mut long = Trainer::new(
        config("split", Stop::Epochs(3)),
        store.clone(),
        adam(&store),
    )
    .unwrap();
    long.resume(dir.path().join("split/last.safetensors"))
        .unwrap();
    let rest = fit(&mut long, &mlp, &data).unwrap();

    assert_eq!(param_bits(straight.store()), param_bits(long.store()));
    assert_eq!(
        optim_bits(straight.optimizer()),
        optim_bits(long.optimizer())
    );
    let together: Vec<_> = part.records[..1].iter().chain(&rest.records).collect();
    assert_eq!(full.records.len(), together.len());
    for (a, b) in full.records.iter().zip(together) {
        assert_eq!(record_bits(a), record_bits(b));
    }
    assert_eq!(
        csv_without_timing(&dir.path().join("straight.csv")),
        csv_without_timing(&dir.path().join("split.csv"))
    );
}

#[test]
fn a_run_killed_after_a_checkpoint_resumes_to_the_same_result_and_log() {
    let data = data();
    let dir = tempfile::tempdir().unwrap();
    let config = TrainerConfig {
        seed: 4,
        batch_size: 8,
        stop: Stop::Steps(9),
        checkpoint_dir: Some(dir.path().to_path_buf()),
        checkpoint_every: Some(3),
        keep_step_checkpoints: true,
        log_path: Some(dir.path().join("log.jsonl")),
        ..Default::default()
    };
    let (store, mlp) = model(1);
    let mut run = Trainer::new(config.clone(), store.clone(), sgd(&store)).unwrap();
    fit(&mut run, &mlp, &data).unwrap();
    let expected_log = jsonl_without_timing(&dir.path().join("log.jsonl"));
    assert_eq!(expected_log.len(), 9);

    // As if killed during step 8, mid-way through writing a log line: the last good
    // checkpoint is the one of step 6, and the log runs ahead of it.
    std::fs::copy(
        dir.path().join("step-00000006.safetensors"),
        dir.path().join("last.safetensors"),
    )
    .unwrap();
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("log.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut log, b"{\"step\": 10, \"lo").unwrap();

    let (store, mlp) = model(1);
    let mut resumed = Trainer::new(config, store.clone(), sgd(&store)).unwrap();
    assert!(resumed.resume_latest().unwrap());
    assert_eq!(resumed.step(), 6);
    fit(&mut resumed, &mlp, &data).unwrap();
    assert_eq!(param_bits(run.store()), param_bits(resumed.store()));
    assert_eq!(
        jsonl_without_timing(&dir.path().join("log.jsonl")),
        expected_log
    );
}

#[test]
fn the_same_seed_gives_the_same_run_and_another_seed_another() {
    let data = data();
    let run = |seed: u64| {
        let (store, mlp) = model(1);
        let config = TrainerConfig {
            seed,
            batch_size: 8,
            stop: Stop::Epochs(2),
            ..Default::default()
        };
        let mut t = Trainer::new(config, store.clone(), sgd(&store)).unwrap();
        let summary = fit(&mut t, &mlp, &data).unwrap();
        let records: Vec<_> = summary.records.iter().map(record_bits).collect();
        (param_bits(&store), records)
    };
    let a = run(21);
    assert_eq!(a, run(21));
    let b = run(22);
    assert_ne!(a.0, b.0);
    assert_ne!(a.1, b.1);
}
