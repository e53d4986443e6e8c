//! Optimisers, learning-rate schedules and gradient clipping.
//!
//! An optimiser holds the named parameters it updates; [`Optimizer::step`] reads their
//! gradients from a [`GradStore`]. Its state (momentum buffers, Adam moments, step count) can
//! be saved and restored by name, so a resumed run continues exactly.

mod adam;
mod schedule;
mod sgd;

pub use adam::{Adam, AdamConfig};
pub use schedule::LrSchedule;
pub use sgd::{Sgd, SgdConfig};

use super::Param;
use crate::{GradStore, Result, Tensor};
use std::collections::BTreeMap;

/// A first-order optimiser.
pub trait Optimizer {
    /// Updates every parameter that has a gradient in `grads`.
    fn step(&mut self, grads: &GradStore) -> Result<()>;
    /// The current learning rate.
    fn learning_rate(&self) -> f64;
    /// Sets the learning rate (schedules call this every step).
    fn set_learning_rate(&mut self, lr: f64);
    /// The optimiser's state as named tensors, for checkpoints.
    fn state(&self) -> Vec<(String, Tensor)>;
    /// Restores state saved by [`Optimizer::state`].
    fn load_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<()>;
}

/// A boxed optimiser is an optimiser, so the choice between optimisers can be made at run time
/// (`Box<dyn Optimizer>`) and handed to code generic over [`Optimizer`].
///
/// ```
/// use pact::nn::{Adam, AdamConfig, Optimizer, ParamStore, Sgd, SgdConfig};
/// use pact::{DType, Device};
/// let store = ParamStore::new(DType::F32, Device::Cpu);
/// let adam = true;
/// let opt: Box<dyn Optimizer> = if adam {
///     Box::new(Adam::new(store.trainable(), AdamConfig::default()))
/// } else {
///     Box::new(Sgd::new(store.trainable(), SgdConfig::default()))
/// };
/// assert_eq!(opt.learning_rate(), AdamConfig::default().lr);
/// ```
impl<O: Optimizer + ?Sized> Optimizer for Box<O> {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        (**self).step(grads)
    }

    fn learning_rate(&self) -> f64 {
        (**self).learning_rate()
    }

    fn set_learning_rate(&mut self, lr: f64) {
        (**self).set_learning_rate(lr)
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        (**self).state()
    }

    fn load_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<()> {
        (**self).load_state(state)
    }
}

/// The gradient of `param` in `grads`, if any.
pub(crate) fn grad_of<'a>(grads: &'a GradStore, param: &Param) -> Option<&'a Tensor> {
    grads.get(&param.tensor())
}

/// Refuses a step of an optimiser that updates no parameters while the loss has gradients:
/// the optimiser was built before the model created its parameters (`ctx.param` creates
/// them on first use), and would otherwise train nothing without a word.
pub(crate) fn check_has_parameters(params: &[(String, Param)], grads: &GradStore) -> Result<()> {
    if params.is_empty() && !grads.is_empty() {
        return Err(crate::Error::invalid(
            "Optimizer::step",
            format!(
                "the optimiser updates no parameters, but the loss has gradients for {} \
                 tensors: build it after the model has run once (ctx.param creates parameters \
                 on first use), from store.trainable()",
                grads.len()
            ),
        ));
    }
    Ok(())
}

/// Rescales the gradients of `params` so that their global L2 norm is at most `max_norm`;
/// returns the norm before clipping.
pub fn clip_grad_norm(
    grads: &mut GradStore,
    params: &[(String, Param)],
    max_norm: f64,
) -> Result<f64> {
    let mut total = 0.0;
    for (_, p) in params {
        if let Some(g) = grad_of(grads, p) {
            total += g.to_f64_vec().iter().map(|v| v * v).sum::<f64>();
        }
    }
    let norm = total.sqrt();
    if norm > max_norm && norm > 0.0 {
        let scale = max_norm / norm;
        for (_, p) in params {
            let id = p.tensor().id();
            if let Some(g) = grads.get_id(id) {
                let scaled = crate::no_grad(|| g.mul_scalar(scale))?;
                grads.insert(id, scaled);
            }
        }
    }
    Ok(norm)
}

/// Looks up `name` in saved optimiser state, checking the shape against `like`.
pub(crate) fn restore(
    state: &BTreeMap<String, Tensor>,
    name: &str,
    like: &Tensor,
) -> Result<Option<Tensor>> {
    match state.get(name) {
        Some(t) => {
            t.expect_shape(like.dims(), "optimizer state")?;
            Ok(Some(t.to_dtype(like.dtype())))
        }
        None => Ok(None),
    }
}
