//! The handler of parallel enumeration: gives each enumerated site a tensor axis of its own
//! (recycled across `markov` steps) and records every log-probability as a factor over the
//! enumerated sites it depends on.

use crate::dist::Distribution;
use crate::ppl::{
    HaltingClaim, HaltingPlan, Handler, MarkovFrame, Message, PlateFrame, Select, Site, Trace,
};
use crate::{Error, Result, Shape, Tensor};
use std::cell::RefCell;
use std::rc::Rc;

/// An enumerated site: a variable of the factor graph.
#[derive(Clone, Debug)]
pub(super) struct Var {
    pub name: String,
    /// Number of values.
    pub size: usize,
    /// Its enumeration axis: dim `−(nesting + 1 + axis)`.
    pub axis: usize,
    /// Plate ids, sorted.
    pub plates: Vec<usize>,
    /// Number of plates the site sits in (its plate axes are dims −1 … −depth).
    pub depth: usize,
    /// Its values, `[size] ++ event` (no gradient).
    pub support: Tensor,
    /// Its value during the run: the support along its axis.
    pub value: Tensor,
    pub markov: Vec<MarkovFrame>,
    /// The factor of its own site.
    pub home: Option<usize>,
}

/// Which side of an expectation a factor is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// A term of the model's log joint from an observation or a factor.
    Joint,
    /// A term of the model's log joint from a latent site (its prior term).
    Prior,
    /// A term of the guide's `log q` (the weights of an expectation).
    Guide,
}

/// What a run records.
#[derive(Clone, Debug)]
pub(super) enum Mode {
    /// The model alone: enumerate the selected sites, record every term.
    Model,
    /// A guide: enumerate the selected sites, record their `log q` only.
    Guide,
    /// The model after its guide ran in [`Mode::Guide`] (whose trace this is): the guide's
    /// enumerated sites take their values, its other latent sites are replayed, guided sites
    /// are enumerated with their `log q` recorded; every term is recorded.
    ModelOfGuide(Rc<Trace>),
}

/// A log-probability term: one axis per variable (in `vars` order), then the plate axes.
#[derive(Clone, Debug)]
pub(super) struct Factor {
    pub role: Role,
    pub vars: Vec<usize>,
    /// Plate ids, sorted.
    pub plates: Vec<usize>,
    pub tensor: Tensor,
}

/// What the handler collects during the run.
pub(super) struct State {
    pub mode: Mode,
    pub select: Select,
    pub nesting: usize,
    pub max_table: usize,
    pub vars: Vec<Var>,
    /// Variables whose axes are in use.
    live: Vec<usize>,
    pub plates: Vec<PlateFrame>,
    pub factors: Vec<Factor>,
}

impl State {
    pub fn new(select: Select, nesting: usize, max_table: usize) -> Self {
        State {
            mode: Mode::Model,
            select,
            nesting,
            max_table,
            vars: Vec::new(),
            live: Vec::new(),
            plates: Vec::new(),
            factors: Vec::new(),
        }
    }

    /// Turns a state that recorded a guide ([`Mode::Guide`]) to its model's run.
    pub fn start_model(&mut self, guide: Trace) {
        self.mode = Mode::ModelOfGuide(Rc::new(guide));
        self.live.clear();
    }

    /// Frees the axes of variables that no site at `now` may read any more.
    fn prune(&mut self, now: &[MarkovFrame]) {
        let vars = &self.vars;
        self.live.retain(|&v| !expired(&vars[v].markov, now));
    }

    fn free_axis(&self) -> usize {
        (0..)
            .find(|j| !self.live.iter().any(|&v| self.vars[v].axis == *j))
            .unwrap_or(0)
    }

    fn plate_id(&mut self, frame: &PlateFrame) -> Result<usize> {
        match self.plates.iter().position(|p| p.name == frame.name) {
            Some(i) if self.plates[i].dim == frame.dim && self.plates[i].size == frame.size => {
                Ok(i)
            }
            Some(i) => Err(Error::invalid(
                "enumerate_parallel",
                format!(
                    "plate {:?} appears at dim {} with {} elements and at dim {} with {}: under enumeration a plate must keep its axis",
                    frame.name, self.plates[i].dim, self.plates[i].subsample_size, frame.dim, frame.subsample_size
                ),
            )),
            None => {
                self.plates.push(frame.clone());
                Ok(self.plates.len() - 1)
            }
        }
    }

    /// Refuses a site whose log-probability would be larger than the limit.
    fn check_size(&self, name: &str, dist: &dyn Distribution, value: &Tensor) -> Result<()> {
        let event = dist.event_shape().rank();
        let dims = value.dims();
        let value_batch = Shape::new(&dims[..dims.len().saturating_sub(event)]);
        if let Ok(shape) = dist
            .batch_shape()
            .broadcast(&value_batch, "enumerate_parallel")
        {
            if shape.elem_count() > self.max_table {
                return Err(Error::site(
                    name,
                    format!(
                        "under enumeration its log-probability would have {} entries (shape {shape}), more than the limit {}: declare the model's independence with plates and markov, or raise the limit with ParallelEnum::max_table_size",
                        shape.elem_count(),
                        self.max_table
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Refuses a law that varies along an enumeration axis no site holds any more (a markov
    /// step that reads an older step than its history allows).
    fn check_reads(&self, name: &str, batch: &Shape) -> Result<()> {
        let e = batch.rank().saturating_sub(self.nesting);
        for (i, &size) in batch.dims()[..e].iter().enumerate() {
            let axis = e - 1 - i;
            if size > 1 && !self.live.iter().any(|&v| self.vars[v].axis == axis) {
                return Err(Error::site(
                    name,
                    format!(
                        "its law (batch shape {batch}) varies along dim {}, where no enumerated site is in use: a markov step read an older step than its history allows, or the law has batch axes left of the {} plate axes the enumeration was set up for",
                        -((self.nesting + 1 + axis) as isize),
                        self.nesting
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Enumerates the free site `msg`: its value is its support along a new axis.
    fn enumerate_site(&mut self, msg: &mut Message) -> Result<()> {
        let dist = msg.dist.clone();
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
            _ => return Ok(()),
        };
        let batch = dist.batch_shape();
        let rank = batch.rank() as isize;
        for (i, &d) in batch.dims().iter().enumerate() {
            let dim = i as isize - rank;
            if d > 1 && dim >= -(self.nesting as isize) && !msg.plates.iter().any(|p| p.dim == dim)
            {
                return Err(Error::site(
                    &msg.name,
                    format!(
                        "batch shape {batch}: dim {dim} (size {d}) is in no plate, and an enumerated value is shared along such an axis; put it in a plate or make it an event axis with Independent"
                    ),
                ));
            }
        }
        let axis = self.free_axis();
        let support = first_support(&*dist)?;
        let mut dims = vec![size];
        dims.extend(std::iter::repeat_n(1, axis + self.nesting));
        dims.extend_from_slice(dist.event_shape().dims());
        let value = support.reshape(dims)?;
        self.check_size(&msg.name, &*dist, &value)?;
        let mut plates = msg
            .plates
            .iter()
            .map(|p| self.plate_id(p))
            .collect::<Result<Vec<_>>>()?;
        plates.sort_unstable();
        self.vars.push(Var {
            name: msg.name.clone(),
            size,
            axis,
            plates,
            depth: msg.plates.len(),
            support,
            value: value.clone(),
            markov: msg.markov.clone(),
            home: None,
        });
        self.live.push(self.vars.len() - 1);
        msg.fix_exact(value);
        msg.enumerated = true;
        Ok(())
    }

    /// The factor of a recorded site's log-probability `lp`.
    fn factor(
        &mut self,
        site: &Site,
        lp: &Tensor,
        own: Option<usize>,
        role: Role,
    ) -> Result<Factor> {
        let p = self.nesting;
        let mut t = lp.clone();
        if t.rank() < p {
            let mut dims = vec![1; p - t.rank()];
            dims.extend_from_slice(t.dims());
            t = t.reshape(dims)?;
        }
        let e = t.rank() - p;
        let dims = t.dims().to_vec();
        let mut vars = Vec::new();
        for (i, &size) in dims[..e].iter().enumerate() {
            if size == 1 {
                continue;
            }
            let axis = e - 1 - i;
            let dim = -((p + 1 + axis) as isize);
            let v = self
                .live
                .iter()
                .copied()
                .find(|&v| self.vars[v].axis == axis)
                .ok_or_else(|| {
                    Error::site(
                        &site.name,
                        format!(
                            "its log-probability (shape {}) varies along dim {dim}, where no enumerated site is in use: a markov step read an older step than its history allows, or the site has batch axes left of the {p} plate axes the enumeration was set up for",
                            lp.shape()
                        ),
                    )
                })?;
            if self.vars[v].size != size {
                return Err(Error::site(
                    &site.name,
                    format!(
                        "its log-probability has {size} entries along dim {dim}, the axis of enumerated site {:?} with {} values",
                        self.vars[v].name, self.vars[v].size
                    ),
                ));
            }
            vars.push(v);
        }
        let mut plates = Vec::new();
        let mut scale = 1.0;
        for b in 0..p {
            let dim = b as isize - p as isize;
            let size = t.dims()[e + b];
            match site.plates.iter().find(|f| f.dim == dim) {
                Some(frame) if size == frame.subsample_size => plates.push(self.plate_id(frame)?),
                Some(frame) if size == 1 => scale *= frame.scale(),
                Some(frame) => {
                    return Err(Error::site(
                        &site.name,
                        format!(
                            "its log-probability has {size} entries along dim {dim}, the axis of plate {:?} with {}",
                            frame.name, frame.subsample_size
                        ),
                    ))
                }
                None if size > 1 && own.is_some() => {
                    return Err(Error::site(
                        &site.name,
                        format!("dim {dim} (size {size}) of an enumerated site is in no plate"),
                    ))
                }
                // Independent terms along an axis that is not a plate: their sum.
                None if size > 1 => t = t.sum_keepdim(e + b)?,
                None => {}
            }
        }
        if site.plates.len() > p {
            return Err(Error::site(
                &site.name,
                format!(
                    "it sits in {} plates, more than the {p} the enumeration was set up for (max_plate_nesting)",
                    site.plates.len()
                ),
            ));
        }
        let mut shape: Vec<usize> = vars.iter().map(|&v| self.vars[v].size).collect();
        shape.extend_from_slice(&t.dims()[e..]);
        let mut tensor = t.reshape(shape)?;
        if scale != 1.0 {
            tensor = tensor.mul_scalar(scale)?;
        }
        plates.sort_unstable();
        for &v in &vars {
            if let Some(&missing) = self.vars[v].plates.iter().find(|q| !plates.contains(q)) {
                return Err(Error::site(
                    &site.name,
                    format!(
                        "it depends on enumerated site {:?} of plate {:?} but does not vary along that plate",
                        self.vars[v].name, self.plates[missing].name
                    ),
                ));
            }
        }
        Ok(Factor {
            role,
            vars,
            plates,
            tensor,
        })
    }
}

impl State {
    /// Gives the model's site `msg` the value of the guide's enumerated site `v`.
    fn reuse(&mut self, v: usize, msg: &mut Message) -> Result<()> {
        let var = &self.vars[v];
        if msg.dist.support().size() != Some(var.size) {
            return Err(Error::site(
                &msg.name,
                format!(
                    "the guide enumerates {} values here, the model's {} has support {}",
                    var.size,
                    msg.dist.name(),
                    msg.dist.support()
                ),
            ));
        }
        if let Some(&u) = self
            .live
            .iter()
            .find(|&&u| u != v && self.vars[u].axis == var.axis)
        {
            return Err(Error::site(
                &msg.name,
                format!(
                    "the guide put it on the axis of {:?}, which the model still reads: give the guide the model's markov structure",
                    self.vars[u].name
                ),
            ));
        }
        let value = var.value.clone();
        self.vars[v].markov = msg.markov.clone();
        if !self.live.contains(&v) {
            self.live.push(v);
        }
        msg.fix_exact(value);
        msg.enumerated = true;
        Ok(())
    }
}

/// Whether a variable made at `var` can no longer be read at `now`: both are in the same
/// `markov` context, more than its history steps apart.
fn expired(var: &[MarkovFrame], now: &[MarkovFrame]) -> bool {
    for (a, b) in var.iter().zip(now) {
        if a.id != b.id {
            return false;
        }
        if a.step != b.step {
            return b.step.saturating_sub(a.step) > a.history;
        }
    }
    false
}

/// The support of the law's first batch element, `[K] ++ event`, without gradient.
fn first_support(dist: &dyn Distribution) -> Result<Tensor> {
    let s = dist.enumerate_support()?.detach();
    let k = s.dims().first().copied().unwrap_or(0);
    let event = dist.event_shape();
    let per_value = s.elem_count() / k.max(1);
    let elements = per_value / event.elem_count().max(1);
    if k == 0 || elements == 0 {
        return Err(Error::unsupported(
            dist.name(),
            "enumerate_support",
            "an empty support or batch",
        ));
    }
    let mut dims = vec![k];
    dims.extend_from_slice(event.dims());
    s.reshape([k, elements, event.elem_count()])?
        .narrow(1, 0, 1)?
        .reshape(dims)
}

/// The handler.
pub(super) struct ParallelEnumerate {
    pub state: Rc<RefCell<State>>,
}

impl Handler for ParallelEnumerate {
    fn halting_plan(&mut self, name: &str) -> Result<Option<HaltingClaim>> {
        let _ = name;
        Ok(Some(HaltingClaim {
            plan: HaltingPlan::Dense,
            fixes_value: true,
        }))
    }

    fn process(&mut self, msg: &mut Message) -> Result<()> {
        msg.broadcast = true;
        let mut state = self.state.borrow_mut();
        state.prune(&msg.markov);
        state.check_reads(&msg.name, &msg.dist.batch_shape())?;
        if let Some(d) = &msg.value {
            state.check_size(&msg.name, &*msg.dist, d.value())?;
        }
        if !msg.is_free() {
            return Ok(());
        }
        let guide = match &state.mode {
            Mode::ModelOfGuide(trace) => Some(trace.clone()),
            _ => None,
        };
        let Some(guide) = guide else {
            if !state.select.contains(&msg.name) {
                return Ok(());
            }
            return state.enumerate_site(msg);
        };
        if let Some(v) = state.vars.iter().position(|v| v.name == msg.name) {
            return state.reuse(v, msg);
        }
        if let Some(site) = guide.get(&msg.name).filter(|s| s.is_latent()) {
            msg.value = Some(site.draw.clone());
            msg.replayed = true;
            return Ok(());
        }
        if msg.guide.is_some() && state.select.contains(&msg.name) {
            return state.enumerate_site(msg);
        }
        Ok(())
    }

    fn postprocess(&mut self, site: &Site) -> Result<()> {
        let Some(lp) = &site.log_prob else {
            return Ok(());
        };
        let mut state = self.state.borrow_mut();
        state.prune(&site.markov);
        let own = state
            .vars
            .iter()
            .rposition(|v| v.name == site.name)
            .filter(|_| site.enumerated);
        match state.mode {
            Mode::Guide => {
                if own.is_some() {
                    let factor = state.factor(site, lp, own, Role::Guide)?;
                    state.factors.push(factor);
                }
                return Ok(());
            }
            Mode::ModelOfGuide(_) => {
                if let (Some(lq), Some(_)) = (&site.guide_log_prob, own) {
                    let factor = state.factor(site, lq, own, Role::Guide)?;
                    state.factors.push(factor);
                }
            }
            Mode::Model => {}
        }
        let role = if site.is_latent() {
            Role::Prior
        } else {
            Role::Joint
        };
        let factor = state.factor(site, lp, own, role)?;
        if let Some(v) = own {
            state.vars[v].home = Some(state.factors.len());
        }
        state.factors.push(factor);
        Ok(())
    }
}

/// Records the most plate axes any site uses (a trial run without enumeration).
pub(super) struct NestingProbe {
    pub depth: Rc<std::cell::Cell<usize>>,
}

impl Handler for NestingProbe {
    fn process(&mut self, _msg: &mut Message) -> Result<()> {
        Ok(())
    }

    fn postprocess(&mut self, site: &Site) -> Result<()> {
        let rank = site.log_prob.as_ref().map_or(0, Tensor::rank);
        let depth = rank.max(site.plates.len());
        if depth > self.depth.get() {
            self.depth.set(depth);
        }
        Ok(())
    }
}
