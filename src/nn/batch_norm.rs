//! Batch normalisation with running statistics; synchronised over the replicas of a
//! data-parallel run ([`crate::collective`]).

use super::batch_norm_sync::SyncBatchNorm;
use super::{Conv2d, Param, ParamStore};
use crate::collective::{replicas, Collective};
use crate::{Result, Tensor};
use std::sync::Arc;

/// Batch normalisation over every axis but 1 (`[N, C]` or `[N, C, H, W]`), with learned
/// `weight` (γ) and `bias` (β) and running averages `running_mean`, `running_var` (PyTorch
/// names and semantics: the running variance uses the unbiased batch variance).
#[derive(Clone)]
pub struct BatchNorm {
    weight: Param,
    bias: Param,
    running_mean: Param,
    running_var: Param,
    eps: f64,
    momentum: f64,
}

impl BatchNorm {
    /// A batch norm over `channels` channels, with γ = 1, β = 0, running mean 0, running
    /// variance 1.
    pub fn new(store: &ParamStore, channels: usize, eps: f64, momentum: f64) -> Result<Self> {
        let (dt, dev) = (store.dtype(), store.device());
        Ok(BatchNorm {
            weight: store.create("weight", Tensor::ones([channels], dt, dev))?,
            bias: store.create("bias", Tensor::zeros([channels], dt, dev))?,
            running_mean: store
                .create_buffer("running_mean", Tensor::zeros([channels], dt, dev))?,
            running_var: store.create_buffer("running_var", Tensor::ones([channels], dt, dev))?,
            eps,
            momentum,
        })
    }

    /// Normalises with batch statistics (and updates the running averages) when `training`,
    /// else with the running averages.
    ///
    /// Inside [`with_replicas`](crate::collective::with_replicas) with a group of more than
    /// one replica, the batch statistics are those of the whole global batch (every
    /// replica's `x` together), as one process holding the whole batch computes them, and
    /// gradients flow through them to every replica's examples.
    pub fn forward(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        if training {
            if let Some(group) = replicas() {
                return self.forward_synced(x, &group, None);
            }
            let (y, mean, var) =
                x.batch_norm_train(&self.weight.tensor(), &self.bias.tensor(), self.eps)?;
            self.update_running(x, &mean, &var)?;
            Ok(y)
        } else {
            self.forward_eval(x)
        }
    }

    /// `forward(x, training)` followed by a leaky ReLU with `slope`; in training, as the
    /// single fused op [`Tensor::batch_norm_train_leaky_relu`] (the same values, computed
    /// with one pass and one tensor less each way).
    pub fn forward_leaky_relu(&self, x: &Tensor, training: bool, slope: f64) -> Result<Tensor> {
        if training {
            if let Some(group) = replicas() {
                return self.forward_synced(x, &group, Some(slope));
            }
            let (y, mean, var) = x.batch_norm_train_leaky_relu(
                &self.weight.tensor(),
                &self.bias.tensor(),
                self.eps,
                slope,
            )?;
            self.update_running(x, &mean, &var)?;
            Ok(y)
        } else {
            self.forward_eval(x)?.leaky_relu(slope)
        }
    }

    /// `conv.forward(&self.forward_leaky_relu(x, training, slope)?)`: the same values and
    /// gradients, and the same running averages. In training (outside a group of replicas)
    /// it is the single op [`Tensor::batch_norm_train_leaky_relu_conv2d`], which on the CPU
    /// never stores the normalised activations.
    ///
    /// ```
    /// use pact::nn::{BatchNorm, Conv2d, Conv2dConfig, ParamStore};
    /// use pact::{DType, Device, Rng, Tensor};
    /// let store = ParamStore::new(DType::F32, Device::Cpu);
    /// let mut rng = Rng::seed(0);
    /// let bn = BatchNorm::new(&store.pp("bn"), 3, 1e-3, 0.1)?;
    /// let config = Conv2dConfig { c_in: 3, c_out: 4, kernel: 3, stride: 1, padding: 1, bias: false };
    /// let conv = Conv2d::new(&store.pp("conv"), config, 0.1, &mut rng)?;
    /// let x = Tensor::randn([2, 3, 8, 8], DType::F32, Device::Cpu, &mut rng)?;
    /// let y = bn.forward_leaky_relu_conv2d(&x, true, 0.1, &conv)?;
    /// assert_eq!(y.dims(), [2, 4, 8, 8]);
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn forward_leaky_relu_conv2d(
        &self,
        x: &Tensor,
        training: bool,
        slope: f64,
        conv: &Conv2d,
    ) -> Result<Tensor> {
        if !training || replicas().is_some() {
            return conv.forward(&self.forward_leaky_relu(x, training, slope)?);
        }
        let (gamma, beta) = (self.weight.tensor(), self.bias.tensor());
        let (y, mean, var) =
            conv.forward_after_batch_norm_train(x, (&gamma, &beta, self.eps), slope)?;
        self.update_running(x, &mean, &var)?;
        Ok(y)
    }

    /// Training-mode normalisation with the statistics of the global batch of `group` (see
    /// [`SyncBatchNorm`]), and the running averages moved towards them.
    fn forward_synced(
        &self,
        x: &Tensor,
        group: &Arc<dyn Collective>,
        slope: Option<f64>,
    ) -> Result<Tensor> {
        let (y, stats) = SyncBatchNorm::apply(
            group,
            x,
            &self.weight.tensor(),
            &self.bias.tensor(),
            self.eps,
            slope,
        )?;
        // The variance as the fused path derives it from `invstd`.
        let var = stats.invstd.square()?.recip()?.add_scalar(-self.eps)?;
        self.update_running_with_count(stats.count, &stats.mean, &var)?;
        Ok(y)
    }

    /// Moves the running averages towards the batch statistics of `x`.
    fn update_running(&self, x: &Tensor, mean: &Tensor, var: &Tensor) -> Result<()> {
        self.update_running_with_count((x.elem_count() / x.dim(1)?) as f64, mean, var)
    }

    /// Moves the running averages towards batch statistics computed over `count` values
    /// per channel.
    fn update_running_with_count(&self, count: f64, mean: &Tensor, var: &Tensor) -> Result<()> {
        let unbiased = var.mul_scalar(count / (count - 1.0).max(1.0))?;
        let m = self.momentum;
        crate::no_grad(|| -> Result<()> {
            let rm = self
                .running_mean
                .tensor()
                .mul_scalar(1.0 - m)?
                .add(&mean.mul_scalar(m)?)?;
            let rv = self
                .running_var
                .tensor()
                .mul_scalar(1.0 - m)?
                .add(&unbiased.mul_scalar(m)?)?;
            self.running_mean.set(rm)?;
            self.running_var.set(rv)
        })
    }

    /// The per-channel `(scale, shift)` of evaluation mode, both `[C]`:
    /// `scale = γ / √(running_var + ε)`, `shift = β − running_mean · scale`, so that
    /// [`BatchNorm::forward_eval`] is `x · scale + shift`.
    pub fn eval_scale_shift(&self) -> Result<(Tensor, Tensor)> {
        let scale = self
            .running_var
            .tensor()
            .add_scalar(self.eps)?
            .sqrt()?
            .recip()?
            .mul(&self.weight.tensor())?;
        let shift = self
            .bias
            .tensor()
            .sub(&self.running_mean.tensor().mul(&scale)?)?;
        Ok((scale, shift))
    }

    /// Normalises with the running averages: one fused scale and shift per channel.
    pub fn forward_eval(&self, x: &Tensor) -> Result<Tensor> {
        let channels = x.dim(1)?;
        let (scale, shift) = self.eval_scale_shift()?;
        let mut shape = vec![1; x.rank()];
        shape[1] = channels;
        x.mul(&scale.reshape(shape.clone())?)?
            .add(&shift.reshape(shape)?)
    }
}
