//! Pieces shared by the commands: data loading with split-specific seeds, checkpoint loading.

use crate::{CliError, Result};
use pact::nn::{checkpoint, ParamStore};
use pact::{DType, Device, Rng};
use pact_models::data::{DataSpec, ImageSet, Split};
use pact_models::evaluate::EvalReport;
use pact_models::mode::HaltingMode;
use pact_models::resnet::ResNet;
use pact_models::spec::{ModelName, ModelSpec, RecurrentSpec};
use std::path::Path;

/// Seed offset of the test split of generated data sets, so train and test never coincide.
pub const TEST_SEED_OFFSET: u64 = 0x7e57_0000;

/// Loads the `split` of the image data set `spec`; generated sets draw from a seed that
/// depends on the split.
pub fn load_images(spec: &str, split: Split, seed: u64) -> Result<(DataSpec, ImageSet)> {
    let data = DataSpec::parse(spec)?;
    let seed = match split {
        Split::Train => seed,
        Split::Test => seed.wrapping_add(TEST_SEED_OFFSET),
    };
    let set = data.load_images(split, &mut Rng::seed(seed))?;
    Ok((data, set))
}

/// Rebuilds the network a checkpoint describes and loads its weights.
pub fn load_resnet(path: &Path, device: Device) -> Result<(ModelSpec, ResNet, ParamStore)> {
    let shown = path.display().to_string();
    if !path.exists() {
        return Err(CliError::Usage(format!(
            "checkpoint {shown} does not exist"
        )));
    }
    let ckpt = checkpoint::load(path, device)?;
    if let Some(r) = RecurrentSpec::from_metadata(&ckpt.metadata, &shown)? {
        return Err(CliError::Usage(format!(
            "{shown} holds a recurrent model ({}), not a ResNet; `pact eval` reads it",
            r.name.as_str()
        )));
    }
    resnet_from_checkpoint(ckpt, path, device)
}

/// [`load_resnet`] on a checkpoint already read (`path` names it in messages): checks the
/// description against the stored values, builds the network and copies the weights in.
pub fn resnet_from_checkpoint(
    ckpt: checkpoint::Checkpoint,
    path: &Path,
    device: Device,
) -> Result<(ModelSpec, ResNet, ParamStore)> {
    let shown = path.display().to_string();
    let spec = ModelSpec::from_metadata(&ckpt.metadata, &shown)?;
    check_size(&spec, &ckpt, &shown)?;
    if (spec.name == ModelName::Resnet) != spec.resnet.halting_bias.is_none() {
        return Err(CliError::Usage(format!(
            "checkpoint {shown} describes a {} {} halting heads: the description is \
             inconsistent (damaged, or not from pact train)",
            spec.name.as_str(),
            if spec.resnet.halting_bias.is_none() {
                "without"
            } else {
                "with"
            }
        )));
    }
    let store = ParamStore::new(DType::F32, device);
    let net = spec.build_resnet(&store, &mut Rng::seed(0))?;
    checkpoint::restore_store(&store, ckpt, path)?;
    Ok((spec, net, store))
}

/// Refuses a checkpoint whose description asks for a network with more weights than the
/// file holds (a damaged or foreign description), before that network is allocated.
fn check_size(spec: &ModelSpec, ckpt: &checkpoint::Checkpoint, shown: &str) -> Result<()> {
    let r = &spec.resnet;
    let values: u128 = ckpt
        .tensors
        .iter()
        .filter(|(name, _)| !name.starts_with("optim.") && !name.starts_with("state."))
        .map(|(_, t)| t.dims().iter().map(|&d| d as u128).product::<u128>())
        .sum();
    // At least: the stem, the second 3x3 convolution of every unit, and the classifier.
    let stem = 9 * r.in_channels as u128 * r.widths[0] as u128;
    let convs: u128 = r
        .widths
        .iter()
        .map(|&w| 9 * (w as u128) * (w as u128))
        .sum::<u128>()
        .saturating_mul(r.units_per_stage as u128);
    let needed = convs
        .saturating_add(stem)
        .saturating_add(r.num_classes as u128 * r.widths[2] as u128);
    if r.units_per_stage == 0 || r.widths.contains(&0) || r.in_channels == 0 || needed > values {
        return Err(CliError::Usage(format!(
            "checkpoint {shown} describes a network ({} units per stage, widths {:?}, {} \
             classes) that its {values} stored values cannot hold: the file is damaged or not \
             from pact train",
            r.units_per_stage, r.widths, r.num_classes
        )));
    }
    Ok(())
}

/// The JSON line `pact eval --json` prints (and the demo stores as `eval.json`): the report
/// without its per-example units, plus the model name and halting mode.
pub fn eval_json(report: &EvalReport, model: &str, mode: &HaltingMode) -> Result<String> {
    let mut v = serde_json::to_value(EvalReport {
        units_per_example: Vec::new(),
        ..report.clone()
    })
    .map_err(|e| CliError::Usage(e.to_string()))?;
    v["model"] = model.into();
    v["mode"] = mode.name().into();
    Ok(v.to_string())
}
