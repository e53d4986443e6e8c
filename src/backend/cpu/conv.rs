//! 2-D convolution as im2col + GEMM, parallel over the images of a batch; `f32` on CPUs
//! with AVX2 and FMA (or AVX-512VL) goes through the [`direct`] kernels instead, where they
//! apply (see [`super::isa`] for the path and how to force one).
//!
//! For image `b`: `cols = im2col(x[b])` is `(C_in·K_h·K_w) × (H_out·W_out)`, and
//! `y[b] = W · cols` with `W` viewed as `C_out × (C_in·K_h·K_w)`. The backward passes reuse the
//! same two matrices: `dcols = Wᵀ · dy[b]` (then col2im), `dW += dy[b] · colsᵀ`.

use super::matmul::{gemm_into, MatRef, Threads};
use crate::backend::ops::Conv2dParams;
use crate::Element;
use rayon::prelude::*;
use std::any::TypeId;

pub mod direct;

/// The `f32` slice behind `v` when `T` is `f32`.
fn as_f32<T: Element>(v: &[T]) -> Option<&[f32]> {
    // SAFETY: `T` is `f32` (same type id), so the cast changes nothing.
    (TypeId::of::<T>() == TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<f32>(), v.len()) })
}

/// `v` as a `Vec<T>` when `T` is `f32` (the caller has checked that it is).
fn from_f32<T: Element>(v: Vec<f32>) -> Vec<T> {
    assert_eq!(TypeId::of::<T>(), TypeId::of::<f32>());
    let mut v = std::mem::ManuallyDrop::new(v);
    // SAFETY: `T` is `f32`, so pointer, length, capacity and allocation layout all match.
    unsafe { Vec::from_raw_parts(v.as_mut_ptr().cast::<T>(), v.len(), v.capacity()) }
}

fn is_pointwise(p: &Conv2dParams) -> bool {
    p.k_h == 1 && p.k_w == 1 && p.stride == 1 && p.padding == 0
}

/// Unfolds one image `[C_in, H, W]` into `cols` (`(C_in·K_h·K_w) × (H_out·W_out)`).
pub fn im2col<T: Element>(x: &[T], p: &Conv2dParams, cols: &mut [T]) {
    let (h_out, w_out) = (p.h_out(), p.w_out());
    let plane = h_out * w_out;
    let mut row = 0;
    for c in 0..p.c_in {
        let channel = &x[c * p.h_in * p.w_in..(c + 1) * p.h_in * p.w_in];
        for ki in 0..p.k_h {
            for kj in 0..p.k_w {
                let dst = &mut cols[row * plane..(row + 1) * plane];
                for oy in 0..h_out {
                    let iy = (oy * p.stride + ki) as isize - p.padding as isize;
                    let out_row = &mut dst[oy * w_out..(oy + 1) * w_out];
                    if iy < 0 || iy >= p.h_in as isize {
                        out_row.iter_mut().for_each(|v| *v = T::zero());
                        continue;
                    }
                    let src = &channel[iy as usize * p.w_in..(iy as usize + 1) * p.w_in];
                    fill_row(out_row, src, kj, p);
                }
                row += 1;
            }
        }
    }
}

/// One output row of im2col: `out[ox] = src[ox·stride + kj − padding]` or 0 outside.
#[inline]
fn fill_row<T: Element>(out: &mut [T], src: &[T], kj: usize, p: &Conv2dParams) {
    let w_out = out.len();
    let pad = p.padding as isize;
    if p.stride == 1 {
        // Valid output columns: 0 <= ox + kj - pad < w_in.
        let lo = (pad - kj as isize).clamp(0, w_out as isize) as usize;
        let hi = ((p.w_in as isize + pad - kj as isize).clamp(0, w_out as isize)) as usize;
        out[..lo].iter_mut().for_each(|v| *v = T::zero());
        if hi > lo {
            let start = (lo as isize + kj as isize - pad) as usize;
            out[lo..hi].copy_from_slice(&src[start..start + hi - lo]);
        }
        out[hi.max(lo)..].iter_mut().for_each(|v| *v = T::zero());
    } else {
        for (ox, v) in out.iter_mut().enumerate() {
            let ix = (ox * p.stride + kj) as isize - pad;
            *v = if ix < 0 || ix >= p.w_in as isize {
                T::zero()
            } else {
                src[ix as usize]
            };
        }
    }
}

/// Folds `cols` back into one image, adding overlapping contributions (adjoint of im2col).
pub fn col2im<T: Element>(cols: &[T], p: &Conv2dParams, x: &mut [T]) {
    let (h_out, w_out) = (p.h_out(), p.w_out());
    let plane = h_out * w_out;
    x.iter_mut().for_each(|v| *v = T::zero());
    let mut row = 0;
    for c in 0..p.c_in {
        let channel = &mut x[c * p.h_in * p.w_in..(c + 1) * p.h_in * p.w_in];
        for ki in 0..p.k_h {
            for kj in 0..p.k_w {
                let src = &cols[row * plane..(row + 1) * plane];
                for oy in 0..h_out {
                    let iy = (oy * p.stride + ki) as isize - p.padding as isize;
                    if iy < 0 || iy >= p.h_in as isize {
                        continue;
                    }
                    let dst = &mut channel[iy as usize * p.w_in..(iy as usize + 1) * p.w_in];
                    add_row(dst, &src[oy * w_out..(oy + 1) * w_out], kj, p);
                }
                row += 1;
            }
        }
    }
}

/// One row of col2im: `dst[ox·stride + kj − padding] += src[ox]` where that is inside.
#[inline]
fn add_row<T: Element>(dst: &mut [T], src: &[T], kj: usize, p: &Conv2dParams) {
    let pad = p.padding as isize;
    if p.stride == 1 {
        let w_out = src.len() as isize;
        let lo = (pad - kj as isize).clamp(0, w_out) as usize;
        let hi = (p.w_in as isize + pad - kj as isize).clamp(0, w_out) as usize;
        if hi > lo {
            let start = (lo as isize + kj as isize - pad) as usize;
            for (d, &v) in dst[start..start + hi - lo].iter_mut().zip(&src[lo..hi]) {
                *d += v;
            }
        }
    } else {
        for (ox, &v) in src.iter().enumerate() {
            let ix = (ox * p.stride + kj) as isize - pad;
            if ix >= 0 && ix < p.w_in as isize {
                dst[ix as usize] += v;
            }
        }
    }
}

fn threads_for(p: &Conv2dParams) -> Threads {
    if p.batch == 1 {
        Threads::All
    } else {
        Threads::One
    }
}

/// Forward convolution: `x` is `[B, C_in, H, W]`, `w` is `[C_out, C_in, K_h, K_w]`.
pub fn conv2d<T: Element>(x: &[T], w: &[T], p: Conv2dParams) -> Vec<T> {
    if let (Some(xf), Some(wf)) = (as_f32(x), as_f32(w)) {
        if let Some(y) = direct::forward(xf, wf, p) {
            return from_f32(y);
        }
    }
    im2col_forward(x, w, p)
}

/// Forward convolution by im2col + GEMM (every element type, every shape).
pub fn im2col_forward<T: Element>(x: &[T], w: &[T], p: Conv2dParams) -> Vec<T> {
    let ckk = p.c_in * p.k_h * p.k_w;
    let plane = p.h_out() * p.w_out();
    let in_size = p.c_in * p.h_in * p.w_in;
    let mut out = vec![T::zero(); p.batch * p.c_out * plane];
    if out.is_empty() {
        return out;
    }
    let threads = threads_for(&p);
    out.par_chunks_mut(p.c_out * plane)
        .enumerate()
        .for_each_init(
            || vec![T::zero(); if is_pointwise(&p) { 0 } else { ckk * plane }],
            |cols, (b, dst)| {
                let image = &x[b * in_size..(b + 1) * in_size];
                let cols: &[T] = if is_pointwise(&p) {
                    image
                } else {
                    im2col(image, &p, cols);
                    cols
                };
                gemm_into(
                    dst,
                    false,
                    MatRef::new(w, p.c_out, ckk, false),
                    MatRef::new(cols, ckk, plane, false),
                    threads,
                );
            },
        );
    out
}

/// Gradient with respect to the input: `dy` is `[B, C_out, H_out, W_out]`.
pub fn conv2d_backward_input<T: Element>(dy: &[T], w: &[T], p: Conv2dParams) -> Vec<T> {
    if let (Some(gf), Some(wf)) = (as_f32(dy), as_f32(w)) {
        if let Some(dx) = direct::backward_input(gf, wf, p) {
            return from_f32(dx);
        }
    }
    im2col_backward_input(dy, w, p)
}

/// Input gradient by GEMM + col2im (every element type, every shape).
pub fn im2col_backward_input<T: Element>(dy: &[T], w: &[T], p: Conv2dParams) -> Vec<T> {
    let ckk = p.c_in * p.k_h * p.k_w;
    let plane = p.h_out() * p.w_out();
    let in_size = p.c_in * p.h_in * p.w_in;
    let mut dx = vec![T::zero(); p.batch * in_size];
    if dx.is_empty() {
        return dx;
    }
    let threads = threads_for(&p);
    // Wᵀ once, contiguous, so every image's product reads a row-major left operand.
    let mut w_t = vec![T::zero(); w.len()];
    for (o, row) in w.chunks(ckk).enumerate() {
        for (r, &v) in row.iter().enumerate() {
            w_t[r * p.c_out + o] = v;
        }
    }
    dx.par_chunks_mut(in_size).enumerate().for_each_init(
        || vec![T::zero(); ckk * plane],
        |dcols, (b, dst)| {
            let g = &dy[b * p.c_out * plane..(b + 1) * p.c_out * plane];
            let target: &mut [T] = if is_pointwise(&p) { dst } else { dcols };
            gemm_into(
                target,
                false,
                MatRef::new(&w_t, ckk, p.c_out, false),
                MatRef::new(g, p.c_out, plane, false),
                threads,
            );
            if !is_pointwise(&p) {
                col2im(dcols, &p, dst);
            }
        },
    );
    dx
}

/// Gradient with respect to the weight: `x` is the input, `dy` the output gradient.
pub fn conv2d_backward_weight<T: Element>(x: &[T], dy: &[T], p: Conv2dParams) -> Vec<T> {
    if let (Some(xf), Some(gf)) = (as_f32(x), as_f32(dy)) {
        if let Some(dw) = direct::backward_weight(xf, gf, p) {
            return from_f32(dw);
        }
    }
    im2col_backward_weight(x, dy, p)
}

/// Weight gradient by im2col + GEMM (every element type, every shape).
pub fn im2col_backward_weight<T: Element>(x: &[T], dy: &[T], p: Conv2dParams) -> Vec<T> {
    let ckk = p.c_in * p.k_h * p.k_w;
    let plane = p.h_out() * p.w_out();
    let in_size = p.c_in * p.h_in * p.w_in;
    let w_size = p.c_out * ckk;
    if p.batch == 0 {
        return vec![T::zero(); w_size];
    }
    let threads = threads_for(&p);
    // Fixed chunks of images, their partial sums added in order: the result does not depend
    // on the thread count.
    let total_t = direct::sum_over_chunks(p.batch, w_size, |images| {
        // dWᵀ (C_in·K_h·K_w × C_out): the long image dimension is the shared one.
        let mut dw_t = vec![T::zero(); w_size];
        let mut cols = vec![T::zero(); if is_pointwise(&p) { 0 } else { ckk * plane }];
        for b in images {
            let image = &x[b * in_size..(b + 1) * in_size];
            let g = &dy[b * p.c_out * plane..(b + 1) * p.c_out * plane];
            let c: &[T] = if is_pointwise(&p) {
                image
            } else {
                im2col(image, &p, &mut cols);
                &cols
            };
            gemm_into(
                &mut dw_t,
                true,
                MatRef::new(c, ckk, plane, false),
                MatRef::new(g, plane, p.c_out, true),
                threads,
            );
        }
        dw_t
    });
    // Back to C_out × (C_in·K_h·K_w).
    let mut total = vec![T::zero(); w_size];
    for (r, row) in total_t.chunks(p.c_out).enumerate() {
        for (o, &v) in row.iter().enumerate() {
            total[o * ckk + r] = v;
        }
    }
    total
}
