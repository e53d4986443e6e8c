//! Checkpoint files: what is written, no temporary files left, clear errors on bad files.

use crate::common::*;
use pact::nn::{checkpoint, Adam, AdamConfig, Sgd, SgdConfig};
use pact::Device;
use pact_inference::trainer::{META_KEY, OPTIM_PREFIX};
use pact_inference::{Error, Stop, Trainer, TrainerConfig};
use std::path::Path;

fn config(dir: &Path) -> TrainerConfig {
    TrainerConfig {
        batch_size: 8,
        stop: Stop::Steps(7),
        checkpoint_dir: Some(dir.to_path_buf()),
        checkpoint_every: Some(3),
        keep_step_checkpoints: true,
        ..Default::default()
    }
}

fn adam_trainer(config: TrainerConfig, init: u64) -> (Trainer<Adam>, Mlp) {
    let (store, mlp) = model(init);
    let opt = Adam::new(store.trainable(), AdamConfig::default());
    (Trainer::new(config, store, opt).unwrap(), mlp)
}

fn resume_error(trainer: &mut Trainer<Adam>, path: &Path) -> String {
    match trainer.resume(path) {
        Err(e @ Error::Resume { .. }) => e.to_string(),
        Err(other) => panic!("expected a resume error, got {other}"),
        Ok(()) => panic!("resuming from {} succeeded", path.display()),
    }
}

#[test]
fn checkpoints_hold_everything_and_leave_no_temporary_files() {
    let data = data();
    let dir = tempfile::tempdir().unwrap();
    let (mut trainer, mlp) = adam_trainer(config(dir.path()), 1);
    fit(&mut trainer, &mlp, &data).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "last.safetensors",
            "step-00000003.safetensors",
            "step-00000006.safetensors",
            "step-00000007.safetensors"
        ]
    );
    let ckpt = checkpoint::load(dir.path().join("last.safetensors"), Device::Cpu).unwrap();
    assert_eq!(ckpt.metadata["step"], "7");
    let state: serde_json::Value = serde_json::from_str(&ckpt.metadata[META_KEY]).unwrap();
    assert_eq!(state["config"]["batch_size"], 8);
    for name in trainer.store().names() {
        assert!(ckpt.tensors.contains_key(&name), "{name}");
        let moment = format!("{OPTIM_PREFIX}{name}.exp_avg");
        assert!(ckpt.tensors.contains_key(&moment), "{moment}");
    }
}

#[test]
fn bad_checkpoints_give_clear_errors_and_change_nothing() {
    let data = data();
    let dir = tempfile::tempdir().unwrap();
    let (mut trainer, mlp) = adam_trainer(config(dir.path()), 1);
    fit(&mut trainer, &mlp, &data).unwrap();
    let last = dir.path().join("last.safetensors");
    let (mut fresh, _) = adam_trainer(config(dir.path()), 2);
    let before = param_bits(fresh.store());

    // Truncated, as by a copy cut short.
    let bytes = std::fs::read(&last).unwrap();
    let torn = dir.path().join("torn.safetensors");
    std::fs::write(&torn, &bytes[..bytes.len() / 2]).unwrap();
    let message = resume_error(&mut fresh, &torn);
    assert!(message.contains("corrupt"), "{message}");
    assert!(message.contains("torn.safetensors"), "{message}");

    // Garbage.
    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"not a checkpoint at all").unwrap();
    assert!(resume_error(&mut fresh, &garbage).contains("corrupt"));

    // Missing.
    let missing = dir.path().join("missing.safetensors");
    assert!(resume_error(&mut fresh, &missing).contains("missing.safetensors"));

    // A plain model checkpoint, not a trainer's.
    let plain = dir.path().join("plain.safetensors");
    checkpoint::save_store(trainer.store(), &plain, &Default::default()).unwrap();
    assert!(resume_error(&mut fresh, &plain).contains("not a checkpoint written by the trainer"));

    // Another seed would give another data order.
    let (mut other_seed, _) = adam_trainer(
        TrainerConfig {
            seed: 1,
            ..config(dir.path())
        },
        2,
    );
    assert!(resume_error(&mut other_seed, &last).contains("seed 0 (now 1)"));

    // Another optimiser's state does not fit.
    let (store, _) = model(2);
    let sgd = Sgd::new(
        store.trainable(),
        SgdConfig {
            momentum: 0.9,
            ..Default::default()
        },
    );
    let mut with_sgd = Trainer::new(config(dir.path()), store, sgd).unwrap();
    let err = with_sgd.resume(&last).unwrap_err().to_string();
    assert!(err.contains("optimizer"), "{err}");

    assert_eq!(param_bits(fresh.store()), before);
    assert_eq!(fresh.step(), 0);
    // The good checkpoint still resumes.
    fresh.resume(&last).unwrap();
    assert_eq!(param_bits(fresh.store()), param_bits(trainer.store()));
}
