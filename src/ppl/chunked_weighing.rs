//! The running rows of a chunked halting site under a rule that weighs the steps (ACT's),
//! held as packs: each pack is a chunk of rows kept together from step to step, its states
//! `[c, ..]` beside their weighted sums `Σ_l w_l s_l`. A step runs on a pack as it is (no
//! gathering the chunk from its rows and splitting it again), and the sums are updated row by
//! row in place. A row that halts leaves its pack with its sum; the packs are formed again
//! from the running rows when halting has left more of them than chunks are needed. Each
//! row's arithmetic is that of [`super::chunked`]'s one-tensor-per-row run, so the results are
//! the same, bit for bit, on any thread count.

use super::chunked::{split_rows, step_chunk, ChunkedSteps};
use super::side_by_side::map_side_by_side;
use crate::{Device, Error, Result, Tensor};

/// A chunk of running rows: their input row indices in order, their states `[c, ..]` and
/// the weighted sums of their states so far (none before the first step is weighed).
struct Pack {
    rows: Vec<usize>,
    states: Tensor,
    sums: Option<Tensor>,
}

/// The running rows of a block as packs of at most `chunk` rows, in input order.
pub(super) struct Packs {
    packs: Vec<Pack>,
    chunk: usize,
    device: Device,
}

impl Packs {
    /// Packs the rows `active` (in order) of `states` (one `[1, ..]` tensor per row, taken)
    /// into chunks of at most `chunk` rows.
    pub(super) fn new(
        states: Vec<Tensor>,
        active: &[usize],
        chunk: usize,
        device: Device,
    ) -> Result<Self> {
        let mut rows: Vec<Option<Tensor>> = states.into_iter().map(Some).collect();
        let packs = active
            .chunks(chunk)
            .map(|part| {
                let states = part
                    .iter()
                    .map(|&row| rows[row].take().ok_or_else(|| lost(row)))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Pack {
                    rows: part.to_vec(),
                    states: Tensor::concat(&states, 0)?,
                    sums: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Packs {
            packs,
            chunk,
            device,
        })
    }

    /// The running rows, in order (the packs' rows one pack after another).
    pub(super) fn rows(&self) -> Vec<usize> {
        self.packs.iter().flat_map(|p| p.rows.clone()).collect()
    }

    /// Runs step `l` on every pack, side by side on the CPU; with `logits`, returns the
    /// halting logits after the step of every running row, in [`Packs::rows`]' order.
    pub(super) fn step(
        &mut self,
        name: &str,
        steps: &(impl ChunkedSteps + Sync),
        l: usize,
        logits: bool,
    ) -> Result<Vec<f64>> {
        let packs = std::mem::take(&mut self.packs);
        let done = map_side_by_side(self.device, packs, |mut pack| {
            let count = pack.rows.len();
            pack.states = step_chunk(steps, l, pack.states, count)?;
            let a = match logits {
                true => {
                    let a = steps.halting_logits_chunk(l, &pack.states)?;
                    super::halting::check_logits(name, &a, count, l)?;
                    a.try_to_f64_vec()?
                }
                false => Vec::new(),
            };
            Ok((pack, a))
        })?;
        let mut out = Vec::new();
        for (pack, a) in done {
            self.packs.push(pack);
            out.extend(a);
        }
        Ok(out)
    }

    /// Adds `weights[row] · state` to every running row's sum (`weights` and `halts` indexed
    /// by input row); the rows that halt leave their packs, and their sums (`[1, ..]` each)
    /// are returned with their row indices. The packs are formed again when fewer would do.
    pub(super) fn weigh(
        &mut self,
        weights: &[f64],
        halts: &[bool],
    ) -> Result<Vec<(usize, Tensor)>> {
        let packs = std::mem::take(&mut self.packs);
        let done = map_side_by_side(self.device, packs, |mut pack| {
            let w: Vec<f64> = pack.rows.iter().map(|&row| weights[row]).collect();
            let mut sums = match pack.sums.take() {
                Some(sums) => sums,
                None => pack.states.zeros_like(),
            };
            sums.add_scaled_rows_in_place(&pack.states, &w)?;
            pack.sums = Some(sums);
            leave(pack, halts)
        })?;
        let mut halted = Vec::new();
        for (pack, left) in done {
            self.packs.extend(pack);
            halted.extend(left);
        }
        let needed = self.packs.iter().map(|p| p.rows.len()).sum::<usize>();
        if !halted.is_empty() && self.packs.len() > needed.div_ceil(self.chunk) {
            self.repack()?;
        }
        Ok(halted)
    }

    /// Forms the packs again from their rows, in order, at most `chunk` rows each.
    fn repack(&mut self) -> Result<()> {
        let mut rows = Vec::new();
        for pack in std::mem::take(&mut self.packs) {
            let sums = pack.sums.ok_or_else(|| lost(pack.rows[0]))?;
            let (states, sums) = (split_rows(&pack.states)?, split_rows(&sums)?);
            rows.extend(pack.rows.into_iter().zip(states).zip(sums));
        }
        for part in rows.chunks(self.chunk) {
            let (states, sums): (Vec<Tensor>, Vec<Tensor>) = part
                .iter()
                .map(|((_, state), sum)| (state.clone(), sum.clone()))
                .unzip();
            self.packs.push(Pack {
                rows: part.iter().map(|((row, _), _)| *row).collect(),
                states: Tensor::concat(&states, 0)?,
                sums: Some(Tensor::concat(&sums, 0)?),
            });
        }
        Ok(())
    }
}

/// Takes the rows that halt out of `pack`: what is left of it (none if every row halted),
/// and each halted row's sum `[1, ..]`.
fn leave(pack: Pack, halts: &[bool]) -> Result<(Option<Pack>, HaltedSums)> {
    let (halt, keep): (Vec<usize>, Vec<usize>) =
        (0..pack.rows.len()).partition(|&k| halts[pack.rows[k]]);
    if halt.is_empty() {
        return Ok((Some(pack), Vec::new()));
    }
    let sums = pack.sums.ok_or_else(|| lost(pack.rows[0]))?;
    let halted = halt
        .iter()
        .map(|&k| Ok((pack.rows[k], sums.narrow(0, k, 1)?)))
        .collect::<Result<Vec<_>>>()?;
    if keep.is_empty() {
        return Ok((None, halted));
    }
    let rest = Pack {
        rows: keep.iter().map(|&k| pack.rows[k]).collect(),
        states: pack.states.index_select(0, &keep)?,
        sums: Some(sums.index_select(0, &keep)?),
    };
    Ok((Some(rest), halted))
}

/// Rows with their (final) weighted sums, `[1, ..]` each.
type HaltedSums = Vec<(usize, Tensor)>;

/// The error for a row whose state went missing (a broken invariant).
fn lost(row: usize) -> Error {
    Error::invalid("halting_chunked", format!("row {row} lost its state"))
}
