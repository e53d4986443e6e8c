//! Dirichlet: a law on the probability simplex.

use super::continuous::{check_positive, gamma_draw};
use super::implicit::rsample_standard_gamma;
use super::util::extended;
use super::{Distribution, Draw, Support};
use crate::{DType, Device, Error, Result, Rng, Shape, Tensor};
use std::sync::Arc;

/// The Dirichlet law `p(x) = Π_k x_k^{α_k − 1} / B(α)` on the simplex of `K` categories
/// (event shape `[K]`). Draws are exact (normalised Gamma draws); `rsample` reparameterises the
/// Gamma draws implicitly, so gradients reach α through the values.
///
/// ```
/// use pact::dist::{Dirichlet, Distribution};
/// use pact::{DType, Device, Tensor};
/// let alpha = Tensor::from_f64_slice(&[1.0, 1.0, 1.0], [3], DType::F64, Device::Cpu)?;
/// let d = Dirichlet::new(alpha)?;
/// // The flat law on the 2-simplex has density Γ(3) = 2.
/// let x = Tensor::from_f64_slice(&[0.2, 0.3, 0.5], [3], DType::F64, Device::Cpu)?;
/// assert!((d.log_prob(&x)?.to_scalar()? - 2f64.ln()).abs() < 1e-13);
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Dirichlet {
    concentration: Tensor,
}

impl Dirichlet {
    /// The law with concentrations `batch_shape ++ [K]` (`K ≥ 2`, all finite and `> 0`).
    pub fn new(concentration: Tensor) -> Result<Self> {
        check_positive(&concentration, "Dirichlet", "concentration")?;
        match concentration.dims().last() {
            Some(&k) if k >= 2 => Ok(Dirichlet { concentration }),
            _ => Err(Error::invalid(
                "Dirichlet",
                format!(
                    "concentration needs a last axis of at least 2 categories, got shape {}",
                    concentration.shape()
                ),
            )),
        }
    }

    fn last(&self) -> usize {
        self.concentration.rank() - 1
    }

    fn total(&self) -> Result<Tensor> {
        self.concentration.sum_keepdim(self.last())
    }

    /// `log B(α) = Σ log Γ(α_k) − log Γ(Σ α_k)`, batch-shaped.
    fn log_beta_fn(&self) -> Result<Tensor> {
        let last = self.last();
        self.concentration
            .lgamma()?
            .sum(last)?
            .sub(&self.concentration.sum(last)?.lgamma()?)
    }
}

impl Dirichlet {
    /// The concentrations α, `batch_shape ++ [K]` (at the batch shape).
    pub fn concentration(&self) -> &Tensor {
        &self.concentration
    }
}

impl Distribution for Dirichlet {
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
    fn name(&self) -> &'static str {
        "Dirichlet"
    }
    fn batch_shape(&self) -> Shape {
        let d = self.concentration.dims();
        Shape::new(&d[..d.len() - 1])
    }
    fn event_shape(&self) -> Shape {
        Shape::new([self.concentration.dims()[self.last()]])
    }
    fn support(&self) -> Support {
        Support::Simplex
    }
    fn dtype(&self) -> DType {
        self.concentration.dtype()
    }
    fn device(&self) -> Device {
        self.concentration.device()
    }
    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        let shape = extended(&[], batch_shape, &self.event_shape());
        Ok(Arc::new(Dirichlet {
            concentration: self.concentration.broadcast_as(&shape)?,
        }))
    }
    fn has_rsample(&self) -> bool {
        true
    }
    /// The draws of [`Distribution::sample`] (the same random numbers), differentiable in α
    /// through implicitly reparameterised Gamma draws.
    fn rsample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        let shape = extended(sample_shape, &self.batch_shape(), &self.event_shape());
        let alpha = self.concentration.broadcast_as(&shape)?;
        let g = rsample_standard_gamma(&alpha, rng)?;
        let last = shape.rank().saturating_sub(1);
        Ok(Draw::Exact(g.div(&g.sum_keepdim(last)?)?))
    }
    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        let shape = extended(sample_shape, &self.batch_shape(), &self.event_shape());
        let alpha = self.concentration.detach().to_f64_vec();
        let k = self.event_shape().elem_count();
        let repeats = shape.elem_count() / alpha.len().max(1);
        let mut out = Vec::with_capacity(shape.elem_count());
        for _ in 0..repeats {
            for row in alpha.chunks(k) {
                let g: Vec<f64> = row.iter().map(|&a| gamma_draw(rng, a)).collect();
                let total: f64 = g.iter().sum();
                out.extend(g.iter().map(|v| v / total));
            }
        }
        Ok(Draw::Exact(Tensor::from_f64_slice(
            &out,
            shape,
            self.dtype(),
            self.device(),
        )?))
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        let x = value.clamp(f64::MIN_POSITIVE, 1.0)?;
        let last = value.rank().saturating_sub(1);
        self.concentration
            .add_scalar(-1.0)?
            .mul(&x.log()?)?
            .sum(last)?
            .sub(&self.log_beta_fn()?)
    }
    fn mean(&self) -> Result<Tensor> {
        self.concentration.div(&self.total()?)
    }
    /// `α_k (α₀ − α_k) / (α₀² (α₀ + 1))`.
    fn variance(&self) -> Result<Tensor> {
        let total = self.total()?;
        self.concentration
            .mul(&total.sub(&self.concentration)?)?
            .div(&total.square()?.mul(&total.add_scalar(1.0)?)?)
    }
    /// `(α_k − 1)/(α₀ − K)`, defined where every `α_k > 1`.
    fn mode(&self) -> Result<Tensor> {
        if self.concentration.to_f64_vec().iter().any(|a| *a <= 1.0) {
            return Err(Error::unsupported(
                "Dirichlet",
                "mode",
                "the mode is inside the simplex only where every concentration is > 1",
            ));
        }
        let k = self.event_shape().elem_count() as f64;
        self.concentration
            .add_scalar(-1.0)?
            .div(&self.total()?.add_scalar(-k)?)
    }
    /// `log B(α) + (α₀ − K) ψ(α₀) − Σ_k (α_k − 1) ψ(α_k)`.
    fn entropy(&self) -> Result<Tensor> {
        let last = self.last();
        let k = self.event_shape().elem_count() as f64;
        let total = self.concentration.sum(last)?;
        self.log_beta_fn()?
            .add(&total.add_scalar(-k)?.mul(&total.digamma()?)?)?
            .sub(
                &self
                    .concentration
                    .add_scalar(-1.0)?
                    .mul(&self.concentration.digamma()?)?
                    .sum(last)?,
            )
    }
}
