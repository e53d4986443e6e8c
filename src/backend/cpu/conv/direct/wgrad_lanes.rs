//! The weight gradient of a 3×3 convolution with output channels in the vector lanes: the
//! AVX2 path's kernel (16 vector registers).
//!
//! `dW[co][ci][tap] = Σ_images Σ_pixels dY[co][pixel] · X[ci][pixel + tap]`. The kernels of
//! [`super::kernels`] put 8 pixels in the lanes and end every tile with a horizontal sum per
//! channel and tap; here the lanes hold 8 output channels instead. Each image's output
//! gradient is first transposed to pixel-major order (`[pixel][C_out]`), then for every
//! pixel a tile loads its channels' gradients (2 vectors: 16 channels) and multiplies them by
//! each tap's input value, broadcast from the padded input copy: 12 accumulators of 2 channel
//! vectors × 6 taps, then 6 of 2 × 3 (one of 8 channels takes the 9 taps at once), with no
//! horizontal sums and no unaligned vector loads. The pixels go in blocks whose transposed
//! gradients fit in L1 ([`BLOCK_BYTES`]), the accumulators carried across blocks in memory.
//!
//! Every sum `dW[co][ci][tap]` of a chunk of [`super::WGRAD_CHUNK`] images is one `f32` lane
//! accumulating its terms by fused multiply-add, image after image and pixel after pixel
//! (row-major), from zero; the chunks' sums are then added in order. The tile sizes and the
//! blocks do not change that order, so the result is fixed by the shape alone (any thread
//! count), and `tests/conv_direct.rs` checks it bit for bit against a scalar loop written in
//! that order.

use super::geometry::{Geometry, InputMap, LANES};
use super::kernels::WGRAD_TAPS;
use super::sum_over_chunks;
use crate::backend::ops::Conv2dParams;
use std::arch::x86_64::*;

/// Bytes of transposed output gradient one block of pixels covers (16 KiB: the block's
/// gradients stay in a 32 KiB L1 while every input channel and tap passes over them).
pub const BLOCK_BYTES: usize = 16 * 1024;

/// Whether the kernel covers `p`: output channels in whole vectors of 8 (and, as every
/// weight-gradient kernel here, a 3×3 kernel, which the caller has checked).
pub fn covers(p: &Conv2dParams) -> bool {
    p.c_out % LANES == 0
}

/// What one tile sums over: the pixels of a block, for one input channel and 8 or 16 output
/// channels.
pub struct LanesTile<'a> {
    /// The image's phase buffer at the input channel.
    pub input: *const f32,
    /// Offsets of the 9 kernel taps.
    pub taps: &'a [usize; WGRAD_TAPS],
    /// The input offset of every pixel of the block, in order.
    pub pixels: &'a [usize],
    /// The transposed output gradient at the block's first pixel and the tile's first
    /// channel.
    pub grads: *const f32,
    /// Elements between consecutive pixels of the transposed gradient (`C_out`).
    pub grad_stride: usize,
    /// Vectors of 8 output channels in the tile: 1 or 2.
    pub channel_vectors: usize,
    /// The tile's accumulators, `[tap][channel]` (`9 × 8 · channel_vectors` values), read
    /// and written back.
    pub sums: *mut f32,
}

/// Sums of one tile's taps `first .. first + T` over its pixels (see [`LanesTile`]).
///
/// # Safety
/// Inlined into a function with AVX2 and FMA enabled; every tap of every pixel is inside
/// the input buffer, every pixel's `8 · CV` gradients inside the transposed gradient.
#[inline(always)]
unsafe fn tile_body<const CV: usize, const T: usize>(t: &LanesTile<'_>, first: usize) {
    let taps: [usize; T] = std::array::from_fn(|i| t.taps[first + i]);
    let at = |c: usize, tap: usize| t.sums.add(((first + tap) * CV + c) * LANES);
    let mut acc = [[_mm256_setzero_ps(); T]; CV];
    for c in 0..CV {
        for tap in 0..T {
            acc[c][tap] = _mm256_loadu_ps(at(c, tap));
        }
    }
    // One pixel per iteration (not unrolled over a vector's 8 pixels: LLVM then hoists the
    // broadcasts and spills the accumulators).
    for (q, &offset) in t.pixels.iter().enumerate() {
        let x = t.input.add(offset);
        let grad = t.grads.add(q * t.grad_stride);
        let g: [__m256; CV] = std::array::from_fn(|c| _mm256_loadu_ps(grad.add(c * LANES)));
        for tap in 0..T {
            let xb = _mm256_broadcast_ss(&*x.add(taps[tap]));
            for c in 0..CV {
                acc[c][tap] = _mm256_fmadd_ps(g[c], xb, acc[c][tap]);
            }
        }
    }
    for c in 0..CV {
        for tap in 0..T {
            _mm256_storeu_ps(at(c, tap), acc[c][tap]);
        }
    }
}

/// One tile on AVX2: 16 channels in passes of 6 and 3 taps (12 and 6 accumulators), 8
/// channels in one pass of 9.
///
/// # Safety
/// The CPU has AVX2 and FMA; the offsets are in bounds (see [`tile_body`]).
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2(t: &LanesTile<'_>) {
    if t.channel_vectors == 2 {
        tile_body::<2, 6>(t, 0);
        tile_body::<2, 3>(t, 6);
    } else {
        tile_body::<1, 9>(t, 0);
    }
}

/// Transposes one image's output gradient `src` (`[C_out][H_out][W_out]`) to `dst`
/// (`[H_out][W_out][C_out]`), in 8 × 8 blocks (a row's last block narrower where `W_out` is
/// not a multiple of 8).
///
/// # Safety
/// The CPU has AVX2; `src` holds the image's gradient, `dst` `H_out · W_out · C_out` values,
/// and `C_out` is a multiple of 8.
#[target_feature(enable = "avx2,fma")]
unsafe fn transpose_avx2(src: &[f32], g: &Geometry, dst: *mut f32) {
    let (h_out, w_out, c_out) = (g.p.h_out(), g.p.w_out(), g.p.c_out);
    let plane = h_out * w_out;
    for y in 0..h_out {
        for x0 in (0..g.w_vec).step_by(LANES) {
            let valid = LANES.min(w_out - x0);
            for co in (0..c_out).step_by(LANES) {
                let rows: [__m256; LANES] = std::array::from_fn(|c| {
                    let row = &src[(co + c) * plane + y * w_out + x0..][..valid];
                    if valid == LANES {
                        _mm256_loadu_ps(row.as_ptr())
                    } else {
                        let mut padded = [0.0; LANES];
                        padded[..valid].copy_from_slice(row);
                        _mm256_loadu_ps(padded.as_ptr())
                    }
                });
                for (j, column) in transpose8(rows).iter().enumerate().take(valid) {
                    _mm256_storeu_ps(dst.add((y * w_out + x0 + j) * c_out + co), *column);
                }
            }
        }
    }
}

/// The transpose of an 8 × 8 block held as 8 row vectors.
///
/// # Safety
/// Inlined into a function with AVX enabled.
#[inline(always)]
unsafe fn transpose8(r: [__m256; LANES]) -> [__m256; LANES] {
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
    // Within each 128-bit half: columns 0..4 of rows 0..4 (s0..s3) and of rows 4..8 (s4..s7).
    let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    [
        _mm256_permute2f128_ps::<0x20>(s0, s4),
        _mm256_permute2f128_ps::<0x20>(s1, s5),
        _mm256_permute2f128_ps::<0x20>(s2, s6),
        _mm256_permute2f128_ps::<0x20>(s3, s7),
        _mm256_permute2f128_ps::<0x31>(s0, s4),
        _mm256_permute2f128_ps::<0x31>(s1, s5),
        _mm256_permute2f128_ps::<0x31>(s2, s6),
        _mm256_permute2f128_ps::<0x31>(s3, s7),
    ]
}

/// Weight gradient (`[C_out, C_in, 3, 3]`) of a 3×3 convolution of `map(x)` (`x` itself
/// without a map) on AVX2, summed over fixed chunks of images in order (see the module).
///
/// The caller has checked that the CPU has AVX2 and FMA, that the kernel is 3×3 and that
/// [`covers`] holds.
pub(super) fn backward_weight(
    x: &[f32],
    dy: &[f32],
    p: Conv2dParams,
    map: Option<&InputMap<'_>>,
) -> Vec<f32> {
    let g = Geometry::new(p);
    let taps: [usize; WGRAD_TAPS] = std::array::from_fn(|t| g.taps[t]);
    let w_size = p.c_out * p.c_in * WGRAD_TAPS;
    let in_size = p.c_in * p.h_in * p.w_in;
    let grad_size = p.c_out * p.h_out() * p.w_out();
    // The input offset of every output pixel, row after row. A row's vectors start 8
    // pixels apart, so the first `W_out` offsets of its vectors are the row's pixels.
    let pixels: Vec<usize> = g
        .vectors
        .chunks(g.w_vec / LANES)
        .flat_map(|row| row[0].0..row[0].0 + p.w_out())
        .collect();
    let block = (BLOCK_BYTES / (p.c_out * std::mem::size_of::<f32>())).max(1);
    // Tiles of 16 channels, and one of 8 for the rest: (first channel, channel vectors).
    let tiles: Vec<(usize, usize)> = (0..p.c_out)
        .step_by(2 * LANES)
        .map(|co| (co, if p.c_out - co >= 2 * LANES { 2 } else { 1 }))
        .collect();
    sum_over_chunks(p.batch, w_size, |images| {
        let mut input = vec![0.0; g.input_len()];
        let mut grads = vec![0.0; pixels.len() * p.c_out];
        // Per tile and input channel, `[tap][channel]`: channel `co + c` of input channel
        // `ci` at `(co · C_in + ci · width) · 9 + tap · width + c`, `width` the tile's.
        let mut sums = vec![0.0; w_size];
        for b in images {
            // `input` starts zeroed and only ever gets this geometry's copies.
            g.copy_input_mapped(&x[b * in_size..(b + 1) * in_size], &mut input, map);
            // SAFETY: the caller checked the CPU; `grads` holds `H_out · W_out · C_out`
            // values and `C_out` is a multiple of 8 (`covers`).
            unsafe {
                transpose_avx2(
                    &dy[b * grad_size..(b + 1) * grad_size],
                    &g,
                    grads.as_mut_ptr(),
                )
            };
            for (n, block_pixels) in pixels.chunks(block).enumerate() {
                for &(co, channel_vectors) in &tiles {
                    let width = channel_vectors * LANES;
                    for ci in 0..p.c_in {
                        let tile = LanesTile {
                            input: input[ci * g.chan_stride..].as_ptr(),
                            taps: &taps,
                            pixels: block_pixels,
                            grads: grads[n * block * p.c_out + co..].as_ptr(),
                            grad_stride: p.c_out,
                            channel_vectors,
                            sums: sums[(co * p.c_in + ci * width) * WGRAD_TAPS..].as_mut_ptr(),
                        };
                        // SAFETY: the geometry keeps every tap of every pixel inside the
                        // input buffer (as for the vectors of the other kernels); the
                        // block's pixels and the tile's channels are inside `grads`, its
                        // `9 · width` sums inside `sums`; the caller checked the CPU.
                        unsafe { tile_avx2(&tile) };
                    }
                }
            }
        }
        let mut part = vec![0.0; w_size];
        for &(co, channel_vectors) in &tiles {
            let width = channel_vectors * LANES;
            for ci in 0..p.c_in {
                let tile = &sums[(co * p.c_in + ci * width) * WGRAD_TAPS..];
                for tap in 0..WGRAD_TAPS {
                    for c in 0..width {
                        part[((co + c) * p.c_in + ci) * WGRAD_TAPS + tap] = tile[tap * width + c];
                    }
                }
            }
        }
        part
    })
}
