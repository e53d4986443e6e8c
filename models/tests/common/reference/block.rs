//! Running one adaptive block in each halting mode.

use pact::{Rng, Tensor};
use pact_models::halting::{
    act_halts, concrete_weights, expected_n, halts_deterministically, log_stick_breaking,
};
use pact_models::mode::HaltingMode;
use pact_models::{Error, Result};

/// What a block computed, per example. (A spatial block converted with
/// [`SpatialBlockOutput::into_block_output`](super::SpatialBlockOutput::into_block_output)
/// reports per position instead: `units` has `B·H·W` entries and `ponder`, `expected_n` are
/// `[B, H, W]`.)
#[derive(Clone, Debug)]
pub struct BlockOutput {
    /// The block's output state `[B, ..]`.
    pub output: Tensor,
    /// Units executed per example.
    pub units: Vec<usize>,
    /// Halting logits `[B, L−1]` of the dense modes (ACT runs heads until every example has
    /// halted; missing columns are not reported, so this is `None` for ACT and
    /// deterministic PACT).
    pub logits: Option<Tensor>,
    /// ACT's ponder cost `N + R`, `[B]`.
    pub ponder: Option<Tensor>,
    /// PACT's `E_q[N]`, `[B]` (relaxed and PonderNet modes).
    pub expected_n: Option<Tensor>,
    /// Every unit's state (PonderNet mode).
    pub states: Option<Vec<Tensor>>,
    /// `log q(N = n | x)`, `[B, L]` (PonderNet and sampling modes).
    pub log_q: Option<Tensor>,
    /// `log q(N = n̂ | x)` of the sampled `n̂`, `[B]` (sampling mode, for the score-function
    /// estimator).
    pub sampled_log_q: Option<Tensor>,
}

/// Per-example scale `[B]` broadcast over a state `[B, ..]`.
fn per_example(w: &Tensor, like: &Tensor) -> pact::Result<Tensor> {
    let mut shape = vec![1; like.rank()];
    shape[0] = w.dims()[0];
    w.reshape(shape)
}

/// `Σ_l w[:, l] · s_l` over the states `s_l` (`[B, ..]`) of a block, with weights `[B, L]`:
/// the block output for a halting site's value (one-hot `e_N` gives `s_N`, relaxed or ACT
/// weights give the mixture).
///
pub fn weighted_sum(states: &[Tensor], weights: &Tensor) -> pact::Result<Tensor> {
    if weights.rank() != 2 || weights.dims()[1] != states.len() {
        return Err(pact::Error::invalid(
            "weighted_sum",
            format!(
                "weights of shape {} for a block of {} states",
                weights.shape(),
                states.len()
            ),
        ));
    }
    let mut output: Option<Tensor> = None;
    for (l, s) in states.iter().enumerate() {
        let term = s.mul(&per_example(&weights.narrow(1, l, 1)?, s)?)?;
        output = Some(match output {
            Some(o) => o.add(&term)?,
            None => term,
        });
    }
    output.ok_or_else(|| pact::Error::invalid("weighted_sum", "empty block"))
}

fn check_logits(logits: &Tensor, batch: usize, unit: usize) -> Result<()> {
    if logits.dims() != [batch] {
        return Err(Error::InvalidInput(format!(
            "halting head {unit} returned shape {} for a batch of {batch}",
            logits.shape()
        )));
    }
    Ok(())
}

/// Runs a block of `units` units on `input` in `mode` (see the module docs).
///
/// `unit(l, state, rows)` also receives the original batch indices of the rows of `state`:
/// all of them, except in deterministic mode, where halted examples have left the batch (a
/// recurrent cell uses this to pick the matching input rows).
pub fn run_block(
    units: usize,
    input: &Tensor,
    mut unit: impl FnMut(usize, &Tensor, &[usize]) -> pact::Result<Tensor>,
    mut head: impl FnMut(usize, &Tensor) -> pact::Result<Tensor>,
    mode: &HaltingMode,
    rng: &mut Rng,
) -> Result<BlockOutput> {
    if units == 0 {
        return Err(Error::InvalidInput(
            "an adaptive block needs at least one unit".into(),
        ));
    }
    let all: Vec<usize> = (0..input.dims()[0]).collect();
    match *mode {
        HaltingMode::Plain => {
            let mut s = input.clone();
            for l in 0..units {
                s = unit(l, &s, &all)?;
            }
            Ok(BlockOutput {
                output: s,
                units: vec![units; input.dims()[0]],
                logits: None,
                ponder: None,
                expected_n: None,
                states: None,
                log_q: None,
                sampled_log_q: None,
            })
        }
        HaltingMode::Act { eps } => run_act(units, input, &mut unit, &mut head, eps, &all),
        HaltingMode::PactRelaxed {
            temperature,
            straight_through,
        } => {
            if !(temperature > 0.0 && temperature.is_finite()) {
                return Err(Error::InvalidInput(format!(
                    "temperature must be positive, got {temperature}"
                )));
            }
            let b = input.dims()[0];
            let mut states = Vec::with_capacity(units);
            let mut logits = Vec::with_capacity(units.saturating_sub(1));
            let mut s = input.clone();
            for l in 0..units {
                s = unit(l, &s, &all)?;
                if l + 1 < units {
                    let a = head(l, &s)?;
                    check_logits(&a, b, l)?;
                    logits.push(a);
                }
                states.push(s.clone());
            }
            if logits.is_empty() {
                return Ok(BlockOutput {
                    output: s,
                    units: vec![1; b],
                    logits: None,
                    ponder: None,
                    expected_n: Some(Tensor::ones([b], input.dtype(), input.device())),
                    states: None,
                    log_q: None,
                    sampled_log_q: None,
                });
            }
            let logits = Tensor::stack(&logits, 1)?;
            let w = concrete_weights(&logits, temperature, straight_through, rng)?;
            let output = weighted_sum(&states, &w)?;
            Ok(BlockOutput {
                output,
                units: vec![units; b],
                expected_n: Some(expected_n(&logits)?),
                logits: Some(logits),
                ponder: None,
                states: None,
                log_q: None,
                sampled_log_q: None,
            })
        }
        HaltingMode::PactDeterministic => run_deterministic(units, input, &mut unit, &mut head),
        HaltingMode::PonderNet => run_ponder_net(units, input, &mut unit, &mut head, &all),
        HaltingMode::PactSample => {
            let dense = run_ponder_net(units, input, &mut unit, &mut head, &all)?;
            sample_unit(dense, rng)
        }
    }
}

/// ACT with the weighted sum accumulated as units run: `p_l = h_l` while the cumulative
/// halting probability stays below `1 − ε`, then the remainder `R` at the halting unit.
fn run_act(
    units: usize,
    input: &Tensor,
    unit: &mut impl FnMut(usize, &Tensor, &[usize]) -> pact::Result<Tensor>,
    head: &mut impl FnMut(usize, &Tensor) -> pact::Result<Tensor>,
    eps: f64,
    all: &[usize],
) -> Result<BlockOutput> {
    if !(eps > 0.0 && eps < 1.0) {
        return Err(Error::InvalidInput(format!(
            "ACT's eps must be in (0, 1), got {eps}"
        )));
    }
    let b = input.dims()[0];
    let (dt, dev) = (input.dtype(), input.device());
    // Cumulative halting probability of the units before the current one (differentiable).
    let mut cum = Tensor::zeros([b], dt, dev);
    let mut n = vec![0usize; b];
    let mut remainder: Option<Tensor> = None;
    let mut output: Option<Tensor> = None;
    let mut s = input.clone();
    for l in 0..units {
        s = unit(l, &s, all)?;
        let running: Vec<bool> = n.iter().map(|&v| v == 0).collect();
        let h = if l + 1 < units {
            let a = head(l, &s)?;
            check_logits(&a, b, l)?;
            a.sigmoid()?
        } else {
            Tensor::ones([b], dt, dev)
        };
        let cum_values = cum.to_f64_vec();
        let h_values = h.to_f64_vec();
        // Masks (constants): still running and continuing, or halting at this unit.
        let mut cont = vec![0.0; b];
        let mut stop = vec![0.0; b];
        for i in 0..b {
            if !running[i] {
                continue;
            }
            if l + 1 == units || act_halts(cum_values[i], h_values[i], eps) {
                stop[i] = 1.0;
                n[i] = l + 1;
            } else {
                cont[i] = 1.0;
            }
        }
        let cont = Tensor::from_f64_slice(&cont, [b], dt, dev)?;
        let stop = Tensor::from_f64_slice(&stop, [b], dt, dev)?;
        let r = cum.affine(-1.0, 1.0)?.mul(&stop)?;
        let w = h.mul(&cont)?.add(&r)?;
        remainder = Some(match remainder {
            Some(acc) => acc.add(&r)?,
            None => r,
        });
        let term = s.mul(&per_example(&w, &s)?)?;
        output = Some(match output {
            Some(o) => o.add(&term)?,
            None => term,
        });
        cum = cum.add(&h.mul(&cont)?)?;
        // Every example of the batch, on every replica of a data-parallel run, has halted.
        if pact::collective::all_replicas(n.iter().all(|&v| v > 0))? {
            break;
        }
    }
    let remainder = remainder.ok_or_else(|| Error::InvalidInput("empty block".into()))?;
    let n_tensor = Tensor::from_f64_slice(
        &n.iter().map(|&v| v as f64).collect::<Vec<_>>(),
        [b],
        dt,
        dev,
    )?;
    Ok(BlockOutput {
        output: output.ok_or_else(|| Error::InvalidInput("empty block".into()))?,
        units: n,
        logits: None,
        ponder: Some(n_tensor.add(&remainder)?),
        expected_n: None,
        states: None,
        log_q: None,
        sampled_log_q: None,
    })
}

/// Deterministic PACT evaluation with batch compaction.
fn run_deterministic(
    units: usize,
    input: &Tensor,
    unit: &mut impl FnMut(usize, &Tensor, &[usize]) -> pact::Result<Tensor>,
    head: &mut impl FnMut(usize, &Tensor) -> pact::Result<Tensor>,
) -> Result<BlockOutput> {
    let b = input.dims()[0];
    let mut active: Vec<usize> = (0..b).collect();
    let mut n = vec![units; b];
    let mut finished: Vec<Tensor> = Vec::new();
    let mut order: Vec<usize> = Vec::with_capacity(b);
    let mut s = input.clone();
    for l in 0..units {
        if active.is_empty() {
            break;
        }
        s = unit(l, &s, &active)?;
        if l + 1 == units {
            finished.push(s.clone());
            order.extend(&active);
            break;
        }
        let a = head(l, &s)?;
        check_logits(&a, active.len(), l)?;
        let (mut halt, mut keep) = (Vec::new(), Vec::new());
        for (local, &logit) in a.to_f64_vec().iter().enumerate() {
            if halts_deterministically(logit) {
                halt.push(local);
            } else {
                keep.push(local);
            }
        }
        if !halt.is_empty() {
            finished.push(s.index_select(0, &halt)?);
            for &local in &halt {
                order.push(active[local]);
                n[active[local]] = l + 1;
            }
        }
        if keep.len() < active.len() {
            s = s.index_select(0, &keep)?;
            active = keep.iter().map(|&local| active[local]).collect();
        }
    }
    let output = in_input_order(finished, &order)?;
    Ok(BlockOutput {
        output,
        units: n,
        logits: None,
        ponder: None,
        expected_n: None,
        states: None,
        log_q: None,
        sampled_log_q: None,
    })
}

/// The rows of a compacted batch back in input order: `finished` holds the final states of
/// the examples in the order they halted, `order[k]` is the input row of the `k`-th of them
/// (every input row exactly once).
pub fn in_input_order(mut finished: Vec<Tensor>, order: &[usize]) -> Result<Tensor> {
    let stacked = if finished.len() == 1 {
        finished
            .pop()
            .ok_or_else(|| Error::InvalidInput("empty block".into()))?
    } else {
        Tensor::concat(&finished, 0)?
    };
    let mut position = vec![0; order.len()];
    for (pos, &orig) in order.iter().enumerate() {
        position[orig] = pos;
    }
    let identity = position.iter().enumerate().all(|(i, &p)| i == p);
    Ok(if identity {
        stacked
    } else {
        stacked.index_select(0, &position)?
    })
}

/// PonderNet: every unit and head, every state kept, `log q(N | x)` by stick-breaking. The
/// block's `output` is the expected state `Σ_n q(n) s_n` (for reporting; the PonderNet loss
/// uses the states one by one).
fn run_ponder_net(
    units: usize,
    input: &Tensor,
    unit: &mut impl FnMut(usize, &Tensor, &[usize]) -> pact::Result<Tensor>,
    head: &mut impl FnMut(usize, &Tensor) -> pact::Result<Tensor>,
    all: &[usize],
) -> Result<BlockOutput> {
    let b = input.dims()[0];
    let mut states = Vec::with_capacity(units);
    let mut logits = Vec::with_capacity(units.saturating_sub(1));
    let mut s = input.clone();
    for l in 0..units {
        s = unit(l, &s, all)?;
        if l + 1 < units {
            let a = head(l, &s)?;
            check_logits(&a, b, l)?;
            logits.push(a);
        }
        states.push(s.clone());
    }
    let logits = if logits.is_empty() {
        Tensor::zeros([b, 0], input.dtype(), input.device())
    } else {
        Tensor::stack(&logits, 1)?
    };
    let log_q = if units == 1 {
        Tensor::zeros([b, 1], input.dtype(), input.device())
    } else {
        log_stick_breaking(&logits)?
    };
    let q = log_q.exp()?;
    let output = weighted_sum(&states, &q)?;
    let n = Tensor::arange(units, input.dtype(), input.device()).add_scalar(1.0)?;
    Ok(BlockOutput {
        output,
        units: vec![units; b],
        logits: (units > 1).then_some(logits),
        ponder: None,
        expected_n: Some(q.mul(&n)?.sum(1)?),
        states: Some(states),
        log_q: Some(log_q),
        sampled_log_q: None,
    })
}

/// Draws `N ~ q(N | x)` per example from a dense PonderNet-style run and returns `s_N`, with
/// `log q(N | x)` of the draw for the score-function estimator.
fn sample_unit(dense: BlockOutput, rng: &mut Rng) -> Result<BlockOutput> {
    let log_q = dense
        .log_q
        .clone()
        .ok_or_else(|| Error::InvalidInput("dense run without log q".into()))?;
    let states = dense
        .states
        .ok_or_else(|| Error::InvalidInput("dense run without states".into()))?;
    let (b, l) = (log_q.dims()[0], log_q.dims()[1]);
    let q = log_q.exp()?.to_f64_vec();
    let mut chosen = Vec::with_capacity(b);
    let mut one_hot = vec![0.0; b * l];
    let draws = rng.uniform_per_example(b)?;
    for (row, &u) in draws.iter().enumerate() {
        let mut cum = 0.0;
        let mut n = l - 1;
        for (j, p) in q[row * l..(row + 1) * l].iter().enumerate() {
            cum += p;
            if u < cum {
                n = j;
                break;
            }
        }
        chosen.push(n);
        one_hot[row * l + n] = 1.0;
    }
    let weights = Tensor::from_f64_slice(&one_hot, [b, l], log_q.dtype(), log_q.device())?;
    let output = weighted_sum(&states, &weights)?;
    let sampled = log_q
        .gather(1, &chosen, &pact::Shape::new([b, 1]))?
        .squeeze(1)?;
    Ok(BlockOutput {
        output,
        units: chosen.iter().map(|n| n + 1).collect(),
        logits: dense.logits,
        ponder: None,
        expected_n: dense.expected_n,
        states: None,
        log_q: Some(log_q),
        sampled_log_q: Some(sampled),
    })
}
