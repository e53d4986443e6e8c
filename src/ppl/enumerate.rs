//! `enumerate`: the exact sum over the finite supports of chosen discrete sites.
//!
//! Implemented by running the model once per configuration (depth first over the sites in
//! execution order, so a site's support may depend on earlier choices), which suits small
//! models. Two kinds of enumerated sites:
//!
//! - **global** (outside every plate): every element of the site's batch is enumerated
//!   jointly, `K^elements` configurations;
//! - **local** (inside plates): all elements take the same support value in a run, so a
//!   site costs `K` runs whatever the plate size; since plate elements are conditionally
//!   independent, the marginal sums over the values *per element*:
//!   `log p = G + Σ_elements logsumexp_runs L_run,element`, where `L` gathers the
//!   log-probabilities of sites inside those plates and `G` those outside (which must not
//!   depend on the local values; this is checked). All local enumerated sites must sit in
//!   the same plates, and every batch axis of theirs with more than one element must be a
//!   plate axis.
//!
//! Latent sites that are not enumerated are drawn in the first run and reused in the
//! others, so the result is the marginal over the enumerated sites at those values.

use super::{
    Ctx, HaltingClaim, HaltingPlan, Handler, Message, PlateFrame, Select, Site, SiteKind, Trace,
};
use crate::dist::Draw;
use crate::{DType, Error, Result, Shape, Tensor};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// The most model runs one enumeration may take.
pub const MAX_RUNS: usize = 1 << 16;

/// The name of the factor site through which `enumerate` adds the log marginal to the trace
/// of the run it is part of.
pub const ENUMERATED_SITE: &str = "enumerated";

/// One configuration of the enumerated sites and the run of the model on it.
#[derive(Clone, Debug)]
pub struct EnumRun<T> {
    /// The enumerated sites' names and values, in execution order.
    pub assignment: Vec<(String, Tensor)>,
    /// For each entry of `assignment`, the index of its value in the site's support (for a
    /// site outside plates, whose elements are enumerated jointly, the configuration index
    /// with the first element as the most significant digit).
    pub indices: Vec<usize>,
    /// The model's output.
    pub output: T,
    /// The trace of the run.
    pub trace: Trace,
}

/// The result of [`enumerate`]: every run and the exact log marginal.
#[derive(Clone, Debug)]
pub struct Enumeration<T> {
    /// One run per configuration.
    pub runs: Vec<EnumRun<T>>,
    /// `log Σ_configurations p(x, z)` over the enumerated sites (rank 0, differentiable).
    pub log_marginal: Tensor,
}

impl<T> Enumeration<T> {
    /// The log joint of every run.
    pub fn log_joints(&self) -> Result<Vec<f64>> {
        self.runs
            .iter()
            .map(|r| r.trace.log_joint()?.to_scalar())
            .collect()
    }

    /// The run with the largest log joint: the exact MAP configuration when every
    /// enumerated site is global. (With local sites a run shares one value across a plate,
    /// so this is the best *shared* value.)
    pub fn best(&self) -> Result<&EnumRun<T>> {
        let joints = self.log_joints()?;
        let best = joints
            .iter()
            .enumerate()
            .fold(None, |acc: Option<(usize, f64)>, (i, &v)| match acc {
                Some((_, b)) if b >= v => acc,
                _ => Some((i, v)),
            })
            .map(|(i, _)| i)
            .ok_or_else(|| Error::invalid("enumerate", "no runs"))?;
        Ok(&self.runs[best])
    }

    /// The posterior probability of every run, `exp(log joint − log marginal)` (for models
    /// whose enumerated sites are all global).
    pub fn posterior(&self) -> Result<Vec<f64>> {
        let z = self.log_marginal.to_scalar()?;
        Ok(self
            .log_joints()?
            .into_iter()
            .map(|lj| (lj - z).exp())
            .collect())
    }
}

/// A site enumerated in the current run.
#[derive(Clone, Debug)]
struct Choice {
    name: String,
    index: usize,
    /// The number of configurations of the site.
    configs: usize,
    value: Tensor,
    /// Plate names for a local site, `None` for a global one.
    plates: Option<Vec<String>>,
}

#[derive(Default)]
struct State {
    /// Indices given for the first enumerated sites of this run.
    prefix: Vec<(String, usize)>,
    /// Sites enumerated so far in this run.
    chosen: Vec<Choice>,
    /// Prefixes of runs still to do, found in this run.
    branches: Vec<Vec<(String, usize)>>,
    /// Values of latent sites that are not enumerated, from their first run.
    fixed: HashMap<String, Draw>,
}

struct Enumerate {
    select: Select,
    state: Rc<RefCell<State>>,
}

impl Enumerate {
    /// `(support size, number of configurations, local)` of a site to enumerate, or `None`
    /// for a site that is not enumerated.
    fn configurations(&self, msg: &Message) -> Result<Option<(usize, usize, bool)>> {
        let dist = &msg.dist;
        let named = self.select.names(&msg.name);
        let size = match dist.support().size() {
            Some(k) if dist.has_enumerate_support() => k,
            _ if named => {
                return Err(Error::site(
                    &msg.name,
                    format!(
                        "cannot enumerate a {} site with support {}: it has no finite support to enumerate",
                        dist.name(),
                        dist.support()
                    ),
                ))
            }
            _ => return Ok(None),
        };
        let batch = dist.batch_shape();
        if msg.plates.is_empty() {
            let configs = u32::try_from(batch.elem_count())
                .ok()
                .and_then(|e| size.checked_pow(e))
                .filter(|&c| c <= MAX_RUNS)
                .ok_or_else(|| {
                    Error::site(
                        &msg.name,
                        format!(
                            "enumerating {size}^{} joint values is too many (at most {MAX_RUNS} runs); put the batch axes in a plate",
                            batch.elem_count()
                        ),
                    )
                })?;
            return Ok(Some((size, configs, false)));
        }
        let plate_axes: Vec<Option<usize>> =
            msg.plates.iter().map(|p| p.axis(batch.rank())).collect();
        for (axis, &d) in batch.dims().iter().enumerate() {
            if d > 1 && !plate_axes.contains(&Some(axis)) {
                return Err(Error::site(
                    &msg.name,
                    format!("batch shape {batch}: axis {axis} is in no plate; enumerated sites in plates need every batched axis in a plate"),
                ));
            }
        }
        Ok(Some((size, size, true)))
    }
}

/// The value of configuration `index` from a support of shape `[K] ++ batch ++ event`
/// with `event` elements per event: for a local site every element takes support value
/// `index`; for a global one `index` is read in base `K`, one digit per batch element.
fn config_value(support: &Tensor, index: usize, local: bool, event: usize) -> Result<Tensor> {
    if local {
        return support.narrow(0, index, 1)?.squeeze(0);
    }
    let (k, inner) = match support.dims().split_first() {
        Some((&k, rest)) => (k, Shape::new(rest)),
        None => {
            return Err(Error::invalid(
                "enumerate",
                "a support without a leading axis",
            ))
        }
    };
    let per_choice = inner.elem_count();
    let elements = per_choice / event.max(1);
    let data = support.to_f64_vec();
    let mut digits = Vec::with_capacity(elements);
    let mut rest = index;
    for _ in 0..elements {
        digits.push(rest % k);
        rest /= k;
    }
    digits.reverse();
    let mut out = Vec::with_capacity(per_choice);
    for (e, &d) in digits.iter().enumerate() {
        let start = d * per_choice + e * event;
        out.extend_from_slice(&data[start..start + event]);
    }
    Tensor::from_f64_slice(&out, inner, support.dtype(), support.device())
}

impl Handler for Enumerate {
    fn halting_plan(&mut self, name: &str) -> Result<Option<HaltingClaim>> {
        Ok((self.select.contains(name)).then(|| HaltingClaim {
            plan: HaltingPlan::Dense,
            fixes_value: true,
        }))
    }

    fn process(&mut self, msg: &mut Message) -> Result<()> {
        if !msg.is_free() {
            return Ok(());
        }
        let selected = self.select.contains(&msg.name);
        let plan = if selected {
            self.configurations(msg)?
        } else {
            None
        };
        let mut state = self.state.borrow_mut();
        let Some((size, configs, local)) = plan else {
            if let Some(d) = state.fixed.get(&msg.name) {
                msg.value = Some(d.clone());
            }
            return Ok(());
        };
        let pos = state.chosen.len();
        let index = match state.prefix.get(pos) {
            Some((name, i)) if *name == msg.name => *i,
            Some((name, _)) => {
                return Err(Error::site(
                    &msg.name,
                    format!("expected enumerated site {name:?} here: the model's sites must be determined by the enumerated values"),
                ))
            }
            None => {
                let done: Vec<(String, usize)> = state
                    .chosen
                    .iter()
                    .map(|c| (c.name.clone(), c.index))
                    .collect();
                for j in 1..configs {
                    let mut branch = done.clone();
                    branch.push((msg.name.clone(), j));
                    state.branches.push(branch);
                }
                0
            }
        };
        let support = msg.dist.enumerate_support()?;
        if support.dims().first() != Some(&size) {
            return Err(Error::site(
                &msg.name,
                format!(
                    "{} enumerates a support of shape {} for {size} values",
                    msg.dist.name(),
                    support.shape()
                ),
            ));
        }
        let event = msg.dist.event_shape().elem_count();
        let value = config_value(&support, index, local, event)?;
        let plates = local.then(|| msg.plates.iter().map(|p| p.name.clone()).collect());
        state.chosen.push(Choice {
            name: msg.name.clone(),
            index,
            configs,
            value: value.clone(),
            plates,
        });
        msg.fix_exact(value);
        msg.enumerated = true;
        Ok(())
    }

    fn postprocess(&mut self, site: &Site) -> Result<()> {
        if site.kind == SiteKind::Sample && !site.enumerated {
            self.state
                .borrow_mut()
                .fixed
                .entry(site.name.clone())
                .or_insert_with(|| site.draw.clone());
        }
        Ok(())
    }
}

/// The model with the selected discrete latent sites summed out exactly.
///
/// Running it runs `model` once per configuration (see the [module docs](self) for the
/// plate rules; `enumerate` itself must not run inside a plate) and returns an [`Enumeration`]: every run with its trace, and the log
/// marginal, which is also added to the surrounding trace as the factor
/// [`ENUMERATED_SITE`]. With [`Select::All`] every finite discrete latent site is
/// enumerated; naming a continuous site in [`Select::Only`] is an error. Observed,
/// replayed and decoded sites are not enumerated.
///
/// ```
/// use pact::dist::{Bernoulli, Normal};
/// use pact::nn::ParamStore;
/// use pact::ppl::{enumerate, run, Ctx, Select};
/// use pact::{DType, Device, Result, Rng, Tensor};
/// let s = |v: f64| Tensor::scalar(v, DType::F64, Device::Cpu);
/// let model = move |ctx: &mut Ctx| -> Result<()> {
///     let z = ctx.sample("z", Bernoulli::from_probs(s(0.3))?)?;
///     ctx.observe("x", Normal::new(z, s(1.0))?, &s(0.8))?;
///     Ok(())
/// };
/// let params = ParamStore::new(DType::F64, Device::Cpu);
/// let (e, _) = run(&enumerate(Select::All, model), &params, &mut Rng::seed(0))?;
/// let n = |x: f64, m: f64| (-(x - m) * (x - m) / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
/// let exact = (0.7 * n(0.8, 0.0) + 0.3 * n(0.8, 1.0)).ln();
/// assert!((e.log_marginal.to_scalar()? - exact).abs() < 1e-12);
/// assert_eq!(e.runs.len(), 2);
/// # Ok::<(), pact::Error>(())
/// ```
pub fn enumerate<T>(
    select: Select,
    model: impl Fn(&mut Ctx) -> Result<T>,
) -> impl Fn(&mut Ctx) -> Result<Enumeration<T>> {
    move |ctx: &mut Ctx| {
        if let Some(plate) = ctx.plates().first() {
            return Err(Error::invalid(
                "enumerate",
                format!(
                    "enumerate wraps a whole model; it was run inside plate {:?}",
                    plate.name
                ),
            ));
        }
        let state = Rc::new(RefCell::new(State::default()));
        let mut pending: Vec<Vec<(String, usize)>> = vec![Vec::new()];
        let mut runs = Vec::new();
        let mut infos = Vec::new();
        while let Some(prefix) = pending.pop() {
            if runs.len() == MAX_RUNS {
                return Err(Error::invalid(
                    "enumerate",
                    format!("more than {MAX_RUNS} configurations"),
                ));
            }
            {
                let mut s = state.borrow_mut();
                s.prefix = prefix;
                s.chosen.clear();
                s.branches.clear();
            }
            let handler = Enumerate {
                select: select.clone(),
                state: state.clone(),
            };
            let (output, trace) =
                ctx.with_fresh_trace(|ctx| ctx.with_handler(Box::new(handler), &model));
            let output = output?;
            let mut s = state.borrow_mut();
            pending.extend(s.branches.drain(..).rev());
            let chosen = std::mem::take(&mut s.chosen);
            if runs.is_empty() {
                check_total(&chosen)?;
            }
            infos.push(chosen.clone());
            runs.push(EnumRun {
                indices: chosen.iter().map(|c| c.index).collect(),
                assignment: chosen.into_iter().map(|c| (c.name, c.value)).collect(),
                output,
                trace,
            });
        }
        let log_marginal = contract(&runs, &infos)?;
        ctx.factor(ENUMERATED_SITE, &log_marginal)?;
        Ok(Enumeration { runs, log_marginal })
    }
}

/// The number of joint configurations `enumerate(select, model)` would run through,
/// found from one run of the model (the first configuration's): the product over the sites
/// it enumerates of their number of values (`K^elements` outside plates, `K` inside),
/// saturating at `usize::MAX`. Exact for models whose sites do not depend on the enumerated
/// values. A site outside plates with more than [`MAX_RUNS`] values is an error.
///
/// ```
/// use pact::dist::Bernoulli;
/// use pact::nn::ParamStore;
/// use pact::ppl::enumerate::count_configurations;
/// use pact::ppl::{run, Ctx, Select};
/// use pact::{DType, Device, Result, Rng, Tensor};
/// let model = |ctx: &mut Ctx| -> Result<()> {
///     for i in 0..30 {
///         ctx.sample(&format!("z_{i}"), Bernoulli::new(Tensor::scalar(0.0, DType::F64, Device::Cpu))?)?;
///     }
///     Ok(())
/// };
/// let params = ParamStore::new(DType::F64, Device::Cpu);
/// let (count, _) = run(&count_configurations(Select::All, model), &params, &mut Rng::seed(0))?;
/// assert_eq!(count, 1 << 30);
/// # Ok::<(), pact::Error>(())
/// ```
pub fn count_configurations<T>(
    select: Select,
    model: impl Fn(&mut Ctx) -> Result<T>,
) -> impl Fn(&mut Ctx) -> Result<usize> {
    move |ctx: &mut Ctx| {
        let state = Rc::new(RefCell::new(State::default()));
        let handler = Enumerate {
            select: select.clone(),
            state: state.clone(),
        };
        let (out, _) = ctx.with_fresh_trace(|ctx| ctx.with_handler(Box::new(handler), &model));
        out?;
        let chosen = &state.borrow().chosen;
        Ok(chosen
            .iter()
            .fold(1usize, |acc, c| acc.saturating_mul(c.configs)))
    }
}

/// Refuses, after the first run, a model whose enumerated sites have more joint
/// configurations than [`MAX_RUNS`], naming the count, before the other runs are made.
fn check_total(chosen: &[Choice]) -> Result<()> {
    let total = chosen
        .iter()
        .fold(1usize, |acc, c| acc.saturating_mul(c.configs));
    if total <= MAX_RUNS {
        return Ok(());
    }
    let mut sites: Vec<String> = chosen
        .iter()
        .take(8)
        .map(|c| format!("{} ({})", c.name, c.configs))
        .collect();
    if chosen.len() > 8 {
        sites.push(format!("… {} sites in all", chosen.len()));
    }
    let count = if total == usize::MAX {
        "more than 2^64".to_string()
    } else {
        total.to_string()
    };
    Err(Error::TooManyConfigurations {
        sites: sites.join(", "),
        count,
        limit: MAX_RUNS,
    })
}

/// The global sites' `(name, configuration index)` of a run.
type GlobalKey = Vec<(String, usize)>;

/// The exact log marginal over the runs (see the module docs).
fn contract<T>(runs: &[EnumRun<T>], infos: &[Vec<Choice>]) -> Result<Tensor> {
    // Group runs by the values of their global sites.
    let mut groups: Vec<(GlobalKey, Vec<usize>)> = Vec::new();
    for (r, info) in infos.iter().enumerate() {
        let key: GlobalKey = info
            .iter()
            .filter(|c| c.plates.is_none())
            .map(|c| (c.name.clone(), c.index))
            .collect();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(r),
            None => groups.push((key, vec![r])),
        }
    }
    let mut totals = Vec::with_capacity(groups.len());
    for (_, members) in &groups {
        totals.push(contract_group(runs, infos, members)?);
    }
    let stacked = Tensor::stack(&totals, 0)?;
    stacked.logsumexp(0)
}

/// The log marginal of runs that share their global values, summing out the local sites.
fn contract_group<T>(
    runs: &[EnumRun<T>],
    infos: &[Vec<Choice>],
    members: &[usize],
) -> Result<Tensor> {
    let first = members[0];
    let local_plates = infos[first].iter().find_map(|c| c.plates.clone());
    let Some(plate_names) = local_plates else {
        if members.len() != 1 {
            return Err(Error::invalid(
                "enumerate",
                "runs with the same global values but no local sites",
            ));
        }
        return runs[first].trace.log_joint();
    };
    for &r in members {
        for c in infos[r]
            .iter()
            .filter_map(|c| c.plates.as_ref().map(|p| (c, p)))
        {
            if *c.1 != plate_names {
                return Err(Error::site(
                    &c.0.name,
                    format!(
                        "enumerated sites in plates {:?} and {:?}: all local enumerated sites must share their plates",
                        c.1, plate_names
                    ),
                ));
            }
        }
    }
    let frames: Vec<PlateFrame> = runs[first]
        .trace
        .iter()
        .flat_map(|s| s.plates.iter())
        .filter(|p| plate_names.contains(&p.name))
        .fold(Vec::new(), |mut acc, p| {
            if !acc.iter().any(|q: &PlateFrame| q.name == p.name) {
                acc.push(p.clone());
            }
            acc
        });
    let local_scale: f64 = frames.iter().map(PlateFrame::scale).product();
    let mut global: Option<Tensor> = None;
    let mut locals = Vec::with_capacity(members.len());
    for &r in members {
        let (g, l) = split_terms(&runs[r].trace, &frames, local_scale)?;
        match &global {
            None => global = Some(g),
            Some(g0) => check_same(g0, &g)?,
        }
        locals.push(l.ok_or_else(|| Error::invalid("enumerate", "no local terms"))?);
    }
    let shape = locals.iter().try_fold(Shape::scalar(), |acc, l| {
        acc.broadcast(l.shape(), "enumerate")
    })?;
    let locals = locals
        .iter()
        .map(|l| l.broadcast_as(&shape))
        .collect::<Result<Vec<_>>>()?;
    let per_element = Tensor::stack(&locals, 0)?.logsumexp(0)?;
    let local = per_element.sum_all()?.mul_scalar(local_scale)?;
    match global {
        Some(g) => g.add(&local),
        None => Ok(local),
    }
}

/// Splits a run's log joint into the terms outside the local plates (summed) and those
/// inside (reduced to the plate axes, weighted relative to the plates' scale).
pub(super) fn split_terms(
    trace: &Trace,
    frames: &[PlateFrame],
    local_scale: f64,
) -> Result<(Tensor, Option<Tensor>)> {
    let rank = frames
        .iter()
        .map(|p| p.dim.unsigned_abs())
        .max()
        .unwrap_or(0);
    let mut global: Option<Tensor> = None;
    let mut local: Option<Tensor> = None;
    let add = |acc: &mut Option<Tensor>, t: Tensor| -> Result<()> {
        *acc = Some(match acc.take() {
            Some(a) => a.add(&t)?,
            None => t,
        });
        Ok(())
    };
    for site in trace.iter() {
        let Some(lp) = &site.log_prob else { continue };
        let inside = frames
            .iter()
            .all(|f| site.plates.iter().any(|p| p.name == f.name));
        if !inside {
            add(&mut global, lp.sum_all()?.mul_scalar(site.scale)?)?;
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
        add(&mut local, term)?;
    }
    let global = match global {
        Some(g) => g,
        None => {
            let like = local.as_ref().map(|l| (l.dtype(), l.device()));
            let (dt, dev) = like.unwrap_or((DType::F64, crate::Device::Cpu));
            Tensor::scalar(0.0, dt, dev)
        }
    };
    Ok((global, local))
}

/// Checks that the terms outside the local plates agree across runs.
fn check_same(a: &Tensor, b: &Tensor) -> Result<()> {
    let (x, y) = (a.to_scalar()?, b.to_scalar()?);
    let tol = match a.dtype() {
        DType::F32 => 1e-4,
        DType::F64 => 1e-9,
    };
    let same = x == y || (x - y).abs() <= tol * (1.0 + x.abs().max(y.abs()));
    if !same {
        return Err(Error::invalid(
            "enumerate",
            format!("log-probabilities outside the plates of the local enumerated sites depend on their values ({x} vs {y}): such sites must sit in the same plates"),
        ));
    }
    Ok(())
}
