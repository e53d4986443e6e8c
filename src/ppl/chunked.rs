//! Chunked halting sites: a halting block evaluated with little memory.
//!
//! [`Ctx::halting_chunked`] is [`Ctx::halting`] for evaluation without a graph: the rows'
//! states are held one tensor per row (`[1, ..]` each), every step runs over chunks of the
//! rows still running, and a residual step updates each state in place, so what is held at
//! once is the states themselves plus one chunk's intermediates rather than the
//! intermediates of the whole batch. A halted row simply stops being updated. The site runs
//! online only (a [`HaltingRule`](super::HaltingRule) decides): `decode` halts each row at its first confident
//! head (math §6) and holds only the current state of each row; a rule that weighs the steps
//! (ACT's) also holds each running row's weighted sum `Σ_l w_l s_l`, and a halted row's state
//! is replaced by that sum. The decisions and the value recorded are those of
//! [`Ctx::halting`] under the same handlers, up to floating-point rounding.

use super::halting::{
    batch_prior, check_all_halted, check_decision, check_logits, decision_weights, online_value,
    HaltingPlan, HaltingSite,
};
use super::Ctx;
use crate::{Error, Result, Tensor};

/// The steps and halting heads of a block, as [`Ctx::halting_chunked`] runs them.
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
        steps: &impl ChunkedSteps,
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
            let mut logits = Vec::with_capacity(active.len());
            for part in active.chunks(chunk) {
                block.run_step(steps, l, part)?;
                if reads_logits {
                    let a = steps.halting_logits(l, &block.rows(name, part)?)?;
                    check_logits(name, &a, part.len(), l)?;
                    logits.extend(a.try_to_f64_vec()?);
                }
            }
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
                for &row in &active {
                    block.accumulate(name, &mut sums[row], row, weights[row])?;
                    if decision.halts[row] {
                        n[row] = l + 1;
                        block.replace(row, sums[row].take());
                    } else {
                        running.push(row);
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
/// with residual steps updating the states in place. Call it without a graph.
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
    steps: &impl ChunkedSteps,
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
    let all: Vec<usize> = (0..states.len()).collect();
    let mut block = RowStates::new(states);
    for l in 0..units {
        for part in all.chunks(chunk) {
            block.run_step(steps, l, part)?;
        }
    }
    block.into_states("run_chunked")
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

    fn row(&self, name: &str, row: usize) -> Result<&Tensor> {
        self.rows[row]
            .as_ref()
            .ok_or_else(|| Error::site(name, format!("row {row} lost its state")))
    }

    fn rows(&self, name: &str, rows: &[usize]) -> Result<Vec<&Tensor>> {
        rows.iter().map(|&row| self.row(name, row)).collect()
    }

    /// Runs step `l` on the rows `part`, updating their states.
    fn run_step(&mut self, steps: &impl ChunkedSteps, l: usize, part: &[usize]) -> Result<()> {
        let residual = steps.is_residual(l);
        let chunk = {
            let states = part
                .iter()
                .map(|&row| {
                    // A residual step updates the states it reads; any other step replaces
                    // them, so their storage goes as soon as the chunk is gathered.
                    let state = match residual {
                        true => self.rows[row].clone(),
                        false => self.rows[row].take(),
                    };
                    state.ok_or_else(|| {
                        Error::invalid("halting_chunked", format!("row {row} lost its state"))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Tensor::concat(&states, 0)?
        };
        let out = steps.apply(l, chunk)?;
        if out.dims().first() != Some(&part.len()) {
            return Err(Error::invalid(
                "halting_chunked",
                format!(
                    "step {l} returned shape {} for a chunk of {} rows",
                    out.shape(),
                    part.len()
                ),
            ));
        }
        for (k, &row) in part.iter().enumerate() {
            match (residual, self.rows[row].as_mut()) {
                (true, Some(state)) => state.add_scaled_row_in_place(&out, k, 1.0)?,
                _ => self.rows[row] = Some(out.narrow(0, k, 1)?),
            }
        }
        Ok(())
    }

    /// Adds `w · s_row` to the row's weighted sum `sum`.
    fn accumulate(&self, name: &str, sum: &mut Option<Tensor>, row: usize, w: f64) -> Result<()> {
        let state = self.row(name, row)?;
        *sum = Some(match sum.take() {
            Some(mut acc) => {
                acc.add_scaled_row_in_place(state, 0, w)?;
                acc
            }
            None => state.mul_scalar(w)?,
        });
        Ok(())
    }

    /// Replaces a row's state (by its weighted sum once it halted).
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
