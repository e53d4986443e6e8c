//! Exponential: waiting times of rate λ.

use super::continuous::check_positive;
use super::util::extended;
use super::{Distribution, Draw, Support};
use crate::{DType, Device, Result, Rng, Shape, Tensor};
use std::sync::Arc;

/// The exponential law of rate `λ > 0` on `[0, ∞)`, reparameterised: `−log(1 − u)/λ`.
///
/// ```
/// use pact::dist::{Distribution, Exponential};
/// use pact::{DType, Device, Tensor};
/// let s = |v: f64| Tensor::scalar(v, DType::F64, Device::Cpu);
/// let d = Exponential::new(s(2.0))?;
/// assert!((d.log_prob(&s(1.5))?.to_scalar()? - (2f64.ln() - 3.0)).abs() < 1e-15);
/// assert_eq!(d.mean()?.to_scalar()?, 0.5);
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Exponential {
    rate: Tensor,
}

impl Exponential {
    /// The law of rate `rate` (finite, `> 0`).
    pub fn new(rate: Tensor) -> Result<Self> {
        check_positive(&rate, "Exponential", "rate")?;
        Ok(Exponential { rate })
    }
}

impl Exponential {
    /// The rate λ (at the batch shape).
    pub fn rate(&self) -> &Tensor {
        &self.rate
    }
}

impl Distribution for Exponential {
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
    fn name(&self) -> &'static str {
        "Exponential"
    }
    fn batch_shape(&self) -> Shape {
        self.rate.shape().clone()
    }
    fn event_shape(&self) -> Shape {
        Shape::scalar()
    }
    fn support(&self) -> Support {
        Support::Positive
    }
    fn dtype(&self) -> DType {
        self.rate.dtype()
    }
    fn device(&self) -> Device {
        self.rate.device()
    }
    fn has_rsample(&self) -> bool {
        true
    }
    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        Ok(Arc::new(Exponential {
            rate: self.rate.broadcast_as(batch_shape)?,
        }))
    }
    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        Ok(self.rsample(sample_shape, rng)?.detach())
    }
    fn rsample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        let shape = extended(sample_shape, self.rate.shape(), &Shape::scalar());
        let u = Tensor::rand_uniform(shape, 0.0, 1.0, self.dtype(), self.device(), rng)?;
        // −log(1 − u): u ∈ [0, 1), so the argument of the log is never 0.
        let e = u.neg()?.log1p()?.neg()?;
        Ok(Draw::Exact(e.div(&self.rate)?))
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        let lp = self.rate.log()?.sub(&self.rate.mul(value)?)?;
        Tensor::where_cond(
            &value.ge_scalar(0.0)?,
            &lp,
            &lp.scalar_like(f64::NEG_INFINITY),
        )
    }
    fn mean(&self) -> Result<Tensor> {
        self.rate.recip()
    }
    fn variance(&self) -> Result<Tensor> {
        self.rate.square()?.recip()
    }
    fn mode(&self) -> Result<Tensor> {
        Ok(self.rate.zeros_like())
    }
    fn entropy(&self) -> Result<Tensor> {
        self.rate.log()?.neg()?.add_scalar(1.0)
    }
}
