//! The continuous and count laws (Gamma, Beta, Dirichlet, StudentT, Poisson, Binomial,
//! Uniform, Exponential, LogNormal, Laplace) and the special functions behind them
//! (`lgamma`, `digamma`, `expm1`): against statrs and closed forms in f64, their sampling
//! frequencies, their gradients against finite differences, and their errors.

mod prob_common;

use pact::dist::{
    kl_divergence, Beta, Binomial, Dirichlet, Distribution, Exponential, Gamma, Laplace, LogNormal,
    Poisson, StudentT, Uniform,
};
use pact::{Result, Rng, Tensor};
use prob_common::*;
use statrs::distribution::{Continuous, Discrete};
use statrs::statistics::Distribution as _;

#[test]
fn lgamma_and_digamma_match_statrs() {
    let xs = [
        1e-8, 0.01, 0.3, 0.5, 1.0, 1.5, 2.0, 3.7, 10.0, 33.3, 170.5, 1e5, 1e12,
    ];
    let x = t64(&xs, &[xs.len()]);
    let lg = x.lgamma().unwrap().to_f64_vec();
    let dg = x.digamma().unwrap().to_f64_vec();
    for (i, &v) in xs.iter().enumerate() {
        let want = statrs::function::gamma::ln_gamma(v);
        assert!(
            (lg[i] - want).abs() <= 1e-12 * (1.0 + want.abs()),
            "lgamma({v}) = {} vs {want}",
            lg[i]
        );
        let want = statrs::function::gamma::digamma(v);
        assert!(
            (dg[i] - want).abs() <= 1e-12 * (1.0 + want.abs()),
            "digamma({v}) = {} vs {want}",
            dg[i]
        );
    }
    // d lgamma = digamma, and the trigamma function from differentiating digamma: ψ'(1) = π²/6.
    let one = t64(&[1.0, 4.0], &[2]).to_var();
    let g = one.lgamma().unwrap().sum_all().unwrap().backward().unwrap();
    close(
        &g.get(&one).unwrap().to_f64_vec(),
        &[
            statrs::function::gamma::digamma(1.0),
            statrs::function::gamma::digamma(4.0),
        ],
        1e-12,
    );
    let g = one
        .digamma()
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let trigamma_4 = std::f64::consts::PI.powi(2) / 6.0 - 1.0 - 0.25 - 1.0 / 9.0;
    close(
        &g.get(&one).unwrap().to_f64_vec(),
        &[std::f64::consts::PI.powi(2) / 6.0, trigamma_4],
        1e-10,
    );
    let small = t64(&[1e-12, -1e-5, 0.7], &[3])
        .expm1()
        .unwrap()
        .to_f64_vec();
    close(
        &small,
        &[1e-12_f64.exp_m1(), (-1e-5_f64).exp_m1(), 0.7_f64.exp_m1()],
        1e-15,
    );
}

/// Asserts `got` (one element per point) equals `want(point)` to `tol`.
fn check(got: Tensor, points: &[f64], want: impl Fn(f64) -> f64, tol: f64, what: &str) {
    let got = got.to_f64_vec();
    for (g, &p) in got.iter().zip(points) {
        let w = want(p);
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()) || (g.is_infinite() && *g == w),
            "{what} at {p}: {g} vs {w}"
        );
    }
}

#[test]
fn continuous_laws_match_statrs() {
    let xs = [0.01, 0.3, 1.0, 2.5, 7.0];
    let n = xs.len();
    let x = t64(&xs, &[n]);
    // Gamma(α = 2.5, β = 1.5); statrs takes shape and rate.
    let g = Gamma::new(s64(2.5), s64(1.5)).unwrap();
    let sg = statrs::distribution::Gamma::new(2.5, 1.5).unwrap();
    check(
        g.log_prob(&x).unwrap(),
        &xs,
        |v| sg.ln_pdf(v),
        1e-12,
        "Gamma log_prob",
    );
    close(
        &[g.mean().unwrap().to_scalar().unwrap()],
        &[sg.mean().unwrap()],
        1e-14,
    );
    close(
        &[g.variance().unwrap().to_scalar().unwrap()],
        &[sg.variance().unwrap()],
        1e-14,
    );
    close(
        &[g.entropy().unwrap().to_scalar().unwrap()],
        &[sg.entropy().unwrap()],
        1e-12,
    );
    close(
        &[g.mode().unwrap().to_scalar().unwrap()],
        &[1.5 / 1.5],
        1e-14,
    );
    // Exponential(2).
    let e = Exponential::new(s64(2.0)).unwrap();
    let se = statrs::distribution::Exp::new(2.0).unwrap();
    check(
        e.log_prob(&x).unwrap(),
        &xs,
        |v| se.ln_pdf(v),
        1e-13,
        "Exponential log_prob",
    );
    close(
        &[e.entropy().unwrap().to_scalar().unwrap()],
        &[se.entropy().unwrap()],
        1e-13,
    );
    // LogNormal(0.3, 0.8).
    let l = LogNormal::new(s64(0.3), s64(0.8)).unwrap();
    let sl = statrs::distribution::LogNormal::new(0.3, 0.8).unwrap();
    check(
        l.log_prob(&x).unwrap(),
        &xs,
        |v| sl.ln_pdf(v),
        1e-12,
        "LogNormal log_prob",
    );
    close(
        &[l.mean().unwrap().to_scalar().unwrap()],
        &[sl.mean().unwrap()],
        1e-13,
    );
    close(
        &[l.variance().unwrap().to_scalar().unwrap()],
        &[sl.variance().unwrap()],
        1e-12,
    );
    close(
        &[l.entropy().unwrap().to_scalar().unwrap()],
        &[sl.entropy().unwrap()],
        1e-13,
    );
    // Laplace(1, 0.7).
    let la = Laplace::new(s64(1.0), s64(0.7)).unwrap();
    let sla = statrs::distribution::Laplace::new(1.0, 0.7).unwrap();
    check(
        la.log_prob(&x).unwrap(),
        &xs,
        |v| sla.ln_pdf(v),
        1e-13,
        "Laplace log_prob",
    );
    close(
        &[la.entropy().unwrap().to_scalar().unwrap()],
        &[sla.entropy().unwrap()],
        1e-13,
    );
    // StudentT(ν = 3.5, μ = 1, σ = 2).
    let t = StudentT::new(s64(3.5), s64(1.0), s64(2.0)).unwrap();
    let st = statrs::distribution::StudentsT::new(1.0, 2.0, 3.5).unwrap();
    check(
        t.log_prob(&x).unwrap(),
        &xs,
        |v| st.ln_pdf(v),
        1e-12,
        "StudentT log_prob",
    );
    close(
        &[t.variance().unwrap().to_scalar().unwrap()],
        &[st.variance().unwrap()],
        1e-13,
    );
    // statrs 0.18's StudentsT entropy gets the scale wrong (1.028 for σ = 2 but 1.721 for
    // σ = 1); the reference is mpmath's `(ν+1)/2 (ψ((ν+1)/2) − ψ(ν/2)) + log √ν B(ν/2, ½) + log σ`.
    close(
        &[t.entropy().unwrap().to_scalar().unwrap()],
        &[2.414037301242412],
        1e-12,
    );
    // Uniform(−1, 3): inside, and outside is −∞.
    let u = Uniform::new(s64(-1.0), s64(3.0)).unwrap();
    check(
        u.log_prob(&x).unwrap(),
        &xs,
        |v| {
            if v < 3.0 {
                -(4f64.ln())
            } else {
                f64::NEG_INFINITY
            }
        },
        1e-15,
        "Uniform log_prob",
    );
    close(
        &[u.variance().unwrap().to_scalar().unwrap()],
        &[16.0 / 12.0],
        1e-15,
    );
    // Beta(2.5, 0.7) on (0, 1).
    let ys = [0.001, 0.2, 0.5, 0.9, 0.999];
    let y = t64(&ys, &[n]);
    let b = Beta::new(s64(2.5), s64(0.7)).unwrap();
    let sb = statrs::distribution::Beta::new(2.5, 0.7).unwrap();
    check(
        b.log_prob(&y).unwrap(),
        &ys,
        |v| sb.ln_pdf(v),
        1e-11,
        "Beta log_prob",
    );
    close(
        &[b.mean().unwrap().to_scalar().unwrap()],
        &[sb.mean().unwrap()],
        1e-14,
    );
    close(
        &[b.variance().unwrap().to_scalar().unwrap()],
        &[sb.variance().unwrap()],
        1e-13,
    );
    close(
        &[b.entropy().unwrap().to_scalar().unwrap()],
        &[sb.entropy().unwrap()],
        1e-11,
    );
    assert!(b.mode().is_err()); // β < 1: the density is unbounded at 1
                                // Values outside the support are impossible, not errors.
    let outside = t64(&[-1.0, 0.0], &[2]);
    for d in [&g as &dyn Distribution, &e, &l] {
        assert_eq!(
            d.log_prob(&outside).unwrap().to_f64_vec()[0],
            f64::NEG_INFINITY
        );
    }
}

#[test]
fn dirichlet_matches_beta_and_the_closed_form() {
    use statrs::function::gamma::ln_gamma;
    // On two categories a Dirichlet is a Beta on the first coordinate: log-density, entropy
    // and mean agree with statrs's Beta.
    let d2 = Dirichlet::new(t64(&[2.5, 0.7], &[2])).unwrap();
    let sb = statrs::distribution::Beta::new(2.5, 0.7).unwrap();
    for x in [0.05, 0.4, 0.97] {
        let got = d2
            .log_prob(&t64(&[x, 1.0 - x], &[2]))
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(
            (got - sb.ln_pdf(x)).abs() < 1e-11,
            "{got} vs {}",
            sb.ln_pdf(x)
        );
    }
    close(
        &[d2.entropy().unwrap().to_scalar().unwrap()],
        &[sb.entropy().unwrap()],
        1e-11,
    );
    close(
        &d2.mean().unwrap().to_f64_vec()[..1],
        &[sb.mean().unwrap()],
        1e-14,
    );
    // Three categories against the closed form with statrs's log-gamma.
    let alpha = [0.5, 2.0, 3.5];
    let d = Dirichlet::new(t64(&alpha, &[3])).unwrap();
    let log_b = alpha.iter().map(|&a| ln_gamma(a)).sum::<f64>() - ln_gamma(6.0);
    for x in [[0.2, 0.3, 0.5], [0.01, 0.5, 0.49]] {
        let got = d.log_prob(&t64(&x, &[3])).unwrap().to_scalar().unwrap();
        let want: f64 = x
            .iter()
            .zip(alpha)
            .map(|(x, a)| (a - 1.0) * x.ln())
            .sum::<f64>()
            - log_b;
        assert!(
            (got - want).abs() < 1e-12 * (1.0 + want.abs()),
            "{got} vs {want}"
        );
    }
    close(
        &d.mean().unwrap().to_f64_vec(),
        &[0.5 / 6.0, 2.0 / 6.0, 3.5 / 6.0],
        1e-14,
    );
    // Batched: [2, 3].
    let batch = Dirichlet::new(t64(&[1.0, 1.0, 1.0, 2.0, 2.0, 2.0], &[2, 3])).unwrap();
    assert_eq!(batch.batch_shape().dims(), &[2]);
    let lp = batch
        .log_prob(&t64(&[0.2, 0.3, 0.5, 0.2, 0.3, 0.5], &[2, 3]))
        .unwrap()
        .to_f64_vec();
    close(&lp[..1], &[2f64.ln()], 1e-13); // Γ(3) on the flat simplex
}

#[test]
fn count_laws_match_statrs() {
    let ks = [0.0, 1.0, 3.0, 10.0];
    let k = t64(&ks, &[4]);
    let p = Poisson::new(s64(3.2)).unwrap();
    let sp = statrs::distribution::Poisson::new(3.2).unwrap();
    check(
        p.log_prob(&k).unwrap(),
        &ks,
        |v| sp.ln_pmf(v as u64),
        1e-12,
        "Poisson",
    );
    assert_eq!(p.mode().unwrap().to_scalar().unwrap(), 3.0);
    let bad = t64(&[-1.0, 2.5], &[2]);
    assert_eq!(
        p.log_prob(&bad).unwrap().to_f64_vec(),
        vec![f64::NEG_INFINITY; 2]
    );
    assert!(p.entropy().is_err());

    let b = Binomial::from_probs(10, s64(0.3)).unwrap();
    let sb = statrs::distribution::Binomial::new(0.3, 10).unwrap();
    check(
        b.log_prob(&k).unwrap(),
        &ks,
        |v| sb.ln_pmf(v as u64),
        1e-12,
        "Binomial",
    );
    close(&[b.mean().unwrap().to_scalar().unwrap()], &[3.0], 1e-14);
    close(&[b.variance().unwrap().to_scalar().unwrap()], &[2.1], 1e-14);
    close(
        &[b.entropy().unwrap().to_scalar().unwrap()],
        &[sb.entropy().unwrap()],
        1e-12,
    );
    assert_eq!(b.mode().unwrap().to_scalar().unwrap(), 3.0);
    assert_eq!(
        b.log_prob(&s64(11.0)).unwrap().to_scalar().unwrap(),
        f64::NEG_INFINITY
    );
    // Certain outcomes: p = 0 puts all the mass on 0.
    let sure = Binomial::from_probs(4, s64(0.0)).unwrap();
    assert!(sure.log_prob(&s64(0.0)).unwrap().to_scalar().unwrap().abs() < 1e-13);
    // A finite support: KL in closed form.
    let other = Binomial::from_probs(10, s64(0.5)).unwrap();
    let kl = kl_divergence(&b, &other).unwrap().to_scalar().unwrap();
    let want: f64 = (0..=10u64)
        .map(|i| {
            sb.pmf(i)
                * (sb.ln_pmf(i)
                    - statrs::distribution::Binomial::new(0.5, 10)
                        .unwrap()
                        .ln_pmf(i))
        })
        .sum();
    assert!((kl - want).abs() < 1e-12, "{kl} vs {want}");
}

/// Mean and variance of `n` draws of `d` against the law's, within 5 standard errors.
fn sampling_matches(d: &dyn Distribution, n: usize, what: &str) {
    let draws = d
        .sample(&[n], &mut Rng::seed(17))
        .unwrap()
        .value()
        .to_f64_vec();
    let (m, v) = (
        draws.iter().sum::<f64>() / n as f64,
        draws.iter().map(|x| x * x).sum::<f64>() / n as f64,
    );
    let v = v - m * m;
    let (mean, var) = (
        d.mean().unwrap().to_scalar().unwrap(),
        d.variance().unwrap().to_scalar().unwrap(),
    );
    let se = (var / n as f64).sqrt();
    assert!(
        (m - mean).abs() < 5.0 * se,
        "{what}: sample mean {m} vs {mean} (s.e. {se})"
    );
    assert!(
        (v - var).abs() < 0.1 * var,
        "{what}: sample variance {v} vs {var}"
    );
    assert!(draws.iter().all(|x| x.is_finite()), "{what}");
}

#[test]
fn draws_follow_the_laws() {
    sampling_matches(
        &Gamma::new(s64(0.4), s64(2.0)).unwrap(),
        40_000,
        "Gamma(0.4, 2)",
    );
    sampling_matches(
        &Gamma::new(s64(7.0), s64(0.5)).unwrap(),
        40_000,
        "Gamma(7, 0.5)",
    );
    sampling_matches(&Beta::new(s64(0.5), s64(2.0)).unwrap(), 40_000, "Beta");
    sampling_matches(
        &StudentT::new(s64(6.0), s64(1.0), s64(2.0)).unwrap(),
        40_000,
        "StudentT",
    );
    sampling_matches(&Poisson::new(s64(4.5)).unwrap(), 40_000, "Poisson");
    sampling_matches(
        &Binomial::from_probs(20, s64(0.35)).unwrap(),
        40_000,
        "Binomial",
    );
    sampling_matches(&Exponential::new(s64(3.0)).unwrap(), 40_000, "Exponential");
    sampling_matches(
        &LogNormal::new(s64(0.0), s64(0.5)).unwrap(),
        40_000,
        "LogNormal",
    );
    sampling_matches(
        &Laplace::new(s64(-1.0), s64(0.5)).unwrap(),
        40_000,
        "Laplace",
    );
    sampling_matches(
        &Uniform::new(s64(2.0), s64(5.0)).unwrap(),
        40_000,
        "Uniform",
    );
    // Dirichlet draws lie on the simplex and average to the mean.
    let d = Dirichlet::new(t64(&[0.7, 1.5, 3.0], &[3])).unwrap();
    let draws = d
        .sample(&[20_000], &mut Rng::seed(3))
        .unwrap()
        .value()
        .to_f64_vec();
    let mut mean = [0.0; 3];
    for row in draws.chunks(3) {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        for k in 0..3 {
            mean[k] += row[k] / 20_000.0;
        }
    }
    close(&mean, &d.mean().unwrap().to_f64_vec(), 0.01);
    // The reparameterised laws carry gradients through their draws.
    let rate = t64(&[2.0], &[1]).to_var();
    let x = Exponential::new(rate.clone())
        .unwrap()
        .rsample(&[], &mut Rng::seed(0))
        .unwrap();
    let g = x.value().sum_all().unwrap().backward().unwrap();
    // x = −log(1 − u)/λ, so dx/dλ = −x/λ.
    let xv = x.value().to_f64_vec()[0];
    close(&g.get(&rate).unwrap().to_f64_vec(), &[-xv / 2.0], 1e-12);
}

/// The gradient of `f(θ)` (summed) from autodiff against central finite differences.
fn check_grad(f: impl Fn(&Tensor) -> Result<Tensor>, x0: &[f64], what: &str) {
    let shape = [x0.len()];
    let x = t64(x0, &shape).to_var();
    let analytic = f(&x).unwrap().sum_all().unwrap().backward().unwrap();
    let analytic = analytic.get(&x).unwrap().to_f64_vec();
    let eval = |v: &[f64]| {
        f(&t64(v, &shape))
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar()
            .unwrap()
    };
    let numeric = finite_diff(eval, x0, 1e-6);
    for (a, n) in analytic.iter().zip(&numeric) {
        assert!(
            (a - n).abs() <= 1e-6 * (1.0 + n.abs()),
            "{what}: {analytic:?} vs {numeric:?}"
        );
    }
}

#[test]
fn log_prob_and_entropy_gradients_match_finite_differences() {
    let x = t64(&[0.7, 2.0], &[2]);
    let y = t64(&[0.3, 0.8], &[2]);
    check_grad(
        |a| Gamma::new(a.clone(), s64(1.3))?.log_prob(&x),
        &[0.8, 3.0],
        "Gamma α",
    );
    check_grad(
        |b| Gamma::new(s64(2.0), b.clone())?.log_prob(&x),
        &[0.5, 2.0],
        "Gamma β",
    );
    check_grad(
        |a| Gamma::new(a.clone(), s64(1.0))?.entropy(),
        &[0.6, 4.0],
        "Gamma entropy",
    );
    check_grad(
        |a| Beta::new(a.clone(), s64(1.5))?.log_prob(&y),
        &[0.6, 2.5],
        "Beta α",
    );
    check_grad(
        |a| Beta::new(s64(0.9), a.clone())?.entropy(),
        &[0.7, 3.0],
        "Beta entropy",
    );
    check_grad(
        |a| Dirichlet::new(a.reshape([1, 2])?)?.log_prob(&t64(&[0.3, 0.7], &[1, 2])),
        &[0.8, 2.2],
        "Dirichlet",
    );
    check_grad(
        |nu| StudentT::new(nu.clone(), s64(0.0), s64(1.0))?.log_prob(&x),
        &[1.5, 8.0],
        "StudentT ν",
    );
    check_grad(
        |r| Poisson::new(r.clone())?.log_prob(&t64(&[3.0, 0.0], &[2])),
        &[2.0, 0.5],
        "Poisson",
    );
    check_grad(
        |a| Binomial::new(7, a.clone())?.log_prob(&t64(&[2.0, 7.0], &[2])),
        &[-0.4, 1.1],
        "Binomial",
    );
    check_grad(
        |m| LogNormal::new(m.clone(), s64(0.5))?.log_prob(&x),
        &[0.1, -0.3],
        "LogNormal μ",
    );
    check_grad(
        |b| Laplace::new(s64(0.0), b.clone())?.log_prob(&x),
        &[0.4, 1.7],
        "Laplace b",
    );
}

#[test]
fn bad_parameters_are_errors_that_name_them() {
    let msg = |r: pact::Result<()>| r.unwrap_err().to_string();
    let e = msg(Gamma::new(s64(-1.0), s64(1.0)).map(|_| ()));
    assert!(e.contains("concentration") && e.contains("(0, ∞)"), "{e}");
    let e = msg(Beta::new(s64(1.0), s64(f64::NAN)).map(|_| ()));
    assert!(e.contains("beta"), "{e}");
    let e = msg(Uniform::new(s64(2.0), s64(1.0)).map(|_| ()));
    assert!(e.contains("low must be below high"), "{e}");
    let e = msg(Dirichlet::new(t64(&[1.0], &[1])).map(|_| ()));
    assert!(e.contains("at least 2"), "{e}");
    let e = msg(StudentT::new(s64(0.0), s64(0.0), s64(1.0)).map(|_| ()));
    assert!(e.contains("df"), "{e}");
    let e = msg(Binomial::from_probs(3, s64(1.5)).map(|_| ()));
    assert!(e.contains("probabilities"), "{e}");
    assert!(StudentT::new(s64(1.0), s64(0.0), s64(1.0))
        .unwrap()
        .mean()
        .is_err());
}

/// The special-function differences on both sides of their switch to asymptotic series
/// (`pact::tensor::special::ASYMPTOTIC_FROM` = 20), and the closed-form divergences (math §11) in
/// every parameter, against finite differences.
#[test]
fn asymptotic_differences_and_divergences_have_exact_gradients() {
    let points = [0.7, 5.0, 19.0, 21.0, 300.0];
    check_grad(|x| x.lgamma_half_step(), &points, "lgamma_half_step");
    check_grad(|x| x.digamma_half_step(), &points, "digamma_half_step");
    check_grad(|x| x.gamma_entropy(), &points, "gamma_entropy");
    check_grad(
        |nu| StudentT::new(nu.clone(), s64(0.5), s64(2.0))?.entropy(),
        &[1.5, 30.0, 45.0],
        "StudentT entropy ν",
    );
    let q = |v: f64| s64(v);
    check_grad(
        |a| {
            kl_divergence(
                &Gamma::new(a.clone(), q(2.0))?,
                &Gamma::new(q(1.5), q(0.5))?,
            )
        },
        &[0.6, 3.0],
        "KL Gamma α",
    );
    check_grad(
        |b| kl_divergence(&Beta::new(q(2.0), b.clone())?, &Beta::new(q(0.7), q(3.0))?),
        &[0.6, 3.0],
        "KL Beta β",
    );
    check_grad(
        |r| kl_divergence(&Exponential::new(r.clone())?, &Exponential::new(q(1.0))?),
        // Both sides of ratio_excess's switch at |d| = ½.
        &[0.9, 1.2, 4.0, 0.1],
        "KL Exponential",
    );
    check_grad(
        |r| kl_divergence(&Poisson::new(q(2.0))?, &Poisson::new(r.clone())?),
        &[1.9, 7.0],
        "KL Poisson",
    );
    check_grad(
        |m| {
            kl_divergence(
                &Laplace::new(m.clone(), q(0.5))?,
                &Laplace::new(q(0.2), q(2.0))?,
            )
        },
        &[-1.0, 0.9],
        "KL Laplace μ",
    );
    check_grad(
        |s| {
            kl_divergence(
                &LogNormal::new(q(0.3), s.clone())?,
                &LogNormal::new(q(0.0), q(1.0))?,
            )
        },
        &[0.9, 3.0],
        "KL LogNormal σ",
    );
    let a =
        Tensor::from_f64_slice(&[1.0, 2.0, 3.0], [3], pact::DType::F64, pact::Device::Cpu).unwrap();
    check_grad(
        |b| kl_divergence(&Dirichlet::new(a.clone())?, &Dirichlet::new(b.clone())?),
        &[0.5, 1.5, 4.0],
        "KL Dirichlet β",
    );
}

/// math §11's golden values, and the divergences' edges: 0 between equal laws, `+∞` for a
/// uniform law reaching outside the other.
#[test]
fn closed_form_divergences_match_golden_values() {
    let kl = |q: &dyn Distribution, p: &dyn Distribution| {
        kl_divergence(q, p).unwrap().to_scalar().unwrap()
    };
    let gamma = |a: f64, b: f64| Gamma::new(s64(a), s64(b)).unwrap();
    assert!((kl(&gamma(2.0, 1.0), &gamma(1.0, 1.0)) - 0.422_784_335_098_467_1).abs() < 1e-15);
    let exp = |r: f64| Exponential::new(s64(r)).unwrap();
    assert!((kl(&exp(1.0), &exp(2.0)) - 0.306_852_819_440_054_7).abs() < 1e-15);
    let pois = |r: f64| Poisson::new(s64(r)).unwrap();
    assert!((kl(&pois(1.0), &pois(2.0)) - 0.306_852_819_440_054_7).abs() < 1e-15);
    assert_eq!(kl(&gamma(3.0, 2.0), &gamma(3.0, 2.0)), 0.0);
    let uni = |a: f64, b: f64| Uniform::new(s64(a), s64(b)).unwrap();
    assert!((kl(&uni(0.25, 0.5), &uni(0.0, 1.0)) - 4f64.ln()).abs() < 1e-15);
    assert_eq!(kl(&uni(0.0, 1.0), &uni(0.5, 2.0)), f64::INFINITY);
    // Families without a closed form between them are refused, not guessed.
    let err = kl_divergence(&gamma(1.0, 1.0), &exp(1.0))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Gamma") && err.contains("Exponential"),
        "{err}"
    );
}
