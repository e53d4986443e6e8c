//! Trainer checkpoints: parameters and buffers, optimiser state (tensors named `optim.…`) and
//! the trainer's own state (step, random stream, partial log window, configuration) as JSON
//! metadata under [`META_KEY`].

use super::config::TrainerConfig;
use super::metrics::WindowState;
use crate::{Error, Result};
use pact::nn::{checkpoint, Optimizer, ParamStore};
use pact::RngState;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The metadata key under which the trainer state is stored.
pub const META_KEY: &str = "pact.trainer";
/// The prefix of optimiser-state tensor names.
pub const OPTIM_PREFIX: &str = "optim.";
const VERSION: u32 = 1;

/// Everything besides tensors that a resumed run needs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct TrainerState {
    pub(crate) version: u32,
    /// Steps completed.
    pub(crate) step: u64,
    /// The size of the data set the run was over.
    pub(crate) num_examples: usize,
    /// The step generator's state.
    pub(crate) rng: RngState,
    /// The sums of the log record in progress.
    pub(crate) window: WindowState,
    /// The configuration of the run that wrote the checkpoint.
    pub(crate) config: TrainerConfig,
}

impl TrainerState {
    pub(crate) fn new(
        step: u64,
        num_examples: usize,
        rng: RngState,
        window: WindowState,
        config: TrainerConfig,
    ) -> Self {
        TrainerState {
            version: VERSION,
            step,
            num_examples,
            rng,
            window,
            config,
        }
    }
}

/// Writes a checkpoint atomically.
pub(crate) fn save(
    path: &Path,
    store: &ParamStore,
    optimizer: &dyn Optimizer,
    state: &TrainerState,
    extra: &BTreeMap<String, String>,
) -> Result<()> {
    let mut tensors = store.tensors();
    tensors.extend(
        optimizer
            .state()
            .into_iter()
            .map(|(n, t)| (format!("{OPTIM_PREFIX}{n}"), t)),
    );
    let json = serde_json::to_string(state)
        .map_err(|e| Error::InvalidConfig(format!("cannot serialise the trainer state: {e}")))?;
    let mut metadata = extra.clone();
    metadata.insert(META_KEY.to_string(), json);
    metadata.insert("step".to_string(), state.step.to_string());
    checkpoint::save(path, &tensors, &metadata)?;
    Ok(())
}

/// Reads and checks the trainer state of a checkpoint read from `path`.
pub(crate) fn read(ckpt: &checkpoint::Checkpoint, path: &Path) -> Result<TrainerState> {
    let fail = |reason: String| Error::Resume {
        path: path.to_path_buf(),
        reason,
    };
    let json = ckpt.metadata.get(META_KEY).ok_or_else(|| {
        fail(format!(
            "no {META_KEY} metadata: not a checkpoint written by the trainer"
        ))
    })?;
    let state: TrainerState = serde_json::from_str(json)
        .map_err(|e| fail(format!("unreadable {META_KEY} metadata: {e}")))?;
    if state.version != VERSION {
        return Err(fail(format!(
            "trainer state version {} (this build reads version {VERSION})",
            state.version
        )));
    }
    Ok(state)
}

/// Restores parameters, buffers and optimiser state from a checkpoint read from `path`;
/// every mismatch between the file and the model is reported before any parameter changes.
pub(crate) fn restore(
    ckpt: checkpoint::Checkpoint,
    path: &Path,
    store: &ParamStore,
    optimizer: &mut dyn Optimizer,
) -> Result<()> {
    let fail = |reason: String| Error::Resume {
        path: path.to_path_buf(),
        reason,
    };
    let mut ckpt = checkpoint::restore_store(store, ckpt, path).map_err(|e| fail(e.to_string()))?;
    let saved: BTreeMap<String, pact::Tensor> = std::mem::take(&mut ckpt.tensors)
        .into_iter()
        .filter_map(|(n, t)| Some((n.strip_prefix(OPTIM_PREFIX)?.to_string(), t)))
        .collect();
    optimizer
        .load_state(&saved)
        .map_err(|e| fail(format!("optimizer state: {e}")))?;
    let restored: BTreeSet<String> = optimizer.state().into_iter().map(|(n, _)| n).collect();
    let expected: BTreeSet<String> = saved.into_keys().collect();
    if restored != expected {
        let missing: Vec<&String> = expected.difference(&restored).collect();
        return Err(fail(format!(
            "the optimizer did not take the saved state {missing:?} (a different optimizer \
             or parameter set than the run that wrote it?)"
        )));
    }
    Ok(())
}
