//! Shared pieces of the continuous laws: parameter checks and host-side sampling through
//! `rand_distr` (for laws without a reparameterised sampler).

use super::util::{check_range, extended};
use crate::{DType, Device, Result, Rng, Shape, Tensor};

/// Errors unless every element of `t` is finite and `> 0`, naming `what` of law `op`.
pub(crate) fn check_positive(t: &Tensor, op: &'static str, what: &str) -> Result<()> {
    check_range(t, f64::MIN_POSITIVE, f64::MAX, op, what)
}

/// Errors unless every element of `t` is finite.
pub(crate) fn check_finite(t: &Tensor, op: &'static str, what: &str) -> Result<()> {
    check_range(t, f64::MIN, f64::MAX, op, what)
}

/// `sample_shape ++ batch` values drawn on the host, one per element of the batch
/// parameters `params` (each broadcast to `batch`), by `draw(rng, parameters of the element)`.
pub(crate) fn host_samples(
    sample_shape: &[usize],
    batch: &Shape,
    params: &[&Tensor],
    dtype: DType,
    device: Device,
    rng: &mut Rng,
    mut draw: impl FnMut(&mut Rng, &[f64]) -> f64,
) -> Result<Tensor> {
    let shape = extended(sample_shape, batch, &Shape::scalar());
    let values: Vec<Vec<f64>> = params
        .iter()
        .map(|p| Ok(p.detach().broadcast_as(batch)?.to_f64_vec()))
        .collect::<Result<_>>()?;
    let per_sample = batch.elem_count();
    let repeats = shape.elem_count() / per_sample.max(1);
    let mut out = Vec::with_capacity(shape.elem_count());
    let mut args = vec![0.0; params.len()];
    for _ in 0..repeats {
        for i in 0..per_sample {
            for (a, v) in args.iter_mut().zip(&values) {
                *a = v[i];
            }
            out.push(draw(rng, &args));
        }
    }
    Tensor::from_f64_slice(&out, shape, dtype, device)
}

/// One `Gamma(shape, 1)` draw (Marsaglia and Tsang's method, through `rand_distr`).
pub(crate) fn gamma_draw(rng: &mut Rng, shape: f64) -> f64 {
    use rand_distr::Distribution as _;
    match rand_distr::Gamma::new(shape, 1.0) {
        Ok(g) => g.sample(rng.inner()),
        Err(_) => f64::NAN,
    }
}

/// 1 where `t` holds an integer, else 0 (computed on the host; no gradient).
pub(crate) fn integer_mask(t: &Tensor) -> Result<Tensor> {
    let mask: Vec<f64> = t
        .detach()
        .to_f64_vec()
        .iter()
        .map(|v| f64::from(u8::from(v.is_finite() && v.floor() == *v)))
        .collect();
    Tensor::from_f64_slice(&mask, t.shape().clone(), t.dtype(), t.device())
}

/// `⌊t⌋` elementwise (computed on the host; no gradient).
pub(crate) fn floor(t: &Tensor) -> Result<Tensor> {
    let v: Vec<f64> = t.detach().to_f64_vec().iter().map(|v| v.floor()).collect();
    Tensor::from_f64_slice(&v, t.shape().clone(), t.dtype(), t.device())
}
