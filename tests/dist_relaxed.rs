//! Relaxed densities: normalisation by quadrature, the Jacobian between raw and value space,
//! K = 2 against the binary case, and stability in f32 at low temperature with certain
//! outcomes.

mod prob_common;

use pact::dist::{
    Distribution, Draw, RelaxedBernoulli, RelaxedOneHotCategorical, StraightThroughBernoulli,
    StraightThroughOneHotCategorical,
};
use pact::{Rng, Tensor};
use prob_common::*;

/// Trapezoid rule for samples `f` on a uniform grid of step `h`.
fn trapezoid(f: &[f64], h: f64) -> f64 {
    let inner: f64 = f[1..f.len() - 1].iter().sum();
    h * (inner + 0.5 * (f[0] + f[f.len() - 1]))
}

fn grid(lo: f64, hi: f64, n: usize) -> (Vec<f64>, f64) {
    let h = (hi - lo) / (n - 1) as f64;
    ((0..n).map(|i| lo + i as f64 * h).collect(), h)
}

#[test]
fn binary_logit_density_integrates_to_one() {
    for &(a, t) in &[
        (0.0, 1.0),
        (2.5, 0.1),
        (-4.0, 0.5),
        (1.0, 3.0),
        (30.0, 0.05),
    ] {
        let d = RelaxedBernoulli::new(t64(&[a], &[1]), t).unwrap();
        let (centre, width) = (a / t, 45.0 / t);
        let (ys, h) = grid(centre - width, centre + width, 200_001);
        let y = t64(&ys, &[ys.len(), 1]);
        let dens = d.log_prob_logit(&y).unwrap().exp().unwrap().to_f64_vec();
        let total = trapezoid(&dens, h);
        assert!((total - 1.0).abs() < 1e-6, "a={a}, t={t}: ∫ = {total}");
    }
}

#[test]
fn binary_unit_interval_density_integrates_to_one() {
    // For t ≥ 1 the (0,1) density is bounded, so the trapezoid rule on z converges.
    for &(a, t) in &[(0.0, 1.0), (1.5, 1.0), (-0.7, 2.0), (2.0, 4.0)] {
        let d = RelaxedBernoulli::new(t64(&[a], &[1]), t).unwrap();
        let (zs, h) = grid(1e-9, 1.0 - 1e-9, 400_001);
        let z = t64(&zs, &[zs.len(), 1]);
        let dens = d.log_prob(&z).unwrap().exp().unwrap().to_f64_vec();
        let total = trapezoid(&dens, h);
        assert!((total - 1.0).abs() < 1e-4, "a={a}, t={t}: ∫ = {total}");
    }
}

#[test]
fn unit_interval_density_is_logit_density_plus_jacobian() {
    let mut rng = Rng::seed(11);
    for &t in &[0.1, 0.5, 1.0, 2.0] {
        let d = RelaxedBernoulli::new(t64(&[-1.0, 0.0, 2.0], &[3]), t).unwrap();
        let draw = d.rsample(&[200], &mut rng).unwrap();
        let y = draw.raw().unwrap();
        // log |dy/dz| = −log z − log(1 − z) = softplus(−y) + softplus(y).
        let jac = y
            .softplus()
            .unwrap()
            .add(&y.neg().unwrap().softplus().unwrap())
            .unwrap();
        let lhs = d.log_prob(draw.value()).unwrap().to_f64_vec();
        let rhs = d
            .log_prob_draw(&draw)
            .unwrap()
            .add(&jac)
            .unwrap()
            .to_f64_vec();
        // Where σ(y) is far enough from 0 and 1 for logit(σ(y)) to be accurate in f64.
        let ys = y.to_f64_vec();
        let (l, r): (Vec<f64>, Vec<f64>) = lhs
            .iter()
            .zip(&rhs)
            .zip(&ys)
            .filter(|(_, y)| y.abs() < 15.0)
            .map(|((l, r), _)| (*l, *r))
            .unzip();
        assert!(l.len() > 100);
        close(&l, &r, 1e-8);
    }
}

/// Midpoint rule over the 2-simplex through `z1 = u, z2 = (1 − u) v` (Jacobian `1 − u`).
fn integrate_concrete_k3(d: &RelaxedOneHotCategorical, n: usize) -> f64 {
    let h = 1.0 / n as f64;
    let mut pts = Vec::with_capacity(n * n * 3);
    let mut jac = Vec::with_capacity(n * n);
    for i in 0..n {
        let u = (i as f64 + 0.5) * h;
        for j in 0..n {
            let v = (j as f64 + 0.5) * h;
            let (z1, z2) = (u, (1.0 - u) * v);
            pts.extend([z1, z2, 1.0 - z1 - z2]);
            jac.push(1.0 - u);
        }
    }
    let z = t64(&pts, &[n * n, 3]);
    let dens = d.log_prob(&z).unwrap().exp().unwrap().to_f64_vec();
    dens.iter().zip(&jac).map(|(p, j)| p * j).sum::<f64>() * h * h
}

#[test]
fn concrete_simplex_density_integrates_to_one() {
    for &(ref logits, t) in &[
        (vec![0.0, 0.0, 0.0], 1.0),
        (vec![0.5, -1.0, 1.2], 1.0),
        (vec![2.0, 0.0, -1.0], 2.0),
        (vec![0.3, 0.1, -0.4], 1.5),
    ] {
        let d = RelaxedOneHotCategorical::new(t64(logits, &[3]), t).unwrap();
        let total = integrate_concrete_k3(&d, 500);
        assert!((total - 1.0).abs() < 2e-3, "{logits:?}, t={t}: ∫ = {total}");
    }
}

#[test]
fn concrete_and_exp_concrete_differ_by_the_log_simplex_sum() {
    let d = RelaxedOneHotCategorical::new(t64(&[0.2, -0.3, 1.0, 0.0], &[4]), 0.7).unwrap();
    let draw = d.rsample(&[50], &mut Rng::seed(2)).unwrap();
    let x = draw.raw().unwrap();
    let concrete = d.log_prob(draw.value()).unwrap().to_f64_vec();
    let exp_concrete = d.log_prob_draw(&draw).unwrap().to_f64_vec();
    let sums = x.sum(1).unwrap().to_f64_vec();
    let want: Vec<f64> = exp_concrete.iter().zip(&sums).map(|(e, s)| e - s).collect();
    close(&concrete, &want, 1e-9);
}

#[test]
fn two_category_concrete_agrees_with_binary_concrete() {
    let (a1, a2, t) = (0.9, -0.4, 0.6);
    let cat = RelaxedOneHotCategorical::new(t64(&[a1, a2], &[2]), t).unwrap();
    let bin = RelaxedBernoulli::new(t64(&[a1 - a2], &[1]), t).unwrap();
    let draw = cat.rsample(&[300], &mut Rng::seed(5)).unwrap();
    let x = draw.raw().unwrap();
    // Log-simplex point x ↔ binary logit y = x_1 − x_2.
    let y = x
        .narrow(1, 0, 1)
        .unwrap()
        .sub(&x.narrow(1, 1, 1).unwrap())
        .unwrap();
    let lp_cat = cat.log_prob_draw(&draw).unwrap().to_f64_vec();
    let lp_bin = bin.log_prob_logit(&y).unwrap().to_f64_vec();
    close(&lp_cat, &lp_bin, 1e-9);
    // Simplex point z ↔ z_1 in (0,1).
    let z1 = draw.value().narrow(1, 0, 1).unwrap();
    let ok: Vec<bool> = z1
        .to_f64_vec()
        .iter()
        .map(|z| *z > 1e-12 && *z < 1.0 - 1e-12)
        .collect();
    let lp_cat = cat.log_prob(draw.value()).unwrap().to_f64_vec();
    let lp_bin = bin.log_prob(&z1).unwrap().to_f64_vec();
    let pick = |v: &[f64]| -> Vec<f64> {
        v.iter()
            .zip(&ok)
            .filter(|(_, k)| **k)
            .map(|(x, _)| *x)
            .collect()
    };
    close(&pick(&lp_cat), &pick(&lp_bin), 1e-7);
}

/// Asserts that `out` and the gradients of its sum with respect to `vars` are finite.
fn finite_with_grads(out: &Tensor, vars: &[&Tensor], what: &str) {
    all_finite(out, what);
    let g = out.sum_all().unwrap().backward().unwrap();
    for v in vars {
        if let Some(gv) = g.get(v) {
            all_finite(gv, &format!("{what}: gradient"));
        }
    }
}

#[test]
fn relaxed_bernoulli_is_stable_in_f32_at_low_temperature_with_certain_outcomes() {
    let mut rng = Rng::seed(7);
    let probs = t32(&[0.0, 1.0, 0.5, 1e-8, 1.0 - 1e-7], &[5]).to_var();
    for &t in &[0.01, 0.1, 1.0] {
        let d = RelaxedBernoulli::from_probs(probs.clone(), t).unwrap();
        let draw = d.rsample(&[2000], &mut rng).unwrap();
        all_finite(draw.value(), "value");
        all_finite(draw.raw().unwrap(), "raw");
        let lp = d.log_prob_draw(&draw).unwrap();
        finite_with_grads(&lp, &[&probs], "log_prob_draw");
        finite_with_grads(draw.value(), &[&probs], "rsample");
        // The (0,1)-space density of rounded values is clamped, hence finite.
        all_finite(&d.log_prob(draw.value()).unwrap(), "log_prob of values");
        // Certain outcomes are always drawn: rounding gives 0 for p = 0, 1 for p = 1.
        let v = draw.value().to_f64_vec();
        assert!(v.iter().step_by(5).all(|z| *z < 0.5));
        assert!(v.iter().skip(1).step_by(5).all(|z| *z > 0.5));
    }
    // Logits ±∞ are clamped to ±LOGIT_BOUND.
    let logits = t32(&[f64::NEG_INFINITY, f64::INFINITY], &[2]);
    let d = RelaxedBernoulli::new(logits, 0.01).unwrap();
    let draw = d.rsample(&[500], &mut rng).unwrap();
    all_finite(
        &d.log_prob_draw(&draw).unwrap(),
        "log_prob_draw at ±∞ logits",
    );
}

#[test]
fn log_prob_draw_uses_the_raw_value_not_the_rounded_one() {
    // At t = 0.01 in f32 about three values in four round to exactly 0 or 1
    // (y > 16.6 or y < −103).
    let d32 = RelaxedBernoulli::new(t32(&[0.3], &[1]), 0.01).unwrap();
    let draw = d32.rsample(&[1000], &mut Rng::seed(3)).unwrap();
    let v = draw.value().to_f64_vec();
    assert!(v.iter().filter(|z| **z == 0.0 || **z == 1.0).count() > 600);
    // The same density recomputed in f64 from the f32 raw values.
    let d64 = RelaxedBernoulli::new(t64(&[0.3], &[1]), 0.01).unwrap();
    let raw64 = draw.raw().unwrap().to_dtype(pact::DType::F64);
    let want = d64.log_prob_logit(&raw64).unwrap().to_f64_vec();
    let got = d32.log_prob_draw(&draw).unwrap().to_f64_vec();
    close(&got, &want, 1e-3);
}

#[test]
fn relaxed_one_hot_is_stable_in_f32_at_low_temperature_with_certain_outcomes() {
    let mut rng = Rng::seed(9);
    let probs = t32(&[1.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.2, 0.3, 0.5], &[3, 3]).to_var();
    for &t in &[0.01, 0.1, 1.0] {
        let d = RelaxedOneHotCategorical::from_probs(probs.clone(), t).unwrap();
        let draw = d.rsample(&[1000], &mut rng).unwrap();
        all_finite(draw.value(), "value");
        all_finite(draw.raw().unwrap(), "raw");
        finite_with_grads(&d.log_prob_draw(&draw).unwrap(), &[&probs], "log_prob_draw");
        finite_with_grads(draw.value(), &[&probs], "rsample");
        all_finite(&d.log_prob(draw.value()).unwrap(), "log_prob of values");
        // Certain and impossible categories are respected by the argmax.
        let v = draw.value().to_f64_vec();
        for s in 0..1000 {
            let row = &v[s * 9..s * 9 + 3];
            assert!(row[0] >= row[1] && row[0] >= row[2]);
            let row = &v[s * 9 + 3..s * 9 + 6];
            assert!(row[2] <= row[0].max(row[1]));
        }
    }
}

#[test]
fn straight_through_draws_are_hard_forward_and_soft_backward() {
    let logits = t32(&[0.0, 2.0, f64::NEG_INFINITY], &[3]).to_var();
    let d = StraightThroughBernoulli::new(logits.clone(), 0.01).unwrap();
    let draw = d.rsample(&[100], &mut Rng::seed(4)).unwrap();
    let Draw::StraightThrough {
        value,
        hard,
        soft,
        raw,
    } = &draw
    else {
        panic!("expected a straight-through draw, got {draw:?}");
    };
    assert_eq!(value.to_f64_vec(), hard.to_f64_vec());
    assert!(hard.to_f64_vec().iter().all(|v| *v == 0.0 || *v == 1.0));
    let expect_hard: Vec<f64> = raw
        .to_f64_vec()
        .iter()
        .map(|y| f64::from(*y > 0.0))
        .collect();
    assert_eq!(hard.to_f64_vec(), expect_hard);
    // The gradient of the value is the gradient of the soft value.
    let g_value = value.sum_all().unwrap().backward().unwrap();
    let g_soft = soft.sum_all().unwrap().backward().unwrap();
    close(
        &g_value.get(&logits).unwrap().to_f64_vec(),
        &g_soft.get(&logits).unwrap().to_f64_vec(),
        1e-6,
    );
    finite_with_grads(
        &d.log_prob_draw(&draw).unwrap(),
        &[&logits],
        "ST log_prob_draw",
    );

    let logits = t32(&[0.0, 1.0, f64::NEG_INFINITY], &[3]).to_var();
    let d = StraightThroughOneHotCategorical::new(logits.clone(), 0.01).unwrap();
    let draw = d.rsample(&[100], &mut Rng::seed(4)).unwrap();
    let hard = draw.hard().unwrap().to_f64_vec();
    assert_eq!(draw.value().to_f64_vec(), hard);
    for row in hard.chunks(3) {
        assert_eq!(row.iter().sum::<f64>(), 1.0);
        assert_eq!(row[2], 0.0);
    }
    finite_with_grads(draw.value(), &[&logits], "ST one-hot value");
}
