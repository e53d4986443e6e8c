//! The weighted sum of a block's states, `Σ_l w[b, l] · s_l[b, ..]`, as one differentiable op
//! on the CPU: one pass forward instead of `L` products and `L − 1` sums (whose outputs the
//! graph kept), and one pass backward per state that takes the weights' gradient as a dot
//! product per row instead of writing `g · s_l` out first. Values and gradients are those of
//! the composed ops, bit for bit (see [`crate::backend::cpu::weighted`]).

use crate::autodiff::CustomOp;
use crate::backend::cpu::{weighted, CpuStorage};
use crate::backend::Storage;
use crate::{Element, Error, Result, Tensor};
use std::sync::Arc;

/// The name the op goes by in errors.
const NAME: &str = "weighted_states";

impl Tensor {
    /// `Σ_l weights[b, l] · states[l][b, ..]` as one op, or `None` where it does not apply
    /// (anywhere but the CPU, weights not `[B, L]` for `L` states of one shape `[B, ..]` and
    /// dtype); the caller composes the ops there.
    pub(crate) fn fused_weighted_states(
        states: &[Tensor],
        weights: &Tensor,
    ) -> Option<Result<Tensor>> {
        let first = states.first()?;
        let rows = *first.dims().first()?;
        let fits = weights.dims() == [rows, states.len()]
            && states
                .iter()
                .all(|s| s.shape() == first.shape() && s.dtype() == weights.dtype());
        if !fits {
            return None;
        }
        let mut inputs = states.to_vec();
        inputs.push(weights.clone());
        cpu_slices(&inputs)?;
        Some(Tensor::apply_custom(Arc::new(WeightedStates), &inputs))
    }
}

/// The op; its inputs are the `L` states followed by the weights `[B, L]`.
struct WeightedStates;

/// The elements of CPU tensors of one dtype.
enum Slices<'a> {
    F32(Vec<&'a [f32]>),
    F64(Vec<&'a [f64]>),
}

/// The elements of `ts` if they are all CPU tensors of one dtype.
fn cpu_slices(ts: &[Tensor]) -> Option<Slices<'_>> {
    let cpu = ts
        .iter()
        .map(|t| t.storage().as_cpu())
        .collect::<Option<Vec<&CpuStorage>>>()?;
    match cpu.iter().map(|c| c.as_f32()).collect::<Option<Vec<_>>>() {
        Some(v) => Some(Slices::F32(v)),
        None => cpu
            .iter()
            .map(|c| c.as_f64())
            .collect::<Option<Vec<_>>>()
            .map(Slices::F64),
    }
}

/// `(states, weights, rows)` of the op's inputs, or an error naming the broken invariant (the
/// op is built only on inputs that [`Tensor::fused_weighted_states`] checked).
fn operands(inputs: &[Tensor]) -> Result<(Slices<'_>, usize)> {
    let slices = cpu_slices(inputs).ok_or_else(|| {
        Error::Autodiff(format!(
            "{NAME}: operands not on the CPU or of mixed dtypes"
        ))
    })?;
    let rows = inputs.last().map_or(0, |w| w.dims()[0]);
    Ok((slices, rows))
}

/// A CPU tensor of `values` shaped like `like`, recording no graph.
fn cpu_tensor(values: CpuStorage, like: &Tensor) -> Tensor {
    Tensor::build(Storage::Cpu(values), like.shape().clone(), None, false)
}

/// The states' and weights' slices of the op's inputs (the weights last).
fn split<'a, T>(v: &'a [&'a [T]]) -> Result<(&'a [T], &'a [&'a [T]])> {
    v.split_last()
        .map(|(w, states)| (*w, states))
        .ok_or_else(|| Error::Autodiff(format!("{NAME}: no inputs")))
}

/// The gradients of the op in one dtype: one per state, then the weights'.
fn gradients<T: Element>(
    v: &[&[T]],
    rows: usize,
    g: Option<&[T]>,
    wrap: fn(Vec<T>) -> CpuStorage,
) -> Result<(Vec<CpuStorage>, CpuStorage)> {
    let (w, states) = split(v)?;
    let g =
        g.ok_or_else(|| Error::Autodiff(format!("{NAME}: a gradient of another dtype or device")))?;
    let (ds, dw) = weighted::weighted_rows_backward(states, w, g, rows);
    Ok((ds.into_iter().map(wrap).collect(), wrap(dw)))
}

impl CustomOp for WeightedStates {
    fn name(&self) -> &'static str {
        NAME
    }

    fn forward(&self, inputs: &[Tensor]) -> Result<Tensor> {
        let out = match operands(inputs)? {
            (Slices::F32(v), rows) => {
                let (w, states) = split(&v)?;
                CpuStorage::F32(weighted::weighted_rows(states, w, rows))
            }
            (Slices::F64(v), rows) => {
                let (w, states) = split(&v)?;
                CpuStorage::F64(weighted::weighted_rows(states, w, rows))
            }
        };
        Ok(cpu_tensor(out, &inputs[0]))
    }

    fn backward(
        &self,
        inputs: &[Tensor],
        _output: &Tensor,
        grad: &Tensor,
    ) -> Result<Vec<Option<Tensor>>> {
        let g = grad.storage().as_cpu();
        let (states, weights) = match operands(inputs)? {
            (Slices::F32(v), rows) => {
                gradients(&v, rows, g.and_then(|g| g.as_f32()), CpuStorage::F32)?
            }
            (Slices::F64(v), rows) => {
                gradients(&v, rows, g.and_then(|g| g.as_f64()), CpuStorage::F64)?
            }
        };
        let mut grads: Vec<Option<Tensor>> = states
            .into_iter()
            .map(|d| Some(cpu_tensor(d, &inputs[0])))
            .collect();
        grads.push(Some(cpu_tensor(weights, &inputs[inputs.len() - 1])));
        Ok(grads)
    }
}
