//! Halting heads of the ResNets (math §1): global average pooling → batch norm → leaky
//! ReLU → linear to one logit, with the bias initialised to −3 (`h ≈ 0.047`: run deep at
//! first).

use super::{BN_EPS, BN_MOMENTUM, LEAKY_SLOPE};
use pact::nn::{BatchNorm, Linear, ParamStore};
use pact::{Result, Rng, Tensor};

/// Initial bias of the ResNet halting heads.
pub const HALTING_BIAS: f64 = -3.0;

/// One halting head on a `[B, C, H, W]` state.
#[derive(Clone)]
pub struct HaltingHead {
    bn: BatchNorm,
    fc: Linear,
    channels: usize,
}

impl HaltingHead {
    /// A head registered as `halt_bn` (batch norm) and `halt` (linear) under the given stores.
    pub fn new(
        bn_store: &ParamStore,
        fc_store: &ParamStore,
        channels: usize,
        bias: f64,
        rng: &mut Rng,
    ) -> Result<Self> {
        let bn = BatchNorm::new(bn_store, channels, BN_EPS, BN_MOMENTUM)?;
        let fc = Linear::new(fc_store, channels, 1, rng)?;
        if let Some(b) = fc.bias() {
            b.set(b.tensor().full_like(bias))?;
        }
        Ok(HaltingHead { bn, fc, channels })
    }

    /// The halting logit per example, `[B]`.
    pub fn logit(&self, state: &Tensor, training: bool) -> Result<Tensor> {
        self.logit_pooled(&state.global_avg_pool2d()?, training)
    }

    /// The halting logit per example, `[B]`, from the state already pooled over its spatial
    /// axes (`[B, C]`, as [`Tensor::global_avg_pool2d`] gives it).
    pub fn logit_pooled(&self, pooled: &Tensor, training: bool) -> Result<Tensor> {
        let g = self.bn.forward_leaky_relu(pooled, training, LEAKY_SLOPE)?;
        self.fc.forward(&g)?.squeeze(1)
    }

    /// Floating-point operations per example (the linear layer, math §9).
    pub fn flops(&self) -> u64 {
        2 * self.channels as u64
    }
}
