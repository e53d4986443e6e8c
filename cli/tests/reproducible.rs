//! The same seed and data give bit-identical parameters and metrics, whatever the thread count
//! (docs/guide/reproducibility.md): two runs of `pact train` with relaxed sampling, data
//! shuffling and augmentation write the same checkpoint tensors and the same log, apart
//! from wall-clock fields; another seed changes them.

use pact::nn::checkpoint;
use pact::Device;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Trains a small PACT ResNet (Concrete-relaxed halting, shuffled, augmented) into `out`.
fn train(out: &Path, seed: &str, threads: &str) {
    train_with(out, seed, threads, None);
}

/// As [`train`], with `PACT_CONV` set to `conv` (e.g. `im2col`) when given.
fn train_with(out: &Path, seed: &str, threads: &str, conv: Option<&str>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pact"));
    if let Some(kernels) = conv {
        command.env("PACT_CONV", kernels);
    }
    let run = command
        .env("RAYON_NUM_THREADS", threads)
        .args([
            "train",
            "--model",
            "pact-resnet",
            "--data",
            "shapes:48:8",
            "--units",
            "1",
            "--epochs",
            "2",
            "--batch-size",
            "16",
            "--augment",
            "--seed",
            seed,
            "--out",
        ])
        .arg(out)
        .output()
        .expect("run pact");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// Every tensor of the run's checkpoint, as bits.
fn tensor_bits(out: &Path) -> BTreeMap<String, Vec<u32>> {
    let ckpt = checkpoint::load(out.join("last.safetensors"), Device::Cpu).unwrap();
    ckpt.tensors
        .iter()
        .map(|(n, t)| {
            (
                n.clone(),
                t.to_f32_vec().iter().map(|v| v.to_bits()).collect(),
            )
        })
        .collect()
}

/// The log without its wall-clock fields; numbers keep their exact printed form.
fn log_without_timing(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("log.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            let record = v.as_object_mut().unwrap();
            record.remove("examples_per_s");
            record.remove("elapsed_s");
            v
        })
        .collect()
}

#[test]
fn same_seed_and_threads_give_identical_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    train(&a, "7", "2");
    train(&b, "7", "2");
    train(&c, "8", "2");
    let (ta, tb) = (tensor_bits(&a), tensor_bits(&b));
    assert!(!ta.is_empty());
    for (name, bits) in &ta {
        assert_eq!(Some(bits), tb.get(name), "tensor {name} differs");
    }
    assert_eq!(ta.len(), tb.len());
    let (la, lb) = (log_without_timing(&a), log_without_timing(&b));
    assert!(!la.is_empty());
    assert_eq!(la, lb, "the logs differ");
    // The seed matters: another one gives other parameters.
    assert_ne!(ta, tensor_bits(&c), "the seed had no effect");
}

#[test]
fn the_thread_count_does_not_change_a_run() {
    // Every kernel splits its outputs across threads or sums in fixed chunks, in order: the
    // direct convolution kernels (where the CPU has them) and the im2col path alike.
    for conv in [None, Some("im2col")] {
        let tmp = tempfile::tempdir().unwrap();
        let (one, three) = (tmp.path().join("one"), tmp.path().join("three"));
        train_with(&one, "5", "1", conv);
        train_with(&three, "5", "3", conv);
        let (t1, t3) = (tensor_bits(&one), tensor_bits(&three));
        assert!(!t1.is_empty());
        assert_eq!(
            t1, t3,
            "parameters differ between 1 and 3 threads ({conv:?})"
        );
        assert_eq!(log_without_timing(&one), log_without_timing(&three));
    }
}
