//! Log-probabilities, moments, modes, entropies and supports of the exact laws, against
//! statrs and closed forms in f64; errors where an operation does not apply.

mod prob_common;

use pact::dist::{
    Bernoulli, Categorical, Delta, Distribution, Geometric, Independent, Normal, OneHotCategorical,
    RelaxedBernoulli, Support, TruncatedGeometric,
};
use pact::{DType, Error, Rng, Tensor};
use prob_common::*;
use statrs::distribution::{Continuous, Discrete};
use statrs::statistics::Distribution as _;

const PS: [f64; 5] = [0.02, 0.1, 0.37, 0.5, 0.93];

#[test]
fn bernoulli_matches_statrs() {
    let d = Bernoulli::from_probs(t64(&PS, &[5])).unwrap();
    for value in [0.0, 1.0] {
        let lp = d.log_prob(&t64(&[value; 5], &[5])).unwrap().to_f64_vec();
        let want: Vec<f64> = PS
            .iter()
            .map(|&p| {
                statrs::distribution::Bernoulli::new(p)
                    .unwrap()
                    .ln_pmf(value as u64)
            })
            .collect();
        close(&lp, &want, 1e-12);
    }
    let stat = |f: &dyn Fn(&statrs::distribution::Bernoulli) -> f64| -> Vec<f64> {
        PS.iter()
            .map(|&p| f(&statrs::distribution::Bernoulli::new(p).unwrap()))
            .collect()
    };
    close(
        &d.mean().unwrap().to_f64_vec(),
        &stat(&|b| b.mean().unwrap()),
        1e-12,
    );
    close(
        &d.variance().unwrap().to_f64_vec(),
        &stat(&|b| b.variance().unwrap()),
        1e-12,
    );
    close(
        &d.entropy().unwrap().to_f64_vec(),
        &stat(&|b| b.entropy().unwrap()),
        1e-12,
    );
    // Mode: [p ≥ 0.5], ties to 1.
    assert_eq!(
        d.mode().unwrap().to_f64_vec(),
        vec![0.0, 0.0, 0.0, 1.0, 1.0]
    );
    // Logits and probabilities describe the same law.
    let from_logits = Bernoulli::new(d.logits().clone()).unwrap();
    close(&from_logits.probs().unwrap().to_f64_vec(), &PS, 1e-12);
}

#[test]
fn bernoulli_support_is_enumerated_along_a_new_axis() {
    let d = Bernoulli::new(t64(&[0.0, 1.0, -2.0], &[3])).unwrap();
    let s = d.enumerate_support().unwrap();
    assert_eq!(s.dims(), &[2, 3]);
    assert_eq!(s.to_f64_vec(), vec![0., 0., 0., 1., 1., 1.]);
    assert_eq!(d.support(), Support::Boolean);
    // Σ_z p(z) = 1 for every batch element.
    let total = d.log_prob(&s).unwrap().exp().unwrap().sum(0).unwrap();
    close(&total.to_f64_vec(), &[1.0; 3], 1e-12);
}

#[test]
fn categorical_matches_statrs_batched() {
    let probs = [[0.1, 0.2, 0.3, 0.4], [0.5, 0.0, 0.25, 0.25]];
    let flat: Vec<f64> = probs.iter().flatten().copied().collect();
    let d = Categorical::from_probs(t64(&flat, &[2, 4])).unwrap();
    assert_eq!(d.batch_shape().dims(), &[2]);
    let sd: Vec<_> = probs
        .iter()
        .map(|p| statrs::distribution::Categorical::new(p).unwrap())
        .collect();
    for k in 0..4 {
        let lp = d.log_prob(&t64(&[k as f64; 2], &[2])).unwrap().to_f64_vec();
        let want: Vec<f64> = sd.iter().map(|c| c.ln_pmf(k as u64)).collect();
        close(&lp, &want, 1e-12);
    }
    // Outside the support: −∞.
    let lp = d.log_prob(&t64(&[4.0, -1.0], &[2])).unwrap().to_f64_vec();
    assert_eq!(lp, vec![f64::NEG_INFINITY; 2]);
    let want = |f: &dyn Fn(&statrs::distribution::Categorical) -> f64| -> Vec<f64> {
        sd.iter().map(f).collect()
    };
    close(
        &d.mean().unwrap().to_f64_vec(),
        &want(&|c| c.mean().unwrap()),
        1e-12,
    );
    close(
        &d.variance().unwrap().to_f64_vec(),
        &want(&|c| c.variance().unwrap()),
        1e-12,
    );
    close(
        &d.entropy().unwrap().to_f64_vec(),
        &want(&|c| c.entropy().unwrap()),
        1e-12,
    );
    assert_eq!(d.mode().unwrap().to_f64_vec(), vec![3.0, 0.0]);
    let s = d.enumerate_support().unwrap();
    assert_eq!(s.dims(), &[4, 2]);
    let total = d.log_prob(&s).unwrap().exp().unwrap().sum(0).unwrap();
    close(&total.to_f64_vec(), &[1.0; 2], 1e-12);
}

#[test]
fn one_hot_categorical_agrees_with_categorical() {
    let logits = t64(&[0.3, -1.0, 2.0, 0.0, 0.0, 0.0], &[2, 3]);
    let cat = Categorical::new(logits.clone()).unwrap();
    let oh = OneHotCategorical::new(logits).unwrap();
    assert_eq!(oh.event_shape().dims(), &[3]);
    let support = oh.enumerate_support().unwrap();
    assert_eq!(support.dims(), &[3, 2, 3]);
    let lp_oh = oh.log_prob(&support).unwrap();
    let lp_cat = cat.log_prob(&cat.enumerate_support().unwrap()).unwrap();
    close(&lp_oh.to_f64_vec(), &lp_cat.to_f64_vec(), 1e-12);
    assert_eq!(
        oh.mode().unwrap().to_f64_vec(),
        vec![0., 0., 1., 1., 0., 0.]
    );
    close(
        &oh.entropy().unwrap().to_f64_vec(),
        &cat.entropy().unwrap().to_f64_vec(),
        1e-12,
    );
    close(
        &oh.mean().unwrap().to_f64_vec(),
        &cat.probs().unwrap().to_f64_vec(),
        1e-12,
    );
    // A value with the wrong event size is a shape error.
    assert!(matches!(
        oh.log_prob(&t64(&[1.0, 0.0], &[2])),
        Err(Error::ShapeMismatch { .. })
    ));
}

#[test]
fn geometric_counts_failures_and_matches_statrs_shifted() {
    let ps = [0.05, 0.3, 0.5, 0.9, 1.0];
    let d = Geometric::from_probs(t64(&ps, &[5])).unwrap();
    assert_eq!(d.support(), Support::Integers { low: 0, high: None });
    for k in [0u64, 1, 2, 7, 30] {
        let lp = d.log_prob(&t64(&[k as f64; 5], &[5])).unwrap().to_f64_vec();
        // statrs counts trials (support from 1): our k failures are k + 1 trials.
        let want: Vec<f64> = ps
            .iter()
            .map(|&p| {
                statrs::distribution::Geometric::new(p)
                    .unwrap()
                    .ln_pmf(k + 1)
            })
            .collect();
        close(&lp, &want, 1e-10);
    }
    let lp = d.log_prob(&t64(&[-1.0; 5], &[5])).unwrap().to_f64_vec();
    assert_eq!(lp, vec![f64::NEG_INFINITY; 5]);
    let sg = |p: f64| statrs::distribution::Geometric::new(p).unwrap();
    let inner = &ps[..4];
    let mean: Vec<f64> = inner.iter().map(|&p| sg(p).mean().unwrap() - 1.0).collect();
    let var: Vec<f64> = inner.iter().map(|&p| sg(p).variance().unwrap()).collect();
    // statrs reports the entropy in bits.
    let ent: Vec<f64> = inner
        .iter()
        .map(|&p| sg(p).entropy().unwrap() * std::f64::consts::LN_2)
        .collect();
    let head = |t: Tensor| t.to_f64_vec()[..4].to_vec();
    close(&head(d.mean().unwrap()), &mean, 1e-10);
    close(&head(d.variance().unwrap()), &var, 1e-10);
    close(&head(d.entropy().unwrap()), &ent, 1e-10);
    // p = 1: always 0 failures.
    assert_eq!(d.mean().unwrap().to_f64_vec()[4], 0.0);
    assert_eq!(d.entropy().unwrap().to_f64_vec()[4], 0.0);
    assert_eq!(d.mode().unwrap().to_f64_vec(), vec![0.0; 5]);
    assert!(d.enumerate_support().is_err());
}

fn truncated_geometric_reference(lambda: f64, l: usize) -> Vec<f64> {
    let z: f64 = (1..=l).map(|m| (-lambda * m as f64).exp()).sum();
    (1..=l).map(|n| -lambda * n as f64 - z.ln()).collect()
}

#[test]
fn truncated_geometric_matches_closed_form_batched() {
    let lambdas = [0.7, 0.0, -0.4];
    let l = 5;
    let d = TruncatedGeometric::new(t64(&lambdas, &[3]), l).unwrap();
    assert_eq!(
        d.support(),
        Support::Integers {
            low: 1,
            high: Some(5)
        }
    );
    let support = d.enumerate_support().unwrap();
    assert_eq!(support.dims(), &[5, 3]);
    let lp = d.log_prob(&support).unwrap().to_f64_vec();
    for (b, &lam) in lambdas.iter().enumerate() {
        let want = truncated_geometric_reference(lam, l);
        let got: Vec<f64> = (0..l).map(|n| lp[n * 3 + b]).collect();
        close(&got, &want, 1e-12);
        let p: Vec<f64> = want.iter().map(|v| v.exp()).collect();
        let mean: f64 = p.iter().enumerate().map(|(i, p)| (i + 1) as f64 * p).sum();
        let second: f64 = p
            .iter()
            .enumerate()
            .map(|(i, p)| ((i + 1) as f64).powi(2) * p)
            .sum();
        let log_z = (1..=l).map(|m| (-lam * m as f64).exp()).sum::<f64>().ln();
        close(&[d.mean().unwrap().to_f64_vec()[b]], &[mean], 1e-12);
        close(
            &[d.variance().unwrap().to_f64_vec()[b]],
            &[second - mean * mean],
            1e-10,
        );
        // H = λ E[N] + log Z.
        close(
            &[d.entropy().unwrap().to_f64_vec()[b]],
            &[lam * mean + log_z],
            1e-12,
        );
        close(
            &[d.log_normalizer().unwrap().to_f64_vec()[b]],
            &[log_z],
            1e-12,
        );
    }
    // λ > 0 prefers 1 unit, λ = 0 is uniform (first mode), λ < 0 prefers L.
    assert_eq!(d.mode().unwrap().to_f64_vec(), vec![1.0, 1.0, 5.0]);
    close(&[d.mean().unwrap().to_f64_vec()[1]], &[3.0], 1e-12);
    // Outside 1..=L: −∞.
    let out = d
        .log_prob(&t64(&[0.0, 6.0, 2.5], &[3]))
        .unwrap()
        .to_f64_vec();
    assert_eq!(out, vec![f64::NEG_INFINITY; 3]);
}

#[test]
fn halting_bernoulli_prior_is_the_law_of_the_first_halt() {
    let phi: f64 = 0.3;
    let l = 4;
    let d =
        TruncatedGeometric::halting_bernoulli(t64(&[(phi / (1.0 - phi)).ln()], &[1]), l).unwrap();
    // Brute force over z_1..z_{L−1} ∈ {0,1}, z_L = 1: N = first l with z_l = 1.
    let mut law = vec![0.0; l];
    for bits in 0..(1 << (l - 1)) {
        let z: Vec<bool> = (0..l - 1).map(|i| bits >> i & 1 == 1).collect();
        let p: f64 = z
            .iter()
            .map(|&zi| if zi { phi } else { 1.0 - phi })
            .product();
        let n = z.iter().position(|&zi| zi).unwrap_or(l - 1);
        law[n] += p;
    }
    let lp = d
        .log_prob(&d.enumerate_support().unwrap())
        .unwrap()
        .to_f64_vec();
    let want: Vec<f64> = law.iter().map(|p| p.ln()).collect();
    close(&lp, &want, 1e-12);
    // It is not the renormalised e^{−λn} prior with e^{−λ} = 1 − φ: they differ at n = L.
    let renormalised = truncated_geometric_reference(-(1.0 - phi).ln(), l);
    let diffs: Vec<f64> = lp.iter().zip(&renormalised).map(|(a, b)| a - b).collect();
    close(&diffs[..l - 1], &vec![diffs[0]; l - 1], 1e-12);
    assert!((diffs[l - 1] - diffs[0]).abs() > 0.1);
    assert!(d.log_normalizer().is_err());
}

#[test]
fn normal_matches_statrs() {
    let d = Normal::new(t64(&[0.0, 1.5, -2.0], &[3]), t64(&[1.0, 0.3, 4.0], &[3])).unwrap();
    let x = t64(&[0.5, 1.0, 3.0], &[3]);
    let want: Vec<f64> = [(0.0, 1.0, 0.5), (1.5, 0.3, 1.0), (-2.0, 4.0, 3.0)]
        .iter()
        .map(|&(m, s, x)| statrs::distribution::Normal::new(m, s).unwrap().ln_pdf(x))
        .collect();
    close(&d.log_prob(&x).unwrap().to_f64_vec(), &want, 1e-12);
    let ent: Vec<f64> = [1.0, 0.3, 4.0]
        .iter()
        .map(|&s| {
            statrs::distribution::Normal::new(0.0, s)
                .unwrap()
                .entropy()
                .unwrap()
        })
        .collect();
    close(&d.entropy().unwrap().to_f64_vec(), &ent, 1e-12);
    assert_eq!(d.mode().unwrap().to_f64_vec(), vec![0.0, 1.5, -2.0]);
    close(
        &d.variance().unwrap().to_f64_vec(),
        &[1.0, 0.09, 16.0],
        1e-12,
    );
    assert!(!d.is_discrete());
}

#[test]
fn delta_is_a_point_mass_over_its_event() {
    let d = Delta::new(t64(&[1.0, 2.0, 3.0, 4.0], &[2, 2]), 1).unwrap();
    assert_eq!(d.batch_shape().dims(), &[2]);
    let x = t64(&[1.0, 2.0, 3.0, 5.0], &[2, 2]);
    assert_eq!(
        d.log_prob(&x).unwrap().to_f64_vec(),
        vec![0.0, f64::NEG_INFINITY]
    );
    let d = d.with_log_density(-1.5);
    assert_eq!(d.log_prob(&x).unwrap().to_f64_vec()[0], -1.5);
    assert!(Delta::new(s64(1.0), 1).is_err());
}

#[test]
fn certain_outcomes_give_no_nan_in_f32() {
    let p = t32(&[0.0, 1.0, 0.0, 1.0], &[4]);
    let d = Bernoulli::from_probs(p).unwrap();
    let lp = d
        .log_prob(&t32(&[0.0, 1.0, 1.0, 0.0], &[4]))
        .unwrap()
        .to_f64_vec();
    assert_eq!(lp, vec![0.0, 0.0, f64::NEG_INFINITY, f64::NEG_INFINITY]);
    all_finite(&d.entropy().unwrap(), "entropy");
    assert_eq!(d.entropy().unwrap().to_f64_vec(), vec![0.0; 4]);
    assert_eq!(d.mode().unwrap().to_f64_vec(), vec![0.0, 1.0, 0.0, 1.0]);
    // Gradients with respect to the probabilities stay finite where the value is finite.
    let pv = t32(&[0.0, 1.0, 0.4], &[3]).to_var();
    let d = Bernoulli::from_probs(pv.clone()).unwrap();
    let lp = d.log_prob(&t32(&[0.0, 1.0, 1.0], &[3])).unwrap();
    all_finite(&lp, "log_prob");
    let g = lp.sum_all().unwrap().backward().unwrap();
    all_finite(g.get(&pv).unwrap(), "gradient");
    // Categorical with impossible categories.
    let pv = t32(&[0.0, 1.0, 0.0, 0.5, 0.5, 0.0], &[2, 3]).to_var();
    let d = Categorical::from_probs(pv.clone()).unwrap();
    let lp = d.log_prob(&t32(&[1.0, 0.0], &[2])).unwrap();
    close(&lp.to_f64_vec(), &[0.0, 0.5f64.ln()], 1e-6);
    all_finite(&d.entropy().unwrap(), "categorical entropy");
    let g = lp.sum_all().unwrap().backward().unwrap();
    all_finite(g.get(&pv).unwrap(), "categorical gradient");
    let g = d.entropy().unwrap().sum_all().unwrap().backward().unwrap();
    all_finite(g.get(&pv).unwrap(), "categorical entropy gradient");
    let pv = t32(&[0.0, 1.0, 0.3], &[3]).to_var();
    let h = Bernoulli::from_probs(pv.clone())
        .unwrap()
        .entropy()
        .unwrap();
    let g = h.sum_all().unwrap().backward().unwrap();
    all_finite(g.get(&pv).unwrap(), "Bernoulli entropy gradient");
}

#[test]
fn inapplicable_operations_are_errors() {
    let b = Bernoulli::new(t64(&[0.0], &[1])).unwrap();
    assert!(matches!(
        b.rsample(&[], &mut Rng::seed(0)),
        Err(Error::Unsupported { op: "rsample", .. })
    ));
    let n = Normal::new(s64(0.0), s64(1.0)).unwrap();
    assert!(matches!(
        n.enumerate_support(),
        Err(Error::Unsupported {
            op: "enumerate_support",
            ..
        })
    ));
    assert!(n.relaxed(0.5).is_err());
    let r = RelaxedBernoulli::new(t64(&[0.0], &[1]), 0.5).unwrap();
    assert!(matches!(
        r.mean(),
        Err(Error::Unsupported { op: "mean", .. })
    ));
    assert!(matches!(r.entropy(), Err(Error::Unsupported { .. })));
    let c = Categorical::new(t64(&[0.0, 0.0], &[2])).unwrap();
    assert!(matches!(c.relaxed(0.5), Err(Error::Unsupported { .. })));
    // Invalid parameters.
    assert!(Bernoulli::from_probs(t64(&[1.5], &[1])).is_err());
    assert!(Bernoulli::new(t64(&[f64::NAN], &[1])).is_err());
    assert!(Categorical::new(t64(&[f64::NEG_INFINITY; 2], &[2])).is_err());
    assert!(Categorical::new(t64(&[f64::INFINITY, 0.0], &[2])).is_err());
    assert!(Categorical::from_probs(t64(&[-0.1, 1.0], &[2])).is_err());
    assert!(Categorical::new(s64(0.0)).is_err());
    let err = Geometric::from_probs(t64(&[0.0], &[1]))
        .unwrap_err()
        .to_string();
    // The bound reads (0, 1], not 0.000…00022250738585072014 with 330 digits.
    assert!(err.contains("(0, 1], found 0") && err.len() < 120, "{err}");
    let err = Categorical::from_probs(t64(&[-0.1, 1.0], &[2]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("[0, ∞), found -0.1"), "{err}");
    assert!(Normal::new(s64(0.0), s64(0.0)).is_err());
    assert!(RelaxedBernoulli::new(s64(0.0), 0.0).is_err());
    assert!(TruncatedGeometric::scalar(0.1, 0, DType::F64, CPU).is_err());
    assert!(TruncatedGeometric::scalar(f64::INFINITY, 3, DType::F64, CPU).is_err());
}

#[test]
fn expand_broadcasts_parameters() {
    let d = Bernoulli::new(t64(&[0.5], &[1])).unwrap();
    let e = d.expand(&pact::Shape::new([4, 3])).unwrap();
    assert_eq!(e.batch_shape().dims(), &[4, 3]);
    let c = Categorical::new(t64(&[0.0, 1.0], &[2])).unwrap();
    let e = c.expand(&pact::Shape::new([5])).unwrap();
    assert_eq!(e.batch_shape().dims(), &[5]);
    assert_eq!(e.enumerate_support().unwrap().dims(), &[2, 5]);
    assert_eq!(
        c.expand(&pact::Shape::new([3, 4]))
            .unwrap()
            .batch_shape()
            .dims(),
        &[3, 4]
    );
    // A batch shape the parameters cannot broadcast to is an error.
    let b3 = Bernoulli::new(t64(&[0.0; 3], &[3])).unwrap();
    assert!(b3.expand(&pact::Shape::new([4])).is_err());
}

#[test]
fn independent_makes_batch_axes_event_axes() {
    let loc = t64(&[0.0, 1.0, -1.0, 2.0, 0.5, 0.0], &[3, 2]);
    let base = Normal::new(loc.clone(), s64(0.5)).unwrap();
    let d = Independent::new(base.clone(), 1).unwrap();
    assert_eq!(d.batch_shape().dims(), &[3]);
    assert_eq!(d.event_shape().dims(), &[2]);
    let x = t64(&[0.1, 0.9, -1.2, 2.0, 0.0, 0.3], &[3, 2]);
    let want = base.log_prob(&x).unwrap().sum(1).unwrap();
    close(
        &d.log_prob(&x).unwrap().to_f64_vec(),
        &want.to_f64_vec(),
        1e-12,
    );
    close(
        &d.entropy().unwrap().to_f64_vec(),
        &base.entropy().unwrap().sum(1).unwrap().to_f64_vec(),
        1e-12,
    );
    let e = d.expand(&pact::Shape::new([4, 3])).unwrap();
    assert_eq!(e.batch_shape().dims(), &[4, 3]);
    assert_eq!(e.event_shape().dims(), &[2]);
    assert!(Independent::new(base, 3).is_err());
    // A vector of Bernoulli gates: relaxable, not enumerable as one event.
    let gates = Independent::new(Bernoulli::new(t64(&[0.0; 4], &[4])).unwrap(), 1).unwrap();
    assert!(gates.is_discrete() && !gates.has_enumerate_support());
    assert!(gates.enumerate_support().is_err());
    let relaxed = gates.relaxed(0.5).unwrap();
    let draw = relaxed.rsample(&[], &mut Rng::seed(0)).unwrap();
    assert_eq!(
        relaxed.log_prob_draw(&draw).unwrap().dims(),
        &[] as &[usize]
    );
}

#[test]
fn kl_divergences_match_closed_forms() {
    use pact::dist::kl_divergence;
    let q = Categorical::from_probs(t64(&[0.2, 0.0, 0.8], &[3])).unwrap();
    let p = Categorical::from_probs(t64(&[0.5, 0.25, 0.25], &[3])).unwrap();
    let want = 0.2 * (0.2f64 / 0.5).ln() + 0.8 * (0.8f64 / 0.25).ln();
    close(
        &[kl_divergence(&q, &p).unwrap().to_scalar().unwrap()],
        &[want],
        1e-12,
    );
    // q puts mass where p has none: +∞; the reverse is finite.
    assert_eq!(
        kl_divergence(&p, &q).unwrap().to_scalar().unwrap(),
        f64::INFINITY
    );
    let oq = OneHotCategorical::from_probs(t64(&[0.2, 0.0, 0.8], &[3])).unwrap();
    let op = OneHotCategorical::from_probs(t64(&[0.5, 0.25, 0.25], &[3])).unwrap();
    close(
        &[kl_divergence(&oq, &op).unwrap().to_scalar().unwrap()],
        &[want],
        1e-12,
    );
    // Batched Bernoulli, including certain outcomes.
    let q = Bernoulli::from_probs(t64(&[0.3, 1.0, 0.0], &[3])).unwrap();
    let p = Bernoulli::from_probs(t64(&[0.6, 0.5, 0.5], &[3])).unwrap();
    let b = |a: f64, c: f64| {
        let t = |x: f64, y: f64| if x == 0.0 { 0.0 } else { x * (x / y).ln() };
        t(a, c) + t(1.0 - a, 1.0 - c)
    };
    close(
        &kl_divergence(&q, &p).unwrap().to_f64_vec(),
        &[b(0.3, 0.6), b(1.0, 0.5), b(0.0, 0.5)],
        1e-12,
    );
    // Truncated geometric priors: E_q[log q − log p] by hand.
    let q = TruncatedGeometric::scalar(0.5, 4, DType::F64, CPU).unwrap();
    let p = TruncatedGeometric::scalar(-0.2, 4, DType::F64, CPU).unwrap();
    let (lq, lp) = (
        truncated_geometric_reference(0.5, 4),
        truncated_geometric_reference(-0.2, 4),
    );
    let want: f64 = lq.iter().zip(&lp).map(|(a, b)| a.exp() * (a - b)).sum();
    close(
        &[kl_divergence(&q, &p).unwrap().to_scalar().unwrap()],
        &[want],
        1e-12,
    );
    // Normals.
    let q = Normal::new(s64(1.0), s64(0.5)).unwrap();
    let p = Normal::new(s64(-1.0), s64(2.0)).unwrap();
    let want = (2.0f64 / 0.5).ln() + (0.25 + 4.0) / 8.0 - 0.5;
    close(
        &[kl_divergence(&q, &p).unwrap().to_scalar().unwrap()],
        &[want],
        1e-12,
    );
    // No closed form between different families or supports.
    let tg5 = TruncatedGeometric::scalar(0.5, 5, DType::F64, CPU).unwrap();
    assert!(matches!(
        kl_divergence(&q, &tg5),
        Err(Error::Unsupported { .. })
    ));
    assert!(kl_divergence(
        &tg5,
        &TruncatedGeometric::scalar(0.5, 4, DType::F64, CPU).unwrap()
    )
    .is_err());
}

/// `KL(q ‖ p)` for every combination of batch ranks 0, 1 and 2 of `q` and `p` (shapes that
/// broadcast: `[]`, `[3]`, `[2, 3]`): the result has the broadcast shape, and each element
/// equals the divergence between the two laws at that element, computed by hand from their
/// probabilities. (Before the fix, a `p` with more batch axes than `q` gave `q`'s shape and
/// wrong values, negative ones for `Categorical`, and an error for `TruncatedGeometric`.)
#[test]
fn kl_divergence_broadcasts_every_batch_rank_combination() {
    use pact::dist::kl_divergence;
    let shapes: [&[usize]; 3] = [&[], &[3], &[2, 3]];
    let count = |s: &[usize]| s.iter().product::<usize>();
    // The element of a law of batch shape `s` that broadcasts to element `i` of `[2, 3]`.
    let source = |s: &[usize], i: usize| match s.len() {
        0 => 0,
        1 => i % 3,
        _ => i,
    };
    let kl_by_hand = |a: &[f64], b: &[f64]| -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| if *x == 0.0 { 0.0 } else { x * (x / y).ln() })
            .sum()
    };
    // Categorical over 4 classes: distinct, normalised probabilities per element.
    let probs = |s: &[usize], salt: f64| -> Vec<f64> {
        (0..count(s))
            .flat_map(|e| {
                let raw: Vec<f64> = (0..4)
                    .map(|k| 1.0 + ((e * 4 + k) as f64 * 0.7 + salt).sin().abs())
                    .collect();
                let total: f64 = raw.iter().sum();
                raw.into_iter().map(move |r| r / total)
            })
            .collect()
    };
    for qs in shapes {
        for ps in shapes {
            let (qp, pp) = (probs(qs, 0.3), probs(ps, 1.9));
            let with_classes = |s: &[usize]| [s, &[4]].concat();
            let q = Categorical::from_probs(t64(&qp, &with_classes(qs))).unwrap();
            let p = Categorical::from_probs(t64(&pp, &with_classes(ps))).unwrap();
            let kl = kl_divergence(&q, &p).unwrap();
            let out_shape: &[usize] = if qs.len() >= ps.len() { qs } else { ps };
            assert_eq!(kl.dims(), out_shape, "q {qs:?}, p {ps:?}");
            let want: Vec<f64> = (0..count(out_shape))
                .map(|i| {
                    let (a, b) = (source(qs, i), source(ps, i));
                    kl_by_hand(&qp[a * 4..a * 4 + 4], &pp[b * 4..b * 4 + 4])
                })
                .collect();
            close(&kl.to_f64_vec(), &want, 1e-12);
            assert!(want.iter().all(|k| *k > 0.0));

            // Bernoulli, one probability per element.
            let bq: Vec<f64> = (0..count(qs)).map(|e| 0.1 + 0.13 * e as f64).collect();
            let bp: Vec<f64> = (0..count(ps)).map(|e| 0.85 - 0.11 * e as f64).collect();
            let q = Bernoulli::from_probs(t64(&bq, qs)).unwrap();
            let p = Bernoulli::from_probs(t64(&bp, ps)).unwrap();
            let kl = kl_divergence(&q, &p).unwrap();
            assert_eq!(kl.dims(), out_shape);
            let want: Vec<f64> = (0..count(out_shape))
                .map(|i| {
                    let (a, b) = (bq[source(qs, i)], bp[source(ps, i)]);
                    kl_by_hand(&[a, 1.0 - a], &[b, 1.0 - b])
                })
                .collect();
            close(&kl.to_f64_vec(), &want, 1e-12);

            // Truncated geometric over 4 units, one λ per element.
            let lq: Vec<f64> = (0..count(qs)).map(|e| 0.4 - 0.3 * e as f64).collect();
            let lp: Vec<f64> = (0..count(ps)).map(|e| -0.2 + 0.25 * e as f64).collect();
            let q = TruncatedGeometric::new(t64(&lq, qs), 4).unwrap();
            let p = TruncatedGeometric::new(t64(&lp, ps), 4).unwrap();
            let kl = kl_divergence(&q, &p).unwrap();
            assert_eq!(kl.dims(), out_shape);
            let law = |lambda: f64| -> Vec<f64> {
                truncated_geometric_reference(lambda, 4)
                    .iter()
                    .map(|l| l.exp())
                    .collect()
            };
            let want: Vec<f64> = (0..count(out_shape))
                .map(|i| kl_by_hand(&law(lq[source(qs, i)]), &law(lp[source(ps, i)])))
                .collect();
            close(&kl.to_f64_vec(), &want, 1e-12);
        }
    }
}

/// `Geometric`'s entropy stays finite and right at extreme logits, in f64 and f32: it is
/// about `1 − a` far below zero (where `e^{−a}` overflows: it returned inf or NaN below about
/// −89 in f32 and −710 in f64), and its gradient is finite everywhere. The reference values
/// are `softplus(−a) + e^{−a} softplus(a)` computed with 1200-digit decimals (Python's
/// `decimal`).
#[test]
fn geometric_entropy_is_finite_at_extreme_logits() {
    let logits = [
        -800.0, -710.0, -100.0, -89.0, -40.0, -20.5, -19.5, -5.0, 0.0, 3.0, 30.0, 60.0, 100.0,
    ];
    let exact = [
        801.0,
        711.0,
        101.0,
        90.0,
        41.0,
        21.500000000625075,
        20.500000001699135,
        6.003361432233845,
        1.3862943611198906,
        0.20036757847194922,
        2.9008631203404585e-12,
        5.341471565244877e-25,
        3.757276735781044e-42,
    ];
    let n = logits.len();
    let h = Geometric::new(t64(&logits, &[n]))
        .unwrap()
        .entropy()
        .unwrap();
    close(&h.to_f64_vec(), &exact, 1e-14);
    // f32 (the two logits below its range are left out: −800 and −710 are −inf there).
    let h32 = Geometric::new(t32(&logits[2..], &[n - 2]))
        .unwrap()
        .entropy()
        .unwrap()
        .to_f64_vec();
    let want32: Vec<f64> = exact[2..].iter().map(|&v| f64::from(v as f32)).collect();
    close(&h32, &want32, 1e-6);
    // The gradient dH/da = −σ(−a)... is finite at every logit, including the extremes.
    let a = t64(&logits, &[n]).to_var();
    let grads = Geometric::new(a.clone())
        .unwrap()
        .entropy()
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let g = grads.get(&a).unwrap().to_f64_vec();
    assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    // Far below zero H ≈ 1 − a, so dH/da ≈ −1.
    assert!(
        (g[0] + 1.0).abs() < 1e-12 && (g[2] + 1.0).abs() < 1e-12,
        "{g:?}"
    );
}

/// The variance of a categorical law with its mass at a large index, and so of a truncated
/// geometric law that favours its last units, keeps its digits in f32 and f64: computed as
/// `E[k²] − E[k]²` it cancelled (0.1455 instead of 0.00683 in f32). Reference values from
/// 50-digit decimals.
#[test]
fn variance_keeps_its_digits_when_the_mass_sits_at_a_large_index() {
    for dtype in [DType::F64, DType::F32] {
        let tol = if dtype == DType::F64 { 1e-12 } else { 1e-5 };
        // p(n) ∝ e^{5n} on 1..=100: the mass sits at 100, 99, 98, …
        let tg = TruncatedGeometric::scalar(-5.0, 100, dtype, CPU).unwrap();
        let v = tg.variance().unwrap().to_f64_vec()[0];
        assert!(
            (v - 0.006829672880192057).abs() <= tol * 0.00683 * 100.0,
            "{dtype:?}: {v}"
        );
        let mut probs = vec![0.0; 100];
        probs[97] = 0.005;
        probs[98] = 0.005;
        probs[99] = 0.99;
        let probs = Tensor::from_f64_slice(&probs, [100], dtype, CPU).unwrap();
        let c = Categorical::from_probs(probs).unwrap();
        let v = c.variance().unwrap().to_f64_vec()[0];
        assert!(
            (v - 0.024775).abs() <= tol * 0.0248 * 100.0,
            "{dtype:?}: {v}"
        );
    }
}
