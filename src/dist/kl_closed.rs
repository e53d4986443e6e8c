//! Closed-form Kullback–Leibler divergences between two laws of one continuous (or
//! infinite-support) family, reached through [`Distribution::as_any`]. Every formula is
//! `KL(q ‖ p) = E_q[log q − log p]` in math §11's notation; the parameters broadcast.

use super::{
    Beta, Dirichlet, Distribution, Exponential, Gamma, Laplace, LogNormal, Poisson, Uniform,
};
use crate::{Result, Tensor};

/// The closed form of `KL(q ‖ p)` when `q` and `p` are of one family that has one, else
/// `None`.
pub(super) fn closed_form(q: &dyn Distribution, p: &dyn Distribution) -> Option<Result<Tensor>> {
    let (q, p) = (q.as_any()?, p.as_any()?);
    if let (Some(q), Some(p)) = (q.downcast_ref::<Gamma>(), p.downcast_ref::<Gamma>()) {
        return Some(gamma(q, p));
    }
    if let (Some(q), Some(p)) = (q.downcast_ref::<Beta>(), p.downcast_ref::<Beta>()) {
        return Some(beta(q, p));
    }
    if let (Some(q), Some(p)) = (q.downcast_ref::<Dirichlet>(), p.downcast_ref::<Dirichlet>()) {
        return Some(dirichlet(q, p));
    }
    if let (Some(q), Some(p)) = (
        q.downcast_ref::<Exponential>(),
        p.downcast_ref::<Exponential>(),
    ) {
        return Some(exponential(q.rate(), p.rate()));
    }
    if let (Some(q), Some(p)) = (q.downcast_ref::<Poisson>(), p.downcast_ref::<Poisson>()) {
        return Some(poisson(q.rate(), p.rate()));
    }
    if let (Some(q), Some(p)) = (q.downcast_ref::<Laplace>(), p.downcast_ref::<Laplace>()) {
        return Some(laplace(q, p));
    }
    if let (Some(q), Some(p)) = (q.downcast_ref::<LogNormal>(), p.downcast_ref::<LogNormal>()) {
        // The log is a bijection: the divergence is that of the two normals.
        return Some(normal(q.loc(), q.scale(), p.loc(), p.scale()));
    }
    if let (Some(q), Some(p)) = (q.downcast_ref::<Uniform>(), p.downcast_ref::<Uniform>()) {
        return Some(uniform(q, p));
    }
    None
}

/// `r − 1 − log r ≥ 0` for `r = a / b > 0`. Near `r = 1` the direct form cancels, so there
/// it is `d − log1p(d)` with `d = (a − b)/b`; away from 1 (`|d| ≥ ½`, where `1 + d` would
/// lose `d`'s digits) it is `r − 1 − (log a − log b)`.
fn ratio_excess(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let d = a.sub(b)?.div(b)?;
    let near = d.clamp(-0.5, 0.5)?;
    let near = near.sub(&near.log1p()?)?;
    let far = d.sub(&a.log()?.sub(&b.log()?)?)?;
    Tensor::where_cond(&d.abs()?.lt_scalar(0.5)?, &near, &far)
}

/// `Γ(α_q, β_q)` against `Γ(α_p, β_p)`: `(α_q − α_p) ψ(α_q) − log Γ(α_q) + log Γ(α_p)
/// + α_p log(β_q/β_p) + α_q (β_p − β_q)/β_q`.
fn gamma(q: &Gamma, p: &Gamma) -> Result<Tensor> {
    let (aq, bq) = (q.concentration(), q.rate());
    let (ap, bp) = (p.concentration(), p.rate());
    // α_p log(β_q/β_p) + α_q (β_p/β_q − 1) = α_q (r − 1 − log r) + (α_q − α_p) log r with
    // r = β_p/β_q: both terms vanish smoothly as the laws meet.
    let log_r = bp.log()?.sub(&bq.log()?)?;
    let rate_terms = aq
        .mul(&ratio_excess(bp, bq)?)?
        .add(&aq.sub(ap)?.mul(&log_r)?)?;
    aq.sub(ap)?
        .mul(&aq.digamma()?)?
        .sub(&aq.lgamma()?)?
        .add(&ap.lgamma()?)?
        .add(&rate_terms)
}

/// `log B(a, b) = log Γ(a) + log Γ(b) − log Γ(a + b)`.
fn log_beta(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    a.lgamma()?.add(&b.lgamma()?)?.sub(&a.add(b)?.lgamma()?)
}

/// `Beta(a_q, b_q)` against `Beta(a_p, b_p)`: `log B(a_p, b_p) − log B(a_q, b_q)
/// + (a_q − a_p) ψ(a_q) + (b_q − b_p) ψ(b_q) + (a_p − a_q + b_p − b_q) ψ(a_q + b_q)`.
fn beta(q: &Beta, p: &Beta) -> Result<Tensor> {
    let (aq, bq) = (q.alpha(), q.beta());
    let (ap, bp) = (p.alpha(), p.beta());
    let total = aq.add(bq)?;
    log_beta(ap, bp)?
        .sub(&log_beta(aq, bq)?)?
        .add(&aq.sub(ap)?.mul(&aq.digamma()?)?)?
        .add(&bq.sub(bp)?.mul(&bq.digamma()?)?)?
        .add(&ap.sub(aq)?.add(&bp.sub(bq)?)?.mul(&total.digamma()?)?)
}

/// `Dir(α)` against `Dir(β)` over the last axis: `log Γ(α₀) − Σ log Γ(α_k) − log Γ(β₀)
/// + Σ log Γ(β_k) + Σ (α_k − β_k)(ψ(α_k) − ψ(α₀))`.
fn dirichlet(q: &Dirichlet, p: &Dirichlet) -> Result<Tensor> {
    let (a, b) = (q.concentration(), p.concentration());
    let last = a.rank().max(b.rank()) - 1;
    // Both at their common shape, so that sums over the last axis line up.
    let shape = a.shape().broadcast(b.shape(), "kl_divergence")?;
    let (a, b) = (a.broadcast_as(&shape)?, b.broadcast_as(&shape)?);
    let (a0, b0) = (a.sum(last)?, b.sum(last)?);
    let psi_a0 = a0.digamma()?.unsqueeze(last)?;
    let cross = a.sub(&b)?.mul(&a.digamma()?.sub(&psi_a0)?)?.sum(last)?;
    a0.lgamma()?
        .sub(&a.lgamma()?.sum(last)?)?
        .sub(&b0.lgamma()?)?
        .add(&b.lgamma()?.sum(last)?)?
        .add(&cross)
}

/// `Exp(λ_q)` against `Exp(λ_p)`: `r − 1 − log r` with `r = λ_p/λ_q`.
fn exponential(q: &Tensor, p: &Tensor) -> Result<Tensor> {
    ratio_excess(p, q)
}

/// `Poisson(λ_q)` against `Poisson(λ_p)`: `λ_q log(λ_q/λ_p) − λ_q + λ_p
/// = λ_q (r − 1 − log r)` with `r = λ_p/λ_q`.
fn poisson(q: &Tensor, p: &Tensor) -> Result<Tensor> {
    q.mul(&ratio_excess(p, q)?)
}

/// `N(μ_q, σ_q)` against `N(μ_p, σ_p)`: `½ (s² − 1) − log s + ½ ((μ_q − μ_p)/σ_p)²` with
/// `s = σ_q/σ_p`, the first two terms as `½ (s² − 1 − log s²)`.
pub(super) fn normal(mq: &Tensor, sq: &Tensor, mp: &Tensor, sp: &Tensor) -> Result<Tensor> {
    let shift = mq.sub(mp)?.div(sp)?;
    ratio_excess(&sq.square()?, &sp.square()?)?
        .add(&shift.square()?)?
        .mul_scalar(0.5)
}

/// `Laplace(μ_q, b_q)` against `Laplace(μ_p, b_p)`: with `d = |μ_q − μ_p|`,
/// `log(b_p/b_q) + d/b_p + (b_q/b_p) e^{−d/b_q} − 1`, written as
/// `(r − 1 − log r) + d/b_p + r (e^{−d/b_q} − 1)` with `r = b_q/b_p`.
fn laplace(q: &Laplace, p: &Laplace) -> Result<Tensor> {
    let (bq, bp) = (q.scale(), p.scale());
    let d = q.loc().sub(p.loc())?.abs()?;
    let r = bq.div(bp)?;
    ratio_excess(bq, bp)?
        .add(&d.div(bp)?)?
        .add(&r.mul(&d.div(bq)?.neg()?.expm1()?)?)
}

/// `U(a_q, b_q)` against `U(a_p, b_p)`: `log((b_p − a_p)/(b_q − a_q))` where `[a_q, b_q]`
/// lies inside `[a_p, b_p]`, else `+∞`.
fn uniform(q: &Uniform, p: &Uniform) -> Result<Tensor> {
    let wq = q.high().sub(q.low())?;
    let wp = p.high().sub(p.low())?;
    let kl = wp.log()?.sub(&wq.log()?)?;
    let inside = q.low().ge(p.low())?.mul(&q.high().le(p.high())?)?;
    Tensor::where_cond(&inside, &kl, &kl.full_like(f64::INFINITY))
}
