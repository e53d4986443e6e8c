//! Direct `f32` convolution on x86-64 with AVX-512VL: no im2col matrix, no GEMM.
//!
//! Each image is copied once into a phase-split, zero-padded buffer ([`geometry`]); a
//! register-blocked kernel then accumulates 4 output channels × 32 output pixels over every
//! input channel and tap straight from it ([`kernels`]). The input gradient of a stride-1
//! convolution is the same forward kernel run on the output gradient with the flipped,
//! transposed weight, and of a stride-2 one four parity phases of it (`strided`); the weight
//! gradient has a kernel of its own and sums over fixed chunks of images in order, so it does
//! not depend on the thread count.
//!
//! Shapes the kernels do not cover (and CPUs without the instructions, `f64`, or the
//! `PACT_CONV=im2col` environment variable) return `None` and fall back to im2col + GEMM.

pub mod geometry;
#[cfg(target_arch = "x86_64")]
#[allow(clippy::needless_range_loop)]
pub mod kernels;

use crate::backend::ops::Conv2dParams;

/// Images per weight-gradient chunk: the partial sums of each chunk are added in order.
pub const WGRAD_CHUNK: usize = 8;

/// Whether the direct kernels run on this machine: the CPU has the instructions and
/// `PACT_CONV` is not `im2col` (read once).
pub fn enabled() -> bool {
    use std::sync::OnceLock;
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        let forced_off = std::env::var("PACT_CONV").is_ok_and(|v| v == "im2col");
        !forced_off && cpu_supported()
    })
}

#[cfg(target_arch = "x86_64")]
fn cpu_supported() -> bool {
    kernels::supported()
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_supported() -> bool {
    false
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

/// Forward convolution (`x` `[B, C_in, H, W]`, `w` `[C_out, C_in, K_h, K_w]`), or `None` when
/// the direct kernels do not apply.
pub fn forward(x: &[f32], w: &[f32], p: Conv2dParams) -> Option<Vec<f32>> {
    if !enabled() || !covers(&p) {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        Some(run::forward(x, w, p))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// Input gradient of a stride-1 convolution (square kernel, padding below its size) or of a
/// stride-2, 3×3, padding-1 one on even sizes, or `None` when the direct kernels do not apply.
pub fn backward_input(dy: &[f32], w: &[f32], p: Conv2dParams) -> Option<Vec<f32>> {
    if !enabled() || !covers(&p) {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if p.stride == 1 && p.k_h == p.k_w && p.padding < p.k_h {
            return Some(run::backward_input(dy, w, p));
        }
        if strided::covers(&p) {
            return Some(strided::backward_input(dy, w, p));
        }
    }
    None
}

/// Weight gradient of a 3×3 convolution, or `None` when the direct kernels do not apply.
pub fn backward_weight(x: &[f32], dy: &[f32], p: Conv2dParams) -> Option<Vec<f32>> {
    if !enabled() || !covers(&p) || p.k_h != 3 || p.k_w != 3 {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        Some(run::backward_weight(x, dy, p))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}
