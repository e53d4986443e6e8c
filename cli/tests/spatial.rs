//! Spatial models from the command line: `pact train` of `sact-resnet` and
//! `spatial-pact-resnet` on tiny shapes, `pact eval --json` of the result, and
//! `pact plot ponder-map` (PNG and a well-formed SVG with one image and one map per example);
//! a non-spatial checkpoint is a one-line error.

use pact::nn::{checkpoint, ParamStore};
use pact::{DType, Device, Rng};
use pact_models::resnet::{ResNet, ResNetConfig};
use pact_models::spec::{ModelName, ModelSpec};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

fn pact(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pact"))
        .args(args)
        .output()
        .expect("run pact")
}

fn ok(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Checks that `svg` is well-formed XML as far as elements go (every element closed, in
/// order, under one `<svg>` root) and returns the texts of its `<text>` elements.
fn parse_svg(svg: &str) -> Vec<String> {
    let mut stack: Vec<String> = Vec::new();
    let mut texts = Vec::new();
    let mut roots = 0;
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('>').expect("unterminated tag");
        let tag = &after[..end];
        rest = &after[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().expect("closing tag without an open element");
            assert_eq!(open, name.trim(), "mismatched </{name}>");
            continue;
        }
        let name = tag
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap()
            .to_string();
        if stack.is_empty() {
            roots += 1;
            assert_eq!(name, "svg", "root element");
        }
        if name == "text" {
            let body = rest.split("</text>").next().unwrap_or("");
            texts.push(body.trim().to_string());
        }
        if !tag.ends_with('/') {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    assert_eq!(roots, 1);
    texts
}

fn train_eval_plot(model: &str, mode: &str, quantity: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let config = dir.path().join("tiny.toml");
    std::fs::write(&config, "widths = [4, 8, 8]\n").unwrap();
    let run = pact(&[
        "train",
        "--model",
        model,
        "--data",
        "shapes:64:8",
        "--config",
        config.to_str().unwrap(),
        "--units",
        "2",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--lr",
        "0.05",
        "--out",
        out,
    ]);
    ok(&run, "train");
    let log = std::fs::read_to_string(dir.path().join("log.jsonl")).unwrap();
    assert!(log.contains("\"loss\"") && log.contains("units_3"), "{log}");
    let ckpt = dir.path().join("last.safetensors");
    let ckpt = ckpt.to_str().unwrap();

    let eval = pact(&[
        "eval",
        "--checkpoint",
        ckpt,
        "--data",
        "shapes:24:8",
        "--json",
    ]);
    ok(&eval, "eval");
    let v: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(v["model"], model);
    assert_eq!(v["mode"], mode);
    for key in [
        "accuracy",
        "flops_mean",
        "flops_std",
        "peak_activation_bytes",
        "examples_per_s",
    ] {
        assert!(v[key].is_number(), "{key}: {v}");
    }
    let units = v["units_mean"].as_array().unwrap();
    assert_eq!(units.len(), 3, "{v}");
    for u in units {
        let u = u.as_f64().unwrap();
        assert!((1.0..=2.0).contains(&u), "{v}");
    }

    let examples = 3;
    for ext in ["png", "svg"] {
        let file = dir.path().join(format!("ponder.{ext}"));
        let plot = pact(&[
            "plot",
            "ponder-map",
            "--checkpoint",
            ckpt,
            "--data",
            "shapes:24:8",
            "--examples",
            &examples.to_string(),
            "--out",
            file.to_str().unwrap(),
        ]);
        ok(&plot, "plot ponder-map");
        let bytes = std::fs::read(&file).unwrap();
        if ext == "png" {
            assert!(bytes.len() > 24 && bytes[..8] == PNG_SIGNATURE, "not a PNG");
            continue;
        }
        let svg = String::from_utf8(bytes).unwrap();
        let texts = parse_svg(&svg);
        let count = |pred: &dyn Fn(&str) -> bool| texts.iter().filter(|t| pred(t)).count();
        // One input image and one map per example, each captioned.
        assert_eq!(
            count(&|t| t.starts_with('#') && t.contains("class")),
            examples
        );
        assert_eq!(
            count(&|t| t.starts_with('#') && t.contains("mean")),
            examples
        );
        // One colour bar per map, named and with three values.
        assert_eq!(count(&|t| t == quantity), examples, "{texts:?}");
        assert!(count(&|t| t.parse::<f64>().is_ok()) >= 3 * examples);
        assert!(texts
            .iter()
            .any(|t| t.contains(model) && t.contains("summed")));
        // 8×8 cells per image and per map.
        assert!(svg.matches("<rect").count() >= 2 * examples * 64);
    }
}

#[test]
fn sact_resnet_trains_evaluates_and_plots_ponder_maps() {
    train_eval_plot("sact-resnet", "act", "N + R");
}

#[test]
fn spatial_pact_resnet_trains_evaluates_and_plots_ponder_maps() {
    train_eval_plot("spatial-pact-resnet", "pact-deterministic", "N");
}

#[test]
fn ponder_map_of_a_non_spatial_model_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = ResNetConfig {
        units_per_stage: 2,
        widths: [4, 8, 8],
        in_channels: 3,
        num_classes: 6,
        halting_bias: Some(0.0),
    };
    let store = ParamStore::new(DType::F32, Device::Cpu);
    ResNet::new(&store, config.clone(), &mut Rng::seed(0)).unwrap();
    let spec = ModelSpec {
        name: ModelName::PactResnet,
        resnet: config,
        input_size: [8, 8],
        data: "shapes:24:8".into(),
    };
    let meta: BTreeMap<String, String> = [spec.to_metadata().unwrap()].into_iter().collect();
    let ckpt = dir.path().join("pact.safetensors");
    checkpoint::save_store(&store, &ckpt, &meta).unwrap();
    let out = dir.path().join("map.svg");
    let run = pact(&[
        "plot",
        "ponder-map",
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--data",
        "shapes:24:8",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("ponder maps need a spatial model"), "{err}");
    assert!(!Path::new(&out).exists());
    // --examples 0 is refused before any work.
    let run = pact(&[
        "plot",
        "ponder-map",
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--data",
        "shapes:24:8",
        "--examples",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&run.stderr).contains("--examples"));
}
