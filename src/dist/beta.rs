//! Beta: a law on the unit interval.

use super::continuous::{check_positive, gamma_draw, host_samples};
use super::implicit::reparameterised_gamma;
use super::util::extended;
use super::{Distribution, Draw, Support};
use crate::{DType, Device, Error, Result, Rng, Shape, Tensor};
use std::sync::Arc;

/// The Beta law `p(x) = x^{α−1} (1 − x)^{β−1} / B(α, β)` on `(0, 1)`. Draws are exact (two
/// Gamma draws, `x = g_α / (g_α + g_β)`); `rsample` reparameterises both Gamma draws
/// implicitly, so gradients reach α and β through the values.
///
/// ```
/// use pact::dist::{Beta, Distribution};
/// use pact::{DType, Device, Tensor};
/// let s = |v: f64| Tensor::scalar(v, DType::F64, Device::Cpu);
/// let d = Beta::new(s(2.0), s(3.0))?;
/// // 12 x (1 − x)² at x = 0.5: 1.5.
/// assert!((d.log_prob(&s(0.5))?.to_scalar()? - 1.5f64.ln()).abs() < 1e-13);
/// assert_eq!(d.mean()?.to_scalar()?, 0.4);
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Beta {
    alpha: Tensor,
    beta: Tensor,
}

impl Beta {
    /// The law with concentrations `alpha` and `beta`, both finite and `> 0`.
    pub fn new(alpha: Tensor, beta: Tensor) -> Result<Self> {
        check_positive(&alpha, "Beta", "alpha")?;
        check_positive(&beta, "Beta", "beta")?;
        let shape = alpha.shape().broadcast(beta.shape(), "Beta")?;
        Ok(Beta {
            alpha: alpha.broadcast_as(&shape)?,
            beta: beta.broadcast_as(&shape)?,
        })
    }

    /// `log B(α, β)`.
    fn log_beta_fn(&self) -> Result<Tensor> {
        let (a, b) = (&self.alpha, &self.beta);
        a.lgamma()?.add(&b.lgamma()?)?.sub(&a.add(b)?.lgamma()?)
    }
}

impl Beta {
    /// The first concentration α (at the batch shape).
    pub fn alpha(&self) -> &Tensor {
        &self.alpha
    }

    /// The second concentration β (at the batch shape).
    pub fn beta(&self) -> &Tensor {
        &self.beta
    }
}

impl Distribution for Beta {
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
    fn name(&self) -> &'static str {
        "Beta"
    }
    fn batch_shape(&self) -> Shape {
        self.alpha.shape().clone()
    }
    fn event_shape(&self) -> Shape {
        Shape::scalar()
    }
    fn support(&self) -> Support {
        Support::UnitInterval
    }
    fn dtype(&self) -> DType {
        self.alpha.dtype()
    }
    fn device(&self) -> Device {
        self.alpha.device()
    }
    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        Ok(Arc::new(Beta {
            alpha: self.alpha.broadcast_as(batch_shape)?,
            beta: self.beta.broadcast_as(batch_shape)?,
        }))
    }
    fn has_rsample(&self) -> bool {
        true
    }
    /// The draws of [`Distribution::sample`] (the same random numbers), differentiable in α
    /// and β through implicitly reparameterised Gamma draws.
    fn rsample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        let shape = extended(sample_shape, &self.batch_shape(), &Shape::scalar());
        let (alpha, beta) = (
            self.alpha.broadcast_as(&shape)?,
            self.beta.broadcast_as(&shape)?,
        );
        let (a, b) = (alpha.detach().to_f64_vec(), beta.detach().to_f64_vec());
        let (mut x, mut y) = (Vec::with_capacity(a.len()), Vec::with_capacity(a.len()));
        for (&a, &b) in a.iter().zip(&b) {
            // The order of `sample`: the α draw, then the β draw, element by element.
            x.push(gamma_draw(rng, a));
            y.push(gamma_draw(rng, b));
        }
        let x = reparameterised_gamma(&x, &alpha)?;
        let y = reparameterised_gamma(&y, &beta)?;
        Ok(Draw::Exact(x.div(&x.add(&y)?)?))
    }
    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        let params = [&self.alpha, &self.beta];
        let x = host_samples(
            sample_shape,
            &self.batch_shape(),
            &params,
            self.dtype(),
            self.device(),
            rng,
            |rng, p| {
                let (x, y) = (gamma_draw(rng, p[0]), gamma_draw(rng, p[1]));
                x / (x + y)
            },
        )?;
        Ok(Draw::Exact(x))
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        let x = value.clamp(f64::MIN_POSITIVE, 1.0)?;
        let lp = self
            .alpha
            .add_scalar(-1.0)?
            .mul(&x.log()?)?
            .add(&self.beta.add_scalar(-1.0)?.mul(&x.neg()?.log1p()?)?)?
            .sub(&self.log_beta_fn()?)?;
        let inside = value.gt_scalar(0.0)?.mul(&value.lt_scalar(1.0)?)?;
        Tensor::where_cond(&inside, &lp, &lp.scalar_like(f64::NEG_INFINITY))
    }
    fn mean(&self) -> Result<Tensor> {
        self.alpha.div(&self.alpha.add(&self.beta)?)
    }
    fn variance(&self) -> Result<Tensor> {
        let total = self.alpha.add(&self.beta)?;
        self.alpha
            .mul(&self.beta)?
            .div(&total.square()?.mul(&total.add_scalar(1.0)?)?)
    }
    /// `(α − 1)/(α + β − 2)`, defined where `α > 1` and `β > 1`.
    fn mode(&self) -> Result<Tensor> {
        let (a, b) = (self.alpha.to_f64_vec(), self.beta.to_f64_vec());
        if a.iter().zip(&b).any(|(a, b)| *a <= 1.0 || *b <= 1.0) {
            return Err(Error::unsupported(
                "Beta",
                "mode",
                "the mode is unique and inside (0, 1) only where alpha > 1 and beta > 1",
            ));
        }
        let am1 = self.alpha.add_scalar(-1.0)?;
        am1.div(&am1.add(&self.beta.add_scalar(-1.0)?)?)
    }
    /// `log B(α, β) − (α − 1)ψ(α) − (β − 1)ψ(β) + (α + β − 2)ψ(α + β)`.
    fn entropy(&self) -> Result<Tensor> {
        let (a, b) = (&self.alpha, &self.beta);
        let total = a.add(b)?;
        self.log_beta_fn()?
            .sub(&a.add_scalar(-1.0)?.mul(&a.digamma()?)?)?
            .sub(&b.add_scalar(-1.0)?.mul(&b.digamma()?)?)?
            .add(&total.add_scalar(-2.0)?.mul(&total.digamma()?)?)
    }
}
