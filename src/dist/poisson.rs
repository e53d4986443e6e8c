//! Poisson: counts of events at a rate.

use super::continuous::{check_positive, floor, host_samples, integer_mask};
use super::{Distribution, Draw, Support};
use crate::{DType, Device, Error, Result, Rng, Shape, Tensor};
use std::sync::Arc;

/// The Poisson law `p(k) = λ^k e^{−λ} / k!` on `{0, 1, 2, …}`.
///
/// ```
/// use pact::dist::{Distribution, Poisson};
/// use pact::{DType, Device, Tensor};
/// let s = |v: f64| Tensor::scalar(v, DType::F64, Device::Cpu);
/// let d = Poisson::new(s(2.0))?;
/// // 2³ e⁻² / 3! at k = 3.
/// let want = (8.0f64 / 6.0).ln() - 2.0;
/// assert!((d.log_prob(&s(3.0))?.to_scalar()? - want).abs() < 1e-13);
/// assert_eq!(d.mode()?.to_scalar()?, 2.0);
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Poisson {
    rate: Tensor,
}

impl Poisson {
    /// The law of rate `rate` (finite, `> 0`).
    pub fn new(rate: Tensor) -> Result<Self> {
        check_positive(&rate, "Poisson", "rate")?;
        Ok(Poisson { rate })
    }
}

impl Poisson {
    /// The rate λ (at the batch shape).
    pub fn rate(&self) -> &Tensor {
        &self.rate
    }
}

impl Distribution for Poisson {
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
    fn name(&self) -> &'static str {
        "Poisson"
    }
    fn batch_shape(&self) -> Shape {
        self.rate.shape().clone()
    }
    fn event_shape(&self) -> Shape {
        Shape::scalar()
    }
    fn support(&self) -> Support {
        Support::Integers { low: 0, high: None }
    }
    fn dtype(&self) -> DType {
        self.rate.dtype()
    }
    fn device(&self) -> Device {
        self.rate.device()
    }
    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        Ok(Arc::new(Poisson {
            rate: self.rate.broadcast_as(batch_shape)?,
        }))
    }
    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        use rand_distr::Distribution as _;
        let x = host_samples(
            sample_shape,
            &self.batch_shape(),
            &[&self.rate],
            self.dtype(),
            self.device(),
            rng,
            |rng, p| match rand_distr::Poisson::new(p[0]) {
                Ok(d) => d.sample(rng.inner()),
                Err(_) => f64::NAN,
            },
        )?;
        Ok(Draw::Exact(x))
    }
    /// `k log λ − λ − log k!` for integers `k ≥ 0`, else `−∞`.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        let k = value.clamp(0.0, f64::INFINITY)?;
        let lp = k
            .mul(&self.rate.log()?)?
            .sub(&self.rate)?
            .sub(&k.add_scalar(1.0)?.lgamma()?)?;
        let valid = value.ge_scalar(0.0)?.mul(&integer_mask(value)?)?;
        Tensor::where_cond(&valid, &lp, &lp.scalar_like(f64::NEG_INFINITY))
    }
    fn mean(&self) -> Result<Tensor> {
        Ok(self.rate.clone())
    }
    fn variance(&self) -> Result<Tensor> {
        Ok(self.rate.clone())
    }
    /// `⌊λ⌋` (where λ is an integer, λ − 1 is a mode too).
    fn mode(&self) -> Result<Tensor> {
        floor(&self.rate)
    }
    fn entropy(&self) -> Result<Tensor> {
        Err(Error::unsupported(
            "Poisson",
            "entropy",
            "no closed form (an infinite series)",
        ))
    }
}
