//! The NaN guard: a non-finite loss or gradient stops training with an error naming the
//! step, the tensor and the last good checkpoint, which stays readable.

use crate::common::*;
use pact::nn::{checkpoint, Sgd, SgdConfig};
use pact::{DType, Device};
use pact_inference::{Error, StepOutput, Stop, Trainer, TrainerConfig};

/// Two epochs of batches of 8, a checkpoint every 2 steps in `dir`.
fn checkpointed(dir: &std::path::Path) -> TrainerConfig {
    TrainerConfig {
        batch_size: 8,
        stop: Stop::Epochs(2),
        checkpoint_dir: Some(dir.to_path_buf()),
        checkpoint_every: Some(2),
        ..Default::default()
    }
}

#[test]
fn nan_loss_names_the_step_and_the_last_good_checkpoint() {
    let data = data();
    let dir = tempfile::tempdir().unwrap();
    let config = checkpointed(dir.path());
    let (store, mlp) = model(1);
    let opt = Sgd::new(store.trainable(), SgdConfig::default());
    let mut trainer = Trainer::new(config.clone(), store.clone(), opt).unwrap();
    let before = param_bits(&store);
    let err = trainer
        .fit(N, |b, rng| {
            let out = step(&mlp, &data, b, rng)?;
            if b.step == 5 {
                let nan = pact::Tensor::scalar(f64::NAN, DType::F32, Device::Cpu);
                return Ok(StepOutput::new(out.loss.mul(&nan)?));
            }
            Ok(out)
        })
        .unwrap_err();
    let last = dir.path().join("last.safetensors");
    match &err {
        Error::NonFinite {
            step,
            tensor,
            last_checkpoint,
        } => {
            assert_eq!((*step, tensor.as_str()), (5, "loss"));
            assert_eq!(last_checkpoint.as_deref(), Some(last.as_path()));
        }
        other => panic!("expected NonFinite, got {other}"),
    }
    let message = err.to_string();
    assert!(message.contains("step 5"), "{message}");
    assert!(message.contains(&last.display().to_string()), "{message}");
    assert_ne!(param_bits(&store), before);
    assert_eq!(trainer.step(), 4);

    // The checkpoint of step 4 is intact, and a new run resumes from it.
    let ckpt = checkpoint::load(&last, Device::Cpu).unwrap();
    assert_eq!(ckpt.metadata["step"], "4");
    let (store, mlp) = model(1);
    let opt = Sgd::new(store.trainable(), SgdConfig::default());
    let mut again = Trainer::new(config, store, opt).unwrap();
    again.resume(&last).unwrap();
    assert_eq!(fit(&mut again, &mlp, &data).unwrap().step, 10);
}

#[test]
fn a_nan_gradient_names_the_parameter() {
    let data = data();
    let (store, mlp) = model(1);
    let opt = Sgd::new(store.trainable(), SgdConfig::default());
    let config = TrainerConfig {
        batch_size: 8,
        ..Default::default()
    };
    let mut trainer = Trainer::new(config, store.clone(), opt).unwrap();
    let before = param_bits(&store);
    let err = trainer
        .fit(N, |b, rng| {
            let out = step(&mlp, &data, b, rng)?;
            // sqrt(w − w) is 0, but its gradient is ∞ − ∞ = NaN.
            let w = mlp.fc2.weight().tensor();
            let zero = w.sub(&w)?.sqrt()?.sum_all()?;
            Ok(StepOutput::new(out.loss.add(&zero)?))
        })
        .unwrap_err();
    match &err {
        Error::NonFinite {
            step,
            tensor,
            last_checkpoint,
        } => {
            assert_eq!((*step, tensor.as_str()), (1, "gradient of fc2.weight"));
            assert!(last_checkpoint.is_none());
        }
        other => panic!("expected NonFinite, got {other}"),
    }
    assert!(err.to_string().contains("no checkpoint"), "{err}");
    // Refused before the update: the parameters are untouched.
    assert_eq!(param_bits(&store), before);
}

/// A step that fails before it has a loss (a model refusing NaN halting logits, say) stops
/// training with an error naming the step, the cause and the last good checkpoint.
#[test]
fn a_failing_step_names_the_step_the_cause_and_the_last_good_checkpoint() {
    let data = data();
    let dir = tempfile::tempdir().unwrap();
    let config = checkpointed(dir.path());
    let (store, mlp) = model(1);
    let opt = Sgd::new(store.trainable(), SgdConfig::default());
    let mut trainer = Trainer::new(config, store, opt).unwrap();
    let err = trainer
        .fit(N, |b, rng| {
            if b.step == 3 {
                return Err(
                    pact::Error::invalid("HaltingLaw", "halting logits contain NaN").into(),
                );
            }
            step(&mlp, &data, b, rng)
        })
        .unwrap_err();
    let last = dir.path().join("last.safetensors");
    match &err {
        Error::StepFailed {
            step,
            source,
            last_checkpoint,
        } => {
            assert_eq!(*step, 3);
            assert!(source.to_string().contains("halting logits contain NaN"));
            assert_eq!(last_checkpoint.as_deref(), Some(last.as_path()));
        }
        other => panic!("expected StepFailed, got {other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("step 3 failed") && message.contains("NaN"),
        "{message}"
    );
    assert_eq!(trainer.step(), 2);
}
