//! The direct `f32` convolution kernels against im2col + GEMM in `f64` (the reference the
//! finite-difference gradient checks validate), on ResNet shapes and awkward ones: widths
//! that are not whole vectors, odd channel counts, stride 2, padding 0 and 1, batch 1.

use pact::backend::cpu::conv::{self, direct};
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
    ]
}

#[test]
fn direct_kernels_run_on_this_machine_unless_disabled() {
    // The CI machines have AVX-512VL; elsewhere the fallback is what runs and this says so.
    if std::env::var("PACT_CONV").is_err() && std::arch::is_x86_feature_detected!("avx512vl") {
        assert!(direct::enabled());
    }
}

#[test]
fn forward_matches_im2col_in_f64() {
    let mut rng = Rng::seed(3);
    for p in shapes() {
        let x = random(p.batch * p.c_in * p.h_in * p.w_in, &mut rng);
        let w = random(p.c_out * p.c_in * p.k_h * p.k_w, &mut rng);
        let want = conv::conv2d(&x, &w, p);
        let got = conv::conv2d(&to_f32(&x), &to_f32(&w), p);
        assert!(
            rel_err(&got, &want) < 1e-5,
            "{p:?}: {}",
            rel_err(&got, &want)
        );
        if direct::enabled() {
            let direct = direct::forward(&to_f32(&x), &to_f32(&w), p).expect("covered");
            assert!(rel_err(&direct, &want) < 1e-5, "{p:?}");
        }
    }
}

#[test]
fn input_gradient_matches_im2col_in_f64() {
    let mut rng = Rng::seed(4);
    for p in shapes() {
        let dy = random(p.batch * p.c_out * p.h_out() * p.w_out(), &mut rng);
        let w = random(p.c_out * p.c_in * p.k_h * p.k_w, &mut rng);
        let want = conv::conv2d_backward_input(&dy, &w, p);
        let got = conv::conv2d_backward_input(&to_f32(&dy), &to_f32(&w), p);
        assert!(
            rel_err(&got, &want) < 1e-5,
            "{p:?}: {}",
            rel_err(&got, &want)
        );
        let covered = (p.stride == 1 && p.padding < p.k_h)
            || (p.stride == 2
                && p.k_h == 3
                && p.padding == 1
                && p.h_in % 2 == 0
                && p.w_in % 2 == 0);
        if direct::enabled() && covered {
            let direct = direct::backward_input(&to_f32(&dy), &to_f32(&w), p).expect("covered");
            assert!(rel_err(&direct, &want) < 1e-5, "{p:?}");
        }
    }
}

#[test]
fn weight_gradient_matches_im2col_in_f64() {
    let mut rng = Rng::seed(5);
    for p in shapes() {
        let x = random(p.batch * p.c_in * p.h_in * p.w_in, &mut rng);
        let dy = random(p.batch * p.c_out * p.h_out() * p.w_out(), &mut rng);
        let want = conv::conv2d_backward_weight(&x, &dy, p);
        let got = conv::conv2d_backward_weight(&to_f32(&x), &to_f32(&dy), p);
        assert!(
            rel_err(&got, &want) < 1e-5,
            "{p:?}: {}",
            rel_err(&got, &want)
        );
        if direct::enabled() && p.k_h == 3 {
            let direct = direct::backward_weight(&to_f32(&x), &to_f32(&dy), p).expect("covered");
            assert!(rel_err(&direct, &want) < 1e-5, "{p:?}");
        }
    }
}

#[test]
fn weight_gradient_does_not_depend_on_the_thread_count() {
    let p = params(40, 8, 8, 8, 8, 3, 1, 1);
    let mut rng = Rng::seed(6);
    let x = to_f32(&random(p.batch * p.c_in * 64, &mut rng));
    let dy = to_f32(&random(p.batch * p.c_out * 64, &mut rng));
    let on = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| conv::conv2d_backward_weight(&x, &dy, p))
    };
    assert_eq!(on(1), on(3));
}
