//! Named parameters and buffers.

use crate::{DType, Device, Error, Result, Tensor};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

/// A handle to one parameter: the current value, a variable that optimisers replace.
///
/// Cloning the handle shares the parameter.
#[derive(Clone)]
pub struct Param {
    value: Arc<RwLock<Tensor>>,
}

impl Param {
    fn new(t: Tensor, trainable: bool) -> Self {
        let t = if trainable { t.to_var() } else { t.detach() };
        Param {
            value: Arc::new(RwLock::new(t)),
        }
    }

    /// The current value (a variable for trainable parameters).
    pub fn tensor(&self) -> Tensor {
        match self.value.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the value; the shape and dtype must stay the same.
    pub fn set(&self, t: Tensor) -> Result<()> {
        let mut guard = match self.value.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if t.shape() != guard.shape() || t.dtype() != guard.dtype() {
            return Err(Error::ShapeMismatch {
                op: "Param::set",
                lhs: guard.shape().clone(),
                rhs: t.shape().clone(),
            });
        }
        let trainable = guard.is_variable();
        *guard = if trainable {
            t.detach().to_var()
        } else {
            t.detach()
        };
        Ok(())
    }
}

struct Entry {
    param: Param,
    trainable: bool,
}

/// A collection of named parameters (trainable) and buffers (saved but not trained, such as
/// batch-norm running statistics), with a path prefix for scoping.
///
/// Names are kept in sorted order, so iteration, checkpoints and optimiser state are
/// deterministic.
#[derive(Clone)]
pub struct ParamStore {
    entries: Arc<Mutex<BTreeMap<String, Entry>>>,
    prefix: String,
    dtype: DType,
    device: Device,
}

impl ParamStore {
    /// An empty store whose parameters have `dtype` and live on `device`.
    pub fn new(dtype: DType, device: Device) -> Self {
        ParamStore {
            entries: Arc::new(Mutex::new(BTreeMap::new())),
            prefix: String::new(),
            dtype,
            device,
        }
    }

    /// A view of the same store that prefixes every name with `name.`.
    pub fn pp(&self, name: impl AsRef<str>) -> ParamStore {
        ParamStore {
            entries: self.entries.clone(),
            prefix: self.path(name.as_ref()),
            dtype: self.dtype,
            device: self.device,
        }
    }

    /// The full name of `name` under this view's prefix.
    pub fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    /// The element type of new parameters.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The device of new parameters.
    pub fn device(&self) -> Device {
        self.device
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        match self.entries.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn insert(&self, name: &str, value: Tensor, trainable: bool) -> Result<Param> {
        let full = self.path(name);
        let mut entries = self.lock();
        if entries.contains_key(&full) {
            return Err(Error::invalid(
                "ParamStore",
                format!("parameter {full} already exists"),
            ));
        }
        let value = value.to_dtype(self.dtype);
        let param = Param::new(value, trainable);
        entries.insert(
            full,
            Entry {
                param: param.clone(),
                trainable,
            },
        );
        Ok(param)
    }

    /// Registers a new trainable parameter; an existing name is an error.
    pub fn create(&self, name: &str, value: Tensor) -> Result<Param> {
        self.insert(name, value, true)
    }

    /// Registers a new buffer (saved in checkpoints, not trained).
    pub fn create_buffer(&self, name: &str, value: Tensor) -> Result<Param> {
        self.insert(name, value, false)
    }

    /// The parameter `name` if it exists, else a new one made by `init`.
    pub fn get_or_create(
        &self,
        name: &str,
        init: impl FnOnce() -> Result<Tensor>,
    ) -> Result<Param> {
        if let Some(p) = self.get(name) {
            return Ok(p);
        }
        self.create(name, init()?)
    }

    /// The parameter or buffer `name` (relative to this view), if it exists.
    pub fn get(&self, name: &str) -> Option<Param> {
        self.lock().get(&self.path(name)).map(|e| e.param.clone())
    }

    /// Every trainable parameter with its full name, sorted by name.
    pub fn trainable(&self) -> Vec<(String, Param)> {
        self.lock()
            .iter()
            .filter(|(_, e)| e.trainable)
            .map(|(n, e)| (n.clone(), e.param.clone()))
            .collect()
    }

    /// Every parameter and buffer with its full name, sorted by name.
    pub fn all(&self) -> Vec<(String, Param)> {
        self.lock()
            .iter()
            .map(|(n, e)| (n.clone(), e.param.clone()))
            .collect()
    }

    /// Every name, sorted.
    pub fn names(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Total number of trainable scalars.
    pub fn num_trainable(&self) -> usize {
        self.trainable()
            .iter()
            .map(|(_, p)| p.tensor().elem_count())
            .sum()
    }

    /// Current values of every parameter and buffer, by full name.
    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        self.all()
            .into_iter()
            .map(|(n, p)| (n, p.tensor()))
            .collect()
    }
}
