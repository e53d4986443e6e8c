//! Binomial: successes in a fixed number of trials.

use super::continuous::{floor, host_samples, integer_mask};
use super::util::{check_not_nan, extended};
use super::{Distribution, Draw, Support};
use crate::{DType, Device, Error, Result, Rng, Shape, Tensor};
use std::sync::Arc;

/// The binomial law of `n` trials with success logit `a` (probability `σ(a)`):
/// `p(k) = C(n, k) σ(a)^k σ(−a)^{n−k}` on `{0, …, n}`. Its support is finite, so it
/// enumerates (and has closed-form entropy and KL divergences).
///
/// ```
/// use pact::dist::{Binomial, Distribution};
/// use pact::{DType, Device, Tensor};
/// let s = |v: f64| Tensor::scalar(v, DType::F64, Device::Cpu);
/// let d = Binomial::from_probs(4, s(0.5))?;
/// // C(4, 2) / 16 at k = 2.
/// assert!((d.log_prob(&s(2.0))?.to_scalar()? - (6.0f64 / 16.0).ln()).abs() < 1e-13);
/// assert_eq!(d.enumerate_support()?.dims(), &[5]);
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Binomial {
    total: usize,
    logits: Tensor,
}

impl Binomial {
    /// `total` trials with success logits `logits` (not NaN; ±∞ for certain outcomes).
    pub fn new(total: usize, logits: Tensor) -> Result<Self> {
        check_not_nan(&logits, "Binomial", "logits")?;
        if i64::try_from(total).is_err() {
            return Err(Error::invalid("Binomial", "too many trials"));
        }
        Ok(Binomial { total, logits })
    }

    /// `total` trials with success probabilities `probs` in `[0, 1]`.
    pub fn from_probs(total: usize, probs: Tensor) -> Result<Self> {
        super::util::check_range(&probs, 0.0, 1.0, "Binomial", "probabilities")?;
        Binomial::new(total, super::util::logit_from_prob(&probs)?)
    }

    /// The number of trials.
    pub fn total(&self) -> usize {
        self.total
    }

    fn probs(&self) -> Result<Tensor> {
        self.logits.sigmoid()
    }
}

impl Distribution for Binomial {
    fn name(&self) -> &'static str {
        "Binomial"
    }
    fn batch_shape(&self) -> Shape {
        self.logits.shape().clone()
    }
    fn event_shape(&self) -> Shape {
        Shape::scalar()
    }
    fn support(&self) -> Support {
        Support::Integers {
            low: 0,
            high: Some(self.total as i64),
        }
    }
    fn dtype(&self) -> DType {
        self.logits.dtype()
    }
    fn device(&self) -> Device {
        self.logits.device()
    }
    fn has_enumerate_support(&self) -> bool {
        true
    }
    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        Ok(Arc::new(Binomial {
            total: self.total,
            logits: self.logits.broadcast_as(batch_shape)?,
        }))
    }
    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        use rand_distr::Distribution as _;
        let n = self.total as u64;
        let x = host_samples(
            sample_shape,
            &self.batch_shape(),
            &[&self.probs()?],
            self.dtype(),
            self.device(),
            rng,
            |rng, p| match rand_distr::Binomial::new(n, p[0]) {
                Ok(d) => d.sample(rng.inner()) as f64,
                Err(_) => f64::NAN,
            },
        )?;
        Ok(Draw::Exact(x))
    }
    /// `log C(n, k) + k log σ(a) + (n − k) log σ(−a)` for integers `0 ≤ k ≤ n`, else `−∞`.
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        let n = self.total as f64;
        let k = value.clamp(0.0, n)?;
        let choose = k
            .add_scalar(1.0)?
            .lgamma()?
            .add(&k.neg()?.add_scalar(n + 1.0)?.lgamma()?)?
            .neg()?
            .add_scalar(ln_factorial(self.total))?;
        // log C(n, 0) = log C(n, n) = 0 exactly: the lgamma terms above are of order n log n
        // and would leave their rounding where the law is nearly certain.
        let edge = k.lt_scalar(0.5)?.maximum(&k.gt_scalar(n - 0.5)?)?;
        let choose = Tensor::where_cond(&edge, &choose.zeros_like(), &choose)?;
        // 0 · log σ(±a) is 0 even where σ(±a) = 0 (a certain outcome).
        let successes = super::util::xmul(&k, &self.logits.log_sigmoid()?)?;
        let failures =
            super::util::xmul(&k.neg()?.add_scalar(n)?, &self.logits.neg()?.log_sigmoid()?)?;
        let lp = choose.add(&successes)?.add(&failures)?;
        let valid = value
            .ge_scalar(0.0)?
            .mul(&value.le(&value.full_like(n))?)?
            .mul(&integer_mask(value)?)?;
        Tensor::where_cond(&valid, &lp, &lp.scalar_like(f64::NEG_INFINITY))
    }
    fn mean(&self) -> Result<Tensor> {
        self.probs()?.mul_scalar(self.total as f64)
    }
    fn variance(&self) -> Result<Tensor> {
        self.probs()?
            .mul(&self.logits.neg()?.sigmoid()?)?
            .mul_scalar(self.total as f64)
    }
    /// `⌊(n + 1) p⌋`, at most `n`.
    fn mode(&self) -> Result<Tensor> {
        let n = self.total as f64;
        floor(&self.probs()?.mul_scalar(n + 1.0)?)?.clamp(0.0, n)
    }
    /// `−Σ_k p(k) log p(k)` over the finite support.
    fn entropy(&self) -> Result<Tensor> {
        let values = self.enumerate_support()?;
        let lp = self.log_prob(&values)?;
        super::util::xmul(&lp.exp()?, &lp)?.sum(0)?.neg()
    }
    fn enumerate_support(&self) -> Result<Tensor> {
        let k = self.total + 1;
        let batch = self.batch_shape();
        let mut ones = vec![1; batch.rank()];
        ones.insert(0, k);
        Tensor::arange(k, self.dtype(), self.device())
            .reshape(ones)?
            .broadcast_as(&extended(&[k], &batch, &Shape::scalar()))
    }
}

/// `log n!`.
fn ln_factorial(n: usize) -> f64 {
    (1..=n).map(|i| (i as f64).ln()).sum()
}
