//! Kullback–Leibler divergences with closed forms.

use super::util::xmul;
use super::Distribution;
use crate::{Error, Result, Tensor};

/// `KL(q ‖ p) = E_q[log q − log p]`, shape = the batch shape.
///
/// - Two laws with the same finite support (Bernoulli, Categorical, OneHotCategorical,
///   TruncatedGeometric, in any combination with equal supports): the exact sum over the
///   support, `Σ_v q(v) (log q(v) − log p(v))`, with `0 · log 0 = 0`, so it is `+∞` only
///   where `q` puts mass on a value `p` excludes.
/// - Two laws of one family with a closed form: [`Normal`](super::Normal),
///   [`LogNormal`](super::LogNormal), [`Gamma`](super::Gamma), [`Beta`](super::Beta),
///   [`Dirichlet`](super::Dirichlet), [`Exponential`](super::Exponential),
///   [`Poisson`](super::Poisson), [`Laplace`](super::Laplace) and
///   [`Uniform`](super::Uniform) (`+∞` where `q`'s interval reaches outside `p`'s). The
///   formulas are in math §11; they are written so that the divergence of two nearly equal
///   laws keeps its digits (`r − 1 − log r` as `d − log1p(d)`).
///
/// The laws' batch shapes broadcast against each other, and the result has the broadcast
/// shape. A divergence that rounding would leave below 0 is 0. Other pairs are [`Error::Unsupported`]. This is the divergence that relaxed objectives
/// often use in place of the (unbounded) divergence between the relaxed laws, as in the
/// Gumbel-softmax VAE of Jang et al. (2017).
///
/// ```
/// use pact::dist::{kl_divergence, Bernoulli};
/// use pact::{DType, Device, Tensor};
/// let q = Bernoulli::from_probs(Tensor::scalar(0.5, DType::F64, Device::Cpu))?;
/// let p = Bernoulli::from_probs(Tensor::scalar(0.25, DType::F64, Device::Cpu))?;
/// let kl = kl_divergence(&q, &p)?.to_scalar()?;
/// assert!((kl - (0.5 * (0.5f64 / 0.25).ln() + 0.5 * (0.5f64 / 0.75).ln())).abs() < 1e-12);
/// # Ok::<(), pact::Error>(())
/// ```
pub fn kl_divergence(q: &dyn Distribution, p: &dyn Distribution) -> Result<Tensor> {
    if q.has_enumerate_support() && p.has_enumerate_support() && q.support() == p.support() {
        // Both laws at their common batch shape first: the support enumerates along a new
        // leading axis, which must line up with neither law's batch axes.
        let batch = q
            .batch_shape()
            .broadcast(&p.batch_shape(), "kl_divergence")?;
        let (q, p) = (q.expand(&batch)?, p.expand(&batch)?);
        let values = q.enumerate_support()?;
        let (lq, lp) = (q.log_prob(&values)?, p.log_prob(&values)?);
        let kl = xmul(&lq.exp()?, &lq.sub(&lp)?)?.sum(0)?;
        // Rounding can leave a divergence between nearly equal laws a little below 0; it is
        // never negative.
        return Tensor::where_cond(&kl.lt_scalar(0.0)?, &kl.zeros_like(), &kl);
    }
    if q.name() == "Normal" && p.name() == "Normal" {
        let (qm, qs) = normal_parameters(q)?;
        let (pm, ps) = normal_parameters(p)?;
        return super::kl_closed::normal(&qm, &qs, &pm, &ps);
    }
    if let Some(kl) = super::kl_closed::closed_form(q, p) {
        return kl;
    }
    Err(Error::unsupported(
        q.name(),
        "kl_divergence",
        format!("no closed form against {}", p.name()),
    ))
}

/// The mean and standard deviation of a [`Normal`].
fn normal_parameters(d: &dyn Distribution) -> Result<(Tensor, Tensor)> {
    Ok((d.mean()?, d.variance()?.sqrt()?))
}
