//! 2-D convolution layer.

use super::{init, Param, ParamStore};
use crate::tensor::ScaleShiftLeaky;
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

    /// `y += self.forward(map(x))`, `y` of the output's shape and `map` evaluation-mode batch
    /// norm with leaky ReLU (none: `x` itself): in place where it may be
    /// ([`Tensor::add_conv2d_in_place`]; a bias, if any, is added after), bit for bit
    /// `y.add(&self.forward(&map(x))?)` for a convolution without a bias.
    ///
    /// ```
    /// use pact::nn::{Conv2d, Conv2dConfig, ParamStore};
    /// use pact::{DType, Device, Rng, Tensor};
    /// let store = ParamStore::new(DType::F32, Device::Cpu);
    /// let (c_in, c_out, kernel, stride, padding) = (2, 2, 3, 1, 1);
    /// let config = Conv2dConfig { c_in, c_out, kernel, stride, padding, bias: false };
    /// let mut rng = Rng::seed(0);
    /// let conv = Conv2d::new(&store, config, 0.0, &mut rng)?;
    /// let x = Tensor::randn([1, 2, 5, 5], DType::F32, Device::Cpu, &mut rng)?;
    /// let mut y = x.mul_scalar(1.0)?;
    /// pact::no_grad(|| conv.add_forward_in_place(&mut y, &x, None))?;
    /// let expected = pact::no_grad(|| x.add(&conv.forward(&x)?))?;
    /// assert_eq!(y.to_f64_vec(), expected.to_f64_vec());
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn add_forward_in_place(
        &self,
        y: &mut Tensor,
        x: &Tensor,
        map: Option<ScaleShiftLeaky<'_>>,
    ) -> Result<()> {
        let w = self.weight.tensor();
        y.add_conv2d_in_place(x, map, &w, self.stride, self.padding)?;
        *y = self.add_bias(y.clone())?;
        Ok(())
    }

    /// Training-mode batch norm of `x` (batch statistics `γ`, `β`, `eps`) with leaky ReLU
    /// (`slope`), then this convolution, as the single op
    /// [`Tensor::batch_norm_train_leaky_relu_conv2d`]: `(output, mean, var)`.
    pub(super) fn forward_after_batch_norm_train(
        &self,
        x: &Tensor,
        (gamma, beta, eps): (&Tensor, &Tensor, f64),
        slope: f64,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let w = self.weight.tensor();
        let (y, mean, var) = x.batch_norm_train_leaky_relu_conv2d(
            gamma,
            beta,
            eps,
            slope,
            &w,
            self.stride,
            self.padding,
        )?;
        Ok((self.add_bias(y)?, mean, var))
    }

    /// `y` plus the bias per output channel, if there is one.
    fn add_bias(&self, y: Tensor) -> Result<Tensor> {
        match &self.bias {
            Some(b) => y.add(&b.tensor().reshape([1, y.dims()[1], 1, 1])?),
            None => Ok(y),
        }
    }

    /// The convolution of `leaky_relu(x · scale[c] + shift[c])`: evaluation-mode batch norm
    /// and its activation before it, applied as the convolution copies its input where it can
    /// be ([`Tensor::scale_shift_leaky_relu_conv2d`]); bit for bit
    /// `self.forward(&x.clone().scale_shift_leaky_relu(scale, shift, slope)?)`.
    ///
    /// ```
    /// use pact::nn::{Conv2d, Conv2dConfig, ParamStore};
    /// use pact::{DType, Device, Rng, Tensor};
    /// let store = ParamStore::new(DType::F32, Device::Cpu);
    /// let (c_in, c_out, kernel, stride, padding) = (2, 3, 3, 1, 1);
    /// let config = Conv2dConfig { c_in, c_out, kernel, stride, padding, bias: true };
    /// let mut rng = Rng::seed(0);
    /// let conv = Conv2d::new(&store, config, 0.1, &mut rng)?;
    /// let x = Tensor::randn([1, 2, 5, 5], DType::F32, Device::Cpu, &mut rng)?;
    /// let scale = Tensor::from_f64_slice(&[0.5, 2.0], [2], DType::F32, Device::Cpu)?;
    /// let shift = Tensor::from_f64_slice(&[0.1, -0.2], [2], DType::F32, Device::Cpu)?;
    /// let (fused, composed) = pact::no_grad(|| -> pact::Result<_> {
    ///     let normed = x.clone().scale_shift_leaky_relu(&scale, &shift, 0.1)?;
    ///     Ok((conv.forward_scale_shift_leaky(&x, &scale, &shift, 0.1)?, conv.forward(&normed)?))
    /// })?;
    /// assert_eq!(fused.to_f64_vec(), composed.to_f64_vec());
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn forward_scale_shift_leaky(
        &self,
        x: &Tensor,
        scale: &Tensor,
        shift: &Tensor,
        slope: f64,
    ) -> Result<Tensor> {
        let w = self.weight.tensor();
        let y =
            x.scale_shift_leaky_relu_conv2d(scale, shift, slope, &w, self.stride, self.padding)?;
        self.add_bias(y)
    }
}
