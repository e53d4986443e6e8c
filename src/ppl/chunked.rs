//! Chunked halting sites: a halting block evaluated with little memory.
//!
//! [`Ctx::halting_chunked`] is [`Ctx::halting`] for evaluation without a graph: the rows'
//! states are held one tensor per row (`[1, ..]` each), every step runs over chunks of the
//! rows still running, and a residual step adds its branch to a chunk's states in place
//! (the chunk gathered from the rows and split into them again), so what is held at
//! once is the states themselves plus one chunk's intermediates per worker thread rather
//! than the intermediates of the whole batch. On the CPU the chunks of a step run side by
//! side, one per worker thread (each chunk's arithmetic is that of a sequential run, so the
//! results do not depend on the thread count). A halted row simply stops being updated. The
//! site runs online only (a [`HaltingRule`](super::HaltingRule) decides): `decode` halts
//! each row at its first confident head (math §6) and holds only the current state of each
//! row; a rule that weighs the steps
//! (ACT's) also holds each running row's weighted sum `Σ_l w_l s_l`, and a halted row's state
//! is replaced by that sum. The decisions and the value recorded are those of
//! [`Ctx::halting`] under the same handlers, up to floating-point rounding.

use super::halting::{
    batch_prior, check_all_halted, check_decision, check_logits, decision_weights, online_value,
    HaltingPlan, HaltingSite,
};
use super::side_by_side::map_side_by_side;
use super::Ctx;
use crate::{Device, Error, Result, Tensor};

/// The steps and halting heads of a block, as [`Ctx::halting_chunked`] runs them. Those
/// functions take steps that are also `Sync`: on the CPU they run the chunks of a step side
/// by side, one per worker thread.
pub trait ChunkedSteps {
    /// Whether step `l` is residual, `s ← s + branch(s)` with `s`'s shape: then
    /// [`ChunkedSteps::apply`] returns the branch and the states are updated in place.
    /// Otherwise it returns the new states, which replace the old ones.
    fn is_residual(&self, l: usize) -> bool;

    /// Runs step `l` (0-based) on a chunk of states `[c, ..]` (consumed, so the step may
    /// overwrite it).
    fn apply(&self, l: usize, chunk: Tensor) -> Result<Tensor>;

    /// The halting logits `[c]` after step `l` (`l < L − 1`) of the given states (each
    /// `[1, ..]`).
    fn halting_logits(&self, l: usize, states: &[&Tensor]) -> Result<Tensor>;

    /// Runs residual step `l` on a chunk of states `[c, ..]` that it updates,
    /// `chunk ← chunk + branch(chunk)`, the branch being [`ChunkedSteps::apply`]'s. The
    /// default computes the branch and adds it in place; a step may do it with less memory
    /// traffic (the ResNet adds its last convolution's sums as the kernels store them) but
    /// must give the same values. [`Ctx::halting_chunked`] and [`run_chunked`] run residual
    /// steps this way.
    fn apply_residual(&self, l: usize, chunk: &mut Tensor) -> Result<()> {
        let rows = chunk.dims().first().copied().unwrap_or(0);
        let branch = self.apply(l, chunk.clone())?;
        check_step_output(l, &branch, rows)?;
        chunk.add_scaled_row_in_place(&branch.reshape([1, branch.elem_count()])?, 0, 1.0)
    }
}

/// What [`Ctx::halting_chunked`] returns.
#[derive(Clone, Debug)]
pub struct ChunkedHaltingOutput {
    /// The block's output of each row, `[1, ..]` each: the state of the step it halted at, or
    /// the weighted sum of its states for a rule that weighs them.
    pub states: Vec<Tensor>,
    /// The site's value `w`, `[B, L]`.
    pub value: Tensor,
    /// How many steps ran for each row.
    pub steps: Vec<usize>,
}

impl Ctx {
    /// Runs a block of `site.steps()` steps on the rows `states` (one `[1, ..]` tensor per
    /// row) as the halting site `name`, over chunks of at most `chunk` rows (see the
    /// [module docs](super::chunked)). Call it without a graph ([`crate::no_grad`]).
    ///
    /// The site runs only online, as a handler's [`HaltingRule`](super::HaltingRule) decides
    /// (`decode`, [`full_depth`](super::full_depth), a relaxation with its own rule such as
    /// ACT's); under a handler that would run it densely (a draw from the posterior, a
    /// relaxation without a rule, enumeration) it is an error that names the site: such runs
    /// keep every step's state and belong to [`Ctx::halting`]. The prior of `e_N` scores the
    /// value as in [`Ctx::halting`]; a block of one step runs it and records no site.
    ///
    /// ```
    /// use pact::dist::{Distribution, OneHotCategorical};
    /// use pact::nn::ParamStore;
    /// use pact::ppl::{decode, run, ChunkedSteps, Ctx, DecodeRule, HaltingSite};
    /// use pact::{DType, Device, Result, Rng, Tensor};
    /// use std::sync::Arc;
    ///
    /// const CPU: Device = Device::Cpu;
    /// /// Three residual steps adding 1; the halting logit after a step is the state − 1.5.
    /// struct AddOne;
    /// impl ChunkedSteps for AddOne {
    ///     fn is_residual(&self, _l: usize) -> bool {
    ///         true
    ///     }
    ///     fn apply(&self, _l: usize, chunk: Tensor) -> Result<Tensor> {
    ///         Ok(chunk.ones_like())
    ///     }
    ///     fn halting_logits(&self, _l: usize, states: &[&Tensor]) -> Result<Tensor> {
    ///         let rows: Vec<Tensor> = states.iter().map(|s| s.reshape([1])).collect::<Result<_>>()?;
    ///         Tensor::concat(&rows, 0)?.add_scalar(-1.5)
    ///     }
    /// }
    /// let uniform = OneHotCategorical::new(Tensor::zeros([3], DType::F64, CPU))?;
    /// let site = HaltingSite::new(3, Arc::new(uniform), |logits: &Tensor| {
    ///     let last = Tensor::zeros([logits.dims()[0], 1], logits.dtype(), logits.device());
    ///     let law: Arc<dyn Distribution> =
    ///         Arc::new(OneHotCategorical::new(Tensor::concat(&[logits.clone(), last], 1)?)?);
    ///     Ok(law)
    /// });
    /// let model = move |ctx: &mut Ctx| -> Result<Vec<f64>> {
    ///     let rows = [0.0, -8.0, 1.0]
    ///         .iter()
    ///         .map(|&v| Tensor::from_f64_slice(&[v], [1, 1], DType::F64, CPU))
    ///         .collect::<Result<Vec<_>>>()?;
    ///     let out = ctx.plate("batch", 3, |ctx| ctx.halting_chunked("n", &site, rows, &AddOne, 2))?;
    ///     Ok(out.states.iter().map(|s| s.to_f64_vec()[0]).collect())
    /// };
    /// let params = ParamStore::new(DType::F64, CPU);
    /// // Decoded: row 0 halts after step 2, row 1 runs all three steps, row 2 halts after 1.
    /// let decoded = decode(DecodeRule::Threshold(0.5), model);
    /// let (out, trace) = pact::no_grad(|| run(&decoded, &params, &mut Rng::seed(0)))?;
    /// assert_eq!(out, vec![2.0, -5.0, 2.0]);
    /// assert!(trace.get("n").unwrap().decoded);
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn halting_chunked(
        &mut self,
        name: &str,
        site: &HaltingSite,
        states: Vec<Tensor>,
        steps: &(impl ChunkedSteps + Sync),
        chunk: usize,
    ) -> Result<ChunkedHaltingOutput> {
        self.check_new(name)?;
        let rows = states.len();
        let first = states
            .first()
            .ok_or_else(|| Error::site(name, "a chunked halting block needs at least one row"))?;
        let (dtype, device) = (first.dtype(), first.device());
        if chunk == 0 {
            return Err(Error::site(name, "chunks need at least one row"));
        }
        if let Some(row) = states.iter().position(|s| s.dims().first() != Some(&1)) {
            return Err(Error::site(
                name,
                format!(
                    "row {row} of a chunked halting block has shape {}, not [1, ..]",
                    states[row].shape()
                ),
            ));
        }
        let units = site.steps();
        match units {
            0 => return Err(Error::site(name, "a halting block needs at least one step")),
            1 => {
                return Ok(ChunkedHaltingOutput {
                    states: run_chunked(steps, 1, states, chunk)?,
                    value: Tensor::ones([rows, 1], dtype, device),
                    steps: vec![1; rows],
                });
            }
            _ => {}
        }
        let mut block = RowStates::new(states);
        let all: Vec<usize> = (0..rows).collect();
        let HaltingPlan::Online {
            rule,
            relaxation,
            decoded,
        } = self.halting_plan(name)?
        else {
            return Err(Error::site(
                name,
                "a chunked halting site runs online only (decode, full_depth, or a relaxation \
                 with its own rule such as ACT's); a dense run keeps every step's state and \
                 belongs to Ctx::halting",
            ));
        };
        let mut run = rule.start(rows)?;
        let compacts = rule.compacts();
        let mut n = vec![0usize; rows];
        let mut sums: Vec<Option<Tensor>> = vec![None; rows];
        let mut columns: Vec<Tensor> = Vec::new();
        let mut active = all.clone();
        for l in 0..units {
            if active.is_empty() {
                break;
            }
            let last = l + 1 == units;
            let reads_logits = !last && rule.needs_logits();
            let parts: Vec<&[usize]> = active.chunks(chunk).collect();
            let logits = block.run_parts(name, steps, l, &parts, reads_logits)?;
            let mut running = Vec::with_capacity(active.len());
            if compacts {
                let a = match reads_logits {
                    true => Some(Tensor::from_f64_slice(
                        &logits,
                        [active.len()],
                        dtype,
                        device,
                    )?),
                    false => None,
                };
                let decision = run.step(l, a.as_ref(), &active)?;
                check_decision(name, &*rule, &decision, active.len())?;
                for (&row, &halts) in active.iter().zip(&decision.halts) {
                    if halts || last {
                        n[row] = l + 1;
                    } else {
                        running.push(row);
                    }
                }
            } else {
                // A rule that keeps every row sees every row at every step; a halted row's
                // logit is never read (its weight is 0), so it gets 0.
                let a = match reads_logits {
                    true => {
                        let mut full = vec![0.0; rows];
                        for (&row, &v) in active.iter().zip(&logits) {
                            full[row] = v;
                        }
                        Some(Tensor::from_f64_slice(&full, [rows], dtype, device)?)
                    }
                    false => None,
                };
                let decision = run.step(l, a.as_ref(), &all)?;
                check_decision(name, &*rule, &decision, rows)?;
                let w = decision_weights(name, &*rule, &decision, rows)?;
                let weights = w.try_to_f64_vec()?;
                columns.push(w);
                if let Some(row) = (0..rows).find(|&r| n[r] > 0 && weights[r] != 0.0) {
                    return Err(Error::site(
                        name,
                        format!(
                            "the halting rule {} gave weight {} to row {row} after it halted",
                            rule.name(),
                            weights[row]
                        ),
                    ));
                }
                // Every running row's weighted sum, side by side on the CPU; a row that halts
                // gives up its state as soon as its sum is made, as one after another would.
                let taken = active
                    .iter()
                    .map(|&row| Ok((row, sums[row].take(), block.take(name, row)?)))
                    .collect::<Result<Vec<_>>>()?;
                let summed = map_side_by_side(device, taken, |(row, sum, state)| {
                    let sum = accumulate(sum, &state, weights[row])?;
                    Ok(match decision.halts[row] {
                        true => (row, None, sum),
                        false => (row, Some(sum), state),
                    })
                })?;
                for (row, sum, state) in summed {
                    sums[row] = sum;
                    block.replace(row, Some(state));
                    match decision.halts[row] {
                        true => n[row] = l + 1,
                        false => running.push(row),
                    }
                }
            }
            active = running;
        }
        check_all_halted(name, &*rule, &n)?;
        let value = online_value(compacts, &n, &columns, units, dtype, device)?;
        let prior = batch_prior(name, site.prior(), rows)?;
        self.record_online(name, prior, relaxation, decoded, &*rule, &value)?;
        Ok(ChunkedHaltingOutput {
            states: block.into_states(name)?,
            value,
            steps: n,
        })
    }
}

/// Runs the first `units` steps of `steps` on every row of `states` (one `[1, ..]` tensor per
/// row), over chunks of at most `chunk` rows, with no halting: a block without a halting site
/// (a network without heads, a block of one step), evaluated like [`Ctx::halting_chunked`]
/// with residual steps adding their branch to the chunk in place. Call it without a graph.
///
/// ```
/// use pact::ppl::{run_chunked, ChunkedSteps};
/// use pact::{DType, Device, Result, Tensor};
/// /// Residual steps adding 1 to every element.
/// struct AddOne;
/// impl ChunkedSteps for AddOne {
///     fn is_residual(&self, _l: usize) -> bool {
///         true
///     }
///     fn apply(&self, _l: usize, chunk: Tensor) -> Result<Tensor> {
///         Ok(chunk.ones_like())
///     }
///     fn halting_logits(&self, _l: usize, _states: &[&Tensor]) -> Result<Tensor> {
///         unreachable!("no halting without a site")
///     }
/// }
/// let rows = (0..3)
///     .map(|i| Tensor::from_f64_slice(&[i as f64], [1, 1], DType::F64, Device::Cpu))
///     .collect::<Result<Vec<_>>>()?;
/// let out = pact::no_grad(|| run_chunked(&AddOne, 2, rows, 2))?;
/// let values: Vec<f64> = out.iter().map(|s| s.to_f64_vec()[0]).collect();
/// assert_eq!(values, vec![2.0, 3.0, 4.0]);
/// # Ok::<(), pact::Error>(())
/// ```
pub fn run_chunked(
    steps: &(impl ChunkedSteps + Sync),
    units: usize,
    states: Vec<Tensor>,
    chunk: usize,
) -> Result<Vec<Tensor>> {
    if chunk == 0 {
        return Err(Error::invalid(
            "run_chunked",
            "chunks need at least one row",
        ));
    }
    let mut states = states;
    let mut parts = Vec::with_capacity(states.len().div_ceil(chunk));
    while !states.is_empty() {
        let rest = states.split_off(chunk.min(states.len()));
        parts.push(std::mem::replace(&mut states, rest));
    }
    let done = map_parts(parts, |rows| {
        // The chunk's rows stay together through every step.
        let mut x = Tensor::concat(&rows, 0)?;
        let count = rows.len();
        drop(rows);
        for l in 0..units {
            x = step_chunk(steps, l, x, count)?;
        }
        split_rows(&x)
    })?;
    Ok(done.into_iter().flatten().collect())
}

/// [`map_side_by_side`] over parts of rows: side by side when every row is on the CPU.
fn map_parts<O: Send>(
    parts: Vec<Vec<Tensor>>,
    work: impl Fn(Vec<Tensor>) -> Result<O> + Sync,
) -> Result<Vec<O>> {
    map_side_by_side(rows_device(parts.iter().flatten()), parts, work)
}

/// The CPU when every one of `rows` is on it, else the device of one that is not.
fn rows_device<'a>(mut rows: impl Iterator<Item = &'a Tensor>) -> Device {
    rows.find(|t| t.device() != Device::Cpu)
        .map_or(Device::Cpu, |t| t.device())
}

/// A row's weighted sum with `w · state` added: `sum + w · state`, in place where it may be,
/// or `w · state` for the first term.
fn accumulate(sum: Option<Tensor>, state: &Tensor, w: f64) -> Result<Tensor> {
    match sum {
        Some(mut acc) => {
            acc.add_scaled_row_in_place(state, 0, w)?;
            Ok(acc)
        }
        None => state.mul_scalar(w),
    }
}

/// An error unless step `l`'s output has `rows` rows.
fn check_step_output(l: usize, out: &Tensor, rows: usize) -> Result<()> {
    match out.dims().first() == Some(&rows) {
        true => Ok(()),
        false => Err(Error::invalid(
            "halting_chunked",
            format!(
                "step {l} returned shape {} for a chunk of {rows} rows",
                out.shape()
            ),
        )),
    }
}

/// Runs step `l` on the states of one chunk of rows (each `[1, ..]`), returning their new
/// states: the chunk gathered, run by [`step_chunk`], and split into rows again.
fn step_part(steps: &impl ChunkedSteps, l: usize, states: Vec<Tensor>) -> Result<Vec<Tensor>> {
    let rows = states.len();
    let chunk = Tensor::concat(&states, 0)?;
    drop(states);
    split_rows(&step_chunk(steps, l, chunk, rows)?)
}

/// Runs step `l` on a chunk of `rows` states `[rows, ..]`: a residual step added to it in
/// place ([`ChunkedSteps::apply_residual`]), any other step's output replacing it.
fn step_chunk(steps: &impl ChunkedSteps, l: usize, chunk: Tensor, rows: usize) -> Result<Tensor> {
    let chunk = match steps.is_residual(l) {
        true => {
            let mut chunk = chunk;
            steps.apply_residual(l, &mut chunk)?;
            chunk
        }
        false => steps.apply(l, chunk)?,
    };
    check_step_output(l, &chunk, rows)?;
    Ok(chunk)
}

/// The rows of `chunk` (`[c, ..]`) as `c` tensors `[1, ..]`.
fn split_rows(chunk: &Tensor) -> Result<Vec<Tensor>> {
    (0..chunk.dims()[0])
        .map(|k| chunk.narrow(0, k, 1))
        .collect()
}

/// The states of a block's rows, one tensor each.
struct RowStates {
    rows: Vec<Option<Tensor>>,
}

impl RowStates {
    fn new(states: Vec<Tensor>) -> Self {
        RowStates {
            rows: states.into_iter().map(Some).collect(),
        }
    }

    /// Runs step `l` on every part of `parts` (disjoint sets of rows), updating their states;
    /// with `logits`, also returns the halting logits after the step of every row of every
    /// part, in order. On the CPU with more than one worker thread the parts run side by
    /// side, one part per task; each part's arithmetic is that of a sequential run.
    fn run_parts(
        &mut self,
        name: &str,
        steps: &(impl ChunkedSteps + Sync),
        l: usize,
        parts: &[&[usize]],
        logits: bool,
    ) -> Result<Vec<f64>> {
        let taken = parts
            .iter()
            .map(|part| part.iter().map(|&row| self.take(name, row)).collect())
            .collect::<Result<Vec<Vec<Tensor>>>>()?;
        let done = map_parts(taken, |states| {
            let states = step_part(steps, l, states)?;
            let a = match logits {
                true => {
                    let refs: Vec<&Tensor> = states.iter().collect();
                    let a = steps.halting_logits(l, &refs)?;
                    check_logits(name, &a, states.len(), l)?;
                    a.try_to_f64_vec()?
                }
                false => Vec::new(),
            };
            Ok((states, a))
        })?;
        let mut out = Vec::new();
        for (part, (states, a)) in parts.iter().zip(done) {
            for (&row, state) in part.iter().zip(states) {
                self.rows[row] = Some(state);
            }
            out.extend(a);
        }
        Ok(out)
    }

    /// Takes a row's state out (it goes back with [`RowStates::replace`]).
    fn take(&mut self, name: &str, row: usize) -> Result<Tensor> {
        self.rows[row]
            .take()
            .ok_or_else(|| Error::site(name, format!("row {row} lost its state")))
    }

    /// Puts a row's state back, or replaces it (by its weighted sum once it halted).
    fn replace(&mut self, row: usize, state: Option<Tensor>) {
        self.rows[row] = state;
    }

    fn into_states(self, name: &str) -> Result<Vec<Tensor>> {
        self.rows
            .into_iter()
            .enumerate()
            .map(|(row, s)| s.ok_or_else(|| Error::site(name, format!("row {row} lost its state"))))
            .collect()
    }
}
