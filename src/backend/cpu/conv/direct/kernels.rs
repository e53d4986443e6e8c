//! The register-blocked inner loops of the direct convolution, in AVX2/FMA intrinsics on
//! 256-bit vectors of 8 `f32`. They are compiled with AVX-512VL enabled as well, which gives
//! the register allocator 32 vector registers instead of 16: the tiles below keep 16–18
//! accumulators, their inputs and a broadcast in registers.
//!
//! Callers check [`supported`] once; every function here is `unsafe` because it reads and
//! writes through raw offsets that the caller's [`super::geometry::Geometry`] guarantees.

use std::arch::x86_64::*;

/// Output channels per forward tile.
pub const FWD_CHANNELS: usize = 4;
/// Output vectors (of 8 pixels) per forward tile.
pub const FWD_VECTORS: usize = 4;
/// Output channels per weight-gradient tile.
pub const WGRAD_CHANNELS: usize = 2;
/// Kernel taps the weight-gradient kernel handles (3×3).
pub const WGRAD_TAPS: usize = 9;

/// Whether this CPU runs the kernels (AVX2, FMA, AVX-512F and AVX-512VL).
pub fn supported() -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512vl")
}

/// One forward tile: `CO` output channels × `NV` output vectors.
///
/// `out[c] + out_off[v]` receives `Σ_ci Σ_tap w[ci][tap][c] · input[ci·chan_stride + tap +
/// in_off[v] .. +8]`, where `w` is packed `[C_in][taps][CO]`.
///
/// # Safety
/// The CPU supports the features of [`supported`]; every offset named above is in bounds of
/// its allocation for 8 elements.
#[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn forward_tile<const CO: usize, const NV: usize>(
    input: *const f32,
    chan_stride: usize,
    c_in: usize,
    taps: &[usize],
    weights: *const f32,
    in_off: [usize; NV],
    out: [*mut f32; CO],
    out_off: [usize; NV],
) {
    let mut acc = [[_mm256_setzero_ps(); NV]; CO];
    let mut w = weights;
    for ci in 0..c_in {
        let base = input.add(ci * chan_stride);
        for &tap in taps {
            let at = base.add(tap);
            let mut x = [_mm256_setzero_ps(); NV];
            for v in 0..NV {
                x[v] = _mm256_loadu_ps(at.add(in_off[v]));
            }
            for c in 0..CO {
                let wc = _mm256_broadcast_ss(&*w.add(c));
                for v in 0..NV {
                    acc[c][v] = _mm256_fmadd_ps(wc, x[v], acc[c][v]);
                }
            }
            w = w.add(CO);
        }
    }
    for c in 0..CO {
        for v in 0..NV {
            _mm256_storeu_ps(out[c].add(out_off[v]), acc[c][v]);
        }
    }
}

/// One weight-gradient tile: `CO` output channels × one input channel × 9 taps, summed over
/// the output vectors of several images.
///
/// For image `k`, channel `c` and vector `(i, o)` in `vectors`, adds
/// `grads[k][c·grad_plane + o ..+8] · inputs[k][in_off + tap + i ..+8]` lane-wise into the
/// accumulator of `(c, tap)`, and returns the horizontal sums `[c][tap]`.
///
/// # Safety
/// As [`forward_tile`]: the CPU supports the features, every offset is in bounds for 8
/// elements.
#[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
pub unsafe fn weight_grad_tile<const CO: usize>(
    inputs: &[*const f32],
    in_off: usize,
    grads: &[*const f32],
    grad_plane: usize,
    taps: &[usize; WGRAD_TAPS],
    vectors: &[(usize, usize)],
) -> [[f32; WGRAD_TAPS]; CO] {
    let mut acc = [[_mm256_setzero_ps(); WGRAD_TAPS]; CO];
    for (&input, &grad) in inputs.iter().zip(grads) {
        let input = input.add(in_off);
        for &(i, o) in vectors {
            let mut g = [_mm256_setzero_ps(); CO];
            for c in 0..CO {
                g[c] = _mm256_loadu_ps(grad.add(c * grad_plane + o));
            }
            let at = input.add(i);
            for t in 0..WGRAD_TAPS {
                let x = _mm256_loadu_ps(at.add(taps[t]));
                for c in 0..CO {
                    acc[c][t] = _mm256_fmadd_ps(g[c], x, acc[c][t]);
                }
            }
        }
    }
    let mut sums = [[0.0; WGRAD_TAPS]; CO];
    for c in 0..CO {
        for t in 0..WGRAD_TAPS {
            sums[c][t] = horizontal_sum(acc[c][t]);
        }
    }
    sums
}

/// Sum of the 8 lanes.
#[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
unsafe fn horizontal_sum(v: __m256) -> f32 {
    let pair = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let quad = _mm_add_ps(pair, _mm_movehl_ps(pair, pair));
    let one = _mm_add_ss(quad, _mm_shuffle_ps(quad, quad, 1));
    _mm_cvtss_f32(one)
}
