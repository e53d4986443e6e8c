//! The README's main job runs and reports a trained model's accuracy.

use std::process::Command;

#[test]
fn quick_demo_trains_and_reports_accuracy_above_chance() {
    let out = Command::new(env!("CARGO_BIN_EXE_pact"))
        .args(["demo", "--quick"])
        .output()
        .expect("run pact");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("test accuracy:"))
        .unwrap_or_else(|| panic!("no accuracy line in:\n{stdout}"));
    let percent: f64 = line["test accuracy:".len()..]
        .trim()
        .split('%')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("unparsable: {line}"));
    // Six classes: chance is 16.7%. The quick run reaches about 70%.
    assert!(percent > 40.0, "{line}");
    assert!(stdout.contains("difficulty 0:"), "{stdout}");
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
