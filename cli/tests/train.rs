//! `pact train`: a short run writes a checkpoint `pact eval` can read; resume continues;
//! bad settings are one-line errors.

use std::process::Command;

fn pact(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pact"))
        .args(args)
        .output()
        .expect("run pact")
}

#[test]
fn train_then_eval_then_resume() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let common = [
        "--data",
        "shapes:96:8",
        "--units",
        "2",
        "--batch-size",
        "32",
        "--out",
        out,
    ];
    let mut args = vec!["train", "--model", "act-resnet", "--epochs", "1"];
    args.extend(common);
    let run = pact(&args);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let ckpt = dir.path().join("last.safetensors");
    assert!(ckpt.exists());
    let log = std::fs::read_to_string(dir.path().join("log.jsonl")).unwrap();
    assert!(
        log.lines().count() >= 1 && log.contains("\"loss\""),
        "{log}"
    );

    let eval = pact(&[
        "eval",
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--data",
        "shapes:40:8",
        "--json",
    ]);
    assert!(
        eval.status.success(),
        "{}",
        String::from_utf8_lossy(&eval.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(v["model"], "act-resnet");
    assert_eq!(v["mode"], "act");

    // Resume into a longer run: it continues from step 3 (96 / 32 per epoch).
    let mut args = vec![
        "train",
        "--model",
        "act-resnet",
        "--epochs",
        "2",
        "--resume",
    ];
    args.extend(common);
    let resumed = pact(&args);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert!(
        String::from_utf8_lossy(&resumed.stdout).contains("trained 6 steps"),
        "{}",
        String::from_utf8_lossy(&resumed.stdout)
    );
}

#[test]
fn bad_settings_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "batch_sise = 3\n").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--model", "vgg"], "unknown model 'vgg'"),
        (vec!["--units", "0"], "--units"),
        (vec!["--batch-size", "0"], "--batch-size"),
        (vec!["--epochs", "0"], "--epochs"),
        (vec!["--temperature", "0"], "temperature"),
        (vec!["--lambda=-1"], "lambda"),
        (vec!["--optimizer", "rmsprop"], "rmsprop"),
        (vec!["--config", config.to_str().unwrap()], "batch_sise"),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["train", "--data", "shapes:32:8", "--out", out];
        args.extend(extra.iter().copied());
        let run = pact(&args);
        assert!(!run.status.success(), "{extra:?} succeeded");
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(err.contains(needle), "{extra:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{extra:?}: {err}");
    }
    let run = pact(&["train", "--data", "nosuch", "--out", out]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("nosuch"));
}
