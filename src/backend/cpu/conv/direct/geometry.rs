//! Where the direct kernels read and write: the phase-split, zero-padded copy of an input
//! image, the offset of every kernel tap inside it, and the output vectors of 8 pixels.
//!
//! A stride-`s` convolution reads input column `x·s + kx` for output column `x`. Splitting
//! the padded input into `s` phases by column (`phase[p][c][r][j] = padded[c][r][j·s + p]`)
//! turns that into column `x + kx / s` of phase `kx % s`: contiguous again, so 8 adjacent
//! output pixels read 8 adjacent inputs for every tap. Stride 1 has a single phase, which is
//! just the padded image.

use crate::backend::cpu::elementwise::scale_shift_leaky;
use crate::backend::ops::Conv2dParams;

/// Lanes of one vector (`f32` in a 256-bit register).
pub const LANES: usize = 8;

/// Layout of the buffers one direct convolution works on.
#[derive(Clone, Debug)]
pub struct Geometry {
    /// The convolution.
    pub p: Conv2dParams,
    /// Output row width rounded up to whole vectors.
    pub w_vec: usize,
    /// Rows of one phase plane (the padded input height).
    pub rows: usize,
    /// Columns of one phase plane.
    pub cols: usize,
    /// Elements between consecutive input channels of a phase.
    pub chan_stride: usize,
    /// Elements of one phase (all channels).
    pub phase_size: usize,
    /// Offset of each kernel tap (`ky`-major, then `kx`) from a vector's input offset.
    pub taps: Vec<usize>,
    /// For every output vector: its input offset (into the phase buffer) and its output
    /// offset (into an output plane of row width `out_row`).
    pub vectors: Vec<(usize, usize)>,
    /// Row width of the output planes the kernels write (`w_out` when it is a whole number
    /// of vectors, else `w_vec`, and the caller copies out).
    pub out_row: usize,
}

impl Geometry {
    /// The layout of `p`.
    pub fn new(p: Conv2dParams) -> Self {
        let s = p.stride;
        let (h_out, w_out) = (p.h_out(), p.w_out());
        let w_vec = w_out.div_ceil(LANES) * LANES;
        let rows = p.h_in + 2 * p.padding;
        let cols = w_vec + (p.k_w - 1) / s;
        let chan_stride = rows * cols;
        let phase_size = p.c_in * chan_stride;
        let taps = (0..p.k_h)
            .flat_map(|ky| (0..p.k_w).map(move |kx| (ky, kx)))
            .map(|(ky, kx)| (kx % s) * phase_size + ky * cols + kx / s)
            .collect();
        let out_row = if w_vec == w_out { w_out } else { w_vec };
        let vectors = (0..h_out)
            .flat_map(|y| (0..w_vec / LANES).map(move |v| (y, v * LANES)))
            .map(|(y, x0)| (y * s * cols + x0, y * out_row + x0))
            .collect();
        Geometry {
            p,
            w_vec,
            rows,
            cols,
            chan_stride,
            phase_size,
            taps,
            vectors,
            out_row,
        }
    }

    /// Elements of the phase buffer of one image.
    pub fn input_len(&self) -> usize {
        self.p.stride * self.phase_size
    }

    /// Whether the kernels write output planes in the final layout.
    pub fn writes_in_place(&self) -> bool {
        self.out_row == self.p.w_out()
    }

    /// Makes `dst` (`input_len()` elements) the phase-split, zero-padded copy of one image `x`
    /// (`[C_in, H, W]`), writing only the positions that hold `x`'s values: `dst` must
    /// already hold zeros everywhere else, as a buffer does that was zeroed once and has since
    /// only been written by `copy_input` of this geometry. The kernels' workers reuse one
    /// buffer for image after image this way, so the padding is written once per buffer
    /// instead of once per image.
    pub fn copy_input(&self, x: &[f32], dst: &mut [f32]) {
        self.copy_input_mapped(x, dst, None)
    }

    /// [`Geometry::copy_input`] of `map` applied to the image (`x` itself without one): the
    /// padding stays zero, as it is in the padded copy of the mapped image.
    pub fn copy_input_mapped(&self, x: &[f32], dst: &mut [f32], map: Option<&InputMap<'_>>) {
        match map {
            None => self.copy_input_with(x, dst, |_| |v| v),
            Some(m) => self.copy_input_with(x, dst, |c| m.channel(c)),
        }
    }

    /// [`Geometry::copy_input`] of `f(c)` applied to every element of channel `c`.
    #[inline(always)]
    fn copy_input_with<F: Fn(f32) -> f32>(
        &self,
        x: &[f32],
        dst: &mut [f32],
        f: impl Fn(usize) -> F,
    ) {
        if self.p.stride == 2 && self.p.w_in / 2 + self.p.padding / 2 < self.cols {
            return self.copy_input_stride2(x, dst, f);
        }
        let p = &self.p;
        let (s, pad) = (p.stride, p.padding);
        for phase in 0..s {
            let phase_buf = &mut dst[phase * self.phase_size..(phase + 1) * self.phase_size];
            // Columns j of this phase read padded column j·s + phase = input column
            // j·s + phase − pad; the valid ones are a contiguous range of j.
            let first = (pad.saturating_sub(phase)).div_ceil(s);
            let last = (p.w_in + pad)
                .saturating_sub(phase)
                .div_ceil(s)
                .min(self.cols);
            for c in 0..p.c_in {
                let channel = &x[c * p.h_in * p.w_in..(c + 1) * p.h_in * p.w_in];
                let plane = &mut phase_buf[c * self.chan_stride..(c + 1) * self.chan_stride];
                if first >= last {
                    continue;
                }
                let start = first * s + phase - pad;
                let image_rows = plane.chunks_exact_mut(self.cols).skip(pad).take(p.h_in);
                let f = f(c);
                for (row, src) in image_rows.zip(channel.chunks_exact(p.w_in)) {
                    if s == 1 {
                        copy_row(&mut row[first..last], &src[start..start + last - first], &f);
                    } else {
                        let picked = src[start..].iter().step_by(s);
                        for (v, &x) in row[first..last].iter_mut().zip(picked) {
                            *v = f(x);
                        }
                    }
                }
            }
        }
    }

    /// [`Geometry::copy_input`] for stride 2: both phases of a row in one pass over it, pairs
    /// of input columns split between them (padded column `q` goes to phase `q mod 2`, column
    /// `q / 2`), a loop the compiler vectorises.
    #[inline(always)]
    fn copy_input_stride2<F: Fn(f32) -> f32>(
        &self,
        x: &[f32],
        dst: &mut [f32],
        f: impl Fn(usize) -> F,
    ) {
        let p = &self.p;
        let pad = p.padding;
        let (even, odd) = dst[..2 * self.phase_size].split_at_mut(self.phase_size);
        let pairs = p.w_in / 2;
        for c in 0..p.c_in {
            let channel = &x[c * p.h_in * p.w_in..(c + 1) * p.h_in * p.w_in];
            let planes = (
                &mut even[c * self.chan_stride..(c + 1) * self.chan_stride],
                &mut odd[c * self.chan_stride..(c + 1) * self.chan_stride],
            );
            let rows = planes
                .0
                .chunks_exact_mut(self.cols)
                .zip(planes.1.chunks_exact_mut(self.cols));
            let image_rows = rows.skip(pad).take(p.h_in);
            let f = f(c);
            for ((even_row, odd_row), src) in image_rows.zip(channel.chunks_exact(p.w_in)) {
                // Input column 2k lands in padded column 2k + pad, 2k + 1 in the next one.
                let (first, first_at, second, second_at) = if pad % 2 == 0 {
                    (even_row, pad / 2, odd_row, pad / 2)
                } else {
                    (odd_row, pad / 2, even_row, pad / 2 + 1)
                };
                let (first, second) = (
                    &mut first[first_at..first_at + pairs + p.w_in % 2],
                    &mut second[second_at..second_at + pairs],
                );
                for ((a, b), pair) in first
                    .iter_mut()
                    .zip(second.iter_mut())
                    .zip(src.chunks_exact(2))
                {
                    *a = f(pair[0]);
                    *b = f(pair[1]);
                }
                if p.w_in % 2 == 1 {
                    first[pairs] = f(src[p.w_in - 1]);
                }
            }
        }
    }
}

/// `dst = f(src)` elementwise (equal lengths) in blocks of 8 that compile to vector code in
/// place: rows are short (7 to 34 elements), too short for a call to `memcpy` each to pay
/// off.
#[inline(always)]
pub fn copy_row(dst: &mut [f32], src: &[f32], f: impl Fn(f32) -> f32) {
    debug_assert_eq!(dst.len(), src.len());
    let mut to = dst.chunks_exact_mut(LANES);
    let mut from = src.chunks_exact(LANES);
    for (d, s) in to.by_ref().zip(from.by_ref()) {
        let block: &[f32; LANES] = s.try_into().expect("chunks of LANES");
        let d: &mut [f32; LANES] = d.try_into().expect("chunks of LANES");
        *d = block.map(&f);
    }
    for (d, &s) in to.into_remainder().iter_mut().zip(from.remainder()) {
        *d = f(s);
    }
}

/// A per-channel map applied to a convolution's input as it is copied: batch norm (with the
/// running statistics in evaluation, the batch's in training) and its leaky ReLU,
/// `leaky(x · scale[c] + shift[c])`, rounded as the separate ops round it (the product, then
/// the sum; no FMA).
#[derive(Clone, Copy, Debug)]
pub struct InputMap<'a> {
    /// Per input channel.
    pub scale: &'a [f32],
    /// Per input channel.
    pub shift: &'a [f32],
    /// Leaky ReLU's slope for negative values.
    pub slope: f32,
}

impl InputMap<'_> {
    /// The map of channel `c`.
    #[inline(always)]
    pub fn channel(&self, c: usize) -> impl Fn(f32) -> f32 {
        let (a, b, slope) = (self.scale[c], self.shift[c], self.slope);
        move |v| scale_shift_leaky(v, a, b, slope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(h: usize, w: usize, stride: usize, padding: usize) -> Conv2dParams {
        Conv2dParams {
            batch: 1,
            c_in: 2,
            h_in: h,
            w_in: w,
            c_out: 1,
            k_h: 3,
            k_w: 3,
            stride,
            padding,
        }
    }

    /// Input height, width, stride and padding of the test convolutions: odd and even sizes,
    /// widths that are not whole vectors, both strides, paddings 0 to 2.
    const CASES: &[(usize, usize, usize, usize)] = &[
        (5, 7, 1, 1),
        (8, 8, 2, 1),
        (9, 13, 2, 1),
        (6, 16, 1, 0),
        (10, 12, 2, 2),
        (7, 9, 2, 0),
        (6, 11, 2, 2),
        (28, 28, 1, 1),
        (14, 14, 2, 1),
    ];

    /// A buffer reused image after image by `copy_input` holds what a freshly zeroed one
    /// holds after the last image, padding included, for every stride and padding the
    /// kernels take.
    #[test]
    fn copy_input_into_a_used_buffer_equals_a_fresh_fill() {
        for &(h, w, s, pad) in CASES {
            let g = Geometry::new(params(h, w, s, pad));
            let image = |k: f32| -> Vec<f32> { (0..2 * h * w).map(|i| k + i as f32).collect() };
            let mut reused = vec![0.0; g.input_len()];
            for k in [1.0, 1000.0, -7.0] {
                g.copy_input(&image(k), &mut reused);
            }
            let mut fresh = vec![0.0; g.input_len()];
            g.copy_input(&image(-7.0), &mut fresh);
            assert_eq!(reused, fresh, "{h}x{w} s{s} p{pad}");
        }
    }

    #[test]
    fn copy_row_copies_every_length() {
        for n in 0..40 {
            let src: Vec<f32> = (0..n).map(|i| i as f32 + 0.5).collect();
            let mut dst = vec![0.0; n];
            copy_row(&mut dst, &src, |v| v);
            assert_eq!(dst, src);
        }
    }

    /// Every tap of every output vector reads the padded input element the definition names.
    #[test]
    fn taps_read_the_padded_input() {
        for &(h, w, s, pad) in CASES {
            let p = params(h, w, s, pad);
            let g = Geometry::new(p);
            let x: Vec<f32> = (0..2 * h * w).map(|i| i as f32 + 1.0).collect();
            let mut buf = vec![0.0; g.input_len()];
            g.copy_input(&x, &mut buf);
            let padded = |c: usize, r: isize, col: isize| -> f32 {
                let (r, col) = (r - pad as isize, col - pad as isize);
                if r < 0 || col < 0 || r >= h as isize || col >= w as isize {
                    0.0
                } else {
                    x[c * h * w + r as usize * w + col as usize]
                }
            };
            for (v, &(input, _)) in g.vectors.iter().enumerate() {
                let y = v / (g.w_vec / LANES);
                let x0 = (v % (g.w_vec / LANES)) * LANES;
                for c in 0..2 {
                    for (t, &tap) in g.taps.iter().enumerate() {
                        let (ky, kx) = (t / 3, t % 3);
                        for lane in 0..LANES.min(p.w_out().saturating_sub(x0)) {
                            let got = buf[input + c * g.chan_stride + tap + lane];
                            let want =
                                padded(c, (y * s + ky) as isize, ((x0 + lane) * s + kx) as isize);
                            assert_eq!(got, want, "{h}x{w} s{s} p{pad} c{c} y{y} x{x0}+{lane}");
                        }
                    }
                }
            }
        }
    }
}
