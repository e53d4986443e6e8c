//! Implicitly reparameterised draws of Gamma, Beta, Dirichlet and Student's t (math §12): the values are
//! those of `sample` for the same seed, and the per-draw gradients average to the gradients of
//! the moments (Monte Carlo over many draws, each with its own copy of the parameters, so that
//! the per-draw gradients and their standard error are seen).

use pact::dist::{Beta, Dirichlet, Distribution, Gamma, StudentT};
use pact::{DType, Device, Rng, Tensor};
use statrs::function::gamma::ln_gamma;

const CPU: Device = Device::Cpu;
const N: usize = 20_000;

fn full(v: f64, dims: &[usize]) -> Tensor {
    Tensor::full(v, dims.to_vec(), DType::F64, CPU)
}

/// The trigamma function ψ'(x), x > 0: the recurrence up to 20, then the asymptotic series.
fn trigamma(mut x: f64) -> f64 {
    let mut acc = 0.0;
    while x < 20.0 {
        acc += 1.0 / (x * x);
        x += 1.0;
    }
    let (x2, x3) = (x * x, x * x * x);
    acc + 1.0 / x + 1.0 / (2.0 * x2) + 1.0 / (6.0 * x3) - 1.0 / (30.0 * x3 * x2)
        + 1.0 / (42.0 * x3 * x2 * x2)
        - 1.0 / (30.0 * x3 * x3 * x3)
}

/// Checks that the mean of the per-draw gradients `g` is `want` within four standard errors.
fn mean_is(g: &[f64], want: f64, what: &str) {
    let n = g.len() as f64;
    let mean = g.iter().sum::<f64>() / n;
    let var = g.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let se = (var / n).sqrt();
    assert!(
        (mean - want).abs() <= 4.0 * se + 1e-9,
        "{what}: mean gradient {mean} ± {se}, expected {want}"
    );
    // The check must be able to fail: the standard error is well below the value.
    assert!(
        se < 0.05 * want.abs().max(0.1),
        "{what}: standard error {se}"
    );
}

#[test]
fn the_trigamma_helper_matches_its_golden_values() {
    let pi2_6 = std::f64::consts::PI.powi(2) / 6.0;
    assert!((trigamma(1.0) - pi2_6).abs() < 1e-12);
    assert!((trigamma(2.0) - (pi2_6 - 1.0)).abs() < 1e-12);
}

#[test]
fn gamma_gradients_average_to_the_moments_gradients() {
    let (alpha, rate) = (full(2.0, &[N]).to_var(), full(1.5, &[N]).to_var());
    let d = Gamma::new(alpha.clone(), rate.clone()).unwrap();
    assert!(d.has_rsample());
    let x = d.rsample(&[], &mut Rng::seed(1)).unwrap().value().clone();
    let grads = x.sum_all().unwrap().backward().unwrap();
    // d/dα E[x] = 1/β, d/dβ E[x] = −α/β².
    let ga = grads.get(&alpha).unwrap().to_f64_vec();
    mean_is(&ga, 1.0 / 1.5, "Gamma d/dα E[x]");
    let gb = grads.get(&rate).unwrap().to_f64_vec();
    mean_is(&gb, -2.0 / 2.25, "Gamma d/dβ E[x]");
    // d/dα E[log z] = ψ'(α), at small and large shapes.
    for a in [0.3, 1.0, 2.0, 10.0] {
        let alpha = full(a, &[N]).to_var();
        let d = Gamma::new(alpha.clone(), full(1.0, &[N])).unwrap();
        let z = d.rsample(&[], &mut Rng::seed(2)).unwrap().value().clone();
        let grads = z.log().unwrap().sum_all().unwrap().backward().unwrap();
        let g = grads.get(&alpha).unwrap().to_f64_vec();
        mean_is(&g, trigamma(a), &format!("Gamma({a}) d/dα E[log z]"));
    }
}

#[test]
fn beta_and_dirichlet_gradients_average_to_the_moments_gradients() {
    for (a, b) in [(1.0, 2.0), (0.5, 0.5), (4.0, 1.5)] {
        let (alpha, beta) = (full(a, &[N]).to_var(), full(b, &[N]).to_var());
        let d = Beta::new(alpha.clone(), beta.clone()).unwrap();
        assert!(d.has_rsample());
        let x = d.rsample(&[], &mut Rng::seed(3)).unwrap().value().clone();
        let grads = x.sum_all().unwrap().backward().unwrap();
        // E[x] = a/(a + b): d/da = b/(a + b)², d/db = −a/(a + b)².
        let s2 = (a + b) * (a + b);
        let what = format!("Beta({a}, {b})");
        mean_is(&grads.get(&alpha).unwrap().to_f64_vec(), b / s2, &what);
        mean_is(&grads.get(&beta).unwrap().to_f64_vec(), -a / s2, &what);
    }
    let alpha = Tensor::from_f64_vec((0..N).flat_map(|_| [1.0, 2.0, 3.0]).collect(), [N, 3], CPU)
        .unwrap()
        .to_var();
    let d = Dirichlet::new(alpha.clone()).unwrap();
    assert!(d.has_rsample());
    let x = d.rsample(&[], &mut Rng::seed(4)).unwrap().value().clone();
    let rows = x.to_f64_vec();
    assert!(rows
        .chunks(3)
        .all(|r| (r.iter().sum::<f64>() - 1.0).abs() < 1e-12));
    let first = x.narrow(1, 0, 1).unwrap().sum_all().unwrap();
    let g = first.backward().unwrap().get(&alpha).unwrap().to_f64_vec();
    // E[x_1] = α_1/α₀: d/dα_1 = (α₀ − α_1)/α₀², d/dα_k = −α_1/α₀² (k ≠ 1).
    let column = |k: usize| g.iter().skip(k).step_by(3).copied().collect::<Vec<_>>();
    mean_is(&column(0), 5.0 / 36.0, "Dirichlet d/dα_1 E[x_1]");
    mean_is(&column(1), -1.0 / 36.0, "Dirichlet d/dα_2 E[x_1]");
    mean_is(&column(2), -1.0 / 36.0, "Dirichlet d/dα_3 E[x_1]");
}

#[test]
fn reparameterised_draws_are_the_draws_of_sample() {
    let laws: Vec<Box<dyn Distribution>> = vec![
        Box::new(Gamma::new(full(0.7, &[3]), full(2.0, &[3])).unwrap()),
        Box::new(Beta::new(full(0.7, &[3]), full(2.5, &[3])).unwrap()),
        Box::new(Dirichlet::new(full(1.3, &[2, 4])).unwrap()),
        Box::new(StudentT::new(full(3.5, &[3]), full(-1.0, &[3]), full(0.5, &[3])).unwrap()),
    ];
    for law in &laws {
        let exact = law
            .sample(&[5], &mut Rng::seed(7))
            .unwrap()
            .value()
            .to_f64_vec();
        let rep = law
            .rsample(&[5], &mut Rng::seed(7))
            .unwrap()
            .value()
            .to_f64_vec();
        assert_eq!(exact.len(), rep.len());
        for (e, r) in exact.iter().zip(&rep) {
            assert!(
                (e - r).abs() <= 1e-12 * e.abs().max(1e-300),
                "{}: {e} vs {r}",
                law.name()
            );
        }
    }
}

/// `E|T|` of Student's t with `ν > 1` degrees of freedom:
/// `2 √ν Γ((ν + 1)/2) / (√π (ν − 1) Γ(ν/2))`.
fn mean_abs_t(nu: f64) -> f64 {
    let log = (ln_gamma((nu + 1.0) / 2.0) - ln_gamma(nu / 2.0)).exp();
    2.0 * nu.sqrt() * log / (std::f64::consts::PI.sqrt() * (nu - 1.0))
}

#[test]
fn student_t_gradients_average_to_the_moments_gradients() {
    let (nu, loc, scale) = (5.0, 0.3, 2.0);
    let (df, mu, sigma) = (
        full(nu, &[N]).to_var(),
        full(loc, &[N]).to_var(),
        full(scale, &[N]).to_var(),
    );
    let d = StudentT::new(df.clone(), mu.clone(), sigma.clone()).unwrap();
    assert!(d.has_rsample());
    let x = d.rsample(&[], &mut Rng::seed(6)).unwrap().value().clone();
    // E|x − 0.3| = σ E|T|: d/dσ = E|T|, d/dν = σ dE|T|/dν, d/dμ = E[sign(x − μ)] = 0.
    let spread = x.add_scalar(-loc).unwrap().abs().unwrap();
    let grads = spread.sum_all().unwrap().backward().unwrap();
    mean_is(
        &grads.get(&sigma).unwrap().to_f64_vec(),
        mean_abs_t(nu),
        "StudentT d/dσ E|x − μ|",
    );
    let h = 1e-5;
    let d_nu = scale * (mean_abs_t(nu + h) - mean_abs_t(nu - h)) / (2.0 * h);
    let g_nu = grads.get(&df).unwrap().to_f64_vec();
    let n = g_nu.len() as f64;
    let mean = g_nu.iter().sum::<f64>() / n;
    let se = (g_nu.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
    assert!(
        (mean - d_nu).abs() <= 4.0 * se,
        "StudentT d/dν: {mean} ± {se}, expected {d_nu}"
    );
    assert!(
        se < 0.5 * d_nu.abs(),
        "StudentT d/dν: standard error {se} for {d_nu}"
    );
    // E[x] = μ: d/dμ = 1 for every draw.
    let grads = x.sum_all().unwrap().backward().unwrap();
    let g_mu = grads.get(&mu).unwrap().to_f64_vec();
    assert!(g_mu.iter().all(|&g| (g - 1.0).abs() < 1e-12));
}
