//! Configuration errors are reported, clearly, before training starts.

use crate::common::*;
use pact::nn::{LrSchedule, Sgd, SgdConfig};
use pact_inference::{Error, StepOutput, Stop, Trainer, TrainerConfig};
use std::path::PathBuf;

fn message(config: TrainerConfig) -> String {
    let (store, _) = model(1);
    let opt = Sgd::new(store.trainable(), SgdConfig::default());
    match Trainer::new(config, store, opt) {
        Err(e @ Error::InvalidConfig(_)) => e.to_string(),
        Err(other) => panic!("expected InvalidConfig, got {other}"),
        Ok(_) => panic!("the configuration was accepted"),
    }
}

#[test]
fn invalid_configurations_are_rejected_with_the_field_named() {
    let base = TrainerConfig::default();
    let cases = [
        (
            TrainerConfig {
                batch_size: 0,
                ..base.clone()
            },
            "batch_size",
        ),
        (
            TrainerConfig {
                stop: Stop::Epochs(0),
                ..base.clone()
            },
            "epochs",
        ),
        (
            TrainerConfig {
                stop: Stop::Steps(0),
                ..base.clone()
            },
            "steps",
        ),
        (
            TrainerConfig {
                checkpoint_every: Some(5),
                ..base.clone()
            },
            "checkpoint_dir",
        ),
        (
            TrainerConfig {
                checkpoint_dir: Some(PathBuf::from("ck")),
                checkpoint_every: Some(0),
                ..base.clone()
            },
            "checkpoint_every",
        ),
        (
            TrainerConfig {
                log_path: Some(PathBuf::from("log.txt")),
                ..base.clone()
            },
            ".jsonl",
        ),
        (
            TrainerConfig {
                log_every: 0,
                ..base.clone()
            },
            "log_every",
        ),
        (
            TrainerConfig {
                clip_grad_norm: Some(-1.0),
                ..base.clone()
            },
            "clip_grad_norm",
        ),
        (
            TrainerConfig {
                schedule: Some(LrSchedule::Constant { value: 0.0 }),
                ..base.clone()
            },
            "schedule",
        ),
    ];
    for (config, field) in cases {
        let m = message(config);
        assert!(m.contains(field), "{m} should name {field}");
    }
}

#[test]
fn empty_data_and_bad_metric_names_are_rejected() {
    let data = data();
    let (store, mlp) = model(1);
    let opt = Sgd::new(store.trainable(), SgdConfig::default());
    let mut trainer = Trainer::new(TrainerConfig::default(), store, opt).unwrap();
    let err = trainer
        .fit(0, |b, rng| step(&mlp, &data, b, rng))
        .unwrap_err();
    assert!(err.to_string().contains("at least one example"), "{err}");
    for bad in ["loss", "a,b", ""] {
        let err = trainer
            .fit(N, |b, rng| {
                let out = step(&mlp, &data, b, rng)?;
                Ok(StepOutput::new(out.loss).metric(bad, 1.0))
            })
            .unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)), "{err}");
    }
    assert_eq!(trainer.step(), 0);
}
