//! Geometric: the number of failures before the first success.

use super::util::{check_not_nan, check_range, extended, logit_from_prob, xmul};
use super::{Distribution, Draw, Support};
use crate::{DType, Device, Error, Result, Rng, Shape, Tensor};
use std::sync::Arc;

/// Geometric law on `{0, 1, 2, …}`: the number of **failures before the first success** of
/// independent trials with success probability `p = σ(logits)` (the PyTorch and NumPyro
/// convention; `statrs` and some textbooks count trials instead, support from 1).
///
/// `P(k) = (1 − p)^k p`, mean `(1 − p)/p`, mode 0. `p = 1` (logit `+∞`) is allowed;
/// `p = 0` has no law and is rejected. `log_prob` is `−∞` for `k < 0`; integrality is not
/// checked (a non-integer `k` gets the smooth extension of the formula).
///
/// ```
/// use pact::dist::{Distribution, Geometric};
/// use pact::{DType, Device, Tensor};
/// let d = Geometric::from_probs(Tensor::from_f64_slice(&[0.5], [1], DType::F64, Device::Cpu)?)?;
/// let k = Tensor::from_f64_slice(&[2.0], [1], DType::F64, Device::Cpu)?;
/// assert!((d.log_prob(&k)?.to_f64_vec()[0] - 0.125f64.ln()).abs() < 1e-12);
/// assert_eq!(d.mean()?.to_f64_vec(), vec![1.0]);
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Geometric {
    logits: Tensor,
}

impl Geometric {
    /// From success logits (`−∞` rejected).
    pub fn new(logits: Tensor) -> Result<Self> {
        check_not_nan(&logits, "Geometric", "logits")?;
        if logits.to_f64_vec().contains(&f64::NEG_INFINITY) {
            return Err(Error::invalid(
                "Geometric",
                "success probability 0 (logit −∞) has no law",
            ));
        }
        Ok(Geometric { logits })
    }

    /// From success probabilities in `(0, 1]`.
    pub fn from_probs(probs: Tensor) -> Result<Self> {
        check_range(&probs, f64::MIN_POSITIVE, 1.0, "Geometric", "probabilities")?;
        Geometric::new(logit_from_prob(&probs)?)
    }

    /// The success logits.
    pub fn logits(&self) -> &Tensor {
        &self.logits
    }

    /// The success probabilities.
    pub fn probs(&self) -> Result<Tensor> {
        self.logits.sigmoid()
    }

    /// `(1 − p)/p = e^{−a}`.
    fn odds_of_failure(&self) -> Result<Tensor> {
        self.logits.neg()?.exp()
    }
}

impl Distribution for Geometric {
    fn name(&self) -> &'static str {
        "Geometric"
    }

    fn batch_shape(&self) -> Shape {
        self.logits.shape().clone()
    }

    fn event_shape(&self) -> Shape {
        Shape::scalar()
    }

    fn support(&self) -> Support {
        Support::Integers { low: 0, high: None }
    }

    fn dtype(&self) -> DType {
        self.logits.dtype()
    }

    fn device(&self) -> Device {
        self.logits.device()
    }

    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        Ok(Arc::new(Geometric {
            logits: self.logits.broadcast_as(batch_shape)?,
        }))
    }

    /// Inversion: `k = ⌊ln u / ln(1 − p)⌋` with `u ∈ (0, 1]`.
    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        let shape = extended(sample_shape, self.logits.shape(), &Shape::scalar());
        let log_fail = self
            .logits
            .detach()
            .neg()?
            .log_sigmoid()?
            .broadcast_as(&shape)?
            .to_f64_vec();
        let k: Vec<f64> = log_fail
            .iter()
            .map(|&lf| (1.0 - rng.uniform()).ln() / lf)
            .map(|x| x.floor() + 0.0)
            .collect();
        Ok(Draw::Exact(Tensor::from_f64_slice(
            &k,
            shape,
            self.dtype(),
            self.device(),
        )?))
    }

    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        let a = &self.logits;
        let lp = xmul(value, &a.neg()?.log_sigmoid()?)?.add(&a.log_sigmoid()?)?;
        Tensor::where_cond(
            &value.ge_scalar(0.0)?,
            &lp,
            &lp.scalar_like(f64::NEG_INFINITY),
        )
    }

    fn mean(&self) -> Result<Tensor> {
        self.odds_of_failure()
    }

    fn variance(&self) -> Result<Tensor> {
        let r = self.odds_of_failure()?;
        r.mul(&r.add_scalar(1.0)?)
    }

    fn mode(&self) -> Result<Tensor> {
        Ok(self.logits.zeros_like())
    }

    /// `H = H_Bernoulli(p) / p`.
    fn entropy(&self) -> Result<Tensor> {
        // H = H_b(p) / p = softplus(−a) + e^{−a} softplus(a) for the logit a. The second term
        // tends to 1 as a → −∞ (so H ≈ 1 − a), but e^{−a} overflows on the way; below
        // a = −20 it is log1p(x)/x = 1 − x/2 + O(x²) with x = e^a < 3·10⁻⁹, and above 700 it
        // is below 10⁻³⁰⁰ and taken as 0 (exactly 0 at p = 1). Every branch sees clamped
        // inputs, so none overflows and the gradient of a branch not taken is finite (and
        // zero).
        const LOW: f64 = -20.0;
        const HIGH: f64 = 700.0;
        let a = &self.logits;
        let mid = a.clamp(LOW, HIGH)?;
        let direct = mid.neg()?.exp()?.mul(&mid.softplus()?)?;
        let direct = Tensor::where_cond(&a.gt_scalar(HIGH)?, &direct.zeros_like(), &direct)?;
        let x = a.clamp(f64::NEG_INFINITY, LOW)?.exp()?;
        let series = x.mul_scalar(-0.5)?.add_scalar(1.0)?;
        let tail = Tensor::where_cond(&a.ge_scalar(LOW)?, &direct, &series)?;
        a.neg()?.softplus()?.add(&tail)
    }
}
