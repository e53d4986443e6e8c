//! In-place halting sites ([`Ctx::halting_in_place`]): the rows of a halting site are
//! elements of one state (the positions of a feature map) rather than rows of a batch, so
//! halted rows stay where they are and the steps are told which rows still run (see the
//! [module docs of halting sites](super::halting)).

use super::halting::{
    check_all_halted, check_decision, decision_weights, online_value, weighted_sum, HaltingOutput,
    HaltingPlan, HaltingRule, HaltingSite,
};
use super::Ctx;
use crate::dist::Distribution;
use crate::{Error, Result, Shape, Tensor};
use std::sync::Arc;

/// Where the rows of an in-place site sit in its state: the axes of the state that index
/// them (increasing), and their sizes (the site's batch shape).
#[derive(Clone, Debug)]
struct RowLayout {
    axes: Vec<usize>,
    rows: Vec<usize>,
    rank: usize,
}

impl RowLayout {
    /// The layout of `state` (the state after the first step) with rows along `axes`.
    fn of(name: &str, state: &Tensor, axes: &[usize]) -> Result<Self> {
        let rank = state.rank();
        let increasing = axes.windows(2).all(|w| w[0] < w[1]);
        if axes.is_empty() || !increasing || axes.iter().any(|&a| a >= rank) {
            return Err(Error::site(
                name,
                format!(
                    "the row axes {axes:?} of an in-place halting site must be increasing axes \
                     of its state, of shape {}",
                    state.shape()
                ),
            ));
        }
        let rows: Vec<usize> = axes.iter().map(|&a| state.dims()[a]).collect();
        if rows.contains(&0) {
            return Err(Error::site(
                name,
                format!(
                    "an in-place halting site needs rows, its state has shape {}",
                    state.shape()
                ),
            ));
        }
        Ok(RowLayout {
            axes: axes.to_vec(),
            rows,
            rank,
        })
    }

    /// The number of rows.
    fn count(&self) -> usize {
        self.rows.iter().product()
    }

    /// Checks that step `step` kept the rank and the row axes of the state.
    fn check_state(&self, name: &str, state: &Tensor, step: usize) -> Result<()> {
        let same = state.rank() == self.rank
            && self
                .axes
                .iter()
                .zip(&self.rows)
                .all(|(&a, &n)| state.dims()[a] == n);
        if !same {
            return Err(Error::site(
                name,
                format!(
                    "step {step} of an in-place halting site returned a state of shape {}; \
                     only the first step may change the rows {:?} (axes {:?})",
                    state.shape(),
                    self.rows,
                    self.axes
                ),
            ));
        }
        Ok(())
    }

    /// Checks that the head after step `step` gave one logit per row, in the rows' shape.
    fn check_logits(&self, name: &str, logits: &Tensor, step: usize) -> Result<()> {
        if logits.dims() != self.rows.as_slice() {
            return Err(Error::site(
                name,
                format!(
                    "the halting head after step {step} returned shape {} for rows of shape {:?}",
                    logits.shape(),
                    self.rows
                ),
            ));
        }
        Ok(())
    }

    /// A per-row tensor, of shape `lead ++ rows` (row axes of size 1 broadcast), with axes of
    /// size 1 inserted where the state has axes that are not row axes, so that it broadcasts
    /// against the state (`[B, H, W]` → `[B, 1, H, W]` for rows along axes 0, 2, 3 of a
    /// `[B, C, H, W]` state).
    fn spread(&self, per_row: &Tensor) -> Result<Tensor> {
        let dims = per_row.dims();
        let lead = dims.len().checked_sub(self.axes.len()).ok_or_else(|| {
            Error::invalid(
                "halting_in_place",
                format!(
                    "a per-row tensor of shape {} for rows of shape {:?}",
                    per_row.shape(),
                    self.rows
                ),
            )
        })?;
        let mut out = dims[..lead].to_vec();
        let mut row = lead;
        for axis in 0..self.rank {
            if self.axes.contains(&axis) {
                out.push(dims[row]);
                row += 1;
            } else {
                out.push(1);
            }
        }
        per_row.reshape(out)
    }

    /// `state ⊙ spread(w)` for weights `w` of shape `lead ++ rows`.
    fn weigh(&self, state: &Tensor, w: &Tensor) -> Result<Tensor> {
        state.mul(&self.spread(w)?)
    }

    /// `Σ_l w[.., l] · s_l` for weights `lead ++ rows ++ [L]`.
    fn weighted_states(&self, states: &[Tensor], weights: &Tensor) -> Result<Tensor> {
        weighted_sum("halting_in_place", states, weights, |s, w| self.weigh(s, w))
    }

    /// A per-row 0/1 tensor (shape `rows`) from flags, spread against the state.
    fn spread_flags(&self, flags: &[bool], like: &Tensor) -> Result<Tensor> {
        let values: Vec<f64> = flags.iter().map(|&f| f64::from(u8::from(f))).collect();
        let t = Tensor::from_f64_slice(
            &values,
            Shape::new(self.rows.clone()),
            like.dtype(),
            like.device(),
        )?;
        self.spread(&t)
    }
}

/// The prior with the batch shape `rows` if the model gave it none.
fn prior_for_rows(
    name: &str,
    prior: &Arc<dyn Distribution>,
    rows: &[usize],
) -> Result<Arc<dyn Distribution>> {
    if prior.batch_shape().rank() == 0 {
        prior
            .expand(&Shape::new(rows))
            .map_err(|e| Error::site(name, e.to_string()))
    } else {
        Ok(prior.clone())
    }
}

impl Ctx {
    /// Runs a block of `site.steps()` steps on `input` as the halting site `name`, like
    /// [`Ctx::halting`], with rows that are elements of one state rather than rows of a
    /// batch: the positions of a feature map, say, where every position halts on its own
    /// but the steps transform the whole map (see the [module docs](super::halting)).
    ///
    /// The first step, `step(0, input, None)`, runs for every row and may change the state's
    /// shape; `row_axes` (increasing) are the axes of its output that index the rows, whose
    /// sizes are the site's batch shape (`[B, H, W]` for `row_axes = [0, 2, 3]` on a state
    /// `[B, C, H, W]`). Later steps, `step(l, state, mask)`, keep the rows; `mask` is `None`
    /// when every row still runs, otherwise a 0/1 tensor of the rows still running, shaped
    /// to broadcast against the state (`[B, 1, H, W]` above): a step that leaves the rows
    /// where it is 0 unchanged *freezes* them (`state + mask ⊙ branch(state)`). `head(l,
    /// state)` gives the halting logits after step `l < L − 1`, in the rows' shape. The
    /// output is `Σ_l w_l ⊙ s_l` with each row's weights spread over its elements of the
    /// state.
    ///
    /// The handlers choose how it runs as for [`Ctx::halting`]: dense (every step with
    /// `mask = None`, the posterior `site.posterior(logits)` built from the logits
    /// `rows ++ [L − 1]`), or online under a [`HaltingRule`](super::HaltingRule), which
    /// sees the logits of the rows flattened row-major (`rows` counts them all). Under a
    /// rule that does not compact (ACT) every row is passed at every step, and halted rows
    /// get weight 0; under a compacting rule (the threshold of `decode`, `full_depth`) only
    /// the running rows are passed, and a halted row keeps the state of the step it halted
    /// at. Either way no row leaves the state, and the block stops once every row has
    /// halted. [`HaltingOutput::steps`] has one entry per row, row-major.
    ///
    /// The prior of `e_N` (batch shape `[]` or the rows') scores the value. Like any site,
    /// its batch axes must agree with the enclosing plates, which take its trailing axes: a
    /// site whose rows are the positions of a batch of images sits outside the images'
    /// plate (or in plates of its own axes). A block of one step has nothing to decide: it
    /// runs the step and records no site.
    ///
    /// ```
    /// use pact::dist::OneHotCategorical;
    /// use pact::nn::ParamStore;
    /// use pact::ppl::{full_depth, run, Ctx, HaltingSite};
    /// use pact::{DType, Device, Error, Result, Rng, Tensor};
    /// use std::sync::Arc;
    /// let prior = Arc::new(OneHotCategorical::new(Tensor::zeros([3], DType::F64, Device::Cpu))?);
    /// let site = HaltingSite::new(3, prior, |_| Err(Error::invalid("posterior", "not needed")));
    /// // Two maps of 2 channels on a 4 × 5 grid: one halting decision per position.
    /// let x = Tensor::zeros([2, 2, 4, 5], DType::F64, Device::Cpu);
    /// let model = move |ctx: &mut Ctx| -> Result<Vec<usize>> {
    ///     let out = ctx.halting_in_place(
    ///         "n",
    ///         &site,
    ///         &x,
    ///         &[0, 2, 3],
    ///         |_, s, mask| match mask {
    ///             Some(m) => s.add(m), // + 1 where the position still runs
    ///             None => s.add_scalar(1.0),
    ///         },
    ///         |_, s| s.narrow(1, 0, 1)?.squeeze(1), // logits [2, 4, 5]
    ///     )?;
    ///     assert_eq!(out.output.to_f64_vec(), vec![3.0; 80]);
    ///     Ok(out.steps)
    /// };
    /// let params = ParamStore::new(DType::F64, Device::Cpu);
    /// let (steps, trace) = run(&full_depth(model), &params, &mut Rng::seed(0))?;
    /// assert_eq!(steps, vec![3; 40]);
    /// assert_eq!(trace.value("n")?.dims(), [2, 4, 5, 3]);
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn halting_in_place(
        &mut self,
        name: &str,
        site: &HaltingSite,
        input: &Tensor,
        row_axes: &[usize],
        mut step: impl FnMut(usize, &Tensor, Option<&Tensor>) -> Result<Tensor>,
        mut head: impl FnMut(usize, &Tensor) -> Result<Tensor>,
    ) -> Result<HaltingOutput> {
        self.check_new(name)?;
        let units = site.steps();
        if units == 0 {
            return Err(Error::site(name, "a halting block needs at least one step"));
        }
        if units == 1 {
            let output = step(0, input, None)?;
            let layout = RowLayout::of(name, &output, row_axes)?;
            let mut dims = layout.rows.clone();
            dims.push(1);
            let value = Tensor::ones(dims, output.dtype(), output.device());
            return Ok(HaltingOutput {
                output,
                value,
                steps: vec![1; layout.count()],
                posterior: None,
                expected: None,
            });
        }
        let plan = self.halting_plan(name)?;
        let first = step(0, input, None)?;
        let layout = RowLayout::of(name, &first, row_axes)?;
        match plan {
            HaltingPlan::Dense => {
                let mut states = Vec::with_capacity(units);
                let mut logits = Vec::with_capacity(units - 1);
                let mut s = first;
                for l in 0..units {
                    if l > 0 {
                        s = step(l, &s, None)?;
                        layout.check_state(name, &s, l)?;
                    }
                    if l + 1 < units {
                        let a = head(l, &s)?;
                        layout.check_logits(name, &a, l)?;
                        logits.push(a);
                    }
                    states.push(s.clone());
                }
                let logits = Tensor::stack(&logits, layout.rows.len())?;
                let posterior = site.posterior(&logits)?;
                let prior = prior_for_rows(name, site.prior(), &layout.rows)?;
                let draw = self.sample_guided_draw(name, prior, posterior.clone())?;
                let output = layout.weighted_states(&states, draw.value())?;
                Ok(HaltingOutput {
                    output,
                    value: draw.value().clone(),
                    steps: vec![units; layout.count()],
                    posterior: Some(posterior),
                    expected: None,
                })
            }
            HaltingPlan::Online {
                rule,
                relaxation,
                decoded,
            } => {
                let run = InPlaceRun {
                    name,
                    units,
                    rule: &*rule,
                    layout: &layout,
                };
                let (output, value, steps) = run.execute(first, &mut step, &mut head)?;
                let prior = prior_for_rows(name, site.prior(), &layout.rows)?;
                self.record_online(name, prior, relaxation, decoded, &*rule, &value)?;
                Ok(HaltingOutput {
                    output,
                    value,
                    steps,
                    posterior: None,
                    expected: None,
                })
            }
        }
    }
}

/// One online run of an in-place halting block.
struct InPlaceRun<'a> {
    name: &'a str,
    units: usize,
    rule: &'a dyn HaltingRule,
    layout: &'a RowLayout,
}

impl InPlaceRun<'_> {
    /// Runs the steps after the first (whose output is `first`) as the rule decides:
    /// `(output, value rows ++ [L], steps per row)`.
    fn execute(
        &self,
        first: Tensor,
        step: &mut impl FnMut(usize, &Tensor, Option<&Tensor>) -> Result<Tensor>,
        head: &mut impl FnMut(usize, &Tensor) -> Result<Tensor>,
    ) -> Result<(Tensor, Tensor, Vec<usize>)> {
        let layout = self.layout;
        let rows = layout.count();
        let (dtype, device) = (first.dtype(), first.device());
        let mut run = self.rule.start(rows)?;
        let compacts = self.rule.compacts();
        let all: Vec<usize> = (0..rows).collect();
        // 0 while a row runs; the step it halted at (1-based) once halted.
        let mut n = vec![0usize; rows];
        let mut columns: Vec<Tensor> = Vec::new();
        let mut output: Option<Tensor> = None;
        let mut s = first;
        for l in 0..self.units {
            if l > 0 {
                let running: Vec<bool> = n.iter().map(|&v| v == 0).collect();
                let mask = if running.iter().all(|&r| r) {
                    None
                } else {
                    Some(layout.spread_flags(&running, &s)?)
                };
                s = step(l, &s, mask.as_ref())?;
                layout.check_state(self.name, &s, l)?;
            }
            let last = l + 1 == self.units;
            // A compacting rule decides for the running rows only; the others for every row.
            let active: Vec<usize> = if compacts {
                all.iter().copied().filter(|&r| n[r] == 0).collect()
            } else {
                all.clone()
            };
            let logits = if !last && self.rule.needs_logits() {
                let a = head(l, &s)?;
                layout.check_logits(self.name, &a, l)?;
                let flat = a.reshape([rows])?;
                Some(if active.len() < rows {
                    flat.index_select(0, &active)?
                } else {
                    flat
                })
            } else {
                None
            };
            let decision = run.step(l, logits.as_ref(), &active)?;
            check_decision(self.name, self.rule, &decision, active.len())?;
            let term = if compacts {
                // Rows take the state of the step they halt at: a one-hot weight.
                let mut now = vec![false; rows];
                for (local, &h) in decision.halts.iter().enumerate() {
                    if h || last {
                        let row = active[local];
                        now[row] = true;
                        n[row] = l + 1;
                    }
                }
                if now.iter().any(|&h| h) {
                    Some(s.mul(&layout.spread_flags(&now, &s)?)?)
                } else {
                    None
                }
            } else {
                let w = decision_weights(self.name, self.rule, &decision, rows)?;
                let term = layout.weigh(&s, &w.reshape(layout.rows.clone())?)?;
                columns.push(w);
                for (row, &h) in decision.halts.iter().enumerate() {
                    if h && n[row] == 0 {
                        n[row] = l + 1;
                    }
                }
                Some(term)
            };
            if let Some(term) = term {
                output = Some(match output {
                    Some(o) => o.add(&term)?,
                    None => term,
                });
            }
            let done = n.iter().all(|&v| v > 0);
            // A rule that keeps every row trains: every replica of a data-parallel run must
            // run the same steps.
            let stop = if compacts {
                done
            } else {
                crate::collective::all_replicas(done)?
            };
            if stop {
                break;
            }
        }
        check_all_halted(self.name, self.rule, &n)?;
        let mut dims = layout.rows.clone();
        dims.push(self.units);
        let value =
            online_value(compacts, &n, &columns, self.units, dtype, device)?.reshape(dims)?;
        let output = output.ok_or_else(|| Error::site(self.name, "no step ran"))?;
        Ok((output, value, n))
    }
}
