//! The register-blocked inner loops of the direct convolution, in AVX2/FMA intrinsics on
//! 256-bit vectors of 8 `f32`, written once and compiled twice, for each instruction set
//! with tiles that fit its vector registers:
//!
//! - [`AVX512`]: compiled with AVX-512VL enabled as well, for its 32 vector registers
//!   (the vectors stay 256-bit): forward tiles of 4 output channels × 4 vectors (16
//!   accumulators), weight-gradient tiles of 2 channels × 9 taps (18).
//! - [`AVX2`]: 16 vector registers: forward tiles of 4 channels × 2 vectors (8
//!   accumulators, 2 inputs and a broadcast weight), weight-gradient tiles of 2 channels
//!   taking the 9 taps in passes of 6 and 3 (12 accumulators, 2 gradients and an input).
//!   Where the output channels are a multiple of 8, its weight gradient runs
//!   `wgrad_lanes` instead (channels in the lanes, no horizontal sums: 1.3× faster
//!   on ResNet-32's layers on a Zen 3), which sums in an order of its own.
//!
//! Every function here is `unsafe`: it reads and writes through raw offsets that the
//! caller's [`super::geometry::Geometry`] guarantees, and runs instructions the caller has
//! checked the CPU for ([`crate::backend::cpu::isa::Isa::supported`]).

use crate::backend::cpu::isa::Isa;
use std::arch::x86_64::*;

/// Kernel taps the weight-gradient kernel handles (3×3).
pub const WGRAD_TAPS: usize = 9;

/// What a forward tile reads and writes, apart from the positions of its vectors.
///
/// `outs[c] + out_off[v]` receives `Σ_ci Σ_tap w[ci][tap][c] · input[ci·chan_stride + tap +
/// in_off[v] .. +8]`, where `weights` is packed `[C_in][taps][channels]` (added to what it
/// holds, in one rounding, when `accumulate`).
pub struct ForwardTile<'a> {
    /// The phase buffer of one image.
    pub input: *const f32,
    /// Elements between input channels.
    pub chan_stride: usize,
    /// Input channels.
    pub c_in: usize,
    /// Offsets of the kernel taps.
    pub taps: &'a [usize],
    /// The tile's packed weights.
    pub weights: *const f32,
    /// One output plane per channel of the tile (`Kernels::fwd_channels` of them).
    pub outs: &'a [*mut f32],
    /// Whether the sums are added to the output planes' values instead of replacing them.
    pub accumulate: bool,
}

/// What a weight-gradient tile sums over: for image `k`, channel `c` of the tile and vector
/// `(i, o)` in `vectors`, `grads[k][c·grad_plane + o ..+8] · inputs[k][in_off + tap + i ..+8]`
/// lane-wise into the sum of `(c, tap)`.
pub struct WeightGradTile<'a> {
    /// The phase buffer of each image.
    pub inputs: &'a [*const f32],
    /// Offset of the input channel in every buffer.
    pub in_off: usize,
    /// The output gradient of the tile's first channel in each image.
    pub grads: &'a [*const f32],
    /// Elements between output-gradient channels.
    pub grad_plane: usize,
    /// Offsets of the 9 kernel taps.
    pub taps: &'a [usize; WGRAD_TAPS],
    /// Input and output offsets of every output vector.
    pub vectors: &'a [(usize, usize)],
}

/// The kernels of one instruction set and their tile sizes.
pub struct Kernels {
    /// The instruction set they need.
    pub isa: Isa,
    /// Output channels per forward tile.
    pub fwd_channels: usize,
    /// Output vectors (of 8 pixels) per forward tile.
    pub fwd_vectors: usize,
    /// Output channels per weight-gradient tile.
    pub wgrad_channels: usize,
    /// Whether the weight gradient runs `wgrad_lanes` (output channels in the
    /// lanes) on the shapes it covers, instead of `weight_grad_tile`.
    pub wgrad_lanes: bool,
    /// One forward tile at `fwd_vectors` vectors (`in_off` and `out_off` of that length) or
    /// at fewer (the remainder of the vectors, in one tile).
    ///
    /// # Safety
    /// The CPU has `isa`; every offset of [`ForwardTile`] is in bounds for 8 elements.
    pub forward_tile: unsafe fn(&ForwardTile<'_>, &[usize], &[usize]),
    /// One weight-gradient tile of `sums.len()` channels (`wgrad_channels` or 1), its sums
    /// written `[c][tap]`.
    ///
    /// # Safety
    /// As `forward_tile`.
    pub weight_grad_tile: unsafe fn(&WeightGradTile<'_>, &mut [[f32; WGRAD_TAPS]]),
}

impl Kernels {
    /// The kernels of `isa`, if it has any (not [`Isa::Generic`]).
    pub fn of(isa: Isa) -> Option<&'static Kernels> {
        match isa {
            Isa::Avx512 => Some(&AVX512),
            Isa::Avx2 => Some(&AVX2),
            Isa::Generic => None,
        }
    }
}

/// Defines the kernels of one instruction set: `target_feature` wrappers around the
/// generic bodies below, at the given tile sizes. A weight-gradient tile of `$wg` channels
/// takes the 9 taps in passes of `$pass` taps each (its accumulators are channels × taps);
/// a tile of one channel takes them in one.
macro_rules! isa_kernels {
    (
        $name:ident, $isa:expr, $features:literal,
        fwd = $co:literal x $nv:literal, wgrad = $wg:literal x [$($pass:literal),+],
        wgrad_lanes = $lanes:literal
    ) => {
        #[doc = concat!("The kernels compiled for `", $features, "`.")]
        pub static $name: Kernels = {
            #[target_feature(enable = $features)]
            unsafe fn forward_tile(t: &ForwardTile<'_>, in_off: &[usize], out_off: &[usize]) {
                // A row's last vectors (fewer than a tile's) in one tile of their own: a
                // tile of one vector would reload every weight for 8 pixels.
                match in_off.len() {
                    n if n == $nv => forward_body::<$co, $nv>(t, in_off, out_off),
                    3 => forward_body::<$co, 3>(t, in_off, out_off),
                    2 => forward_body::<$co, 2>(t, in_off, out_off),
                    _ => forward_body::<$co, 1>(t, in_off, out_off),
                }
            }
            #[target_feature(enable = $features)]
            unsafe fn weight_grad_tile(
                t: &WeightGradTile<'_>,
                sums: &mut [[f32; WGRAD_TAPS]],
            ) {
                if sums.len() == $wg {
                    let mut first = 0;
                    $(
                        weight_grad_body::<$wg, $pass>(t, first, sums);
                        first += $pass;
                    )+
                    debug_assert_eq!(first, WGRAD_TAPS);
                } else {
                    weight_grad_body::<1, WGRAD_TAPS>(t, 0, sums)
                }
            }
            Kernels {
                isa: $isa,
                fwd_channels: $co,
                fwd_vectors: $nv,
                wgrad_channels: $wg,
                wgrad_lanes: $lanes,
                forward_tile,
                weight_grad_tile,
            }
        };
    };
}

isa_kernels!(
    AVX512, Isa::Avx512, "avx2,fma,avx512f,avx512vl",
    fwd = 4 x 4, wgrad = 2 x [9], wgrad_lanes = false
);
isa_kernels!(
    AVX2, Isa::Avx2, "avx2,fma",
    fwd = 4 x 2, wgrad = 2 x [6, 3], wgrad_lanes = true
);

/// One forward tile: `CO` output channels × `NV` output vectors (see [`ForwardTile`]).
///
/// # Safety
/// Inlined into a function with AVX2 and FMA enabled; the offsets are in bounds.
#[inline(always)]
unsafe fn forward_body<const CO: usize, const NV: usize>(
    t: &ForwardTile<'_>,
    in_off: &[usize],
    out_off: &[usize],
) {
    let in_off: [usize; NV] = std::array::from_fn(|v| in_off[v]);
    let out_off: [usize; NV] = std::array::from_fn(|v| out_off[v]);
    let outs: [*mut f32; CO] = std::array::from_fn(|c| t.outs[c]);
    let mut acc = [[_mm256_setzero_ps(); NV]; CO];
    let mut w = t.weights;
    for ci in 0..t.c_in {
        let base = t.input.add(ci * t.chan_stride);
        for &tap in t.taps {
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
            let at = outs[c].add(out_off[v]);
            let sum = match t.accumulate {
                true => _mm256_add_ps(_mm256_loadu_ps(at), acc[c][v]),
                false => acc[c][v],
            };
            _mm256_storeu_ps(at, sum);
        }
    }
}

/// Taps `first .. first + T` of one weight-gradient tile of `CO` channels (see
/// [`WeightGradTile`]), into `sums[c][first ..]`.
///
/// # Safety
/// As [`forward_body`].
#[inline(always)]
unsafe fn weight_grad_body<const CO: usize, const T: usize>(
    t: &WeightGradTile<'_>,
    first: usize,
    sums: &mut [[f32; WGRAD_TAPS]],
) {
    let taps: [usize; T] = std::array::from_fn(|i| t.taps[first + i]);
    let mut acc = [[_mm256_setzero_ps(); T]; CO];
    for (&input, &grad) in t.inputs.iter().zip(t.grads) {
        let input = input.add(t.in_off);
        for &(i, o) in t.vectors {
            let mut g = [_mm256_setzero_ps(); CO];
            for c in 0..CO {
                g[c] = _mm256_loadu_ps(grad.add(c * t.grad_plane + o));
            }
            let at = input.add(i);
            for tap in 0..T {
                let x = _mm256_loadu_ps(at.add(taps[tap]));
                for c in 0..CO {
                    acc[c][tap] = _mm256_fmadd_ps(g[c], x, acc[c][tap]);
                }
            }
        }
    }
    for c in 0..CO {
        for tap in 0..T {
            sums[c][first + tap] = horizontal_sum(acc[c][tap]);
        }
    }
}

/// Sum of the 8 lanes.
///
/// # Safety
/// As [`forward_body`].
#[inline(always)]
unsafe fn horizontal_sum(v: __m256) -> f32 {
    let pair = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let quad = _mm_add_ps(pair, _mm_movehl_ps(pair, pair));
    let one = _mm_add_ss(quad, _mm_shuffle_ps(quad, quad, 1));
    _mm_cvtss_f32(one)
}
