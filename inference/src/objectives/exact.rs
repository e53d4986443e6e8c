//! `Exact`: the expectation over the guide by enumeration.

use super::{Estimate, Objective, SiteReport};
use crate::{Error, Result};
use pact::nn::ParamStore;
use pact::ppl::{
    enumerate, replay, run, Ctx, ParallelEnum, PlateFrame, Select, Site, SiteKind, Trace,
};
use pact::{Rng, Shape, Tensor};

/// The exact expectation `Σ_z q(z) [log p(x, z) (− log q(z))]` over every discrete guide
/// site with a finite support, by running the guide once per configuration
/// ([`pact::ppl::enumerate()`]) and the model on each. Differentiable: its gradient is the
/// exact gradient the sampled objectives estimate. Suits small models.
///
/// Two engines compute the same expectation:
///
/// - **run by run** ([`pact::ppl::enumerate()`]), the default while the guide has at most
///   [`MAX_RUNS`](pact::ppl::enumerate::MAX_RUNS) configurations: either every enumerated
///   site sits outside all plates (joint enumeration), or all sit in the same plates and each
///   plate element's terms depend on its own values only (the expectation is then taken per
///   element, at a cost of `Π_sites K` runs whatever the plate size);
/// - **in parallel** ([`ParallelEnum::expectation`]), used when run by run would need more
///   runs than that (found after one run) or when asked with [`Exact::parallel`]: one run of
///   the guide and one of the model with every enumerated site along a tensor axis of its
///   own, contracted by variable elimination in the expectation semiring, so a `markov` chain
///   costs time linear in its length. Model code must broadcast (see [`pact::ppl::ve`]).
///
/// ```
/// use pact::dist::{Bernoulli, Normal};
/// use pact::nn::ParamStore;
/// use pact::ppl::Ctx;
/// use pact::{DType, Device, Result, Rng, Tensor};
/// use pact_inference::objectives::{Exact, Objective};
/// let s = |v: f64| Tensor::scalar(v, DType::F64, Device::Cpu);
/// let model = |ctx: &mut Ctx| -> Result<()> {
///     ctx.sample("z", Bernoulli::new(s(0.0))?).map(|_| ())
/// };
/// let guide = |ctx: &mut Ctx| -> Result<()> {
///     ctx.sample("z", Bernoulli::new(s(0.0))?).map(|_| ())
/// };
/// let params = ParamStore::new(DType::F64, Device::Cpu);
/// let e = Exact::map().estimate(&model, &guide, &params, &mut Rng::seed(0))?;
/// assert!((e.objective - 0.5f64.ln()).abs() < 1e-12);
/// assert!((e.entropy.unwrap() - 2f64.ln()).abs() < 1e-12);
/// # Ok::<(), pact_inference::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Exact {
    entropy: bool,
    prior_sites: std::collections::BTreeSet<String>,
    parallel: Option<bool>,
    beta: f64,
    max_plate_nesting: Option<usize>,
}

impl Exact {
    /// `E_q[log p(x, z)]`, the objective of [`SvoMap`](super::SvoMap).
    pub fn map() -> Self {
        Exact {
            entropy: false,
            prior_sites: Default::default(),
            parallel: None,
            beta: 1.0,
            max_plate_nesting: None,
        }
    }

    /// `E_q[log p(x, z) − log q(z)]`, the ELBO.
    pub fn elbo() -> Self {
        Exact {
            entropy: true,
            prior_sites: Default::default(),
            parallel: None,
            beta: 1.0,
            max_plate_nesting: None,
        }
    }

    /// Weighs the terms of the latent variables by `beta` (default 1): the ELBO becomes the
    /// β-ELBO `E_q[log p(x | z)] + β (E_q[log p(z)] + H[q]) = E_q[log p(x | z)] − β KL(q ‖ p)`
    /// (Higgins et al. 2017; PonderNet's objective, math §10, with `z` the halting step), and
    /// the MAP objective `E_q[log p(x | z)] + β E_q[log p(z)]`. The prior terms are those of
    /// the model's latent (`sample`) sites, the likelihood those of its `observe` and `factor`
    /// sites. The reported [`Estimate::entropy`] stays `H[q]`, unweighted.
    ///
    /// ```
    /// use pact::dist::{Bernoulli, Normal};
    /// use pact::nn::ParamStore;
    /// use pact::ppl::Ctx;
    /// use pact::{DType, Device, Result, Rng, Tensor};
    /// use pact_inference::objectives::{Exact, Objective};
    /// let s = |v: f64| Tensor::scalar(v, DType::F64, Device::Cpu);
    /// // p(z) = Bernoulli(½), x | z ~ N(2z, 1), x = 1.5; q(z = 1) = 0.8.
    /// let model = move |ctx: &mut Ctx| -> Result<()> {
    ///     let z = ctx.sample("z", Bernoulli::new(s(0.0))?)?;
    ///     ctx.observe("x", Normal::new(z.mul_scalar(2.0)?, s(1.0))?, &s(1.5)).map(|_| ())
    /// };
    /// let guide = move |ctx: &mut Ctx| -> Result<()> {
    ///     ctx.sample("z", Bernoulli::from_probs(s(0.8))?).map(|_| ())
    /// };
    /// let params = ParamStore::new(DType::F64, Device::Cpu);
    /// let ln_n = |x: f64, m: f64| -0.5 * (x - m).powi(2) - 0.5 * (2.0 * std::f64::consts::PI).ln();
    /// let likelihood = 0.2 * ln_n(1.5, 0.0) + 0.8 * ln_n(1.5, 2.0);
    /// let kl = 0.2 * (0.2f64 / 0.5).ln() + 0.8 * (0.8f64 / 0.5).ln();
    /// for parallel in [false, true] {
    ///     let mut beta_elbo = Exact::elbo().beta(0.1).parallel(parallel);
    ///     let e = beta_elbo.estimate(&model, &guide, &params, &mut Rng::seed(0))?;
    ///     assert!((e.objective - (likelihood - 0.1 * kl)).abs() < 1e-12);
    /// }
    /// # Ok::<(), pact_inference::Error>(())
    /// ```
    pub fn beta(mut self, beta: f64) -> Self {
        self.beta = beta;
        self
    }

    /// The number of plate axes of parallel enumeration (see
    /// [`ParallelEnum::max_plate_nesting`]); by default found by one run of the guide and the
    /// model without enumeration, which costs a run of each and draws whatever they draw.
    ///
    /// ```
    /// use pact_inference::objectives::Exact;
    /// // Models whose sites sit in one plate at most, enumerated in one run each.
    /// let exact = Exact::elbo().parallel(true).max_plate_nesting(1);
    /// # let _ = exact;
    /// ```
    pub fn max_plate_nesting(mut self, plates: usize) -> Self {
        self.max_plate_nesting = Some(plates);
        self
    }

    fn check_beta(&self) -> Result<()> {
        if self.beta.is_finite() && self.beta >= 0.0 {
            Ok(())
        } else {
            Err(Error::InvalidConfig(format!(
                "the weight beta of the latent terms must be finite and ≥ 0, got {}",
                self.beta
            )))
        }
    }

    /// Allows the model's latent sites `names` to be drawn from their prior (see
    /// [`SvoMap::allow_prior_sites`](super::SvoMap::allow_prior_sites)).
    pub fn allow_prior_sites<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        names: I,
    ) -> Self {
        self.prior_sites = names.into_iter().map(Into::into).collect();
        self
    }

    /// Always enumerate in parallel (`true`) or always run by run (`false`); by default run
    /// by run, in parallel when that would take more than `MAX_RUNS` runs.
    pub fn parallel(mut self, on: bool) -> Self {
        self.parallel = Some(on);
        self
    }

    /// The expectation by parallel enumeration.
    fn estimate_parallel<T, U>(
        &self,
        model: &impl Fn(&mut Ctx) -> pact::Result<T>,
        guide: &impl Fn(&mut Ctx) -> pact::Result<U>,
        params: &ParamStore,
        rng: &mut Rng,
    ) -> Result<Estimate> {
        let guide_only = |ctx: &mut Ctx| guide(ctx).map(|_| ());
        let model_only = |ctx: &mut Ctx| model(ctx).map(|_| ());
        let mut settings = ParallelEnum::new(Select::All);
        if let Some(p) = self.max_plate_nesting {
            settings = settings.max_plate_nesting(p);
        }
        let exact = settings.expectation(guide_only, model_only);
        let (e, _) = run(&exact, params, rng)?;
        if e.enumerated.is_empty() {
            return Err(Error::Objective("the guide has no enumerable site".into()));
        }
        super::terms::check_covered(&e.guide_trace, &e.model_trace, &self.prior_sites)?;
        let total = if self.beta == 1.0 {
            if self.entropy {
                e.log_joint.add(&e.entropy)?
            } else {
                e.log_joint.clone()
            }
        } else {
            // E_q[log p(x | z)] + β (E_q[log p(z)] (+ H[q])).
            let mut latent = e.log_prior.clone();
            if self.entropy {
                latent = latent.add(&e.entropy)?;
            }
            e.log_joint
                .sub(&e.log_prior)?
                .add(&latent.mul_scalar(self.beta)?)?
        };
        let guided = !e.guide_trace.iter().any(|s| s.is_latent());
        let reported = if guided {
            &e.model_trace
        } else {
            &e.guide_trace
        };
        let sites = reported
            .iter()
            .filter(|s| s.is_latent())
            .map(|s| SiteReport {
                name: s.name.clone(),
                estimator: if e.enumerated.contains(&s.name) {
                    "enumerated".into()
                } else {
                    "reparameterised".into()
                },
                entropy: None,
                closed_form_prior: false,
            })
            .collect();
        Ok(Estimate {
            loss: total.mul_scalar(-1.0)?,
            objective: total.to_scalar()?,
            entropy: Some(e.entropy.to_scalar()?),
            temperature: None,
            sites,
        })
    }
}

fn add(acc: Option<Tensor>, t: Tensor) -> Result<Option<Tensor>> {
    Ok(Some(match acc {
        Some(a) => a.add(&t)?,
        None => t,
    }))
}

/// Splits the log-probabilities of `trace` (of `kind`s accepted by `keep`) into terms
/// outside the plates `frames` (summed, scaled) and inside (reduced to the plate axes,
/// weighted by the site scale relative to `local_scale`).
fn split<'a>(
    trace: &'a Trace,
    frames: &[PlateFrame],
    local_scale: f64,
    term: impl Fn(&'a Site) -> Option<&'a Tensor>,
) -> Result<(Option<Tensor>, Option<Tensor>)> {
    let rank = frames
        .iter()
        .map(|p| p.dim.unsigned_abs())
        .max()
        .unwrap_or(0);
    let (mut global, mut local) = (None, None);
    for site in trace.iter() {
        let Some(lp) = term(site) else { continue };
        let inside = !frames.is_empty()
            && frames
                .iter()
                .all(|f| site.plates.iter().any(|p| p.name == f.name));
        if !inside {
            global = add(global, lp.sum_all()?.mul_scalar(site.scale)?)?;
            continue;
        }
        let axes: Vec<usize> = frames.iter().filter_map(|f| f.axis(lp.rank())).collect();
        let mut reduced = lp.clone();
        for axis in (0..lp.rank()).filter(|a| !axes.contains(a)) {
            reduced = reduced.sum_keepdim(axis)?;
        }
        let dims = reduced.dims();
        let kept = Shape::new(&dims[dims.len().saturating_sub(rank)..]);
        let term = reduced
            .reshape(kept)?
            .mul_scalar(site.scale / local_scale)?;
        local = add(local, term)?;
    }
    Ok((global, local))
}

impl Objective for Exact {
    fn name(&self) -> &'static str {
        if self.entropy {
            "exact-elbo"
        } else {
            "exact-map"
        }
    }

    fn estimate<T, U>(
        &mut self,
        model: &impl Fn(&mut Ctx) -> pact::Result<T>,
        guide: &impl Fn(&mut Ctx) -> pact::Result<U>,
        params: &ParamStore,
        rng: &mut Rng,
    ) -> Result<Estimate> {
        self.check_beta()?;
        if self.parallel == Some(true) {
            return self.estimate_parallel(model, guide, params, rng);
        }
        let mut stream = rng.clone();
        match self.estimate_run_by_run(model, guide, params, &mut stream) {
            Err(Error::Core(too_many @ pact::Error::TooManyConfigurations { .. }))
                if self.parallel.is_none() =>
            {
                self.estimate_parallel(model, guide, params, rng)
                    .map_err(|e| {
                        Error::Objective(format!(
                            "{too_many}; parallel enumeration failed too: {e}"
                        ))
                    })
            }
            other => {
                *rng = stream;
                other
            }
        }
    }
}

impl Exact {
    /// The expectation by running the guide (and the model) once per configuration.
    fn estimate_run_by_run<T, U>(
        &self,
        model: &impl Fn(&mut Ctx) -> pact::Result<T>,
        guide: &impl Fn(&mut Ctx) -> pact::Result<U>,
        params: &ParamStore,
        rng: &mut Rng,
    ) -> Result<Estimate> {
        let guide_only = |ctx: &mut Ctx| guide(ctx).map(|_| ());
        let (mut enumeration, _) = run(&enumerate(Select::All, guide_only), params, rng)?;
        // A guide without latent sites leaves them to the model's guided sites
        // (`sample_guided`): enumerate the model, whose trace then holds log q as well.
        let guided = enumeration
            .runs
            .first()
            .is_some_and(|r| !r.trace.iter().any(|s| s.enumerated));
        if guided {
            let model_only = |ctx: &mut Ctx| model(ctx).map(|_| ());
            enumeration = run(&enumerate(Select::All, model_only), params, rng)?.0;
        }
        let first = enumeration
            .runs
            .first()
            .ok_or_else(|| Error::Objective("the guide enumerated to no runs".into()))?;
        // The plates of the enumerated sites: none (joint) or one shared set (per element).
        let mut plate_sets = first
            .trace
            .iter()
            .filter(|s| s.enumerated)
            .map(|s| s.plates.clone());
        let frames = plate_sets.next().unwrap_or_default();
        if plate_sets.any(|p| p != frames) {
            return Err(Error::Objective(
                "Exact needs every enumerated guide site outside all plates or all in the same plates"
                    .into(),
            ));
        }
        let local_scale: f64 = frames.iter().map(PlateFrame::scale).product();
        let (mut total, mut entropy) = (None, None);
        let mut global_model: Option<f64> = None;
        for r in &enumeration.runs {
            let p = if guided {
                r.trace.clone()
            } else {
                let p = run(&replay(r.trace.clone(), model), params, rng)?.1;
                super::terms::check_covered(&r.trace, &p, &self.prior_sites)?;
                p
            };
            let (q_out, q_in) = split(&r.trace, &frames, local_scale, |s| {
                let enumerated = s.kind == SiteKind::Sample && s.enumerated;
                match (enumerated, guided) {
                    (false, _) => None,
                    (true, true) => s.guide_log_prob.as_ref(),
                    (true, false) => s.log_prob.as_ref(),
                }
            })?;
            let (mut p_out, mut p_in) = split(&p, &frames, local_scale, |s| s.log_prob.as_ref())?;
            if self.beta != 1.0 {
                // The β-weighted objective: the latent sites' terms count β times.
                let (prior_out, prior_in) = split(&p, &frames, local_scale, |s| {
                    s.is_latent().then_some(s.log_prob.as_ref()).flatten()
                })?;
                let less = 1.0 - self.beta;
                if let (Some(a), Some(b)) = (&p_out, prior_out) {
                    p_out = Some(a.sub(&b.mul_scalar(less)?)?);
                }
                if let (Some(a), Some(b)) = (&p_in, prior_in) {
                    p_in = Some(a.sub(&b.mul_scalar(less)?)?);
                }
            }
            // log q of this configuration (per element when local), and the weights.
            let log_q = match (&q_in, &q_out) {
                (Some(l), _) => l.clone(),
                (None, Some(g)) => g.clone(),
                (None, None) => {
                    return Err(Error::Objective("the guide has no enumerable site".into()))
                }
            };
            let weight = log_q.exp()?;
            let mut f = if frames.is_empty() {
                p_out.clone().ok_or_else(|| {
                    Error::Objective("the model has no log-probability terms".into())
                })?
            } else {
                // Terms outside the plates must not depend on the local values.
                if let Some(g) = &p_out {
                    let g = g.to_scalar()?;
                    match global_model {
                        None => {
                            global_model = Some(g);
                            total = add(total, p_out.clone().unwrap_or(g_zero(&weight)))?;
                        }
                        Some(g0) if (g0 - g).abs() <= 1e-6 * (1.0 + g0.abs()) => {}
                        Some(_) => {
                            return Err(Error::Objective(
                                "model terms outside the plates of the enumerated guide sites depend on their values".into(),
                            ))
                        }
                    }
                }
                p_in.unwrap_or(g_zero(&weight))
            };
            let h = weight.mul(&log_q)?.mul_scalar(-local_scale)?.sum_all()?;
            if self.entropy {
                f = if self.beta == 1.0 {
                    f.sub(&log_q)?
                } else {
                    f.sub(&log_q.mul_scalar(self.beta)?)?
                };
            }
            let term = weight.mul(&f)?.sum_all()?.mul_scalar(local_scale)?;
            total = add(total, term)?;
            entropy = add(entropy, h)?;
        }
        let total = total.ok_or_else(|| Error::Objective("no runs".into()))?;
        let objective = total.to_scalar()?;
        let entropy = entropy.map(|h| h.to_scalar()).transpose()?;
        let sites = first
            .trace
            .iter()
            .filter(|s| s.is_latent())
            .map(|s| SiteReport {
                name: s.name.clone(),
                estimator: if s.enumerated {
                    "enumerated".into()
                } else {
                    "reparameterised".into()
                },
                entropy: None,
                closed_form_prior: false,
            })
            .collect();
        Ok(Estimate {
            loss: total.mul_scalar(-1.0)?,
            objective,
            entropy,
            temperature: None,
            sites,
        })
    }
}

fn g_zero(like: &Tensor) -> Tensor {
    Tensor::scalar(0.0, like.dtype(), like.device())
}
