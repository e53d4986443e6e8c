//! Student's t: a heavy-tailed location-scale law.

use super::continuous::{check_finite, check_positive, gamma_draw, host_samples};
use super::implicit::reparameterised_gamma;
use super::util::extended;
use super::{Distribution, Draw, Support};
use crate::{DType, Device, Error, Result, Rng, Shape, Tensor};
use std::f64::consts::PI;
use std::sync::Arc;

/// Student's t law with `ν` degrees of freedom, location `μ` and scale `σ`:
/// `p(x) = Γ((ν+1)/2) / (Γ(ν/2) √(νπ) σ) · (1 + ((x − μ)/σ)²/ν)^{−(ν+1)/2}`. Draws are exact
/// (a normal over the root of a scaled chi-square, `μ + σ z / √(2g/ν)` with `g ~ Gamma(ν/2, 1)`);
/// `rsample` reparameterises them, the Gamma draw implicitly (math §12), so gradients reach `ν`,
/// `μ` and `σ` through the values.
///
/// ```
/// use pact::dist::{Distribution, StudentT};
/// use pact::{DType, Device, Tensor};
/// let s = |v: f64| Tensor::scalar(v, DType::F64, Device::Cpu);
/// // One degree of freedom: the Cauchy law, density 1/π at its centre.
/// let d = StudentT::new(s(1.0), s(0.0), s(1.0))?;
/// assert!((d.log_prob(&s(0.0))?.to_scalar()? + std::f64::consts::PI.ln()).abs() < 1e-13);
/// assert!(d.mean().is_err()); // the Cauchy law has no mean
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct StudentT {
    df: Tensor,
    loc: Tensor,
    scale: Tensor,
}

impl StudentT {
    /// The law with degrees of freedom `df` (finite, `> 0`), location `loc` (finite) and
    /// scale `scale` (finite, `> 0`).
    pub fn new(df: Tensor, loc: Tensor, scale: Tensor) -> Result<Self> {
        check_positive(&df, "StudentT", "df")?;
        check_finite(&loc, "StudentT", "loc")?;
        check_positive(&scale, "StudentT", "scale")?;
        let shape = df
            .shape()
            .broadcast(loc.shape(), "StudentT")?
            .broadcast(scale.shape(), "StudentT")?;
        Ok(StudentT {
            df: df.broadcast_as(&shape)?,
            loc: loc.broadcast_as(&shape)?,
            scale: scale.broadcast_as(&shape)?,
        })
    }

    fn min_df(&self) -> f64 {
        self.df
            .to_f64_vec()
            .into_iter()
            .fold(f64::INFINITY, f64::min)
    }
}

impl Distribution for StudentT {
    fn name(&self) -> &'static str {
        "StudentT"
    }
    fn batch_shape(&self) -> Shape {
        self.loc.shape().clone()
    }
    fn event_shape(&self) -> Shape {
        Shape::scalar()
    }
    fn support(&self) -> Support {
        Support::Real
    }
    fn dtype(&self) -> DType {
        self.loc.dtype()
    }
    fn device(&self) -> Device {
        self.loc.device()
    }
    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        Ok(Arc::new(StudentT {
            df: self.df.broadcast_as(batch_shape)?,
            loc: self.loc.broadcast_as(batch_shape)?,
            scale: self.scale.broadcast_as(batch_shape)?,
        }))
    }
    fn has_rsample(&self) -> bool {
        true
    }
    /// The draws of [`Distribution::sample`] (the same random numbers), differentiable in `ν`
    /// (through the implicitly reparameterised Gamma draw), `μ` and `σ`.
    fn rsample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        use rand_distr::Distribution as _;
        let shape = extended(sample_shape, &self.batch_shape(), &Shape::scalar());
        let nu = self.df.broadcast_as(&shape)?;
        let half_nu = nu.mul_scalar(0.5)?;
        let (mut z, mut g) = (Vec::new(), Vec::new());
        for &h in &half_nu.detach().to_f64_vec() {
            // The order of `sample`: the normal draw, then the Gamma draw, element by element.
            z.push(rand_distr::StandardNormal.sample(rng.inner()));
            g.push(gamma_draw(rng, h));
        }
        let z = Tensor::from_f64_slice(&z, shape.clone(), self.dtype(), self.device())?;
        let g = reparameterised_gamma(&g, &half_nu)?;
        let root = g.mul_scalar(2.0)?.div(&nu)?.sqrt()?;
        let x = self
            .loc
            .broadcast_as(&shape)?
            .add(&self.scale.broadcast_as(&shape)?.mul(&z.div(&root)?)?)?;
        Ok(Draw::Exact(x))
    }
    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        use rand_distr::Distribution as _;
        let params = [&self.df, &self.loc, &self.scale];
        let x = host_samples(
            sample_shape,
            &self.batch_shape(),
            &params,
            self.dtype(),
            self.device(),
            rng,
            |rng, p| {
                let z: f64 = rand_distr::StandardNormal.sample(rng.inner());
                let chi2 = 2.0 * gamma_draw(rng, p[0] / 2.0);
                p[1] + p[2] * z / (chi2 / p[0]).sqrt()
            },
        )?;
        Ok(Draw::Exact(x))
    }
    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        let nu = &self.df;
        let z = value.sub(&self.loc)?.div(&self.scale)?;
        let half_nu1 = nu.add_scalar(1.0)?.mul_scalar(0.5)?;
        // log Γ((ν+1)/2) − log Γ(ν/2) in one piece, so that it keeps its digits at large ν.
        nu.mul_scalar(0.5)?
            .lgamma_half_step()?
            .sub(&nu.mul_scalar(PI)?.log()?.mul_scalar(0.5)?)?
            .sub(&self.scale.log()?)?
            .sub(&half_nu1.mul(&z.square()?.div(nu)?.log1p()?)?)
    }
    /// `μ`, defined where `ν > 1`.
    fn mean(&self) -> Result<Tensor> {
        if self.min_df() <= 1.0 {
            return Err(Error::unsupported(
                "StudentT",
                "mean",
                "the mean exists only where df > 1",
            ));
        }
        Ok(self.loc.clone())
    }
    /// `σ² ν/(ν − 2)` where `ν > 2`, `+∞` where `1 < ν ≤ 2`; undefined where `ν ≤ 1`.
    fn variance(&self) -> Result<Tensor> {
        if self.min_df() <= 1.0 {
            return Err(Error::unsupported(
                "StudentT",
                "variance",
                "the variance exists only where df > 1",
            ));
        }
        let nu = &self.df;
        let v = self.scale.square()?.mul(nu)?.div(&nu.add_scalar(-2.0)?)?;
        Tensor::where_cond(&nu.gt_scalar(2.0)?, &v, &v.scalar_like(f64::INFINITY))
    }
    fn mode(&self) -> Result<Tensor> {
        Ok(self.loc.clone())
    }
    /// `(ν+1)/2 (ψ((ν+1)/2) − ψ(ν/2)) + ½ log ν + log B(ν/2, ½) + log σ`, with
    /// `log B(ν/2, ½) = ½ log π − (log Γ((ν+1)/2) − log Γ(ν/2))` and both differences taken in
    /// one piece ([`Tensor::lgamma_half_step`], [`Tensor::digamma_half_step`]), so that it
    /// keeps its digits at large ν.
    fn entropy(&self) -> Result<Tensor> {
        let nu = &self.df;
        let half_nu = nu.mul_scalar(0.5)?;
        let log_beta = half_nu
            .lgamma_half_step()?
            .neg()?
            .add_scalar(0.5 * PI.ln())?;
        nu.add_scalar(1.0)?
            .mul_scalar(0.5)?
            .mul(&half_nu.digamma_half_step()?)?
            .add(&nu.log()?.mul_scalar(0.5)?)?
            .add(&log_beta)?
            .add(&self.scale.log()?)
    }
}
