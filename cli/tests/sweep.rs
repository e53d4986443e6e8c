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

/// The default values of one of `scripts/results.sh`'s variables (`NAME=${NAME:-a b c}`).
fn script_default(script: &str, name: &str) -> Vec<String> {
    let prefix = format!("{name}=${{{name}:-");
    let line = script
        .lines()
        .find_map(|l| l.trim().strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no default of {name} in scripts/results.sh"));
    line.trim_end_matches('}')
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[test]
fn the_fashion_grid_lists_the_scripts_runs() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let grid = format!("{root}/docs/results/fashion/grid.toml");
    let out = pact(&["sweep", &grid, "--list"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    // The script's runs: every seed × (the plain ResNet, each τ, each λ).
    let script = std::fs::read_to_string(format!("{root}/scripts/results.sh")).unwrap();
    let seeds = script_default(&script, "FASHION_SEEDS");
    let mut wanted: Vec<String> = std::iter::once("resnet".to_string())
        .chain(
            script_default(&script, "FASHION_TAU")
                .iter()
                .map(|v| format!("act-tau-{v}")),
        )
        .chain(
            script_default(&script, "FASHION_LAMBDA")
                .iter()
                .map(|v| format!("pact-lambda-{v}")),
        )
        .flat_map(|name| seeds.iter().map(move |s| format!("{name} {s}")))
        .collect();
    wanted.sort();
    assert_eq!(
        wanted.len(),
        45,
        "the script's sweep changed size: {wanted:?}"
    );
    // One line per run after the header: index, setting, seed, state.
    let runs: Vec<Vec<&str>> = t
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    let mut listed: Vec<String> = runs.iter().map(|r| format!("{} {}", r[1], r[2])).collect();
    listed.sort();
    assert_eq!(listed, wanted, "{t}");
    // The committed records count as done: the sweep is complete.
    assert_eq!(runs[0][..], ["0", "resnet", "0", "recorded"], "{t}");
    assert!(runs.iter().all(|r| r[3] == "recorded"), "{t}");
}
