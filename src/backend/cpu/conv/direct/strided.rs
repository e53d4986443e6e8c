//! Input gradient of a stride-2, 3×3, padding-1 convolution by the forward kernel.
//!
//! Input pixel `(2m + py, 2n + px)` receives output-gradient pixel `(oy, ox)` through tap
//! `(ky, kx)` when `2m + py = 2·oy + ky − 1`: for `py = 0` only `ky = 1` with `oy = m`; for
//! `py = 1`, `ky = 2` with `oy = m` and `ky = 0` with `oy = m + 1` (and the same across). So each
//! of the four parity phases of the input gradient is a stride-1 correlation of the output
//! gradient, padded by one zero row and column at the end, with 1, 2 or 4 of the taps of a
//! 2×2 window; the phases are then interleaved.

use super::geometry::{copy_row, Geometry};
use super::kernels::Kernels;
use super::run::{image_forward, pack_forward_weights};
use crate::backend::ops::Conv2dParams;
use rayon::prelude::*;

/// Whether [`backward_input`] covers `p`.
pub fn covers(p: &Conv2dParams) -> bool {
    p.stride == 2
        && p.k_h == 3
        && p.k_w == 3
        && p.padding == 1
        && p.h_in % 2 == 0
        && p.w_in % 2 == 0
        && p.h_in > 0
        && p.w_in > 0
}

/// The taps of one phase along one axis: `(offset into the output gradient, kernel index)`.
fn axis_taps(parity: usize) -> &'static [(usize, usize)] {
    if parity == 0 {
        &[(0, 1)]
    } else {
        &[(0, 2), (1, 0)]
    }
}

/// One parity phase: its taps (offsets into the padded output gradient) and packed weights.
struct Phase {
    py: usize,
    px: usize,
    taps: Vec<usize>,
    packed: Vec<f32>,
}

/// Input gradient of a convolution that [`covers`] accepts, by the kernels `k`.
pub fn backward_input(k: &Kernels, dy: &[f32], w: &[f32], p: Conv2dParams) -> Vec<f32> {
    let (h_out, w_out) = (p.h_out(), p.w_out());
    // The output gradient as a stride-1 input of a 2×2 window, one zero row and column
    // beyond its end: `h_out` output rows, as many as each phase of the input gradient has.
    let window = Conv2dParams {
        batch: p.batch,
        c_in: p.c_out,
        h_in: h_out + 1,
        w_in: w_out + 1,
        c_out: p.c_in,
        k_h: 2,
        k_w: 2,
        stride: 1,
        padding: 0,
    };
    let g = Geometry::new(window);
    let phases: Vec<Phase> = [(0, 0), (0, 1), (1, 0), (1, 1)]
        .into_iter()
        .map(|(py, px)| {
            let pairs: Vec<((usize, usize), (usize, usize))> = axis_taps(py)
                .iter()
                .flat_map(|&y| axis_taps(px).iter().map(move |&x| (y, x)))
                .collect();
            let taps = pairs
                .iter()
                .map(|&((oy, _), (ox, _))| oy * g.cols + ox)
                .collect();
            let mut weights = vec![0.0; p.c_in * p.c_out * pairs.len()];
            for ci in 0..p.c_in {
                for co in 0..p.c_out {
                    for (t, &((_, ky), (_, kx))) in pairs.iter().enumerate() {
                        weights[(ci * p.c_out + co) * pairs.len() + t] =
                            w[((co * p.c_in + ci) * 3 + ky) * 3 + kx];
                    }
                }
            }
            Phase {
                py,
                px,
                taps,
                packed: pack_forward_weights(&weights, &window, k.fwd_channels),
            }
        })
        .collect();
    let in_size = p.c_in * p.h_in * p.w_in;
    let grad_size = p.c_out * h_out * w_out;
    let phase_plane = h_out * g.out_row;
    let mut dx = vec![0.0; p.batch * in_size];
    dx.par_chunks_mut(in_size).enumerate().for_each_init(
        || {
            (
                vec![0.0; g.input_len()],
                vec![0.0; p.c_in * phase_plane],
                vec![0.0; phase_plane],
            )
        },
        |(input, sub, dummy), (b, dst)| {
            fill_padded(&dy[b * grad_size..(b + 1) * grad_size], &g, input);
            for phase in &phases {
                // SAFETY: `sub` holds `C_in` planes at the window's output row width.
                unsafe {
                    image_forward(
                        k,
                        &g,
                        &phase.taps,
                        &phase.packed,
                        input,
                        0..p.c_in,
                        sub.as_mut_ptr(),
                        sub.len(),
                        dummy,
                        false,
                    );
                }
                interleave(sub, phase, &g, &p, dst);
            }
        },
    );
    dx
}

/// Copies one image's output gradient into the window's input buffer: into the first
/// `rows × width` of each channel plane, the rest of the buffer left as it is (zero: the
/// buffer starts zeroed and only ever gets gradients of this shape).
fn fill_padded(grad: &[f32], g: &Geometry, dst: &mut [f32]) {
    let (rows, width) = (g.p.h_in - 1, g.p.w_in - 1);
    for (plane, channel) in dst
        .chunks_exact_mut(g.chan_stride)
        .zip(grad.chunks_exact(rows * width))
    {
        for (row, src) in plane
            .chunks_exact_mut(g.cols)
            .zip(channel.chunks_exact(width))
        {
            copy_row(&mut row[..width], src, |v| v);
        }
    }
}

/// Writes one phase (`[C_in][h_out][out_row]`) to its pixels of the input gradient `dst`.
fn interleave(sub: &[f32], phase: &Phase, g: &Geometry, p: &Conv2dParams, dst: &mut [f32]) {
    let (h_half, w_half) = (p.h_in / 2, p.w_in / 2);
    for c in 0..p.c_in {
        let from = &sub[c * h_half * g.out_row..];
        let to = &mut dst[c * p.h_in * p.w_in..(c + 1) * p.h_in * p.w_in];
        for m in 0..h_half {
            let src = &from[m * g.out_row..m * g.out_row + w_half];
            let row = &mut to[(2 * m + phase.py) * p.w_in..(2 * m + phase.py + 1) * p.w_in];
            for (n, &v) in src.iter().enumerate() {
                row[2 * n + phase.px] = v;
            }
        }
    }
}
