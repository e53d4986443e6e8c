//! Delta: a point mass, for deterministic sites.

use super::util::extended;
use super::{Distribution, Draw, Support};
use crate::{DType, Device, Error, Result, Rng, Shape, Tensor};
use std::sync::Arc;

/// A point mass at `value`, whose last `event_rank` axes form one event.
///
/// `log_prob(x)` is `log_density` (0 by default) where `x` equals the point on the whole
/// event, `−∞` elsewhere. `rsample` returns the point itself, so gradients flow to it.
/// Not discrete for the purposes of relaxation, enumeration and decoding: it is a
/// deterministic value.
///
/// ```
/// use pact::dist::{Delta, Distribution};
/// use pact::{DType, Device, Rng, Tensor};
/// let v = Tensor::from_f64_slice(&[1.0, 2.0], [2], DType::F64, Device::Cpu)?;
/// let d = Delta::new(v.clone(), 1)?;
/// assert_eq!(d.log_prob(&v)?.to_scalar()?, 0.0);
/// assert_eq!(d.sample(&[], &mut Rng::seed(0))?.value().to_f64_vec(), vec![1.0, 2.0]);
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Delta {
    value: Tensor,
    event_rank: usize,
    log_density: f64,
}

impl Delta {
    /// A point mass at `value` with the last `event_rank` axes as the event.
    pub fn new(value: Tensor, event_rank: usize) -> Result<Self> {
        if event_rank > value.rank() {
            return Err(Error::invalid(
                "Delta",
                format!(
                    "event rank {event_rank} exceeds the rank of a value of shape {}",
                    value.shape()
                ),
            ));
        }
        Ok(Delta {
            value,
            event_rank,
            log_density: 0.0,
        })
    }

    /// The same point mass reporting `log_density` at the point.
    pub fn with_log_density(mut self, log_density: f64) -> Self {
        self.log_density = log_density;
        self
    }

    /// The point.
    pub fn value(&self) -> &Tensor {
        &self.value
    }

    fn split(&self) -> usize {
        self.value.rank() - self.event_rank
    }
}

impl Distribution for Delta {
    fn name(&self) -> &'static str {
        "Delta"
    }

    fn batch_shape(&self) -> Shape {
        Shape::new(&self.value.dims()[..self.split()])
    }

    fn event_shape(&self) -> Shape {
        Shape::new(&self.value.dims()[self.split()..])
    }

    fn support(&self) -> Support {
        Support::Point
    }

    fn dtype(&self) -> DType {
        self.value.dtype()
    }

    fn device(&self) -> Device {
        self.value.device()
    }

    fn has_rsample(&self) -> bool {
        true
    }

    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        let shape = extended(batch_shape.dims(), &Shape::scalar(), &self.event_shape());
        Ok(Arc::new(Delta {
            value: self.value.broadcast_as(&shape)?,
            ..self.clone()
        }))
    }

    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        Ok(self.rsample(sample_shape, rng)?.detach())
    }

    fn rsample(&self, sample_shape: &[usize], _rng: &mut Rng) -> Result<Draw> {
        let shape = extended(sample_shape, &self.batch_shape(), &self.event_shape());
        Ok(Draw::Exact(self.value.broadcast_as(&shape)?))
    }

    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        let mut same = value.eq(&self.value)?;
        for _ in 0..self.event_rank {
            same = same.min(same.rank() - 1)?;
        }
        let hit = same.full_like(self.log_density);
        Tensor::where_cond(&same, &hit, &hit.scalar_like(f64::NEG_INFINITY))
    }

    fn mean(&self) -> Result<Tensor> {
        Ok(self.value.clone())
    }

    fn variance(&self) -> Result<Tensor> {
        Ok(self.value.zeros_like())
    }

    fn mode(&self) -> Result<Tensor> {
        Ok(self.value.clone())
    }

    fn entropy(&self) -> Result<Tensor> {
        Ok(Tensor::zeros(
            self.batch_shape(),
            self.dtype(),
            self.device(),
        ))
    }

    fn enumerate_support(&self) -> Result<Tensor> {
        self.value.unsqueeze(0)
    }
}
