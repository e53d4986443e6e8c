//! `pact sweep` in one process: every run of a grid trained, evaluated and recorded; a
//! failing run recorded with its error while the others go on; a second sweep runs only what
//! is missing; one grid point per SLURM array task; the Fashion-MNIST grid lists the
//! script's runs.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn pact(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pact"))
        .args(args)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .output()
        .expect("run pact")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Two ACT settings, a plain ResNet and one whose data does not exist, over two seeds.
fn grid(dir: &Path) -> String {
    let path = dir.join("grid.toml");
    std::fs::write(
        &path,
        r#"
        runs = "runs"
        records = "records"
        seeds = [0, 1]
        eval_data = "shapes:24:8"
        [train]
        data = "shapes:32:8"
        units = 1
        epochs = 1
        batch_size = 16
        [[setting]]
        name = "act-tau-{tau}"
        model = "act-resnet"
        tau = [0.01, 0.1]
        [[setting]]
        name = "missing"
        model = "resnet"
        data = "csv:missing.csv:1x8x8"
        "#,
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn a_sweep_records_every_run_and_a_second_one_runs_only_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let grid = grid(dir.path());
    let out = pact(&["sweep", &grid]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("6 runs, 0 recorded, 6 to run"), "{t}");
    assert!(t.contains("4 runs done, 2 failed"), "{t}");
    let records = dir.path().join("records");
    for setting in ["act-tau-0.01", "act-tau-0.1"] {
        for seed in [0u64, 1] {
            let r = read(&records.join(setting).join(format!("seed-{seed}.json")));
            // The `pact eval --json` record, with what the training did.
            assert_eq!(r["model"], "act-resnet");
            assert_eq!(r["mode"], "act");
            assert!(r["accuracy"].as_f64().is_some());
            assert_eq!(r["setting"], setting);
            assert_eq!(r["seed"], seed);
            assert_eq!(r["train_steps"], 2);
            assert_eq!(r["final_train_units"].as_array().unwrap().len(), 3);
            assert!(dir
                .path()
                .join("runs")
                .join(setting)
                .join(format!("seed-{seed}/last.safetensors"))
                .exists());
        }
    }
    // The failed run's error is recorded beside, where record readers (`*.json`) skip it.
    let failed = read(&records.join("missing/seed-1.failed"));
    assert_eq!(failed["failed"], true);
    assert!(failed["error"].as_str().unwrap().contains("missing.csv"));
    assert!(!records.join("missing/seed-1.json").exists());

    let listed = text(&pact(&["sweep", &grid, "--list"]));
    assert!(
        listed.contains("act-tau-0.1") && listed.contains("recorded"),
        "{listed}"
    );
    assert!(listed.contains("failed"), "{listed}");

    // Again: only the two failed runs are tried; the records of the others are untouched.
    let before = std::fs::read(records.join("act-tau-0.1/seed-0.json")).unwrap();
    let t = text(&pact(&["sweep", &grid]));
    assert!(t.contains("6 runs, 4 recorded, 2 to run"), "{t}");
    assert_eq!(
        std::fs::read(records.join("act-tau-0.1/seed-0.json")).unwrap(),
        before
    );
}

#[test]
fn one_grid_point_per_slurm_array_task() {
    let dir = tempfile::tempdir().unwrap();
    let grid = grid(dir.path());
    // Point 4 is act-tau-0.1 with seed 1 (seed by seed, settings in file order).
    let out = Command::new(env!("CARGO_BIN_EXE_pact"))
        .args(["sweep", &grid])
        .env("SLURM_ARRAY_TASK_ID", "4")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let records = dir.path().join("records");
    assert!(records.join("act-tau-0.1/seed-1.json").exists());
    assert!(!records.join("act-tau-0.01/seed-0.json").exists());
    // A failing point fails its task; a point beyond the grid says how many there are.
    let failed = pact(&["sweep", &grid, "--point", "5"]);
    assert!(!failed.status.success());
    assert!(text(&failed).contains("missing.csv"), "{}", text(&failed));
    let beyond = pact(&["sweep", &grid, "--point", "6"]);
    assert!(
        text(&beyond).contains("the grid has 6 (0 to 5; for a SLURM array, --array=0-5)"),
        "{}",
        text(&beyond)
    );
}

#[test]
fn the_fashion_grid_lists_the_scripts_runs() {
    let grid = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/results/fashion/grid.toml"
    );
    let out = pact(&["sweep", grid, "--list"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    // 3 seeds × (the plain ResNet, 5 values of τ, 8 of λ): one line per run after the header.
    let runs: Vec<Vec<&str>> = t
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(runs.len(), 42, "{t}");
    for name in [
        "resnet",
        "act-tau-0.02",
        "act-tau-0.4",
        "pact-lambda-0.01",
        "pact-lambda-0.6",
    ] {
        assert!(runs.iter().any(|r| r[1] == name), "{name} missing:\n{t}");
    }
    // The committed records count as done.
    let first = &runs[0];
    assert_eq!(first[..], ["0", "resnet", "0", "recorded"], "{t}");
}
