//! Halting sites: a latent number of steps whose value decides whether the model goes on.
//!
//! A block of `L` steps (the residual units of a ResNet stage, the pondering steps of a
//! recurrent cell) runs step after step; after each step but the last, a halting head gives
//! the logit `a_l` of the conditional probability of stopping there, and the block's output is
//! `Σ_l w_l s_l` for the site's value `w` (a one-hot `e_N`, relaxed stick-breaking weights, or
//! ACT's weights). [`Ctx::halting`] is that block as one site of the modelling language:
//! its prior is the model's law of `N` (one-hot, event shape `[L]`), its amortised posterior
//! the law the caller builds from the heads' logits.
//!
//! How the steps run is up to the handlers around the model, so the same model serves every
//! halting mode:
//!
//! - **dense** (the default, and under `relax` with Concrete or straight-through,
//!   `enumerate`, `condition`, `replay`): every step and head runs, the posterior is built from
//!   all the logits, and the site is then drawn, relaxed, fixed or enumerated like a
//!   [`Ctx::sample_guided`] site;
//! - **online**: a [`HaltingRule`] sees each step's logits as they come and decides which rows
//!   stop. `decode` with [`DecodeRule::Threshold`](super::DecodeRule::Threshold) halts each
//!   row at the first step whose halting probability reaches the threshold (math §6), and
//!   halted rows leave the batch, so later steps run on fewer rows and only the current state
//!   is held; a [`CustomRelaxation`](super::CustomRelaxation) may bring its own rule (ACT's
//!   weights accumulate as the steps run and the block stops when every row has halted);
//!   [`full_depth`] runs every step without evaluating the heads.
//!
//! Enumerated in parallel ([`enumerate_parallel`](super::enumerate_parallel), `Exact` in
//! `pact-inference`), a dense site's output holds every step's state along the site's
//! enumeration axis, and what the block passes on ([`HaltingOutput::carry`]) is the posterior
//! expectation `Σ_l q(N = l) s_l`, so a chain of halting sites stays linear in its length
//! (PonderNet's recurrence, math §10).
//!
//! ```
//! use pact::dist::{Distribution, OneHotCategorical};
//! use pact::nn::ParamStore;
//! use pact::ppl::{decode, run, Ctx, DecodeRule, HaltingSite};
//! use pact::{DType, Device, Result, Rng, Tensor};
//! use std::sync::Arc;
//!
//! const CPU: Device = Device::Cpu;
//! // Three steps that add 1 to the state; the halting logit after a step is the state − 1.5.
//! let uniform = OneHotCategorical::new(Tensor::zeros([3], DType::F64, CPU))?;
//! // Any law of N built from the logits [B, L − 1] will do for this example: a categorical
//! // with a logit 0 for the last step (in real use, the stick-breaking law of the logits).
//! let site = HaltingSite::new(3, Arc::new(uniform), |logits: &Tensor| {
//!     let last = Tensor::zeros([logits.dims()[0], 1], logits.dtype(), logits.device());
//!     let law: Arc<dyn Distribution> =
//!         Arc::new(OneHotCategorical::new(Tensor::concat(&[logits.clone(), last], 1)?)?);
//!     Ok(law)
//! });
//! let model = move |ctx: &mut Ctx| -> Result<Tensor> {
//!     let input = Tensor::from_f64_slice(&[0.0, -8.0], [2, 1], DType::F64, CPU)?;
//!     let out = ctx.plate("batch", 2, |ctx| {
//!         ctx.halting(
//!             "n",
//!             &site,
//!             &input,
//!             |_step, s, _rows| s.add_scalar(1.0),
//!             |_step, s| s.squeeze(1)?.add_scalar(-1.5),
//!         )
//!     })?;
//!     Ok(out.output)
//! };
//! let params = ParamStore::new(DType::F64, CPU);
//! // Decoded online: row 0 halts after step 2 (logit 0.5 ≥ 0), row 1 runs all 3 steps.
//! let (out, trace) = run(&decode(DecodeRule::Threshold(0.5), model), &params, &mut Rng::seed(0))?;
//! assert_eq!(out.to_f64_vec(), vec![2.0, -5.0]);
//! assert_eq!(trace.value("n")?.to_f64_vec(), vec![0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
//! # Ok::<(), pact::Error>(())
//! ```
//!
//! # In place: rows that share one state
//!
//! When every position of a feature map halts on its own (spatially adaptive computation
//! time, math §8), the rows of the site are the positions, but a step transforms the whole
//! map: a position's next state depends on its neighbours, halted or not, so halted rows
//! cannot leave the batch. [`Ctx::halting_in_place`] is the same site for such rows: the
//! caller names the axes of the state that index them (`[0, 2, 3]` of a `[B, C, H, W]` map:
//! the site's batch shape is `[B, H, W]`), the heads give a logit per row in that shape, and
//! instead of compacting, the steps receive the 0/1 mask of the rows still running, shaped
//! to broadcast against the state (`[B, 1, H, W]`), with which a residual step freezes the
//! halted rows (`state + mask ⊙ branch(state)`). The output is `Σ_l w_l s_l` per row. The
//! first step runs for every row and may change the state's shape (its output defines the
//! rows). The handlers choose dense or online runs exactly as for [`Ctx::halting`], and the
//! same rules work unchanged on the rows (flattened row-major): ACT's weights per row, the
//! threshold of `decode` per row (a halted row keeps the state of the step it halted at),
//! [`full_depth`]. The posterior is built from the logits `rows ++ [L − 1]` (`[B, H, W,
//! L − 1]`). Objectives that should average over the rows rather than sum put the site in
//! [`Ctx::scaled`].
//!
//! ```
//! use pact::dist::{Distribution, OneHotCategorical};
//! use pact::nn::ParamStore;
//! use pact::ppl::{decode, run, Ctx, DecodeRule, HaltingSite};
//! use pact::{DType, Device, Result, Rng, Tensor};
//! use std::sync::Arc;
//!
//! const CPU: Device = Device::Cpu;
//! let uniform = OneHotCategorical::new(Tensor::zeros([3], DType::F64, CPU))?;
//! let site = HaltingSite::new(3, Arc::new(uniform), |logits: &Tensor| {
//!     // logits: [B, W, L − 1] here; a last logit 0 for the last step.
//!     let (b, w) = (logits.dims()[0], logits.dims()[1]);
//!     let last = Tensor::zeros([b, w, 1], logits.dtype(), logits.device());
//!     let law: Arc<dyn Distribution> =
//!         Arc::new(OneHotCategorical::new(Tensor::concat(&[logits.clone(), last], 2)?)?);
//!     Ok(law)
//! });
//! // One "image" of one channel and three positions, [B, C, W] = [1, 1, 3]; the positions
//! // are the rows (axes 0 and 2). A step adds 1 where the position still runs; the halting
//! // logit of a position is its value − 1.5.
//! let model = move |ctx: &mut Ctx| -> Result<(Tensor, Vec<usize>)> {
//!     let input = Tensor::from_f64_slice(&[2.0, 0.0, -9.0], [1, 1, 3], DType::F64, CPU)?;
//!     let out = ctx.halting_in_place(
//!         "n",
//!         &site,
//!         &input,
//!         &[0, 2],
//!         |_step, s, mask| match mask {
//!             Some(m) => s.add(m),
//!             None => s.add_scalar(1.0),
//!         },
//!         |_step, s| s.squeeze(1)?.add_scalar(-1.5),
//!     )?;
//!     Ok((out.output, out.steps))
//! };
//! let params = ParamStore::new(DType::F64, CPU);
//! let decoded = decode(DecodeRule::Threshold(0.5), model);
//! let ((out, steps), trace) = run(&decoded, &params, &mut Rng::seed(0))?;
//! // Position 0 halts after step 1 (3 − 1.5 ≥ 0) and stays at 3; position 1 halts after
//! // step 2; position 2 runs all three steps.
//! assert_eq!(steps, vec![1, 2, 3]);
//! assert_eq!(out.to_f64_vec(), vec![3.0, 2.0, -6.0]);
//! assert_eq!(trace.value("n")?.dims(), [1, 3, 3]);
//! # Ok::<(), pact::Error>(())
//! ```

use super::{Ctx, Relaxation, Site, SiteKind};
use crate::dist::{Distribution, Draw};
use crate::{Error, Result, Shape, Tensor};
use std::fmt;
use std::sync::Arc;

/// Builds the amortised posterior of `N` from the halting logits `[B, L − 1]`.
pub type PosteriorFn = dyn Fn(&Tensor) -> Result<Arc<dyn Distribution>> + Send + Sync;

/// What a halting site needs besides its steps: their number, the prior of `N` and how to
/// build the posterior from the heads' logits.
#[derive(Clone)]
pub struct HaltingSite {
    steps: usize,
    prior: Arc<dyn Distribution>,
    posterior: Arc<PosteriorFn>,
}

impl fmt::Debug for HaltingSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HaltingSite")
            .field("steps", &self.steps)
            .field("prior", &self.prior.name())
            .finish()
    }
}

impl HaltingSite {
    /// A site of `steps` steps with the prior law `prior` of the one-hot `e_N` (event shape
    /// `[steps]`; a plate expands its batch shape) and the posterior `posterior(logits)`.
    pub fn new(
        steps: usize,
        prior: Arc<dyn Distribution>,
        posterior: impl Fn(&Tensor) -> Result<Arc<dyn Distribution>> + Send + Sync + 'static,
    ) -> Self {
        HaltingSite {
            steps,
            prior,
            posterior: Arc::new(posterior),
        }
    }

    /// The number of steps `L`.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The prior of `e_N`.
    pub fn prior(&self) -> &Arc<dyn Distribution> {
        &self.prior
    }

    /// The posterior for halting logits `[B, L − 1]`.
    pub fn posterior(&self, logits: &Tensor) -> Result<Arc<dyn Distribution>> {
        (self.posterior)(logits)
    }
}

/// What [`Ctx::halting`] returns.
#[derive(Clone, Debug)]
pub struct HaltingOutput {
    /// The block's output `Σ_l w_l s_l`, `[B, ..]` (with a leading enumeration axis when the
    /// site is enumerated in parallel).
    pub output: Tensor,
    /// The site's value `w`, `[B, L]` (or the site's value with the axes its handlers gave it).
    pub value: Tensor,
    /// How many steps ran for each row.
    pub steps: Vec<usize>,
    /// The posterior built from every step's logits (dense runs only).
    pub posterior: Option<Arc<dyn Distribution>>,
    /// When the site is enumerated in parallel (its value, and so `output`, carries an
    /// enumeration axis): the posterior expectation of the output, `Σ_l q(N = l) s_l`, without
    /// that axis. `None` otherwise. See [`HaltingOutput::carry`].
    pub expected: Option<Tensor>,
}

impl HaltingOutput {
    /// What the block passes on to the steps after it: `output`, except under parallel
    /// enumeration, where it is the posterior expectation [`HaltingOutput::expected`].
    ///
    /// Enumerated in parallel, the site's output holds every `s_l` along the site's
    /// enumeration axis; the terms that read the output at once (a readout observed at this
    /// input step, say) are then exact expectations over `N`. Passing that output on would
    /// give every later site one more axis and tie them all together, so a chain of halting
    /// sites (a pondering RNN's input steps) carries the expected state instead: each site's
    /// enumeration axis is read by its own step only, and the chain costs time linear in its
    /// length. This is PonderNet's recurrence (math §10). Under any other handler the value is
    /// one draw, relaxation or decision, and the carry is the output itself.
    ///
    /// ```
    /// use pact::dist::{Distribution, OneHotCategorical};
    /// use pact::nn::ParamStore;
    /// use pact::ppl::{enumerate_parallel, run, Ctx, HaltingOutput, HaltingSite, Select};
    /// use pact::{DType, Device, Result, Rng, Tensor};
    /// use std::sync::Arc;
    /// const CPU: Device = Device::Cpu;
    /// // Two steps adding 1 and 3; q(N) = (½, ½) whatever the state.
    /// let uniform = OneHotCategorical::new(Tensor::zeros([2], DType::F64, CPU))?;
    /// let site = HaltingSite::new(2, Arc::new(uniform), |logits: &Tensor| {
    ///     let zero = Tensor::zeros([logits.dims()[0], 1], logits.dtype(), logits.device());
    ///     let q: Arc<dyn Distribution> =
    ///         Arc::new(OneHotCategorical::new(Tensor::concat(&[logits.zeros_like(), zero], 1)?)?);
    ///     Ok(q)
    /// });
    /// let model = |ctx: &mut Ctx| -> Result<HaltingOutput> {
    ///     let x = Tensor::from_f64_slice(&[0.0, 10.0], [2, 1], DType::F64, CPU)?;
    ///     ctx.plate("batch", 2, |ctx| {
    ///         let add = |l: usize, s: &Tensor, _: &[usize]| s.add_scalar((2 * l + 1) as f64);
    ///         ctx.halting("n", &site, &x, add, |_, s| s.squeeze(1))
    ///     })
    /// };
    /// let params = ParamStore::new(DType::F64, CPU);
    /// // Drawn: one state per row, passed on as it is.
    /// let (drawn, _) = run(&model, &params, &mut Rng::seed(0))?;
    /// assert!(drawn.expected.is_none() && drawn.carry().dims() == [2, 1]);
    /// // Enumerated in parallel: both states along the site's axis, their mean passed on.
    /// let (graph, _) = run(&enumerate_parallel(Select::All, model), &params, &mut Rng::seed(0))?;
    /// assert_eq!(graph.output.output.dims(), [2, 2, 1]);
    /// assert_eq!(graph.output.carry().to_f64_vec(), vec![2.5, 12.5]);
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn carry(&self) -> &Tensor {
        self.expected.as_ref().unwrap_or(&self.output)
    }
}

/// What one online step decides for the rows still running.
#[derive(Clone, Debug)]
pub struct StepDecision {
    /// The weight of this step's state for each running row, `[rows]` (differentiable); not
    /// used by a compacting rule, whose rows take the state of the step they halt at.
    pub weights: Option<Tensor>,
    /// Which running rows halt at this step.
    pub halts: Vec<bool>,
}

/// An online halting rule: decides step by step which rows halt (see the module docs).
pub trait HaltingRule: fmt::Debug + Send + Sync {
    /// A name recorded in traces.
    fn name(&self) -> &str;

    /// Whether halted rows leave the batch: the value is then one-hot and no gradient reaches
    /// later steps (evaluation).
    fn compacts(&self) -> bool;

    /// Whether the rule reads the heads' logits (a rule that ignores them saves their cost).
    fn needs_logits(&self) -> bool {
        true
    }

    /// Starts a run over a batch of `rows` rows.
    fn start(&self, rows: usize) -> Result<Box<dyn HaltingRun>>;

    /// The law to record as the site's posterior for the value the rule produced (`None`:
    /// none is recorded).
    fn guide(&self, value: &Tensor) -> Result<Option<Arc<dyn Distribution>>> {
        let _ = value;
        Ok(None)
    }
}

/// The state of a [`HaltingRule`] over one batch.
pub trait HaltingRun {
    /// Decides after step `l` (0-based) for the running rows `rows` (input row indices), given
    /// their halting logits `[rows]` (`None` after the last step, where every row halts, and
    /// when the rule does not read logits).
    fn step(&mut self, l: usize, logits: Option<&Tensor>, rows: &[usize]) -> Result<StepDecision>;
}

/// How a halting site runs, as a handler chooses it ([`Handler::halting_plan`](super::Handler::halting_plan)).
#[derive(Clone, Debug)]
pub enum HaltingPlan {
    /// Every step and head runs; then the site is a guided site like any other.
    Dense,
    /// The rule decides online; `relaxation` (if any) relaxes the prior that scores the value,
    /// and `decoded` marks the value as decoded.
    Online {
        /// The rule.
        rule: Arc<dyn HaltingRule>,
        /// The relaxation the value is scored by (`None`: the exact prior).
        relaxation: Option<Relaxation>,
        /// Whether the value counts as decoded (deterministic evaluation).
        decoded: bool,
    },
}

/// A handler's claim on a halting site: a plan, and whether the handler fixes the site's value
/// (`decode`, `condition`, `replay`, enumeration), which takes precedence over a handler that
/// only relaxes it, as in [`Handler::process`](super::Handler::process).
#[derive(Clone, Debug)]
pub struct HaltingClaim {
    /// How the site runs.
    pub plan: HaltingPlan,
    /// Whether the claiming handler fixes the value.
    pub fixes_value: bool,
}

/// The rule of `decode` with [`DecodeRule::Threshold`](super::DecodeRule::Threshold): a row
/// halts at the first step whose halting probability `σ(a_l)` reaches `threshold` (`a_l ≥
/// logit(threshold)`; math §6 with 0.5), or at the last step; halted rows leave the batch.
#[derive(Clone, Debug)]
pub struct ThresholdRule {
    logit: f64,
    label: String,
}

impl ThresholdRule {
    /// The rule for `threshold ∈ (0, 1)`.
    pub fn new(threshold: f64) -> Result<Self> {
        if !(threshold > 0.0 && threshold < 1.0) {
            return Err(Error::invalid(
                "ThresholdRule",
                format!("the halting threshold must lie in (0, 1), got {threshold}"),
            ));
        }
        Ok(ThresholdRule {
            logit: (threshold / (1.0 - threshold)).ln(),
            label: format!("threshold({threshold})"),
        })
    }
}

impl HaltingRule for ThresholdRule {
    fn name(&self) -> &str {
        &self.label
    }

    fn compacts(&self) -> bool {
        true
    }

    fn start(&self, _rows: usize) -> Result<Box<dyn HaltingRun>> {
        Ok(Box::new(self.clone()))
    }
}

impl HaltingRun for ThresholdRule {
    fn step(&mut self, _l: usize, logits: Option<&Tensor>, rows: &[usize]) -> Result<StepDecision> {
        let halts = match logits {
            Some(a) => a.to_f64_vec().iter().map(|&v| v >= self.logit).collect(),
            None => vec![true; rows.len()],
        };
        Ok(StepDecision {
            weights: None,
            halts,
        })
    }
}

/// The rule of [`full_depth`]: every row runs every step, the heads are not evaluated, and
/// the value is `e_L`.
#[derive(Clone, Copy, Debug)]
pub struct FullDepthRule;

impl HaltingRule for FullDepthRule {
    fn name(&self) -> &str {
        "full-depth"
    }

    fn compacts(&self) -> bool {
        true
    }

    fn needs_logits(&self) -> bool {
        false
    }

    fn start(&self, _rows: usize) -> Result<Box<dyn HaltingRun>> {
        Ok(Box::new(FullDepthRule))
    }
}

impl HaltingRun for FullDepthRule {
    fn step(&mut self, _l: usize, logits: Option<&Tensor>, rows: &[usize]) -> Result<StepDecision> {
        let _ = logits;
        Ok(StepDecision {
            weights: None,
            halts: vec![false; rows.len()],
        })
    }
}

struct FullDepth;

impl super::Handler for FullDepth {
    fn process(&mut self, _msg: &mut super::Message) -> Result<()> {
        Ok(())
    }

    fn halting_plan(&mut self, _name: &str) -> Result<Option<HaltingClaim>> {
        Ok(Some(HaltingClaim {
            plan: HaltingPlan::Online {
                rule: Arc::new(FullDepthRule),
                relaxation: None,
                decoded: true,
            },
            fixes_value: true,
        }))
    }
}

/// The model with every halting site ([`Ctx::halting`]) running all its steps, without
/// evaluating the halting heads (the plain network), its value `e_L` scored by the prior.
///
/// ```
/// use pact::dist::OneHotCategorical;
/// use pact::nn::ParamStore;
/// use pact::ppl::{full_depth, run, Ctx, HaltingSite};
/// use pact::{DType, Device, Error, Result, Rng, Tensor};
/// use std::sync::Arc;
/// let prior = Arc::new(OneHotCategorical::new(Tensor::zeros([4], DType::F64, Device::Cpu))?);
/// let site = HaltingSite::new(4, prior, |_| Err(Error::invalid("posterior", "not needed")));
/// let model = move |ctx: &mut Ctx| -> Result<Tensor> {
///     let x = Tensor::zeros([3, 2], DType::F64, Device::Cpu);
///     let out = ctx.plate("batch", 3, |ctx| {
///         ctx.halting("n", &site, &x, |_, s, _| s.add_scalar(1.0), |_, _| unreachable!())
///     })?;
///     Ok(out.output)
/// };
/// let params = ParamStore::new(DType::F64, Device::Cpu);
/// let (out, _) = run(&full_depth(model), &params, &mut Rng::seed(0))?;
/// assert_eq!(out.to_f64_vec(), vec![4.0; 6]);
/// # Ok::<(), pact::Error>(())
/// ```
pub fn full_depth<T>(model: impl Fn(&mut Ctx) -> Result<T>) -> impl Fn(&mut Ctx) -> Result<T> {
    move |ctx: &mut Ctx| ctx.with_handler(Box::new(FullDepth), &model)
}

/// `Σ_l w[.., l] · s_l` over the states `s_l` (`[B, ..]`) of a block, for weights whose last
/// axis runs over the states and whose other axes broadcast against the states' leading
/// axes (`[B, L]`, or `[K, B, L]` for `K` enumerated values, which gives `[K, B, ..]`).
///
/// On the CPU, weights `[B, L]` for states of one shape and dtype make it one op (one pass,
/// no products kept for the backward pass) with the values and gradients of the products and
/// sums, bit for bit; other shapes and devices compose those ops.
///
/// ```
/// use pact::ppl::weighted_states;
/// use pact::{DType, Device, Tensor};
/// let s1 = Tensor::full(1.0, [2, 3], DType::F64, Device::Cpu);
/// let s2 = Tensor::full(5.0, [2, 3], DType::F64, Device::Cpu);
/// let w = Tensor::from_f64_vec(vec![0.0, 1.0, 0.25, 0.75], [2, 2], Device::Cpu)?;
/// let out = weighted_states(&[s1, s2], &w)?.to_f64_vec();
/// assert_eq!(out, vec![5.0, 5.0, 5.0, 4.0, 4.0, 4.0]);
/// # Ok::<(), pact::Error>(())
/// ```
pub fn weighted_states(states: &[Tensor], weights: &Tensor) -> Result<Tensor> {
    // On the CPU, weights `[B, L]` for states `[B, ..]` (a dense run's value): one op with
    // the same values and gradients, which neither writes nor keeps the `L` products.
    if let Some(fused) = Tensor::fused_weighted_states(states, weights) {
        return fused;
    }
    weighted_sum("weighted_states", states, weights, |s, w| {
        // [.., B] → [.., B, 1, …, 1]: one trailing 1 per axis of the state after the batch.
        let mut dims = w.dims().to_vec();
        dims.extend(std::iter::repeat_n(1, s.rank().saturating_sub(1)));
        s.mul(&w.reshape(dims)?)
    })
}

/// `Σ_l weigh(s_l, w[.., l])` over the states of a block, the weights' last axis running over
/// the states (`w[.., l]` without that axis); `op` names the caller in errors.
pub(super) fn weighted_sum(
    op: &'static str,
    states: &[Tensor],
    weights: &Tensor,
    weigh: impl Fn(&Tensor, &Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let axis = weights.rank().checked_sub(1);
    let fits = axis.is_some_and(|a| weights.dims()[a] == states.len());
    let (Some(axis), true) = (axis, fits) else {
        return Err(Error::invalid(
            op,
            format!(
                "weights of shape {} for a block of {} states",
                weights.shape(),
                states.len()
            ),
        ));
    };
    let lead = weights.dims()[..axis].to_vec();
    let mut output: Option<Tensor> = None;
    for (l, s) in states.iter().enumerate() {
        let term = weigh(s, &weights.narrow(axis, l, 1)?.reshape(lead.clone())?)?;
        output = Some(match output {
            Some(o) => o.add(&term)?,
            None => term,
        });
    }
    output.ok_or_else(|| Error::invalid(op, "a block without states"))
}

impl Ctx {
    /// Runs a block of `site.steps()` steps on `input` (`[B, ..]`) as the halting site `name`
    /// and returns its output `Σ_l w_l s_l`, the site's value `w` and the steps each row ran
    /// (see the [module docs](super::halting) for how the handlers choose to run it).
    ///
    /// `step(l, state, rows)` runs step `l` (0-based) on the state of the running rows,
    /// `rows` being their input row indices (all of them unless halted rows left the batch);
    /// `head(l, state)` gives the halting logits `[rows]` after step `l < L − 1`. The prior of
    /// `e_N` (batch shape `[]` or `[B]`, expanded by the enclosing plates) scores the value;
    /// dense runs draw the value from `site.posterior(logits)`, built from all the logits
    /// `[B, L − 1]`, like a [`Ctx::sample_guided`] site. A block of one step has nothing to
    /// decide: it runs the step and records no site.
    pub fn halting(
        &mut self,
        name: &str,
        site: &HaltingSite,
        input: &Tensor,
        mut step: impl FnMut(usize, &Tensor, &[usize]) -> Result<Tensor>,
        mut head: impl FnMut(usize, &Tensor) -> Result<Tensor>,
    ) -> Result<HaltingOutput> {
        self.check_new(name)?;
        let rows = match input.dims().first() {
            Some(&b) if b > 0 => b,
            _ => {
                return Err(Error::site(
                    name,
                    format!(
                        "a halting block needs a batch of rows, got shape {}",
                        input.shape()
                    ),
                ))
            }
        };
        let all: Vec<usize> = (0..rows).collect();
        match site.steps {
            0 => Err(Error::site(name, "a halting block needs at least one step")),
            1 => {
                let output = step(0, input, &all)?;
                let value = Tensor::ones([rows, 1], input.dtype(), input.device());
                Ok(HaltingOutput {
                    output,
                    value,
                    steps: vec![1; rows],
                    posterior: None,
                    expected: None,
                })
            }
            _ => match self.halting_plan(name)? {
                HaltingPlan::Dense => self.dense_halting(name, site, input, &all, step, head),
                HaltingPlan::Online {
                    rule,
                    relaxation,
                    decoded,
                } => {
                    let run = OnlineRun {
                        name,
                        units: site.steps,
                        rule: &*rule,
                    };
                    let (output, value, steps) = run.execute(input, &mut step, &mut head)?;
                    let prior = batch_prior(name, site.prior(), rows)?;
                    self.record_online(name, prior, relaxation, decoded, &*rule, &value)?;
                    Ok(HaltingOutput {
                        output,
                        value,
                        steps,
                        posterior: None,
                        expected: None,
                    })
                }
            },
        }
    }

    /// Records the value `value` of a halting site that `rule` ran online: scored by `prior`
    /// (given the rows' batch shape; the plates expand it), relaxed by `relaxation`, with the
    /// rule's guide law, under the open masks.
    pub(super) fn record_online(
        &mut self,
        name: &str,
        prior: Arc<dyn Distribution>,
        relaxation: Option<Relaxation>,
        decoded: bool,
        rule: &dyn HaltingRule,
        value: &Tensor,
    ) -> Result<()> {
        let prior = self.expand_for_plates(name, prior)?;
        let relaxed = match &relaxation {
            Some(r) => r.apply(name, &prior)?,
            None => None,
        };
        let guide = rule.guide(value)?;
        let draw = Draw::Exact(value.clone());
        let scorer = relaxed.clone().unwrap_or_else(|| prior.clone());
        let log_prob = scorer.log_prob_draw(&draw)?;
        let (log_prob, mask) = self.apply_mask(name, log_prob)?;
        if log_prob.shape() != &prior.batch_shape() {
            return Err(Error::site(
                name,
                format!(
                    "log_prob of shape {} for batch shape {}",
                    log_prob.shape(),
                    prior.batch_shape()
                ),
            ));
        }
        let mut site = Site::without_law(name, SiteKind::Sample, value.clone());
        site.guide_log_prob = match (&guide, &mask) {
            (Some(q), Some(m)) => Some(q.log_prob_draw(&draw)?.mul(m)?),
            (Some(q), None) => Some(q.log_prob_draw(&draw)?),
            _ => None,
        };
        site.mask = mask;
        site.dist = Some(prior);
        site.relaxed = relaxed;
        site.log_prob = Some(log_prob);
        site.scale = self.scale();
        site.plates = self.plates().to_vec();
        site.markov = self.markov_frames().to_vec();
        site.relaxation = relaxation.unwrap_or(Relaxation::Exact);
        site.decoded = decoded;
        site.guide = guide;
        self.record(site)
    }

    /// Every step and head, then the site as a guided site.
    fn dense_halting(
        &mut self,
        name: &str,
        site: &HaltingSite,
        input: &Tensor,
        all: &[usize],
        mut step: impl FnMut(usize, &Tensor, &[usize]) -> Result<Tensor>,
        mut head: impl FnMut(usize, &Tensor) -> Result<Tensor>,
    ) -> Result<HaltingOutput> {
        let units = site.steps;
        let mut states = Vec::with_capacity(units);
        let mut logits = Vec::with_capacity(units - 1);
        let mut s = input.clone();
        for l in 0..units {
            s = step(l, &s, all)?;
            if l + 1 < units {
                let a = head(l, &s)?;
                check_logits(name, &a, all.len(), l)?;
                logits.push(a);
            }
            states.push(s.clone());
        }
        let logits = Tensor::stack(&logits, 1)?;
        let posterior = site.posterior(&logits)?;
        let prior = batch_prior(name, site.prior(), all.len())?;
        let draw = self.sample_guided_draw(name, prior, posterior.clone())?;
        let output = weighted_states(&states, draw.value())?;
        // Enumerated in parallel: the value has axes left of the law's batch shape.
        let in_parallel = self.trace().get(name).is_some_and(|site| {
            site.enumerated
                && site
                    .dist
                    .as_ref()
                    .is_some_and(|d| draw.value().rank() > d.batch_shape().rank() + 1)
        });
        let expected = if in_parallel {
            Some(weighted_states(&states, &posterior.mean()?)?)
        } else {
            None
        };
        Ok(HaltingOutput {
            output,
            value: draw.value().clone(),
            steps: vec![units; all.len()],
            posterior: Some(posterior),
            expected,
        })
    }
}

/// The prior with the batch shape `[rows]` if the model gave it none.
pub(super) fn batch_prior(
    name: &str,
    prior: &Arc<dyn Distribution>,
    rows: usize,
) -> Result<Arc<dyn Distribution>> {
    if prior.batch_shape().rank() == 0 {
        prior
            .expand(&Shape::new([rows]))
            .map_err(|e| Error::site(name, e.to_string()))
    } else {
        Ok(prior.clone())
    }
}

/// One online run of a halting block.
struct OnlineRun<'a> {
    name: &'a str,
    units: usize,
    rule: &'a dyn HaltingRule,
}

impl OnlineRun<'_> {
    /// Runs the steps as the rule decides: `(output, value [B, L], steps per row)`.
    fn execute(
        &self,
        input: &Tensor,
        step: &mut impl FnMut(usize, &Tensor, &[usize]) -> Result<Tensor>,
        head: &mut impl FnMut(usize, &Tensor) -> Result<Tensor>,
    ) -> Result<(Tensor, Tensor, Vec<usize>)> {
        let rows = input.dims()[0];
        let (dtype, device) = (input.dtype(), input.device());
        let mut run = self.rule.start(rows)?;
        let compacts = self.rule.compacts();
        let mut active: Vec<usize> = (0..rows).collect();
        let mut n = vec![0usize; rows];
        let (mut finished, mut order) = (Vec::new(), Vec::with_capacity(rows));
        let mut columns: Vec<Tensor> = Vec::new();
        let mut output: Option<Tensor> = None;
        // Under a graph (decided at the first step), the states whose weighted sum is the
        // output; else the sum runs along.
        let (mut graph, mut states) = (false, Vec::new());
        let mut s = input.clone();
        for l in 0..self.units {
            if active.is_empty() {
                break;
            }
            s = step(l, &s, &active)?;
            let last = l + 1 == self.units;
            let logits = if !last && self.rule.needs_logits() {
                let a = head(l, &s)?;
                check_logits(self.name, &a, active.len(), l)?;
                Some(a)
            } else {
                None
            };
            let decision = run.step(l, logits.as_ref(), &active)?;
            check_decision(self.name, self.rule, &decision, active.len())?;
            if compacts {
                let (mut halt, mut keep) = (Vec::new(), Vec::new());
                for (local, &h) in decision.halts.iter().enumerate() {
                    if h || last {
                        halt.push(local);
                    } else {
                        keep.push(local);
                    }
                }
                if keep.is_empty() {
                    finished.push(s.clone());
                } else if !halt.is_empty() {
                    finished.push(s.index_select(0, &halt)?);
                }
                for &local in &halt {
                    order.push(active[local]);
                    n[active[local]] = l + 1;
                }
                if keep.is_empty() {
                    active.clear();
                } else if keep.len() < active.len() {
                    s = s.index_select(0, &keep)?;
                    active = keep.iter().map(|&local| active[local]).collect();
                }
            } else {
                let w = decision_weights(self.name, self.rule, &decision, rows)?;
                if l == 0 {
                    graph = crate::autodiff::is_grad_enabled() && (s.tracks() || w.tracks());
                }
                if graph {
                    // The graph keeps every state anyway: one weighted sum at the end.
                    states.push(s.clone());
                } else {
                    // Without a graph only the running sum and the current state are held.
                    let mut dims = vec![rows];
                    dims.extend(std::iter::repeat_n(1, s.rank().saturating_sub(1)));
                    let term = s.mul(&w.reshape(dims)?)?;
                    output = Some(match output {
                        Some(o) => o.add(&term)?,
                        None => term,
                    });
                }
                columns.push(w);
                for (row, &h) in decision.halts.iter().enumerate() {
                    if h && n[row] == 0 {
                        n[row] = l + 1;
                    }
                }
                // Every row of the batch, on every replica of a data-parallel run, has halted.
                if crate::collective::all_replicas(n.iter().all(|&v| v > 0))? {
                    break;
                }
            }
        }
        check_all_halted(self.name, self.rule, &n)?;
        let value = online_value(compacts, &n, &columns, self.units, dtype, device)?;
        let output = if compacts {
            in_input_order(finished, &order)?
        } else if graph {
            // The same products and sums in the same order as the running sum, in one op
            // that keeps none of them (`weighted_states`).
            weighted_states(&states, &Tensor::stack(&columns, 1)?)?
        } else {
            output.ok_or_else(|| Error::site(self.name, "no step ran"))?
        };
        Ok((output, value, n))
    }
}

/// Checks that an online rule decided for each of the `rows` running rows.
pub(super) fn check_decision(
    name: &str,
    rule: &dyn HaltingRule,
    decision: &StepDecision,
    rows: usize,
) -> Result<()> {
    if decision.halts.len() != rows {
        return Err(Error::site(
            name,
            format!(
                "the halting rule {} decided for {} rows of {rows}",
                rule.name(),
                decision.halts.len()
            ),
        ));
    }
    Ok(())
}

/// The per-row weights `[rows]` of a rule that keeps every row (an error if it gave none, or
/// of another shape).
pub(super) fn decision_weights(
    name: &str,
    rule: &dyn HaltingRule,
    decision: &StepDecision,
    rows: usize,
) -> Result<Tensor> {
    let w = decision.weights.clone().ok_or_else(|| {
        Error::site(
            name,
            format!(
                "the halting rule {} keeps every row but gave no weights",
                rule.name()
            ),
        )
    })?;
    if w.dims() != [rows] {
        return Err(Error::site(
            name,
            format!("weights of shape {} for {rows} rows", w.shape()),
        ));
    }
    Ok(w)
}

/// Checks that every row halted (`n[row]` is the step it halted at, 0 if none).
pub(super) fn check_all_halted(name: &str, rule: &dyn HaltingRule, n: &[usize]) -> Result<()> {
    match n.iter().position(|&v| v == 0) {
        Some(row) => Err(Error::site(
            name,
            format!("the halting rule {} never halted row {row}", rule.name()),
        )),
        None => Ok(()),
    }
}

/// The value `[rows, units]` of an online run: `e_N` per row for a compacting rule (`n`: the
/// step each row halted at), else the per-step weights `columns` (`[rows]` each), padded with
/// zeros for the steps that never ran.
pub(super) fn online_value(
    compacts: bool,
    n: &[usize],
    columns: &[Tensor],
    units: usize,
    dtype: crate::DType,
    device: crate::Device,
) -> Result<Tensor> {
    let rows = n.len();
    if compacts {
        let mut hot = vec![0.0; rows * units];
        for (row, &steps) in n.iter().enumerate() {
            hot[row * units + steps - 1] = 1.0;
        }
        return Tensor::from_f64_slice(&hot, [rows, units], dtype, device);
    }
    let mut value = Tensor::stack(columns, 1)?;
    if columns.len() < units {
        let pad = Tensor::zeros([rows, units - columns.len()], dtype, device);
        value = Tensor::concat(&[value, pad], 1)?;
    }
    Ok(value)
}

/// The rows of a compacted batch back in input order: `finished` holds the final states of
/// the rows in the order they halted, `order[k]` is the input row of the `k`-th of them.
pub(super) fn in_input_order(mut finished: Vec<Tensor>, order: &[usize]) -> Result<Tensor> {
    let stacked = if finished.len() == 1 {
        finished
            .pop()
            .ok_or_else(|| Error::invalid("halting", "a block without rows"))?
    } else {
        Tensor::concat(&finished, 0)?
    };
    let mut position = vec![0; order.len()];
    for (pos, &orig) in order.iter().enumerate() {
        position[orig] = pos;
    }
    let identity = position.iter().enumerate().all(|(i, &p)| i == p);
    if identity {
        Ok(stacked)
    } else {
        stacked.index_select(0, &position)
    }
}

/// Checks that a head returned one logit per running row.
pub(super) fn check_logits(name: &str, logits: &Tensor, rows: usize, step: usize) -> Result<()> {
    if logits.dims() != [rows] {
        return Err(Error::site(
            name,
            format!(
                "the halting head after step {step} returned shape {} for {rows} rows",
                logits.shape()
            ),
        ));
    }
    Ok(())
}
