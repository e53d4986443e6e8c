//! The spatial halting head of SACT and spatial PACT (math §8): a local logit per
//! position from a 3×3 convolution of the state (with a bias, initialised to −3), plus a
//! global logit of the whole state (global average pooling → linear, no bias), summed; the
//! halting probability is the sigmoid of the sum.

use pact::nn::{Conv2d, Conv2dConfig, Linear, ParamStore};
use pact::{Result, Rng, Tensor};

/// One spatial halting head on a `[B, C, H, W]` state, registered as `conv` (3×3, `C → 1`,
/// with bias) and `fc` (linear `C → 1`, no bias).
#[derive(Clone)]
pub struct SpatialHaltingHead {
    conv: Conv2d,
    fc: Linear,
    channels: usize,
}

impl SpatialHaltingHead {
    /// A head under `store` with the convolution's bias set to `bias`. The convolution's weight
    /// is LeCun-normal (variance `1 / (9C)`, a linear layer's He initialisation), the global
    /// linear map uniform in `±1/√C`.
    pub fn new(store: &ParamStore, channels: usize, bias: f64, rng: &mut Rng) -> Result<Self> {
        let conv_store = store.pp("conv");
        let conv = Conv2d::new(
            &conv_store,
            Conv2dConfig {
                c_in: channels,
                c_out: 1,
                kernel: 3,
                stride: 1,
                padding: 1,
                bias: true,
            },
            1.0,
            rng,
        )?;
        if let Some(b) = conv_store.get("bias") {
            b.set(b.tensor().full_like(bias))?;
        }
        let fc = Linear::no_bias(&store.pp("fc"), channels, 1, rng)?;
        Ok(SpatialHaltingHead { conv, fc, channels })
    }

    /// The halting logit of every position, `[B, H, W]`: the 3×3 convolution's output plus
    /// the global logit of the example.
    pub fn logits(&self, state: &Tensor) -> Result<Tensor> {
        let local = self.conv.forward(state)?.squeeze(1)?;
        let global = self.fc.forward(&state.global_avg_pool2d()?)?;
        local.add(&global.unsqueeze(2)?)
    }

    /// FLOPs of the local logit at one position (the 3×3 convolution, math §9).
    pub fn flops_per_position(&self) -> u64 {
        2 * 9 * self.channels as u64
    }

    /// FLOPs of the global logit, once per example (the linear layer).
    pub fn global_flops(&self) -> u64 {
        2 * self.channels as u64
    }
}
