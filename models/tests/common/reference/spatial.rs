//! Spatially adaptive blocks (math §8): one halting decision per spatial position.
//!
//! The block is described by closures, like [`run_block`](super::run_block):
//!
//! - `unit(l, state, mask) → state` runs unit `l` (0-based). The first unit always runs at
//!   every position (it may change the resolution: its output defines the halting grid) and
//!   gets `mask = None`. Later units get `Some(mask)`, a `[B, 1, H, W]` tensor of 0/1 marking
//!   the positions that have not halted yet, and must leave the others unchanged: a residual
//!   unit returns `state + mask ⊙ branch(state)`, so a halted position is *frozen*.
//!   Modes where every unit runs everywhere (plain, relaxed PACT) pass `None` to every unit.
//! - `head(l, state) → logits [B, H, W]` gives the halting logit of every position after unit
//!   `l` (`l < L − 1`).
//!
//! Per-position quantities are laid out row-major over `(example, y, x)`: position `p` of
//! example `b` on an `H × W` grid is entry `b·H·W + p`. The halting arithmetic is that of the
//! non-spatial block applied position by position: ACT (§2) with a ponder cost per position,
//! Concrete-relaxed stick-breaking weights per position (§5, the same functions of
//! `pact_models::halting` on a `[B·H·W, L−1]` matrix of logits), and the deterministic rule (§6)
//! per position.

use super::block::in_input_order;
use super::block::BlockOutput;
use pact::{Rng, Tensor};
use pact_models::halting::{
    act_halts, concrete_weights, expected_n, halts_deterministically, log_stick_breaking,
};
use pact_models::mode::HaltingMode;
use pact_models::{Error, Result};

/// What a spatial block computed.
#[derive(Clone, Debug)]
pub struct SpatialBlockOutput {
    /// The block's output state `[B, C, H, W]`.
    pub output: Tensor,
    /// Height of the halting grid (the output's).
    pub height: usize,
    /// Width of the halting grid.
    pub width: usize,
    /// Units executed per position, `B·H·W` entries (row-major over example, y, x).
    pub units: Vec<usize>,
    /// ACT's ponder cost `N + R` per position, `[B, H, W]` (ACT mode; differentiable).
    pub ponder: Option<Tensor>,
    /// PACT's `E_q[N]` per position, `[B, H, W]` (relaxed mode; differentiable).
    pub expected_n: Option<Tensor>,
    /// Halting logits per position, `[B, H, W, L−1]` (relaxed mode).
    pub logits: Option<Tensor>,
    /// The halting distribution per position, `log q(N = n | x)`, `[B, H, W, L]` (relaxed
    /// mode).
    pub log_q: Option<Tensor>,
}

impl SpatialBlockOutput {
    /// Positions per example, `H · W`.
    pub fn positions(&self) -> usize {
        self.height * self.width
    }

    /// The ponder cost of every position (`B·H·W` values): ACT's `N + R` where the block ran
    /// in ACT mode, `E_q[N]` in relaxed mode, otherwise the units executed `N`.
    pub fn ponder_values(&self) -> Vec<f64> {
        match (&self.ponder, &self.expected_n) {
            (Some(p), _) => p.to_f64_vec(),
            (None, Some(e)) => e.to_f64_vec(),
            _ => self.units.iter().map(|&n| n as f64).collect(),
        }
    }

    /// Mean units executed over the positions of each example (`B` values).
    pub fn mean_units(&self) -> Vec<f64> {
        let p = self.positions().max(1);
        self.units
            .chunks(p)
            .map(|c| c.iter().sum::<usize>() as f64 / p as f64)
            .collect()
    }

    /// The most units any position of each example executed (`B` values): the depth the
    /// example reached.
    pub fn max_units(&self) -> Vec<usize> {
        self.units
            .chunks(self.positions().max(1))
            .map(|c| c.iter().copied().max().unwrap_or(0))
            .collect()
    }

    /// The same information as a [`BlockOutput`], so that code written for the non-spatial
    /// blocks (the objectives) works unchanged: `units` has one entry per position, `ponder`
    /// and `expected_n` are `[B, H, W]` maps (their means are over batch and positions),
    /// `logits` and `log_q` keep their spatial shapes.
    pub fn into_block_output(self) -> BlockOutput {
        BlockOutput {
            output: self.output,
            units: self.units,
            logits: self.logits,
            ponder: self.ponder,
            expected_n: self.expected_n,
            states: None,
            log_q: self.log_q,
            sampled_log_q: None,
        }
    }
}

/// The grid of a state `[B, C, H, W]`: `(B, H, W)`.
fn grid(state: &Tensor, unit: usize) -> Result<(usize, usize, usize)> {
    match state.dims() {
        &[b, _, h, w] => Ok((b, h, w)),
        other => Err(Error::InvalidInput(format!(
            "unit {unit} of a spatial block returned a state of shape {other:?}, not [B, C, H, W]"
        ))),
    }
}

fn check_same(state: &Tensor, dims: &[usize], unit: usize) -> Result<()> {
    if state.dims() != dims {
        return Err(Error::InvalidInput(format!(
            "unit {unit} of a spatial block changed the state from {dims:?} to {:?}; only the \
             first unit may change the shape",
            state.dims()
        )));
    }
    Ok(())
}

fn check_logits(logits: &Tensor, grid: (usize, usize, usize), unit: usize) -> Result<()> {
    if logits.dims() != [grid.0, grid.1, grid.2] {
        return Err(Error::InvalidInput(format!(
            "spatial halting head {unit} returned shape {} for a grid of [{}, {}, {}]",
            logits.shape(),
            grid.0,
            grid.1,
            grid.2
        )));
    }
    Ok(())
}

/// A `[B, 1, H, W]` 0/1 mask of the positions that are still running.
fn running_mask(n: &[usize], like: &Tensor, g: (usize, usize, usize)) -> Result<Tensor> {
    let values: Vec<f64> = n.iter().map(|&v| f64::from(u8::from(v == 0))).collect();
    Ok(Tensor::from_f64_slice(
        &values,
        [g.0, 1, g.1, g.2],
        like.dtype(),
        like.device(),
    )?)
}

/// Runs a spatial block of `units` units on `input` in `mode` (see the module docs). ACT and
/// deterministic PACT freeze halted positions and stop once every position has halted;
/// relaxed PACT and plain run every unit everywhere. In deterministic mode an example whose
/// every position has halted also leaves the batch, so `unit` and `head` may see fewer
/// examples than the input has (the output has them all, in order; every example must be
/// independent of the others, e.g. batch norm in evaluation mode). PonderNet and sampling modes are not
/// offered for spatial blocks.
pub fn run_spatial_block(
    units: usize,
    input: &Tensor,
    mut unit: impl FnMut(usize, &Tensor, Option<&Tensor>) -> pact::Result<Tensor>,
    mut head: impl FnMut(usize, &Tensor) -> pact::Result<Tensor>,
    mode: &HaltingMode,
    rng: &mut Rng,
) -> Result<SpatialBlockOutput> {
    if units == 0 {
        return Err(Error::InvalidInput(
            "an adaptive block needs at least one unit".into(),
        ));
    }
    let first = unit(0, input, None)?;
    let g = grid(&first, 0)?;
    match *mode {
        HaltingMode::Plain => {
            let mut s = first;
            let dims = s.dims().to_vec();
            for l in 1..units {
                s = unit(l, &s, None)?;
                check_same(&s, &dims, l)?;
            }
            Ok(dense_output(s, g, units))
        }
        HaltingMode::Act { eps } => run_sact(units, first, g, &mut unit, &mut head, eps),
        HaltingMode::PactRelaxed {
            temperature,
            straight_through,
        } => {
            if !(temperature > 0.0 && temperature.is_finite()) {
                return Err(Error::InvalidInput(format!(
                    "temperature must be positive, got {temperature}"
                )));
            }
            let relax = Relax {
                temperature,
                straight_through,
            };
            run_relaxed(units, first, g, &mut unit, &mut head, relax, rng)
        }
        HaltingMode::PactDeterministic => run_deterministic(units, first, g, &mut unit, &mut head),
        HaltingMode::PonderNet | HaltingMode::PactSample => Err(Error::InvalidInput(format!(
            "halting mode {} is not offered for spatial models",
            mode.name()
        ))),
    }
}

fn dense_output(s: Tensor, g: (usize, usize, usize), units: usize) -> SpatialBlockOutput {
    SpatialBlockOutput {
        output: s,
        height: g.1,
        width: g.2,
        units: vec![units; g.0 * g.1 * g.2],
        ponder: None,
        expected_n: None,
        logits: None,
        log_q: None,
    }
}

/// SACT: ACT per position, weights accumulated as the units run; a position that halted is
/// frozen (its later residual branches are masked to zero).
fn run_sact(
    units: usize,
    first: Tensor,
    g: (usize, usize, usize),
    unit: &mut impl FnMut(usize, &Tensor, Option<&Tensor>) -> pact::Result<Tensor>,
    head: &mut impl FnMut(usize, &Tensor) -> pact::Result<Tensor>,
    eps: f64,
) -> Result<SpatialBlockOutput> {
    if !(eps > 0.0 && eps < 1.0) {
        return Err(Error::InvalidInput(format!(
            "ACT's eps must be in (0, 1), got {eps}"
        )));
    }
    let (b, h, w) = g;
    let p = b * h * w;
    let (dt, dev) = (first.dtype(), first.device());
    let dims = first.dims().to_vec();
    // Cumulative halting probability of the units before the current one (differentiable).
    let mut cum = Tensor::zeros([b, h, w], dt, dev);
    let mut n = vec![0usize; p];
    let mut remainder: Option<Tensor> = None;
    let mut output: Option<Tensor> = None;
    let mut s = first;
    for l in 0..units {
        if l > 0 {
            let mask = running_mask(&n, &s, g)?;
            s = unit(l, &s, Some(&mask))?;
            check_same(&s, &dims, l)?;
        }
        let halt = if l + 1 < units {
            let a = head(l, &s)?;
            check_logits(&a, g, l)?;
            a.sigmoid()?
        } else {
            Tensor::ones([b, h, w], dt, dev)
        };
        let cum_values = cum.to_f64_vec();
        let h_values = halt.to_f64_vec();
        // Masks (constants): still running and continuing, or halting at this unit.
        let mut cont = vec![0.0; p];
        let mut stop = vec![0.0; p];
        for i in 0..p {
            if n[i] != 0 {
                continue;
            }
            if l + 1 == units || act_halts(cum_values[i], h_values[i], eps) {
                stop[i] = 1.0;
                n[i] = l + 1;
            } else {
                cont[i] = 1.0;
            }
        }
        let cont = Tensor::from_f64_slice(&cont, [b, h, w], dt, dev)?;
        let stop = Tensor::from_f64_slice(&stop, [b, h, w], dt, dev)?;
        let r = cum.affine(-1.0, 1.0)?.mul(&stop)?;
        let weight = halt.mul(&cont)?.add(&r)?;
        remainder = Some(match remainder {
            Some(acc) => acc.add(&r)?,
            None => r,
        });
        let term = s.mul(&weight.unsqueeze(1)?)?;
        output = Some(match output {
            Some(o) => o.add(&term)?,
            None => term,
        });
        cum = cum.add(&halt.mul(&cont)?)?;
        // Every position of every example, on every replica of a data-parallel run, halted.
        if pact::collective::all_replicas(n.iter().all(|&v| v > 0))? {
            break;
        }
    }
    let empty = || Error::InvalidInput("empty block".into());
    let remainder = remainder.ok_or_else(empty)?;
    let n_values: Vec<f64> = n.iter().map(|&v| v as f64).collect();
    let n_tensor = Tensor::from_f64_slice(&n_values, [b, h, w], dt, dev)?;
    Ok(SpatialBlockOutput {
        output: output.ok_or_else(empty)?,
        height: h,
        width: w,
        units: n,
        ponder: Some(n_tensor.add(&remainder)?),
        expected_n: None,
        logits: None,
        log_q: None,
    })
}

/// Settings of the Concrete relaxation.
struct Relax {
    temperature: f64,
    straight_through: bool,
}

/// Relaxed spatial PACT: every unit at every position, Concrete-relaxed stick-breaking weights
/// per position (one row of logits per position).
fn run_relaxed(
    units: usize,
    first: Tensor,
    g: (usize, usize, usize),
    unit: &mut impl FnMut(usize, &Tensor, Option<&Tensor>) -> pact::Result<Tensor>,
    head: &mut impl FnMut(usize, &Tensor) -> pact::Result<Tensor>,
    relax: Relax,
    rng: &mut Rng,
) -> Result<SpatialBlockOutput> {
    let (b, h, w) = g;
    let p = b * h * w;
    let dims = first.dims().to_vec();
    let mut states = Vec::with_capacity(units);
    let mut logits = Vec::with_capacity(units - 1);
    let mut s = first;
    for l in 0..units {
        if l > 0 {
            s = unit(l, &s, None)?;
            check_same(&s, &dims, l)?;
        }
        if l + 1 < units {
            let a = head(l, &s)?;
            check_logits(&a, g, l)?;
            logits.push(a);
        }
        states.push(s.clone());
    }
    if logits.is_empty() {
        let mut out = dense_output(s, g, 1);
        out.expected_n = Some(Tensor::ones(
            [b, h, w],
            out.output.dtype(),
            out.output.device(),
        ));
        return Ok(out);
    }
    // [B, H, W, L−1] → one row of logits per position.
    let logits = Tensor::stack(&logits, 3)?;
    let flat = logits.reshape([p, units - 1])?;
    let wts = concrete_weights(&flat, relax.temperature, relax.straight_through, rng)?;
    let mut output: Option<Tensor> = None;
    for (l, st) in states.iter().enumerate() {
        let wl = wts.narrow(1, l, 1)?.reshape([b, 1, h, w])?;
        let term = st.mul(&wl)?;
        output = Some(match output {
            Some(o) => o.add(&term)?,
            None => term,
        });
    }
    Ok(SpatialBlockOutput {
        output: output.ok_or_else(|| Error::InvalidInput("empty block".into()))?,
        height: h,
        width: w,
        units: vec![units; p],
        ponder: None,
        expected_n: Some(expected_n(&flat)?.reshape([b, h, w])?),
        log_q: Some(log_stick_breaking(&flat)?.reshape([b, h, w, units])?),
        logits: Some(logits),
    })
}

/// Deterministic spatial PACT: a position halts at the first unit with `h ≥ 0.5` (logit
/// `≥ 0`) and is frozen afterwards; only the current state is held. An example whose every
/// position has halted leaves the batch (compaction, as in the non-spatial rule of §6), so
/// later units run on fewer examples; the block stops once every position has halted.
fn run_deterministic(
    units: usize,
    first: Tensor,
    g: (usize, usize, usize),
    unit: &mut impl FnMut(usize, &Tensor, Option<&Tensor>) -> pact::Result<Tensor>,
    head: &mut impl FnMut(usize, &Tensor) -> pact::Result<Tensor>,
) -> Result<SpatialBlockOutput> {
    let (b, h, w) = g;
    let p = h * w;
    let dims = first.dims().to_vec();
    // 0 while running; the halting unit (1-based) once halted.
    let mut n = vec![0usize; b * p];
    // Original example index of each row of `s`.
    let mut active: Vec<usize> = (0..b).collect();
    let mut finished: Vec<Tensor> = Vec::new();
    let mut order: Vec<usize> = Vec::with_capacity(b);
    let mut s = first;
    for l in 0..units {
        if l > 0 {
            let rows: Vec<usize> = active
                .iter()
                .flat_map(|&e| n[e * p..(e + 1) * p].iter().copied())
                .collect();
            let mask = running_mask(&rows, &s, (active.len(), h, w))?;
            s = unit(l, &s, Some(&mask))?;
            check_same(&s, &[&[active.len()], &dims[1..]].concat(), l)?;
        }
        if l + 1 == units {
            break;
        }
        let a = head(l, &s)?;
        check_logits(&a, (active.len(), h, w), l)?;
        let a = a.to_f64_vec();
        let (mut done, mut keep) = (Vec::new(), Vec::new());
        for (row, &e) in active.iter().enumerate() {
            let cells = &mut n[e * p..(e + 1) * p];
            for (v, &logit) in cells.iter_mut().zip(&a[row * p..(row + 1) * p]) {
                if *v == 0 && halts_deterministically(logit) {
                    *v = l + 1;
                }
            }
            if cells.iter().all(|&v| v > 0) {
                done.push(row);
            } else {
                keep.push(row);
            }
        }
        if !done.is_empty() {
            finished.push(s.index_select(0, &done)?);
            order.extend(done.iter().map(|&row| active[row]));
        }
        if keep.is_empty() {
            active.clear();
            break;
        }
        if keep.len() < active.len() {
            s = s.index_select(0, &keep)?;
            active = keep.iter().map(|&row| active[row]).collect();
        }
    }
    if !active.is_empty() {
        finished.push(s);
        order.extend(&active);
    }
    for v in &mut n {
        if *v == 0 {
            *v = units;
        }
    }
    let output = in_input_order(finished, &order)?;
    Ok(SpatialBlockOutput {
        output,
        height: h,
        width: w,
        units: n,
        ponder: None,
        expected_n: None,
        logits: None,
        log_q: None,
    })
}
