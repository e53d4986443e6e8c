//! Reductions along axes and scans.

use crate::autodiff::Op;
use crate::backend::ops::{ReduceOp, ScanOp};
use crate::backend::CmpOp;
use crate::{Error, Result, Tensor};

impl Tensor {
    fn reduce_keepdim(&self, axis: usize, op: ReduceOp, name: &'static str) -> Result<Tensor> {
        self.shape().check_axis(axis, name)?;
        let storage = self.storage().reduce(self.shape(), axis, op)?;
        Ok(Tensor::from_op(
            storage,
            self.shape().with_dim(axis, 1),
            Op::Reduce(self.clone(), axis, op),
        ))
    }

    fn drop_axis(&self, axis: usize) -> Result<Tensor> {
        let mut dims = self.dims().to_vec();
        dims.remove(axis);
        self.reshape(dims)
    }

    /// Sum along `axis`, keeping it with size 1.
    pub fn sum_keepdim(&self, axis: usize) -> Result<Tensor> {
        self.reduce_keepdim(axis, ReduceOp::Sum, "sum")
    }

    /// Sum along `axis`, removing it.
    pub fn sum(&self, axis: usize) -> Result<Tensor> {
        self.sum_keepdim(axis)?.drop_axis(axis)
    }

    /// Mean along `axis`, keeping it with size 1.
    pub fn mean_keepdim(&self, axis: usize) -> Result<Tensor> {
        let n = self.shape().dim(axis, "mean")?;
        self.sum_keepdim(axis)?.mul_scalar(1.0 / n as f64)
    }

    /// Mean along `axis`, removing it.
    pub fn mean(&self, axis: usize) -> Result<Tensor> {
        self.mean_keepdim(axis)?.drop_axis(axis)
    }

    /// Maximum along `axis`, keeping it with size 1 (gradient shared among ties).
    pub fn max_keepdim(&self, axis: usize) -> Result<Tensor> {
        self.reduce_keepdim(axis, ReduceOp::Max, "max")
    }

    /// Maximum along `axis`, removing it.
    pub fn max(&self, axis: usize) -> Result<Tensor> {
        self.max_keepdim(axis)?.drop_axis(axis)
    }

    /// Minimum along `axis`, keeping it with size 1.
    pub fn min_keepdim(&self, axis: usize) -> Result<Tensor> {
        self.reduce_keepdim(axis, ReduceOp::Min, "min")
    }

    /// Minimum along `axis`, removing it.
    pub fn min(&self, axis: usize) -> Result<Tensor> {
        self.min_keepdim(axis)?.drop_axis(axis)
    }

    /// Sum of all elements, as a rank-0 tensor.
    pub fn sum_all(&self) -> Result<Tensor> {
        self.flatten_all()?.sum(0)
    }

    /// Mean of all elements, as a rank-0 tensor.
    pub fn mean_all(&self) -> Result<Tensor> {
        let n = self.elem_count().max(1);
        self.sum_all()?.mul_scalar(1.0 / n as f64)
    }

    /// Sums over several axes, keeping them with size 1.
    pub fn sum_axes_keepdim(&self, axes: &[usize]) -> Result<Tensor> {
        let mut t = self.clone();
        for &a in axes {
            t = t.sum_keepdim(a)?;
        }
        Ok(t)
    }

    /// Sums a broadcast result back to `shape` (the adjoint of broadcasting); `shape` must
    /// broadcast to this tensor's shape.
    pub fn sum_to(&self, shape: &crate::Shape) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        if shape.rank() > self.rank() || &shape.broadcast(self.shape(), "sum_to")? != self.shape() {
            return Err(Error::Broadcast {
                op: "sum_to",
                lhs: shape.clone(),
                rhs: self.shape().clone(),
            });
        }
        let axes = shape.broadcast_axes(self.shape());
        // Merge runs of neighbouring summed axes (and runs of kept ones) into single axes, so
        // that e.g. `[N, C, H, W] → [N, 1, 1, 1]` is one reduction over `C·H·W` contiguous
        // values instead of three passes. Axes of size 1 go with either kind.
        let mut merged: Vec<(usize, bool)> = Vec::with_capacity(self.rank());
        for (i, &d) in self.dims().iter().enumerate() {
            let summed = axes.contains(&i);
            match merged.last_mut() {
                Some((m, s)) if *s == summed || d == 1 => *m *= d,
                Some((m, s)) if *m == 1 => {
                    *m = d;
                    *s = summed;
                }
                _ => merged.push((d, summed)),
            }
        }
        let dims: Vec<usize> = merged.iter().map(|&(d, _)| d).collect();
        let summed: Vec<usize> = (0..merged.len()).filter(|&i| merged[i].1).collect();
        self.reshape(dims)?
            .sum_axes_keepdim(&summed)?
            .reshape(shape.clone())
    }

    /// `log Σ exp(x)` along `axis`, keeping it with size 1, computed stably as `m + log1p(r)`
    /// (see [`Tensor::logsumexp_parts`]).
    pub fn logsumexp_keepdim(&self, axis: usize) -> Result<Tensor> {
        let (m, log1p_r) = self.logsumexp_parts(axis)?;
        log1p_r.add(&m)
    }

    /// `log Σ exp(x)` along `axis` in two parts, both keeping the axis with size 1: the
    /// largest element `m` (where finite, else 0; no gradient) and `log1p(r)` with
    /// `r = Σ exp(x − m) − 1`, summed from the elements below the maximum (and any repeats
    /// of it) without the leading 1. So no digits of a small `r` are lost next to 1, and
    /// `x − m − log1p(r)` gives a near-certain law's log-probability of its likely value,
    /// `−log1p(r)`, to its full relative precision ([`Tensor::log_softmax`] does this). The
    /// gradient of `log1p(r)` is that of `log Σ exp(x − m)`, the softmax.
    ///
    /// ```
    /// use pact::{DType, Device, Tensor};
    /// let x = Tensor::from_f64_slice(&[30.0, 0.0, -30.0], [3], DType::F32, Device::Cpu)?;
    /// let (m, log1p_r) = x.logsumexp_parts(0)?;
    /// assert_eq!(m.to_f64_vec(), vec![30.0]);
    /// // log1p(e^−30 + e^−60), to f32's relative precision.
    /// let exact = 9.357622968840175e-14;
    /// assert!((log1p_r.to_f64_vec()[0] - exact).abs() < 1e-6 * exact);
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn logsumexp_parts(&self, axis: usize) -> Result<(Tensor, Tensor)> {
        let m = self.max_keepdim(axis)?.detach();
        // Shift by the maximum only where it is finite: rows that are entirely −∞ keep −∞, and
        // rows holding +∞ give +∞, without producing NaN from ∞ − ∞.
        let finite_m =
            Tensor::where_cond(&m.abs()?.lt_scalar(f64::INFINITY)?, &m, &m.zeros_like())?;
        let shifted = self.sub(&finite_m)?;
        let e = shifted.exp()?;
        let at_max = shifted.cmp_scalar(CmpOp::Eq, 0.0)?;
        // r: the terms below the maximum, plus the maxima beyond the first (−1 for a row of
        // −∞, which makes log1p(r) = −∞).
        let below = Tensor::where_cond(&at_max, &e.zeros_like(), &e)?.sum_keepdim(axis)?;
        let repeats = at_max.sum_keepdim(axis)?.add_scalar(-1.0)?;
        let rest = below.add(&repeats)?.detach();
        // Zero in value, the gradient of Σ exp(x − m) in derivative: d log1p(r) = dΣ / Σ
        // (where the sum is finite: a row holding +∞ has no gradient to give, and ∞ − ∞ would
        // be NaN).
        let total = e.sum_keepdim(axis)?;
        let grad_only = Tensor::where_cond(
            &total.lt_scalar(f64::INFINITY)?,
            &total.sub(&total.detach())?,
            &total.zeros_like(),
        )?;
        Ok((finite_m, rest.add(&grad_only)?.log1p()?))
    }

    /// `log Σ exp(x)` along `axis`, removing it.
    pub fn logsumexp(&self, axis: usize) -> Result<Tensor> {
        self.logsumexp_keepdim(axis)?.drop_axis(axis)
    }

    /// Index of the largest element along `axis` (first on ties), as host indices in
    /// row-major order over the remaining axes. An empty `axis` has no largest element: an
    /// error.
    pub fn argmax(&self, axis: usize) -> Result<Vec<usize>> {
        if self.shape().dim(axis, "argmax")? == 0 {
            return Err(Error::invalid(
                "argmax",
                format!("axis {axis} of {} is empty", self.shape()),
            ));
        }
        self.storage().argmax(self.shape(), axis)
    }

    fn scan(&self, axis: usize, op: ScanOp, name: &'static str) -> Result<Tensor> {
        self.shape().check_axis(axis, name)?;
        let storage = self.storage().scan(self.shape(), axis, op)?;
        Ok(Tensor::from_op(
            storage,
            self.shape().clone(),
            Op::Scan(self.clone(), axis, op),
        ))
    }

    /// Inclusive cumulative sum along `axis`.
    pub fn cumsum(&self, axis: usize) -> Result<Tensor> {
        self.scan(axis, ScanOp::Sum, "cumsum")
    }

    /// Inclusive cumulative product along `axis` (gradient exact even with zero factors).
    pub fn cumprod(&self, axis: usize) -> Result<Tensor> {
        self.scan(axis, ScanOp::Prod, "cumprod")
    }
}
