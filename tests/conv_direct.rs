//! The direct `f32` convolution kernels of every instruction set this CPU has (AVX-512 and
//! AVX2 tiles) against the generic path (im2col + GEMM) in `f32` and in `f64` (the reference
//! the finite-difference gradient checks validate), on ResNet shapes and awkward ones: widths
//! that are not whole vectors, vector counts and channel counts that are not whole tiles,
//! stride 2, padding 0, 1 and 2, batch 1. The forward passes and input gradients of the paths
//! must also agree with each other exactly: every output sums its terms in the same order
//! whatever the tile. The weight gradients agree exactly where the AVX2 path's kernel with
//! output channels in the lanes does not apply (channel counts that are not multiples of 8);
//! where it does, it sums in an order of its own, which
//! `avx2_weight_gradient_sums_in_its_documented_order` checks bit for bit.
//!
//! The conversions go through `direct::*_with`, so every path runs whatever `PACT_CPU` says;
//! `.ci/run` also runs this file under each `PACT_CPU`, which `pact_cpu_chooses_the_path`
//! checks is obeyed.

use pact::backend::cpu::conv::{self, direct};
use pact::backend::cpu::isa::{self, Isa};
use pact::backend::Conv2dParams;
use pact::Rng;

fn random(n: usize, rng: &mut Rng) -> Vec<f64> {
    (0..n).map(|_| rng.uniform() * 2.0 - 1.0).collect()
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// Largest |a − b| relative to the largest |b| (at least 1).
fn rel_err(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y).abs())
        .fold(0.0, f64::max)
        / scale
}

#[allow(clippy::too_many_arguments)]
fn params(
    b: usize,
    ci: usize,
    h: usize,
    w: usize,
    co: usize,
    k: usize,
    s: usize,
    pad: usize,
) -> Conv2dParams {
    Conv2dParams {
        batch: b,
        c_in: ci,
        h_in: h,
        w_in: w,
        c_out: co,
        k_h: k,
        k_w: k,
        stride: s,
        padding: pad,
    }
}

fn shapes() -> Vec<Conv2dParams> {
    vec![
        params(3, 16, 32, 32, 16, 3, 1, 1),
        params(2, 16, 32, 32, 32, 3, 2, 1),
        params(2, 32, 16, 16, 64, 3, 2, 1),
        params(5, 64, 8, 8, 64, 3, 1, 1),
        params(1, 3, 32, 32, 16, 3, 1, 1),
        params(1, 5, 7, 13, 6, 3, 1, 1),
        params(2, 3, 9, 11, 5, 3, 2, 1),
        params(2, 4, 10, 12, 3, 3, 1, 0),
        params(1, 2, 6, 20, 7, 1, 1, 0),
        params(3, 2, 5, 9, 4, 5, 1, 2),
        params(9, 3, 8, 8, 2, 3, 1, 1),
        params(17, 2, 4, 4, 3, 3, 2, 1),
        params(2, 3, 10, 14, 5, 3, 2, 1),
        params(1, 6, 20, 12, 9, 3, 2, 1),
        // Widths of 2 and 3 vectors, 27 and 10 vectors per plane (not whole tiles of 3 or 4
        // vectors); 11 and 13 output channels (not whole tiles of 4, nor of 2).
        params(2, 7, 9, 17, 11, 3, 1, 1),
        params(3, 5, 12, 24, 13, 3, 2, 1),
        params(2, 3, 11, 25, 9, 3, 2, 0),
        params(2, 9, 10, 10, 5, 3, 2, 2),
        params(1, 4, 3, 3, 7, 3, 1, 1),
    ]
}

/// The instruction sets with direct kernels that this CPU runs.
fn kernel_paths() -> Vec<Isa> {
    Isa::ALL
        .into_iter()
        .filter(|&isa| direct::has_kernels(isa))
        .collect()
}

/// Checks the outputs of every kernel path (`None`: not covered) against the generic `f32`
/// result and the `f64` reference, and against each other bit for bit.
fn check_paths(
    what: &str,
    p: &Conv2dParams,
    paths: &[(Isa, Option<Vec<f32>>)],
    generic: &[f32],
    want: &[f64],
) {
    check_paths_and_bits(what, p, paths, generic, want, true)
}

/// [`check_paths`], comparing the paths' bits only when `same_bits`.
fn check_paths_and_bits(
    what: &str,
    p: &Conv2dParams,
    paths: &[(Isa, Option<Vec<f32>>)],
    generic: &[f32],
    want: &[f64],
    same_bits: bool,
) {
    assert!(rel_err(generic, want) < 1e-5, "{what} generic {p:?}");
    let mut first: Option<&Vec<f32>> = None;
    for (isa, got) in paths {
        let Some(got) = got else { continue };
        let e = rel_err(got, want);
        assert!(e < 1e-5, "{what} {isa} {p:?}: {e} from f64");
        let vs_generic = rel_err(got, &generic.iter().map(|&v| v as f64).collect::<Vec<_>>());
        assert!(
            vs_generic < 1e-5,
            "{what} {isa} {p:?}: {vs_generic} from generic f32"
        );
        match first {
            _ if !same_bits => {}
            None => first = Some(got),
            Some(other) => assert!(
                got.iter()
                    .zip(other)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{what} {isa} {p:?}: differs from the other kernels"
            ),
        }
    }
}

#[test]
fn this_machine_has_kernels_for_every_x86_path() {
    // The CI machines have AVX-512VL, so both kernel paths are tested there; elsewhere the
    // paths the CPU has are, and this says which.
    eprintln!("kernel paths on this CPU: {:?}", kernel_paths());
    if std::arch::is_x86_feature_detected!("avx512vl") {
        assert_eq!(kernel_paths(), [Isa::Avx512, Isa::Avx2]);
    }
    assert!(!direct::has_kernels(Isa::Generic));
}

#[test]
fn forward_matches_the_generic_path() {
    let mut rng = Rng::seed(3);
    for p in shapes() {
        let x = random(p.batch * p.c_in * p.h_in * p.w_in, &mut rng);
        let w = random(p.c_out * p.c_in * p.k_h * p.k_w, &mut rng);
        let want = conv::im2col_forward(&x, &w, p);
        let (xf, wf) = (to_f32(&x), to_f32(&w));
        let generic = conv::im2col_forward(&xf, &wf, p);
        let paths: Vec<_> = kernel_paths()
            .into_iter()
            .map(|isa| (isa, direct::forward_with(isa, &xf, &wf, p)))
            .collect();
        assert!(paths.iter().all(|(_, y)| y.is_some()), "{p:?} not covered");
        check_paths("forward", &p, &paths, &generic, &want);
        // The dispatching entry point, on this process's path.
        check_paths(
            "conv2d",
            &p,
            &[(isa::current(), Some(conv::conv2d(&xf, &wf, p)))],
            &generic,
            &want,
        );
    }
}

/// Elements of the convolution's output.
fn want_len(p: &Conv2dParams) -> usize {
    p.batch * p.c_out * p.h_out() * p.w_out()
}

/// `leaky(x · scale[c] + shift[c])` for every element of `x` (`[B, C_in, H, W]` of `p`),
/// rounded as `scale_shift_leaky_relu` rounds it: the input that the mapped kernels must
/// convolve.
fn map_first(x: &[f32], p: &Conv2dParams, scale: &[f32], shift: &[f32], slope: f32) -> Vec<f32> {
    let plane = p.h_in * p.w_in;
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = (i / plane) % p.c_in;
            let y = v * scale[c] + shift[c];
            if y > 0.0 {
                y
            } else {
                y * slope
            }
        })
        .collect()
}

/// A random per-channel map `leaky(x · scale[c] + shift[c])` (slope 0.1) of an input `x`,
/// and the values it gives (`map_first`).
struct MappedInput {
    scale: Vec<f32>,
    shift: Vec<f32>,
    mapped: Vec<f32>,
}

impl MappedInput {
    const SLOPE: f32 = 0.1;

    /// Draws the scale, then the shift, for `x` of shape `[B, C_in, H, W]` of `p`.
    fn draw(x: &[f32], p: &Conv2dParams, rng: &mut Rng) -> Self {
        let scale = to_f32(&random(p.c_in, rng));
        let shift = to_f32(&random(p.c_in, rng));
        let mapped = map_first(x, p, &scale, &shift, Self::SLOPE);
        MappedInput {
            scale,
            shift,
            mapped,
        }
    }

    /// The map for the kernels.
    fn map(&self) -> direct::InputMap<'_> {
        direct::InputMap {
            scale: &self.scale,
            shift: &self.shift,
            slope: Self::SLOPE,
        }
    }
}

/// The forward kernels with evaluation-mode batch norm and leaky ReLU applied as each image
/// is copied (`forward_mapped_with`) give, on every path and shape, bit for bit the
/// convolution of the map's values computed first (as `scale_shift_leaky_relu` rounds them),
/// and added to an output (`forward_accumulate_with`) that output plus the convolution.
#[test]
fn forward_with_a_mapped_input_equals_mapping_first() {
    let mut rng = Rng::seed(7);
    for p in shapes() {
        let x = to_f32(&random(p.batch * p.c_in * p.h_in * p.w_in, &mut rng));
        let w = to_f32(&random(p.c_out * p.c_in * p.k_h * p.k_w, &mut rng));
        let drawn = MappedInput::draw(&x, &p, &mut rng);
        let (mapped, map) = (&drawn.mapped, drawn.map());
        for isa in kernel_paths() {
            let want = direct::forward_with(isa, mapped, &w, p).unwrap();
            let got = direct::forward_mapped_with(isa, &x, &w, p, Some(&map)).unwrap();
            let same = got
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{isa} {p:?}");
        }
        // Added to an output's values as the kernels store the sums: `y + conv` bit for bit,
        // with and without the map.
        let y0 = to_f32(&random(want_len(&p), &mut rng));
        for isa in kernel_paths() {
            for (m, input) in [(None, &x), (Some(&map), mapped)] {
                let conv = direct::forward_with(isa, input, &w, p).unwrap();
                let mut y = y0.clone();
                assert!(direct::forward_accumulate_with(isa, &x, &w, p, m, &mut y));
                let same = y
                    .iter()
                    .zip(y0.iter().zip(&conv))
                    .all(|(a, (b, c))| a.to_bits() == (b + c).to_bits());
                assert!(same, "accumulate {isa} {p:?} map {}", m.is_some());
            }
        }
        // A map with the wrong number of channels is not the kernels' to apply.
        let short = direct::InputMap {
            scale: &drawn.scale[..p.c_in - 1],
            ..map
        };
        assert!(direct::forward_mapped(&x, &w, p, Some(&short)).is_none());
        let mut y = y0.clone();
        assert!(!direct::forward_accumulate(&x, &w, p, Some(&short), &mut y));
        assert!(!direct::forward_accumulate(&x, &w, p, None, &mut y[1..]));
        assert_eq!(y, y0, "a refused accumulation left the output as it was");
    }
}

#[test]
fn input_gradient_matches_the_generic_path() {
    let mut rng = Rng::seed(4);
    for p in shapes() {
        let dy = random(p.batch * p.c_out * p.h_out() * p.w_out(), &mut rng);
        let w = random(p.c_out * p.c_in * p.k_h * p.k_w, &mut rng);
        let want = conv::im2col_backward_input(&dy, &w, p);
        let (dyf, wf) = (to_f32(&dy), to_f32(&w));
        let generic = conv::im2col_backward_input(&dyf, &wf, p);
        let paths: Vec<_> = kernel_paths()
            .into_iter()
            .map(|isa| (isa, direct::backward_input_with(isa, &dyf, &wf, p)))
            .collect();
        let covered = (p.stride == 1 && p.padding < p.k_h)
            || (p.stride == 2
                && p.k_h == 3
                && p.padding == 1
                && p.h_in % 2 == 0
                && p.w_in % 2 == 0);
        assert!(paths.iter().all(|(_, y)| y.is_some() == covered), "{p:?}");
        check_paths("input grad", &p, &paths, &generic, &want);
        let got = conv::conv2d_backward_input(&dyf, &wf, p);
        check_paths(
            "conv2d_backward_input",
            &p,
            &[(isa::current(), Some(got))],
            &generic,
            &want,
        );
    }
}

#[test]
fn weight_gradient_matches_the_generic_path() {
    let mut rng = Rng::seed(5);
    for p in shapes() {
        let x = random(p.batch * p.c_in * p.h_in * p.w_in, &mut rng);
        let dy = random(p.batch * p.c_out * p.h_out() * p.w_out(), &mut rng);
        let want = conv::im2col_backward_weight(&x, &dy, p);
        let (xf, dyf) = (to_f32(&x), to_f32(&dy));
        let generic = conv::im2col_backward_weight(&xf, &dyf, p);
        let paths: Vec<_> = kernel_paths()
            .into_iter()
            .map(|isa| (isa, direct::backward_weight_with(isa, &xf, &dyf, p)))
            .collect();
        assert!(
            paths.iter().all(|(_, y)| y.is_some() == (p.k_h == 3)),
            "{p:?}"
        );
        // The AVX2 path's channels-in-lanes kernel covers whole vectors of 8 channels.
        let same_bits = p.c_out % 8 != 0;
        check_paths_and_bits("weight grad", &p, &paths, &generic, &want, same_bits);
        let got = conv::conv2d_backward_weight(&xf, &dyf, p);
        check_paths(
            "conv2d_backward_weight",
            &p,
            &[(isa::current(), Some(got))],
            &generic,
            &want,
        );
    }
}

/// The weight-gradient kernels with training-mode batch norm and leaky ReLU applied as each
/// image is copied (`backward_weight_mapped_with`) give, on every path and shape, bit for bit
/// the weight gradient of the map's values computed first.
#[test]
fn weight_gradient_of_a_mapped_input_equals_mapping_first() {
    let mut rng = Rng::seed(8);
    for p in shapes() {
        let x = to_f32(&random(p.batch * p.c_in * p.h_in * p.w_in, &mut rng));
        let dy = to_f32(&random(want_len(&p), &mut rng));
        let drawn = MappedInput::draw(&x, &p, &mut rng);
        let (mapped, map) = (&drawn.mapped, drawn.map());
        for isa in kernel_paths() {
            let want = direct::backward_weight_with(isa, mapped, &dy, p);
            let got = direct::backward_weight_mapped_with(isa, &x, &dy, p, Some(&map));
            assert_eq!(got.is_some(), p.k_h == 3, "{isa} {p:?}");
            assert_eq!(
                got.map(|g| g.iter().map(|v| v.to_bits()).collect::<Vec<_>>()),
                want.map(|g| g.iter().map(|v| v.to_bits()).collect::<Vec<_>>()),
                "{isa} {p:?}"
            );
        }
        let short = direct::InputMap {
            scale: &drawn.scale[..p.c_in - 1],
            ..map
        };
        assert!(direct::backward_weight_mapped(&x, &dy, p, Some(&short)).is_none());
    }
}

#[test]
fn weight_gradient_does_not_depend_on_the_thread_count() {
    let p = params(40, 8, 8, 8, 8, 3, 1, 1);
    let mut rng = Rng::seed(6);
    let x = to_f32(&random(p.batch * p.c_in * 64, &mut rng));
    let dy = to_f32(&random(p.batch * p.c_out * 64, &mut rng));
    for isa in kernel_paths() {
        let on = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| direct::backward_weight_with(isa, &x, &dy, p).expect("covered"))
        };
        assert_eq!(on(1), on(3), "{isa}");
    }
    let generic = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| conv::im2col_backward_weight(&x, &dy, p))
    };
    assert_eq!(generic(1), generic(3));
}

#[test]
fn pact_cpu_chooses_the_path() {
    // Under `PACT_CPU=NAME` (as `.ci/run` runs this file) that path is the process's, and the
    // dispatching convolutions use direct kernels exactly when it has them.
    let name = std::env::var("PACT_CPU").unwrap_or_default();
    if name.is_empty() {
        assert_eq!(isa::selected().unwrap(), Isa::detected());
        return;
    }
    let forced = Isa::from_name(&name).expect("PACT_CPU names a path");
    assert_eq!(isa::selected().unwrap(), forced);
    if std::env::var("PACT_CONV").is_err() {
        assert_eq!(direct::enabled(), forced != Isa::Generic);
    }
}

/// The weight gradient in the order the AVX2 path's channels-in-lanes kernel sums it: for
/// every chunk of 8 images, each `dW[co][ci][tap]` one `f32` sum by fused multiply-add from
/// zero, image after image and output pixel after pixel (row-major); the chunks' sums added
/// in order.
fn weight_gradient_in_lanes_order(x: &[f32], dy: &[f32], p: &Conv2dParams) -> Vec<f32> {
    let (h_out, w_out) = (p.h_out(), p.w_out());
    let mut total = vec![0.0f32; p.c_out * p.c_in * 9];
    for chunk in (0..p.batch).collect::<Vec<_>>().chunks(8) {
        for co in 0..p.c_out {
            for ci in 0..p.c_in {
                for tap in 0..9 {
                    let (ky, kx) = (tap / 3, tap % 3);
                    let mut sum = 0.0f32;
                    for &b in chunk {
                        for y in 0..h_out {
                            for xo in 0..w_out {
                                let (row, col) = (
                                    (y * p.stride + ky) as isize - p.padding as isize,
                                    (xo * p.stride + kx) as isize - p.padding as isize,
                                );
                                let inside = (0..p.h_in as isize).contains(&row)
                                    && (0..p.w_in as isize).contains(&col);
                                let input = match inside {
                                    true => {
                                        x[((b * p.c_in + ci) * p.h_in + row as usize) * p.w_in
                                            + col as usize]
                                    }
                                    false => 0.0,
                                };
                                let grad = dy[((b * p.c_out + co) * h_out + y) * w_out + xo];
                                sum = grad.mul_add(input, sum);
                            }
                        }
                    }
                    total[(co * p.c_in + ci) * 9 + tap] += sum;
                }
            }
        }
    }
    total
}

/// The AVX2 path's weight gradient with output channels in the lanes (channel counts that are
/// multiples of 8) equals, bit for bit, the scalar sums in the order it documents: tiles of 16
/// and of 8 channels, strides 1 and 2, widths that are and are not whole vectors, blocks of
/// pixels that do not divide the plane, chunks of 8 images and a partial last one; with and
/// without the batch norm and leaky ReLU applied as each image is copied.
#[test]
fn avx2_weight_gradient_sums_in_its_documented_order() {
    if !direct::has_kernels(Isa::Avx2) {
        eprintln!("no AVX2 and FMA on this CPU: nothing to check");
        return;
    }
    let mut rng = Rng::seed(12);
    for p in [
        params(3, 16, 32, 32, 16, 3, 1, 1),
        params(2, 3, 16, 16, 32, 3, 2, 1),
        params(9, 5, 7, 7, 8, 3, 1, 1),
        params(17, 2, 14, 14, 24, 3, 2, 1),
        params(2, 4, 28, 28, 16, 3, 1, 1),
        params(3, 3, 11, 25, 40, 3, 2, 0),
        params(1, 2, 9, 10, 8, 3, 1, 2),
    ] {
        let x = to_f32(&random(p.batch * p.c_in * p.h_in * p.w_in, &mut rng));
        let dy = to_f32(&random(want_len(&p), &mut rng));
        let bits = |v: Vec<f32>| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let want = bits(weight_gradient_in_lanes_order(&x, &dy, &p));
        let got = direct::backward_weight_with(Isa::Avx2, &x, &dy, p).expect("covered");
        assert_eq!(bits(got), want, "{p:?}");
        // The same kernel called by name, as `cargo bench --bench conv` does on any path.
        let named = direct::backward_weight_in_lanes(&x, &dy, p).expect("covered");
        assert_eq!(bits(named), want, "in lanes {p:?}");
        let drawn = MappedInput::draw(&x, &p, &mut rng);
        let want = bits(weight_gradient_in_lanes_order(&drawn.mapped, &dy, &p));
        let got = direct::backward_weight_mapped_with(Isa::Avx2, &x, &dy, p, Some(&drawn.map()));
        assert_eq!(bits(got.expect("covered")), want, "mapped {p:?}");
    }
    // Where the kernel does not apply: 6 output channels, a 5×5 kernel.
    for p in [
        params(1, 2, 8, 8, 6, 3, 1, 1),
        params(1, 2, 8, 8, 8, 5, 1, 2),
    ] {
        let x = vec![1.0; p.batch * p.c_in * p.h_in * p.w_in];
        let dy = vec![1.0; want_len(&p)];
        assert!(
            direct::backward_weight_in_lanes(&x, &dy, p).is_none(),
            "{p:?}"
        );
    }
}
