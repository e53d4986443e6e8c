//! `pact bench --checkpoint`: timing a trained network on real test images, with the units it
//! executed; errors for batches larger than the data. `pact bench --json` reports the CPU
//! instruction-set path it ran (`PACT_CPU`) and refuses an invalid one.

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

/// `pact bench` under `PACT_CPU=isa` (and no `PACT_CONV`), on a batch of 2.
fn bench_on(isa: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pact"))
        .env("PACT_CPU", isa)
        .env_remove("PACT_CONV")
        .args(["bench", "--batch", "2", "--steps", "1", "--json"])
        .output()
        .expect("run pact")
}

#[test]
fn bench_reports_the_instruction_set_and_refuses_an_invalid_one() {
    let json = |out: &std::process::Output| -> serde_json::Value {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let generic = json(&bench_on("generic"));
    assert_eq!(
        (&generic["isa"], &generic["conv"]),
        (&"generic".into(), &"im2col".into())
    );
    // The CPU it ran on, named whatever the path: the same string on every run.
    let cpu = generic["cpu"].as_str().expect("a \"cpu\" string");
    assert_eq!(cpu, pact::backend::cpu::isa::cpu_description());
    #[cfg(target_arch = "x86_64")]
    assert!(cpu.contains("(family "), "{cpu}");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        let avx2 = json(&bench_on("avx2"));
        assert_eq!(
            (&avx2["isa"], &avx2["conv"]),
            (&"avx2".into(), &"direct".into())
        );
    }
    let bad = bench_on("avx9");
    assert!(!bad.status.success());
    let msg = String::from_utf8_lossy(&bad.stderr);
    assert!(
        msg.contains("PACT_CPU=\"avx9\" is not one of avx512, avx2, generic"),
        "{msg}"
    );
}
