//! Categorical: an index in `0..K` with probabilities `softmax(logits)`.

use super::util::{
    argmax_last, check_range, drop_last, extended, normalized_category_logits, one_hot, safe_log,
    with_last, xmul,
};
use super::{Distribution, Draw, Support};
use crate::{DType, Device, Error, Result, Rng, Shape, Tensor};
use std::sync::Arc;

/// Categorical law over the indices `0..K`, values stored as floats of the parameters' dtype.
///
/// Parameters have shape `batch_shape ++ [K]`. Logits are normalised on construction
/// (`log_softmax`); `−∞` logits (probability 0) are allowed, `+∞` and NaN are not. A value
/// outside `0..K` has log-mass `−∞`. The mode is the first most probable index. For a
/// relaxation use [`OneHotCategorical`](super::OneHotCategorical), whose values are vectors.
///
/// ```
/// use pact::dist::{Categorical, Distribution};
/// use pact::{DType, Device, Tensor};
/// let p = Tensor::from_f64_slice(&[0.2, 0.0, 0.8], [3], DType::F64, Device::Cpu)?;
/// let d = Categorical::from_probs(p)?;
/// let v = Tensor::from_f64_slice(&[0.0, 1.0, 2.0], [3], DType::F64, Device::Cpu)?;
/// let lp = d.log_prob(&v)?.to_f64_vec();
/// assert!((lp[0] - 0.2f64.ln()).abs() < 1e-12 && lp[1] == f64::NEG_INFINITY);
/// assert_eq!(d.mode()?.to_f64_vec(), vec![2.0]);
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Categorical {
    logits: Tensor,
}

impl Categorical {
    /// From unnormalised logits of shape `batch_shape ++ [K]`.
    pub fn new(logits: Tensor) -> Result<Self> {
        Ok(Categorical {
            logits: normalized_category_logits(&logits, "Categorical")?,
        })
    }

    /// From non-negative (unnormalised) probabilities of shape `batch_shape ++ [K]`.
    pub fn from_probs(probs: Tensor) -> Result<Self> {
        check_range(&probs, 0.0, f64::MAX, "Categorical", "probabilities")?;
        Categorical::new(safe_log(&probs)?)
    }

    /// Wraps logits that are already normalised and valid (no checks).
    pub(crate) fn from_normalized(logits: Tensor) -> Self {
        Categorical { logits }
    }

    /// The normalised logits (log-probabilities), `batch_shape ++ [K]`.
    pub fn logits(&self) -> &Tensor {
        &self.logits
    }

    /// The probabilities, `batch_shape ++ [K]`.
    pub fn probs(&self) -> Result<Tensor> {
        self.logits.exp()
    }

    /// The number of categories `K`.
    pub fn num_categories(&self) -> usize {
        self.logits.dims().last().copied().unwrap_or(0)
    }

    fn last(&self) -> usize {
        self.logits.rank() - 1
    }

    /// Indices drawn by inversion of the cumulative probabilities (exact, also for very
    /// improbable categories), shape `sample_shape ++ batch_shape`.
    pub(crate) fn sample_indices(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Tensor> {
        let k = self.num_categories();
        let shape = extended(sample_shape, &self.batch_shape(), &Shape::scalar());
        let probs = self
            .probs()?
            .detach()
            .broadcast_as(&with_last(&shape, k))?
            .to_f64_vec();
        let indices: Vec<f64> = probs
            .chunks(k)
            .map(|row| {
                let target = rng.uniform() * row.iter().sum::<f64>();
                let mut acc = 0.0;
                let last = row.iter().rposition(|p| *p > 0.0).unwrap_or(0);
                let pick = row
                    .iter()
                    .position(|p| {
                        acc += p;
                        acc > target
                    })
                    .unwrap_or(last);
                pick as f64
            })
            .collect();
        Tensor::from_f64_slice(&indices, shape, self.dtype(), self.device())
    }

    /// `Σ_k k · w_k` along the last axis, for weights `w` shaped like the logits.
    fn index_moment(&self, power: f64) -> Result<Tensor> {
        let k = self.num_categories();
        let idx = Tensor::arange(k, self.dtype(), self.device()).powf(power)?;
        self.probs()?.mul(&idx)?.sum(self.last())
    }
}

impl Distribution for Categorical {
    fn name(&self) -> &'static str {
        "Categorical"
    }

    fn batch_shape(&self) -> Shape {
        drop_last(self.logits.shape())
    }

    fn event_shape(&self) -> Shape {
        Shape::scalar()
    }

    fn support(&self) -> Support {
        Support::Integers {
            low: 0,
            high: Some(self.num_categories() as i64 - 1),
        }
    }

    fn dtype(&self) -> DType {
        self.logits.dtype()
    }

    fn device(&self) -> Device {
        self.logits.device()
    }

    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        let shape = with_last(batch_shape, self.num_categories());
        Ok(Arc::new(Categorical::from_normalized(
            self.logits.broadcast_as(&shape)?,
        )))
    }

    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        Ok(Draw::Exact(self.sample_indices(sample_shape, rng)?))
    }

    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        let mask = one_hot(value, self.num_categories())?;
        // The value may have fewer batch axes than the logits (it broadcasts): sum the
        // category axis, the last of both.
        let picked = Tensor::where_cond(&mask, &self.logits, &self.logits.scalar_like(0.0))?;
        let picked = picked.sum(picked.rank() - 1)?;
        let in_support = mask.sum(mask.rank() - 1)?;
        Tensor::where_cond(&in_support, &picked, &picked.scalar_like(f64::NEG_INFINITY))
    }

    fn mean(&self) -> Result<Tensor> {
        self.index_moment(1.0)
    }

    fn variance(&self) -> Result<Tensor> {
        // Σ p (k − mean)², not E[k²] − E[k]², which cancels when the mass sits at a large
        // index (0.1455 instead of 0.00683 in f32 for a law near index 99 of 100).
        let k = Tensor::arange(self.num_categories(), self.dtype(), self.device());
        let probs = self.probs()?;
        let mean = probs.mul(&k)?.sum_keepdim(self.last())?;
        probs.mul(&k.sub(&mean)?.square()?)?.sum(self.last())
    }

    fn mode(&self) -> Result<Tensor> {
        argmax_last(&self.logits)
    }

    fn entropy(&self) -> Result<Tensor> {
        xmul(&self.probs()?, &self.logits)?.sum(self.last())?.neg()
    }

    fn enumerate_support(&self) -> Result<Tensor> {
        let k = self.num_categories();
        let batch = self.batch_shape();
        let mut ones = vec![1; batch.rank()];
        ones.insert(0, k);
        Tensor::arange(k, self.dtype(), self.device())
            .reshape(ones)?
            .broadcast_as(&extended(&[k], &batch, &Shape::scalar()))
    }

    fn relaxed(&self, _temperature: f64) -> Result<Arc<dyn Distribution>> {
        Err(Error::unsupported(
            "Categorical",
            "relaxed",
            "an index has no Concrete relaxation; sample a OneHotCategorical instead",
        ))
    }

    fn relaxed_straight_through(&self, _temperature: f64) -> Result<Arc<dyn Distribution>> {
        Err(Error::unsupported(
            "Categorical",
            "relaxed_straight_through",
            "an index has no Concrete relaxation; sample a OneHotCategorical instead",
        ))
    }
}
