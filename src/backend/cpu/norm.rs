//! Fused batch normalisation (training statistics) and its backward pass.
//!
//! Input `[outer, C, inner]`; every channel is normalised over its `outer · inner` values.
//! Each kernel reads its inputs as few times as it can: the forward pass once for the
//! statistics and once for the output, the backward pass once for the two per-channel sums
//! and once for the input gradient. Per-channel sums use vectorisable lane sums within each
//! row and `f64` across rows, taken over fixed blocks of whole examples (contiguous memory,
//! the same totals on any number of threads).

use super::elementwise::{leaky_gain, scale_shift_leaky, PAR_THRESHOLD};
use super::fill::{build_chunks, lane_sums2};
use crate::backend::ops::NormDims;
use crate::Element;
use rayon::prelude::*;

fn row<T>(x: &[T], d: NormDims, o: usize, c: usize) -> &[T] {
    let start = (o * d.channels + c) * d.inner;
    &x[start..start + d.inner]
}

/// Blocks of examples that [`channel_sums`] sums separately before adding the blocks' totals
/// in order: enough for every thread to read whole examples (contiguous memory) instead of
/// one channel's rows strided across the batch, and fixed by the shape alone, so that the
/// totals are the same on any number of threads.
const SUM_BLOCKS: usize = 32;

/// Per channel `c`, the `f64` totals over all its rows of `f(c, row_of_a, row_of_b)`: each
/// block of examples in parallel for large inputs (see [`SUM_BLOCKS`]), the blocks' totals
/// added in order.
fn channel_sums<T: Element>(
    a: &[T],
    b: &[T],
    d: NormDims,
    f: impl Fn(usize, &[T], &[T]) -> (T, T) + Sync,
) -> Vec<(f64, f64)> {
    let per_block = d.outer.div_ceil(SUM_BLOCKS).max(1);
    let block_sums = |block: usize| {
        let mut acc = vec![(0.0, 0.0); d.channels];
        for o in block * per_block..d.outer.min((block + 1) * per_block) {
            for (c, total) in acc.iter_mut().enumerate() {
                let (p, q) = f(c, row(a, d, o, c), row(b, d, o, c));
                total.0 += p.to_f64_exact();
                total.1 += q.to_f64_exact();
            }
        }
        acc
    };
    let blocks = d.outer.div_ceil(per_block);
    let partials: Vec<Vec<(f64, f64)>> = if a.len() >= PAR_THRESHOLD {
        (0..blocks).into_par_iter().map(block_sums).collect()
    } else {
        (0..blocks).map(block_sums).collect()
    };
    let mut totals = vec![(0.0, 0.0); d.channels];
    for partial in partials {
        for (total, (p, q)) in totals.iter_mut().zip(partial) {
            total.0 += p;
            total.1 += q;
        }
    }
    totals
}

/// `dst[r] = f(c, src[r])` over the rows `r` (of `inner` elements, channel `c = r mod C`)
/// of one or two inputs, written once into a fresh vector; in parallel over examples for
/// large inputs.
fn map_rows<T: Element>(
    srcs: (&[T], &[T]),
    d: NormDims,
    f: impl Fn(usize, &[T], &[T], &mut [std::mem::MaybeUninit<T>]) + Sync + Send,
) -> Vec<T> {
    let (a, b) = srcs;
    let example = d.channels * d.inner;
    // SAFETY: every row of every example chunk is handed to `f`, which writes all of it.
    unsafe {
        build_chunks(a.len(), example, a.len() >= PAR_THRESHOLD, |o, dst| {
            for (c, out) in dst.chunks_mut(d.inner.max(1)).enumerate() {
                f(c, row(a, d, o, c), row(b, d, o, c), out);
            }
        })
    }
}

/// Per channel, the scale `invstd·γ` and offset `β − mean·scale` of the normalisation, as
/// the forward pass computes them (the backward pass of the fused activation recomputes
/// `x·scale + offset` and must get the same signs).
pub(crate) fn affine_of<T: Element>(
    gamma: &[T],
    beta: &[T],
    mean: &[T],
    invstd: &[T],
) -> Vec<(T, T)> {
    (0..gamma.len())
        .map(|c| {
            let scale = invstd[c] * gamma[c];
            (scale, beta[c] - mean[c] * scale)
        })
        .collect()
}

/// Per channel, the batch `(mean, invstd)` of `x` with `invstd = 1 / √(var + eps)` (the
/// biased variance), in one pass.
pub fn batch_norm_stats<T: Element>(x: &[T], d: NormDims, eps: f64) -> (Vec<T>, Vec<T>) {
    let count = (d.outer * d.inner).max(1) as f64;
    // One pass: sums of `x − k` and `(x − k)²` with `k` the channel's first value, which
    // keeps the variance accurate however far the mean is from zero.
    let shift = |c: usize| {
        if x.is_empty() {
            T::zero()
        } else {
            row(x, d, 0, c)[0]
        }
    };
    let sums = channel_sums(x, x, d, |c, xs, _| {
        let k = shift(c);
        lane_sums2(xs, xs, |v, _| {
            let s = v - k;
            (s, s * s)
        })
    });
    let mut means = Vec::with_capacity(d.channels);
    let mut invstd = Vec::with_capacity(d.channels);
    for (c, &(s1, s2)) in sums.iter().enumerate() {
        let m = s1 / count;
        let var = (s2 / count - m * m).max(0.0);
        means.push(T::from_f64_lossy(shift(c).to_f64_exact() + m));
        invstd.push(T::from_f64_lossy(1.0 / (var + eps).sqrt()));
    }
    (means, invstd)
}

/// Returns `(y, mean, invstd)`; with `slope`, `y` is passed through a leaky ReLU with that
/// slope in the same pass.
pub fn batch_norm<T: Element>(
    x: &[T],
    gamma: &[T],
    beta: &[T],
    d: NormDims,
    eps: f64,
    slope: Option<f64>,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let (means, invstd) = batch_norm_stats(x, d, eps);
    let affine = affine_of(gamma, beta, &means, &invstd);
    let y = match slope {
        None => map_rows((x, x), d, |c, src, _, dst| {
            let (s, b) = affine[c];
            for (o, &v) in dst.iter_mut().zip(src) {
                o.write(v * s + b);
            }
        }),
        Some(slope) => {
            let a = T::from_f64_lossy(slope);
            map_rows((x, x), d, |c, src, _, dst| {
                let (s, b) = affine[c];
                for (o, &v) in dst.iter_mut().zip(src) {
                    o.write(scale_shift_leaky(v, s, b, a));
                }
            })
        }
    };
    (y, means, invstd)
}

/// Returns `(dx, dgamma, dbeta)`. With `leaky = Some((beta, slope))` the forward pass was
/// followed by a leaky ReLU (see [`batch_norm`]): `dy` is the gradient of the activation's
/// output, and the activation's gradient is applied on the fly (its input recomputed from
/// `x`), so that no intermediate tensor is written.
pub fn batch_norm_backward<T: Element>(
    x: &[T],
    dy: &[T],
    gamma: &[T],
    mean: &[T],
    invstd: &[T],
    d: NormDims,
    leaky: Option<(&[T], f64)>,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let stats = (gamma, mean, invstd);
    match leaky {
        None => backward_with(x, dy, stats, d, |_, g, _| g),
        Some((beta, slope)) => {
            let affine = affine_of(gamma, beta, mean, invstd);
            let a = T::from_f64_lossy(slope);
            backward_with(x, dy, stats, d, move |c, g, v| {
                let (s, b) = affine[c];
                g * leaky_gain(v * s + b, a)
            })
        }
    }
}

/// The backward pass for the gradient `pre(c, dy, x)` reaching the normalisation's output.
fn backward_with<T: Element>(
    x: &[T],
    dy: &[T],
    (gamma, mean, invstd): (&[T], &[T], &[T]),
    d: NormDims,
    pre: impl Fn(usize, T, T) -> T + Sync + Send,
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let count = (d.outer * d.inner).max(1) as f64;
    // Σ dz and Σ dz·(x − mean) per channel.
    let sums = channel_sums(dy, x, d, |c, gs, xs| {
        let m = mean[c];
        lane_sums2(gs, xs, |g, v| {
            let g = pre(c, g, v);
            (g, g * (v - m))
        })
    });
    let dbeta: Vec<T> = sums.iter().map(|s| T::from_f64_lossy(s.0)).collect();
    let dgamma: Vec<T> = sums
        .iter()
        .zip(invstd)
        .map(|(s, &is)| T::from_f64_lossy(s.1 * is.to_f64_exact()))
        .collect();
    // dx = γ·s/n · (n·dy − Σdy − x̂·Σdy·x̂) with x̂ = (x − m)·s, as a·dy + b·(x − m) + c.
    let coefficients: Vec<(T, T, T)> = (0..d.channels)
        .map(|c| {
            let (g, s) = (gamma[c].to_f64_exact(), invstd[c].to_f64_exact());
            let k = g * s / count;
            let (sum_dy, sum_dy_centred) = sums[c];
            (
                T::from_f64_lossy(g * s),
                T::from_f64_lossy(-k * sum_dy_centred * s * s),
                T::from_f64_lossy(-k * sum_dy),
            )
        })
        .collect();
    let dx = map_rows((x, dy), d, |c, xs, gs, dst| {
        let (p, q, k) = coefficients[c];
        let m = mean[c];
        for ((o, &v), &g) in dst.iter_mut().zip(xs).zip(gs) {
            o.write(p * pre(c, g, v) + q * (v - m) + k);
        }
    });
    (dx, dgamma, dbeta)
}
