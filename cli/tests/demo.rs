//! The README's main job runs, trains both methods and writes its report.

use std::process::Command;

#[test]
fn quick_demo_trains_act_and_pact_and_writes_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let run = Command::new(env!("CARGO_BIN_EXE_pact"))
        .args(["demo", "--quick", "--out", out.to_str().unwrap()])
        .output()
        .expect("run pact");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    for row in [
        "| shapes | ACT |",
        "| shapes | PACT |",
        "| parity:4 | ACT |",
        "| parity:4 | PACT |",
    ] {
        assert!(stdout.contains(row), "{row}: {stdout}");
    }
    assert!(
        stdout
            .trim_end()
            .ends_with(&format!("report: {}", out.join("report.md").display())),
        "{stdout}"
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| method |"), "{md}");
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(rows.len(), 4);
    for row in &rows {
        let acc = row["accuracy"].as_f64().unwrap();
        match row["task"].as_str().unwrap() {
            "shapes" => {
                // Six classes: chance is 1/6. The quick run reaches 75–85%.
                assert!(acc > 0.4, "{row}");
                assert_eq!(row["units_mean"].as_array().unwrap().len(), 3);
            }
            "parity:4" => {
                // Two classes: chance is 1/2. The quick run reaches 94% (ACT) and 98% (PACT).
                assert!(acc > 0.6, "{row}");
                let units = row["units_mean"].as_array().unwrap();
                assert_eq!(units.len(), 1);
                assert!((1.0..=5.0).contains(&units[0].as_f64().unwrap()), "{row}");
                assert_eq!(row["difficulty_levels"], serde_json::json!([1, 2, 3, 4]));
            }
            other => panic!("unexpected task {other}: {row}"),
        }
    }
    let methods: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["task"].as_str().unwrap(), r["method"].as_str().unwrap()))
        .collect();
    assert!(methods.contains(&("parity:4", "ACT")) && methods.contains(&("parity:4", "PACT")));
    for plot in ["halting.png", "histogram.png", "tradeoff.png"] {
        let bytes = std::fs::read(out.join(plot)).unwrap_or_else(|e| panic!("{plot}: {e}"));
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{plot} is not a PNG"
        );
    }
    for run in [
        "act-resnet-0.01",
        "pact-resnet-0.05",
        "act-rnn-0.001",
        "pact-rnn-0.001",
    ] {
        assert!(out.join(run).join("eval.json").exists(), "{run}");
        assert!(out.join(run).join("last.safetensors").exists(), "{run}");
    }
}

#[test]
fn bench_rejects_a_zero_batch() {
    let out = Command::new(env!("CARGO_BIN_EXE_pact"))
        .args(["bench", "--batch", "0"])
        .output()
        .expect("run pact");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--batch"));
}
