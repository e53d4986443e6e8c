//! Straight-through relaxations: hard values forward, Concrete gradients backward.

use super::util::{argmax_last, one_hot, with_last};
use super::{Distribution, Draw, RelaxedBernoulli, RelaxedOneHotCategorical, Support};
use crate::{DType, Device, Result, Rng, Shape, Tensor};
use std::sync::Arc;

/// Turns a relaxed draw into a straight-through one with the given hard value.
fn straight_through(draw: Draw, hard: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<Draw> {
    match draw {
        Draw::Relaxed { value: soft, raw } => {
            let hard = hard(&raw)?;
            Ok(Draw::StraightThrough {
                value: Tensor::straight_through(&hard, &soft)?,
                hard,
                soft,
                raw,
            })
        }
        other => Ok(other),
    }
}

macro_rules! delegate_relaxed {
    ($name:literal) => {
        fn name(&self) -> &'static str {
            $name
        }

        fn batch_shape(&self) -> Shape {
            self.relaxed.batch_shape()
        }

        fn event_shape(&self) -> Shape {
            self.relaxed.event_shape()
        }

        fn support(&self) -> Support {
            self.relaxed.support()
        }

        fn dtype(&self) -> DType {
            self.relaxed.dtype()
        }

        fn device(&self) -> Device {
            self.relaxed.device()
        }

        fn has_rsample(&self) -> bool {
            true
        }

        fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
            Ok(self.rsample(sample_shape, rng)?.detach())
        }

        /// The relaxed law's density of a soft value (see its docs).
        fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
            self.relaxed.log_prob(value)
        }

        /// The relaxed law's raw-space density of the draw's raw value.
        fn log_prob_draw(&self, draw: &Draw) -> Result<Tensor> {
            self.relaxed.log_prob_draw(draw)
        }
    };
}

/// Straight-through binary Concrete: a [`Draw::StraightThrough`] whose value is the hard
/// `[y > 0]` forward (a Bernoulli(σ(a)) sample) with the gradient of the soft `σ(y)`.
///
/// Densities are those of the underlying [`RelaxedBernoulli`]: `log_prob_draw` is the
/// logit-space density of the draw's raw `y`; `log_prob` treats its argument as a soft value.
///
/// ```
/// use pact::dist::{Distribution, StraightThroughBernoulli};
/// use pact::{DType, Device, Rng, Tensor};
/// let d = StraightThroughBernoulli::new(Tensor::from_f64_slice(&[0.0; 4], [4], DType::F64, Device::Cpu)?, 1.0)?;
/// let draw = d.rsample(&[], &mut Rng::seed(3))?;
/// assert!(draw.value().to_f64_vec().iter().all(|v| *v == 0.0 || *v == 1.0));
/// assert_eq!(draw.value().to_f64_vec(), draw.hard().unwrap().to_f64_vec());
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct StraightThroughBernoulli {
    relaxed: RelaxedBernoulli,
}

impl StraightThroughBernoulli {
    /// From logits (clamped as in [`RelaxedBernoulli`]) and a temperature.
    pub fn new(logits: Tensor, temperature: f64) -> Result<Self> {
        Ok(StraightThroughBernoulli {
            relaxed: RelaxedBernoulli::new(logits, temperature)?,
        })
    }

    /// The underlying relaxed law.
    pub fn relaxed(&self) -> &RelaxedBernoulli {
        &self.relaxed
    }
}

impl Distribution for StraightThroughBernoulli {
    delegate_relaxed!("StraightThroughBernoulli");

    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        let relaxed = RelaxedBernoulli::new(
            self.relaxed.logits().broadcast_as(batch_shape)?,
            self.relaxed.temperature(),
        )?;
        Ok(Arc::new(StraightThroughBernoulli { relaxed }))
    }

    fn rsample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        straight_through(self.relaxed.rsample(sample_shape, rng)?, |y| {
            y.gt_scalar(0.0)
        })
    }
}

/// Straight-through Gumbel-softmax: a [`Draw::StraightThrough`] whose value is the one-hot
/// argmax forward (a categorical sample) with the gradient of the soft `softmax((a + g)/t)`.
///
/// Densities are those of the underlying [`RelaxedOneHotCategorical`].
#[derive(Clone, Debug)]
pub struct StraightThroughOneHotCategorical {
    relaxed: RelaxedOneHotCategorical,
}

impl StraightThroughOneHotCategorical {
    /// From logits `batch_shape ++ [K]` and a temperature.
    pub fn new(logits: Tensor, temperature: f64) -> Result<Self> {
        Ok(StraightThroughOneHotCategorical {
            relaxed: RelaxedOneHotCategorical::new(logits, temperature)?,
        })
    }

    /// The underlying relaxed law.
    pub fn relaxed(&self) -> &RelaxedOneHotCategorical {
        &self.relaxed
    }
}

impl Distribution for StraightThroughOneHotCategorical {
    delegate_relaxed!("StraightThroughOneHotCategorical");

    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        let shape = with_last(batch_shape, self.relaxed.num_categories());
        let relaxed = RelaxedOneHotCategorical::new(
            self.relaxed.logits().broadcast_as(&shape)?,
            self.relaxed.temperature(),
        )?;
        Ok(Arc::new(StraightThroughOneHotCategorical { relaxed }))
    }

    fn rsample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        let k = self.relaxed.num_categories();
        straight_through(self.relaxed.rsample(sample_shape, rng)?, |x| {
            one_hot(&argmax_last(x)?, k)
        })
    }
}
