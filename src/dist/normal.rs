//! Normal: the Gaussian law, reparameterised.

use super::util::{check_not_nan, extended};
use super::{Distribution, Draw, Support};
use crate::{DType, Device, Error, Result, Rng, Shape, Tensor};
use std::f64::consts::PI;
use std::sync::Arc;

/// Normal law `N(loc, scale²)`; `loc` and `scale` broadcast to the batch shape.
///
/// ```
/// use pact::dist::{Distribution, Normal};
/// use pact::{DType, Device, Tensor};
/// let d = Normal::new(Tensor::scalar(0.0, DType::F64, Device::Cpu), Tensor::scalar(1.0, DType::F64, Device::Cpu))?;
/// let lp = d.log_prob(&Tensor::scalar(0.0, DType::F64, Device::Cpu))?.to_scalar()?;
/// assert!((lp + 0.5 * (2.0 * std::f64::consts::PI).ln()).abs() < 1e-12);
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Normal {
    loc: Tensor,
    scale: Tensor,
}

impl Normal {
    /// From the mean and the (positive) standard deviation.
    pub fn new(loc: Tensor, scale: Tensor) -> Result<Self> {
        check_not_nan(&loc, "Normal", "loc")?;
        if let Some(s) = scale
            .to_f64_vec()
            .into_iter()
            .find(|s| !(*s > 0.0 && s.is_finite()))
        {
            return Err(Error::invalid(
                "Normal",
                format!("scale must be finite and > 0, found {s}"),
            ));
        }
        let shape = loc.shape().broadcast(scale.shape(), "Normal")?;
        Ok(Normal {
            loc: loc.broadcast_as(&shape)?,
            scale: scale.broadcast_as(&shape)?,
        })
    }

    /// The mean.
    pub fn loc(&self) -> &Tensor {
        &self.loc
    }

    /// The standard deviation.
    pub fn scale(&self) -> &Tensor {
        &self.scale
    }
}

impl Distribution for Normal {
    fn name(&self) -> &'static str {
        "Normal"
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
        Ok(Arc::new(Normal {
            loc: self.loc.broadcast_as(batch_shape)?,
            scale: self.scale.broadcast_as(batch_shape)?,
        }))
    }

    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        Ok(self.rsample(sample_shape, rng)?.detach())
    }

    /// `loc + scale · ε`, `ε ~ N(0, 1)`.
    fn rsample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        let shape = extended(sample_shape, self.loc.shape(), &Shape::scalar());
        let eps = Tensor::randn(shape, self.dtype(), self.device(), rng)?;
        Ok(Draw::Exact(self.loc.add(&eps.mul(&self.scale)?)?))
    }

    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        let z = value.sub(&self.loc)?.div(&self.scale)?;
        z.square()?
            .affine(-0.5, -0.5 * (2.0 * PI).ln())?
            .sub(&self.scale.log()?)
    }

    fn mean(&self) -> Result<Tensor> {
        Ok(self.loc.clone())
    }

    fn variance(&self) -> Result<Tensor> {
        self.scale.square()
    }

    fn mode(&self) -> Result<Tensor> {
        Ok(self.loc.clone())
    }

    /// `½ log(2πe σ²)`.
    fn entropy(&self) -> Result<Tensor> {
        self.scale.log()?.add_scalar(0.5 + 0.5 * (2.0 * PI).ln())
    }
}
