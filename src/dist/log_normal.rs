//! LogNormal: the exponential of a normal variable.

use super::continuous::{check_finite, check_positive};
use super::util::extended;
use super::{Distribution, Draw, Support};
use crate::{DType, Device, Result, Rng, Shape, Tensor};
use std::f64::consts::PI;
use std::sync::Arc;

/// The law of `exp(X)`, `X ~ N(μ, σ²)`, on `(0, ∞)`; reparameterised: `exp(μ + σ ε)`.
///
/// ```
/// use pact::dist::{Distribution, LogNormal};
/// use pact::{DType, Device, Tensor};
/// let s = |v: f64| Tensor::scalar(v, DType::F64, Device::Cpu);
/// let d = LogNormal::new(s(0.0), s(1.0))?;
/// // The median is e^μ = 1; the mean e^{σ²/2}.
/// assert!((d.mean()?.to_scalar()? - 0.5f64.exp()).abs() < 1e-15);
/// assert_eq!(d.log_prob(&s(-1.0))?.to_scalar()?, f64::NEG_INFINITY);
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct LogNormal {
    loc: Tensor,
    scale: Tensor,
}

impl LogNormal {
    /// The law with the normal's location `loc` (finite) and scale `scale` (finite, `> 0`).
    pub fn new(loc: Tensor, scale: Tensor) -> Result<Self> {
        check_finite(&loc, "LogNormal", "loc")?;
        check_positive(&scale, "LogNormal", "scale")?;
        let shape = loc.shape().broadcast(scale.shape(), "LogNormal")?;
        Ok(LogNormal {
            loc: loc.broadcast_as(&shape)?,
            scale: scale.broadcast_as(&shape)?,
        })
    }
}

impl LogNormal {
    /// The normal's location μ (at the batch shape).
    pub fn loc(&self) -> &Tensor {
        &self.loc
    }

    /// The normal's scale σ (at the batch shape).
    pub fn scale(&self) -> &Tensor {
        &self.scale
    }
}

impl Distribution for LogNormal {
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
    fn name(&self) -> &'static str {
        "LogNormal"
    }
    fn batch_shape(&self) -> Shape {
        self.loc.shape().clone()
    }
    fn event_shape(&self) -> Shape {
        Shape::scalar()
    }
    fn support(&self) -> Support {
        Support::Positive
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
        Ok(Arc::new(LogNormal {
            loc: self.loc.broadcast_as(batch_shape)?,
            scale: self.scale.broadcast_as(batch_shape)?,
        }))
    }
    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        Ok(self.rsample(sample_shape, rng)?.detach())
    }
    fn rsample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        let shape = extended(sample_shape, self.loc.shape(), &Shape::scalar());
        let eps = Tensor::randn(shape, self.dtype(), self.device(), rng)?;
        Ok(Draw::Exact(self.loc.add(&eps.mul(&self.scale)?)?.exp()?))
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        // Clamped so that the log of a non-positive value is finite on the branch not taken.
        let x = value.clamp(f64::MIN_POSITIVE, f64::INFINITY)?;
        let log_x = x.log()?;
        let z = log_x.sub(&self.loc)?.div(&self.scale)?;
        let lp = z
            .square()?
            .affine(-0.5, -0.5 * (2.0 * PI).ln())?
            .sub(&self.scale.log()?)?
            .sub(&log_x)?;
        Tensor::where_cond(
            &value.gt_scalar(0.0)?,
            &lp,
            &lp.scalar_like(f64::NEG_INFINITY),
        )
    }
    fn mean(&self) -> Result<Tensor> {
        self.loc.add(&self.scale.square()?.mul_scalar(0.5)?)?.exp()
    }
    /// `(e^{σ²} − 1) e^{2μ + σ²}`.
    fn variance(&self) -> Result<Tensor> {
        let s2 = self.scale.square()?;
        s2.expm1()?.mul(&self.loc.mul_scalar(2.0)?.add(&s2)?.exp()?)
    }
    fn mode(&self) -> Result<Tensor> {
        self.loc.sub(&self.scale.square()?)?.exp()
    }
    fn entropy(&self) -> Result<Tensor> {
        self.loc
            .add(&self.scale.log()?)?
            .add_scalar(0.5 + 0.5 * (2.0 * PI).ln())
    }
}
