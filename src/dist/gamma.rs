//! Gamma: shape (concentration) α and rate β.

use super::continuous::{check_positive, gamma_draw, host_samples};
use super::implicit::rsample_standard_gamma;
use super::util::extended;
use super::{Distribution, Draw, Support};
use crate::{DType, Device, Result, Rng, Shape, Tensor};
use std::sync::Arc;

/// The Gamma law `p(x) = β^α x^{α−1} e^{−βx} / Γ(α)` on `(0, ∞)`. Draws are exact (Marsaglia
/// and Tsang's method); `rsample` reparameterises them implicitly (Figurnov, Mohamed and Mnih,
/// 2018): the value is the same draw, and its gradient is `dx/dα = (dz/dα)/β` through the
/// CDF at the draw's quantile and `dx/dβ = −x/β` (math §12).
///
/// ```
/// use pact::dist::{Distribution, Gamma};
/// use pact::{DType, Device, Tensor};
/// let s = |v: f64| Tensor::scalar(v, DType::F64, Device::Cpu);
/// let d = Gamma::new(s(3.0), s(2.0))?;
/// // α log β + (α − 1) log x − βx − log Γ(α) at x = 1: 3 log 2 − 2 − log 2.
/// let want = 3.0 * 2f64.ln() - 2.0 - 2f64.ln();
/// assert!((d.log_prob(&s(1.0))?.to_scalar()? - want).abs() < 1e-13);
/// assert_eq!(d.mean()?.to_scalar()?, 1.5);
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Gamma {
    concentration: Tensor,
    rate: Tensor,
}

impl Gamma {
    /// The law with shape `concentration` (α) and `rate` (β), both finite and `> 0`.
    pub fn new(concentration: Tensor, rate: Tensor) -> Result<Self> {
        check_positive(&concentration, "Gamma", "concentration")?;
        check_positive(&rate, "Gamma", "rate")?;
        let shape = concentration.shape().broadcast(rate.shape(), "Gamma")?;
        Ok(Gamma {
            concentration: concentration.broadcast_as(&shape)?,
            rate: rate.broadcast_as(&shape)?,
        })
    }
}

impl Gamma {
    /// The shape α (at the batch shape).
    pub fn concentration(&self) -> &Tensor {
        &self.concentration
    }

    /// The rate β (at the batch shape).
    pub fn rate(&self) -> &Tensor {
        &self.rate
    }
}

impl Distribution for Gamma {
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
    fn name(&self) -> &'static str {
        "Gamma"
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
    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        Ok(Arc::new(Gamma {
            concentration: self.concentration.broadcast_as(batch_shape)?,
            rate: self.rate.broadcast_as(batch_shape)?,
        }))
    }
    fn has_rsample(&self) -> bool {
        true
    }
    /// The draws of [`Distribution::sample`] (the same random numbers), differentiable in α
    /// (implicitly) and β.
    fn rsample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        let shape = extended(sample_shape, &self.batch_shape(), &Shape::scalar());
        let alpha = self.concentration.broadcast_as(&shape)?;
        let z = rsample_standard_gamma(&alpha, rng)?;
        Ok(Draw::Exact(z.div(&self.rate.broadcast_as(&shape)?)?))
    }
    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        let params = [&self.concentration, &self.rate];
        let x = host_samples(
            sample_shape,
            &self.batch_shape(),
            &params,
            self.dtype(),
            self.device(),
            rng,
            |rng, p| gamma_draw(rng, p[0]) / p[1],
        )?;
        Ok(Draw::Exact(x))
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        let (a, b) = (&self.concentration, &self.rate);
        let x = value.clamp(f64::MIN_POSITIVE, f64::INFINITY)?;
        let lp = a
            .mul(&b.log()?)?
            .add(&a.add_scalar(-1.0)?.mul(&x.log()?)?)?
            .sub(&b.mul(&x)?)?
            .sub(&a.lgamma()?)?;
        Tensor::where_cond(
            &value.gt_scalar(0.0)?,
            &lp,
            &lp.scalar_like(f64::NEG_INFINITY),
        )
    }
    fn mean(&self) -> Result<Tensor> {
        self.concentration.div(&self.rate)
    }
    fn variance(&self) -> Result<Tensor> {
        self.concentration.div(&self.rate.square()?)
    }
    /// `(α − 1)/β` for `α ≥ 1`, else 0.
    fn mode(&self) -> Result<Tensor> {
        let m = self.concentration.add_scalar(-1.0)?.div(&self.rate)?;
        Tensor::where_cond(&m.ge_scalar(0.0)?, &m, &m.zeros_like())
    }
    /// `α − log β + log Γ(α) + (1 − α) ψ(α)` ([`Tensor::gamma_entropy`], which keeps its
    /// digits at large α).
    fn entropy(&self) -> Result<Tensor> {
        self.concentration.gamma_entropy()?.sub(&self.rate.log()?)
    }
}
