//! Parallel enumeration with variable elimination: the exact sum (or max) over the finite
//! supports of discrete sites in one run of the model, at a cost that follows the model's
//! structure (plates, `markov` chains) instead of the number of joint configurations.
//!
//! Under [`enumerate_parallel`] each enumerated site takes *all* its values at once, along a
//! tensor axis of its own to the left of the plate axes: with `P` plate axes
//! (`max_plate_nesting`), the `j`-th axis in use sits at dim `−(P + 1 + j)`, and a site's
//! value has shape `[K, 1, …, 1] ++ event`. Everything the model computes from it broadcasts,
//! so every log-probability is a tensor over the enumerated sites it depends on (a factor).
//! Inside [`Ctx::markov`](crate::ppl::Ctx::markov) the axes of steps that no later step reads
//! are reused, so a chain of any length needs a fixed number of axes.
//!
//! The factors are then contracted by variable elimination: plates are multiplied out
//! (a sum of logs over their axes) once the sites local to them are summed out, and the
//! variables are eliminated greedily, smallest table first, so that a chain costs time
//! linear in its length. The same contraction gives
//!
//! - [`FactorGraph::log_marginal`] (sum-product, differentiable: maximise it to fit the
//!   model's parameters by exact marginal likelihood),
//! - [`FactorGraph::map`] (max-product and backtrace: Viterbi on a chain),
//! - [`FactorGraph::sample`] (sum-product forward, sampling backward),
//! - [`FactorGraph::marginals`] and [`FactorGraph::per_element`],
//!
//! and [`infer_discrete`] runs the model again with the MAP or a posterior draw in place.
//!
//! Rules, as in Pyro's `TraceEnum_ELBO`: every batch axis of an enumerated site with more
//! than one element must be a plate axis (make other axes event axes with `Independent`);
//! plates keep their axes across the model; a site that reads an enumerated value must sit in
//! that site's plates; and model code must broadcast (index tables with [`lookup`], not with
//! host values). Latent sites that are not enumerated are drawn (with the enumeration axes
//! of whatever they depend on); replay them from a guide or leave them out.
//!
//! Before contracting, the plan's largest table is checked against a limit
//! ([`ParallelEnum::max_table_size`], 2^24 entries by default), and refused with an error
//! that names its size and sites; so is, during the run, a site whose log-probability would
//! exceed it.
//!
//! ```
//! use pact::dist::{Categorical, Normal};
//! use pact::nn::ParamStore;
//! use pact::ppl::{enumerate_parallel, lookup, run, Ctx, Select};
//! use pact::{DType, Device, Result, Rng, Tensor};
//! let t = |v: &[f64], s: &[usize]| Tensor::from_f64_slice(v, s, DType::F64, Device::Cpu);
//! let ys = [0.1, 3.9, 4.2, -0.2];
//! // A two-state HMM: x_t ~ Categorical(trans[x_{t−1}]), y_t ~ N(locs[x_t], 1).
//! let model = |ctx: &mut Ctx| -> Result<()> {
//!     let trans = t(&[0.9, 0.1, 0.2, 0.8], &[2, 2])?.log()?;
//!     let locs = t(&[0.0, 4.0], &[2])?;
//!     let mut prev: Option<Tensor> = None;
//!     ctx.markov(ys.len(), |ctx, i| {
//!         let logits = match &prev {
//!             None => t(&[0.5, 0.5], &[2])?.log()?,
//!             Some(x) => lookup(&trans, x)?,
//!         };
//!         let x = ctx.sample(&format!("x_{i}"), Categorical::new(logits)?)?;
//!         let y = Tensor::scalar(ys[i], DType::F64, Device::Cpu);
//!         ctx.observe(&format!("y_{i}"), Normal::new(lookup(&locs, &x)?, y.ones_like())?, &y)?;
//!         prev = Some(x);
//!         Ok(())
//!     })
//! };
//! let params = ParamStore::new(DType::F64, Device::Cpu);
//! let (graph, _) = run(&enumerate_parallel(Select::All, model), &params, &mut Rng::seed(0))?;
//! let map = graph.map()?;
//! let path: Vec<f64> = (0..4).map(|i| map.values.get(&format!("x_{i}")).unwrap().to_scalar())
//!     .collect::<Result<_>>()?;
//! assert_eq!(path, vec![0.0, 1.0, 1.0, 0.0]);
//! assert!(graph.log_marginal.to_scalar()? > map.log_joint.to_scalar()?);
//! # Ok::<(), pact::Error>(())
//! ```

mod backtrack;
mod execute;
mod expectation;
mod graph;
mod handler;
mod plan;

pub use expectation::GuideExpectation;
pub use graph::{FactorGraph, MapEstimate};

use super::enumerate::ENUMERATED_SITE;
use super::{Ctx, HaltingClaim, HaltingPlan, Handler, Message, Select, Values};
use crate::{Error, Result, Shape, Tensor};
use handler::{NestingProbe, ParallelEnumerate, State};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

/// The default largest table (entries) a parallel enumeration may build.
pub const DEFAULT_MAX_TABLE: usize = 1 << 24;

/// Settings of parallel enumeration: which sites, how many plate axes, how large a table.
///
/// ```
/// use pact::ppl::{ParallelEnum, Select};
/// let settings = ParallelEnum::new(Select::All).max_plate_nesting(1).max_table_size(1 << 20);
/// # let _ = settings;
/// ```
#[derive(Clone, Debug)]
pub struct ParallelEnum {
    select: Select,
    max_plate_nesting: Option<usize>,
    max_table: usize,
}

impl ParallelEnum {
    /// Enumerates the `select`ed finite discrete latent sites (with [`Select::All`], every
    /// free one with a finite support; a named site without one is an error).
    pub fn new(select: Select) -> Self {
        ParallelEnum {
            select,
            max_plate_nesting: None,
            max_table: DEFAULT_MAX_TABLE,
        }
    }

    /// The number of plate axes, `P`: enumeration axes start at dim `−(P + 1)`. By default
    /// it is found by one run of the model without enumeration (the most plates, or batch
    /// axes, of any site), once per wrapped model.
    pub fn max_plate_nesting(mut self, plates: usize) -> Self {
        self.max_plate_nesting = Some(plates);
        self
    }

    /// The most entries a table of the contraction (or a site's log-probability) may have
    /// (default [`DEFAULT_MAX_TABLE`]).
    pub fn max_table_size(mut self, entries: usize) -> Self {
        self.max_table = entries;
        self
    }

    /// The model run under parallel enumeration: returns the [`FactorGraph`] and adds its log
    /// marginal to the surrounding trace as the factor
    /// [`ENUMERATED_SITE`].
    pub fn wrap<T>(
        self,
        model: impl Fn(&mut Ctx) -> Result<T>,
    ) -> impl Fn(&mut Ctx) -> Result<FactorGraph<T>> {
        let nesting = OnceLock::new();
        move |ctx: &mut Ctx| {
            let graph = self.enumerate_in(ctx, &model, &nesting)?;
            ctx.factor(ENUMERATED_SITE, &graph.log_marginal)?;
            Ok(graph)
        }
    }

    /// The model run once more with its enumerated sites fixed to their MAP values or to a
    /// draw from their posterior (Pyro's `infer_discrete`); see [`infer_discrete`].
    pub fn infer_discrete<T>(
        self,
        choice: Posterior,
        model: impl Fn(&mut Ctx) -> Result<T>,
    ) -> impl Fn(&mut Ctx) -> Result<T> {
        let nesting = OnceLock::new();
        move |ctx: &mut Ctx| {
            let graph = self.enumerate_in(ctx, &model, &nesting)?;
            let values = match choice {
                Posterior::Map => graph.map()?.values,
                Posterior::Sample => graph.sample(ctx.rng())?,
            };
            let fix = Fix {
                values: Arc::new(values),
            };
            ctx.with_handler(Box::new(fix), &model)
        }
    }

    /// Runs `model` under enumeration in a fresh trace and builds its factor graph.
    fn enumerate_in<T>(
        &self,
        ctx: &mut Ctx,
        model: &impl Fn(&mut Ctx) -> Result<T>,
        nesting: &OnceLock<usize>,
    ) -> Result<FactorGraph<T>> {
        if let Some(plate) = ctx.plates().first() {
            return Err(Error::invalid(
                "enumerate_parallel",
                format!(
                    "enumeration wraps a whole model; it was run inside plate {:?}",
                    plate.name
                ),
            ));
        }
        let p = match (self.max_plate_nesting, nesting.get()) {
            (Some(p), _) | (None, Some(&p)) => p,
            (None, None) => {
                let depth = Rc::new(Cell::new(0));
                let probe = NestingProbe {
                    depth: depth.clone(),
                };
                let (out, _) = ctx.with_fresh_trace(|ctx| ctx.with_handler(Box::new(probe), model));
                out?;
                let _ = nesting.set(depth.get());
                depth.get()
            }
        };
        let state = Rc::new(RefCell::new(State::new(
            self.select.clone(),
            p,
            self.max_table,
        )));
        let handler = ParallelEnumerate {
            state: state.clone(),
        };
        let (output, trace) =
            ctx.with_fresh_trace(|ctx| ctx.with_handler(Box::new(handler), model));
        let output = output?;
        let state = std::mem::replace(&mut *state.borrow_mut(), State::new(Select::All, 0, 0));
        FactorGraph::new(output, trace, state)
    }
}

/// How [`infer_discrete`] sets the enumerated sites.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Posterior {
    /// The most probable configuration (Pyro's `temperature = 0`).
    Map,
    /// A draw from the exact posterior (Pyro's `temperature = 1`).
    Sample,
}

/// The model with the `select`ed finite discrete latent sites enumerated in parallel (see
/// the [module docs](self)); running it returns a [`FactorGraph`] with the exact log
/// marginal, and queries for the MAP, posterior draws, marginals and per-element results.
/// Shorthand for `ParallelEnum::new(select).wrap(model)`.
pub fn enumerate_parallel<T>(
    select: Select,
    model: impl Fn(&mut Ctx) -> Result<T>,
) -> impl Fn(&mut Ctx) -> Result<FactorGraph<T>> {
    ParallelEnum::new(select).wrap(model)
}

/// The model run with the `select`ed discrete sites at their joint MAP values
/// ([`Posterior::Map`]) or at a draw from their exact posterior ([`Posterior::Sample`]),
/// found by parallel enumeration: returns the model's output, and the trace holds the
/// values (marked `decoded`) with their log-probabilities, so its log joint is that of the
/// configuration. Latent sites that are not enumerated are drawn again in the second run.
///
/// ```
/// use pact::dist::{Bernoulli, Normal};
/// use pact::nn::ParamStore;
/// use pact::ppl::{infer_discrete, run, Ctx, Posterior, Select};
/// use pact::{DType, Device, Result, Rng, Tensor};
/// let s = |v: f64| Tensor::scalar(v, DType::F64, Device::Cpu);
/// let model = move |ctx: &mut Ctx| -> Result<Tensor> {
///     let z = ctx.sample("z", Bernoulli::from_probs(s(0.3))?)?;
///     ctx.observe("x", Normal::new(z.mul_scalar(3.0)?, s(1.0))?, &s(2.5))?;
///     Ok(z)
/// };
/// let params = ParamStore::new(DType::F64, Device::Cpu);
/// let decoded = infer_discrete(Select::All, Posterior::Map, model);
/// let (z, trace) = run(&decoded, &params, &mut Rng::seed(0))?;
/// assert_eq!(z.to_scalar()?, 1.0);
/// assert!(trace.get("z").unwrap().decoded);
/// # Ok::<(), pact::Error>(())
/// ```
pub fn infer_discrete<T>(
    select: Select,
    choice: Posterior,
    model: impl Fn(&mut Ctx) -> Result<T>,
) -> impl Fn(&mut Ctx) -> Result<T> {
    ParallelEnum::new(select).infer_discrete(choice, model)
}

/// Fixes sites to given values, keeping them latent.
struct Fix {
    values: Arc<Values>,
}

impl Handler for Fix {
    fn halting_plan(&mut self, name: &str) -> Result<Option<HaltingClaim>> {
        Ok((self.values.get(name).is_some()).then(|| HaltingClaim {
            plan: HaltingPlan::Dense,
            fixes_value: true,
        }))
    }

    fn process(&mut self, msg: &mut Message) -> Result<()> {
        if !msg.is_free() {
            return Ok(());
        }
        let Some(v) = self.values.get(&msg.name) else {
            return Ok(());
        };
        let batch = msg.dist.batch_shape();
        let expected = Shape::new([batch.dims(), msg.dist.event_shape().dims()].concat());
        let value = if v.shape() == &expected {
            v.clone()
        } else if v.elem_count() == expected.elem_count() {
            v.reshape(expected)?
        } else {
            v.broadcast_as(&expected).map_err(|_| {
                Error::site(
                    &msg.name,
                    format!(
                        "a value of shape {} where {expected} is expected",
                        v.shape()
                    ),
                )
            })?
        };
        msg.fix_exact(value);
        msg.decoded = true;
        Ok(())
    }
}

/// The rows of `table` picked by the integer values of `index` (an enumerated or sampled
/// `Categorical` value, say): shape `index.shape ++ table.shape[1..]`, differentiable with
/// respect to `table`. Indexing that broadcasts, for models run under enumeration.
///
/// ```
/// use pact::ppl::lookup;
/// use pact::{DType, Device, Tensor};
/// let table = Tensor::from_f64_slice(&[1., 2., 3., 4., 5., 6.], [3, 2], DType::F64, Device::Cpu)?;
/// let index = Tensor::from_f64_slice(&[2., 0.], [2, 1], DType::F64, Device::Cpu)?;
/// let rows = lookup(&table, &index)?;
/// assert_eq!(rows.dims(), &[2, 1, 2]);
/// assert_eq!(rows.to_f64_vec(), vec![5., 6., 1., 2.]);
/// # Ok::<(), pact::Error>(())
/// ```
pub fn lookup(table: &Tensor, index: &Tensor) -> Result<Tensor> {
    let rows = table
        .dims()
        .first()
        .copied()
        .ok_or_else(|| Error::invalid("lookup", "a table of rank 0 has no rows to look up"))?;
    let indices = index
        .to_f64_vec()
        .into_iter()
        .map(|v| {
            if v >= 0.0 && v.fract() == 0.0 && (v as usize) < rows {
                Ok(v as usize)
            } else {
                Err(Error::invalid(
                    "lookup",
                    format!("index {v} is not a row of a table with {rows} rows"),
                ))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let mut dims = index.dims().to_vec();
    dims.extend_from_slice(&table.dims()[1..]);
    table.index_select(0, &indices)?.reshape(dims)
}
