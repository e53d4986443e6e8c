//! Gradients of variables, keyed by tensor identity.

use crate::tensor::TensorId;
use crate::{Result, Tensor};
use std::collections::HashMap;

/// Gradients produced by [`Tensor::backward`], one per variable that the output depends on.
#[derive(Clone, Default, Debug)]
pub struct GradStore {
    grads: HashMap<TensorId, Tensor>,
}

impl GradStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The gradient of `var`, if the output depends on it.
    pub fn get(&self, var: &Tensor) -> Option<&Tensor> {
        self.grads.get(&var.id())
    }

    /// The gradient of the tensor with identity `id`.
    pub fn get_id(&self, id: TensorId) -> Option<&Tensor> {
        self.grads.get(&id)
    }

    /// Removes and returns the gradient of `var`.
    pub fn remove(&mut self, var: &Tensor) -> Option<Tensor> {
        self.grads.remove(&var.id())
    }

    /// Sets the gradient of the tensor with identity `id`.
    pub fn insert(&mut self, id: TensorId, grad: Tensor) {
        self.grads.insert(id, grad);
    }

    /// Adds `grad` to the gradient stored for `id` (gradient accumulation).
    pub fn accumulate(&mut self, id: TensorId, grad: Tensor) -> Result<()> {
        let summed = match self.grads.remove(&id) {
            Some(existing) => crate::no_grad(|| existing.accumulate(&grad))?,
            None => grad,
        };
        self.grads.insert(id, summed);
        Ok(())
    }

    /// Adds every gradient of `other` into this store.
    pub fn merge(&mut self, other: GradStore) -> Result<()> {
        for (id, g) in other.grads {
            self.accumulate(id, g)?;
        }
        Ok(())
    }

    /// Identities with a stored gradient.
    pub fn ids(&self) -> impl Iterator<Item = &TensorId> {
        self.grads.keys()
    }

    /// Number of stored gradients.
    pub fn len(&self) -> usize {
        self.grads.len()
    }

    /// Whether no gradient is stored.
    pub fn is_empty(&self) -> bool {
        self.grads.is_empty()
    }
}
