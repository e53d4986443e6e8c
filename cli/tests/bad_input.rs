//! Every kind of bad input reaches the user as a non-zero exit and one message that names the
//! file, the setting or the flag: corrupt data files, NaN and infinity in data, images of the
//! wrong shape, invalid settings (as flags and in a TOML file), checkpoints that do not fit,
//! unreadable inputs and unwritable outputs, and a run whose loss stops being finite.
//!
//! The tests are tables: each row is one case, and a failure names the row.

use pact::nn::{checkpoint, ParamStore};
use pact::{DType, Device, Rng, Tensor};
use pact_models::resnet::{ResNet, ResNetConfig};
use pact_models::spec::{ModelName, ModelSpec};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn pact(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pact"))
        .args(args)
        .output()
        .expect("run pact")
}

/// How many lines the message may have.
#[derive(Clone, Copy)]
enum Lines {
    /// Exactly one.
    One,
    /// A first line naming the file, then details (a usage error from the argument parser,
    /// a list of mismatched tensors).
    FirstNames,
}

/// Checks that `out` failed with a message containing every needle (on its first line for
/// [`Lines::FirstNames`]).
fn assert_fails(case: &str, out: &Output, lines: Lines, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{case}: succeeded\nstdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        out.status.code().is_some(),
        "{case}: killed by a signal (a crash): {stderr}"
    );
    let text = stderr.trim();
    let checked = match lines {
        Lines::One => {
            assert_eq!(text.lines().count(), 1, "{case}: not one line:\n{text}");
            text
        }
        Lines::FirstNames => text.lines().next().unwrap_or(""),
    };
    for needle in needles {
        assert!(
            checked.contains(needle),
            "{case}: message does not contain {needle:?}:\n{text}"
        );
    }
    assert!(
        !text.contains("panicked"),
        "{case}: a panic, not an error:\n{text}"
    );
}

/// `pact train` on `data` for one epoch of a one-unit network, writing to `out`; `extra`
/// flags replace the defaults of the same name, or are added.
fn train_on(data: &str, out: &Path, extra: &[&str]) -> Output {
    let mut flags: Vec<(String, Option<String>)> = [
        ("--model", "resnet"),
        ("--units", "1"),
        ("--epochs", "1"),
        ("--batch-size", "4"),
    ]
    .iter()
    .map(|(f, v)| (f.to_string(), Some(v.to_string())))
    .collect();
    let mut i = 0;
    while i < extra.len() {
        let flag = extra[i].to_string();
        let value = extra
            .get(i + 1)
            .filter(|v| !v.starts_with("--"))
            .map(|v| v.to_string());
        i += 1 + usize::from(value.is_some());
        match flags.iter_mut().find(|(f, _)| *f == flag) {
            Some(slot) => slot.1 = value,
            None => flags.push((flag, value)),
        }
    }
    let mut args = vec!["train".to_string(), "--data".into(), data.into()];
    args.extend(["--out".to_string(), out.to_str().unwrap().to_string()]);
    for (flag, value) in flags {
        args.push(flag);
        args.extend(value);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    pact(&args)
}

/// `n` CSV rows of 1x4x4 images whose pixels are all `value`, labels alternating 0 and 1.
fn csv_rows(n: usize, value: &str) -> String {
    (0..n)
        .map(|i| format!("{},{}\n", vec![value; 16].join(","), i % 2))
        .collect()
}

fn be(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Four 8x8 IDX images and their labels.
fn idx_pair() -> (Vec<u8>, Vec<u8>) {
    let mut images = be(&[2051, 4, 8, 8]);
    images.extend((0..4 * 64).map(|i| (i % 256) as u8));
    let mut labels = be(&[2049, 4]);
    labels.extend([0, 1, 2, 3]);
    (images, labels)
}

#[test]
fn corrupt_idx_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let (images, labels) = idx_pair();
    let short_body = {
        let mut b = images.clone();
        b.truncate(16 + 100);
        b
    };
    let mut bad_label = labels.clone();
    bad_label[9] = 12;
    let mut three_labels = be(&[2049, 3]);
    three_labels.extend([0, 1, 2]);
    let truncated_gz = {
        let gz = gzip(&images);
        gz[..gz.len() / 2].to_vec()
    };
    type Files = Vec<(&'static str, Vec<u8>)>;
    let cases: Vec<(&str, Files, Vec<&str>)> = vec![
        (
            "bad magic (a label file where images belong)",
            vec![
                ("train-images-idx3-ubyte", labels.clone()),
                ("train-labels-idx1-ubyte", labels.clone()),
            ],
            vec!["train-images-idx3-ubyte", "magic number 2049 is not 2051"],
        ),
        (
            "bad magic in the label file",
            vec![
                ("train-images-idx3-ubyte", images.clone()),
                ("train-labels-idx1-ubyte", be(&[7, 4, 0])),
            ],
            vec!["train-labels-idx1-ubyte", "magic number 7"],
        ),
        (
            "truncated images (wrong size)",
            vec![
                ("train-images-idx3-ubyte", short_body),
                ("train-labels-idx1-ubyte", labels.clone()),
            ],
            vec!["train-images-idx3-ubyte", "4 images of 8x8", "100 bytes"],
        ),
        (
            "header cut short",
            vec![
                ("train-images-idx3-ubyte", images[..10].to_vec()),
                ("train-labels-idx1-ubyte", labels.clone()),
            ],
            vec!["train-images-idx3-ubyte", "too short"],
        ),
        (
            "label out of range",
            vec![
                ("train-images-idx3-ubyte", images.clone()),
                ("train-labels-idx1-ubyte", bad_label),
            ],
            vec!["train-labels-idx1-ubyte", "label 1 (byte offset 9) is 12"],
        ),
        (
            "fewer labels than images",
            vec![
                ("train-images-idx3-ubyte", images.clone()),
                ("train-labels-idx1-ubyte", three_labels),
            ],
            vec!["train-labels-idx1-ubyte", "3 labels, but", "4 images"],
        ),
        (
            "corrupt gzip",
            vec![
                (
                    "train-images-idx3-ubyte.gz",
                    b"definitely not gzip".to_vec(),
                ),
                ("train-labels-idx1-ubyte", labels.clone()),
            ],
            vec!["train-images-idx3-ubyte.gz", "cannot decompress as gzip"],
        ),
        (
            "truncated gzip",
            vec![
                ("train-images-idx3-ubyte.gz", truncated_gz),
                ("train-labels-idx1-ubyte.gz", gzip(&labels)),
            ],
            vec!["train-images-idx3-ubyte.gz", "cannot decompress as gzip"],
        ),
    ];
    for (i, (case, files, needles)) in cases.into_iter().enumerate() {
        let dir = tmp.path().join(format!("mnist{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        let run = train_on(&format!("mnist:{}", dir.display()), &out, &[]);
        assert_fails(case, &run, Lines::One, &needles);
    }
    // The same files, intact, train.
    let dir = tmp.path().join("good");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("train-images-idx3-ubyte.gz"), gzip(&images)).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), &labels).unwrap();
    let run = train_on(&format!("mnist:{}", dir.display()), &out, &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
fn corrupt_cifar10_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let record = |label: u8| {
        let mut r = vec![label];
        r.resize(3073, 128);
        r
    };
    // (case, the five training files, what the message says)
    type Batches = [Vec<u8>; 5];
    let cases: Vec<(&str, Batches, Vec<&str>)> = vec![
        (
            "label out of range",
            [
                record(0),
                record(1),
                [record(2), record(10)].concat(),
                record(3),
                record(4),
            ],
            vec!["data_batch_3.bin", "record 1 (byte offset 3073): label 10"],
        ),
        (
            "truncated record",
            [
                record(0),
                record(1),
                record(2),
                record(3),
                record(4)[..3000].to_vec(),
            ],
            vec!["data_batch_5.bin", "truncated to 3000 bytes"],
        ),
        (
            "empty file",
            [record(0), Vec::new(), record(2), record(3), record(4)],
            vec!["data_batch_2.bin", "empty"],
        ),
    ];
    for (i, (case, files, needles)) in cases.into_iter().enumerate() {
        let dir = tmp.path().join(format!("cifar{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        for (b, bytes) in files.iter().enumerate() {
            std::fs::write(dir.join(format!("data_batch_{}.bin", b + 1)), bytes).unwrap();
        }
        let run = train_on(&format!("cifar10:{}", dir.display()), &out, &[]);
        assert_fails(case, &run, Lines::One, &needles);
    }
}

#[test]
fn bad_csv_files_are_named_with_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "non-numeric cell",
            "0,0,0,0,1\n0,x,0,0,0\n",
            &["line 2, column 2", "\"x\" is not a number"],
        ),
        (
            "label out of range",
            "0,0,0,0,1\n0,0,0,0,70000\n",
            &[
                "line 2, column 5",
                "label \"70000\" is out of range 0..65536",
            ],
        ),
        (
            "negative label",
            "0,0,0,0,-1\n",
            &["line 1, column 5", "negative"],
        ),
        (
            "fractional label",
            "0,0,0,0,1.5\n",
            &["line 1, column 5", "not an integer"],
        ),
        (
            "NaN pixel",
            "0,0,0,0,1\n0,0,NaN,0,1\n",
            &["line 2, column 3", "not finite"],
        ),
        (
            "infinite pixel",
            "0,inf,0,0,1\n",
            &["line 1, column 2", "not finite"],
        ),
        (
            "negative infinite pixel",
            "0,0,0,-inf,1\n",
            &["line 1, column 4", "not finite"],
        ),
        (
            "pixel beyond f32",
            "0,0,0,1e39,1\n",
            &["line 1, column 4", "not finite"],
        ),
        (
            "row shorter than the shape",
            "0,0,0,0,1\n0,0,0,1\n",
            &["line 2: 4 columns", "1x2x2 needs 5"],
        ),
        (
            "row longer than the shape",
            "0,0,0,0,0,1\n",
            &["line 1: 6 columns"],
        ),
        ("no rows", "\n\n", &["no rows"]),
    ];
    for (case, text, needles) in cases {
        let file = tmp.path().join("images.csv");
        std::fs::write(&file, text).unwrap();
        let run = train_on(&format!("csv:{}:1x2x2", file.display()), &out, &[]);
        let mut all = vec!["images.csv"];
        all.extend_from_slice(needles);
        assert_fails(case, &run, Lines::One, &all);
    }
    // Well-formed, but too small for the network: the data is named.
    std::fs::write(tmp.path().join("images.csv"), "0,0,0,0,1\n1,1,1,1,0\n").unwrap();
    let file = tmp.path().join("images.csv");
    let run = train_on(&format!("csv:{}:1x2x2", file.display()), &out, &[]);
    assert_fails(
        "images too small for the network",
        &run,
        Lines::One,
        &["--data", "images.csv", "1x2x2", "multiples of 4"],
    );
    // A shape that is not CxHxW names the spec.
    let file = tmp.path().join("images.csv");
    std::fs::write(&file, "0,0,0,0,1\n").unwrap();
    for (case, shape) in [("two-part shape", "2x2"), ("zero side", "1x0x2")] {
        let run = train_on(&format!("csv:{}:{shape}", file.display()), &out, &[]);
        assert_fails(case, &run, Lines::One, &["--data", shape, "CxHxW"]);
    }
}

/// The settings that are invalid, each as a flag and as the same key in a TOML file.
const INVALID: &[(&str, &str, &str)] = &[
    // (TOML key, value, what the message says)
    ("temperature", "0", "must be positive, got 0"),
    ("temperature", "-0.5", "must be positive, got -0.5"),
    ("lambda", "-1", "must be ≥ 0, got -1"),
    ("tau", "-0.01", "must be ≥ 0, got -0.01"),
    ("units", "0", "must be at least 1, got 0"),
    ("epochs", "0", "must be at least 1, got 0"),
    ("batch_size", "0", "must be at least 1, got 0"),
    ("checkpoint_every", "0", "must be at least 1, got 0"),
    ("lr", "0", "must be positive, got 0"),
    ("lr", "-0.1", "must be positive, got -0.1"),
    ("model", "vgg", "unknown model 'vgg'"),
    ("data", "imagenet", "unknown data set \"imagenet\""),
    ("optimizer", "rmsprop", "unknown optimizer 'rmsprop'"),
    ("schedule", "step", "unknown schedule 'step'"),
];

fn toml_value(key: &str, value: &str) -> String {
    match key {
        "model" | "data" | "optimizer" | "schedule" => format!("{value:?}"),
        "temperature" | "lambda" | "tau" | "lr" if !value.contains('.') => format!("{value}.0"),
        _ => value.to_string(),
    }
}

#[test]
fn invalid_settings_name_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    for (key, value, why) in INVALID {
        let flag = format!("--{}", key.replace('_', "-"));
        let pair = format!("{flag}={value}");
        let mut args = vec!["train", "--out", out.to_str().unwrap(), &pair];
        if *key != "data" {
            args.extend(["--data", "shapes:16:8"]);
        }
        assert_fails(
            &pair,
            &pact(&args),
            Lines::One,
            &[&format!("{flag}: "), why],
        );
        // Invalid whatever the model: a plain ResNet does not use the temperature, and
        // still refuses a bad one.
        if *key != "model" {
            args.extend(["--model", "resnet"]);
            assert_fails(
                &pair,
                &pact(&args),
                Lines::One,
                &[&format!("{flag}: "), why],
            );
        }
    }
    assert!(
        !out.exists(),
        "nothing is written before the settings check"
    );
    // `pact eval`'s own flags.
    let cases: &[(&[&str], &str)] = &[
        (&["--batch-size", "0"], "--batch-size"),
        (&["--temperature", "0"], "--temperature"),
        (&["--temperature=-1"], "--temperature"),
    ];
    for (extra, needle) in cases {
        let mut args = vec![
            "eval",
            "--checkpoint",
            "x.safetensors",
            "--data",
            "shapes:8:8",
        ];
        args.extend_from_slice(extra);
        assert_fails(
            &format!("eval {extra:?}"),
            &pact(&args),
            Lines::One,
            &[needle],
        );
    }
}

#[test]
fn invalid_settings_in_a_toml_file_name_the_file_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let config = tmp.path().join("bad.toml");
    let with_config = |text: &str| {
        std::fs::write(&config, text).unwrap();
        pact(&[
            "train",
            "--config",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
    };
    for (key, value, why) in INVALID {
        let mut text = format!("seed = 3\n{key} = {}\n", toml_value(key, value));
        if *key != "data" {
            text.push_str("data = \"shapes:16:8\"\n");
        }
        let run = with_config(&text);
        let named = format!("bad.toml: {key}: ");
        assert_fails(&text, &run, Lines::One, &[&named, why]);
    }
    // Settings that only the file can give.
    let file_only: &[(&str, &str)] = &[
        (
            "widths = [4, 0, 8]",
            "bad.toml: widths: must all be at least 1",
        ),
        (
            "momentum = 1.5",
            "bad.toml: momentum: must be in [0, 1), got 1.5",
        ),
        ("momentum = -0.1", "bad.toml: momentum: must be in [0, 1)"),
        (
            "weight_decay = -1e-4",
            "bad.toml: weight_decay: must be ≥ 0",
        ),
        (
            "halting_bias = nan",
            "bad.toml: halting_bias: must be finite, got NaN",
        ),
        ("lambda = inf", "bad.toml: lambda: must be ≥ 0, got inf"),
    ];
    for (text, needle) in file_only {
        assert_fails(text, &with_config(text), Lines::One, &[needle]);
    }
    // Malformed files: the line and the key.
    let malformed: &[(&str, &[&str])] = &[
        (
            "units = 2\nbatch_sise = 3\n",
            &["bad.toml, line 2", "batch_sise", "unknown field"],
        ),
        (
            "units = \"two\"\n",
            &["bad.toml, line 1", "units = \\\"two\\\"", "invalid type"],
        ),
        ("units = -2\n", &["bad.toml, line 1", "units = -2"]),
        ("widths = [1, 2]\n", &["bad.toml, line 1", "widths"]),
        ("units = \n", &["bad.toml, line 1"]),
        ("[train]\nunits = 2\n", &["bad.toml, line 1", "train"]),
    ];
    for (text, needles) in malformed {
        assert_fails(text, &with_config(text), Lines::One, needles);
    }
    // A flag overrides the file, and then the flag is what is named.
    std::fs::write(&config, "units = 2\n").unwrap();
    let run = pact(&[
        "train",
        "--data",
        "shapes:16:8",
        "--config",
        config.to_str().unwrap(),
        "--units",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_fails(
        "flag over file",
        &run,
        Lines::One,
        &["--units: must be at least 1"],
    );
    // A file that is not there.
    let missing = tmp.path().join("nowhere.toml");
    let run = pact(&[
        "train",
        "--config",
        missing.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_fails("missing config", &run, Lines::One, &["nowhere.toml"]);
}

#[test]
fn unknown_names_are_refused_with_the_valid_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let run = pact(&["train", "--model", "vgg", "--out", out]);
    assert_fails(
        "model",
        &run,
        Lines::One,
        &["--model", "vgg", "pact-resnet"],
    );
    let run = pact(&["train", "--data", "imagenet:DIR", "--out", out]);
    assert_fails(
        "data",
        &run,
        Lines::One,
        &["--data", "imagenet", "cifar10:DIR"],
    );
    let run = pact(&["eval", "--checkpoint", "x", "--data", "imagenet"]);
    assert_fails("eval data", &run, Lines::One, &["imagenet", "cifar10:DIR"]);
    // Modes and flags are checked by the argument parser: a usage error (status 2) whose
    // first line names the flag, followed by the valid values.
    let run = pact(&[
        "eval",
        "--checkpoint",
        "x",
        "--data",
        "shapes",
        "--mode",
        "fast",
    ]);
    assert_fails("mode", &run, Lines::FirstNames, &["'fast'", "--mode"]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("deterministic") && stderr.contains("relaxed"),
        "{stderr}"
    );
    let run = pact(&["train", "--out", out, "--units", "two"]);
    assert_fails(
        "non-numeric flag",
        &run,
        Lines::FirstNames,
        &["'two'", "--units"],
    );
    let run = pact(&["train", "--out", out, "--temprature", "1"]);
    assert_fails("unknown flag", &run, Lines::FirstNames, &["--temprature"]);
}

fn tiny() -> ResNetConfig {
    ResNetConfig {
        units_per_stage: 2,
        widths: [2, 4, 4],
        in_channels: 3,
        num_classes: 6,
        halting_bias: Some(0.0),
    }
}

/// Writes the weights of a `tiny()` PACT network, changed by `edit`, to `dir/file`, with
/// `described` as the model description (`None`: no description).
fn write_checkpoint(
    dir: &Path,
    file: &str,
    described: Option<(ModelName, ResNetConfig)>,
    edit: impl FnOnce(&mut Vec<(String, Tensor)>),
) -> PathBuf {
    let store = ParamStore::new(DType::F32, Device::Cpu);
    ResNet::new(&store, tiny(), &mut Rng::seed(0)).unwrap();
    let mut tensors = store.tensors();
    edit(&mut tensors);
    let meta: BTreeMap<String, String> = described
        .map(|(name, resnet)| {
            let spec = ModelSpec {
                name,
                resnet,
                input_size: [8, 8],
                data: "shapes:16:8".into(),
            };
            spec.to_metadata().unwrap()
        })
        .into_iter()
        .collect();
    let path = dir.join(file);
    checkpoint::save(&path, &tensors, &meta).unwrap();
    path
}

#[test]
fn checkpoints_that_do_not_fit_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let good = write_checkpoint(
        dir,
        "good.safetensors",
        Some((ModelName::PactResnet, tiny())),
        |_| {},
    );
    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let cases: Vec<(&str, PathBuf, Lines, Vec<&str>)> = vec![
        (
            "missing tensor",
            write_checkpoint(
                dir,
                "missing.safetensors",
                Some((ModelName::PactResnet, tiny())),
                |t| t.retain(|(n, _)| n != "fc.weight"),
            ),
            Lines::FirstNames,
            vec!["missing.safetensors", "does not match the model"],
        ),
        (
            "extra tensor",
            write_checkpoint(
                dir,
                "extra.safetensors",
                Some((ModelName::PactResnet, tiny())),
                |t| {
                    t.push((
                        "decoder.weight".into(),
                        Tensor::from_f32_vec(vec![0.0; 4], [2, 2], Device::Cpu).unwrap(),
                    ))
                },
            ),
            Lines::FirstNames,
            vec!["extra.safetensors", "does not match the model"],
        ),
        (
            "mis-shaped tensor",
            write_checkpoint(
                dir,
                "misshaped.safetensors",
                Some((ModelName::PactResnet, tiny())),
                |t| {
                    for (n, x) in t.iter_mut() {
                        if n == "fc.weight" {
                            *x = Tensor::from_f32_vec(vec![0.0; 20], [5, 4], Device::Cpu).unwrap();
                        }
                    }
                },
            ),
            Lines::FirstNames,
            vec!["misshaped.safetensors", "does not match the model"],
        ),
        (
            "another architecture (more units than stored)",
            write_checkpoint(
                dir,
                "other.safetensors",
                Some((
                    ModelName::PactResnet,
                    ResNetConfig {
                        units_per_stage: 3,
                        ..tiny()
                    },
                )),
                |_| {},
            ),
            Lines::FirstNames,
            vec!["other.safetensors", "does not match the model"],
        ),
        (
            "another model family (a plain ResNet's description)",
            write_checkpoint(
                dir,
                "plain.safetensors",
                Some((
                    ModelName::Resnet,
                    ResNetConfig {
                        halting_bias: None,
                        ..tiny()
                    },
                )),
                |_| {},
            ),
            Lines::FirstNames,
            vec!["plain.safetensors", "does not match the model"],
        ),
        (
            "an inconsistent description (PACT without halting heads)",
            write_checkpoint(
                dir,
                "headless.safetensors",
                Some((
                    ModelName::PactResnet,
                    ResNetConfig {
                        halting_bias: None,
                        ..tiny()
                    },
                )),
                |_| {},
            ),
            Lines::One,
            vec!["headless.safetensors", "without halting heads"],
        ),
        (
            "not from pact train (no description)",
            write_checkpoint(dir, "foreign.safetensors", None, |_| {}),
            Lines::One,
            vec![
                "foreign.safetensors",
                "not a checkpoint written by pact train",
            ],
        ),
        (
            "a description far larger than the weights",
            write_checkpoint(
                dir,
                "huge.safetensors",
                Some((
                    ModelName::PactResnet,
                    ResNetConfig {
                        units_per_stage: 1_000_000,
                        widths: [4096; 3],
                        ..tiny()
                    },
                )),
                |_| {},
            ),
            Lines::One,
            vec!["huge.safetensors", "cannot hold"],
        ),
        (
            "truncated file",
            truncated,
            Lines::One,
            vec!["corrupt checkpoint", "truncated.safetensors"],
        ),
        (
            "a directory",
            dir.to_path_buf(),
            Lines::One,
            vec![dir.to_str().unwrap()],
        ),
    ];
    for (case, path, lines, needles) in cases {
        let run = pact(&[
            "eval",
            "--checkpoint",
            path.to_str().unwrap(),
            "--data",
            "shapes:8:8",
        ]);
        assert_fails(case, &run, lines, &needles);
    }
    // The details name each problem.
    let detail = |file: &str| {
        let path = dir.join(file);
        let run = pact(&[
            "eval",
            "--checkpoint",
            path.to_str().unwrap(),
            "--data",
            "shapes:8:8",
        ]);
        String::from_utf8_lossy(&run.stderr).into_owned()
    };
    assert!(detail("missing.safetensors").contains("missing tensor fc.weight"));
    assert!(detail("extra.safetensors").contains("unexpected tensor decoder.weight"));
    assert!(detail("misshaped.safetensors").contains("tensor fc.weight has shape [5, 4]"));
    assert!(detail("plain.safetensors").contains("unexpected tensor stages.0.halt.0"));

    // The intact checkpoint loads, and data of the wrong image shape is refused.
    let run = pact(&[
        "eval",
        "--checkpoint",
        good.to_str().unwrap(),
        "--data",
        "shapes:8:8",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let csv = dir.join("gray.csv");
    std::fs::write(&csv, "0,0,0,0,1\n").unwrap();
    let data = format!("csv:{}:1x2x2", csv.display());
    let run = pact(&[
        "eval",
        "--checkpoint",
        good.to_str().unwrap(),
        "--data",
        &data,
    ]);
    assert_fails(
        "image shape",
        &run,
        Lines::One,
        &["gray.csv", "trained on 3x8x8"],
    );
}

#[test]
fn resuming_from_another_models_checkpoint_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let run = train_on("shapes:8:8", &out, &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let run = train_on(
        "shapes:8:8",
        &out,
        &["--units", "2", "--epochs", "2", "--resume"],
    );
    assert_fails(
        "resume with more units",
        &run,
        Lines::FirstNames,
        &["cannot resume from", "last.safetensors"],
    );
    let run = train_on(
        "shapes:8:8",
        &out,
        &["--seed", "5", "--epochs", "2", "--resume"],
    );
    assert_fails(
        "resume with another seed",
        &run,
        Lines::One,
        &["cannot resume from", "last.safetensors", "seed 0 (now 5)"],
    );
    let empty = tmp.path().join("empty");
    let run = train_on("shapes:8:8", &empty, &["--resume"]);
    assert_fails(
        "resume from nothing",
        &run,
        Lines::One,
        &["--resume", "empty"],
    );
}

#[test]
fn unreadable_inputs_and_unwritable_outputs_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = dir.join("run");
    let csv = dir.join("images.csv");
    std::fs::write(&csv, csv_rows(4, "0.5")).unwrap();
    let data = format!("csv:{}:1x4x4", csv.display());

    // Inputs: a directory where a file belongs, files that are not there.
    let run = train_on(&format!("csv:{}:1x2x2", dir.display()), &out, &[]);
    assert_fails(
        "csv path is a directory",
        &run,
        Lines::One,
        &[dir.to_str().unwrap()],
    );
    let run = train_on("csv:/no/such/images.csv:1x2x2", &out, &[]);
    assert_fails("missing csv", &run, Lines::One, &["/no/such/images.csv"]);
    let run = train_on("mnist:/no/such/dir", &out, &[]);
    assert_fails(
        "missing mnist dir",
        &run,
        Lines::One,
        &["/no/such/dir", "train-images-idx3-ubyte"],
    );
    let run = pact(&[
        "eval",
        "--checkpoint",
        "/no/such.safetensors",
        "--data",
        "shapes",
    ]);
    assert_fails(
        "missing checkpoint",
        &run,
        Lines::One,
        &["/no/such.safetensors"],
    );

    // Outputs: --out is a file, or lies under one.
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let run = train_on(&data, &file, &[]);
    assert_fails("--out is a file", &run, Lines::One, &["a-file"]);
    let run = train_on(&data, &file.join("sub"), &[]);
    assert_fails("--out under a file", &run, Lines::One, &["a-file/sub"]);
    // The checkpoint's own path is taken by a directory: the write fails, naming it.
    let blocked = dir.join("blocked");
    std::fs::create_dir_all(blocked.join("last.safetensors")).unwrap();
    let run = train_on(&data, &blocked, &[]);
    assert_fails(
        "checkpoint path is a directory",
        &run,
        Lines::One,
        &["last.safetensors"],
    );
    // The log's path is taken by a directory.
    let blocked = dir.join("blocked-log");
    std::fs::create_dir_all(blocked.join("log.jsonl")).unwrap();
    let run = train_on(&data, &blocked, &[]);
    assert_fails("log path is a directory", &run, Lines::One, &["log.jsonl"]);
}

#[test]
fn a_non_finite_loss_names_the_step_and_the_last_good_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let csv = tmp.path().join("images.csv");
    // One good epoch of two steps, checkpointed.
    std::fs::write(&csv, csv_rows(8, "0.5")).unwrap();
    let data = format!("csv:{}:1x4x4", csv.display());
    let run = train_on(&data, &out, &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // The data becomes so large (finite, but its squares overflow f32) that the loss of
    // the next step is not finite.
    std::fs::write(&csv, csv_rows(8, "3e38")).unwrap();
    let run = train_on(&data, &out, &["--epochs", "2", "--resume"]);
    let last = out.join("last.safetensors");
    assert_fails(
        "non-finite loss",
        &run,
        Lines::One,
        &[
            "non-finite value in",
            "at step 3",
            &format!("last good checkpoint: {}", last.display()),
        ],
    );
    // That checkpoint is intact: step 2, readable.
    let ckpt = checkpoint::load(&last, Device::Cpu).unwrap();
    assert_eq!(ckpt.metadata["step"], "2");
}

/// A network far too large for the machine (`--units 100000`, a typo for 10) is refused before
/// anything is allocated, with the estimate and what makes it large, instead of filling the
/// memory (it reached 5.5 GB resident within 15 s and kept growing).
#[test]
fn a_network_too_large_for_the_memory_is_refused_with_the_estimate() {
    if pact::memory::available_system_memory().is_none() {
        eprintln!("skipped: this system does not say how much memory is available");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let start = std::time::Instant::now();
    let run = pact(&[
        "train",
        "--units",
        "100000",
        "--data",
        "shapes:8:8",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_fails(
        "--units 100000",
        &run,
        Lines::One,
        &[
            "--units 100000",
            "needs about",
            "GiB",
            "available",
            "activations",
        ],
    );
    assert!(start.elapsed().as_secs() < 10, "{:?}", start.elapsed());
    assert!(!out.join("last.safetensors").exists());
}
