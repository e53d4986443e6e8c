//! The context a model runs in: its statements and the handler stack.

use super::{Handler, MarkovFrame, Message, PlateFrame, Site, SiteKind, Trace};
use crate::dist::{Distribution, Draw, IntoDistribution};
use crate::nn::ParamStore;
use crate::{Error, Result, Rng, Shape, Tensor};
use std::sync::Arc;

/// What a model receives: the statements `sample`, `observe`, `factor`, `param` and `plate`,
/// the parameter store, the random-number generator, and the handlers wrapped around the
/// model. Every statement is recorded in the run's [`Trace`].
pub struct Ctx {
    params: ParamStore,
    rng: Rng,
    trace: Trace,
    handlers: Vec<Box<dyn Handler>>,
    plates: Vec<PlateFrame>,
    markov: Vec<MarkovFrame>,
    markov_contexts: usize,
    scales: Vec<f64>,
    masks: Vec<Tensor>,
}

/// Runs `model` once with parameters from `params` and randomness from `rng` (which is
/// advanced), returning its output and the trace of the run.
///
/// ```
/// use pact::dist::{Bernoulli, Normal};
/// use pact::nn::ParamStore;
/// use pact::ppl::{run, Ctx};
/// use pact::{DType, Device, Result, Rng, Tensor};
///
/// fn model(ctx: &mut Ctx) -> Result<Tensor> {
///     let s = |v: f64| Tensor::scalar(v, DType::F64, Device::Cpu);
///     let z = ctx.sample("z", Bernoulli::new(s(0.0))?)?;
///     let loc = z.mul_scalar(3.0)?;
///     ctx.observe("x", Normal::new(loc, s(1.0))?, &s(2.5))?;
///     Ok(z)
/// }
/// let params = ParamStore::new(DType::F64, Device::Cpu);
/// let (z, trace) = run(&model, &params, &mut Rng::seed(0))?;
/// assert_eq!(trace.names(), vec!["z", "x"]);
/// assert!(trace.log_joint()?.to_scalar()?.is_finite());
/// assert!(z.to_scalar()? == 0.0 || z.to_scalar()? == 1.0);
/// # Ok::<(), pact::Error>(())
/// ```
pub fn run<T>(
    model: &impl Fn(&mut Ctx) -> Result<T>,
    params: &ParamStore,
    rng: &mut Rng,
) -> Result<(T, Trace)> {
    let mut ctx = Ctx {
        params: params.clone(),
        rng: rng.clone(),
        trace: Trace::new(),
        handlers: Vec::new(),
        plates: Vec::new(),
        markov: Vec::new(),
        markov_contexts: 0,
        scales: Vec::new(),
        masks: Vec::new(),
    };
    let out = model(&mut ctx);
    *rng = ctx.rng;
    Ok((out?, ctx.trace))
}

impl Ctx {
    /// Draws (or takes from a handler) the value of the latent variable `name` and records
    /// it; returns the value the model sees (for a straight-through site, hard forward and
    /// soft backward).
    pub fn sample(&mut self, name: &str, dist: impl IntoDistribution) -> Result<Tensor> {
        Ok(self.sample_draw(name, dist)?.value().clone())
    }

    /// Like [`Ctx::sample`], returning the whole [`Draw`] (raw, hard and soft values of
    /// relaxed sites).
    pub fn sample_draw(&mut self, name: &str, dist: impl IntoDistribution) -> Result<Draw> {
        self.check_new(name)?;
        let dist = self.expand_for_plates(name, dist.into_distribution())?;
        let msg = self.message(name, SiteKind::Sample, dist, None);
        self.process(msg)
    }

    /// Draws the latent `name` from its amortised posterior `posterior` (`q(z | x)`, computed by
    /// the model itself, from the same forward pass that uses the value) and scores it under
    /// its prior `prior` (`p(z)`); returns the value the model sees.
    ///
    /// A guided site needs no separate guide: an objective treats `posterior` as the guide's
    /// law at this site (drawn from, relaxed by the same relaxation as `prior`, its entropy and
    /// score-function terms), `decode` decodes `posterior`, and `enumerate` enumerates the
    /// support with `log q` recorded. Handlers that fix values (`condition`, `replay`) work as
    /// for any site. Both laws must have the same batch and event shapes.
    ///
    /// ```
    /// use pact::dist::Bernoulli;
    /// use pact::nn::ParamStore;
    /// use pact::ppl::{decode, run, Ctx, DecodeRule};
    /// use pact::{DType, Device, Result, Rng, Tensor};
    /// let s = |v: f64| Tensor::scalar(v, DType::F64, Device::Cpu);
    /// // The posterior's logit comes from the model's own computation (an amortised "head").
    /// let model = |ctx: &mut Ctx| -> Result<Tensor> {
    ///     let feature = s(1.5);
    ///     let logit = feature.mul_scalar(2.0)?;
    ///     ctx.sample_guided("z", Bernoulli::new(s(0.0))?, Bernoulli::new(logit)?)
    /// };
    /// let params = ParamStore::new(DType::F64, Device::Cpu);
    /// let (_, trace) = run(&model, &params, &mut Rng::seed(0))?;
    /// let site = trace.get("z").unwrap();
    /// assert!(site.is_guided());
    /// // The prior scores the value, the posterior's log-probability is kept beside it.
    /// assert!((site.log_prob.as_ref().unwrap().to_scalar()? - 0.5f64.ln()).abs() < 1e-12);
    /// assert!(site.guide_log_prob.is_some());
    /// // Decoding takes the posterior's more probable value: σ(3) > 0.5.
    /// let (z, _) = run(&decode(DecodeRule::Threshold(0.5), model), &params, &mut Rng::seed(0))?;
    /// assert_eq!(z.to_scalar()?, 1.0);
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn sample_guided(
        &mut self,
        name: &str,
        prior: impl IntoDistribution,
        posterior: impl IntoDistribution,
    ) -> Result<Tensor> {
        Ok(self
            .sample_guided_draw(name, prior, posterior)?
            .value()
            .clone())
    }

    /// Like [`Ctx::sample_guided`], returning the whole [`Draw`].
    pub fn sample_guided_draw(
        &mut self,
        name: &str,
        prior: impl IntoDistribution,
        posterior: impl IntoDistribution,
    ) -> Result<Draw> {
        self.check_new(name)?;
        let prior = self.expand_for_plates(name, prior.into_distribution())?;
        let posterior = self.expand_for_plates(name, posterior.into_distribution())?;
        if prior.batch_shape() != posterior.batch_shape()
            || prior.event_shape() != posterior.event_shape()
            || prior.support() != posterior.support()
        {
            return Err(Error::site(
                name,
                format!(
                    "the prior {} (batch {}, event {}) and the posterior {} (batch {}, event {}) \
                     of a guided site must have the same shapes and support",
                    prior.name(),
                    prior.batch_shape(),
                    prior.event_shape(),
                    posterior.name(),
                    posterior.batch_shape(),
                    posterior.event_shape()
                ),
            ));
        }
        let mut msg = self.message(name, SiteKind::Sample, prior, None);
        msg.guide = Some(posterior);
        self.process(msg)
    }

    /// Records the observation `value` of `name` under `dist`; returns the value.
    pub fn observe(
        &mut self,
        name: &str,
        dist: impl IntoDistribution,
        value: &Tensor,
    ) -> Result<Tensor> {
        self.check_new(name)?;
        let dist = self.expand_for_plates(name, dist.into_distribution())?;
        let draw = Draw::Exact(value.clone());
        let msg = self.message(name, SiteKind::Observe, dist, Some(draw));
        Ok(self.process(msg)?.value().clone())
    }

    /// Adds `log_weight` (any shape; summed) to the log joint.
    pub fn factor(&mut self, name: &str, log_weight: &Tensor) -> Result<()> {
        self.check_new(name)?;
        let mut site = Site::without_law(name, SiteKind::Factor, log_weight.clone());
        let (log_prob, mask) = self.apply_mask(name, log_weight.clone())?;
        site.log_prob = Some(log_prob);
        site.mask = mask;
        site.scale = self.scale();
        site.plates = self.plates.clone();
        site.markov = self.markov.clone();
        self.record(site)
    }

    /// The learnable parameter `name` of the store, created by `init` on first use.
    /// Asking for the same parameter twice in one run is allowed and records it once; a
    /// parameter named like another kind of site is a duplicate.
    pub fn param(&mut self, name: &str, init: impl FnOnce() -> Result<Tensor>) -> Result<Tensor> {
        if let Some(site) = self.trace.get(name) {
            return match site.kind {
                SiteKind::Param => Ok(site.value().clone()),
                _ => Err(Error::DuplicateSite(name.to_string())),
            };
        }
        let value = self.params.get_or_create(name, init)?.tensor();
        self.record(Site::without_law(name, SiteKind::Param, value.clone()))?;
        Ok(value)
    }

    /// Runs `body` inside the plate `name` of `size` conditionally independent elements.
    ///
    /// The first plate entered takes the last batch axis (dim −1), a plate nested inside it
    /// the one before (dim −2), and so on. Distributions at sites inside are expanded to
    /// have that axis; a batch shape with another size there is an error.
    pub fn plate<T>(
        &mut self,
        name: &str,
        size: usize,
        body: impl FnOnce(&mut Ctx) -> Result<T>,
    ) -> Result<T> {
        self.subsample_plate(name, size, size, body)
    }

    /// A plate of `size` elements of which only `subsample_size` are present in this run;
    /// their log-probabilities count `size / subsample_size` times.
    pub fn subsample_plate<T>(
        &mut self,
        name: &str,
        size: usize,
        subsample_size: usize,
        body: impl FnOnce(&mut Ctx) -> Result<T>,
    ) -> Result<T> {
        if self.plates.iter().any(|p| p.name == name) {
            return Err(Error::invalid(
                "plate",
                format!("plate {name:?} is already open"),
            ));
        }
        if subsample_size == 0 || subsample_size > size {
            return Err(Error::invalid(
                "plate",
                format!("plate {name:?}: subsample of {subsample_size} from {size} elements"),
            ));
        }
        self.plates.push(PlateFrame {
            name: name.to_string(),
            size,
            subsample_size,
            dim: -(self.plates.len() as isize) - 1,
        });
        let out = body(self);
        self.plates.pop();
        out
    }

    /// Runs `body(ctx, t)` for the steps `t = 0, …, steps − 1` of a Markov chain: the sites
    /// of a step may depend on those of the step just before it and on sites outside the
    /// chain, not on older steps (see [`Ctx::markov_with_history`] for longer memories).
    ///
    /// Run plainly, this is a loop. Under [`enumerate_parallel`](super::enumerate_parallel)
    /// it is what keeps a chain cheap: an enumerated site gets a tensor axis of its own, and
    /// the sites of step `t` reuse the axes of step `t − 2`, which no later step reads, so a
    /// chain of any length needs two axes per enumerated site of a step and its exact
    /// marginal costs time linear in its length. A model that reads an older step than it
    /// declares is wrong under enumeration (the axis may already hold a newer site); a read
    /// of an axis no longer in use is reported as an error.
    ///
    /// ```
    /// use pact::dist::Bernoulli;
    /// use pact::nn::ParamStore;
    /// use pact::ppl::{run, Ctx};
    /// use pact::{DType, Device, Result, Rng, Tensor};
    /// // A two-state chain: z_t copies z_{t−1} with probability 0.9.
    /// let model = |ctx: &mut Ctx| -> Result<()> {
    ///     let mut prev: Option<Tensor> = None;
    ///     ctx.markov(5, |ctx, t| {
    ///         let logit = match &prev {
    ///             None => Tensor::scalar(0.0, DType::F64, Device::Cpu),
    ///             Some(z) => z.mul_scalar(2.0)?.add_scalar(-1.0)?.mul_scalar(9f64.ln())?,
    ///         };
    ///         prev = Some(ctx.sample(&format!("z_{t}"), Bernoulli::new(logit)?)?);
    ///         Ok(())
    ///     })
    /// };
    /// let params = ParamStore::new(DType::F64, Device::Cpu);
    /// let (_, trace) = run(&model, &params, &mut Rng::seed(0))?;
    /// assert_eq!(trace.len(), 5);
    /// assert_eq!(trace.get("z_3").unwrap().markov[0].step, 3);
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn markov(
        &mut self,
        steps: usize,
        body: impl FnMut(&mut Ctx, usize) -> Result<()>,
    ) -> Result<()> {
        self.markov_with_history(steps, 1, body)
    }

    /// Like [`Ctx::markov`], for a chain whose steps may depend on the `history` steps before
    /// them (`history = 0`: steps that depend on none of each other, like a sequential plate).
    pub fn markov_with_history(
        &mut self,
        steps: usize,
        history: usize,
        mut body: impl FnMut(&mut Ctx, usize) -> Result<()>,
    ) -> Result<()> {
        let id = self.markov_contexts;
        self.markov_contexts += 1;
        for step in 0..steps {
            self.markov.push(MarkovFrame { id, history, step });
            let out = body(self, step);
            self.markov.pop();
            out?;
        }
        Ok(())
    }

    /// The `markov` contexts currently open, outermost first.
    pub fn markov_frames(&self) -> &[MarkovFrame] {
        &self.markov
    }

    /// Runs `body` with the log-probability of every site inside counted `factor` times (a
    /// site's [`scale`](super::Site::scale); Pyro's `scale`), on top of the plates' own
    /// subsampling scales: `1/B` turns sums over a batch of `B` into means.
    ///
    /// ```
    /// use pact::dist::Bernoulli;
    /// use pact::nn::ParamStore;
    /// use pact::ppl::{run, Ctx};
    /// use pact::{DType, Device, Result, Rng, Tensor};
    /// let model = |ctx: &mut Ctx| -> Result<()> {
    ///     ctx.scaled(0.25, |ctx| {
    ///         ctx.plate("batch", 4, |ctx| {
    ///             let p = Tensor::zeros([4], DType::F64, Device::Cpu);
    ///             ctx.observe("y", Bernoulli::new(p)?, &Tensor::ones([4], DType::F64, Device::Cpu))
    ///         })
    ///     })?;
    ///     Ok(())
    /// };
    /// let params = ParamStore::new(DType::F64, Device::Cpu);
    /// let (_, trace) = run(&model, &params, &mut Rng::seed(0))?;
    /// // The mean log-probability over the batch: log ½.
    /// assert!((trace.log_joint()?.to_scalar()? - 0.5f64.ln()).abs() < 1e-12);
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn scaled<T>(
        &mut self,
        factor: f64,
        body: impl FnOnce(&mut Ctx) -> Result<T>,
    ) -> Result<T> {
        if !(factor >= 0.0 && factor.is_finite()) {
            return Err(Error::invalid(
                "scaled",
                format!("a scale must be finite and ≥ 0, got {factor}"),
            ));
        }
        self.scales.push(factor);
        let out = body(self);
        self.scales.pop();
        out
    }

    /// Runs `body` with the log-probability of every site inside multiplied, element by
    /// element, by `mask` (0/1 or any weights; it must broadcast to each site's batch shape;
    /// Pyro's `mask`): padding in a batch of sequences of different lengths, say. Nested masks
    /// multiply. The mask is recorded with each site ([`Site::mask`](super::Site::mask)) so
    /// that objectives mask their closed-form terms too.
    ///
    /// ```
    /// use pact::dist::Bernoulli;
    /// use pact::nn::ParamStore;
    /// use pact::ppl::{run, Ctx};
    /// use pact::{DType, Device, Result, Rng, Tensor};
    /// let cpu = Device::Cpu;
    /// let model = |ctx: &mut Ctx| -> Result<()> {
    ///     let keep = Tensor::from_f64_slice(&[1.0, 1.0, 0.0], [3], DType::F64, cpu)?;
    ///     ctx.masked(&keep, |ctx| {
    ///         ctx.plate("batch", 3, |ctx| {
    ///             let p = Tensor::zeros([3], DType::F64, cpu);
    ///             ctx.observe("y", Bernoulli::new(p)?, &Tensor::ones([3], DType::F64, cpu))
    ///         })
    ///     })?;
    ///     Ok(())
    /// };
    /// let params = ParamStore::new(DType::F64, cpu);
    /// let (_, trace) = run(&model, &params, &mut Rng::seed(0))?;
    /// // Only the first two elements count.
    /// assert!((trace.log_joint()?.to_scalar()? - 2.0 * 0.5f64.ln()).abs() < 1e-12);
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn masked<T>(
        &mut self,
        mask: &Tensor,
        body: impl FnOnce(&mut Ctx) -> Result<T>,
    ) -> Result<T> {
        self.masks.push(mask.detach());
        let out = body(self);
        self.masks.pop();
        out
    }

    /// Runs `body` with `handler` pushed on the handler stack (innermost), popping it after.
    pub fn with_handler<T>(
        &mut self,
        handler: Box<dyn Handler>,
        body: impl FnOnce(&mut Ctx) -> Result<T>,
    ) -> Result<T> {
        self.handlers.push(handler);
        let out = body(self);
        self.handlers.pop();
        out
    }

    /// Runs `body` recording into a fresh trace, and returns its output with that trace
    /// (for handlers that run a model several times).
    pub fn with_fresh_trace<T>(
        &mut self,
        body: impl FnOnce(&mut Ctx) -> Result<T>,
    ) -> (Result<T>, Trace) {
        let outer = std::mem::take(&mut self.trace);
        let out = body(self);
        (out, std::mem::replace(&mut self.trace, outer))
    }

    /// The parameter store (for building layers of amortised distributions).
    pub fn params(&self) -> &ParamStore {
        &self.params
    }

    /// The random-number generator.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// The sites recorded so far.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// The plates currently open, outermost first.
    pub fn plates(&self) -> &[PlateFrame] {
        &self.plates
    }

    pub(super) fn message(
        &self,
        name: &str,
        kind: SiteKind,
        dist: Arc<dyn Distribution>,
        value: Option<Draw>,
    ) -> Message {
        let mut msg = Message::new(name, kind, dist, self.plates.clone(), value);
        msg.markov = self.markov.clone();
        msg
    }

    pub(super) fn scale(&self) -> f64 {
        let plates: f64 = self.plates.iter().map(PlateFrame::scale).product();
        plates * self.scales.iter().product::<f64>()
    }

    /// The product of the open masks, if any.
    fn mask(&self) -> Result<Option<Tensor>> {
        let mut out: Option<Tensor> = None;
        for m in &self.masks {
            out = Some(match out {
                Some(o) => o.mul(m)?,
                None => m.clone(),
            });
        }
        Ok(out)
    }

    /// `log_prob` (and the mask, as recorded) with the open masks applied; the mask must
    /// broadcast to the log-probability's shape.
    pub(super) fn apply_mask(
        &self,
        name: &str,
        log_prob: Tensor,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let Some(mask) = self.mask()? else {
            return Ok((log_prob, None));
        };
        let mask = mask.broadcast_as(log_prob.shape()).map_err(|_| {
            Error::site(
                name,
                format!(
                    "a mask of shape {} does not broadcast to the log-probability's shape {}",
                    mask.shape(),
                    log_prob.shape()
                ),
            )
        })?;
        Ok((log_prob.mul(&mask)?, Some(mask)))
    }

    pub(super) fn check_new(&self, name: &str) -> Result<()> {
        if self.trace.contains(name) {
            return Err(Error::DuplicateSite(name.to_string()));
        }
        Ok(())
    }

    pub(super) fn record(&mut self, site: Site) -> Result<()> {
        for h in self.handlers.iter_mut() {
            h.postprocess(&site)?;
        }
        self.trace.push(site)
    }

    /// Gives the distribution the plates' batch axes.
    pub(super) fn expand_for_plates(
        &self,
        name: &str,
        dist: Arc<dyn Distribution>,
    ) -> Result<Arc<dyn Distribution>> {
        if self.plates.is_empty() {
            return Ok(dist);
        }
        let batch = dist.batch_shape();
        let needed = self.plates.len();
        let rank = batch.rank().max(needed);
        let mut dims = vec![1; rank - batch.rank()];
        dims.extend_from_slice(batch.dims());
        for plate in &self.plates {
            let axis = plate.axis(rank).unwrap_or(0);
            match dims[axis] {
                1 => dims[axis] = plate.subsample_size,
                s if s == plate.subsample_size => {}
                s => {
                    return Err(Error::site(
                        name,
                        format!(
                        "batch shape {batch} has size {s} at dim {} but plate {:?} has {} elements",
                        plate.dim, plate.name, plate.subsample_size
                    ),
                    ))
                }
            }
        }
        if dims == batch.dims() {
            Ok(dist)
        } else {
            dist.expand(&Shape::new(dims))
        }
    }

    /// How the halting site `name` runs: the plan of the innermost handler that fixes its
    /// value, else that of the innermost handler that relaxes it, else dense.
    pub(super) fn halting_plan(&mut self, name: &str) -> Result<super::HaltingPlan> {
        let mut relaxing = None;
        for h in self.handlers.iter_mut().rev() {
            if let Some(claim) = h.halting_plan(name)? {
                if claim.fixes_value {
                    return Ok(claim.plan);
                }
                relaxing.get_or_insert(claim.plan);
            }
        }
        Ok(relaxing.unwrap_or(super::HaltingPlan::Dense))
    }

    /// Passes a message through the handlers, draws if needed, scores and records it.
    fn process(&mut self, mut msg: Message) -> Result<Draw> {
        for h in self.handlers.iter_mut().rev() {
            h.process(&mut msg)?;
        }
        let scorer = msg.relaxed.clone().unwrap_or_else(|| msg.dist.clone());
        let draw = match msg.value.take() {
            Some(d) => d,
            None => {
                let drawer = msg.drawer();
                if drawer.has_rsample() {
                    drawer.rsample(&[], &mut self.rng)?
                } else {
                    drawer.sample(&[], &mut self.rng)?
                }
            }
        };
        let batch = if msg.broadcast {
            broadcast_batch(&msg.name, &*scorer, draw.value())?
        } else {
            let batch = scorer.batch_shape();
            let expected = [batch.dims(), scorer.event_shape().dims()].concat();
            if draw.value().dims() != expected.as_slice() {
                return Err(Error::site(
                    &msg.name,
                    format!(
                        "value of shape {} where {} expects {}",
                        draw.value().shape(),
                        scorer.name(),
                        Shape::new(expected)
                    ),
                ));
            }
            batch
        };
        let log_prob = scorer.log_prob_draw(&draw)?;
        if log_prob.shape() != &batch {
            return Err(Error::site(
                &msg.name,
                format!(
                    "log_prob of shape {} for batch shape {batch}",
                    log_prob.shape()
                ),
            ));
        }
        let (log_prob, mask) = self.apply_mask(&msg.name, log_prob)?;
        // A guided site keeps log q of its value under the law that drew it.
        let guide_log_prob = match msg.guide_relaxed.as_ref().or(msg.guide.as_ref()) {
            Some(q) if msg.kind == SiteKind::Sample => {
                let lq = q.log_prob_draw(&draw)?;
                Some(match &mask {
                    Some(m) => lq.mul(m)?,
                    None => lq,
                })
            }
            _ => None,
        };
        let site = Site {
            name: msg.name,
            kind: msg.kind,
            dist: Some(msg.dist),
            relaxed: msg.relaxed,
            draw: draw.clone(),
            log_prob: Some(log_prob),
            scale: self.scale(),
            plates: msg.plates,
            markov: msg.markov,
            relaxation: msg.relaxation,
            enumerated: msg.enumerated,
            decoded: msg.decoded,
            replayed: msg.replayed,
            guide: msg.guide,
            guide_relaxed: msg.guide_relaxed,
            guide_log_prob,
            mask,
        };
        self.record(site)?;
        Ok(draw)
    }
}

/// The batch shape of a value that broadcasts against the law (a message with
/// [`Message::broadcast`]): its event axes must be the law's, its batch axes broadcast with the
/// law's batch shape.
fn broadcast_batch(name: &str, law: &dyn Distribution, value: &Tensor) -> Result<Shape> {
    let event = law.event_shape();
    let dims = value.dims();
    let split = dims.len().checked_sub(event.rank());
    match split {
        Some(at) if &dims[at..] == event.dims() => {
            let value_batch = Shape::new(&dims[..at]);
            law.batch_shape()
                .broadcast(&value_batch, "sample")
                .map_err(|_| {
                    Error::site(
                        name,
                        format!(
                            "value of shape {} does not broadcast with the batch shape {} of {}",
                            value.shape(),
                            law.batch_shape(),
                            law.name()
                        ),
                    )
                })
        }
        _ => Err(Error::site(
            name,
            format!(
                "value of shape {} where {} has events of shape {}",
                value.shape(),
                law.name(),
                event
            ),
        )),
    }
}
