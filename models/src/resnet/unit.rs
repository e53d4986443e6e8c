//! The pre-activation residual unit of the SACT reference CIFAR model.

use pact::nn::{BatchNorm, Conv2d, Conv2dConfig, ParamStore};
use pact::tensor::ScaleShiftLeaky;
use pact::{Result, Rng, Tensor};

/// Slope of the leaky ReLUs throughout the ResNets (as in the SACT reference code).
pub const LEAKY_SLOPE: f64 = 0.1;
/// Batch-norm epsilon of the reference code.
pub const BN_EPS: f64 = 1e-3;
/// Batch-norm momentum (PyTorch convention: weight of the new batch statistic).
pub const BN_MOMENTUM: f64 = 0.1;

/// The eval-mode batch norms of a [`ResidualUnit`] as per-channel `(scale, shift)` pairs
/// ([`BatchNorm::eval_scale_shift`]), computed once for a whole evaluation pass.
#[derive(Clone, Debug)]
pub struct UnitNorms {
    bn1: (Tensor, Tensor),
    bn2: (Tensor, Tensor),
}

/// BN + leaky ReLU → 3×3 conv (stride) → BN + leaky ReLU → 3×3 conv, plus a shortcut that is
/// the identity, or average pooling and zero channel padding where stride or width changes.
#[derive(Clone)]
pub struct ResidualUnit {
    bn1: BatchNorm,
    conv1: Conv2d,
    bn2: BatchNorm,
    conv2: Conv2d,
    stride: usize,
    c_in: usize,
    c_out: usize,
}

impl ResidualUnit {
    /// A unit from `c_in` to `c_out` channels; `stride` 2 halves the resolution.
    pub fn new(
        store: &ParamStore,
        c_in: usize,
        c_out: usize,
        stride: usize,
        rng: &mut Rng,
    ) -> Result<Self> {
        let conv = |c_in, stride| Conv2dConfig {
            c_in,
            c_out,
            kernel: 3,
            stride,
            padding: 1,
            bias: false,
        };
        Ok(ResidualUnit {
            bn1: BatchNorm::new(&store.pp("b1"), c_in, BN_EPS, BN_MOMENTUM)?,
            conv1: Conv2d::new(&store.pp("c1"), conv(c_in, stride), LEAKY_SLOPE, rng)?,
            bn2: BatchNorm::new(&store.pp("b2"), c_out, BN_EPS, BN_MOMENTUM)?,
            conv2: Conv2d::new(&store.pp("c2"), conv(c_out, 1), LEAKY_SLOPE, rng)?,
            stride,
            c_in,
            c_out,
        })
    }

    /// Output channels.
    pub fn channels_out(&self) -> usize {
        self.c_out
    }

    /// Stride of the first convolution.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Floating-point operations per example for an input of `h × w` (math §9: the two
    /// convolutions; the shortcut and normalisations are not counted).
    pub fn flops(&self, h: usize, w: usize) -> u64 {
        let (ho, wo) = (h.div_ceil(self.stride), w.div_ceil(self.stride));
        let conv = |c_in: usize| 2 * 9 * (c_in * self.c_out * ho * wo) as u64;
        conv(self.c_in) + conv(self.c_out)
    }

    /// FLOPs per example when the first convolution is computed at `dilated` output positions
    /// and the second at `active` ones (the spatial variant, math §9).
    pub fn flops_masked(&self, dilated: usize, active: usize) -> u64 {
        let per_position = |c_in: usize| 2 * 9 * (c_in * self.c_out) as u64;
        per_position(self.c_in) * dilated as u64 + per_position(self.c_out) * active as u64
    }

    /// The shortcut branch.
    pub fn shortcut(&self, x: &Tensor) -> Result<Tensor> {
        let mut s = x.clone();
        if self.stride != 1 {
            s = s.avg_pool2d(self.stride, self.stride)?;
        }
        let pad = self.c_out - self.c_in;
        if pad > 0 {
            s = s.pad_zeros(1, pad / 2, pad - pad / 2)?;
        }
        Ok(s)
    }

    /// Applies the unit; `training` selects batch statistics in the batch norms.
    pub fn forward(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        self.forward_masked(x, None, training)
    }

    /// Applies the unit with its residual branch multiplied by `mask` (`[B, 1, H, W]` of 0/1,
    /// broadcast over channels): `shortcut(x) + mask ⊙ branch(x)`. With an identity shortcut a
    /// position where the mask is 0 keeps its value exactly (a frozen position of a spatial
    /// block). The branch is still computed densely; batch norm in training mode takes its
    /// statistics over every position.
    pub fn forward_masked(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        training: bool,
    ) -> Result<Tensor> {
        // Each batch norm and its activation go into the convolution after them as one op
        // (in training on the CPU, the normalised activations are never stored).
        let y = self
            .bn1
            .forward_leaky_relu_conv2d(x, training, LEAKY_SLOPE, &self.conv1)?;
        let mut y = self
            .bn2
            .forward_leaky_relu_conv2d(&y, training, LEAKY_SLOPE, &self.conv2)?;
        if let Some(m) = mask {
            y = y.mul(m)?;
        }
        y.add(&self.shortcut(x)?)
    }

    /// Whether the shortcut is the identity (stride 1, as many channels out as in): the unit
    /// is then `x + branch(x)` with `branch(x)` of `x`'s shape.
    pub fn has_identity_shortcut(&self) -> bool {
        self.stride == 1 && self.c_in == self.c_out
    }

    /// The eval-mode batch norms, for [`ResidualUnit::forward_eval_chunk`].
    pub fn eval_norms(&self) -> Result<UnitNorms> {
        Ok(UnitNorms {
            bn1: self.bn1.eval_scale_shift()?,
            bn2: self.bn2.eval_scale_shift()?,
        })
    }

    /// Evaluation mode without a graph, for a unit with an identity shortcut: `x ← x +
    /// branch(x)` in place, the values of [`ResidualUnit::forward_eval_chunk`]'s branch added
    /// to `x`, with each batch norm applied as the convolution after it copies its input and
    /// the last convolution's sums added to `x` as the kernels store them
    /// ([`Tensor::add_conv2d_in_place`]): one intermediate, no pass of its own.
    pub fn add_eval_branch(&self, x: &mut Tensor, norms: &UnitNorms) -> Result<()> {
        let (scale1, shift1) = &norms.bn1;
        let (scale2, shift2) = &norms.bn2;
        let z = self
            .conv1
            .forward_scale_shift_leaky(x, scale1, shift1, LEAKY_SLOPE)?;
        let map = ScaleShiftLeaky {
            scale: scale2,
            shift: shift2,
            slope: LEAKY_SLOPE,
        };
        self.conv2.add_forward_in_place(x, &z, Some(map))
    }

    /// Evaluation mode without a graph, on a chunk `x` that it consumes: with an identity
    /// shortcut the residual branch only (the caller adds it to `x`'s states), otherwise the
    /// whole unit. Each batch norm and its leaky ReLU are applied as the convolution after
    /// them copies its input ([`Conv2d::forward_scale_shift_leaky`]), and each intermediate
    /// is dropped as soon as the next one is computed, so at most two chunk-sized
    /// intermediates (a convolution's input and output) are alive at once.
    pub fn forward_eval_chunk(&self, x: Tensor, norms: &UnitNorms) -> Result<Tensor> {
        let shortcut = if self.has_identity_shortcut() {
            None
        } else {
            Some(self.shortcut(&x)?)
        };
        let (scale1, shift1) = &norms.bn1;
        let (scale2, shift2) = &norms.bn2;
        // Each batch norm and its activation are applied as the convolution after them copies
        // its input (where the CPU kernels run), so neither is stored.
        let z = self
            .conv1
            .forward_scale_shift_leaky(&x, scale1, shift1, LEAKY_SLOPE)?;
        drop(x);
        let branch = self
            .conv2
            .forward_scale_shift_leaky(&z, scale2, shift2, LEAKY_SLOPE)?;
        match shortcut {
            None => Ok(branch),
            Some(mut s) => {
                // `branch + shortcut`, written into the shortcut's fresh storage.
                let flat = branch.reshape([1, branch.elem_count()])?;
                s.add_scaled_row_in_place(&flat, 0, 1.0)?;
                Ok(s)
            }
        }
    }
}
