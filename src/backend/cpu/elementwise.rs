//! Elementwise kernels: unary maps, broadcast binary ops, `where`, broadcast materialisation.

use super::fill::build_chunks;
use crate::backend::ops::{BinaryOp, UnaryOp};
use crate::{Element, Shape};
use ndarray::{ArrayViewD, ArrayViewMutD, IxDyn, Zip};
use num_traits::Float;
use rayon::prelude::*;

/// Below this many elements, kernels stay on one thread.
pub const PAR_THRESHOLD: usize = 1 << 15;

/// An `f64` parameter of an op as a scalar of type `T` (rounded for `f32`).
fn c<T: Float>(v: f64) -> T {
    T::from(v).expect("every float type converts from f64")
}

// The scalar functions below are generic over `num_traits::Float` rather than `Element`, so
// that they can also be evaluated on dual numbers (see `tests/dual_numbers.rs`).

/// Numerically stable logistic sigmoid.
pub fn sigmoid<T: Float>(x: T) -> T {
    if x >= T::zero() {
        T::one() / (T::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::one() + e)
    }
}

/// Numerically stable `log(1 + e^x)`.
pub fn softplus<T: Float>(x: T) -> T {
    if x > T::zero() {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// The scalar function of a unary op.
pub fn unary_fn<T: Float>(op: UnaryOp) -> impl Fn(T) -> T + Sync + Send {
    move |x: T| match op {
        UnaryOp::Neg => -x,
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Log1p => x.ln_1p(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Abs => x.abs(),
        UnaryOp::Sign => {
            if x > T::zero() {
                T::one()
            } else if x < T::zero() {
                -T::one()
            } else {
                T::zero()
            }
        }
        UnaryOp::Square => x * x,
        UnaryOp::Recip => T::one() / x,
        UnaryOp::Sigmoid => sigmoid(x),
        UnaryOp::Tanh => x.tanh(),
        // `x ≤ 0` is false for NaN, which passes through (as in every max-like op).
        UnaryOp::Relu => {
            if x <= T::zero() {
                T::zero()
            } else {
                x
            }
        }
        UnaryOp::Step => {
            if x > T::zero() {
                T::one()
            } else {
                T::zero()
            }
        }
        UnaryOp::LeakyRelu(a) => x * leaky_gain(x, c(a)),
        UnaryOp::LeakyStep(a) => leaky_gain(x, c(a)),
        UnaryOp::Softplus => softplus(x),
        UnaryOp::LogSigmoid => -softplus(-x),
        UnaryOp::Powf(p) => x.powf(c(p)),
        // `Float::max` would replace a NaN by the bound; NaN passes through instead.
        UnaryOp::Clamp(lo, hi) => {
            if x.is_nan() {
                x
            } else {
                x.max(c(lo)).min(c(hi))
            }
        }
        UnaryOp::InRange(lo, hi) => {
            if x >= c(lo) && x <= c(hi) {
                T::one()
            } else {
                T::zero()
            }
        }
        UnaryOp::Affine(m, a) => x * c(m) + c(a),
        UnaryOp::CmpScalar(cmp, v) => {
            if cmp.holds(x, c(v)) {
                T::one()
            } else {
                T::zero()
            }
        }
    }
}

/// The scalar function of a binary op.
pub fn binary_fn<T: Float>(op: BinaryOp) -> impl Fn(T, T) -> T + Sync + Send {
    move |a: T, b: T| match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        // A NaN in either operand propagates.
        BinaryOp::Maximum => {
            if a >= b || a.is_nan() {
                a
            } else {
                b
            }
        }
        BinaryOp::Minimum => {
            if a <= b || a.is_nan() {
                a
            } else {
                b
            }
        }
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Cmp(cmp) => {
            if cmp.holds(a, b) {
                T::one()
            } else {
                T::zero()
            }
        }
    }
}

/// Elements per work unit of the elementwise kernels: big enough to amortise rayon's
/// per-task cost, small enough to balance two or more threads on a 2¹⁵-element tensor.
const CHUNK: usize = 1 << 13;

/// Applies `f` to every element, in parallel for large inputs. The output is written once
/// (no zero fill), chunk by chunk, in loops that the compiler can vectorise.
pub fn map<T: Element>(x: &[T], f: impl Fn(T) -> T + Sync + Send) -> Vec<T> {
    // SAFETY: every element of every chunk is written.
    unsafe {
        build_chunks(x.len(), CHUNK, x.len() >= PAR_THRESHOLD, |i, dst| {
            let src = &x[i * CHUNK..i * CHUNK + dst.len()];
            for (d, &v) in dst.iter_mut().zip(src) {
                d.write(f(v));
            }
        })
    }
}

/// Elementwise unary op. The hot ops get a loop of their own (the `match` is outside the
/// loop, so the compiler can vectorise it); the rest share the scalar [`unary_fn`].
pub fn unary<T: Element>(x: &[T], op: UnaryOp) -> Vec<T> {
    let zero = T::zero();
    match op {
        UnaryOp::Neg => map(x, |v| -v),
        UnaryOp::Square => map(x, |v| v * v),
        UnaryOp::Exp => map(x, |v| v.exp()),
        UnaryOp::Sigmoid => map(x, sigmoid::<T>),
        UnaryOp::Relu => map(x, move |v| if v <= zero { zero } else { v }),
        UnaryOp::Step => map(x, move |v| if v > zero { T::one() } else { zero }),
        UnaryOp::LeakyRelu(a) => {
            let a = c::<T>(a);
            map(x, move |v| v * leaky_gain(v, a))
        }
        UnaryOp::LeakyStep(a) => {
            let a = c::<T>(a);
            map(x, move |v| leaky_gain(v, a))
        }
        UnaryOp::Affine(m, b) => {
            let (m, b) = (c::<T>(m), c::<T>(b));
            map(x, move |v| v * m + b)
        }
        other => map(x, unary_fn::<T>(other)),
    }
}

/// `f(a[i], b[i])` for equal-length slices, in parallel for large inputs; written once,
/// chunk by chunk, like [`map`].
fn zip_map<T: Element>(a: &[T], b: &[T], f: impl Fn(T, T) -> T + Sync + Send) -> Vec<T> {
    debug_assert_eq!(a.len(), b.len());
    // SAFETY: every element of every chunk is written.
    unsafe {
        build_chunks(a.len(), CHUNK, a.len() >= PAR_THRESHOLD, |i, dst| {
            let range = i * CHUNK..i * CHUNK + dst.len();
            for ((d, &x), &y) in dst.iter_mut().zip(&a[range.clone()]).zip(&b[range]) {
                d.write(f(x, y));
            }
        })
    }
}

/// The gradient of a leaky ReLU with `slope` at `x` for the output gradient `g`, in one pass:
/// `g` where `x > 0`, else `slope · g` (the product `g · LeakyStep(x)`, exactly).
pub fn leaky_relu_backward<T: Element>(x: &[T], g: &[T], slope: f64) -> Vec<T> {
    let a = c::<T>(slope);
    zip_map(x, g, move |x, g| g * leaky_gain(x, a))
}

/// A leaky ReLU's gain at `x`: 1 where `x > 0`, else `slope` (the value of `LeakyStep`), so
/// that `x · leaky_gain(x, slope)` is the leaky ReLU of `x` and `g · leaky_gain(x, slope)`
/// its gradient, bit for bit. Every leaky ReLU kernel goes through it: a multiplier picked by
/// a select keeps their loops vectorised, where a branch between `x` and `x · slope` left the
/// fused batch norm's loop scalar (22% of a ResNet-32 training step).
#[inline(always)]
pub fn leaky_gain<T: Float>(x: T, slope: T) -> T {
    if x > T::zero() {
        T::one()
    } else {
        slope
    }
}

/// `leaky_relu(x · a + b)`, batch norm of one element with its activation, rounded as the
/// separate ops round it (after the product and after the sum, no FMA): the training pass
/// ([`super::norm::batch_norm`]), the evaluation in-place pass and the convolutions' mapped
/// input copy all compute it here, so they agree bit for bit.
#[inline(always)]
pub fn scale_shift_leaky<T: Float>(x: T, a: T, b: T, slope: T) -> T {
    let y = x * a + b;
    y * leaky_gain(y, slope)
}

/// `a += b` elementwise for equal lengths, in parallel for large inputs.
pub fn add_assign<T: Element>(a: &mut [T], b: &[T]) {
    if a.len() >= PAR_THRESHOLD {
        a.par_chunks_mut(PAR_THRESHOLD)
            .zip(b.par_chunks(PAR_THRESHOLD))
            .for_each(|(x, y)| x.iter_mut().zip(y).for_each(|(x, &y)| *x += y));
    } else {
        a.iter_mut().zip(b).for_each(|(x, &y)| *x += y);
    }
}

fn view<'a, T>(data: &'a [T], shape: &Shape) -> ArrayViewD<'a, T> {
    ArrayViewD::from_shape(IxDyn(shape.dims()), data).expect("storage matches its shape")
}

/// Elementwise binary op with NumPy broadcasting to `out`. Arithmetic gets loops of its own
/// (the `match` outside the loop); the rest share the scalar [`binary_fn`].
pub fn binary<T: Element>(
    a: &[T],
    a_shape: &Shape,
    b: &[T],
    b_shape: &Shape,
    out: &Shape,
    op: BinaryOp,
) -> Vec<T> {
    let args = (a, a_shape, b, b_shape, out);
    match op {
        BinaryOp::Add => binary_with(args, |x, y| x + y),
        BinaryOp::Sub => binary_with(args, |x, y| x - y),
        BinaryOp::Mul => binary_with(args, |x, y| x * y),
        BinaryOp::Div => binary_with(args, |x, y| x / y),
        other => binary_with(args, binary_fn::<T>(other)),
    }
}

type BinaryArgs<'a, T> = (&'a [T], &'a Shape, &'a [T], &'a Shape, &'a Shape);

/// Elementwise `f(a, b)` with NumPy broadcasting to `out`.
fn binary_with<T: Element>(
    (a, a_shape, b, b_shape, out): BinaryArgs<'_, T>,
    f: impl Fn(T, T) -> T + Sync + Send,
) -> Vec<T> {
    let n = out.elem_count();
    if n == 0 {
        return Vec::new();
    }
    if a.len() == n && b.len() == n {
        return zip_map(a, b, f);
    }
    if b.len() == 1 && a.len() == n {
        let y = b[0];
        return map(a, |x| f(x, y));
    }
    if a.len() == 1 && b.len() == n {
        let x = a[0];
        return map(b, |y| f(x, y));
    }
    if let Some(result) = binary_rowwise(a, a_shape, b, b_shape, out, &f) {
        return result;
    }
    let av = view(a, a_shape);
    let bv = view(b, b_shape);
    let dims = IxDyn(out.dims());
    let av = av.broadcast(dims.clone()).expect("shapes checked");
    let bv = bv.broadcast(dims.clone()).expect("shapes checked");
    let mut result = vec![T::zero(); n];
    let ov = ArrayViewMutD::from_shape(dims, &mut result).expect("sized above");
    Zip::from(ov)
        .and(&av)
        .and(&bv)
        .for_each(|o, &x, &y| *o = f(x, y));
    result
}

/// Fast path for the common per-channel case: one operand full-size, the other constant over
/// a contiguous trailing block (e.g. `[N, C, H, W]` with `[1, C, 1, 1]`).
/// If a tensor of shape `small` broadcast to `out` has each of its elements cover one
/// contiguous run of output elements (it equals `out` on a run of axes and is 1 elsewhere,
/// e.g. `[1, C, 1, 1]` or `[N, C, 1]` against `[N, C, H, W]`), the length of that run; element
/// `i` of the output run `r` is then `small[r % small.len()]`.
fn contiguous_block(small: &Shape, out: &Shape) -> Option<usize> {
    let offset = out.rank().checked_sub(small.rank())?;
    let padded: Vec<usize> = std::iter::repeat_n(1, offset)
        .chain(small.dims().iter().copied())
        .collect();
    // A single element (every axis 1) covers the whole output.
    let Some(last) = padded.iter().rposition(|&d| d != 1) else {
        return Some(out.elem_count());
    };
    let first = padded.iter().position(|&d| d != 1)?;
    if (first..=last).any(|i| padded[i] != out.dims()[i]) {
        return None;
    }
    Some(out.dims()[last + 1..].iter().product())
}

fn binary_rowwise<T: Element>(
    a: &[T],
    a_shape: &Shape,
    b: &[T],
    b_shape: &Shape,
    out: &Shape,
    f: &(impl Fn(T, T) -> T + Sync),
) -> Option<Vec<T>> {
    let n = out.elem_count();
    let (full, small, small_shape, swapped) = if a.len() == n && a_shape == out {
        (a, b, b_shape, false)
    } else if b.len() == n && b_shape == out {
        (b, a, a_shape, true)
    } else {
        return None;
    };
    let block = contiguous_block(small_shape, out)?;
    if block == 0 {
        return Some(Vec::new());
    }
    let period = small.len();
    // Work units of whole runs, about `CHUNK` elements each.
    let span = block * (CHUNK / block).max(1);
    let apply = |i: usize, dst: &mut [std::mem::MaybeUninit<T>]| {
        let start = i * span;
        let src = &full[start..start + dst.len()];
        for (j, (d, x)) in dst.chunks_mut(block).zip(src.chunks(block)).enumerate() {
            let s = small[(start / block + j) % period];
            if swapped {
                for (d, &x) in d.iter_mut().zip(x) {
                    d.write(f(s, x));
                }
            } else {
                for (d, &x) in d.iter_mut().zip(x) {
                    d.write(f(x, s));
                }
            }
        }
    };
    // SAFETY: every element of every chunk is written by `apply`.
    Some(unsafe { build_chunks(n, span, n >= PAR_THRESHOLD, apply) })
}

/// `cond ≠ 0 ? t : f` with broadcasting.
pub fn where_cond<T: Element>(
    cond: (&[T], &Shape),
    on_true: (&[T], &Shape),
    on_false: (&[T], &Shape),
    out: &Shape,
) -> Vec<T> {
    let dims = IxDyn(out.dims());
    let cv = view(cond.0, cond.1);
    let tv = view(on_true.0, on_true.1);
    let fv = view(on_false.0, on_false.1);
    let cv = cv.broadcast(dims.clone()).expect("shapes checked");
    let tv = tv.broadcast(dims.clone()).expect("shapes checked");
    let fv = fv.broadcast(dims.clone()).expect("shapes checked");
    let mut result = vec![T::zero(); out.elem_count()];
    let ov = ArrayViewMutD::from_shape(dims, &mut result).expect("sized above");
    Zip::from(ov)
        .and(&cv)
        .and(&tv)
        .and(&fv)
        .for_each(|o, &c, &t, &f| *o = if c != T::zero() { t } else { f });
    result
}

/// Materialises `x` broadcast to `target`.
pub fn broadcast_to<T: Element>(x: &[T], shape: &Shape, target: &Shape) -> Vec<T> {
    let n = target.elem_count();
    if let Some(block) = contiguous_block(shape, target).filter(|&b| b > 0 && !x.is_empty()) {
        let mut out = Vec::with_capacity(n);
        for run in 0..n / block {
            out.extend(std::iter::repeat_n(x[run % x.len()], block));
        }
        return out;
    }
    let v = view(x, shape);
    let b = v.broadcast(IxDyn(target.dims())).expect("shapes checked");
    b.iter().copied().collect()
}
