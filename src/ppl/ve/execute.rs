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
    // A variable's axis may have size 1 (a weight that does not depend on it): keep it so.
    let mut present = permuted.dims()[..perm.len() - (tensor.rank() - n)]
        .iter()
        .copied();
    let mut dims: Vec<usize> = to
        .iter()
        .map(|v| {
            if from.contains(v) {
                present.next().unwrap_or(layout.var_sizes[*v])
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

/// A factor of an expectation: its `log q` part (the weights) and its value channels.
pub(super) struct Pair {
    pub l: Option<Tensor>,
    pub r: Vec<Option<Tensor>>,
}

/// Runs `plan` in the expectation semiring: each factor is a pair `(log a, b / a)`, pairs
/// multiply as `(log a + log a', r + r')` and sum over a variable as
/// `(log Σ a, Σ (a / Σ a) r)`; plates multiply out as sums of both parts. With the guide's
/// `log q` terms as weights and the model's terms as values, the root holds `log Σ q = 0`
/// and `E_q[Σ terms]`, exactly and differentiably. Returns the root weight and one value per
/// channel (rank 0).
pub(super) fn expect(
    plan: &Plan,
    layout: &Layout,
    initial: Vec<Pair>,
    channels: usize,
) -> Result<(Option<Tensor>, Vec<Tensor>)> {
    let like = initial
        .iter()
        .find_map(|p| p.l.clone().or_else(|| p.r.iter().flatten().next().cloned()))
        .ok_or_else(|| crate::Error::invalid("expectation", "a model without factors"))?;
    let mut slots: Vec<Option<Pair>> = initial.into_iter().map(Some).collect();
    let take = |slots: &mut Vec<Option<Pair>>, id: usize| {
        slots
            .get_mut(id)
            .and_then(Option::take)
            .ok_or_else(|| crate::Error::invalid("expectation", format!("factor {id} used twice")))
    };
    let add = |acc: Option<Tensor>, t: Tensor| -> Result<Option<Tensor>> {
        Ok(Some(match acc {
            Some(a) => a.add(&t)?,
            None => t,
        }))
    };
    for instr in &plan.instrs {
        match instr {
            Instr::Eliminate { var, inputs, vars } => {
                let mut l: Option<Tensor> = None;
                let mut r: Vec<Option<Tensor>> = vec![None; channels];
                for &f in inputs {
                    let pair = take(&mut slots, f)?;
                    let from = &plan.factor_vars[f];
                    if let Some(t) = pair.l {
                        l = add(l, align(&t, from, vars, layout)?)?;
                    }
                    for (acc, t) in r.iter_mut().zip(pair.r) {
                        if let Some(t) = t {
                            *acc = add(acc.take(), align(&t, from, vars, layout)?)?;
                        }
                    }
                }
                let l = l.ok_or_else(|| {
                    crate::Error::invalid(
                        "expectation",
                        format!("enumerated variable {var} has no log q term in the guide"),
                    )
                })?;
                let mut full = l.dims().to_vec();
                full[0] = layout.var_sizes[*var];
                let l = if full == l.dims() {
                    l
                } else {
                    l.broadcast_as(&crate::Shape::new(full))?
                };
                let lse = l.logsumexp_keepdim(0)?;
                let w = l.sub(&lse)?.exp()?;
                let positive = w.gt_scalar(0.0)?;
                let mut out = Vec::with_capacity(channels);
                for rc in r {
                    out.push(match rc {
                        Some(rc) => {
                            let prod = w.mul(&rc)?;
                            // 0 · (−∞) is 0 here: values q gives no weight do not count.
                            let safe = Tensor::where_cond(&positive, &prod, &prod.zeros_like())?;
                            Some(safe.sum(0)?)
                        }
                        None => None,
                    });
                }
                slots.push(Some(Pair {
                    l: Some(lse.squeeze(0)?),
                    r: out,
                }));
            }
            Instr::ReducePlates { input, plates } => {
                let f = *input;
                let pair = take(&mut slots, f)?;
                let vars = plan.factor_vars[f].len();
                let reduce = |t: Tensor| -> Result<Tensor> {
                    let mut t = t;
                    let mut scale = 1.0;
                    for &p in plates {
                        let axis = (vars + layout.nesting) as isize + layout.plate_dims[p];
                        t = t.sum_keepdim(axis as usize)?;
                        scale *= layout.plate_scales[p];
                    }
                    if scale != 1.0 {
                        t = t.mul_scalar(scale)?;
                    }
                    Ok(t)
                };
                slots.push(Some(Pair {
                    l: pair.l.map(reduce).transpose()?,
                    r: pair
                        .r
                        .into_iter()
                        .map(|t| t.map(reduce).transpose())
                        .collect::<Result<_>>()?,
                }));
            }
        }
    }
    let mut l: Option<Tensor> = None;
    let mut r: Vec<Option<Tensor>> = vec![None; channels];
    for &root in &plan.roots {
        let pair = take(&mut slots, root)?;
        if let Some(t) = pair.l {
            l = add(l, t.sum_all()?)?;
        }
        for (acc, t) in r.iter_mut().zip(pair.r) {
            if let Some(t) = t {
                *acc = add(acc.take(), t.sum_all()?)?;
            }
        }
    }
    let zero = Tensor::scalar(0.0, like.dtype(), like.device());
    Ok((
        l,
        r.into_iter().map(|t| t.unwrap_or(zero.clone())).collect(),
    ))
}
