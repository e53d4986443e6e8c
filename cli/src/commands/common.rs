//! Pieces shared by the commands: data loading with split-specific seeds, checkpoint loading.

use crate::{CliError, Result};
use pact::nn::{checkpoint, ParamStore};
use pact::{DType, Device, Rng};
use pact_models::adaptive::HaltingMode;
use pact_models::data::{DataSpec, ImageSet, Split};
use pact_models::evaluate::EvalReport;
use pact_models::resnet::ResNet;
use pact_models::spec::{ModelSpec, RecurrentSpec};
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
    let spec = ModelSpec::from_metadata(&ckpt.metadata, &shown)?;
    let store = ParamStore::new(DType::F32, device);
    let net = spec.build_resnet(&store, &mut Rng::seed(0))?;
    checkpoint::load_into_store(&store, path)?;
    Ok((spec, net, store))
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
