//! Low-memory evaluation of an adaptive block (no graph, evaluation mode): the states of the
//! batch are held one tensor per example, units run over chunks of the still-running
//! examples, and residual units update each state in place.
//!
//! What is held at once is then the states themselves (plus ACT's weighted sum of states)
//! and the transients of one chunk, instead of the transients of the whole batch. Halted
//! examples leave without being copied: they simply stop being updated. ACT and the
//! deterministic rule of PACT (math §6) run on the same machinery, so their memory can
//! be compared: ACT holds, for every running example, its state and its running weighted sum
//! `Σ_l p_l s_l` (math §2); PACT holds only the state. The decisions and outputs are
//! those of [`run_block`](super::run_block) in the same mode, up to floating-point rounding.

use super::HaltingMode;
use crate::halting::{act_halts, halts_deterministically};
use crate::{Error, Result};
use pact::{DType, Tensor};

/// A block's units and halting heads, as the chunked evaluation runs them.
pub trait ChunkedBlock {
    /// The number of units.
    fn units(&self) -> usize;
    /// Whether unit `l` is residual, `s ← s + branch(s)` with `s`'s shape: then
    /// [`ChunkedBlock::apply`] returns the branch and the states are updated in place.
    /// Otherwise it returns the new states, which replace the old ones.
    fn is_residual(&self, l: usize) -> bool;
    /// Runs unit `l` on a chunk of states `[c, ..]` (consumed, so the unit may overwrite it).
    fn apply(&self, l: usize, chunk: Tensor) -> pact::Result<Tensor>;
    /// The halting logits `[c]` after unit `l` (`l < units − 1`) of the given states (each
    /// `[1, ..]`).
    fn halting_logits(&self, l: usize, states: &[&Tensor]) -> pact::Result<Tensor>;
}

/// Units executed per example, and ACT's ponder cost.
#[derive(Clone, Debug)]
pub struct BlockHalting {
    /// Units executed per example.
    pub units: Vec<usize>,
    /// ACT's ponder cost `N + R`, `[B]`.
    pub ponder: Option<Tensor>,
}

/// What [`run_block_chunked`] returns.
#[derive(Clone, Debug)]
pub struct ChunkedBlockOutput {
    /// The block's output state of each example, `[1, ..]` each.
    pub states: Vec<Tensor>,
    /// Units executed and ponder cost.
    pub halting: BlockHalting,
}

/// Whether [`run_block_chunked`] runs `mode`: plain, ACT and deterministic PACT (the
/// evaluation modes; the others keep every unit's state or draw random numbers).
pub fn chunked_mode(mode: &HaltingMode) -> bool {
    matches!(
        mode,
        HaltingMode::Plain | HaltingMode::Act { .. } | HaltingMode::PactDeterministic
    )
}

/// `v` rounded to `dtype`, as a tensor of that dtype would store it.
fn round_to(dtype: DType, v: f64) -> f64 {
    match dtype {
        DType::F32 => v as f32 as f64,
        DType::F64 => v,
    }
}

/// ACT's running quantities per example: cumulative halting probability of the units before
/// the current one, the remainder `R` once halted, the weighted sum of states.
struct ActState {
    eps: f64,
    cum: Vec<f64>,
    remainder: Vec<f64>,
    sum: Vec<Option<Tensor>>,
}

/// Runs `block` on `states` (one `[1, ..]` tensor per example) in `mode` over chunks of at
/// most `chunk` examples; call it without a graph ([`pact::no_grad`]).
pub fn run_block_chunked(
    block: &impl ChunkedBlock,
    states: Vec<Tensor>,
    mode: &HaltingMode,
    chunk: usize,
) -> Result<ChunkedBlockOutput> {
    let units = block.units();
    if units == 0 || chunk == 0 {
        return Err(Error::InvalidInput(
            "chunked evaluation needs at least one unit and chunks of at least one example".into(),
        ));
    }
    if !chunked_mode(mode) {
        return Err(Error::InvalidInput(format!(
            "chunked evaluation runs plain, act and pact-deterministic, not {}",
            mode.name()
        )));
    }
    let b = states.len();
    let dtype = states.first().map_or(DType::F32, Tensor::dtype);
    let mut act = match *mode {
        HaltingMode::Act { eps } if eps > 0.0 && eps < 1.0 => Some(ActState {
            eps,
            cum: vec![0.0; b],
            remainder: vec![0.0; b],
            sum: vec![None; b],
        }),
        HaltingMode::Act { eps } => {
            return Err(Error::InvalidInput(format!(
                "ACT's eps must be in (0, 1), got {eps}"
            )))
        }
        _ => None,
    };
    let pact = matches!(mode, HaltingMode::PactDeterministic);
    let mut s: Vec<Option<Tensor>> = states.into_iter().map(Some).collect();
    let mut n = vec![units; b];
    let mut active: Vec<usize> = (0..b).collect();
    for l in 0..units {
        if active.is_empty() {
            break;
        }
        let last = l + 1 == units;
        let mut running = Vec::with_capacity(active.len());
        for rows in active.chunks(chunk) {
            run_unit(block, l, &mut s, rows)?;
            if last {
                // Every example still running halts at the last unit (`h_L ≡ 1`).
                for &i in rows {
                    n[i] = units;
                    if let Some(act) = act.as_mut() {
                        act_step(act, &mut s, &mut n, i, l, None, dtype)?;
                    }
                }
                continue;
            }
            if !pact && act.is_none() {
                running.extend_from_slice(rows);
                continue;
            }
            let logits = {
                let chunk_states = rows
                    .iter()
                    .map(|&i| state(&s, i))
                    .collect::<Result<Vec<_>>>()?;
                block.halting_logits(l, &chunk_states)?
            };
            if logits.dims() != [rows.len()] {
                return Err(Error::InvalidInput(format!(
                    "halting head {l} returned shape {} for a chunk of {}",
                    logits.shape(),
                    rows.len()
                )));
            }
            match act.as_mut() {
                Some(act) => {
                    let h = logits.sigmoid()?.try_to_f64_vec()?;
                    for (&i, &h) in rows.iter().zip(&h) {
                        if act_step(act, &mut s, &mut n, i, l, Some(h), dtype)? {
                            running.push(i);
                        }
                    }
                }
                None => {
                    for (&i, &a) in rows.iter().zip(&logits.try_to_f64_vec()?) {
                        if halts_deterministically(a) {
                            n[i] = l + 1;
                        } else {
                            running.push(i);
                        }
                    }
                }
            }
        }
        active = running;
    }
    let ponder = match &act {
        Some(act) => {
            let p: Vec<f64> = n
                .iter()
                .zip(&act.remainder)
                .map(|(&n, &r)| n as f64 + r)
                .collect();
            let device = s.iter().flatten().next().map(Tensor::device);
            Some(Tensor::from_f64_slice(
                &p,
                [b],
                dtype,
                device.unwrap_or_default(),
            )?)
        }
        None => None,
    };
    let states = s
        .into_iter()
        .map(|t| t.ok_or_else(|| Error::InvalidInput("an example lost its state".into())))
        .collect::<Result<Vec<_>>>()?;
    Ok(ChunkedBlockOutput {
        states,
        halting: BlockHalting { units: n, ponder },
    })
}

fn state(s: &[Option<Tensor>], i: usize) -> Result<&Tensor> {
    s[i].as_ref()
        .ok_or_else(|| Error::InvalidInput(format!("example {i} has no state")))
}

/// Runs unit `l` on the examples `rows`, updating their states.
fn run_unit(
    block: &impl ChunkedBlock,
    l: usize,
    s: &mut [Option<Tensor>],
    rows: &[usize],
) -> Result<()> {
    let residual = block.is_residual(l);
    let chunk = {
        let parts = rows
            .iter()
            .map(|&i| {
                // A residual unit updates the states it reads; any other unit replaces them,
                // so their storage goes as soon as the chunk is gathered.
                let part = if residual { s[i].clone() } else { s[i].take() };
                part.ok_or_else(|| Error::InvalidInput(format!("example {i} has no state")))
            })
            .collect::<Result<Vec<_>>>()?;
        Tensor::concat(&parts, 0)?
    };
    let out = block.apply(l, chunk)?;
    if out.dims().first() != Some(&rows.len()) {
        return Err(Error::InvalidInput(format!(
            "unit {l} returned shape {} for a chunk of {}",
            out.shape(),
            rows.len()
        )));
    }
    for (k, &i) in rows.iter().enumerate() {
        if residual {
            let si = s[i]
                .as_mut()
                .ok_or_else(|| Error::InvalidInput(format!("example {i} has no state")))?;
            si.add_scaled_row_in_place(&out, k, 1.0)?;
        } else {
            s[i] = Some(out.narrow(0, k, 1)?);
        }
    }
    Ok(())
}

/// ACT after unit `l` for example `i` with halting probability `h` (`None` at the last unit,
/// where every example halts; math §2): adds
/// `p_l s_l` to its weighted sum and reports whether it keeps running. A halted example's
/// state is replaced by its weighted sum (the block output), so the state's memory goes.
/// The arithmetic is that of the dense ACT run in the tensors' dtype.
fn act_step(
    act: &mut ActState,
    s: &mut [Option<Tensor>],
    n: &mut [usize],
    i: usize,
    l: usize,
    h: Option<f64>,
    dtype: DType,
) -> Result<bool> {
    let (h, last) = match h {
        Some(h) => (h, false),
        None => (1.0, true),
    };
    let stop = last || act_halts(act.cum[i], h, act.eps);
    let p = if stop {
        let r = round_to(dtype, 1.0 - act.cum[i]);
        act.remainder[i] = r;
        n[i] = l + 1;
        r
    } else {
        act.cum[i] = round_to(dtype, act.cum[i] + h);
        h
    };
    let si = state(s, i)?;
    let sum = match act.sum[i].take() {
        Some(mut sum) => {
            sum.add_scaled_row_in_place(si, 0, p)?;
            sum
        }
        None => si.mul_scalar(p)?,
    };
    if stop {
        s[i] = Some(sum);
    } else {
        act.sum[i] = Some(sum);
    }
    Ok(!stop)
}
