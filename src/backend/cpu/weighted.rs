//! `out[b, ..] = Σ_l w[b, l] · s_l[b, ..]` over the states `s_l` of a block, and its
//! gradients, one pass each: the kernels of the fused weighted sum behind
//! [`ppl::weighted_states`](crate::ppl::weighted_states).
//!
//! Each product and each partial sum is rounded as the `mul` and `add` ops round them, in the
//! same order (`s_0 w_0 + s_1 w_1`, then `+ s_2 w_2`, …), and the weights' gradient is the
//! same lane-parallel sum as `sum_to` takes of `g · s_l`: the values are those of the
//! composed ops, bit for bit, on any number of threads (each row is one unit of work).

use super::elementwise::PAR_THRESHOLD;
use super::fill::{build_chunks, lane_sums2};
use crate::Element;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// `Σ_l w[b, l] · s_l[b, ..]` for `rows` rows: `states` are `L` slices of equal length (a
/// multiple of `rows`), `w` is `[rows, L]` row-major.
pub fn weighted_rows<T: Element>(states: &[&[T]], w: &[T], rows: usize) -> Vec<T> {
    let (len, steps) = (states.first().map_or(0, |s| s.len()), states.len());
    if len == 0 || rows == 0 {
        return vec![T::zero(); len];
    }
    let row = len / rows;
    let write = |b: usize, out: &mut [MaybeUninit<T>]| {
        let span = b * row..(b + 1) * row;
        let wb = &w[b * steps..(b + 1) * steps];
        for (o, &s) in out.iter_mut().zip(&states[0][span.clone()]) {
            o.write(s * wb[0]);
        }
        // SAFETY: every element was written just above.
        let out = unsafe { &mut *(out as *mut [MaybeUninit<T>] as *mut [T]) };
        for (s, &wl) in states[1..].iter().zip(&wb[1..]) {
            for (o, &s) in out.iter_mut().zip(&s[span.clone()]) {
                *o += s * wl;
            }
        }
    };
    // SAFETY: `write` initialises every element of its row.
    unsafe { build_chunks(len, row, len >= PAR_THRESHOLD && rows > 1, write) }
}

/// The gradients of [`weighted_rows`] for the gradient `g` of its output: `g · w[b, l]` for
/// each state (`L` vectors shaped like the states) and `Σ_j g[b, j] · s_l[b, j]` for the
/// weights (`[rows, L]`), in one pass over the rows.
pub fn weighted_rows_backward<T: Element>(
    states: &[&[T]],
    w: &[T],
    g: &[T],
    rows: usize,
) -> (Vec<Vec<T>>, Vec<T>) {
    let (len, steps) = (g.len(), states.len());
    let mut dw = vec![T::zero(); rows * steps];
    if len == 0 || rows == 0 {
        return (vec![vec![T::zero(); len]; steps], dw);
    }
    let row = len / rows;
    // The states' gradients are written once, never zero-filled first.
    let mut ds: Vec<Vec<T>> = (0..steps).map(|_| Vec::with_capacity(len)).collect();
    {
        // Row b's share of every output: its slice of each state's gradient, its L weights.
        type Share<'a, T> = (Vec<&'a mut [MaybeUninit<T>]>, &'a mut [T]);
        let mut shares: Vec<Share<T>> = dw
            .chunks_mut(steps)
            .map(|d| (Vec::with_capacity(steps), d))
            .collect();
        for d in &mut ds {
            let spare = &mut d.spare_capacity_mut()[..len];
            for (share, slice) in shares.iter_mut().zip(spare.chunks_mut(row)) {
                share.0.push(slice);
            }
        }
        let work = |(b, (ds_b, dw_b)): (usize, Share<T>)| {
            let span = b * row..(b + 1) * row;
            let gb = &g[span.clone()];
            for (l, d) in ds_b.into_iter().enumerate() {
                let wl = w[b * steps + l];
                for (d, &gv) in d.iter_mut().zip(gb) {
                    d.write(gv * wl);
                }
                dw_b[l] = lane_sums2(gb, &states[l][span.clone()], |g, s| (g * s, T::zero())).0;
            }
        };
        if len >= PAR_THRESHOLD && rows > 1 {
            shares.into_par_iter().enumerate().for_each(work);
        } else {
            shares.into_iter().enumerate().for_each(work);
        }
    }
    for d in &mut ds {
        // SAFETY: every row of every state's gradient was written above (`rows · row = len`
        // elements, the capacity reserved).
        unsafe { d.set_len(len) };
    }
    (ds, dw)
}
