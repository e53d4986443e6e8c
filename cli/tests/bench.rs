//! `pact bench --checkpoint`: timing a trained network on real test images, with the units it
//! executed; errors for batches larger than the data.

use std::process::Command;

fn pact(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pact"))
        .args(args)
        .output()
        .expect("run pact")
}

#[test]
fn bench_times_a_trained_checkpoint_and_reports_its_units() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let train = pact(&[
        "train",
        "--model",
        "pact-resnet",
        "--units",
        "2",
        "--epochs",
        "1",
        "--data",
        "shapes:64:8",
        "--batch-size",
        "32",
        "--out",
        out,
    ]);
    assert!(
        train.status.success(),
        "{}",
        String::from_utf8_lossy(&train.stderr)
    );
    let ckpt = dir.path().join("last.safetensors");
    let ckpt = ckpt.to_str().unwrap();
    let bench = pact(&[
        "bench",
        "--checkpoint",
        ckpt,
        "--data",
        "shapes:64:8",
        "--mode",
        "pact",
        "--batch",
        "8",
        "--steps",
        "3",
        "--json",
    ]);
    assert!(
        bench.status.success(),
        "{}",
        String::from_utf8_lossy(&bench.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&bench.stdout).unwrap();
    for key in [
        "train_img_per_s",
        "eval_img_per_s",
        "peak_rss_mb",
        "eval_peak_activation_mb",
    ] {
        assert!(v[key].as_f64().is_some_and(|x| x > 0.0), "{key}: {v}");
    }
    assert_eq!(v["units"], 2);
    let units = v["eval_units_mean"].as_array().unwrap();
    assert_eq!(units.len(), 3, "{v}");
    assert!(
        units
            .iter()
            .all(|u| (1.0..=2.0).contains(&u.as_f64().unwrap())),
        "{v}"
    );

    // More images per batch than the test split holds.
    let err = pact(&[
        "bench",
        "--checkpoint",
        ckpt,
        "--data",
        "shapes:64:8",
        "--batch",
        "500",
        "--steps",
        "1",
    ]);
    assert!(!err.status.success());
    let msg = String::from_utf8_lossy(&err.stderr);
    assert!(msg.contains("fewer than one batch of 500"), "{msg}");
}
