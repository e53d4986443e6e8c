//! Fuzz targets for the readers of untrusted input: CIFAR-10 and IDX (MNIST) files, CSV
//! images, checkpoints and `pact train`'s TOML configuration.
//!
//! Each target takes arbitrary bytes and returns a short description of the outcome (`ok`, or
//! the error with its numbers blanked) that the stable driver uses to keep inputs that reach
//! new outcomes. A target must never panic, abort or hang: every input is either read or
//! refused with an error. On success each target also checks the result's invariants, and a
//! broken invariant is a panic, so the fuzzer reports it like a crash.
//!
//! The configuration parser and the checkpoint loading of `pact eval` live in the `pact`
//! binary, which has no library; the modules are compiled in here from their source files.

use pact::nn::{checkpoint, Linear, ParamStore};
use pact::{DType, Device, Rng};
use pact_models::data::{cifar10, csv, mnist, DataSpec};
use std::collections::BTreeMap;
use std::path::Path;

#[allow(dead_code)]
#[path = "../../cli/src/error.rs"]
mod error;
use error::{CliError, Result};

// The `pact` binary's command modules this crate exercises, compiled from their sources.
// They sit at the crate root here, so `super::common` in train.rs still finds its sibling.
#[allow(dead_code, unused_imports)]
#[path = "../../cli/src/commands/common.rs"]
mod common;
#[allow(dead_code, unused_imports)]
#[path = "../../cli/src/commands/train.rs"]
mod train;
#[allow(dead_code, unused_imports)]
#[path = "../../cli/src/commands/sequence.rs"]
mod sequence;

/// The names of the targets, as `cargo fuzz` and the stable driver know them.
pub const TARGETS: [&str; 5] = ["cifar10", "idx", "csv", "checkpoint", "config"];

/// Runs the target `name` on `data`; `None` for an unknown name.
pub fn run(name: &str, data: &[u8]) -> Option<String> {
    Some(match name {
        "cifar10" => cifar10(data),
        "idx" => idx(data),
        "csv" => csv(data),
        "checkpoint" => checkpoint(data),
        "config" => config(data),
        _ => return None,
    })
}

/// An error with its digits and quoted text blanked: inputs that fail the same way map to
/// the same text.
fn outcome(e: impl std::fmt::Display) -> String {
    let mut out = String::new();
    let mut quoted = None;
    for c in e.to_string().chars().take(120) {
        match quoted {
            Some(q) if c == q => quoted = None,
            Some(_) => {}
            None if c == '"' || c == '`' => {
                quoted = Some(c);
                out.push('…');
            }
            None if c == '\n' => out.push_str(" | "),
            None if c.is_ascii_digit() => {
                if !out.ends_with('#') {
                    out.push('#');
                }
            }
            None => out.push(c),
        }
    }
    out
}

/// A CIFAR-10 binary file ([`cifar10::parse`]).
pub fn cifar10(data: &[u8]) -> String {
    match cifar10::parse(Path::new("fuzz.bin"), data) {
        Ok((images, labels)) => {
            assert_eq!(images.len(), labels.len() * (cifar10::RECORD_BYTES - 1));
            assert!(labels.iter().all(|&l| l < cifar10::NUM_CLASSES));
            assert!(images.iter().all(|p| (0.0..=1.0).contains(p)));
            "ok".into()
        }
        Err(e) => outcome(e),
    }
}

/// An IDX image or label file, gunzipped first when it starts with the gzip magic
/// ([`mnist::parse_images`], [`mnist::parse_labels`], [`mnist::gunzip`]).
pub fn idx(data: &[u8]) -> String {
    let path = Path::new("fuzz-idx-ubyte");
    let plain;
    let bytes = if data.starts_with(&[0x1f, 0x8b]) {
        match mnist::gunzip(path, data) {
            Ok(b) => {
                plain = b;
                &plain[..]
            }
            Err(e) => return outcome(e),
        }
    } else {
        data
    };
    let images = match mnist::parse_images(path, bytes) {
        Ok(im) => {
            assert_eq!(im.pixels.len(), im.count * im.rows * im.cols);
            assert!(im.rows > 0 && im.cols > 0);
            "ok".to_string()
        }
        Err(e) => outcome(e),
    };
    let labels = match mnist::parse_labels(path, bytes) {
        Ok(labels) => {
            assert!(labels.iter().all(|&l| l < mnist::NUM_CLASSES));
            "ok".to_string()
        }
        Err(e) => outcome(e),
    };
    format!("{images} / {labels}")
}

/// A CSV image file ([`csv::parse`]): the first three bytes choose the image shape (each
/// side 1 to 8), the rest is the text. The first line is also read as a shape
/// ([`csv::parse_chw`]) and as a data spec ([`DataSpec::parse`]).
pub fn csv(data: &[u8]) -> String {
    let (head, body) = data.split_at(data.len().min(3));
    let mut dims = [1usize; 3];
    for (d, b) in dims.iter_mut().zip(head) {
        *d = 1 + (*b as usize) % 8;
    }
    let text = String::from_utf8_lossy(body);
    let first = text.lines().next().unwrap_or("");
    let _ = csv::parse_chw(first);
    let _ = DataSpec::parse(first);
    match csv::parse(Path::new("fuzz.csv"), &text, dims) {
        Ok((images, labels)) => {
            assert_eq!(images.len(), labels.len() * dims.iter().product::<usize>());
            assert!(images.iter().all(|p| p.is_finite()));
            assert!(labels.iter().all(|&l| l < csv::MAX_CLASSES));
            "ok".into()
        }
        Err(e) => outcome(e),
    }
}

/// A checkpoint. The first byte chooses what the rest is: odd, the model description
/// (`pact.model` metadata, JSON) of a checkpoint holding a tiny ResNet's weights, so that
/// descriptions are fuzzed inside valid files; even, a whole safetensors file. Either is
/// parsed ([`checkpoint::from_bytes`]), loaded into a small fixed model with the generic
/// checks ([`checkpoint::restore_store`]), then loaded as `pact eval` does (the network its
/// description asks for, built and filled).
pub fn checkpoint(data: &[u8]) -> String {
    let owned;
    let bytes = match data.split_first() {
        Some((mode, rest)) if mode % 2 == 1 => {
            owned = with_description(&String::from_utf8_lossy(rest));
            &owned[..]
        }
        Some((_, rest)) => rest,
        None => data,
    };
    let path = Path::new("fuzz.safetensors");
    let ckpt = match checkpoint::from_bytes(bytes, path, Device::Cpu) {
        Ok(c) => c,
        Err(e) => return outcome(e),
    };
    let store = ParamStore::new(DType::F32, Device::Cpu);
    Linear::new(&store.pp("fc"), 2, 2, &mut Rng::seed(0)).expect("a 2x2 linear layer");
    let generic = match checkpoint::restore_store(&store, ckpt, path) {
        Ok(_) => "ok".to_string(),
        Err(e) => outcome(e),
    };
    let Ok(ckpt) = checkpoint::from_bytes(bytes, path, Device::Cpu) else {
        panic!("the same bytes parsed once and not twice");
    };
    let eval = match common::resnet_from_checkpoint(ckpt, path, Device::Cpu) {
        Ok(_) => "ok".to_string(),
        Err(e) => outcome(e),
    };
    format!("{generic} / {eval}")
}

/// The configuration of the tiny ResNet whose weights the description-fuzzing mode stores.
fn tiny_resnet() -> pact_models::resnet::ResNetConfig {
    pact_models::resnet::ResNetConfig {
        units_per_stage: 2,
        widths: [2, 2, 2],
        in_channels: 1,
        num_classes: 2,
        halting_bias: Some(0.0),
    }
}

/// A safetensors file holding the tiny ResNet's weights, described by `description`.
fn with_description(description: &str) -> Vec<u8> {
    use safetensors::tensor::{Dtype, TensorView};
    /// A tensor's name, shape and little-endian `f32` bytes.
    type Stored = (String, Vec<usize>, Vec<u8>);
    static WEIGHTS: std::sync::OnceLock<Vec<Stored>> = std::sync::OnceLock::new();
    let weights = WEIGHTS.get_or_init(|| {
        let store = ParamStore::new(DType::F32, Device::Cpu);
        pact_models::resnet::ResNet::new(&store, tiny_resnet(), &mut Rng::seed(0))
            .expect("a tiny ResNet");
        store
            .tensors()
            .into_iter()
            .map(|(name, t)| {
                let bytes = t
                    .to_f32_vec()
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect();
                (name, t.dims().to_vec(), bytes)
            })
            .collect()
    });
    let views = weights.iter().map(|(name, shape, bytes)| {
        let view = TensorView::new(Dtype::F32, shape.clone(), bytes).expect("a valid tensor");
        (name.clone(), view)
    });
    let metadata = [(
        pact_models::spec::MODEL_KEY.to_string(),
        description.to_string(),
    )]
    .into_iter()
    .collect();
    safetensors::serialize(views, Some(metadata)).expect("serialise a valid checkpoint")
}

/// A `pact train --config` file (invalid UTF-8 replaced): parsed ([`TrainConfig::from_toml`]) and checked as a run's
/// settings ([`check`]).
///
/// [`TrainConfig::from_toml`]: train::TrainConfig::from_toml
/// [`check`]: train::check
pub fn config(data: &[u8]) -> String {
    // The binary refuses a file that is not UTF-8 before parsing; the parser sees the rest.
    let text = String::from_utf8_lossy(data);
    match train::TrainConfig::from_toml(&text, "fuzz.toml") {
        Ok(c) => match train::check(&c) {
            Ok(()) => "ok".into(),
            Err(e) => outcome(e),
        },
        Err(e) => outcome(e),
    }
}

/// Valid inputs of each target (and a few near misses), to start mutating from.
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    let be = |words: &[u32]| -> Vec<u8> { words.iter().flat_map(|w| w.to_be_bytes()).collect() };
    match name {
        "cifar10" => {
            let mut one = vec![3u8];
            one.extend((0..cifar10::RECORD_BYTES - 1).map(|i| (i % 251) as u8));
            let mut two = one.clone();
            two.extend(&one);
            two[cifar10::RECORD_BYTES] = 9;
            vec![one, two]
        }
        "idx" => {
            let mut images = be(&[mnist::IMAGES_MAGIC, 2, 2, 3]);
            images.extend(0..12u8);
            let mut labels = be(&[mnist::LABELS_MAGIC, 3]);
            labels.extend([7, 0, 9]);
            let gz = |bytes: &[u8]| {
                use std::io::Write;
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(bytes).expect("gzip into memory");
                e.finish().expect("gzip into memory")
            };
            vec![gz(&images), gz(&labels), images, labels]
        }
        "csv" => vec![
            [&[0u8, 1, 1][..], b"0,0.5,1,0.25,1\n1,1,0,0,0\n"].concat(),
            [&[0u8, 0, 2][..], b"1, 2e-3, -4, 3.0\n\n0,0,0,0\r\n"].concat(),
            [&[2u8, 0, 0][..], b"1x2x2\n0,0,0,2\n"].concat(),
        ],
        "checkpoint" => checkpoint_seeds(),
        "config" => vec![
            b"model = \"act-resnet\"\nunits = 2\nwidths = [4, 8, 8]\nbatch_size = 16\n".to_vec(),
            b"lr = 0.05\ntemperature = 0.5\nlambda = 0.01\ntau = 0.01\nschedule = \"constant\"\n"
                .to_vec(),
            b"data = \"csv:x.csv:1x8x8\"\noptimizer = \"adam\"\naugment = true\nseed = 7\n"
                .to_vec(),
        ],
        _ => Vec::new(),
    }
}

/// A checkpoint of a small fixed model and one of a tiny ResNet as `pact train` writes it
/// (whole files), and descriptions of the tiny ResNet (description mode).
fn checkpoint_seeds() -> Vec<Vec<u8>> {
    use pact_models::spec::{ModelName, ModelSpec};
    let dir = std::env::temp_dir().join(format!("pact-fuzz-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let mut out = Vec::new();

    let store = ParamStore::new(DType::F32, Device::Cpu);
    Linear::new(&store.pp("fc"), 2, 2, &mut Rng::seed(1)).expect("a linear layer");
    let path = dir.join("linear.safetensors");
    checkpoint::save_store(&store, &path, &BTreeMap::new()).expect("write a checkpoint");
    out.push([&[0u8][..], &std::fs::read(&path).expect("read it back")].concat());
    std::fs::remove_dir_all(&dir).ok();

    for name in [
        ModelName::PactResnet,
        ModelName::ActResnet,
        ModelName::Resnet,
    ] {
        let spec = ModelSpec {
            name,
            resnet: pact_models::resnet::ResNetConfig {
                halting_bias: (name != ModelName::Resnet).then_some(0.0),
                ..tiny_resnet()
            },
            input_size: [4, 4],
            data: "shapes:8:8".into(),
        };
        let (_, json) = spec.to_metadata().expect("metadata");
        out.push([&[1u8][..], json.as_bytes()].concat());
        if name == ModelName::PactResnet {
            out.push([&[0u8][..], &with_description(&json)].concat());
        }
    }
    out
}
