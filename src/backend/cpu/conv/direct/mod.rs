//! Direct `f32` convolution on x86-64 with AVX2 and FMA (and AVX-512VL, when the CPU has it,
//! for its registers): no im2col matrix, no GEMM.
//!
//! Each image is copied once into a phase-split, zero-padded buffer ([`geometry`]); a
//! register-blocked kernel then accumulates a tile of output channels × output vectors of 8
//! pixels over every input channel and tap straight from it ([`kernels`], with tile sizes
//! for the instruction set's register count). The input gradient of a stride-1
//! convolution is the same forward kernel run on the output gradient with the flipped,
//! transposed weight, and of a stride-2 one four parity phases of it (`strided`); the weight
//! gradient has a kernel of its own (on AVX2, one with output channels in the lanes,
//! `wgrad_lanes`, where they are a multiple of 8) and sums over fixed chunks of images in
//! order, so it does not depend on the thread count.
//!
//! Which kernels run is the process's [`Isa`] (detected, or forced by `PACT_CPU`); shapes the
//! kernels do not cover, `f64`, the generic path, or the `PACT_CONV=im2col` environment
//! variable return `None` and fall back to im2col + GEMM. The `*_with` functions run one
//! instruction set's kernels explicitly (for tests and benchmarks).

pub mod geometry;
#[cfg(target_arch = "x86_64")]
#[allow(clippy::needless_range_loop)]
pub mod kernels;

use crate::backend::cpu::isa::{self, Isa};
use crate::backend::ops::Conv2dParams;
use crate::Element;
pub use geometry::InputMap;
use rayon::prelude::*;

/// Images per weight-gradient chunk: the partial sums of each chunk are added in order.
pub const WGRAD_CHUNK: usize = 8;

/// A weight gradient's sum over a batch of `batch` images: `chunk` gives the `len` partial
/// sums of one fixed chunk of [`WGRAD_CHUNK`] images (the chunks run in parallel), and the
/// chunks' sums are added in order, so the total does not depend on the thread count. The
/// direct kernels and im2col + GEMM both sum this way.
pub(crate) fn sum_over_chunks<T: Element>(
    batch: usize,
    len: usize,
    chunk: impl Fn(std::ops::Range<usize>) -> Vec<T> + Sync,
) -> Vec<T> {
    let partials: Vec<Vec<T>> = (0..batch.div_ceil(WGRAD_CHUNK))
        .into_par_iter()
        .map(|n| chunk(n * WGRAD_CHUNK..batch.min((n + 1) * WGRAD_CHUNK)))
        .collect();
    let mut total = vec![T::zero(); len];
    for part in partials {
        for (t, v) in total.iter_mut().zip(part) {
            *t += v;
        }
    }
    total
}

/// Whether the direct kernels run in this process: its [`Isa`] has them and `PACT_CONV` is
/// not `im2col` (read once).
///
/// # Panics
/// When `PACT_CPU` is invalid (see [`isa::current`]).
pub fn enabled() -> bool {
    active().is_some()
}

/// The instruction set whose kernels the convolutions use, if any.
fn active() -> Option<Isa> {
    use std::sync::OnceLock;
    static FORCED_OFF: OnceLock<bool> = OnceLock::new();
    let forced_off =
        *FORCED_OFF.get_or_init(|| std::env::var("PACT_CONV").is_ok_and(|v| v == "im2col"));
    let isa = isa::current();
    (!forced_off && has_kernels(isa)).then_some(isa)
}

/// Whether `isa` has direct kernels and this CPU runs them.
pub fn has_kernels(isa: Isa) -> bool {
    isa != Isa::Generic && isa.supported() && cfg!(target_arch = "x86_64")
}

/// Whether the kernels cover `p` (strides 1 and 2; the input gradient needs stride 1 and
/// padding below the kernel size; the weight gradient a 3×3 kernel).
fn covers(p: &Conv2dParams) -> bool {
    (p.stride == 1 || p.stride == 2)
        && p.k_h >= 1
        && p.k_w >= 1
        && p.h_in + 2 * p.padding >= p.k_h
        && p.w_in + 2 * p.padding >= p.k_w
        && p.c_in > 0
        && p.c_out > 0
        && p.batch > 0
}

#[cfg(target_arch = "x86_64")]
mod run;
#[cfg(target_arch = "x86_64")]
mod strided;
#[cfg(target_arch = "x86_64")]
#[allow(clippy::needless_range_loop)]
mod wgrad_lanes;

/// Forward convolution (`x` `[B, C_in, H, W]`, `w` `[C_out, C_in, K_h, K_w]`), or `None` when
/// the direct kernels do not apply.
pub fn forward(x: &[f32], w: &[f32], p: Conv2dParams) -> Option<Vec<f32>> {
    forward_with(active()?, x, w, p)
}

/// Input gradient of a stride-1 convolution (square kernel, padding below its size) or of a
/// stride-2, 3×3, padding-1 one on even sizes, or `None` when the direct kernels do not apply.
pub fn backward_input(dy: &[f32], w: &[f32], p: Conv2dParams) -> Option<Vec<f32>> {
    backward_input_with(active()?, dy, w, p)
}

/// Weight gradient of a 3×3 convolution, or `None` when the direct kernels do not apply.
pub fn backward_weight(x: &[f32], dy: &[f32], p: Conv2dParams) -> Option<Vec<f32>> {
    backward_weight_with(active()?, x, dy, p)
}

/// [`forward`] by the kernels of `isa` (whatever `PACT_CPU` and `PACT_CONV` say), or `None`
/// when `isa` has none on this CPU or they do not cover `p`.
pub fn forward_with(isa: Isa, x: &[f32], w: &[f32], p: Conv2dParams) -> Option<Vec<f32>> {
    forward_mapped_with(isa, x, w, p, None)
}

/// Whether `isa`'s kernels run on this CPU and cover `p`, with `map` (if any) giving a scale
/// and a shift for every input channel.
fn applies(isa: Isa, p: &Conv2dParams, map: Option<&InputMap<'_>>) -> bool {
    let mapped = map.is_none_or(|m| m.scale.len() == p.c_in && m.shift.len() == p.c_in);
    has_kernels(isa) && covers(p) && mapped
}

/// Whether the weight-gradient kernels of `isa` apply: as [`applies`], and a 3×3 kernel (the
/// only one they have taps for).
fn applies_to_weight_grad(isa: Isa, p: &Conv2dParams, map: Option<&InputMap<'_>>) -> bool {
    applies(isa, p, map) && p.k_h == 3 && p.k_w == 3
}

/// Forward convolution of `map` applied to `x` (batch norm and leaky ReLU applied as each
/// image is copied for the kernels; `x` itself without a map), or `None`
/// when the direct kernels do not apply: bit for bit the map's ops followed by [`forward`].
pub fn forward_mapped(
    x: &[f32],
    w: &[f32],
    p: Conv2dParams,
    map: Option<&InputMap<'_>>,
) -> Option<Vec<f32>> {
    forward_mapped_with(active()?, x, w, p, map)
}

/// [`forward_mapped`] by the kernels of `isa`, as [`forward_with`].
pub fn forward_mapped_with(
    isa: Isa,
    x: &[f32],
    w: &[f32],
    p: Conv2dParams,
    map: Option<&InputMap<'_>>,
) -> Option<Vec<f32>> {
    if !applies(isa, &p, map) {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let k = kernels::Kernels::of(isa)?;
        Some(run::forward(k, x, w, p, map))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (x, w, map);
        None
    }
}

/// `y += conv(map(x), w)` (`y` of the output's shape; `x` itself without a map), each sum
/// added in one rounding as `y + conv(map(x), w)` rounds it, by the direct kernels; `false`,
/// and `y` untouched, when they do not apply.
pub fn forward_accumulate(
    x: &[f32],
    w: &[f32],
    p: Conv2dParams,
    map: Option<&InputMap<'_>>,
    y: &mut [f32],
) -> bool {
    active().is_some_and(|isa| forward_accumulate_with(isa, x, w, p, map, y))
}

/// [`forward_accumulate`] by the kernels of `isa`, as [`forward_with`].
pub fn forward_accumulate_with(
    isa: Isa,
    x: &[f32],
    w: &[f32],
    p: Conv2dParams,
    map: Option<&InputMap<'_>>,
    y: &mut [f32],
) -> bool {
    if !applies(isa, &p, map) || y.len() != p.batch * p.c_out * p.h_out() * p.w_out() {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    if let Some(k) = kernels::Kernels::of(isa) {
        run::forward_accumulate(k, x, w, p, map, y);
        return true;
    }
    let _ = (x, w);
    false
}

/// [`backward_input`] by the kernels of `isa`, as [`forward_with`].
pub fn backward_input_with(isa: Isa, dy: &[f32], w: &[f32], p: Conv2dParams) -> Option<Vec<f32>> {
    if !has_kernels(isa) || !covers(&p) {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let k = kernels::Kernels::of(isa)?;
        if p.stride == 1 && p.k_h == p.k_w && p.padding < p.k_h {
            return Some(run::backward_input(k, dy, w, p));
        }
        if strided::covers(&p) {
            return Some(strided::backward_input(k, dy, w, p));
        }
    }
    let _ = (dy, w);
    None
}

/// [`backward_weight`] by the kernels of `isa`, as [`forward_with`].
pub fn backward_weight_with(isa: Isa, x: &[f32], dy: &[f32], p: Conv2dParams) -> Option<Vec<f32>> {
    backward_weight_mapped_with(isa, x, dy, p, None)
}

/// Weight gradient of a 3×3 convolution by the kernel with output channels in the vector
/// lanes (the `avx2` path's weight gradient), whatever path this process runs, or `None`
/// where that kernel does not apply: a CPU without AVX2 and FMA, a kernel other than 3×3,
/// output channels that are not a multiple of 8. For tests and benchmarks: `cargo bench
/// --bench conv` times it beside the process's own weight gradient, so an AVX-512 CPU can
/// compare its path's kernel with this one.
///
/// ```
/// use pact::backend::cpu::conv::direct;
/// use pact::backend::Conv2dParams;
///
/// let p = Conv2dParams {
///     batch: 2, c_in: 3, h_in: 8, w_in: 8, c_out: 8,
///     k_h: 3, k_w: 3, stride: 1, padding: 1,
/// };
/// let x = vec![0.5f32; 2 * 3 * 8 * 8];
/// let dy = vec![1.0f32; 2 * 8 * 8 * 8];
/// if let Some(dw) = direct::backward_weight_in_lanes(&x, &dy, p) {
///     assert_eq!(dw.len(), 8 * 3 * 9);
///     // The centre tap sees every pixel: 2 images × 64 pixels × 0.5.
///     assert_eq!(dw[4], 64.0);
/// }
/// ```
pub fn backward_weight_in_lanes(x: &[f32], dy: &[f32], p: Conv2dParams) -> Option<Vec<f32>> {
    if !applies_to_weight_grad(Isa::Avx2, &p, None) {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    if wgrad_lanes::covers(&p) {
        return Some(wgrad_lanes::backward_weight(x, dy, p, None));
    }
    let _ = (x, dy);
    None
}

/// Weight gradient of a 3×3 convolution of `map` applied to `x` (training-mode batch norm and
/// leaky ReLU applied as each image is copied for the kernels; `x` itself without a map), or
/// `None` when the direct kernels do not apply: bit for bit [`backward_weight`] of the mapped
/// input.
pub fn backward_weight_mapped(
    x: &[f32],
    dy: &[f32],
    p: Conv2dParams,
    map: Option<&InputMap<'_>>,
) -> Option<Vec<f32>> {
    backward_weight_mapped_with(active()?, x, dy, p, map)
}

/// [`backward_weight_mapped`] by the kernels of `isa`, as [`forward_with`].
pub fn backward_weight_mapped_with(
    isa: Isa,
    x: &[f32],
    dy: &[f32],
    p: Conv2dParams,
    map: Option<&InputMap<'_>>,
) -> Option<Vec<f32>> {
    if !applies_to_weight_grad(isa, &p, map) {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let k = kernels::Kernels::of(isa)?;
        Some(run::backward_weight(k, x, dy, p, map))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (x, dy, map);
        None
    }
}
