//! Fused batch normalisation (training statistics) and its backward pass.
//!
//! Input `[outer, C, inner]`; every channel is normalised over its `outer · inner` values.

use crate::backend::ops::NormDims;
use crate::Element;
use rayon::prelude::*;

/// Per-channel sums `(Σ f(x), Σ g(x))` over all rows of a channel, in parallel over channels.
fn channel_sums<T: Element>(d: NormDims, f: impl Fn(usize, usize) -> (T, T) + Sync) -> Vec<(T, T)> {
    (0..d.channels)
        .into_par_iter()
        .map(|c| {
            let mut acc = (T::zero(), T::zero());
            for o in 0..d.outer {
                let (a, b) = f(o, c);
                acc.0 += a;
                acc.1 += b;
            }
            acc
        })
        .collect()
}

fn row<T>(x: &[T], d: NormDims, o: usize, c: usize) -> &[T] {
    let start = (o * d.channels + c) * d.inner;
    &x[start..start + d.inner]
}

/// Returns `(y, mean, invstd)`.
pub fn batch_norm<T: Element>(
    x: &[T],
    gamma: &[T],
    beta: &[T],
    d: NormDims,
    eps: f64,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let count = T::from_usize(d.outer * d.inner).unwrap_or(T::one());
    // Two passes (mean, then centred squares) for accuracy.
    let means: Vec<T> = channel_sums(d, |o, c| (row(x, d, o, c).iter().copied().sum(), T::zero()))
        .into_iter()
        .map(|(s, _)| s / count)
        .collect();
    let invstd: Vec<T> = channel_sums(d, |o, c| {
        let m = means[c];
        let sq = row(x, d, o, c).iter().map(|&v| (v - m) * (v - m)).sum();
        (sq, T::zero())
    })
    .into_iter()
    .map(|(s, _)| T::one() / (s / count + T::from_f64_lossy(eps)).sqrt())
    .collect();
    let mut y = vec![T::zero(); x.len()];
    if !y.is_empty() {
        y.par_chunks_mut(d.inner)
            .zip(x.par_chunks(d.inner))
            .enumerate()
            .for_each(|(r, (dst, src))| {
                let c = r % d.channels;
                let scale = invstd[c] * gamma[c];
                let shift = beta[c] - means[c] * scale;
                for (o, &v) in dst.iter_mut().zip(src) {
                    *o = v * scale + shift;
                }
            });
    }
    (y, means, invstd)
}

/// Returns `(dx, dgamma, dbeta)`.
pub fn batch_norm_backward<T: Element>(
    x: &[T],
    dy: &[T],
    gamma: &[T],
    mean: &[T],
    invstd: &[T],
    d: NormDims,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let count = T::from_usize(d.outer * d.inner).unwrap_or(T::one());
    // Σ dy and Σ dy·x̂ per channel.
    let sums = channel_sums(d, |o, c| {
        let (m, s) = (mean[c], invstd[c]);
        row(dy, d, o, c)
            .iter()
            .zip(row(x, d, o, c))
            .fold((T::zero(), T::zero()), |(a, b), (&g, &v)| {
                (a + g, b + g * (v - m) * s)
            })
    });
    let dbeta: Vec<T> = sums.iter().map(|s| s.0).collect();
    let dgamma: Vec<T> = sums.iter().map(|s| s.1).collect();
    let mut dx = vec![T::zero(); x.len()];
    if !dx.is_empty() {
        dx.par_chunks_mut(d.inner)
            .zip(x.par_chunks(d.inner).zip(dy.par_chunks(d.inner)))
            .enumerate()
            .for_each(|(r, (dst, (xs, gs)))| {
                let c = r % d.channels;
                let k = gamma[c] * invstd[c] / count;
                let (sum_dy, sum_dy_xhat) = (dbeta[c], dgamma[c]);
                for ((o, &v), &g) in dst.iter_mut().zip(xs).zip(gs) {
                    let xhat = (v - mean[c]) * invstd[c];
                    *o = k * (count * g - sum_dy - xhat * sum_dy_xhat);
                }
            });
    }
    (dx, dgamma, dbeta)
}
