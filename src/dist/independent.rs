//! Independent: reinterprets batch axes of a law as event axes.

use super::{Distribution, Draw, Support};
use crate::{DType, Device, Error, Result, Rng, Shape, Tensor};
use std::sync::Arc;

/// The law of `base` with its last `event_rank` batch axes made part of the event, so that
/// `log_prob` sums over them (Pyro's `to_event`). A `[N, D]` batch of normals becomes `N`
/// draws of `D`-vectors, which fits a plate of `N` elements.
///
/// Relaxations apply to the base law. The finite support of a multivariate event is not
/// enumerated (enumerate the base law inside a plate instead).
///
/// ```
/// use pact::dist::{Distribution, Independent, Normal};
/// use pact::{DType, Device, Tensor};
/// let base = Normal::new(Tensor::zeros([4, 2], DType::F64, Device::Cpu), Tensor::scalar(1.0, DType::F64, Device::Cpu))?;
/// let d = Independent::new(base, 1)?;
/// assert_eq!((d.batch_shape().dims(), d.event_shape().dims()), (&[4][..], &[2][..]));
/// assert_eq!(d.log_prob(&Tensor::zeros([4, 2], DType::F64, Device::Cpu))?.dims(), &[4]);
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Independent {
    base: Arc<dyn Distribution>,
    event_rank: usize,
}

impl Independent {
    /// Makes the last `event_rank` batch axes of `base` event axes.
    pub fn new(base: impl super::IntoDistribution, event_rank: usize) -> Result<Self> {
        let base = base.into_distribution();
        if event_rank > base.batch_shape().rank() {
            return Err(Error::invalid(
                "Independent",
                format!(
                    "cannot make {event_rank} of the batch axes {} event axes",
                    base.batch_shape()
                ),
            ));
        }
        Ok(Independent { base, event_rank })
    }

    /// The base law.
    pub fn base(&self) -> &Arc<dyn Distribution> {
        &self.base
    }

    fn split(&self) -> usize {
        self.base.batch_shape().rank() - self.event_rank
    }

    fn wrap(&self, base: Arc<dyn Distribution>) -> Arc<dyn Distribution> {
        Arc::new(Independent {
            base,
            event_rank: self.event_rank,
        })
    }

    fn sum_event(&self, t: Tensor) -> Result<Tensor> {
        let mut t = t;
        for _ in 0..self.event_rank {
            t = t.sum(t.rank() - 1)?;
        }
        Ok(t)
    }
}

impl Distribution for Independent {
    fn name(&self) -> &'static str {
        "Independent"
    }

    fn batch_shape(&self) -> Shape {
        Shape::new(&self.base.batch_shape().dims()[..self.split()])
    }

    fn event_shape(&self) -> Shape {
        let batch = self.base.batch_shape();
        let mut dims = batch.dims()[self.split()..].to_vec();
        dims.extend_from_slice(self.base.event_shape().dims());
        Shape::new(dims)
    }

    fn support(&self) -> Support {
        self.base.support()
    }

    fn dtype(&self) -> DType {
        self.base.dtype()
    }

    fn device(&self) -> Device {
        self.base.device()
    }

    fn is_discrete(&self) -> bool {
        self.base.is_discrete()
    }

    fn has_enumerate_support(&self) -> bool {
        self.event_rank == 0 && self.base.has_enumerate_support()
    }

    fn has_rsample(&self) -> bool {
        self.base.has_rsample()
    }

    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        let mut dims = batch_shape.dims().to_vec();
        dims.extend_from_slice(&self.base.batch_shape().dims()[self.split()..]);
        Ok(self.wrap(self.base.expand(&Shape::new(dims))?))
    }

    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        self.base.sample(sample_shape, rng)
    }

    fn rsample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        self.base.rsample(sample_shape, rng)
    }

    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        self.sum_event(self.base.log_prob(value)?)
    }

    fn log_prob_draw(&self, draw: &Draw) -> Result<Tensor> {
        self.sum_event(self.base.log_prob_draw(draw)?)
    }

    fn mean(&self) -> Result<Tensor> {
        self.base.mean()
    }

    fn variance(&self) -> Result<Tensor> {
        self.base.variance()
    }

    fn mode(&self) -> Result<Tensor> {
        self.base.mode()
    }

    fn entropy(&self) -> Result<Tensor> {
        self.sum_event(self.base.entropy()?)
    }

    fn enumerate_support(&self) -> Result<Tensor> {
        if self.event_rank == 0 {
            return self.base.enumerate_support();
        }
        Err(Error::unsupported(
            "Independent",
            "enumerate_support",
            "the joint support of a multivariate event is not enumerated; enumerate the base law in a plate",
        ))
    }

    fn relaxed(&self, temperature: f64) -> Result<Arc<dyn Distribution>> {
        Ok(self.wrap(self.base.relaxed(temperature)?))
    }

    fn relaxed_straight_through(&self, temperature: f64) -> Result<Arc<dyn Distribution>> {
        Ok(self.wrap(self.base.relaxed_straight_through(temperature)?))
    }
}
