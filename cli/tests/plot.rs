//! `pact plot`: every subcommand on tiny inputs writes a PNG and an SVG with the expected bars,
//! lines and labels; bad inputs are one-line errors with a non-zero exit.

use pact::nn::{checkpoint, ParamStore};
use pact::{DType, Device, Rng};
use pact_models::plot::series_color;
use pact_models::resnet::{ResNet, ResNetConfig};
use pact_models::spec::{ModelName, ModelSpec};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
const DATA: &str = "shapes:60:8";

/// A checkpoint the way `pact train` writes one: 2 units per stage, 3 blocks; with
/// `pact.train_config` holding λ = 0.05.
fn write_checkpoint(dir: &Path) -> PathBuf {
    write_checkpoint_of(dir, ModelName::PactResnet)
}

fn write_checkpoint_of(dir: &Path, name: ModelName) -> PathBuf {
    let plain = name == ModelName::Resnet;
    let config = ResNetConfig {
        units_per_stage: 2,
        widths: [4, 8, 8],
        in_channels: 3,
        num_classes: 6,
        halting_bias: (!plain).then_some(0.0),
    };
    let store = ParamStore::new(DType::F32, Device::Cpu);
    ResNet::new(&store, config.clone(), &mut Rng::seed(0)).unwrap();
    let spec = ModelSpec {
        name,
        resnet: config,
        input_size: [8, 8],
        data: DATA.into(),
    };
    let mut meta: BTreeMap<String, String> = [spec.to_metadata().unwrap()].into_iter().collect();
    meta.insert(
        "pact.train_config".into(),
        r#"{"model":"pact-resnet","lambda":0.05}"#.into(),
    );
    let path = dir.join(format!("{}.safetensors", name.as_str()));
    checkpoint::save_store(&store, &path, &meta).unwrap();
    path
}

fn pact(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pact"))
        .args(args)
        .output()
        .expect("run pact")
}

/// Runs `pact plot …` twice, to `NAME.png` and `NAME.svg` in `dir`; checks the PNG signature
/// and returns the SVG text.
fn plot_both(dir: &Path, name: &str, args: &[&str]) -> String {
    let mut svg = String::new();
    for ext in ["png", "svg"] {
        let out = dir.join(format!("{name}.{ext}"));
        let mut full = vec!["plot"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--out", out.to_str().unwrap()]);
        let run = pact(&full);
        assert!(
            run.status.success(),
            "pact {full:?}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let bytes = std::fs::read(&out).unwrap();
        if ext == "png" {
            assert!(bytes.len() > 24 && bytes[..8] == PNG_SIGNATURE, "not a PNG");
        } else {
            svg = String::from_utf8(bytes).unwrap();
            assert!(svg.trim_start().starts_with("<svg"), "no <svg> root");
            assert!(svg.trim_end().ends_with("</svg>"), "<svg> not closed");
            assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        }
    }
    svg
}

/// The colour of series `i` as an SVG attribute value.
fn hex(i: usize) -> String {
    let c = series_color(i);
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// The `<rect …/>` elements of an SVG whose fill is `color`.
fn rects_filled(svg: &str, series: usize) -> usize {
    let fill = format!("fill=\"{}\"", hex(series));
    svg.split("<rect")
        .skip(1)
        .filter(|r| r.split("/>").next().is_some_and(|a| a.contains(&fill)))
        .count()
}

/// The `<polyline …/>` elements of an SVG whose stroke is `color`.
fn polylines_stroked(svg: &str, series: usize) -> usize {
    let stroke = format!("stroke=\"{}\"", hex(series));
    svg.split("<polyline")
        .skip(1)
        .filter(|r| r.split("/>").next().is_some_and(|a| a.contains(&stroke)))
        .count()
}

/// The contents of the SVG's `<text>` elements.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = t.split_once('>')?.1;
            Some(body.split("</text>").next()?.trim().to_string())
        })
        .collect()
}

fn count_texts(svg: &str, pred: impl Fn(&str) -> bool) -> usize {
    texts(svg).iter().filter(|t| pred(t)).count()
}

/// Asserts a failed run with a one-line error that contains `needle`.
fn assert_error(out: &std::process::Output, needle: &str) {
    assert!(!out.status.success(), "expected a failure");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(needle), "'{needle}' not in: {err}");
}

#[test]
fn halting_draws_images_and_three_block_panels_per_example() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = write_checkpoint(dir.path());
    let svg = plot_both(
        dir.path(),
        "halting",
        &[
            "halting",
            "--checkpoint",
            ckpt.to_str().unwrap(),
            "--data",
            DATA,
            "--examples",
            "2",
        ],
    );
    // 2 examples × 3 blocks panels, each with 2 bars per series and 1 legend swatch.
    assert_eq!(rects_filled(&svg, 0), 6 * (2 + 1));
    assert_eq!(rects_filled(&svg, 1), 6 * (2 + 1));
    assert_eq!(count_texts(&svg, |t| t == "PACT q(N|x)"), 6);
    assert_eq!(count_texts(&svg, |t| t == "ACT weights"), 6);
    assert_eq!(
        count_texts(&svg, |t| t.starts_with("deterministic N = ")),
        6
    );
    assert_eq!(count_texts(&svg, |t| t.starts_with("ACT: N = ")), 6);
    assert_eq!(count_texts(&svg, |t| t == "block 3"), 2);
    // One caption per example image, and at least 8×8 pixels per image.
    assert_eq!(count_texts(&svg, |t| t.starts_with('#')), 2);
    assert!(svg.matches("<rect").count() > 2 * 64);
    assert!(svg.contains("Halting distributions of pact-resnet"));
}

#[test]
fn histogram_splits_by_difficulty_and_draws_the_prior() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = write_checkpoint(dir.path());
    let ck = ckpt.to_str().unwrap();
    let svg = plot_both(
        dir.path(),
        "hist",
        &[
            "histogram",
            "--checkpoint",
            ck,
            "--data",
            DATA,
            "--split-by",
            "none",
        ],
    );
    // 3 blocks × (2 categories + 1 legend swatch); the prior is the next colour.
    assert_eq!(rects_filled(&svg, 0), 3 * (2 + 1));
    assert_eq!(polylines_stroked(&svg, 1), 3 * (1 + 1));
    assert_eq!(svg.matches("<circle").count(), 3 * 2);
    assert_eq!(count_texts(&svg, |t| t == "prior, λ = 0.05"), 3);
    assert_eq!(count_texts(&svg, |t| t.starts_with("block ")), 3);

    // By difficulty (the shapes' levels), with λ from the flag.
    let svg = plot_both(
        dir.path(),
        "hist-levels",
        &[
            "histogram",
            "--checkpoint",
            ck,
            "--data",
            DATA,
            "--lambda",
            "0.5",
        ],
    );
    assert_eq!(count_texts(&svg, |t| t == "level 0"), 3);
    assert_eq!(count_texts(&svg, |t| t == "prior, λ = 0.5"), 3);

    // By class: one series per class.
    let svg = plot_both(
        dir.path(),
        "hist-class",
        &[
            "histogram",
            "--checkpoint",
            ck,
            "--data",
            DATA,
            "--split-by",
            "class",
        ],
    );
    assert_eq!(count_texts(&svg, |t| t.starts_with("class ")), 3 * 6);
}

fn write_eval(dir: &Path, file: &str, model: &str, mode: &str, accuracy: f64, flops: f64) {
    std::fs::create_dir_all(dir).unwrap();
    let v = serde_json::json!({
        "accuracy": accuracy, "flops_mean": flops, "flops_std": 0.0, "units_mean": [1.0, 2.0, 1.5],
        "peak_activation_bytes": 1000, "examples_per_s": 50.0, "model": model, "mode": mode,
    });
    std::fs::write(dir.join(file), v.to_string()).unwrap();
}

#[test]
fn tradeoff_has_one_curve_per_method() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("tau-0.01"), dir.path().join("tau-0.001"));
    write_eval(&a, "act.json", "act-resnet", "act", 0.80, 2.0e6);
    write_eval(
        &a,
        "pact.json",
        "pact-resnet",
        "pact-deterministic",
        0.82,
        1.8e6,
    );
    write_eval(&b, "act.json", "act-resnet", "act", 0.85, 3.0e6);
    write_eval(
        &b,
        "eval.json",
        "pact-resnet",
        "pact-deterministic",
        0.86,
        2.5e6,
    );
    std::fs::write(b.join("notes.txt"), "not a record").unwrap();
    let svg = plot_both(
        dir.path(),
        "tradeoff",
        &[
            "tradeoff",
            "--runs",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
        ],
    );
    // Two methods: one line and one legend entry each, two dots each.
    assert_eq!(polylines_stroked(&svg, 0), 2);
    assert_eq!(polylines_stroked(&svg, 1), 2);
    assert_eq!(polylines_stroked(&svg, 2), 0);
    assert_eq!(svg.matches("<circle").count(), 4);
    assert_eq!(count_texts(&svg, |t| t == "ACT"), 1);
    assert_eq!(count_texts(&svg, |t| t == "PACT"), 1);
    assert_eq!(count_texts(&svg, |t| t == "tau-0.01"), 2);
    assert!(svg.contains("FLOPs"));
}

#[test]
fn training_draws_loss_accuracy_and_units() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.jsonl");
    let mut text = String::new();
    for step in 1..=4 {
        let s = f64::from(step);
        // Records as `pact train` writes them (metrics at the top level) …
        text.push_str(
            &serde_json::json!({
                "step": step, "epoch": 1, "lr": 0.1, "loss": 2.0 / s, "grad_norm": 1.0,
                "accuracy": 0.2 * s, "cross_entropy": 1.5 / s,
                "units_1": 2.0, "units_2": 1.5, "units_3": 1.0 + 0.1 * s,
                "examples_per_s": 100.0, "elapsed_s": s,
            })
            .to_string(),
        );
        text.push('\n');
    }
    // … or nested under `metrics`.
    text.push_str(
        &serde_json::json!({
            "step": 5, "epoch": 2, "lr": 0.1, "loss": 0.3, "grad_norm": 1.0,
            "metrics": {"accuracy": 0.9, "cross_entropy": 0.3,
                        "units_1": 1.9, "units_2": 1.4, "units_3": 1.5},
            "examples_per_s": 100.0, "elapsed_s": 5.0,
        })
        .to_string(),
    );
    text.push('\n');
    std::fs::write(&log, text).unwrap();
    let svg = plot_both(
        dir.path(),
        "training",
        &["training", "--log", log.to_str().unwrap()],
    );
    // Loss, accuracy and block-1 units take the first colour (line + legend each), blocks 2
    // and 3 the next ones.
    assert_eq!(polylines_stroked(&svg, 0), 3 * 2);
    assert_eq!(polylines_stroked(&svg, 1), 2);
    assert_eq!(polylines_stroked(&svg, 2), 2);
    for label in [
        "loss",
        "accuracy",
        "block 1",
        "block 2",
        "block 3",
        "mean units executed",
    ] {
        assert!(count_texts(&svg, |t| t == label) >= 1, "no label {label}");
    }
    assert_eq!(count_texts(&svg, |t| t == "step"), 3);
}

#[test]
fn bad_inputs_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ckpt = write_checkpoint(d);
    let ck = ckpt.to_str().unwrap();
    let out = |name: &str| d.join(name).to_str().unwrap().to_string();

    // Wrong extension: refused before any work, nothing written.
    let pdf = out("plot.pdf");
    let r = pact(&[
        "plot",
        "histogram",
        "--checkpoint",
        ck,
        "--data",
        DATA,
        "--out",
        &pdf,
    ]);
    assert_error(&r, ".png or .svg");
    assert!(!Path::new(&pdf).exists());

    // Missing and corrupt checkpoints.
    let png = out("x.png");
    let missing = out("missing.safetensors");
    let r = pact(&[
        "plot",
        "halting",
        "--checkpoint",
        &missing,
        "--data",
        DATA,
        "--out",
        &png,
    ]);
    assert_error(&r, "does not exist");
    let corrupt = d.join("corrupt.safetensors");
    std::fs::write(&corrupt, b"not a checkpoint at all").unwrap();
    let r = pact(&[
        "plot",
        "histogram",
        "--checkpoint",
        corrupt.to_str().unwrap(),
        "--data",
        DATA,
        "--out",
        &png,
    ]);
    assert!(!r.status.success());
    assert_eq!(
        String::from_utf8_lossy(&r.stderr)
            .trim_end()
            .lines()
            .count(),
        1
    );

    // Data of the wrong shape, zero examples.
    let r = pact(&[
        "plot",
        "halting",
        "--checkpoint",
        ck,
        "--data",
        "shapes:60:16",
        "--out",
        &png,
    ]);
    assert_error(&r, "shape");
    let r = pact(&[
        "plot",
        "halting",
        "--checkpoint",
        ck,
        "--data",
        DATA,
        "--out",
        &png,
        "--examples",
        "0",
    ]);
    assert_error(&r, "--examples");
    let plain = write_checkpoint_of(d, ModelName::Resnet);
    let r = pact(&[
        "plot",
        "halting",
        "--checkpoint",
        plain.to_str().unwrap(),
        "--data",
        DATA,
        "--out",
        &png,
    ]);
    assert_error(&r, "no halting heads");

    // Empty run directory, a corrupt eval record, a missing directory.
    let empty = d.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let r = pact(&[
        "plot",
        "tradeoff",
        "--runs",
        empty.to_str().unwrap(),
        "--out",
        &png,
    ]);
    assert_error(&r, "no *.json files");
    let bad = d.join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join("eval.json"), "{\"accuracy\": 0.5").unwrap();
    let r = pact(&[
        "plot",
        "tradeoff",
        "--runs",
        bad.to_str().unwrap(),
        "--out",
        &png,
    ]);
    assert_error(&r, "eval.json");
    std::fs::write(bad.join("eval.json"), "{\"accuracy\": 0.5}").unwrap();
    let r = pact(&[
        "plot",
        "tradeoff",
        "--runs",
        bad.to_str().unwrap(),
        "--out",
        &png,
    ]);
    assert_error(&r, "flops_mean");
    let r = pact(&["plot", "tradeoff", "--runs", &out("nowhere"), "--out", &png]);
    assert_error(&r, "nowhere");

    // Missing, corrupt and empty logs.
    let r = pact(&[
        "plot",
        "training",
        "--log",
        &out("none.jsonl"),
        "--out",
        &png,
    ]);
    assert_error(&r, "none.jsonl");
    let log = d.join("log.jsonl");
    std::fs::write(&log, "{\"step\": 1, \"loss\": 1.0}\n{oops\n").unwrap();
    let r = pact(&[
        "plot",
        "training",
        "--log",
        log.to_str().unwrap(),
        "--out",
        &png,
    ]);
    assert_error(&r, "log.jsonl:2");
    std::fs::write(&log, "").unwrap();
    let r = pact(&[
        "plot",
        "training",
        "--log",
        log.to_str().unwrap(),
        "--out",
        &png,
    ]);
    assert_error(&r, "no log records");
    assert!(!Path::new(&png).exists());
}

#[test]
fn every_flag_has_help() {
    for sub in ["halting", "histogram", "tradeoff", "training"] {
        let r = pact(&["plot", sub, "--help"]);
        assert!(r.status.success());
        let help = String::from_utf8_lossy(&r.stdout);
        assert!(help.contains("--out"), "{help}");
        assert!(help.contains(".png"), "{help}");
    }
    let help = String::from_utf8_lossy(&pact(&["plot", "halting", "--help"]).stdout).to_string();
    assert!(help.contains("[default: 4]"), "{help}");
}
