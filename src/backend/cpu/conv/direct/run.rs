//! Drivers of the direct kernels: weight packing, the per-image loops over tiles, and the
//! parallel split over images (and channel groups when the batch is small).

use super::geometry::{Geometry, InputMap};
use super::kernels::{ForwardTile, Kernels, WeightGradTile, WGRAD_TAPS};
use super::{sum_over_chunks, wgrad_lanes};
use crate::backend::ops::Conv2dParams;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Packs `w` (`[C_out, C_in, taps]`) as `[tiles][C_in][taps][channels]` for tiles of
/// `channels` output channels, zero beyond `C_out`.
pub(super) fn pack_forward_weights(w: &[f32], p: &Conv2dParams, channels: usize) -> Vec<f32> {
    let taps = w.len() / (p.c_out * p.c_in);
    let tiles = p.c_out.div_ceil(channels);
    let mut packed = vec![0.0; tiles * p.c_in * taps * channels];
    for co in 0..p.c_out {
        let (tile, c) = (co / channels, co % channels);
        for ci in 0..p.c_in {
            for t in 0..taps {
                let at = ((tile * p.c_in + ci) * taps + t) * channels + c;
                packed[at] = w[(co * p.c_in + ci) * taps + t];
            }
        }
    }
    packed
}

/// Buffers one worker reuses across images.
struct Scratch {
    input: Vec<f32>,
    out: Vec<f32>,
    dummy: Vec<f32>,
}

/// Forward convolution of `map` applied to `x` (`x` itself without one) by the direct kernels
/// `k` (the caller has checked that they apply).
pub fn forward(
    k: &Kernels,
    x: &[f32],
    w: &[f32],
    p: Conv2dParams,
    map: Option<&InputMap<'_>>,
) -> Vec<f32> {
    let len = p.batch * p.c_out * p.h_out() * p.w_out();
    // Every output element is written, so the vector starts uninitialised (no memset).
    let mut out: Vec<f32> = Vec::with_capacity(len);
    forward_into(k, x, w, p, map, &mut out.spare_capacity_mut()[..len], false);
    // SAFETY: `forward_into` wrote all `len` elements (every channel plane of every image).
    unsafe { out.set_len(len) };
    out
}

/// `y += conv(map(x), w)` for `y` of the convolution's output shape, by the direct kernels
/// `k` (the caller has checked that they apply): each sum is added to `y`'s value in one
/// rounding, as `y + conv(map(x), w)` rounds it.
pub fn forward_accumulate(
    k: &Kernels,
    x: &[f32],
    w: &[f32],
    p: Conv2dParams,
    map: Option<&InputMap<'_>>,
    y: &mut [f32],
) {
    assert_eq!(
        y.len(),
        p.batch * p.c_out * p.h_out() * p.w_out(),
        "output size"
    );
    // SAFETY: `MaybeUninit<f32>` has `f32`'s layout, and every element of `y` is initialised
    // and stays so (`forward_into` only writes values).
    let dst = unsafe {
        std::slice::from_raw_parts_mut(y.as_mut_ptr().cast::<MaybeUninit<f32>>(), y.len())
    };
    forward_into(k, x, w, p, map, dst, true);
}

/// The forward convolution of `map(x)` into `dst` (`[B, C_out, H_out, W_out]`): written, or
/// added to its (initialised) values when `accumulate`.
fn forward_into(
    k: &Kernels,
    x: &[f32],
    w: &[f32],
    p: Conv2dParams,
    map: Option<&InputMap<'_>>,
    dst: &mut [MaybeUninit<f32>],
    accumulate: bool,
) {
    let g = Geometry::new(p);
    let packed = pack_forward_weights(w, &p, k.fwd_channels);
    let plane = p.h_out() * p.w_out();
    let in_size = p.c_in * p.h_in * p.w_in;
    let tiles = p.c_out.div_ceil(k.fwd_channels);
    // Enough work items for every thread: split an image's channel tiles into groups when
    // the batch is small (only when groups fall on whole channel planes of the output).
    let threads = rayon::current_num_threads().max(1);
    let wanted_groups = (2 * threads).div_ceil(p.batch).min(tiles);
    let groups = if p.c_out % k.fwd_channels == 0 {
        (1..=wanted_groups)
            .rev()
            .find(|g| tiles % g == 0)
            .unwrap_or(1)
    } else {
        1
    };
    let tiles_per_group = tiles / groups;
    let group_channels = if groups == 1 {
        p.c_out
    } else {
        tiles_per_group * k.fwd_channels
    };
    let scratch_plane = p.h_out() * g.out_row;
    dst.par_chunks_mut(group_channels * plane)
        .enumerate()
        .for_each_init(
            || Scratch {
                input: vec![0.0; g.input_len()],
                out: if g.writes_in_place() {
                    Vec::new()
                } else {
                    vec![0.0; group_channels * scratch_plane]
                },
                dummy: vec![0.0; scratch_plane],
            },
            |s, (item, dst)| {
                let (b, group) = (item / groups, item % groups);
                // `s.input` starts zeroed and only ever gets images of this geometry.
                g.copy_input_mapped(&x[b * in_size..(b + 1) * in_size], &mut s.input, map);
                let first_tile = group * tiles_per_group;
                let channels = first_tile * k.fwd_channels
                    ..p.c_out.min((first_tile + tiles_per_group) * k.fwd_channels);
                if g.writes_in_place() {
                    // SAFETY: `dst` holds the planes of `channels` (the group's), uninitialised
                    // memory that the kernels only write.
                    unsafe {
                        image_forward(
                            k,
                            &g,
                            &g.taps,
                            &packed,
                            &s.input,
                            channels,
                            dst.as_mut_ptr().cast(),
                            dst.len(),
                            &mut s.dummy,
                            accumulate,
                        );
                    }
                } else {
                    // SAFETY: `s.out` holds the planes of `channels` at the scratch row width.
                    unsafe {
                        image_forward(
                            k,
                            &g,
                            &g.taps,
                            &packed,
                            &s.input,
                            channels,
                            s.out.as_mut_ptr(),
                            s.out.len(),
                            &mut s.dummy,
                            false,
                        );
                    }
                    copy_out_rows(&s.out, dst, g.out_row, p.w_out(), accumulate);
                }
            },
        );
}

/// Copies planes of row width `from_row` into planes of row width `to_row` (the first
/// `to_row` columns of every row), or adds them to `dst`'s (initialised) values when
/// `accumulate`.
fn copy_out_rows(
    src: &[f32],
    dst: &mut [MaybeUninit<f32>],
    from_row: usize,
    to_row: usize,
    accumulate: bool,
) {
    for (d, s) in dst.chunks_exact_mut(to_row).zip(src.chunks_exact(from_row)) {
        for (out, &v) in d.iter_mut().zip(&s[..to_row]) {
            // SAFETY: with `accumulate` the caller's `dst` is initialised.
            let sum = match accumulate {
                true => (unsafe { out.assume_init_read() }) + v,
                false => v,
            };
            out.write(sum);
        }
    }
}

/// Output channels `channels` of one image into `dst` (channel `channels.start` first, planes
/// of `h_out × g.out_row`) by the kernels `k`, summing over `taps` (offsets into `input`,
/// with `packed` weights for them), added to `dst`'s values when `accumulate`; `dummy` takes
/// the rows of a tile beyond `C_out`.
///
/// # Safety
/// `dst` is valid for writes of `dst_len` elements, and `dst_len` covers those planes
/// (checked); the CPU has `k.isa`.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn image_forward(
    k: &Kernels,
    g: &Geometry,
    taps: &[usize],
    packed: &[f32],
    input: &[f32],
    channels: std::ops::Range<usize>,
    dst: *mut f32,
    dst_len: usize,
    dummy: &mut [f32],
    accumulate: bool,
) {
    let p = &g.p;
    let out_plane = p.h_out() * g.out_row;
    assert!(
        dst_len >= channels.len() * out_plane,
        "output planes out of bounds"
    );
    let co = k.fwd_channels;
    let tile_len = p.c_in * taps.len() * co;
    let dummy_ptr = dummy.as_mut_ptr();
    // The output plane of every channel of every tile (`dummy` beyond `channels`).
    let outs: Vec<*mut f32> = (channels.start..channels.start + channels.len().div_ceil(co) * co)
        .map(|c| {
            if c < channels.end {
                // SAFETY: channel `c − channels.start` of `dst` starts here (in bounds).
                unsafe { dst.add((c - channels.start) * out_plane) }
            } else {
                dummy_ptr
            }
        })
        .collect();
    let tiles: Vec<ForwardTile<'_>> = outs
        .chunks_exact(co)
        .zip(channels.clone().step_by(co))
        .map(|(outs, co0)| {
            let tile = co0 / co;
            ForwardTile {
                input: input.as_ptr(),
                chan_stride: g.chan_stride,
                c_in: p.c_in,
                taps,
                weights: packed[tile * tile_len..(tile + 1) * tile_len].as_ptr(),
                outs,
                accumulate,
            }
        })
        .collect();
    let mut groups = g.vectors.chunks_exact(k.fwd_vectors);
    // Vector groups outside, channel tiles inside: the input rows a group reads stay in L1
    // while every tile (whose weights stay there too) passes over them.
    for group in groups.by_ref() {
        run_tiles(k, &tiles, group);
    }
    let rest = groups.remainder();
    if !rest.is_empty() {
        run_tiles(k, &tiles, rest);
    }
}

/// Every tile of `tiles` at the output vectors `vectors` (at most `k.fwd_vectors` of them).
///
/// # Safety
/// As [`image_forward`]: the tiles' planes and the vectors are in bounds, the CPU has `k.isa`.
unsafe fn run_tiles(k: &Kernels, tiles: &[ForwardTile<'_>], vectors: &[(usize, usize)]) {
    let mut in_off = [0; MAX_VECTORS];
    let mut out_off = [0; MAX_VECTORS];
    for (v, &(i, o)) in vectors.iter().enumerate() {
        (in_off[v], out_off[v]) = (i, o);
    }
    let n = vectors.len();
    for tile in tiles {
        // SAFETY: the geometry keeps every tap of every vector inside the input buffer and
        // every output vector inside its plane; the caller checked the CPU.
        unsafe { (k.forward_tile)(tile, &in_off[..n], &out_off[..n]) };
    }
}

/// Most output vectors per forward tile of any instruction set.
const MAX_VECTORS: usize = 8;

/// Input gradient of a stride-1 convolution: the forward kernel on `dy` with the flipped,
/// transposed weight and padding `K − 1 − padding`.
pub fn backward_input(k: &Kernels, dy: &[f32], w: &[f32], p: Conv2dParams) -> Vec<f32> {
    let taps = p.k_h * p.k_w;
    let mut flipped = vec![0.0; w.len()];
    for co in 0..p.c_out {
        for ci in 0..p.c_in {
            for t in 0..taps {
                flipped[(ci * p.c_out + co) * taps + (taps - 1 - t)] =
                    w[(co * p.c_in + ci) * taps + t];
            }
        }
    }
    let transposed = Conv2dParams {
        batch: p.batch,
        c_in: p.c_out,
        h_in: p.h_out(),
        w_in: p.w_out(),
        c_out: p.c_in,
        k_h: p.k_h,
        k_w: p.k_w,
        stride: 1,
        padding: p.k_h - 1 - p.padding,
    };
    forward(k, dy, &flipped, transposed, None)
}

/// Weight gradient of a 3×3 convolution of `map(x)` (`x` itself without a map) by the kernels
/// `k` (or by `wgrad_lanes` where `k` says so and it covers `p`), summed over fixed chunks of
/// images in order.
pub fn backward_weight(
    k: &Kernels,
    x: &[f32],
    dy: &[f32],
    p: Conv2dParams,
    map: Option<&InputMap<'_>>,
) -> Vec<f32> {
    if k.wgrad_lanes && wgrad_lanes::covers(&p) {
        return wgrad_lanes::backward_weight(x, dy, p, map);
    }
    let g = Geometry::new(p);
    let taps: [usize; WGRAD_TAPS] = std::array::from_fn(|t| g.taps[t]);
    let w_size = p.c_out * p.c_in * WGRAD_TAPS;
    let in_size = p.c_in * p.h_in * p.w_in;
    let plane = p.h_out() * p.w_out();
    let grad_plane = p.h_out() * g.out_row;
    sum_over_chunks(p.batch, w_size, |images| {
        let mut inputs = vec![0.0; images.len() * g.input_len()];
        for (buf, b) in inputs.chunks_exact_mut(g.input_len()).zip(images.clone()) {
            // `inputs` starts zeroed.
            g.copy_input_mapped(&x[b * in_size..(b + 1) * in_size], buf, map);
        }
        let grads_padded;
        let grads: &[f32] = if g.writes_in_place() {
            &dy[images.start * p.c_out * plane..images.end * p.c_out * plane]
        } else {
            let mut padded = vec![0.0; images.len() * p.c_out * grad_plane];
            let src = &dy[images.start * p.c_out * plane..images.end * p.c_out * plane];
            for (d, s) in padded
                .chunks_exact_mut(g.out_row)
                .zip(src.chunks_exact(p.w_out()))
            {
                d[..p.w_out()].copy_from_slice(s);
            }
            grads_padded = padded;
            &grads_padded
        };
        let mut part = vec![0.0; w_size];
        let input_bases: Vec<*const f32> = inputs
            .chunks_exact(g.input_len())
            .map(|buf| buf.as_ptr())
            .collect();
        let mut grad_bases: Vec<*const f32> = vec![std::ptr::null(); images.len()];
        let mut sums = vec![[0.0; WGRAD_TAPS]; k.wgrad_channels];
        let mut co = 0;
        while co < p.c_out {
            let width = if p.c_out - co >= k.wgrad_channels {
                k.wgrad_channels
            } else {
                1
            };
            for (b, base) in grad_bases.iter_mut().enumerate() {
                *base = grads[(b * p.c_out + co) * grad_plane..].as_ptr();
            }
            for ci in 0..p.c_in {
                let tile = WeightGradTile {
                    inputs: &input_bases,
                    in_off: ci * g.chan_stride,
                    grads: &grad_bases,
                    grad_plane,
                    taps: &taps,
                    vectors: &g.vectors,
                };
                // SAFETY: the geometry keeps every tap of every vector inside each
                // image's input buffer and every gradient vector inside its plane; the
                // caller checked the CPU.
                unsafe { (k.weight_grad_tile)(&tile, &mut sums[..width]) };
                for (c, row) in sums[..width].iter().enumerate() {
                    let at = ((co + c) * p.c_in + ci) * WGRAD_TAPS;
                    part[at..at + WGRAD_TAPS].copy_from_slice(row);
                }
            }
            co += width;
        }
        part
    })
}
