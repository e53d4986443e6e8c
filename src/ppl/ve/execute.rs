//! Running a [`Plan`] on tensors: sum-product (`logsumexp`) or max-product (`max`) in log
//! space, optionally keeping each combined table for the backward pass of MAP decoding and
//! posterior sampling.
//!
//! A factor's tensor has one leading axis per variable (in the order of its variable list)
//! followed by the `nesting` plate axes, where plate axis `P + dim` holds the plate of
//! `dim` (−1 is the last) and has size 1 for plates the factor is not in.

use super::plan::{Instr, Plan};
use crate::{Result, Tensor};

/// How a variable is reduced away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Semiring {
    /// `log Σ exp`: the marginal (and posterior sampling).
    Sum,
    /// `max`: the MAP (Viterbi).
    Max,
}

/// What the executor needs to know besides the plan.
pub(super) struct Layout<'a> {
    pub var_sizes: &'a [usize],
    /// Per plate id: its `dim` (negative) and its subsampling scale.
    pub plate_dims: &'a [isize],
    pub plate_scales: &'a [f64],
    pub nesting: usize,
}

/// The result: the sum of the root factors (shape: the plate axes) and, when recorded, the
/// combined table of every `Eliminate` step (indexed like the steps).
pub(super) struct Executed {
    pub total: Tensor,
    pub tables: Vec<Option<Tensor>>,
}

/// `tensor`, whose leading axes hold the variables `from`, laid out for the variables `to`
/// (a superset): permuted into `to`'s order, with axes of size 1 for the variables it lacks.
fn align(tensor: &Tensor, from: &[usize], to: &[usize], layout: &Layout) -> Result<Tensor> {
    let mut perm: Vec<usize> = to
        .iter()
        .filter_map(|v| from.iter().position(|u| u == v))
        .collect();
    let n = from.len();
    perm.extend(n..tensor.rank());
    let permuted = if perm.iter().enumerate().all(|(i, &p)| i == p) {
        tensor.clone()
    } else {
        tensor.permute(&perm)?
    };
    let mut dims: Vec<usize> = to
        .iter()
        .map(|v| {
            if from.contains(v) {
                layout.var_sizes[*v]
            } else {
                1
            }
        })
        .collect();
    dims.extend_from_slice(&tensor.dims()[n..]);
    if dims == permuted.dims() {
        Ok(permuted)
    } else {
        permuted.reshape(dims)
    }
}

/// Runs `plan` on the factor tensors `initial`.
pub(super) fn execute(
    plan: &Plan,
    layout: &Layout,
    initial: &[Tensor],
    semiring: Semiring,
    record: bool,
) -> Result<Executed> {
    let mut slots: Vec<Option<Tensor>> = initial.iter().cloned().map(Some).collect();
    let mut tables = Vec::with_capacity(plan.instrs.len());
    let take = |slots: &mut Vec<Option<Tensor>>, id: usize| {
        slots.get_mut(id).and_then(Option::take).ok_or_else(|| {
            crate::Error::invalid("enumerate_parallel", format!("factor {id} used twice"))
        })
    };
    for instr in &plan.instrs {
        match instr {
            Instr::Eliminate { inputs, vars, .. } => {
                let mut table: Option<Tensor> = None;
                for &f in inputs {
                    let t = align(&take(&mut slots, f)?, &plan.factor_vars[f], vars, layout)?;
                    table = Some(match table {
                        Some(acc) => acc.add(&t)?,
                        None => t,
                    });
                }
                let table = table.ok_or_else(|| {
                    crate::Error::invalid("enumerate_parallel", "a variable without factors")
                })?;
                // Make sure the variable's own axis has its full size (a variable every
                // input ignores is summed over its values all the same).
                let mut full = table.dims().to_vec();
                full[0] = layout.var_sizes[vars[0]];
                let table = if full == table.dims() {
                    table
                } else {
                    table.broadcast_as(&crate::Shape::new(full))?
                };
                let reduced = match semiring {
                    Semiring::Sum => table.logsumexp(0)?,
                    Semiring::Max => table.max(0)?,
                };
                tables.push(record.then(|| table.detach()));
                slots.push(Some(reduced));
            }
            Instr::ReducePlates { input, plates } => {
                let f = *input;
                let mut t = take(&mut slots, f)?;
                let vars = plan.factor_vars[f].len();
                let mut scale = 1.0;
                for &p in plates {
                    let axis = (vars + layout.nesting) as isize + layout.plate_dims[p];
                    t = t.sum_keepdim(axis as usize)?;
                    scale *= layout.plate_scales[p];
                }
                if scale != 1.0 {
                    t = t.mul_scalar(scale)?;
                }
                tables.push(None);
                slots.push(Some(t));
            }
        }
    }
    let mut total: Option<Tensor> = None;
    for &r in &plan.roots {
        let t = take(&mut slots, r)?;
        total = Some(match total {
            Some(acc) => acc.add(&t)?,
            None => t,
        });
    }
    let total = match total {
        Some(t) => t,
        None => {
            let like = initial.first().ok_or_else(|| {
                crate::Error::invalid("enumerate_parallel", "a model without factors")
            })?;
            Tensor::zeros(vec![1; layout.nesting], like.dtype(), like.device())
        }
    };
    Ok(Executed { total, tables })
}
