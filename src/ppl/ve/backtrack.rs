//! The backward pass over the recorded tables of an elimination: each variable, in the
//! reverse order of elimination, takes its best value (MAP, after max-product: Viterbi's
//! backtrace on a chain) or a draw from its conditional (after sum-product: forward
//! filtering, backward sampling) given the variables eliminated after it, which are then
//! already decided. Runs on the host, per plate element.

use super::plan::{Instr, Plan};
use crate::{Error, Result, Rng, Tensor};

/// How a variable's value is chosen from its conditional table.
#[derive(Clone, Copy, Debug)]
pub(super) enum Choose {
    /// The most probable value (the first on ties).
    Best,
    /// A draw from the normalised conditional.
    Draw,
}

/// The value of one variable per element of its plate axes.
#[derive(Clone, Debug)]
pub(super) struct Assigned {
    /// The plate axes' sizes (1 for plates the variable is not in).
    pub dims: Vec<usize>,
    /// Row-major over `dims`: the index of the chosen value.
    pub index: Vec<usize>,
}

impl Assigned {
    /// The value at the plate position `pos` (a multi-index over a layout in which this
    /// variable's axes of size 1 broadcast).
    fn at(&self, pos: &[usize]) -> usize {
        let mut flat = 0;
        for (&size, &p) in self.dims.iter().zip(pos) {
            flat = flat * size + if size == 1 { 0 } else { p };
        }
        self.index[flat]
    }
}

/// Walks the steps of `plan` backwards over `tables` (as recorded by
/// [`execute`](super::execute::execute)), choosing every eliminated variable.
pub(super) fn backtrack(
    plan: &Plan,
    tables: &[Option<Tensor>],
    var_count: usize,
    nesting: usize,
    choose: Choose,
    rng: &mut Rng,
) -> Result<Vec<Option<Assigned>>> {
    let mut values: Vec<Option<Assigned>> = vec![None; var_count];
    for (instr, table) in plan.instrs.iter().zip(tables).rev() {
        let Instr::Eliminate { var, vars, .. } = instr else {
            continue;
        };
        let table = table
            .as_ref()
            .ok_or_else(|| Error::invalid("enumerate_parallel", "a table was not recorded"))?;
        let dims = table.dims().to_vec();
        let data = table.to_f64_vec();
        let nv = vars.len();
        let plate_dims = dims[nv..].to_vec();
        if plate_dims.len() != nesting {
            return Err(Error::invalid(
                "enumerate_parallel",
                "a table without its plate axes",
            ));
        }
        let mut strides = vec![1usize; dims.len()];
        for i in (0..dims.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * dims[i + 1];
        }
        let rest: Vec<&Assigned> = vars[1..]
            .iter()
            .map(|&u| {
                values[u].as_ref().ok_or_else(|| {
                    Error::invalid(
                        "enumerate_parallel",
                        "a variable needed before it was decided",
                    )
                })
            })
            .collect::<Result<_>>()?;
        let positions: usize = plate_dims.iter().product();
        let k = dims[0];
        let mut chosen = Vec::with_capacity(positions);
        let mut pos = vec![0usize; nesting];
        let mut scores = vec![0.0; k];
        for flat in 0..positions {
            let mut rem = flat;
            for i in (0..nesting).rev() {
                pos[i] = rem % plate_dims[i];
                rem /= plate_dims[i];
            }
            let mut base = 0;
            for (j, a) in rest.iter().enumerate() {
                base += a.at(&pos) * strides[j + 1];
            }
            for (i, &p) in pos.iter().enumerate() {
                base += p * strides[nv + i];
            }
            for (value, score) in scores.iter_mut().enumerate() {
                *score = data[base + value * strides[0]];
            }
            chosen.push(match choose {
                Choose::Best => best(&scores),
                Choose::Draw => draw(&scores, rng),
            });
        }
        values[*var] = Some(Assigned {
            dims: plate_dims,
            index: chosen,
        });
    }
    Ok(values)
}

/// The index of the largest score (the first on ties; 0 if all are −∞ or NaN).
fn best(scores: &[f64]) -> usize {
    let mut arg = 0;
    for (i, &s) in scores.iter().enumerate() {
        if s > scores[arg] {
            arg = i;
        }
    }
    arg
}

/// A draw from the law `∝ exp(scores)`.
fn draw(scores: &[f64], rng: &mut Rng) -> usize {
    let m = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return best(scores);
    }
    let weights: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
    let target = rng.uniform() * weights.iter().sum::<f64>();
    let mut acc = 0.0;
    for (i, w) in weights.iter().enumerate() {
        acc += w;
        if acc > target {
            return i;
        }
    }
    weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
}
