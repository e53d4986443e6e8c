//! Reductions and scans along one axis.
//!
//! A tensor is viewed as `[outer, n, inner]` around the axis; reductions produce
//! `[outer, 1, inner]`.

use super::elementwise::PAR_THRESHOLD;
use super::fill::lane_sums2;
use crate::backend::ops::{ReduceOp, ScanOp};
use crate::{Element, Shape};
use rayon::prelude::*;

/// Reduces along `axis`.
pub fn reduce<T: Element>(x: &[T], shape: &Shape, axis: usize, op: ReduceOp) -> Vec<T> {
    let (outer, n, inner) = shape.split_at_axis(axis);
    let init = match op {
        ReduceOp::Sum => T::zero(),
        ReduceOp::Max => T::neg_infinity(),
        ReduceOp::Min => T::infinity(),
    };
    let combine = move |acc: T, v: T| match op {
        ReduceOp::Sum => acc + v,
        ReduceOp::Max => {
            if v > acc || v.is_nan() {
                v
            } else {
                acc
            }
        }
        ReduceOp::Min => {
            if v < acc || v.is_nan() {
                v
            } else {
                acc
            }
        }
    };
    let reduce_block = |(o, out): (usize, &mut [T])| {
        let block = &x[o * n * inner..(o + 1) * n * inner];
        if inner == 1 && op == ReduceOp::Sum {
            // Vectorised partial sums (a plain fold is one serial chain of additions).
            out[0] = lane_sums2(block, block, |v, _| (v, T::zero())).0;
        } else if inner == 1 {
            out[0] = block.iter().fold(init, |a, &v| combine(a, v));
        } else {
            out.iter_mut().for_each(|v| *v = init);
            for row in block.chunks_exact(inner) {
                for (acc, &v) in out.iter_mut().zip(row) {
                    *acc = combine(*acc, v);
                }
            }
        }
    };
    let mut result = vec![T::zero(); outer * inner];
    if result.is_empty() {
        return result;
    }
    if x.len() >= PAR_THRESHOLD && outer > 1 {
        result
            .par_chunks_mut(inner)
            .enumerate()
            .for_each(reduce_block);
    } else {
        result.chunks_mut(inner).enumerate().for_each(reduce_block);
    }
    result
}

/// Index of the maximum along `axis` (first on ties; NaN counts as largest).
pub fn argmax<T: Element>(x: &[T], shape: &Shape, axis: usize) -> Vec<usize> {
    let (outer, n, inner) = shape.split_at_axis(axis);
    let mut result = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            let mut best = 0;
            let mut best_v = T::neg_infinity();
            for j in 0..n {
                let v = x[(o * n + j) * inner + i];
                if j == 0 || v > best_v || (v.is_nan() && !best_v.is_nan()) {
                    best = j;
                    best_v = v;
                }
            }
            result.push(best);
        }
    }
    result
}

/// Inclusive scan along `axis`.
pub fn scan<T: Element>(x: &[T], shape: &Shape, axis: usize, op: ScanOp) -> Vec<T> {
    let (outer, n, inner) = shape.split_at_axis(axis);
    let mut result = x.to_vec();
    for o in 0..outer {
        let block = &mut result[o * n * inner..(o + 1) * n * inner];
        for j in 1..n {
            let (prev, cur) = block.split_at_mut(j * inner);
            let prev = &prev[(j - 1) * inner..];
            for (c, &p) in cur[..inner].iter_mut().zip(prev) {
                *c = match op {
                    ScanOp::Sum => *c + p,
                    ScanOp::Prod => *c * p,
                };
            }
        }
    }
    result
}
