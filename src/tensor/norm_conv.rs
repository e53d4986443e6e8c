//! Training-mode batch norm with leaky ReLU feeding a convolution, as one differentiable op:
//! the normalised activations are never stored. The convolution applies the normalisation
//! and the activation as its kernels copy each image of the input (as evaluation does with
//! the running statistics), and its weight gradient applies them again as it copies the
//! input a second time. Only the batch statistics are a pass of their own; the pass that
//! writes the activations, and the tensor itself, are gone from the step.

use super::inplace::{f32_of, records_no_graph};
use crate::autodiff::Op;
use crate::backend::cpu::conv::direct::{self, InputMap};
use crate::backend::cpu::norm;
use crate::backend::cpu::CpuStorage;
use crate::backend::ops::{Conv2dParams, NormDims};
use crate::backend::Storage;
use crate::{Error, Result, Shape, Tensor};

/// What the fused op keeps for its gradients: its inputs and the batch statistics, and the
/// per-channel map `leaky(x · scale + shift)` that both of its convolutions apply.
#[derive(Clone)]
pub(crate) struct BatchNormConv2d {
    pub(crate) x: Tensor,
    pub(crate) gamma: Tensor,
    pub(crate) beta: Tensor,
    pub(crate) weight: Tensor,
    mean: Tensor,
    invstd: Tensor,
    scale: Vec<f32>,
    shift: Vec<f32>,
    eps: f64,
    slope: f64,
    p: Conv2dParams,
}

impl Tensor {
    /// `batch_norm_train_leaky_relu(γ, β, eps, slope)` followed by
    /// `conv2d(weight, None, stride, padding)`: returns `(output, mean, var)` with the
    /// values, statistics and gradients (with respect to `self`, `γ`, `β` and `weight`) of
    /// those two ops, bit for bit. On the CPU in `f32`, for a 3×3 convolution the direct
    /// kernels cover, it is one op that never stores the normalised activations (see the
    /// module docs): one pass and one activation-sized tensor less per layer in a training
    /// step. Otherwise it is the two ops.
    ///
    /// ```
    /// use pact::{DType, Device, Rng, Tensor};
    /// let mut rng = Rng::seed(0);
    /// let x = Tensor::randn([4, 3, 8, 8], DType::F32, Device::Cpu, &mut rng)?.to_var();
    /// let w = Tensor::randn([5, 3, 3, 3], DType::F32, Device::Cpu, &mut rng)?.to_var();
    /// let gamma = Tensor::ones([3], DType::F32, Device::Cpu).to_var();
    /// let beta = Tensor::zeros([3], DType::F32, Device::Cpu).to_var();
    /// let (fused, mean, _) = x.batch_norm_train_leaky_relu_conv2d(&gamma, &beta, 1e-3, 0.1, &w, 1, 1)?;
    /// let (y, mean2, _) = x.batch_norm_train_leaky_relu(&gamma, &beta, 1e-3, 0.1)?;
    /// let composed = y.conv2d(&w, None, 1, 1)?;
    /// assert_eq!(fused.to_f64_vec(), composed.to_f64_vec());
    /// assert_eq!(mean.to_f64_vec(), mean2.to_f64_vec());
    /// let g = fused.sum_all()?.backward()?;
    /// let g2 = composed.sum_all()?.backward()?;
    /// for t in [&x, &w, &gamma, &beta] {
    ///     assert_eq!(g.get(t).unwrap().to_f64_vec(), g2.get(t).unwrap().to_f64_vec());
    /// }
    /// # Ok::<(), pact::Error>(())
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn batch_norm_train_leaky_relu_conv2d(
        &self,
        gamma: &Tensor,
        beta: &Tensor,
        eps: f64,
        slope: f64,
        weight: &Tensor,
        stride: usize,
        padding: usize,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        if let Some(fused) = self.fused_norm_conv(gamma, beta, eps, slope, weight, stride, padding)
        {
            return fused;
        }
        let (y, mean, var) = self.batch_norm_train_leaky_relu(gamma, beta, eps, slope)?;
        Ok((y.conv2d(weight, None, stride, padding)?, mean, var))
    }

    /// The fused op, or `None` where it does not apply (not CPU `f32`, shapes that the two
    /// ops would reject, a convolution that the direct kernels do not cover).
    #[allow(clippy::too_many_arguments)]
    fn fused_norm_conv(
        &self,
        gamma: &Tensor,
        beta: &Tensor,
        eps: f64,
        slope: f64,
        weight: &Tensor,
        stride: usize,
        padding: usize,
    ) -> Option<Result<(Tensor, Tensor, Tensor)>> {
        const NAME: &str = "batch_norm_train_leaky_relu_conv2d";
        let p = self.conv2d_params(weight, stride, padding, NAME).ok()?;
        let dims = norm_dims(&p);
        let fits = gamma.dims() == [p.c_in] && beta.dims() == [p.c_in];
        if !fits || dims.outer * dims.inner == 0 || p.k_h != 3 || p.k_w != 3 {
            return None;
        }
        let (x, g, b, w) = (
            f32_of(self)?,
            f32_of(gamma)?,
            f32_of(beta)?,
            f32_of(weight)?,
        );
        let (mean, invstd) = norm::batch_norm_stats(x, dims, eps);
        let (scale, shift): (Vec<f32>, Vec<f32>) =
            norm::affine_of(g, b, &mean, &invstd).into_iter().unzip();
        let map = InputMap {
            scale: &scale,
            shift: &shift,
            slope: slope as f32,
        };
        let out = direct::forward_mapped(x, w, p, Some(&map))?;
        let node = BatchNormConv2d {
            x: self.clone(),
            gamma: gamma.clone(),
            beta: beta.clone(),
            weight: weight.clone(),
            mean: cpu_tensor(mean, [p.c_in]),
            invstd: cpu_tensor(invstd, [p.c_in]),
            scale,
            shift,
            eps,
            slope,
            p,
        };
        Some(node.output(out))
    }
}

/// The batch norm's view of the convolution's input `[B, C_in, H, W]`.
fn norm_dims(p: &Conv2dParams) -> NormDims {
    NormDims {
        outer: p.batch,
        channels: p.c_in,
        inner: p.h_in * p.w_in,
    }
}

/// A CPU `f32` tensor of `values`, recording no graph.
fn cpu_tensor<const N: usize>(values: Vec<f32>, dims: [usize; N]) -> Tensor {
    Tensor::build(
        Storage::Cpu(CpuStorage::F32(values)),
        Shape::new(dims),
        None,
        false,
    )
}

impl BatchNormConv2d {
    /// `(output, mean, var)` of the op whose convolution gave `out`, the node recorded as the
    /// output's op when the two ops would record a graph.
    fn output(self, out: Vec<f32>) -> Result<(Tensor, Tensor, Tensor)> {
        let mean = self.mean.clone();
        // The variance as `batch_norm_train` derives it from `invstd`.
        let var = self.invstd.square()?.recip()?.add_scalar(-self.eps)?;
        let p = self.p;
        let shape = Shape::new([p.batch, p.c_out, p.h_out(), p.w_out()]);
        let storage = Storage::Cpu(CpuStorage::F32(out));
        let out = if records_no_graph(&[&self.x, &self.gamma, &self.beta, &self.weight]) {
            Tensor::build(storage, shape, None, false)
        } else {
            Tensor::from_op(storage, shape, Op::BatchNormConv2d(Box::new(self)))
        };
        Ok((out, mean, var))
    }

    /// The tensors the node holds, for dropping the graph without recursion.
    pub(crate) fn into_tensors(self) -> Vec<Tensor> {
        vec![
            self.x,
            self.gamma,
            self.beta,
            self.weight,
            self.mean,
            self.invstd,
        ]
    }

    /// Gradients of `x`, `γ`, `β` and the weight for the gradient `g` of the output: the
    /// convolution's input gradient (through the ordinary op), its weight gradient from the
    /// input mapped again as it is copied, and the batch norm's backward pass from that input
    /// gradient.
    pub(crate) fn gradients(&self, g: &Tensor) -> Result<Vec<(Tensor, Tensor)>> {
        let gz = g
            .storage()
            .conv2d_backward_input(self.weight.storage(), self.p)?;
        let gw = self.weight_gradient(g)?;
        let (dx, dgamma, dbeta) = self.x.storage().batch_norm_leaky_backward(
            &gz,
            (self.gamma.storage(), self.beta.storage()),
            (self.mean.storage(), self.invstd.storage()),
            norm_dims(&self.p),
            (self.eps, self.slope),
        )?;
        let build = |s, t: &Tensor| Tensor::build(s, t.shape().clone(), None, false);
        Ok(vec![
            (self.x.clone(), build(dx, &self.x)),
            (self.gamma.clone(), build(dgamma, &self.gamma)),
            (self.beta.clone(), build(dbeta, &self.beta)),
            (self.weight.clone(), build(gw, &self.weight)),
        ])
    }

    /// The weight gradient of the convolution of the mapped input, by the direct kernels
    /// mapping each image as they copy it. The node exists only where those kernels ran the
    /// forward pass on these CPU `f32` operands (`PACT_CPU` and `PACT_CONV` are read once), so
    /// they apply here too; an error says so should they not.
    fn weight_gradient(&self, g: &Tensor) -> Result<Storage> {
        let map = InputMap {
            scale: &self.scale,
            shift: &self.shift,
            slope: self.slope as f32,
        };
        let (x, dy) = (f32_of(&self.x), f32_of(g));
        let gw = x
            .zip(dy)
            .and_then(|(x, dy)| direct::backward_weight_mapped(x, dy, self.p, Some(&map)))
            .ok_or_else(|| {
                Error::Autodiff(
                    "batch_norm_train_leaky_relu_conv2d: the direct kernels that ran its forward pass do not take its weight gradient".into(),
                )
            })?;
        Ok(Storage::Cpu(CpuStorage::F32(gw)))
    }
}
