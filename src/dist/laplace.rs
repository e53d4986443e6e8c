//! Laplace: the double-exponential law.

use super::continuous::{check_finite, check_positive};
use super::util::extended;
use super::{Distribution, Draw, Support};
use crate::{DType, Device, Result, Rng, Shape, Tensor};
use std::sync::Arc;

/// The Laplace law `p(x) = exp(−|x − μ|/b) / (2b)`, reparameterised by the inverse CDF.
///
/// ```
/// use pact::dist::{Distribution, Laplace};
/// use pact::{DType, Device, Tensor};
/// let s = |v: f64| Tensor::scalar(v, DType::F64, Device::Cpu);
/// let d = Laplace::new(s(1.0), s(0.5))?;
/// assert!((d.log_prob(&s(2.0))?.to_scalar()? - (-2.0)).abs() < 1e-15);
/// assert_eq!(d.variance()?.to_scalar()?, 0.5);
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Laplace {
    loc: Tensor,
    scale: Tensor,
}

impl Laplace {
    /// The law with location `loc` (finite) and scale `scale` (finite, `> 0`).
    pub fn new(loc: Tensor, scale: Tensor) -> Result<Self> {
        check_finite(&loc, "Laplace", "loc")?;
        check_positive(&scale, "Laplace", "scale")?;
        let shape = loc.shape().broadcast(scale.shape(), "Laplace")?;
        Ok(Laplace {
            loc: loc.broadcast_as(&shape)?,
            scale: scale.broadcast_as(&shape)?,
        })
    }
}

impl Laplace {
    /// The location μ (at the batch shape).
    pub fn loc(&self) -> &Tensor {
        &self.loc
    }

    /// The scale b (at the batch shape).
    pub fn scale(&self) -> &Tensor {
        &self.scale
    }
}

impl Distribution for Laplace {
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
    fn name(&self) -> &'static str {
        "Laplace"
    }
    fn batch_shape(&self) -> Shape {
        self.loc.shape().clone()
    }
    fn event_shape(&self) -> Shape {
        Shape::scalar()
    }
    fn support(&self) -> Support {
        Support::Real
    }
    fn dtype(&self) -> DType {
        self.loc.dtype()
    }
    fn device(&self) -> Device {
        self.loc.device()
    }
    fn has_rsample(&self) -> bool {
        true
    }
    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        Ok(Arc::new(Laplace {
            loc: self.loc.broadcast_as(batch_shape)?,
            scale: self.scale.broadcast_as(batch_shape)?,
        }))
    }
    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        Ok(self.rsample(sample_shape, rng)?.detach())
    }
    /// `μ − b · sign(v) · log(1 − 2|v|)`, `v = u − ½`.
    fn rsample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        let shape = extended(sample_shape, self.loc.shape(), &Shape::scalar());
        let v = Tensor::rand_uniform(shape, 0.0, 1.0, self.dtype(), self.device(), rng)?
            .add_scalar(-0.5)?;
        let magnitude = v.abs()?.mul_scalar(-2.0)?.log1p()?;
        let sign = v.ge_scalar(0.0)?.mul_scalar(2.0)?.add_scalar(-1.0)?;
        Ok(Draw::Exact(
            self.loc.sub(&self.scale.mul(&sign.mul(&magnitude)?)?)?,
        ))
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        let z = value.sub(&self.loc)?.abs()?.div(&self.scale)?;
        z.neg()?
            .sub(&self.scale.log()?)?
            .add_scalar(-std::f64::consts::LN_2)
    }
    fn mean(&self) -> Result<Tensor> {
        Ok(self.loc.clone())
    }
    fn variance(&self) -> Result<Tensor> {
        self.scale.square()?.mul_scalar(2.0)
    }
    fn mode(&self) -> Result<Tensor> {
        Ok(self.loc.clone())
    }
    fn entropy(&self) -> Result<Tensor> {
        self.scale.log()?.add_scalar(1.0 + std::f64::consts::LN_2)
    }
}
