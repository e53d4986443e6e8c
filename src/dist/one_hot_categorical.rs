//! OneHotCategorical: a categorical choice encoded as a one-hot vector.

use super::util::{argmax_last, one_hot, with_last, xmul};
use super::{
    Categorical, Distribution, Draw, RelaxedOneHotCategorical, StraightThroughOneHotCategorical,
    Support,
};
use crate::{DType, Device, Error, Result, Rng, Shape, Tensor};
use std::sync::Arc;

/// Categorical law whose values are one-hot vectors of length `K` (event shape `[K]`).
///
/// `log_prob(v) = Σ_k v_k log p_k`: the log-mass for one-hot `v`, its linear extension
/// otherwise (so straight-through values pass gradients). Its Concrete relaxation is
/// [`RelaxedOneHotCategorical`] (Gumbel-softmax).
///
/// ```
/// use pact::dist::{Distribution, OneHotCategorical};
/// use pact::{DType, Device, Tensor};
/// let logits = Tensor::from_f64_slice(&[0.0, 1.0, 0.0], [3], DType::F64, Device::Cpu)?;
/// let d = OneHotCategorical::new(logits)?;
/// assert_eq!(d.mode()?.to_f64_vec(), vec![0.0, 1.0, 0.0]);
/// assert_eq!(d.enumerate_support()?.dims(), &[3, 3]);
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct OneHotCategorical {
    cat: Categorical,
}

impl OneHotCategorical {
    /// From unnormalised logits of shape `batch_shape ++ [K]`.
    pub fn new(logits: Tensor) -> Result<Self> {
        Ok(OneHotCategorical {
            cat: Categorical::new(logits)?,
        })
    }

    /// From non-negative (unnormalised) probabilities of shape `batch_shape ++ [K]`.
    pub fn from_probs(probs: Tensor) -> Result<Self> {
        Ok(OneHotCategorical {
            cat: Categorical::from_probs(probs)?,
        })
    }

    /// The normalised logits.
    pub fn logits(&self) -> &Tensor {
        self.cat.logits()
    }

    /// The probabilities.
    pub fn probs(&self) -> Result<Tensor> {
        self.cat.probs()
    }

    /// The number of categories `K`.
    pub fn num_categories(&self) -> usize {
        self.cat.num_categories()
    }

    /// The same law over indices.
    pub fn as_categorical(&self) -> &Categorical {
        &self.cat
    }
}

impl Distribution for OneHotCategorical {
    fn name(&self) -> &'static str {
        "OneHotCategorical"
    }

    fn batch_shape(&self) -> Shape {
        self.cat.batch_shape()
    }

    fn event_shape(&self) -> Shape {
        Shape::new([self.num_categories()])
    }

    fn support(&self) -> Support {
        Support::OneHot(self.num_categories())
    }

    fn dtype(&self) -> DType {
        self.cat.dtype()
    }

    fn device(&self) -> Device {
        self.cat.device()
    }

    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        let shape = with_last(batch_shape, self.num_categories());
        Ok(Arc::new(OneHotCategorical {
            cat: Categorical::from_normalized(self.logits().broadcast_as(&shape)?),
        }))
    }

    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        let idx = self.cat.sample_indices(sample_shape, rng)?;
        Ok(Draw::Exact(one_hot(&idx, self.num_categories())?))
    }

    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        let k = self.num_categories();
        if value.dims().last() != Some(&k) {
            return Err(Error::ShapeMismatch {
                op: "OneHotCategorical::log_prob",
                lhs: value.shape().clone(),
                rhs: self.event_shape(),
            });
        }
        let terms = xmul(value, self.logits())?;
        terms.sum(terms.rank() - 1)
    }

    fn mean(&self) -> Result<Tensor> {
        self.probs()
    }

    fn variance(&self) -> Result<Tensor> {
        let p = self.probs()?;
        p.mul(&p.neg()?.add_scalar(1.0)?)
    }

    fn mode(&self) -> Result<Tensor> {
        one_hot(&argmax_last(self.logits())?, self.num_categories())
    }

    fn entropy(&self) -> Result<Tensor> {
        self.cat.entropy()
    }

    fn enumerate_support(&self) -> Result<Tensor> {
        let k = self.num_categories();
        let idx = self.cat.enumerate_support()?;
        one_hot(&idx, k)
    }

    fn relaxed(&self, temperature: f64) -> Result<Arc<dyn Distribution>> {
        Ok(Arc::new(RelaxedOneHotCategorical::new(
            self.logits().clone(),
            temperature,
        )?))
    }

    fn relaxed_straight_through(&self, temperature: f64) -> Result<Arc<dyn Distribution>> {
        Ok(Arc::new(StraightThroughOneHotCategorical::new(
            self.logits().clone(),
            temperature,
        )?))
    }
}

impl From<Categorical> for OneHotCategorical {
    fn from(cat: Categorical) -> Self {
        OneHotCategorical { cat }
    }
}
