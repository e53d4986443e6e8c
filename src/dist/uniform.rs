//! Uniform: a constant density on `[low, high)`.

use super::continuous::check_finite;
use super::util::extended;
use super::{Distribution, Draw, Support};
use crate::{DType, Device, Error, Result, Rng, Shape, Tensor};
use std::sync::Arc;

/// The uniform law on `[low, high)`, reparameterised: `low + (high − low) u`, `u ~ U(0, 1)`.
///
/// ```
/// use pact::dist::{Distribution, Uniform};
/// use pact::{DType, Device, Tensor};
/// let s = |v: f64| Tensor::scalar(v, DType::F64, Device::Cpu);
/// let d = Uniform::new(s(1.0), s(5.0))?;
/// assert!((d.log_prob(&s(2.0))?.to_scalar()? + 4f64.ln()).abs() < 1e-15);
/// assert_eq!(d.log_prob(&s(7.0))?.to_scalar()?, f64::NEG_INFINITY);
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Uniform {
    low: Tensor,
    high: Tensor,
}

impl Uniform {
    /// The law on `[low, high)`; both finite, `low < high` everywhere.
    pub fn new(low: Tensor, high: Tensor) -> Result<Self> {
        check_finite(&low, "Uniform", "low")?;
        check_finite(&high, "Uniform", "high")?;
        let shape = low.shape().broadcast(high.shape(), "Uniform")?;
        let (low, high) = (low.broadcast_as(&shape)?, high.broadcast_as(&shape)?);
        let (l, h) = (low.to_f64_vec(), high.to_f64_vec());
        if let Some((a, b)) = l.iter().zip(&h).find(|(a, b)| a >= b) {
            return Err(Error::invalid(
                "Uniform",
                format!("low must be below high, found [{a}, {b})"),
            ));
        }
        Ok(Uniform { low, high })
    }

    fn width(&self) -> Result<Tensor> {
        self.high.sub(&self.low)
    }
}

impl Uniform {
    /// The lower end (at the batch shape).
    pub fn low(&self) -> &Tensor {
        &self.low
    }

    /// The upper end (at the batch shape).
    pub fn high(&self) -> &Tensor {
        &self.high
    }
}

impl Distribution for Uniform {
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
    fn name(&self) -> &'static str {
        "Uniform"
    }
    fn batch_shape(&self) -> Shape {
        self.low.shape().clone()
    }
    fn event_shape(&self) -> Shape {
        Shape::scalar()
    }
    fn support(&self) -> Support {
        Support::Interval
    }
    fn dtype(&self) -> DType {
        self.low.dtype()
    }
    fn device(&self) -> Device {
        self.low.device()
    }
    fn has_rsample(&self) -> bool {
        true
    }
    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        Ok(Arc::new(Uniform {
            low: self.low.broadcast_as(batch_shape)?,
            high: self.high.broadcast_as(batch_shape)?,
        }))
    }
    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        Ok(self.rsample(sample_shape, rng)?.detach())
    }
    fn rsample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        let shape = extended(sample_shape, self.low.shape(), &Shape::scalar());
        let u = Tensor::rand_uniform(shape, 0.0, 1.0, self.dtype(), self.device(), rng)?;
        Ok(Draw::Exact(self.low.add(&u.mul(&self.width()?)?)?))
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        let lp = self.width()?.log()?.neg()?.broadcast_as(value.shape())?;
        let inside = value.ge(&self.low)?.mul(&value.lt(&self.high)?)?;
        Tensor::where_cond(&inside, &lp, &lp.scalar_like(f64::NEG_INFINITY))
    }
    fn mean(&self) -> Result<Tensor> {
        self.low.add(&self.high)?.mul_scalar(0.5)
    }
    fn variance(&self) -> Result<Tensor> {
        self.width()?.square()?.mul_scalar(1.0 / 12.0)
    }
    fn entropy(&self) -> Result<Tensor> {
        self.width()?.log()
    }
}
