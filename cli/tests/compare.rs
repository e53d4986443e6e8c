//! Integration tests of `pact compare`, run through the built binary.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn pact(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pact"))
        .args(args)
        .output()
        .expect("run pact")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn close(v: &Value, want: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() < 1e-12)
}

fn assert_all_close(v: &Value, want: &[f64]) {
    let got = v.as_array().expect("an array");
    assert_eq!(got.len(), want.len(), "{v}");
    for (g, w) in got.iter().zip(want) {
        assert!(close(g, *w), "{g} vs {w} in {v}");
    }
}

/// Runs `pact` expecting failure; returns its one-line error message.
fn fails(args: &[&str]) -> String {
    let out = pact(args);
    assert!(
        !out.status.success(),
        "{args:?} succeeded: {}",
        stdout(&out)
    );
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err:?}");
    assert!(err.starts_with("error: "), "{err:?}");
    err
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        bytes[..8],
        [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n']
    );
    assert_eq!(&bytes[12..16], b"IHDR");
    let width = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
    let height = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
    assert!(width >= 400 && height >= 300, "{width}x{height}");
}

#[test]
fn json_matches_worked_example_section_3() {
    let out = pact(&["compare", "--halting", "0.01,0.5,0.6,0.7", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).expect("one JSON object");
    assert_eq!(v["act"]["n"], 3);
    assert!(close(&v["act"]["remainder"], 0.49));
    assert!(close(&v["act"]["ponder"], 3.49));
    assert_all_close(&v["act"]["weights"], &[0.01, 0.5, 0.49, 0.0, 0.0]);
    assert_all_close(&v["pact"]["q"], &[0.01, 0.495, 0.297, 0.1386, 0.0594]);
    assert!(close(&v["pact"]["expected_n"], 2.7424));
    assert_eq!(v["pact"]["deterministic_n"], 2);
    assert_eq!(v["pact"]["map_n"], 2);
    // Default penalty λ = 0.01: −λ E_q[N] − log Σ_{m=1..5} e^{−λm}.
    let log_z = (1..=5).map(|m| (-0.01 * m as f64).exp()).sum::<f64>().ln();
    assert!(close(
        &v["pact"]["expected_log_prior"],
        -0.01 * 2.7424 - log_z
    ));
    assert_eq!(v.as_object().unwrap().len(), 2);
    assert_eq!(v["act"].as_object().unwrap().len(), 4);
    assert_eq!(v["pact"].as_object().unwrap().len(), 5);
}

#[test]
fn json_golden_rows_section_2_and_options() {
    let out = pact(&["compare", "--halting", "0.01,0.01,0.01,0.01", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["act"]["n"], 5);
    assert!(close(&v["act"]["ponder"], 5.96));

    // λ = 0: uniform prior, E_q[log p(N)] = −log L. A larger ε halts ACT earlier.
    let out = pact(&[
        "compare",
        "--halting",
        "0.01, 0.5, 0.6, 0.7",
        "--penalty",
        "0",
        "--eps",
        "0.5",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(close(&v["pact"]["expected_log_prior"], -(5f64.ln())));
    assert_eq!(v["act"]["n"], 2);
}

#[test]
fn human_output_is_a_table() {
    let out = pact(&["compare", "--halting", "0.01,0.5,0.6,0.7"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for want in [
        "ACT (eps = 0.01)",
        "ponder cost rho = N + R        3.49",
        "remainder R                    0.49",
        "E_q[N]                         2.7424",
        "deterministic N (h >= 0.5)     2",
        "most probable N (argmax q)     2",
        "PACT (penalty lambda = 0.01)",
        "     5  1 (last)        0.0000        0.0594",
    ] {
        assert!(text.contains(want), "no {want:?} in\n{text}");
    }
}

#[test]
fn bad_inputs_fail_with_one_line() {
    let cases: &[(&[&str], &str)] = &[
        (&["--halting", "0.2,1.5"], "h_2 = 1.5 is outside [0, 1]"),
        (&["--halting=-0.1,0.5"], "h_1 = -0.1 is outside [0, 1]"),
        (&["--halting", "0.2,nan"], "h_2 is NaN"),
        (&["--halting", ""], "empty list"),
        (&["--halting", "0.2,abc"], "value 2 ('abc') is not a number"),
        (&["--halting", "0.2,,0.3"], "value 2 ('') is not a number"),
        (
            &["--halting", "0.2", "--penalty", "-0.5"],
            "penalty = -0.5 is negative",
        ),
        (
            &["--halting", "0.2", "--eps", "1"],
            "eps = 1 is outside (0, 1)",
        ),
        (
            &["--halting", "0.2", "--eps", "0"],
            "eps = 0 is outside (0, 1)",
        ),
        (
            &["--halting", "0.2,0.3", "--sweep", "3", "--plot", "s.svg"],
            "sweep unit 3 is out of range",
        ),
        (
            &["--halting", "0.2,0.3", "--sweep", "0", "--plot", "s.svg"],
            "sweep unit 0 is out of range",
        ),
        (
            &["--halting", "0.2,0.3", "--sweep", "1"],
            "--sweep needs --plot",
        ),
        (
            &["--halting", "0.2", "--plot", "x.pdf"],
            "use a .png or .svg",
        ),
        (
            &["--halting", "0.2", "--plot", "/nonexistent-dir/x.png"],
            "/nonexistent-dir/x.png",
        ),
    ];
    for (args, want) in cases {
        let mut all = vec!["compare"];
        all.extend_from_slice(args);
        let err = fails(&all);
        assert!(err.contains(want), "{args:?}: {err:?} lacks {want:?}");
    }
    // A missing --halting is clap's error, also a non-zero exit.
    assert!(!pact(&["compare"]).status.success());
}

#[test]
fn plot_writes_svg_and_png() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("x.svg");
    let out = pact(&[
        "compare",
        "--halting",
        "0.01,0.5,0.6,0.7",
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("plot written to"));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"));
    // Two series of 5 bars, plus one legend swatch each (Tableau blue and orange).
    assert_eq!(text.matches("fill=\"#1F77B4\"").count(), 5 + 1);
    assert_eq!(text.matches("fill=\"#FF7F0E\"").count(), 5 + 1);
    for label in ["ACT: N = 3", "PACT: deterministic N = 2", "PACT: q(N = n)"] {
        assert!(text.contains(label), "no {label:?} in the SVG");
    }

    let png = dir.path().join("x.png");
    let out = pact(&[
        "compare",
        "--halting",
        "0.01,0.5,0.6,0.7",
        "--json",
        "--plot",
        png.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // stdout stays pure JSON; the note goes to stderr.
    let _: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_png(&png);
}

#[test]
fn sweep_prints_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("sweep.png");
    let out = pact(&[
        "compare",
        "--halting",
        "0.5,0.3",
        "--sweep",
        "2",
        "--plot",
        png.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_png(&png);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["unit"], 2);
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), 99);
    // §2: ρ = 3.5 − x below 0.49, 2.5 from 0.49 on; E_q[N] = 2 − x/2 throughout.
    for p in points {
        let x = p["h"].as_f64().unwrap();
        assert!(x > 0.0 && x < 1.0);
        let rho = if x < 0.49 { 3.5 - x } else { 2.5 };
        assert!(close(&p["act_ponder"], rho), "{p}");
        assert!(close(&p["expected_n"], 2.0 - 0.5 * x), "{p}");
    }

    let svg = dir.path().join("sweep.svg");
    let out = pact(&[
        "compare",
        "--halting",
        "0.3,0.5,0.4",
        "--sweep",
        "2",
        "--points",
        "9",
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Sweep of h_2"), "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.trim_start().starts_with("0."))
            .count(),
        9
    );
    let svg_text = std::fs::read_to_string(&svg).unwrap();
    assert!(svg_text.contains("ACT: ponder cost"));
    assert!(svg_text.contains("PACT: E_q[N]"));
}

#[test]
fn help_shows_every_flag_with_defaults() {
    let out = pact(&["compare", "--help"]);
    assert!(out.status.success());
    let help = stdout(&out);
    for want in [
        "--halting",
        "--eps",
        "[default: 0.01]",
        "--penalty",
        "--json",
        "--plot",
        "--sweep",
        "--points",
        "[default: 99]",
    ] {
        assert!(help.contains(want), "no {want:?} in\n{help}");
    }
}
