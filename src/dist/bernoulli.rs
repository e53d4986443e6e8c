//! Bernoulli: a 0/1 variable with success logit `a`, `p = σ(a)`.

use super::util::{check_not_nan, check_range, extended, logit_from_prob, xmul};
use super::{Distribution, Draw, RelaxedBernoulli, StraightThroughBernoulli, Support};
use crate::{DType, Device, Result, Rng, Shape, Tensor};
use std::sync::Arc;

/// Bernoulli law on `{0, 1}` with `P(1) = σ(logits)`.
///
/// Logits may be `±∞` (probabilities exactly 0 or 1); every method stays free of NaN there.
/// `mode` is `[p ≥ 0.5]` (ties go to 1, the deterministic rule of PACT).
///
/// ```
/// use pact::dist::{Bernoulli, Distribution};
/// use pact::{DType, Device, Tensor};
/// let p = Tensor::from_f64_slice(&[0.0, 0.25, 1.0], [3], DType::F32, Device::Cpu)?;
/// let d = Bernoulli::from_probs(p)?;
/// let ones = Tensor::ones([3], DType::F32, Device::Cpu);
/// let lp = d.log_prob(&ones)?.to_f64_vec();
/// assert_eq!(lp[0], f64::NEG_INFINITY);
/// assert!((lp[1] - 0.25f64.ln()).abs() < 1e-6);
/// assert_eq!(lp[2], 0.0);
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Bernoulli {
    logits: Tensor,
}

impl Bernoulli {
    /// From logits `a = log p − log(1 − p)` (any shape = batch shape; `±∞` allowed).
    pub fn new(logits: Tensor) -> Result<Self> {
        check_not_nan(&logits, "Bernoulli", "logits")?;
        Ok(Bernoulli { logits })
    }

    /// From probabilities in `[0, 1]`.
    pub fn from_probs(probs: Tensor) -> Result<Self> {
        check_range(&probs, 0.0, 1.0, "Bernoulli", "probabilities")?;
        Ok(Bernoulli {
            logits: logit_from_prob(&probs)?,
        })
    }

    /// The logits.
    pub fn logits(&self) -> &Tensor {
        &self.logits
    }

    /// `P(1) = σ(logits)`.
    pub fn probs(&self) -> Result<Tensor> {
        self.logits.sigmoid()
    }
}

impl Distribution for Bernoulli {
    fn name(&self) -> &'static str {
        "Bernoulli"
    }

    fn batch_shape(&self) -> Shape {
        self.logits.shape().clone()
    }

    fn event_shape(&self) -> Shape {
        Shape::scalar()
    }

    fn support(&self) -> Support {
        Support::Boolean
    }

    fn dtype(&self) -> DType {
        self.logits.dtype()
    }

    fn device(&self) -> Device {
        self.logits.device()
    }

    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        Ok(Arc::new(Bernoulli {
            logits: self.logits.broadcast_as(batch_shape)?,
        }))
    }

    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        let shape = extended(sample_shape, self.logits.shape(), &Shape::scalar());
        let p = self.probs()?.detach().broadcast_as(&shape)?;
        Ok(Draw::Exact(p.bernoulli(rng)?))
    }

    /// `z log p + (1 − z) log(1 − p)`: the log-mass for `z ∈ {0, 1}`, its smooth extension
    /// for other `z` (so straight-through values pass gradients).
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        let a = &self.logits;
        xmul(value, &a.log_sigmoid()?)?.add(&xmul(
            &value.neg()?.add_scalar(1.0)?,
            &a.neg()?.log_sigmoid()?,
        )?)
    }

    fn mean(&self) -> Result<Tensor> {
        self.probs()
    }

    fn variance(&self) -> Result<Tensor> {
        self.logits.sigmoid()?.mul(&self.logits.neg()?.sigmoid()?)
    }

    fn mode(&self) -> Result<Tensor> {
        self.logits.ge_scalar(0.0)
    }

    fn entropy(&self) -> Result<Tensor> {
        let a = &self.logits;
        let (na, p, q) = (a.neg()?, a.sigmoid()?, a.neg()?.sigmoid()?);
        xmul(&p, &a.log_sigmoid()?)?
            .add(&xmul(&q, &na.log_sigmoid()?)?)?
            .neg()
    }

    fn enumerate_support(&self) -> Result<Tensor> {
        let shape = self.logits.shape();
        let zeros = self.logits.zeros_like().detach();
        Tensor::stack(&[zeros.clone(), zeros.ones_like()], 0)?.reshape(extended(
            &[2],
            shape,
            &Shape::scalar(),
        ))
    }

    fn relaxed(&self, temperature: f64) -> Result<Arc<dyn Distribution>> {
        Ok(Arc::new(RelaxedBernoulli::new(
            self.logits.clone(),
            temperature,
        )?))
    }

    fn relaxed_straight_through(&self, temperature: f64) -> Result<Arc<dyn Distribution>> {
        Ok(Arc::new(StraightThroughBernoulli::new(
            self.logits.clone(),
            temperature,
        )?))
    }
}
