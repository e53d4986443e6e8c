//! The terms of one sampled objective: the model replayed on a guide sample, closed-form
//! expectations where available, entropies and the score-function log-probabilities.

use super::estimator::{with_estimators, EstimatorPolicy};
use super::SiteReport;
use crate::Result;
use pact::dist::Distribution;
use pact::nn::ParamStore;
use pact::ppl::{replay, run, Ctx, PlateFrame, Relaxation, Site, SiteKind, Trace};
use pact::{Rng, Tensor};
use std::sync::Arc;

/// One sample of an objective.
pub(crate) struct Terms {
    /// The differentiable estimate of the objective (pathwise and closed-form parts).
    pub f: Tensor,
    /// The value of the closed-form terms (priors and entropies) of guide sites that come
    /// before any score-function site: they do not depend on a score-function sample, so the
    /// score-function reward leaves them out (they would add noise, not signal).
    pub fixed: f64,
    /// `Σ log q(z)` over the score-function sites, if any.
    pub log_q_sf: Option<Tensor>,
    /// The closed-form entropy of `q` (summed), if every discrete site has one.
    pub entropy: Option<f64>,
    /// Per guide site.
    pub sites: Vec<SiteReport>,
    /// The per-element reward and score of the leave-one-out baseline, when it is asked for
    /// and there are score-function sites.
    pub per_element: Option<PerElementTerms>,
}

/// The terms of one sample per element of the leave-one-out baseline's plate
/// ([`Baseline::leave_one_out`](super::Baseline::leave_one_out)).
pub(crate) struct PerElementTerms {
    /// `r_i`: per element, the sum of `scale · log p` of the model's sites in the plate whose
    /// terms are not in closed form (minus `scale · log q` of guide sites in the plate
    /// without a closed-form entropy, for the ELBO). Detached values, one per element.
    pub reward: Vec<f64>,
    /// `log q_i`: per element, `Σ log q(z)` over the score-function sites, not scaled;
    /// differentiable, shape `[n]`.
    pub log_q: Tensor,
}

/// The frame of the plate `plate` among a site's plates, if the site sits in it.
fn frame_of<'a>(site: &'a Site, plate: &str) -> Option<&'a PlateFrame> {
    site.plates.iter().find(|f| f.name == plate)
}

/// A tensor of a site's batch shape (its log-probability) summed over every axis but the
/// plate's: shape `[n]`, `n` the number of elements present.
fn per_element(site: &Site, t: &Tensor, frame: &PlateFrame) -> Result<Tensor> {
    let n = frame.subsample_size;
    let axis = frame
        .axis(t.rank())
        .filter(|&a| t.dims()[a] == n)
        .ok_or_else(|| {
            crate::Error::Objective(format!(
                "leave-one-out baseline over plate {:?}: the log-probability of site {:?} \
                 (shape {}) has no axis of the plate's {n} elements",
                frame.name,
                site.name,
                t.shape()
            ))
        })?;
    let mut reduced = t.clone();
    for a in (0..t.rank()).filter(|&a| a != axis) {
        reduced = reduced.sum_keepdim(a)?;
    }
    Ok(reduced.reshape([n])?)
}

/// Refuses a leave-one-out plate that no site of the model or guide sits in.
fn check_plate(plate: &str, q: &Trace, p: &Trace) -> Result<()> {
    let mut known: Vec<&str> = Vec::new();
    for site in q.iter().chain(p.iter()) {
        for f in &site.plates {
            if f.name == plate {
                return Ok(());
            }
            if !known.contains(&f.name.as_str()) {
                known.push(&f.name);
            }
        }
    }
    Err(crate::Error::Objective(format!(
        "the leave-one-out baseline's plate {plate:?} is not a plate of any site of the model \
         or the guide (their plates: {})",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    )))
}

/// `Σ_z q(z) log p(z)` summed over the batch, for two laws with the same finite support and
/// shapes (rank 0, differentiable), or `None` where there is no such closed form.
///
/// ```
/// use pact::dist::{Bernoulli, TruncatedGeometric};
/// use pact::{DType, Device, Tensor};
/// use pact_inference::objectives::expected_log_prob_closed_form;
/// let q = TruncatedGeometric::scalar(0.5, 4, DType::F64, Device::Cpu)?;
/// let p = TruncatedGeometric::scalar(0.1, 4, DType::F64, Device::Cpu)?;
/// assert!(expected_log_prob_closed_form(&q, &p)?.is_some());
/// let b = Bernoulli::new(Tensor::scalar(0.0, DType::F64, Device::Cpu))?;
/// assert!(expected_log_prob_closed_form(&q, &b)?.is_none());
/// # Ok::<(), pact_inference::Error>(())
/// ```
pub fn expected_log_prob_closed_form(
    q: &dyn Distribution,
    p: &dyn Distribution,
) -> Result<Option<Tensor>> {
    if !comparable(q, p) {
        return Ok(None);
    }
    let support = q.enumerate_support()?;
    let lq = q.log_prob(&support)?;
    let lp = p.log_prob(&support)?;
    Ok(Some(lq.exp()?.mul(&lp)?.sum_all()?))
}

/// Whether `Σ_z q(z) log p(z)` has a closed form: both laws enumerable over the same support,
/// with the same shapes.
fn comparable(q: &dyn Distribution, p: &dyn Distribution) -> bool {
    q.has_enumerate_support()
        && p.has_enumerate_support()
        && q.support() == p.support()
        && q.event_shape() == p.event_shape()
        && q.batch_shape() == p.batch_shape()
}

/// [`expected_log_prob_closed_form`] with the site's mask applied element by element.
fn masked_closed_form(
    q: &dyn Distribution,
    p: &dyn Distribution,
    mask: Option<&Tensor>,
) -> Result<Option<Tensor>> {
    let Some(mask) = mask else {
        return expected_log_prob_closed_form(q, p);
    };
    if !comparable(q, p) {
        return Ok(None);
    }
    let support = q.enumerate_support()?;
    let lq = q.log_prob(&support)?;
    let lp = p.log_prob(&support)?;
    let per_element = lq.exp()?.mul(&lp)?.sum(0)?;
    Ok(Some(per_element.mul(mask)?.sum_all()?))
}

fn add(acc: Option<Tensor>, t: Tensor) -> Result<Option<Tensor>> {
    Ok(Some(match acc {
        Some(a) => a.add(&t)?,
        None => t,
    }))
}

fn zero_like(t: &Trace) -> Tensor {
    let (dtype, device) = t
        .iter()
        .next()
        .map(|s| (s.value().dtype(), s.value().device()))
        .unwrap_or((pact::DType::F64, pact::Device::Cpu));
    Tensor::scalar(0.0, dtype, device)
}

/// Whether a guide site is estimated by the score function: a latent whose value is neither
/// relaxed nor reparameterised.
pub(crate) fn is_score_function(site: &Site) -> bool {
    site.is_latent()
        && site.relaxed.is_none()
        && site.dist.as_ref().is_some_and(|d| !d.has_rsample())
}

/// Refuses a model latent site that neither the guide draws nor the model guides itself,
/// unless it is allowed to come from its prior: the objective would sample it from the prior
/// without a word (and score its log-probability as if it were a guide's draw).
pub(crate) fn check_covered(
    q: &Trace,
    p: &Trace,
    prior_sites: &std::collections::BTreeSet<String>,
) -> Result<()> {
    // A decoded site's value is fixed by the model's handlers, not drawn from its prior.
    for site in p
        .iter()
        .filter(|s| s.is_latent() && !s.is_guided() && !s.decoded)
    {
        let covered = q.get(&site.name).is_some_and(|g| g.is_latent());
        if !covered && !prior_sites.contains(&site.name) {
            return Err(crate::Error::Objective(format!(
                "the model's latent site {:?} is neither drawn by the guide nor guided \
                 (sample_guided), so it would come from its prior: cover it in the guide, or \
                 allow it with .allow_prior_sites([{:?}])",
                site.name, site.name
            )));
        }
    }
    Ok(())
}

/// A latent site seen from the guide's side: a site of the guide's trace, or a guided site of
/// the model's trace (whose posterior is its guide law).
struct GuideSide<'a> {
    site: &'a Site,
    /// `q` at the site.
    law: &'a Arc<dyn Distribution>,
    /// Whether it is estimated by the score function.
    score_function: bool,
}

impl GuideSide<'_> {
    /// `log q(value)`, the site's batch shape, not scaled.
    fn log_q(&self) -> Option<&Tensor> {
        if self.site.is_guided() {
            self.site.guide_log_prob.as_ref()
        } else {
            self.site.log_prob.as_ref()
        }
    }

    /// `scale · Σ log q(value)`.
    fn scaled_log_q(&self) -> Result<Option<Tensor>> {
        Ok(if self.site.is_guided() {
            self.site.scaled_guide_log_prob()?
        } else {
            self.site.scaled_log_prob()?
        })
    }
}

/// The guide's latent sites, then the model's guided sites, in execution order; a guided
/// model site that the guide also draws is an error, and so is a guide site the model does
/// not have (a misspelt name would leave the model's site drawn from its prior, unscored
/// against the guide, without a word).
fn guide_sides<'a>(q: &'a Trace, p: &'a Trace) -> Result<Vec<GuideSide<'a>>> {
    let mut out = Vec::new();
    for site in q.iter().filter(|s| s.is_latent()) {
        if p.get(&site.name).is_none() {
            let latent: Vec<&str> = p
                .iter()
                .filter(|s| s.is_latent())
                .map(|s| s.name.as_str())
                .collect();
            return Err(crate::Error::Objective(format!(
                "the guide's site {:?} has no site of that name in the model (the model's \
                 latent sites: {})",
                site.name,
                if latent.is_empty() {
                    "none".to_string()
                } else {
                    latent.join(", ")
                }
            )));
        }
        if let Some(law) = &site.dist {
            out.push(GuideSide {
                site,
                law,
                score_function: is_score_function(site),
            });
        }
    }
    for site in p.iter().filter(|s| s.is_guided()) {
        if q.get(&site.name).is_some_and(|g| g.is_latent()) {
            return Err(crate::Error::Objective(format!(
                "site {:?} is guided in the model (sample_guided) and drawn by the guide too",
                site.name
            )));
        }
        if let Some(law) = &site.guide {
            out.push(GuideSide {
                site,
                law,
                score_function: site.guide_relaxed.is_none() && !law.has_rsample(),
            });
        }
    }
    Ok(out)
}

/// Runs the guide with the estimators of `policy` at `temperature`, replays the model on
/// its trace (relaxed the same way) and assembles the terms of
/// `E_q[log p(x, z)]` (plus `H[q]` if `entropy`); with `leave_one_out`, a plate name, also
/// the per-element terms of the leave-one-out baseline over it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sample_terms<T, U>(
    model: &impl Fn(&mut Ctx) -> pact::Result<T>,
    guide: &impl Fn(&mut Ctx) -> pact::Result<U>,
    params: &ParamStore,
    rng: &mut Rng,
    policy: &Arc<EstimatorPolicy>,
    temperature: f64,
    entropy: bool,
    closed_form: bool,
    prior_sites: &std::collections::BTreeSet<String>,
    leave_one_out: Option<&str>,
) -> Result<Terms> {
    let (_, q) = run(
        &with_estimators(policy.clone(), temperature, guide),
        params,
        rng,
    )?;
    let (_, p) = run(
        &with_estimators(policy.clone(), temperature, replay(q.clone(), model)),
        params,
        rng,
    )?;
    let sides = guide_sides(&q, &p)?;
    check_covered(&q, &p, prior_sites)?;
    // Guide sites drawn up to the first score-function site: their closed-form terms cannot
    // depend on a score-function sample. Without such a site there is no reward to keep them
    // out of (and no value to read back from the device).
    let mut before_sf = Vec::new();
    let mut has_sf = false;
    for side in &sides {
        before_sf.push(side.site.name.clone());
        if side.score_function {
            has_sf = true;
            break;
        }
    }
    let independent = |name: &str| has_sf && before_sf.iter().any(|n| n == name);
    if let Some(plate) = leave_one_out {
        check_plate(plate, &q, &p)?;
    }
    // The plate of the per-element reward: only where there is a score-function site to
    // reward.
    let loo = leave_one_out.filter(|_| has_sf);
    let mut reward: Option<Tensor> = None;
    // Adds `sign · scale · t` at each element to the reward, for a site in the plate.
    let mut add_reward = |site: &Site, t: &Tensor, sign: f64| -> Result<()> {
        let Some(frame) = loo.and_then(|plate| frame_of(site, plate)) else {
            return Ok(());
        };
        let r = per_element(site, &t.detach(), frame)?.mul_scalar(sign * site.scale)?;
        reward = add(reward.take(), r)?;
        Ok(())
    };
    let mut fixed = 0.0;
    let mut f: Option<Tensor> = None;
    let mut closed = Vec::new();
    for site in p.iter() {
        match site.kind {
            SiteKind::Param => {}
            SiteKind::Observe | SiteKind::Factor => {
                if let Some(t) = site.scaled_log_prob()? {
                    f = add(f, t)?;
                }
                if let Some(lp) = &site.log_prob {
                    add_reward(site, lp, 1.0)?;
                }
            }
            SiteKind::Sample => {
                let guide_law = if site.is_guided() {
                    site.guide.clone()
                } else {
                    q.get(&site.name)
                        .filter(|g| g.is_latent())
                        .and_then(|g| g.dist.clone())
                };
                let pair = guide_law.zip(site.dist.clone());
                // A custom relaxation replaces the law and its term (ACT's −λ(N + R), say),
                // so its own log-density stands.
                let custom = matches!(site.relaxation, Relaxation::Custom(_));
                let exact = match (closed_form && !custom, pair) {
                    (true, Some((gq, gp))) => masked_closed_form(&*gq, &*gp, site.mask.as_ref())?,
                    _ => None,
                };
                match exact {
                    Some(e) => {
                        closed.push(site.name.clone());
                        let e = e.mul_scalar(site.scale)?;
                        if independent(&site.name) {
                            fixed += e.to_scalar()?;
                        }
                        f = add(f, e)?;
                    }
                    None => {
                        if let Some(t) = site.scaled_log_prob()? {
                            f = add(f, t)?;
                        }
                        if let Some(lp) = &site.log_prob {
                            add_reward(site, lp, 1.0)?;
                        }
                    }
                }
            }
        }
    }
    let mut log_q_sf: Option<Tensor> = None;
    let mut log_q_elements: Option<Tensor> = None;
    let mut total_entropy = Some(0.0);
    let mut sites = Vec::new();
    for side in &sides {
        let (site, dist) = (side.site, side.law);
        let closed_entropy = match dist.entropy() {
            Ok(h) => {
                let h = match &site.mask {
                    Some(m) => h.mul(m)?,
                    None => h,
                };
                Some(h.sum_all()?.mul_scalar(site.scale)?)
            }
            Err(_) => None,
        };
        let sf = side.score_function;
        if sf {
            if let Some(t) = side.scaled_log_q()? {
                log_q_sf = add(log_q_sf, t)?;
            }
            if let (Some(plate), Some(lq)) = (loo, side.log_q()) {
                let frame = frame_of(site, plate).ok_or_else(|| {
                    crate::Error::Objective(format!(
                        "the score-function site {:?} is not in the plate {plate:?} of the \
                         leave-one-out baseline, so it has no per-element reward",
                        site.name
                    ))
                })?;
                log_q_elements = add(log_q_elements, per_element(site, lq, frame)?)?;
            }
        }
        if entropy {
            let h = match &closed_entropy {
                Some(h) => {
                    if independent(&site.name) {
                        fixed += h.to_scalar()?;
                    }
                    h.clone()
                }
                None => match side.scaled_log_q()? {
                    Some(t) => {
                        if let Some(lq) = side.log_q() {
                            add_reward(site, lq, -1.0)?;
                        }
                        t.mul_scalar(-1.0)?
                    }
                    None => continue,
                },
            };
            f = add(f, h)?;
        }
        let h_value = match &closed_entropy {
            Some(h) => Some(h.to_scalar()?),
            None => None,
        };
        total_entropy = match (total_entropy, h_value) {
            (Some(a), Some(b)) => Some(a + b),
            _ if dist.is_discrete() => None,
            (a, _) => a,
        };
        let estimator = if sf {
            "score-function".to_string()
        } else if matches!(site.relaxation, Relaxation::Exact) {
            "reparameterised".to_string()
        } else {
            site.relaxation.label()
        };
        sites.push(SiteReport {
            name: site.name.clone(),
            estimator,
            entropy: h_value,
            closed_form_prior: closed.contains(&site.name),
        });
    }
    let per_element = match log_q_elements {
        Some(log_q) => {
            let reward = match reward {
                Some(r) => r.to_f64_vec(),
                None => vec![0.0; log_q.dims()[0]],
            };
            if reward.len() != log_q.dims()[0] {
                return Err(crate::Error::Objective(format!(
                    "leave-one-out baseline: {} rewards for {} score-function elements (do the \
                     model and the guide give the plate the same size?)",
                    reward.len(),
                    log_q.dims()[0]
                )));
            }
            Some(PerElementTerms { reward, log_q })
        }
        None => None,
    };
    Ok(Terms {
        f: f.unwrap_or_else(|| zero_like(&p)),
        fixed,
        log_q_sf,
        entropy: total_entropy,
        sites,
        per_element,
    })
}
