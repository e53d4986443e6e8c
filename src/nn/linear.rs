//! Fully connected layer.

use super::{init, Param, ParamStore};
use crate::{Result, Rng, Tensor};

/// `y = x Wᵀ + b` with `W` of shape `[out, in]` (PyTorch layout) and `b` of shape `[out]`.
#[derive(Clone)]
pub struct Linear {
    weight: Param,
    bias: Option<Param>,
}

impl Linear {
    /// A linear layer registered as `weight` and `bias` under `store`, initialised as in
    /// PyTorch (`U(−1/√in, 1/√in)`).
    pub fn new(store: &ParamStore, inputs: usize, outputs: usize, rng: &mut Rng) -> Result<Self> {
        let (dt, dev) = (store.dtype(), store.device());
        let w = init::uniform_fan([outputs, inputs], inputs, dt, dev, rng)?;
        let b = init::uniform_fan([outputs], inputs, dt, dev, rng)?;
        Ok(Linear {
            weight: store.create("weight", w)?,
            bias: Some(store.create("bias", b)?),
        })
    }

    /// A linear layer without bias.
    pub fn no_bias(
        store: &ParamStore,
        inputs: usize,
        outputs: usize,
        rng: &mut Rng,
    ) -> Result<Self> {
        let w = init::uniform_fan(
            [outputs, inputs],
            inputs,
            store.dtype(),
            store.device(),
            rng,
        )?;
        Ok(Linear {
            weight: store.create("weight", w)?,
            bias: None,
        })
    }

    /// The weight parameter.
    pub fn weight(&self) -> &Param {
        &self.weight
    }

    /// The bias parameter, if any.
    pub fn bias(&self) -> Option<&Param> {
        self.bias.as_ref()
    }

    /// Applies the layer to `[.., in]`, giving `[.., out]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.matmul(&self.weight.tensor().transpose(0, 1)?)?;
        match &self.bias {
            Some(b) => y.add(&b.tensor()),
            None => Ok(y),
        }
    }
}
