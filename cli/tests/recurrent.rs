//! `pact train` and `pact eval` on recurrent models and Graves' sequence tasks: a short run
//! writes a checkpoint `pact eval` rebuilds; resume continues; mismatched models and data are
//! one-line errors naming both.

use std::process::Command;

fn pact(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pact"))
        .args(args)
        .output()
        .expect("run pact")
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn recurrent_train_then_eval_then_resume() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let common = [
        "--model",
        "act-rnn",
        "--data",
        "parity:4",
        "--hidden",
        "8",
        "--max-ponder",
        "4",
        "--batch-size",
        "16",
        "--checkpoint-every",
        "3",
        "--out",
        out,
    ];
    let mut args = vec!["train", "--steps", "5"];
    args.extend(common);
    let stdout = ok(&pact(&args));
    assert!(stdout.contains("trained 5 steps"), "{stdout}");
    assert!(stdout.contains("at most 4 pondering steps"), "{stdout}");
    let ckpt = dir.path().join("last.safetensors");
    assert!(ckpt.exists());
    let log = std::fs::read_to_string(dir.path().join("log.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 5, "{log}");
    assert!(
        log.contains("\"units_1\"") && log.contains("\"accuracy\""),
        "{log}"
    );

    let eval = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "eval",
            "--checkpoint",
            ckpt.to_str().unwrap(),
            "--data",
            "parity:4",
            "--examples",
            "64",
            "--json",
        ];
        args.extend(extra);
        serde_json::from_str(&ok(&pact(&args))).unwrap()
    };
    let v = eval(&[]);
    for key in [
        "accuracy",
        "element_accuracy",
        "flops_mean",
        "flops_std",
        "units_mean",
        "peak_activation_bytes",
        "examples_per_s",
        "difficulty_levels",
        "accuracy_by_difficulty",
        "units_by_difficulty",
        "mode",
        "model",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["model"], "act-rnn");
    assert_eq!(v["mode"], "act");
    let units = v["units_mean"].as_array().unwrap();
    assert_eq!(units.len(), 1);
    assert!((1.0..=4.0).contains(&units[0].as_f64().unwrap()), "{v}");
    assert!(v["flops_mean"].as_f64().unwrap() > 0.0);
    // The same checkpoint under PACT's deterministic rule.
    let d = eval(&["--mode", "deterministic"]);
    assert_eq!(d["mode"], "pact-deterministic");
    // People's output.
    let text = ok(&pact(&[
        "eval",
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--data",
        "parity:4",
        "--examples",
        "32",
    ]));
    assert!(
        text.contains("act-rnn") && text.contains("pondering"),
        "{text}"
    );

    // Resume into a longer run: it continues from step 5 and logs only the new steps.
    let mut args = vec!["train", "--steps", "8", "--resume"];
    args.extend(common);
    let stdout = ok(&pact(&args));
    assert!(stdout.contains("trained 8 steps"), "{stdout}");
    let log = std::fs::read_to_string(dir.path().join("log.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 8, "{log}");
}

#[test]
fn every_recurrent_family_trains_a_step() {
    for model in [
        "pact-rnn",
        "pondernet-rnn",
        "act-lstm",
        "pact-lstm",
        "pondernet-lstm",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let stdout = ok(&pact(&[
            "train",
            "--model",
            model,
            "--data",
            "addition:2",
            "--hidden",
            "6",
            "--max-ponder",
            "3",
            "--steps",
            "2",
            "--batch-size",
            "4",
            "--out",
            dir.path().to_str().unwrap(),
        ]));
        assert!(stdout.contains("trained 2 steps"), "{model}: {stdout}");
        let v: serde_json::Value = serde_json::from_str(&ok(&pact(&[
            "eval",
            "--checkpoint",
            dir.path().join("last.safetensors").to_str().unwrap(),
            "--data",
            "addition:2",
            "--examples",
            "8",
            "--json",
        ])))
        .unwrap();
        assert_eq!(v["model"], model);
        let mode = if model.starts_with("act") {
            "act"
        } else {
            "pact-deterministic"
        };
        assert_eq!(v["mode"], mode);
    }
}

#[test]
fn mismatched_models_and_data_are_one_line_errors_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let cases: Vec<(Vec<&str>, [&str; 2])> = vec![
        (
            vec!["--model", "act-resnet", "--data", "parity:16"],
            ["act-resnet", "parity:16"],
        ),
        (
            vec!["--model", "pact-rnn", "--data", "shapes:32:8"],
            ["pact-rnn", "shapes:32:8"],
        ),
        (
            vec!["--model", "gru", "--data", "parity"],
            ["'gru'", "act-lstm"],
        ),
        (
            vec![
                "--model",
                "act-rnn",
                "--data",
                "parity:4",
                "--max-ponder",
                "0",
            ],
            ["--max-ponder", "--max-ponder"],
        ),
        (
            vec!["--model", "act-rnn", "--data", "parity:4", "--hidden", "0"],
            ["--hidden", "--hidden"],
        ),
        (
            vec!["--model", "act-rnn", "--data", "parity:4", "--steps", "0"],
            ["--steps", "--steps"],
        ),
        (
            vec![
                "--model",
                "pondernet-rnn",
                "--data",
                "parity:4",
                "--beta=-1",
            ],
            ["beta", "beta"],
        ),
    ];
    for (extra, needles) in cases {
        let mut args = vec!["train", "--out", out];
        args.extend(extra.iter().copied());
        let run = pact(&args);
        assert!(!run.status.success(), "{extra:?} succeeded");
        let err = String::from_utf8_lossy(&run.stderr);
        for needle in needles {
            assert!(err.contains(needle), "{extra:?}: {err}");
        }
        assert_eq!(err.trim().lines().count(), 1, "{extra:?}: {err}");
    }

    // A recurrent checkpoint on image data, on another parity size, and in `pact plot`.
    ok(&pact(&[
        "train",
        "--model",
        "act-rnn",
        "--data",
        "parity:4",
        "--hidden",
        "4",
        "--max-ponder",
        "2",
        "--steps",
        "1",
        "--out",
        out,
    ]));
    let ckpt = dir.path().join("last.safetensors");
    let c = ckpt.to_str().unwrap();
    let cases: Vec<(Vec<&str>, [&str; 2])> = vec![
        (
            vec!["eval", "--checkpoint", c, "--data", "shapes:10:8"],
            ["act-rnn", "shapes:10:8"],
        ),
        (
            vec!["eval", "--checkpoint", c, "--data", "parity:6"],
            ["parity:6", "parity:4"],
        ),
        (
            vec![
                "eval",
                "--checkpoint",
                c,
                "--data",
                "parity:4",
                "--examples",
                "0",
            ],
            ["--examples", "--examples"],
        ),
        (
            vec![
                "plot",
                "halting",
                "--checkpoint",
                c,
                "--data",
                "shapes:10:8",
                "--out",
                "x.png",
            ],
            ["recurrent model", "act-rnn"],
        ),
    ];
    // An image checkpoint on a sequence task.
    let image = dir.path().join("image");
    ok(&pact(&[
        "train",
        "--model",
        "act-resnet",
        "--data",
        "shapes:16:8",
        "--units",
        "1",
        "--epochs",
        "1",
        "--out",
        image.to_str().unwrap(),
    ]));
    let image_ckpt = image.join("last.safetensors");
    let mut cases = cases;
    cases.push((
        vec![
            "eval",
            "--checkpoint",
            image_ckpt.to_str().unwrap(),
            "--data",
            "parity:4",
        ],
        ["act-resnet", "parity:4"],
    ));
    for (args, needles) in cases {
        let run = pact(&args);
        assert!(!run.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&run.stderr);
        for needle in needles {
            assert!(err.contains(needle), "{args:?}: {err}");
        }
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn recurrent_settings_come_from_toml_too() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rnn.toml");
    std::fs::write(
        &config,
        "model = \"pondernet-lstm\"\ndata = \"parity:3\"\nhidden = 5\nmax_ponder = 3\n\
         steps = 2\nbatch_size = 8\nbeta = 0.1\nrecurrent_halting_bias = -2.0\n",
    )
    .unwrap();
    let out = dir.path().join("run");
    let stdout = ok(&pact(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(
        stdout.contains("pondernet-lstm (LSTM of 5 units, at most 3 pondering steps"),
        "{stdout}"
    );
    assert!(stdout.contains("trained 2 steps"), "{stdout}");
}
