//! Checkpoints in the safetensors format.
//!
//! Tensor names are parameter paths and layouts follow PyTorch (NCHW activations, OIHW
//! convolution weights, `[out, in]` linear weights), so a `pact` checkpoint loads into the
//! matching PyTorch module with `load_state_dict` and back. Writes are atomic: the file is
//! written beside its destination under a temporary name, flushed, then renamed, so a crash
//! leaves either the old file or the new one, never a torn one.
//!
//! ```
//! use pact::nn::{checkpoint, Linear, ParamStore};
//! use pact::{DType, Device, Rng};
//! let dir = std::env::temp_dir().join(format!("pact-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("model.safetensors");
//! let store = ParamStore::new(DType::F32, Device::Cpu);
//! Linear::new(&store.pp("fc"), 4, 2, &mut Rng::seed(0))?;
//! checkpoint::save_store(&store, &path, &Default::default())?;
//! let other = ParamStore::new(DType::F32, Device::Cpu);
//! Linear::new(&other.pp("fc"), 4, 2, &mut Rng::seed(1))?;
//! checkpoint::load_into_store(&other, &path)?;
//! assert_eq!(store.tensors()[0].1.to_f32_vec(), other.tensors()[0].1.to_f32_vec());
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), pact::Error>(())
//! ```

use super::ParamStore;
use crate::{DType, Device, Error, Result, Tensor};
use safetensors::tensor::{Dtype as StDtype, TensorView};
use safetensors::SafeTensors;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

/// The tensors and string metadata of a checkpoint file.
#[derive(Debug, Default)]
pub struct Checkpoint {
    /// Tensors by name.
    pub tensors: BTreeMap<String, Tensor>,
    /// Free-form string metadata (model name, configuration, step, RNG state …).
    pub metadata: BTreeMap<String, String>,
}

fn to_bytes(t: &Tensor) -> (StDtype, Vec<u8>) {
    match t.dtype() {
        DType::F32 => (
            StDtype::F32,
            t.to_f32_vec()
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        DType::F64 => (
            StDtype::F64,
            t.to_f64_vec()
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
    }
}

/// Writes `bytes` to `path` atomically (temporary file in the same directory, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let file_name = path.file_name().ok_or_else(|| {
        Error::invalid(
            "write_atomic",
            format!("{} is not a file path", path.display()),
        )
    })?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(&dir) {
            d.sync_all().ok();
        }
        Ok(())
    })();
    if result.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    result.map_err(|e| Error::io(path, e))
}

/// Saves named tensors and metadata to `path` atomically.
pub fn save(
    path: impl AsRef<Path>,
    tensors: &[(String, Tensor)],
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let path = path.as_ref();
    let encoded: Vec<(String, StDtype, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, t)| {
            let (dt, bytes) = to_bytes(t);
            (n.clone(), dt, t.dims().to_vec(), bytes)
        })
        .collect();
    let mut views = Vec::with_capacity(encoded.len());
    for (name, dt, shape, bytes) in &encoded {
        let view =
            TensorView::new(*dt, shape.clone(), bytes).map_err(|e| Error::CorruptCheckpoint {
                path: path.display().to_string(),
                message: format!("tensor {name}: {e}"),
            })?;
        views.push((name.clone(), view));
    }
    let meta: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let bytes =
        safetensors::serialize(views, Some(meta)).map_err(|e| Error::CorruptCheckpoint {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    write_atomic(path, &bytes)
}

/// Reads every tensor and the metadata of a checkpoint onto `device`.
pub fn load(path: impl AsRef<Path>, device: Device) -> Result<Checkpoint> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    from_bytes(&bytes, path, device)
}

/// Parses the bytes of a safetensors checkpoint (as [`load`] does after reading the file);
/// `path` only names the source in messages. Any byte string gives a checkpoint or
/// [`Error::CorruptCheckpoint`], never a panic.
///
/// ```
/// use pact::nn::checkpoint;
/// use std::path::Path;
/// let err = checkpoint::from_bytes(b"not safetensors", Path::new("x.safetensors"), pact::Device::Cpu)
///     .unwrap_err();
/// assert!(err.to_string().contains("corrupt checkpoint x.safetensors"));
/// ```
pub fn from_bytes(bytes: &[u8], path: &Path, device: Device) -> Result<Checkpoint> {
    let corrupt = |message: String| Error::CorruptCheckpoint {
        path: path.display().to_string(),
        message,
    };
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| corrupt(e.to_string()))?;
    let metadata: BTreeMap<String, String> = header
        .metadata()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let st = SafeTensors::deserialize(bytes).map_err(|e| corrupt(e.to_string()))?;
    let mut tensors = BTreeMap::new();
    for (name, view) in st.tensors() {
        let shape = view.shape().to_vec();
        let data = view.data();
        let t = match view.dtype() {
            StDtype::F32 => {
                let v: Vec<f32> = data
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                Tensor::from_f32_vec(v, shape, device)?
            }
            StDtype::F64 => {
                let v: Vec<f64> = data
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect();
                Tensor::from_f64_vec(v, shape, device)?
            }
            other => {
                return Err(corrupt(format!(
                    "tensor {name} has unsupported dtype {other:?}"
                )))
            }
        };
        tensors.insert(name, t);
    }
    Ok(Checkpoint { tensors, metadata })
}

/// Saves every parameter and buffer of `store`.
pub fn save_store(
    store: &ParamStore,
    path: impl AsRef<Path>,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    save(path, &store.tensors(), metadata)
}

/// Loads a checkpoint into `store`, checking that names, shapes and dtypes match exactly;
/// every mismatch (missing, unexpected, mis-shaped or mis-typed tensor) is reported in one
/// error. Returns the checkpoint's metadata and any tensors whose names are not parameters
/// but start with `optim.` or `state.` (optimiser and trainer state).
pub fn load_into_store(store: &ParamStore, path: impl AsRef<Path>) -> Result<Checkpoint> {
    let path = path.as_ref();
    let ckpt = load(path, store.device())?;
    restore_store(store, ckpt, path)
}

/// Copies the tensors of a checkpoint already read (by [`load`] or [`from_bytes`]) into
/// `store`, with the checks of [`load_into_store`]; `path` only names the source in
/// messages. Nothing changes unless every parameter matches. Returns the metadata and the
/// tensors that are not parameters.
pub fn restore_store(store: &ParamStore, mut ckpt: Checkpoint, path: &Path) -> Result<Checkpoint> {
    let params = store.all();
    let mut problems = Vec::new();
    for (name, p) in &params {
        let current = p.tensor();
        match ckpt.tensors.get(name) {
            None => problems.push(format!(
                "missing tensor {name} (expected shape {})",
                current.shape()
            )),
            Some(t) if t.shape() != current.shape() => problems.push(format!(
                "tensor {name} has shape {} in the checkpoint but {} in the model",
                t.shape(),
                current.shape()
            )),
            Some(t) if t.dtype() != current.dtype() => problems.push(format!(
                "tensor {name} has dtype {} in the checkpoint but {} in the model",
                t.dtype().name(),
                current.dtype().name()
            )),
            Some(_) => {}
        }
    }
    let known: std::collections::BTreeSet<&String> = params.iter().map(|(n, _)| n).collect();
    for name in ckpt.tensors.keys() {
        let auxiliary = name.starts_with("optim.") || name.starts_with("state.");
        if !known.contains(name) && !auxiliary {
            problems.push(format!("unexpected tensor {name}"));
        }
    }
    if !problems.is_empty() {
        return Err(Error::CheckpointMismatch {
            path: path.display().to_string(),
            problems,
        });
    }
    for (name, p) in &params {
        if let Some(t) = ckpt.tensors.remove(name) {
            p.set(t)?;
        }
    }
    Ok(ckpt)
}
