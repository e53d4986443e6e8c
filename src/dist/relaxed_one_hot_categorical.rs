//! RelaxedOneHotCategorical: the Concrete / Gumbel-softmax distribution on the simplex.

use super::util::{
    check_range, check_temperature, drop_last, extended, log_factorial_minus_one,
    normalized_category_logits, safe_log, unit_interval_bounds, with_last, LOGIT_BOUND,
};
use super::{Distribution, Draw, Support};
use crate::{DType, Device, Error, Result, Rng, Shape, Tensor};
use std::sync::Arc;

/// Concrete law on the simplex (Maddison, Mnih and Teh 2017; Jang, Gu and Poole 2017):
/// `z = softmax((a + g)/t)` with i.i.d. standard Gumbel `g`.
///
/// - Logits `a` (shape `batch_shape ++ [K]`) are normalised (`log_softmax`) and clamped
///   below at `−LOGIT_BOUND`, so probabilities of exactly 0 are fine; `t > 0`.
/// - [`Distribution::rsample`] gives a [`Draw::Relaxed`] with `raw = x = log_softmax((a +
///   g)/t)`, the point on the log-simplex.
/// - [`Distribution::log_prob_draw`] returns the **ExpConcrete** log-density of `x`,
///   `log (K−1)! + (K−1) log t + Σ_k (a_k − t x_k) − K · logsumexp_k(a_k − t x_k)`,
///   from the raw value (or from the log of the clamped value of a draw without one).
/// - [`Distribution::log_prob`] takes `z` on the simplex and returns the **Concrete**
///   density `ExpConcrete(log z) − Σ_k log z_k` (with respect to Lebesgue measure on the
///   first `K − 1` coordinates); `z` is clamped away from 0 first.
/// - For `K = 2` the ExpConcrete density of `x` equals the binary logit-space density of
///   `x_1 − x_2` with logit `a_1 − a_2`, and the Concrete density of `z` the binary
///   (0, 1)-density of `z_1`.
/// - `argmax z` is Categorical(softmax a) at every temperature; as `t → ∞`, `z → 1/K`.
///
/// ```
/// use pact::dist::{Distribution, RelaxedOneHotCategorical};
/// use pact::{DType, Device, Rng, Tensor};
/// let logits = Tensor::from_f64_slice(&[0.0, 1.0, -1.0], [3], DType::F64, Device::Cpu)?;
/// let d = RelaxedOneHotCategorical::new(logits, 0.5)?;
/// let draw = d.rsample(&[], &mut Rng::seed(0))?;
/// let total: f64 = draw.value().to_f64_vec().iter().sum();
/// assert!((total - 1.0).abs() < 1e-12);
/// assert!(d.log_prob_draw(&draw)?.to_scalar()?.is_finite());
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RelaxedOneHotCategorical {
    logits: Tensor,
    temperature: f64,
}

impl RelaxedOneHotCategorical {
    /// From unnormalised logits `batch_shape ++ [K]` (`−∞` allowed) and a temperature.
    pub fn new(logits: Tensor, temperature: f64) -> Result<Self> {
        check_temperature(temperature, "RelaxedOneHotCategorical")?;
        let normalised = normalized_category_logits(&logits, "RelaxedOneHotCategorical")?;
        Ok(RelaxedOneHotCategorical {
            logits: normalised.clamp(-LOGIT_BOUND, 0.0)?,
            temperature,
        })
    }

    /// From non-negative (unnormalised) probabilities and a temperature.
    pub fn from_probs(probs: Tensor, temperature: f64) -> Result<Self> {
        check_range(
            &probs,
            0.0,
            f64::MAX,
            "RelaxedOneHotCategorical",
            "probabilities",
        )?;
        RelaxedOneHotCategorical::new(safe_log(&probs)?, temperature)
    }

    /// The normalised, clamped logits.
    pub fn logits(&self) -> &Tensor {
        &self.logits
    }

    /// The temperature.
    pub fn temperature(&self) -> f64 {
        self.temperature
    }

    /// The number of categories `K`.
    pub fn num_categories(&self) -> usize {
        self.logits.dims().last().copied().unwrap_or(0)
    }

    /// The ExpConcrete log-density of a point `x` on the log-simplex (shape
    /// `.. ++ batch_shape ++ [K]`).
    pub fn log_prob_log_simplex(&self, x: &Tensor) -> Result<Tensor> {
        let k = self.num_categories();
        let t = self.temperature;
        let s = self.logits.sub(&x.mul_scalar(t)?)?;
        let last = s.rank() - 1;
        let constant = log_factorial_minus_one(k) + (k as f64 - 1.0) * t.ln();
        s.sum(last)?
            .sub(&s.logsumexp(last)?.mul_scalar(k as f64)?)?
            .add_scalar(constant)
    }

    /// `log z` of a value clamped away from 0 (and from above at 1).
    fn log_of_value(value: &Tensor) -> Result<Tensor> {
        let (lo, _) = unit_interval_bounds(value.dtype());
        value.clamp(lo, 1.0)?.log()
    }

    fn check_event(&self, value: &Tensor) -> Result<()> {
        if value.dims().last() == Some(&self.num_categories()) {
            Ok(())
        } else {
            Err(Error::ShapeMismatch {
                op: "RelaxedOneHotCategorical::log_prob",
                lhs: value.shape().clone(),
                rhs: self.event_shape(),
            })
        }
    }
}

impl Distribution for RelaxedOneHotCategorical {
    fn name(&self) -> &'static str {
        "RelaxedOneHotCategorical"
    }

    fn batch_shape(&self) -> Shape {
        drop_last(self.logits.shape())
    }

    fn event_shape(&self) -> Shape {
        Shape::new([self.num_categories()])
    }

    fn support(&self) -> Support {
        Support::Simplex
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
        Ok(Arc::new(RelaxedOneHotCategorical {
            logits: self
                .logits
                .broadcast_as(&with_last(batch_shape, self.num_categories()))?,
            temperature: self.temperature,
        }))
    }

    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        Ok(self.rsample(sample_shape, rng)?.detach())
    }

    fn rsample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        let shape = extended(sample_shape, &self.batch_shape(), &self.event_shape());
        let g = Tensor::rand_gumbel(shape, self.dtype(), self.device(), rng)?;
        let scores = self.logits.add(&g)?.mul_scalar(1.0 / self.temperature)?;
        let raw = scores.log_softmax(scores.rank() - 1)?;
        Ok(Draw::Relaxed {
            value: raw.exp()?,
            raw,
        })
    }

    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        self.check_event(value)?;
        let x = Self::log_of_value(value)?;
        self.log_prob_log_simplex(&x)?.sub(&x.sum(x.rank() - 1)?)
    }

    fn log_prob_draw(&self, draw: &Draw) -> Result<Tensor> {
        self.check_event(draw.value())?;
        match draw.raw() {
            Some(x) => self.log_prob_log_simplex(x),
            None => self.log_prob_log_simplex(&Self::log_of_value(draw.value())?),
        }
    }
}
