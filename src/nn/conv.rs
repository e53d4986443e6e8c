//! 2-D convolution layer.

use super::{init, Param, ParamStore};
use crate::{Result, Rng, Tensor};

/// A 2-D convolution over NCHW inputs with an OIHW weight (PyTorch layout), He-initialised.
#[derive(Clone)]
pub struct Conv2d {
    weight: Param,
    bias: Option<Param>,
    stride: usize,
    padding: usize,
}

/// Geometry of a [`Conv2d`].
#[derive(Clone, Copy, Debug)]
pub struct Conv2dConfig {
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Square kernel size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding.
    pub padding: usize,
    /// Whether to add a per-channel bias.
    pub bias: bool,
}

impl Conv2d {
    /// A convolution registered as `weight` (and `bias`) under `store`; the weight is He-normal
    /// for a leaky-ReLU slope of `slope` (0 for ReLU).
    pub fn new(store: &ParamStore, c: Conv2dConfig, slope: f64, rng: &mut Rng) -> Result<Self> {
        let (dt, dev) = (store.dtype(), store.device());
        let w = init::he_normal([c.c_out, c.c_in, c.kernel, c.kernel], slope, dt, dev, rng)?;
        let bias = if c.bias {
            Some(store.create("bias", Tensor::zeros([c.c_out], dt, dev))?)
        } else {
            None
        };
        Ok(Conv2d {
            weight: store.create("weight", w)?,
            bias,
            stride: c.stride,
            padding: c.padding,
        })
    }

    /// The weight parameter.
    pub fn weight(&self) -> &Param {
        &self.weight
    }

    /// Applies the convolution.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let bias = self.bias.as_ref().map(|b| b.tensor());
        x.conv2d(
            &self.weight.tensor(),
            bias.as_ref(),
            self.stride,
            self.padding,
        )
    }
}
