//! Neural-network ops: convolution, pooling, batch normalisation, softmax, cross-entropy.

use crate::autodiff::Op;
use crate::backend::ops::{Conv2dParams, NormDims, Pool2dParams};
use crate::{Error, Result, Shape, Tensor};

impl Tensor {
    /// 2-D convolution of an NCHW input with an OIHW weight (PyTorch layout), optional bias
    /// of shape `[C_out]`, equal stride and zero padding in both directions.
    pub fn conv2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: usize,
        padding: usize,
    ) -> Result<Tensor> {
        const NAME: &str = "conv2d";
        let p = self.conv2d_params(weight, stride, padding, NAME)?;
        let out = Tensor::from_op(
            self.storage().conv2d(weight.storage(), p)?,
            Shape::new([p.batch, p.c_out, p.h_out(), p.w_out()]),
            Op::Conv2d(self.clone(), weight.clone(), p),
        );
        match bias {
            Some(b) => {
                b.expect_shape(&[p.c_out], NAME)?;
                out.add(&b.reshape([1, p.c_out, 1, 1])?)
            }
            None => Ok(out),
        }
    }

    /// The convolution of `self` (`[B, C_in, H, W]`) by `weight` (`[C_out, C_in, K_h, K_w]`)
    /// with `stride` and `padding`, or the error of `op` when they do not fit.
    pub(crate) fn conv2d_params(
        &self,
        weight: &Tensor,
        stride: usize,
        padding: usize,
        op: &'static str,
    ) -> Result<Conv2dParams> {
        self.check_compatible(weight, op)?;
        let (x, w) = (self.dims(), weight.dims());
        if x.len() != 4 || w.len() != 4 || x[1] != w[1] {
            return Err(Error::ShapeMismatch {
                op,
                lhs: self.shape().clone(),
                rhs: weight.shape().clone(),
            });
        }
        if stride == 0 || x[2] + 2 * padding < w[2] || x[3] + 2 * padding < w[3] {
            return Err(Error::invalid(
                op,
                format!(
                    "kernel {}x{} with stride {stride} and padding {padding} does not fit input {}",
                    w[2],
                    w[3],
                    self.shape()
                ),
            ));
        }
        Ok(Conv2dParams {
            batch: x[0],
            c_in: x[1],
            h_in: x[2],
            w_in: x[3],
            c_out: w[0],
            k_h: w[2],
            k_w: w[3],
            stride,
            padding,
        })
    }

    fn pool_params(
        &self,
        kernel: usize,
        stride: usize,
        name: &'static str,
    ) -> Result<Pool2dParams> {
        let x = self.dims();
        if x.len() != 4 || kernel == 0 || stride == 0 || x[2] < kernel || x[3] < kernel {
            return Err(Error::invalid(
                name,
                format!("window {kernel} stride {stride} on input {}", self.shape()),
            ));
        }
        Ok(Pool2dParams {
            planes: x[0] * x[1],
            h_in: x[2],
            w_in: x[3],
            kernel,
            stride,
        })
    }

    /// Average pooling over `kernel × kernel` windows of an NCHW input (no padding).
    pub fn avg_pool2d(&self, kernel: usize, stride: usize) -> Result<Tensor> {
        let p = self.pool_params(kernel, stride, "avg_pool2d")?;
        let d = self.dims();
        Ok(Tensor::from_op(
            self.storage().avg_pool2d(p)?,
            Shape::new([d[0], d[1], p.h_out(), p.w_out()]),
            Op::AvgPool2d(self.clone(), p),
        ))
    }

    /// Max pooling over `kernel × kernel` windows of an NCHW input (no padding).
    pub fn max_pool2d(&self, kernel: usize, stride: usize) -> Result<Tensor> {
        let p = self.pool_params(kernel, stride, "max_pool2d")?;
        let d = self.dims();
        Ok(Tensor::from_op(
            self.storage().max_pool2d(p)?,
            Shape::new([d[0], d[1], p.h_out(), p.w_out()]),
            Op::MaxPool2d(self.clone(), p),
        ))
    }

    /// Mean over the spatial axes of an NCHW input: `[N, C, H, W] → [N, C]`.
    pub fn global_avg_pool2d(&self) -> Result<Tensor> {
        if self.rank() != 4 {
            return Err(Error::invalid(
                "global_avg_pool2d",
                format!("input {} is not NCHW", self.shape()),
            ));
        }
        let d = self.dims();
        self.reshape([d[0], d[1], d[2] * d[3]])?.mean(2)
    }

    /// Batch normalisation with batch statistics over every axis but 1 (`[N, C]` or
    /// `[N, C, H, W]`), scaled by `gamma` and shifted by `beta` (both `[C]`).
    ///
    /// Returns the output, the batch mean and the biased batch variance (for running
    /// averages); the statistics carry no gradient.
    pub fn batch_norm_train(
        &self,
        gamma: &Tensor,
        beta: &Tensor,
        eps: f64,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        self.batch_norm_train_with(gamma, beta, eps, None)
    }

    /// [`Tensor::batch_norm_train`] followed by a leaky ReLU with `slope`, as one op: the
    /// normalised values are never stored, and the backward pass applies the activation's
    /// gradient on the fly (one pass over the tensor less each way, and one tensor less
    /// allocated each way). Equals `batch_norm_train(..).0.leaky_relu(slope)` exactly.
    pub fn batch_norm_train_leaky_relu(
        &self,
        gamma: &Tensor,
        beta: &Tensor,
        eps: f64,
        slope: f64,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        self.batch_norm_train_with(gamma, beta, eps, Some(slope))
    }

    fn batch_norm_train_with(
        &self,
        gamma: &Tensor,
        beta: &Tensor,
        eps: f64,
        slope: Option<f64>,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        const NAME: &str = "batch_norm";
        self.check_compatible(gamma, NAME)?;
        self.check_compatible(beta, NAME)?;
        if self.rank() < 2 {
            return Err(Error::invalid(
                NAME,
                format!("input {} has no channel axis", self.shape()),
            ));
        }
        let d = self.dims();
        let dims = NormDims {
            outer: d[0],
            channels: d[1],
            inner: d[2..].iter().product(),
        };
        gamma.expect_shape(&[dims.channels], NAME)?;
        beta.expect_shape(&[dims.channels], NAME)?;
        if dims.outer * dims.inner == 0 {
            return Err(Error::invalid(NAME, "empty batch"));
        }
        let (y, mean, invstd) = match slope {
            None => self
                .storage()
                .batch_norm(gamma.storage(), beta.storage(), dims, eps)?,
            Some(a) => {
                self.storage()
                    .batch_norm_leaky(gamma.storage(), beta.storage(), dims, eps, a)?
            }
        };
        let c = Shape::new([dims.channels]);
        let mean = Tensor::build(mean, c.clone(), None, false);
        let invstd = Tensor::build(invstd, c, None, false);
        let var = invstd.square()?.recip()?.add_scalar(-eps)?;
        let out = Tensor::from_op(
            y,
            self.shape().clone(),
            Op::BatchNorm {
                x: self.clone(),
                gamma: gamma.clone(),
                beta: beta.clone(),
                mean: mean.clone(),
                invstd,
                dims,
                leaky: slope.map(|a| (eps, a)),
            },
        );
        Ok((out, mean, var))
    }

    /// Softmax along `axis`.
    pub fn softmax(&self, axis: usize) -> Result<Tensor> {
        self.log_softmax(axis)?.exp()
    }

    /// Log-softmax along `axis`, computed stably.
    pub fn log_softmax(&self, axis: usize) -> Result<Tensor> {
        // (x − m) − log1p(r): the log-probability of a near-certain class keeps its digits.
        let (m, log1p_r) = self.logsumexp_parts(axis)?;
        self.sub(&m)?.sub(&log1p_r)
    }

    /// Mean cross-entropy of `[N, K]` logits against class labels `0..K`.
    pub fn cross_entropy(&self, labels: &[usize]) -> Result<Tensor> {
        self.nll_per_example(labels)?.mean_all()
    }

    /// Per-example negative log-likelihood `−log softmax(logits)[label]`, shape `[N]`.
    pub fn nll_per_example(&self, labels: &[usize]) -> Result<Tensor> {
        const NAME: &str = "cross_entropy";
        if self.rank() != 2 || self.dims()[0] != labels.len() {
            return Err(Error::invalid(
                NAME,
                format!(
                    "logits {} for {} labels (expected [N, K])",
                    self.shape(),
                    labels.len()
                ),
            ));
        }
        let picked = self
            .log_softmax(1)?
            .gather(1, labels, &Shape::new([labels.len(), 1]))?;
        picked.reshape([labels.len()])?.neg()
    }
}
