//! Average and max pooling over NCHW planes (square windows, no padding).

use crate::backend::ops::Pool2dParams;
use crate::Element;
use rayon::prelude::*;

fn planes_in_out(p: &Pool2dParams) -> (usize, usize) {
    (p.h_in * p.w_in, p.h_out() * p.w_out())
}

/// Average pooling.
pub fn avg_pool2d<T: Element>(x: &[T], p: Pool2dParams) -> Vec<T> {
    let (pin, pout) = planes_in_out(&p);
    let scale = T::one() / T::from_usize(p.kernel * p.kernel).unwrap_or(T::one());
    let mut out = vec![T::zero(); p.planes * pout];
    if out.is_empty() {
        return out;
    }
    out.par_chunks_mut(pout).enumerate().for_each(|(i, dst)| {
        let src = &x[i * pin..(i + 1) * pin];
        for oy in 0..p.h_out() {
            for ox in 0..p.w_out() {
                let mut acc = T::zero();
                for ky in 0..p.kernel {
                    let row = &src[(oy * p.stride + ky) * p.w_in..];
                    for kx in 0..p.kernel {
                        acc += row[ox * p.stride + kx];
                    }
                }
                dst[oy * p.w_out() + ox] = acc * scale;
            }
        }
    });
    out
}

/// Gradient of average pooling; `dy` is the output gradient.
pub fn avg_pool2d_backward<T: Element>(dy: &[T], p: Pool2dParams) -> Vec<T> {
    let (pin, pout) = planes_in_out(&p);
    let scale = T::one() / T::from_usize(p.kernel * p.kernel).unwrap_or(T::one());
    let mut dx = vec![T::zero(); p.planes * pin];
    if dx.is_empty() {
        return dx;
    }
    dx.par_chunks_mut(pin).enumerate().for_each(|(i, dst)| {
        let g = &dy[i * pout..(i + 1) * pout];
        for oy in 0..p.h_out() {
            for ox in 0..p.w_out() {
                let v = g[oy * p.w_out() + ox] * scale;
                for ky in 0..p.kernel {
                    let row = &mut dst[(oy * p.stride + ky) * p.w_in..];
                    for kx in 0..p.kernel {
                        row[ox * p.stride + kx] += v;
                    }
                }
            }
        }
    });
    dx
}

/// Position (within the plane) of the first maximum of each window; a NaN counts as the
/// largest value, so it propagates (as in the max reduction).
fn window_argmax<T: Element>(src: &[T], p: &Pool2dParams, oy: usize, ox: usize) -> usize {
    let mut best = (oy * p.stride) * p.w_in + ox * p.stride;
    for ky in 0..p.kernel {
        for kx in 0..p.kernel {
            let pos = (oy * p.stride + ky) * p.w_in + ox * p.stride + kx;
            if src[pos] > src[best] || (src[pos].is_nan() && !src[best].is_nan()) {
                best = pos;
            }
        }
    }
    best
}

/// Max pooling.
pub fn max_pool2d<T: Element>(x: &[T], p: Pool2dParams) -> Vec<T> {
    let (pin, pout) = planes_in_out(&p);
    let mut out = vec![T::zero(); p.planes * pout];
    if out.is_empty() {
        return out;
    }
    out.par_chunks_mut(pout).enumerate().for_each(|(i, dst)| {
        let src = &x[i * pin..(i + 1) * pin];
        for oy in 0..p.h_out() {
            for ox in 0..p.w_out() {
                dst[oy * p.w_out() + ox] = src[window_argmax(src, &p, oy, ox)];
            }
        }
    });
    out
}

/// Gradient of max pooling: each output gradient goes to its window's first maximum.
pub fn max_pool2d_backward<T: Element>(x: &[T], dy: &[T], p: Pool2dParams) -> Vec<T> {
    let (pin, pout) = planes_in_out(&p);
    let mut dx = vec![T::zero(); p.planes * pin];
    if dx.is_empty() {
        return dx;
    }
    dx.par_chunks_mut(pin).enumerate().for_each(|(i, dst)| {
        let src = &x[i * pin..(i + 1) * pin];
        let g = &dy[i * pout..(i + 1) * pout];
        for oy in 0..p.h_out() {
            for ox in 0..p.w_out() {
                dst[window_argmax(src, &p, oy, ox)] += g[oy * p.w_out() + ox];
            }
        }
    });
    dx
}
