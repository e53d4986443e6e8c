//! Training-mode batch normalisation over the global batch of a data-parallel run: the
//! statistics of every replica's examples together, and gradients that flow to all of them.
//!
//! The op follows the fused kernel of one process step by step, so that the replicas compute
//! what one process computes up to the order of sums: per-channel sums in `f64`, summed over
//! the replicas; the mean and `1/√(var + ε)` rounded to the tensor's type; the output
//! `x·s + b` (and the leaky ReLU) in the tensor's type with `s = invstd·γ`,
//! `b = β − mean·s`; the backward pass's two per-channel sums `Σ dz` and `Σ dz·(x − mean)` in
//! `f64`, summed over the replicas, and `dx = p·dz + q·(x − mean) + k` with the kernel's
//! coefficients. Everything is tensor ops, so it runs on every backend.

use crate::autodiff::CustomOp;
use crate::collective::Collective;
use crate::{DType, Error, Result, Tensor};
use std::sync::{Arc, Mutex};

/// The op; `stats` keeps the mean and `invstd` of the forward pass for the backward pass.
pub(super) struct SyncBatchNorm {
    group: Arc<dyn Collective>,
    eps: f64,
    slope: Option<f64>,
    stats: Mutex<Option<Stats>>,
}

/// What the forward pass found.
#[derive(Clone)]
pub(super) struct Stats {
    /// Per-channel mean, `[C]`, in the input's type.
    pub(super) mean: Tensor,
    /// Per-channel `1/√(var + ε)`, `[C]`, in the input's type.
    pub(super) invstd: Tensor,
    /// Values per channel over the global batch.
    pub(super) count: f64,
}

/// The shape `[1, C, 1, …]` that broadcasts a per-channel vector over `x`.
fn channel_shape(x: &Tensor) -> Vec<usize> {
    let mut shape = vec![1; x.rank()];
    shape[1] = x.dims()[1];
    shape
}

/// Per-channel sum of `t` (`[N, C, …]`) as the fused kernel forms it: each example's row of
/// a channel summed in the tensor's type, the rows in `f64`. `[C]`, `f64`.
fn channel_sum(t: &Tensor) -> Result<Tensor> {
    let (n, c) = (t.dims()[0], t.dims()[1]);
    let inner: Vec<usize> = (2..t.rank()).collect();
    t.sum_axes_keepdim(&inner)?
        .reshape([n, c])?
        .to_dtype(DType::F64)
        .sum(0)
}

impl SyncBatchNorm {
    /// Normalises `x` (at least `[N, C]`) over the global batch of `group`; returns the
    /// output and the statistics (for the running averages).
    pub(super) fn apply(
        group: &Arc<dyn Collective>,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        eps: f64,
        slope: Option<f64>,
    ) -> Result<(Tensor, Stats)> {
        if x.rank() < 2 {
            return Err(Error::invalid(
                "batch_norm",
                format!("input {} has no channel axis", x.shape()),
            ));
        }
        let op = Arc::new(SyncBatchNorm {
            group: group.clone(),
            eps,
            slope,
            stats: Mutex::new(None),
        });
        let y = Tensor::apply_custom(op.clone(), &[x.clone(), gamma.clone(), beta.clone()])?;
        let stats = op.stats()?;
        Ok((y, stats))
    }

    fn stats(&self) -> Result<Stats> {
        self.stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| Error::Autodiff("synchronised batch norm without statistics".into()))
    }

    /// Sums `values` over the replicas.
    fn sum(&self, values: &Tensor) -> Result<Vec<f64>> {
        let mut v = values.to_f64_vec();
        self.group.allreduce_sum_f64(&mut v)?;
        Ok(v)
    }

    /// `s = invstd·γ` and `b = β − mean·s`, broadcastable over `x`, as the kernel forms them.
    fn affine(x: &Tensor, gamma: &Tensor, beta: &Tensor, st: &Stats) -> Result<(Tensor, Tensor)> {
        let scale = st.invstd.mul(gamma)?;
        let offset = beta.sub(&st.mean.mul(&scale)?)?;
        let shape = channel_shape(x);
        Ok((scale.reshape(shape.clone())?, offset.reshape(shape)?))
    }
}

impl CustomOp for SyncBatchNorm {
    fn name(&self) -> &'static str {
        "sync_batch_norm"
    }

    fn forward(&self, inputs: &[Tensor]) -> Result<Tensor> {
        let (x, gamma, beta) = (&inputs[0], &inputs[1], &inputs[2]);
        let (dt, dev) = (x.dtype(), x.device());
        let c = x.dims()[1];
        let local = (x.elem_count() / c.max(1)) as f64;
        // The sums and the count of the global batch, then the sum of squared deviations.
        let mut first = channel_sum(x)?.to_f64_vec();
        first.push(local);
        self.group.allreduce_sum_f64(&mut first)?;
        let count = first[c];
        if count == 0.0 {
            return Err(Error::invalid("batch_norm", "empty batch"));
        }
        let mean64: Vec<f64> = first[..c].iter().map(|s| s / count).collect();
        let mean = Tensor::from_f64_slice(&mean64, [c], dt, dev)?;
        // Sums of the deviations from the rounded mean and of their squares (the kernel's
        // shifted sums, with the mean as the shift): var = E[d²] − E[d]².
        let d = x.sub(&mean.reshape(channel_shape(x))?)?;
        let both = Tensor::concat(&[channel_sum(&d)?, channel_sum(&d.square()?)?], 0)?;
        let second = self.sum(&both)?;
        let invstd: Vec<f64> = (0..c)
            .map(|ch| {
                let m = second[ch] / count;
                let var = (second[c + ch] / count - m * m).max(0.0);
                1.0 / (var + self.eps).sqrt()
            })
            .collect();
        let st = Stats {
            mean,
            invstd: Tensor::from_f64_slice(&invstd, [c], dt, dev)?,
            count,
        };
        let (s, b) = Self::affine(x, gamma, beta, &st)?;
        let z = x.mul(&s)?.add(&b)?;
        *self.stats.lock().unwrap_or_else(|p| p.into_inner()) = Some(st);
        match self.slope {
            Some(a) => z.leaky_relu(a),
            None => Ok(z),
        }
    }

    fn backward(
        &self,
        inputs: &[Tensor],
        output: &Tensor,
        grad: &Tensor,
    ) -> Result<Vec<Option<Tensor>>> {
        let (x, gamma, beta) = (&inputs[0], &inputs[1], &inputs[2]);
        let (dt, dev) = (x.dtype(), x.device());
        let c = x.dims()[1];
        let st = self.stats()?;
        let shape = channel_shape(x);
        // The gradient reaching the normalisation's output (through the activation; with a
        // positive slope its output has the sign of its input).
        let dz = match self.slope {
            None => grad.clone(),
            Some(a) => {
                let positive = if a > 0.0 {
                    output.gt_scalar(0.0)?
                } else {
                    let (s, b) = Self::affine(x, gamma, beta, &st)?;
                    x.mul(&s)?.add(&b)?.gt_scalar(0.0)?
                };
                let one = Tensor::full(1.0, [1], dt, dev);
                let slope = Tensor::full(a, [1], dt, dev);
                grad.mul(&Tensor::where_cond(&positive, &one, &slope)?)?
            }
        };
        let centred = x.sub(&st.mean.reshape(shape.clone())?)?;
        // This replica's Σ dz and Σ dz·(x − mean), then the global batch's.
        let local_dz = channel_sum(&dz)?;
        let local_dzc = channel_sum(&dz.mul(&centred)?)?;
        let both = Tensor::concat(&[local_dz.clone(), local_dzc.clone()], 0)?;
        let sums = self.sum(&both)?;
        let (gammas, invstds) = (gamma.to_f64_vec(), st.invstd.to_f64_vec());
        let (mut p, mut q, mut k) = (vec![0.0; c], vec![0.0; c], vec![0.0; c]);
        for ch in 0..c {
            let (g, s) = (gammas[ch], invstds[ch]);
            let kk = g * s / st.count;
            p[ch] = g * s;
            q[ch] = -kk * sums[c + ch] * s * s;
            k[ch] = -kk * sums[ch];
        }
        let per_channel = |v: &[f64]| Tensor::from_f64_slice(v, shape.clone(), dt, dev);
        let dx = per_channel(&p)?
            .mul(&dz)?
            .add(&per_channel(&q)?.mul(&centred)?)?
            .add(&per_channel(&k)?)?;
        // This replica's share of the parameters' gradients (the trainer sums them).
        let dbeta = local_dz.to_dtype(dt);
        let dgamma: Vec<f64> = local_dzc
            .to_f64_vec()
            .iter()
            .zip(&invstds)
            .map(|(s, i)| s * i)
            .collect();
        let dgamma = Tensor::from_f64_slice(&dgamma, [c], dt, dev)?;
        Ok(vec![Some(dx), Some(dgamma), Some(dbeta)])
    }
}
