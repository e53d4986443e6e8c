//! Seeded random tensors. Every draw goes through an explicit [`Rng`], so a seed fixes a run.
//! On a generator with a [`Shard`](crate::Shard), a draw is the whole batch's draw restricted
//! to the shard's rows (the first axis runs over the shard's examples).

use crate::{DType, Device, Error, Result, Rng, Shape, Tensor};
use ndarray::{Array, IxDyn};
use ndarray_rand::rand_distr::{Distribution, Normal, StandardNormal, Uniform};
use ndarray_rand::RandomExt;

/// Smallest distance from 0 and 1 kept by [`Tensor::rand_open01`], so `log u` and
/// `log(1 − u)` stay finite in `f32`.
pub const UNIFORM_CLAMP: f64 = 1e-6;

impl Tensor {
    fn from_array(
        a: Array<f64, IxDyn>,
        shape: Shape,
        dtype: DType,
        device: Device,
    ) -> Result<Tensor> {
        let data = a.into_raw_vec_and_offset().0;
        Tensor::from_f64_slice(&data, shape, dtype, device)
    }

    /// Draws of `dist`, one per element in row-major order; on a shard, the shard's rows of
    /// the whole batch's draw.
    fn draw(
        shape: Shape,
        dist: impl Distribution<f64>,
        dtype: DType,
        device: Device,
        rng: &mut Rng,
        op: &str,
    ) -> Result<Tensor> {
        match rng.shard() {
            None => {
                let a = Array::random_using(IxDyn(shape.dims()), dist, rng.inner());
                Self::from_array(a, shape, dtype, device)
            }
            Some(shard) => {
                let (whole, keep) = shard.whole_batch_draw(shape.dims(), op)?;
                let a = Array::random_using(IxDyn(&whole), dist, rng.inner());
                let data = a.into_raw_vec_and_offset().0;
                Tensor::from_f64_slice(&data[keep], shape, dtype, device)
            }
        }
    }

    /// Uniform draws on `[lo, hi)`.
    pub fn rand_uniform(
        shape: impl Into<Shape>,
        lo: f64,
        hi: f64,
        dtype: DType,
        device: Device,
        rng: &mut Rng,
    ) -> Result<Tensor> {
        let shape = shape.into();
        if lo >= hi || lo.is_nan() || hi.is_nan() || !lo.is_finite() || !hi.is_finite() {
            return Err(Error::invalid(
                "rand_uniform",
                format!("empty interval [{lo}, {hi})"),
            ));
        }
        let dist =
            Uniform::new(lo, hi).map_err(|e| Error::invalid("rand_uniform", e.to_string()))?;
        Self::draw(shape, dist, dtype, device, rng, "rand_uniform")
    }

    /// Uniform draws on `(0, 1)`, kept [`UNIFORM_CLAMP`] away from both ends.
    pub fn rand_open01(
        shape: impl Into<Shape>,
        dtype: DType,
        device: Device,
        rng: &mut Rng,
    ) -> Result<Tensor> {
        Tensor::rand_uniform(shape, 0.0, 1.0, dtype, device, rng)?
            .clamp(UNIFORM_CLAMP, 1.0 - UNIFORM_CLAMP)
    }

    /// Standard normal draws.
    pub fn randn(
        shape: impl Into<Shape>,
        dtype: DType,
        device: Device,
        rng: &mut Rng,
    ) -> Result<Tensor> {
        Self::draw(shape.into(), StandardNormal, dtype, device, rng, "randn")
    }

    /// Normal draws with mean `mean` and standard deviation `std`.
    pub fn rand_normal(
        shape: impl Into<Shape>,
        mean: f64,
        std: f64,
        dtype: DType,
        device: Device,
        rng: &mut Rng,
    ) -> Result<Tensor> {
        let shape = shape.into();
        let dist =
            Normal::new(mean, std).map_err(|e| Error::invalid("rand_normal", e.to_string()))?;
        Self::draw(shape, dist, dtype, device, rng, "rand_normal")
    }

    /// Bernoulli draws (0 or 1) with success probabilities `self` (no gradient).
    pub fn bernoulli(&self, rng: &mut Rng) -> Result<Tensor> {
        let u = Tensor::rand_uniform(
            self.shape().clone(),
            0.0,
            1.0,
            self.dtype(),
            self.device(),
            rng,
        )?;
        u.lt(&self.detach())
    }

    /// Standard Gumbel draws `−log(−log u)`.
    pub fn rand_gumbel(
        shape: impl Into<Shape>,
        dtype: DType,
        device: Device,
        rng: &mut Rng,
    ) -> Result<Tensor> {
        Tensor::rand_open01(shape, dtype, device, rng)?
            .log()?
            .neg()?
            .log()?
            .neg()
    }

    /// Standard logistic draws `log u − log(1 − u)`.
    pub fn rand_logistic(
        shape: impl Into<Shape>,
        dtype: DType,
        device: Device,
        rng: &mut Rng,
    ) -> Result<Tensor> {
        let u = Tensor::rand_open01(shape, dtype, device, rng)?;
        u.log()?.sub(&u.neg()?.log1p()?)
    }
}
