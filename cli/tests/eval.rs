//! `pact eval` on a checkpoint written the way `pact train` writes them.

use pact::nn::{checkpoint, ParamStore};
use pact::{DType, Device, Rng};
use pact_models::resnet::{ResNet, ResNetConfig};
use pact_models::spec::{ModelName, ModelSpec};
use std::collections::BTreeMap;
use std::process::Command;

fn tiny_config() -> ResNetConfig {
    ResNetConfig {
        units_per_stage: 2,
        widths: [4, 8, 8],
        in_channels: 3,
        num_classes: 6,
        halting_bias: Some(0.0),
    }
}

/// Writes the weights of a `tiny_config()` network to `dir/file`, described in the metadata as
/// a network of shape `described` (the same one unless a test wants a mismatch).
fn write_checkpoint_as(
    dir: &std::path::Path,
    file: &str,
    described: ResNetConfig,
) -> std::path::PathBuf {
    let store = ParamStore::new(DType::F32, Device::Cpu);
    ResNet::new(&store, tiny_config(), &mut Rng::seed(0)).unwrap();
    let spec = ModelSpec {
        name: ModelName::PactResnet,
        resnet: described,
        input_size: [8, 8],
        data: "shapes:60:8".into(),
    };
    let meta: BTreeMap<String, String> = [spec.to_metadata().unwrap()].into_iter().collect();
    let path = dir.join(file);
    checkpoint::save_store(&store, &path, &meta).unwrap();
    path
}

fn write_checkpoint(dir: &std::path::Path) -> std::path::PathBuf {
    write_checkpoint_as(dir, "model.safetensors", tiny_config())
}

fn pact(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pact"))
        .args(args)
        .output()
        .expect("run pact")
}

#[test]
fn eval_prints_the_documented_json_keys() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = write_checkpoint(dir.path());
    let out = pact(&[
        "eval",
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--data",
        "shapes:60:8",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "accuracy",
        "flops_mean",
        "flops_std",
        "units_mean",
        "peak_activation_bytes",
        "examples_per_s",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["units_mean"].as_array().unwrap().len(), 3);
    assert_eq!(v["mode"], "pact-deterministic");
    let act = pact(&[
        "eval",
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--data",
        "shapes:60:8",
        "--mode",
        "act",
        "--json",
    ]);
    let va: serde_json::Value = serde_json::from_slice(&act.stdout).unwrap();
    assert_eq!(va["mode"], "act");
}

#[test]
fn eval_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = write_checkpoint(dir.path());
    let c = ckpt.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "eval",
                "--checkpoint",
                "/nonexistent/x.safetensors",
                "--data",
                "shapes",
            ],
            "does not exist",
        ),
        (
            &["eval", "--checkpoint", c, "--data", "nosuchdata"],
            "nosuchdata",
        ),
        (
            &["eval", "--checkpoint", c, "--data", "shapes:10:16"],
            "trained on 3x8x8",
        ),
        (
            &[
                "eval",
                "--checkpoint",
                c,
                "--data",
                "shapes:10:8",
                "--batch-size",
                "0",
            ],
            "--batch-size",
        ),
    ];
    for (args, needle) in cases {
        let out = pact(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    // A file that is not a checkpoint.
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, b"garbage").unwrap();
    let out = pact(&[
        "eval",
        "--checkpoint",
        bad.to_str().unwrap(),
        "--data",
        "shapes",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.safetensors"));
}

#[test]
fn a_checkpoint_from_another_model_reports_every_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    // Weights of a 2-unit network described as a 3-unit one.
    let wrong = ResNetConfig {
        units_per_stage: 3,
        ..tiny_config()
    };
    let path = write_checkpoint_as(dir.path(), "other.safetensors", wrong);
    let out = pact(&[
        "eval",
        "--checkpoint",
        path.to_str().unwrap(),
        "--data",
        "shapes:10:8",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("other.safetensors") && err.contains("missing tensor stages.0.units.2"),
        "{err}"
    );
}

#[test]
fn an_unwritable_output_path_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let out = pact(&[
        "train",
        "--data",
        "shapes:16:8",
        "--units",
        "1",
        "--epochs",
        "1",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not-a-dir"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
