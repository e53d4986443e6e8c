//! Building kernel outputs in place, without zero-filling them first, and lane-parallel sums
//! that the compiler can vectorise.

use crate::Element;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// A vector of `len` elements written chunk by chunk: `write(i, chunk)` fills chunk `i` (of
/// `chunk` elements; the last one may be shorter), in parallel over chunks when `parallel`.
/// Unlike `vec![0; len]` followed by overwriting, the memory is written once.
///
/// # Safety
/// `write` must initialise every element of every chunk it is given.
pub(crate) unsafe fn build_chunks<T: Send>(
    len: usize,
    chunk: usize,
    parallel: bool,
    write: impl Fn(usize, &mut [MaybeUninit<T>]) + Sync + Send,
) -> Vec<T> {
    let mut v = Vec::with_capacity(len);
    let spare = &mut v.spare_capacity_mut()[..len];
    let chunk = chunk.max(1);
    if parallel {
        spare
            .par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, c)| write(i, c));
    } else {
        spare
            .chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, c)| write(i, c));
    }
    // SAFETY: the caller's `write` initialised all `len` elements (a panic in `write` leaves
    // the length at 0).
    unsafe { v.set_len(len) };
    v
}

/// Independent accumulators per sum: enough for the compiler to keep a vector register (or
/// two) of partial sums instead of one serial chain of additions.
pub(crate) const LANES: usize = 16;

/// `(Σ aᵢ, Σ bᵢ)` where `(aᵢ, bᵢ) = f(xᵢ, yᵢ)` over two equally long slices, summed in
/// [`LANES`] interleaved partial sums so that the loop vectorises (the result differs from a
/// left-to-right sum only by rounding).
#[inline(always)]
pub(crate) fn lane_sums2<T: Element>(xs: &[T], ys: &[T], f: impl Fn(T, T) -> (T, T)) -> (T, T) {
    debug_assert_eq!(xs.len(), ys.len());
    let mut a = [T::zero(); LANES];
    let mut b = [T::zero(); LANES];
    let (xc, yc) = (xs.chunks_exact(LANES), ys.chunks_exact(LANES));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (x, y) in xc.zip(yc) {
        let x: &[T; LANES] = x.try_into().expect("chunks_exact yields LANES elements");
        let y: &[T; LANES] = y.try_into().expect("chunks_exact yields LANES elements");
        for l in 0..LANES {
            let (p, q) = f(x[l], y[l]);
            a[l] += p;
            b[l] += q;
        }
    }
    let (mut sa, mut sb) = (T::zero(), T::zero());
    for (&x, &y) in xr.iter().zip(yr) {
        let (p, q) = f(x, y);
        sa += p;
        sb += q;
    }
    for l in 0..LANES {
        sa += a[l];
        sb += b[l];
    }
    (sa, sb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_chunks_writes_every_element_in_either_mode() {
        for parallel in [false, true] {
            for (len, chunk) in [(0, 4), (1, 4), (10, 3), (12, 4), (5, 0)] {
                // SAFETY: every element of every chunk is written.
                let v: Vec<usize> = unsafe {
                    build_chunks(len, chunk, parallel, |i, c| {
                        for (j, e) in c.iter_mut().enumerate() {
                            e.write(i * chunk.max(1) + j);
                        }
                    })
                };
                assert_eq!(v, (0..len).collect::<Vec<_>>(), "{len} {chunk} {parallel}");
            }
        }
    }

    #[test]
    fn lane_sums_match_plain_sums_for_every_length() {
        for len in [0, 1, 15, 16, 17, 40, 1000] {
            let xs: Vec<f64> = (0..len).map(|i| (i as f64 * 0.37).sin()).collect();
            let (a, b) = lane_sums2(&xs, &xs, |x, y| (x, x * y));
            let (ea, eb) = (
                xs.iter().sum::<f64>(),
                xs.iter().map(|v| v * v).sum::<f64>(),
            );
            assert!((a - ea).abs() < 1e-12 && (b - eb).abs() < 1e-12, "{len}");
        }
    }
}
