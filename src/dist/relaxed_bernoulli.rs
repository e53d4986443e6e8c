//! RelaxedBernoulli: the binary Concrete distribution (Maddison et al. 2017; Jang et al.
//! 2017), math §5.

use super::util::{
    check_not_nan, check_range, check_temperature, extended, logit_from_prob, unit_interval_bounds,
    LOGIT_BOUND,
};
use super::{Distribution, Draw, Support};
use crate::{DType, Device, Result, Rng, Shape, Tensor};
use std::sync::Arc;

/// Binary Concrete law: `z = σ(y)`, `y = (a + log u − log(1 − u)) / t`, `u ~ U(0, 1)`.
///
/// - `a`, the logit, is clamped into `[−LOGIT_BOUND, LOGIT_BOUND]` (so probabilities of
///   exactly 0 or 1 are fine); `t > 0` is the temperature.
/// - [`Distribution::rsample`] gives a [`Draw::Relaxed`] with `raw = y`.
/// - [`Distribution::log_prob_draw`] returns the **logit-space** density of `y`,
///   `log p(y) = log t − t·y + a − 2·softplus(a − t·y)`, from the draw's raw value (or, for a
///   draw without one, from the logit of its clamped value).
/// - [`Distribution::log_prob`] takes `z ∈ (0, 1)` and returns the **(0, 1)-space** density
///   `log p(z) = log p(y) − log z − log(1 − z)`, computed as `log p(y) + softplus(y) +
///   softplus(−y)` with `y = logit(z)`; `z` is first clamped into the open interval
///   representable in its dtype, so rounded values give finite (if crude) results.
/// - As `t → 0`, `[z > ½]` is Bernoulli(σ(a)) at every temperature and `z` concentrates on
///   {0, 1}; as `t → ∞`, `z → ½`. Mean, mode and entropy have no closed form.
///
/// ```
/// use pact::dist::{Distribution, RelaxedBernoulli};
/// use pact::{DType, Device, Rng, Tensor};
/// let d = RelaxedBernoulli::new(Tensor::from_f64_slice(&[0.3], [1], DType::F64, Device::Cpu)?, 0.5)?;
/// let draw = d.rsample(&[], &mut Rng::seed(1))?;
/// let y = draw.raw().unwrap();
/// // (0,1)-space density = logit-space density + log |dy/dz|.
/// let jac = y.softplus()?.add(&y.neg()?.softplus()?)?;
/// let lhs = d.log_prob(draw.value())?.to_scalar()?;
/// let rhs = d.log_prob_draw(&draw)?.add(&jac)?.to_scalar()?;
/// assert!((lhs - rhs).abs() < 1e-9);
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RelaxedBernoulli {
    logits: Tensor,
    temperature: f64,
}

impl RelaxedBernoulli {
    /// From logits (clamped to `±LOGIT_BOUND`) and a temperature `t > 0`.
    pub fn new(logits: Tensor, temperature: f64) -> Result<Self> {
        check_temperature(temperature, "RelaxedBernoulli")?;
        check_not_nan(&logits, "RelaxedBernoulli", "logits")?;
        Ok(RelaxedBernoulli {
            logits: logits.clamp(-LOGIT_BOUND, LOGIT_BOUND)?,
            temperature,
        })
    }

    /// From probabilities in `[0, 1]` and a temperature.
    pub fn from_probs(probs: Tensor, temperature: f64) -> Result<Self> {
        check_range(&probs, 0.0, 1.0, "RelaxedBernoulli", "probabilities")?;
        RelaxedBernoulli::new(logit_from_prob(&probs)?, temperature)
    }

    /// The clamped logits.
    pub fn logits(&self) -> &Tensor {
        &self.logits
    }

    /// The temperature.
    pub fn temperature(&self) -> f64 {
        self.temperature
    }

    /// `log p(y) = log t − t·y + a − 2·softplus(a − t·y)`: the density of the pre-sigmoid
    /// logit `y`.
    pub fn log_prob_logit(&self, y: &Tensor) -> Result<Tensor> {
        let t = self.temperature;
        let d = self.logits.sub(&y.mul_scalar(t)?)?;
        d.sub(&d.softplus()?.mul_scalar(2.0)?)?.add_scalar(t.ln())
    }

    /// `logit(z)` of a value clamped into the open unit interval of its dtype.
    pub(crate) fn logit_of_value(value: &Tensor) -> Result<Tensor> {
        let (lo, hi) = unit_interval_bounds(value.dtype());
        let z = value.clamp(lo, hi)?;
        z.log()?.sub(&z.neg()?.log1p()?)
    }
}

impl Distribution for RelaxedBernoulli {
    fn name(&self) -> &'static str {
        "RelaxedBernoulli"
    }

    fn batch_shape(&self) -> Shape {
        self.logits.shape().clone()
    }

    fn event_shape(&self) -> Shape {
        Shape::scalar()
    }

    fn support(&self) -> Support {
        Support::UnitInterval
    }

    fn dtype(&self) -> DType {
        self.logits.dtype()
    }

    fn device(&self) -> Device {
        self.logits.device()
    }

    fn has_rsample(&self) -> bool {
        true
    }

    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        Ok(Arc::new(RelaxedBernoulli {
            logits: self.logits.broadcast_as(batch_shape)?,
            temperature: self.temperature,
        }))
    }

    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        Ok(self.rsample(sample_shape, rng)?.detach())
    }

    fn rsample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        let shape = extended(sample_shape, self.logits.shape(), &Shape::scalar());
        let noise = Tensor::rand_logistic(shape, self.dtype(), self.device(), rng)?;
        let raw = self
            .logits
            .add(&noise)?
            .mul_scalar(1.0 / self.temperature)?;
        Ok(Draw::Relaxed {
            value: raw.sigmoid()?,
            raw,
        })
    }

    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        let y = Self::logit_of_value(value)?;
        let jacobian = y.softplus()?.add(&y.neg()?.softplus()?)?;
        self.log_prob_logit(&y)?.add(&jacobian)
    }

    fn log_prob_draw(&self, draw: &Draw) -> Result<Tensor> {
        match draw.raw() {
            Some(y) => self.log_prob_logit(y),
            None => self.log_prob_logit(&Self::logit_of_value(draw.value())?),
        }
    }
}
