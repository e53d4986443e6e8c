//! Tests of `pact_models::analysis` against math.md (§2, §3, §4, §6, §7).

use autodiff::{F1, FT};
use pact_models::analysis::*;
use pact_models::Error;
use proptest::prelude::*;

const TOL: f64 = 1e-12;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < TOL
}

fn assert_all_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: length of {got:?} vs {want:?}"
    );
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(close(*g, *w), "{what}[{i}]: got {g}, want {w}");
    }
}

/// Dual numbers for `h`, with `h_k` the variable (`k = None`: all constants).
fn duals(h: &[f64], k: Option<usize>) -> Vec<F1> {
    h.iter()
        .enumerate()
        .map(|(i, &x)| if Some(i) == k { F1::var(x) } else { F1::cst(x) })
        .collect()
}

/// Forward-mode gradient of `f` at `h`, one dual pass per coordinate.
fn dual_grad(h: &[f64], f: impl Fn(&[F1]) -> F1) -> Vec<f64> {
    (0..h.len())
        .map(|k| f(&duals(h, Some(k))).deriv())
        .collect()
}

// ---------------------------------------------------------------- §2 ACT

#[test]
fn act_golden_values_section_2() {
    // (h, ρ, N, p, ∂ρ/∂h), ε = 0.01, L = 5.
    type Row = ([f64; 4], f64, usize, [f64; 5], [f64; 4]);
    let rows: [Row; 3] = [
        (
            [0.999; 4],
            2.0,
            1,
            [1.0, 0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],
        ),
        (
            [0.01, 0.5, 0.6, 0.7],
            3.49,
            3,
            [0.01, 0.5, 0.49, 0.0, 0.0],
            [-1.0, -1.0, 0.0, 0.0],
        ),
        (
            [0.01; 4],
            5.96,
            5,
            [0.01, 0.01, 0.01, 0.01, 0.96],
            [-1.0, -1.0, -1.0, -1.0],
        ),
    ];
    for (h, rho, n, p, grad) in rows {
        let a = act(&h, 0.01).unwrap();
        assert_eq!(a.n, n, "N for h = {h:?}");
        assert!(close(a.ponder, rho), "ρ for h = {h:?}: {}", a.ponder);
        assert!(close(a.remainder, rho - n as f64), "R for h = {h:?}");
        assert_all_close(&a.weights, &p, "p");
        assert_all_close(&a.ponder_grad, &grad, "∂ρ/∂h");
    }
}

#[test]
fn act_ponder_gradient_matches_dual_numbers_section_2() {
    for h in [
        vec![0.999; 4],
        vec![0.01, 0.5, 0.6, 0.7],
        vec![0.01; 4],
        vec![0.2, 0.3, 0.1],
    ] {
        let closed = act(&h, 0.01).unwrap().ponder_grad;
        let dual = dual_grad(&h, |x| act(x, F1::cst(0.01)).unwrap().ponder);
        assert_all_close(&dual, &closed, "∂ρ/∂h (dual vs closed form)");
    }
}

#[test]
fn act_discontinuity_section_2() {
    // h = (0.5, x, 1): ρ = 3.5 − x for x < 0.49, 2.5 for x ≥ 0.49.
    for x in [0.0, 0.1, 0.3, 0.48, 0.489] {
        let a = act(&[0.5, x], 0.01).unwrap();
        assert_eq!(a.n, 3, "x = {x}");
        assert!(close(a.ponder, 3.5 - x), "x = {x}: ρ = {}", a.ponder);
    }
    for x in [0.49, 0.5, 0.7, 1.0] {
        let a = act(&[0.5, x], 0.01).unwrap();
        assert_eq!(a.n, 2, "x = {x}");
        assert!(close(a.ponder, 2.5), "x = {x}: ρ = {}", a.ponder);
    }
    // The jump: just below the threshold ρ ≈ 3.01, at it 2.5.
    let below = act(&[0.5, 0.49 - 1e-9], 0.01).unwrap().ponder;
    let at = act(&[0.5, 0.49], 0.01).unwrap().ponder;
    assert!(below - at > 0.5);
}

#[test]
fn act_edge_cases_section_2() {
    // One unit before the last; h_1 = 0 runs both units with R = 1.
    let a = act(&[0.0], 0.01).unwrap();
    assert_eq!((a.n, a.weights.clone()), (2, vec![0.0, 1.0]));
    assert!(close(a.ponder, 3.0));
    // h_1 = 1 halts at once.
    let a = act(&[1.0, 0.3], 0.01).unwrap();
    assert_eq!(a.n, 1);
    assert!(close(a.ponder, 2.0));
    // A larger ε halts earlier.
    assert_eq!(act(&[0.01, 0.5, 0.6, 0.7], 0.5).unwrap().n, 2);
}

// ---------------------------------------------------------------- §3 PACT

#[test]
fn pact_worked_example_section_3() {
    let h = [0.01, 0.5, 0.6, 0.7];
    let q = halting_distribution(&h).unwrap();
    assert_all_close(&q, &[0.01, 0.495, 0.297, 0.1386, 0.0594], "q(N)");
    assert!(close(expected_n(&h).unwrap(), 2.7424));
    assert_eq!(deterministic_n(&h).unwrap(), 2);
    assert_eq!(map_n(&h).unwrap(), 2);
    let a = act(&h, DEFAULT_EPS).unwrap();
    assert_eq!(a.n, 3);
    assert!(close(a.ponder, 3.49));

    let p = pact(&h, 0.01).unwrap();
    assert_all_close(&p.q, &q, "pact().q");
    assert!(close(p.expected_n, 2.7424));
    assert_eq!((p.deterministic_n, p.map_n), (2, 2));
    let log_z = (1..=5).map(|m| (-0.01 * m as f64).exp()).sum::<f64>().ln();
    assert!(close(p.expected_log_prior, -0.01 * 2.7424 - log_z));
}

#[test]
fn deterministic_and_map_n_section_6() {
    // No h ≥ 0.5: all L units run.
    assert_eq!(deterministic_n(&[0.1, 0.2, 0.49]).unwrap(), 4);
    // Exactly 0.5 halts.
    assert_eq!(deterministic_n(&[0.1, 0.5]).unwrap(), 2);
    // MAP and deterministic N can differ: q = (0.4, 0.24, 0.36).
    assert_eq!(map_n(&[0.4, 0.4]).unwrap(), 1);
    assert_eq!(deterministic_n(&[0.4, 0.4]).unwrap(), 3);
    // Ties go to the smaller N: q = (0.5, 0.5).
    assert_eq!(map_n(&[0.5]).unwrap(), 1);
    // MAP at the last unit.
    assert_eq!(map_n(&[0.1, 0.1]).unwrap(), 3);
}

#[test]
fn expected_n_gradient_matches_dual_numbers_section_4() {
    for h in [
        vec![0.01, 0.5, 0.6, 0.7],
        vec![0.3],
        vec![0.9, 0.1, 0.5, 0.2, 0.8, 0.4],
        vec![0.0, 1.0, 0.5],
    ] {
        let closed = expected_n_grad(&h).unwrap();
        let dual = dual_grad(&h, |x| expected_n(x).unwrap());
        assert_all_close(&dual, &closed, "∂E_q[N]/∂h");
        // Also through the stick-breaking q directly.
        let via_q = dual_grad(&h, |x| {
            halting_distribution(x)
                .unwrap()
                .iter()
                .enumerate()
                .fold(F1::cst(0.0), |acc, (i, &q)| {
                    acc + F1::cst((i + 1) as f64) * q
                })
        });
        assert_all_close(&via_q, &closed, "∂Σ n q_n/∂h");
        // The prior term's gradient is −λ times it.
        let lam = 0.3;
        let prior = dual_grad(&h, |x| expected_log_prior(x, F1::cst(lam)).unwrap());
        assert_all_close(
            &prior,
            &expected_log_prior_grad(&h, lam).unwrap(),
            "∂E_q[log p(N)]/∂h",
        );
    }
}

#[test]
fn expected_n_is_smooth_where_act_jumps_section_7() {
    // Around ACT's jump at x = 0.49 for h = (0.5, x), E_q[N] = 2 − 0.5x is linear.
    let e = |x: f64| expected_n(&[0.5, x]).unwrap();
    for x in [0.1, 0.48, 0.49, 0.5, 0.9] {
        assert!(close(e(x), 2.0 - 0.5 * x), "x = {x}");
    }
    let d = autodiff::diff(|x: FT<f64>| expected_n(&[F1::cst(0.5), x]).unwrap(), 0.49);
    assert!(close(d, -0.5));
}

#[test]
fn truncated_geometric_prior_section_3() {
    let lam = 0.7;
    let p = geometric_prior(lam, 6).unwrap();
    assert!(close(p.iter().sum::<f64>(), 1.0));
    let lp = log_geometric_prior(lam, 6).unwrap();
    for n in 1..6 {
        // log p is linear in N with slope −λ, everywhere (§3).
        assert!(close(lp[n] - lp[n - 1], -lam));
    }
    let log_z = log_normaliser(lam, 6).unwrap();
    assert!(close(lp[0], -lam - log_z));
    // λ = 0: uniform.
    assert_all_close(
        &geometric_prior(0.0, 4).unwrap(),
        &[0.25; 4],
        "uniform prior",
    );
    // Large λ does not overflow and puts the mass on N = 1.
    let p = geometric_prior(800.0, 5).unwrap();
    assert!(close(p[0], 1.0));
    assert!(log_normaliser(800.0f64, 5).unwrap().is_finite());
}

#[test]
fn expected_log_prior_closed_form_section_4() {
    let h = [0.01, 0.5, 0.6, 0.7];
    for lam in [0.0, 0.01, 0.5, 3.0] {
        let direct: f64 = halting_distribution(&h)
            .unwrap()
            .iter()
            .zip(log_geometric_prior(lam, 5).unwrap())
            .map(|(q, lp)| q * lp)
            .sum();
        let closed = expected_log_prior(&h, lam).unwrap();
        assert!(close(direct, closed), "λ = {lam}");
        assert!(close(
            closed,
            -lam * 2.7424 - log_normaliser(lam, 5).unwrap()
        ));
    }
}

#[test]
fn bernoulli_prior_section_3() {
    let phi = 0.3;
    let p = bernoulli_prior(phi, 4).unwrap();
    assert_all_close(&p, &[0.3, 0.21, 0.147, 0.343], "Bernoulli(0.3) prior");
    assert!(close(p.iter().sum::<f64>(), 1.0));
    // Same slope as the geometric prior with φ = 1 − e^{−λ} for n < L, extra mass at N = L.
    let lam = 0.4;
    let phi = bernoulli_phi_for_penalty(lam).unwrap();
    let lb = log_bernoulli_prior(phi, 5).unwrap();
    let lg = log_geometric_prior(lam, 5).unwrap();
    for n in 1..4 {
        assert!(close(lb[n] - lb[n - 1], lg[n] - lg[n - 1]));
    }
    assert!(close(lb[4] - lb[3], -lam - phi.ln()));
    // Closed-form expectation vs the direct sum.
    let h = [0.01, 0.5, 0.6, 0.7];
    let direct: f64 = halting_distribution(&h)
        .unwrap()
        .iter()
        .zip(&lb)
        .map(|(q, l)| q * l)
        .sum();
    assert!(close(
        expected_log_bernoulli_prior(&h, phi).unwrap(),
        direct
    ));
}

#[test]
fn act_is_pact_relaxation_prior_term_section_7() {
    // §7: ACT replaces −λ E_q[N] by −λ(N + R). Both are "expected computation" terms; for a
    // point mass q (h ∈ {0, 1}) with ε small they agree up to ACT's +R = 1 offset.
    let h = [0.0, 0.0, 1.0, 0.0];
    let e = expected_n(&h).unwrap();
    let a = act(&h, 0.01).unwrap();
    assert!(close(e, 3.0));
    assert_eq!(a.n, 3);
    assert!(close(a.ponder, e + 1.0));
    assert_all_close(
        &a.weights,
        &halting_distribution(&h).unwrap(),
        "ACT weights = q at a point mass",
    );
}

// ---------------------------------------------------------------- validation

fn invalid_message(r: Result<impl std::fmt::Debug, Error>) -> String {
    match r {
        Err(Error::InvalidInput(m)) => {
            assert!(!m.contains('\n'), "multi-line message: {m}");
            m
        }
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn invalid_inputs_are_reported() {
    assert!(invalid_message(act(&[0.2, 1.5], 0.01)).contains("h_2 = 1.5"));
    assert!(invalid_message(act(&[-0.1], 0.01)).contains("h_1 = -0.1"));
    assert!(invalid_message(pact(&[f64::NAN], 0.01)).contains("h_1 is NaN"));
    assert!(invalid_message(act::<f64>(&[], 0.01)).contains("no halting probabilities"));
    assert!(invalid_message(halting_distribution::<f64>(&[])).contains("no halting"));
    assert!(invalid_message(pact(&[0.2], -0.5)).contains("penalty = -0.5"));
    assert!(invalid_message(pact(&[0.2], f64::INFINITY)).contains("penalty"));
    assert!(invalid_message(act(&[0.2], 0.0)).contains("eps = 0"));
    assert!(invalid_message(act(&[0.2], 1.0)).contains("eps = 1"));
    assert!(invalid_message(act(&[0.2], f64::NAN)).contains("eps = NaN"));
    assert!(invalid_message(bernoulli_prior(1.0, 3)).contains("phi = 1"));
    assert!(invalid_message(geometric_prior(0.1, 0)).contains("L = 0"));
    assert!(invalid_message(sweep(&[0.2, 0.3], 3, 10, 0.01, 0.01)).contains("sweep unit 3"));
    assert!(invalid_message(sweep(&[0.2, 0.3], 0, 10, 0.01, 0.01)).contains("sweep unit 0"));
    assert!(invalid_message(sweep(&[0.2], 1, 0, 0.01, 0.01)).contains("points = 0"));
    // The boundaries of [0, 1] are allowed.
    assert!(act(&[0.0, 1.0], 0.01).is_ok());
}

// ---------------------------------------------------------------- compare and sweep

#[test]
fn compare_json_shape_section_3() {
    let c = compare(&[0.01, 0.5, 0.6, 0.7], 0.01, 0.01).unwrap();
    let v = serde_json::to_value(&c).unwrap();
    let mut act_keys: Vec<_> = v["act"].as_object().unwrap().keys().cloned().collect();
    act_keys.sort();
    assert_eq!(act_keys, ["n", "ponder", "remainder", "weights"]);
    let mut pact_keys: Vec<_> = v["pact"].as_object().unwrap().keys().cloned().collect();
    pact_keys.sort();
    assert_eq!(
        pact_keys,
        [
            "deterministic_n",
            "expected_log_prior",
            "expected_n",
            "map_n",
            "q"
        ]
    );
    assert_eq!(v["act"]["weights"].as_array().unwrap().len(), 5);
    assert_eq!(v["pact"]["q"].as_array().unwrap().len(), 5);
}

#[test]
fn sweep_shows_act_jump_and_smooth_pact_section_2() {
    let s = sweep(&[0.5, 0.123], 2, 99, 0.01, 0.01).unwrap();
    assert_eq!(s.len(), 99);
    for p in &s {
        let want = if p.h < 0.49 { 3.5 - p.h } else { 2.5 };
        assert!(close(p.act_ponder, want), "h = {}", p.h);
        assert!(close(p.expected_n, 2.0 - 0.5 * p.h));
        assert!(p.h > 0.0 && p.h < 1.0);
    }
    let jumps = s.windows(2).filter(|w| w[0].act_n != w[1].act_n).count();
    assert_eq!(jumps, 1);
}

// ---------------------------------------------------------------- properties

fn halting_vec() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(0.0f64..=1.0, 1..12)
}

proptest! {
    #[test]
    fn q_sums_to_one_section_3(h in halting_vec()) {
        let q = halting_distribution(&h).unwrap();
        prop_assert_eq!(q.len(), h.len() + 1);
        prop_assert!((q.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        prop_assert!(q.iter().all(|&p| (0.0..=1.0).contains(&p)));
    }

    #[test]
    fn act_weights_sum_to_one_section_2(h in halting_vec(), eps in 0.001f64..0.5) {
        let a = act(&h, eps).unwrap();
        prop_assert_eq!(a.weights.len(), h.len() + 1);
        prop_assert!((a.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        prop_assert!(a.weights.iter().all(|&p| p >= 0.0));
        prop_assert!(a.remainder > 0.0 && a.remainder <= 1.0 + 1e-12);
        prop_assert!((a.ponder - a.n as f64 - a.remainder).abs() < 1e-12);
        prop_assert!(a.weights[a.n..].iter().all(|&p| p == 0.0));
    }

    #[test]
    fn expected_n_in_range_and_gradient_matches_section_4(h in halting_vec()) {
        let e = expected_n(&h).unwrap();
        prop_assert!((1.0..=(h.len() + 1) as f64 + 1e-12).contains(&e));
        let closed = expected_n_grad(&h).unwrap();
        let dual = dual_grad(&h, |x| expected_n(x).unwrap());
        for (c, d) in closed.iter().zip(&dual) {
            prop_assert!((c - d).abs() < 1e-9);
            prop_assert!(*c <= 0.0);
        }
    }

    #[test]
    fn geometric_prior_normalised_section_3(lam in 0.0f64..20.0, units in 1usize..30) {
        let p = geometric_prior(lam, units).unwrap();
        prop_assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn bernoulli_prior_normalised_section_3(phi in 0.001f64..0.999, units in 1usize..30) {
        let p = bernoulli_prior(phi, units).unwrap();
        prop_assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
