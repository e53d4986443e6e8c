//! TruncatedGeometric: the PACT prior on the number of executed units, `1..=L`.

use super::util::{check_not_nan, with_last, xmul};
use super::{Categorical, Distribution, Draw, Support};
use crate::{DType, Device, Error, Result, Rng, Shape, Tensor};
use std::sync::Arc;

/// A law on `{1, …, L}` given by its log-mass table; two constructions are offered.
///
/// **Time-penalty prior** ([`TruncatedGeometric::new`], math §3):
/// `p(n) = e^{−λn} / Z`, `log p(n) = −λn − log Z`, `log Z = logsumexp_{m=1..L}(−λm)`.
/// Its log is linear in `n` over the whole support, exactly the role of ACT's `τN`;
/// `λ = 0` is uniform, `λ > 0` prefers fewer units (mode 1), `λ < 0` more (mode `L`).
///
/// **Independent halting-Bernoulli prior** ([`TruncatedGeometric::halting_bernoulli`]):
/// `z_l ~ Bernoulli(φ)` independently for `l < L`, `z_L ≡ 1`, `N = min{l : z_l = 1}`. Then
/// `p(n) = φ(1 − φ)^{n−1}` for `n < L` and `p(L) = (1 − φ)^{L−1}`: the geometric law with its
/// tail lumped onto `L`. Its log is linear in `n` (slope `log(1 − φ)`) *except* at `n = L`,
/// so it is not the time-penalty prior with `e^{−λ} = 1 − φ`, which renormalises instead:
/// the two agree on `n < L` up to a constant and differ in the mass of the last unit.
///
/// `λ` (or `φ`) may be batched: shape `batch_shape`. Mean, variance, entropy, mode
/// (the first most probable `n`) and the support are exact.
///
/// ```
/// use pact::dist::{Distribution, TruncatedGeometric};
/// use pact::{DType, Device, Tensor};
/// let prior = TruncatedGeometric::scalar(0.0, 4, DType::F64, Device::Cpu)?;
/// let n = Tensor::from_f64_slice(&[1.0, 4.0, 5.0], [3], DType::F64, Device::Cpu)?;
/// let lp = prior.log_prob(&n)?.to_f64_vec();
/// assert!((lp[0] - 0.25f64.ln()).abs() < 1e-12 && (lp[1] - 0.25f64.ln()).abs() < 1e-12);
/// assert_eq!(lp[2], f64::NEG_INFINITY);
/// assert!((prior.mean()?.to_scalar()? - 2.5).abs() < 1e-12);
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct TruncatedGeometric {
    /// Law of `n − 1` over `0..L`.
    cat: Categorical,
    lambda: Option<Tensor>,
}

impl TruncatedGeometric {
    /// The time-penalty prior `p(n) ∝ e^{−λn}` on `1..=max_units`, `λ` of shape `batch_shape`.
    pub fn new(lambda: Tensor, max_units: usize) -> Result<Self> {
        check_units(max_units)?;
        check_not_nan(&lambda, "TruncatedGeometric", "lambda")?;
        if lambda.to_f64_vec().iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "TruncatedGeometric",
                "lambda must be finite",
            ));
        }
        let scores = penalty_scores(&lambda, max_units)?;
        let table = scores.log_softmax(scores.rank() - 1)?;
        Ok(TruncatedGeometric {
            cat: Categorical::from_normalized(table),
            lambda: Some(lambda),
        })
    }

    /// The time-penalty prior with a scalar `λ`.
    pub fn scalar(lambda: f64, max_units: usize, dtype: DType, device: Device) -> Result<Self> {
        TruncatedGeometric::new(Tensor::scalar(lambda, dtype, device), max_units)
    }

    /// The law of `N = min{l : z_l = 1}` for independent `z_l ~ Bernoulli(σ(phi_logits))`,
    /// `l < L`, and `z_L ≡ 1` (see the type's docs for how it differs from [`Self::new`]).
    pub fn halting_bernoulli(phi_logits: Tensor, max_units: usize) -> Result<Self> {
        check_units(max_units)?;
        check_not_nan(&phi_logits, "TruncatedGeometric", "phi logits")?;
        let (dt, dev) = (phi_logits.dtype(), phi_logits.device());
        // log p(n) = [n < L] log φ + (n − 1) log(1 − φ).
        let halts: Vec<f64> = (1..=max_units)
            .map(|n| if n < max_units { 1.0 } else { 0.0 })
            .collect();
        let continues: Vec<f64> = (0..max_units).map(|m| m as f64).collect();
        let halts = Tensor::from_f64_slice(&halts, [max_units], dt, dev)?;
        let continues = Tensor::from_f64_slice(&continues, [max_units], dt, dev)?;
        let phi = phi_logits.unsqueeze(phi_logits.rank())?;
        let table = xmul(&halts, &phi.log_sigmoid()?)?
            .add(&xmul(&continues, &phi.neg()?.log_sigmoid()?)?)?;
        Ok(TruncatedGeometric {
            cat: Categorical::from_normalized(table),
            lambda: None,
        })
    }

    /// `L`, the largest value.
    pub fn max_units(&self) -> usize {
        self.cat.num_categories()
    }

    /// The time penalty `λ`, for the time-penalty construction.
    pub fn lambda(&self) -> Option<&Tensor> {
        self.lambda.as_ref()
    }

    /// `log p(n)` for `n = 1..=L`, shape `batch_shape ++ [L]`.
    pub fn log_probs(&self) -> &Tensor {
        self.cat.logits()
    }

    /// `log Z = logsumexp_{m=1..L}(−λm)` of the time-penalty construction.
    pub fn log_normalizer(&self) -> Result<Tensor> {
        let lambda = self.lambda.as_ref().ok_or_else(|| {
            Error::unsupported(
                "TruncatedGeometric",
                "log_normalizer",
                "built from halting Bernoullis, which have no λ",
            )
        })?;
        let scores = penalty_scores(lambda, self.max_units())?;
        scores.logsumexp(scores.rank() - 1)
    }
}

fn check_units(max_units: usize) -> Result<()> {
    if max_units == 0 {
        return Err(Error::invalid(
            "TruncatedGeometric",
            "needs at least one unit (L ≥ 1)",
        ));
    }
    Ok(())
}

/// `−λ n` for `n = 1..=L`, shape `λ.shape ++ [L]`.
fn penalty_scores(lambda: &Tensor, max_units: usize) -> Result<Tensor> {
    let n = Tensor::arange(max_units, lambda.dtype(), lambda.device()).add_scalar(1.0)?;
    lambda.unsqueeze(lambda.rank())?.mul(&n)?.neg()
}

impl Distribution for TruncatedGeometric {
    fn name(&self) -> &'static str {
        "TruncatedGeometric"
    }

    fn batch_shape(&self) -> Shape {
        self.cat.batch_shape()
    }

    fn event_shape(&self) -> Shape {
        Shape::scalar()
    }

    fn support(&self) -> Support {
        Support::Integers {
            low: 1,
            high: Some(self.max_units() as i64),
        }
    }

    fn dtype(&self) -> DType {
        self.cat.dtype()
    }

    fn device(&self) -> Device {
        self.cat.device()
    }

    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        let table = self
            .log_probs()
            .broadcast_as(&with_last(batch_shape, self.max_units()))?;
        let lambda = match &self.lambda {
            Some(l) => Some(l.broadcast_as(batch_shape)?),
            None => None,
        };
        Ok(Arc::new(TruncatedGeometric {
            cat: Categorical::from_normalized(table),
            lambda,
        }))
    }

    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        let n = self
            .cat
            .sample_indices(sample_shape, rng)?
            .add_scalar(1.0)?;
        Ok(Draw::Exact(n))
    }

    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        self.cat.log_prob(&value.add_scalar(-1.0)?)
    }

    fn mean(&self) -> Result<Tensor> {
        self.cat.mean()?.add_scalar(1.0)
    }

    fn variance(&self) -> Result<Tensor> {
        self.cat.variance()
    }

    fn mode(&self) -> Result<Tensor> {
        self.cat.mode()?.add_scalar(1.0)
    }

    fn entropy(&self) -> Result<Tensor> {
        self.cat.entropy()
    }

    fn enumerate_support(&self) -> Result<Tensor> {
        self.cat.enumerate_support()?.add_scalar(1.0)
    }
}
