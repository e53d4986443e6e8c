//! `Exact` against hand-computed expectations.

use pact::dist::{Bernoulli, Normal};
use pact::nn::ParamStore;
use pact::ppl::Ctx;
use pact::{DType, Result, Rng, Tensor};
use pact_inference::objectives::{Exact, Objective};

use super::common::CPU;

fn s(v: f64) -> Tensor {
    Tensor::scalar(v, DType::F64, CPU)
}

fn log_sigmoid(a: f64) -> f64 {
    -(1.0 + (-a).exp()).ln()
}

fn log_normal(x: f64, mu: f64) -> f64 {
    -0.5 * (x - mu).powi(2) - 0.5 * (2.0 * std::f64::consts::PI).ln()
}

/// Σ_z q(z)[log p(z) + log N(x; 2z, 1) (− log q(z))] for prior logit 0.3, guide logit 0.7.
fn by_hand(x: f64, entropy: bool) -> f64 {
    [0.0, 1.0]
        .iter()
        .map(|&z| {
            let sign = if z == 1.0 { 1.0 } else { -1.0 };
            let lq = log_sigmoid(sign * 0.7);
            let f = log_sigmoid(sign * 0.3) + log_normal(x, 2.0 * z);
            lq.exp() * (f - if entropy { lq } else { 0.0 })
        })
        .sum()
}

#[test]
fn exact_equals_the_hand_computed_expectation() {
    let model = |ctx: &mut Ctx| -> Result<()> {
        let z = ctx.sample("z", Bernoulli::new(s(0.3))?)?;
        ctx.observe("x", Normal::new(z.mul_scalar(2.0)?, s(1.0))?, &s(1.5))?;
        Ok(())
    };
    let guide =
        |ctx: &mut Ctx| -> Result<()> { ctx.sample("z", Bernoulli::new(s(0.7))?).map(|_| ()) };
    let params = ParamStore::new(DType::F64, CPU);
    let mut rng = Rng::seed(0);
    let map = Exact::map()
        .estimate(&model, &guide, &params, &mut rng)
        .unwrap();
    assert!((map.objective - by_hand(1.5, false)).abs() < 1e-12);
    let elbo = Exact::elbo()
        .estimate(&model, &guide, &params, &mut rng)
        .unwrap();
    assert!((elbo.objective - by_hand(1.5, true)).abs() < 1e-12);
    assert!((elbo.objective - map.objective - elbo.entropy.unwrap()).abs() < 1e-12);
}

#[test]
fn exact_takes_the_expectation_per_plate_element() {
    let xs = Tensor::from_f64_vec(vec![1.5, -0.5, 2.5], [3], CPU).unwrap();
    let model = |ctx: &mut Ctx| -> Result<()> {
        ctx.plate("data", 3, |ctx| {
            let z = ctx.sample("z", Bernoulli::new(s(0.3))?)?;
            ctx.observe("x", Normal::new(z.mul_scalar(2.0)?, s(1.0))?, &xs)?;
            Ok(())
        })
    };
    let guide = |ctx: &mut Ctx| -> Result<()> {
        ctx.plate("data", 3, |ctx| {
            ctx.sample("z", Bernoulli::new(s(0.7))?).map(|_| ())
        })
    };
    let params = ParamStore::new(DType::F64, CPU);
    let expected: f64 = [1.5, -0.5, 2.5].iter().map(|&x| by_hand(x, true)).sum();
    for parallel in [false, true] {
        let e = Exact::elbo()
            .parallel(parallel)
            .estimate(&model, &guide, &params, &mut Rng::seed(0))
            .unwrap();
        assert!(
            (e.objective - expected).abs() < 1e-12,
            "{} vs {expected} (parallel: {parallel})",
            e.objective
        );
    }
}

#[test]
fn parallel_exact_takes_guided_sites_as_the_guide() {
    // Guided sites in a plate: prior Bernoulli(σ(0.3)), posterior Bernoulli(σ(φ_n)).
    let xs = Tensor::from_f64_vec(vec![1.5, -0.5, 2.5], [3], CPU).unwrap();
    let model = |ctx: &mut Ctx| -> Result<()> {
        let phi = ctx.param("phi", || {
            Tensor::from_f64_vec(vec![0.7, -0.2, 1.1], [3], CPU)
        })?;
        ctx.plate("data", 3, |ctx| {
            let z = ctx.sample_guided("z", Bernoulli::new(s(0.3))?, Bernoulli::new(phi)?)?;
            ctx.observe("x", Normal::new(z.mul_scalar(2.0)?, s(1.0))?, &xs)?;
            Ok(())
        })
    };
    let nothing = |_: &mut Ctx| -> Result<()> { Ok(()) };
    let params = ParamStore::new(DType::F64, CPU);
    for entropy in [false, true] {
        let exact = || if entropy { Exact::elbo() } else { Exact::map() };
        let brute = exact()
            .parallel(false)
            .estimate(&model, &nothing, &params, &mut Rng::seed(0))
            .unwrap();
        let fast = exact()
            .parallel(true)
            .estimate(&model, &nothing, &params, &mut Rng::seed(0))
            .unwrap();
        assert!((brute.objective - fast.objective).abs() < 1e-10);
        let phi = params.get("phi").unwrap().tensor();
        let gb = brute
            .loss
            .backward()
            .unwrap()
            .get(&phi)
            .unwrap()
            .to_f64_vec();
        let gf = fast
            .loss
            .backward()
            .unwrap()
            .get(&phi)
            .unwrap()
            .to_f64_vec();
        for (x, y) in gb.iter().zip(&gf) {
            assert!((x - y).abs() < 1e-10, "{gb:?} vs {gf:?}");
        }
    }
}

#[test]
fn exact_switches_to_parallel_enumeration_when_run_by_run_is_too_large() {
    // Twenty binary guide sites: 2^20 joint configurations. Run by run is refused after one
    // run of the guide (not after the 65,536 runs it may take); by default Exact then
    // enumerates in parallel, a few runs in all.
    let runs = std::cell::Cell::new(0);
    let model = |ctx: &mut Ctx| -> Result<()> {
        for i in 0..20 {
            ctx.sample(&format!("z_{i}"), Bernoulli::new(s(0.0))?)?;
        }
        Ok(())
    };
    let guide = |ctx: &mut Ctx| -> Result<()> {
        runs.set(runs.get() + 1);
        for i in 0..20 {
            ctx.sample(&format!("z_{i}"), Bernoulli::new(s(0.1 * i as f64))?)?;
        }
        Ok(())
    };
    let params = ParamStore::new(DType::F64, CPU);
    let err = Exact::map()
        .parallel(false)
        .estimate(&model, &guide, &params, &mut Rng::seed(0))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("1048576 joint configurations"), "{err}");
    assert_eq!(runs.get(), 1);
    runs.set(0);
    let e = Exact::elbo()
        .estimate(&model, &guide, &params, &mut Rng::seed(0))
        .unwrap();
    assert!(runs.get() <= 3, "{} runs of the guide", runs.get());
    // E_q[log p] = 20 log ½ whatever q; the entropy is that of the twenty Bernoullis.
    let h: f64 = (0..20)
        .map(|i| {
            let a = 0.1 * i as f64;
            let (p, q) = (log_sigmoid(a).exp(), log_sigmoid(-a).exp());
            -(p * p.ln() + q * q.ln())
        })
        .sum();
    assert!((e.entropy.unwrap() - h).abs() < 1e-10);
    assert!((e.objective - (20.0 * 0.5f64.ln() + h)).abs() < 1e-10);
    assert!(e.sites.iter().all(|r| r.estimator == "enumerated"));
}

/// A binary chain observed through N(2 z_t, 1) and a guide, both with learnable parameters:
/// structured, q(z_t | z_{t−1}), or factorised, q(z_t) (whose weights then leave out the
/// model's neighbour in each elimination).
fn chain_pair(
    ys: Vec<f64>,
    structured: bool,
) -> (
    impl Fn(&mut Ctx) -> Result<()>,
    impl Fn(&mut Ctx) -> Result<()>,
) {
    let t = ys.len();
    let model = move |ctx: &mut Ctx| -> Result<()> {
        let a = ctx.param("model.a", || {
            Tensor::from_f64_vec(vec![-0.5, 1.0], [2], CPU)
        })?;
        let mut prev: Option<Tensor> = None;
        ctx.markov(t, |ctx, i| {
            let logit = match &prev {
                None => s(0.2),
                Some(z) => pact::ppl::lookup(&a, z)?,
            };
            let z = ctx.sample(&format!("z_{i}"), Bernoulli::new(logit)?)?;
            ctx.observe(
                &format!("y_{i}"),
                Normal::new(z.mul_scalar(2.0)?, s(1.0))?,
                &s(ys[i]),
            )?;
            prev = Some(z);
            Ok(())
        })
    };
    let guide = move |ctx: &mut Ctx| -> Result<()> {
        let b = ctx.param("guide.b", || {
            Tensor::from_f64_vec(vec![0.3, -0.4, 0.8], [3], CPU)
        })?;
        let mut prev: Option<Tensor> = None;
        ctx.markov(t, |ctx, i| {
            let code = match &prev {
                Some(z) if structured => z.add_scalar(1.0)?,
                _ => s(0.0),
            };
            let z = ctx.sample(
                &format!("z_{i}"),
                Bernoulli::new(pact::ppl::lookup(&b, &code)?)?,
            )?;
            prev = Some(z);
            Ok(())
        })
    };
    (model, guide)
}

#[test]
fn parallel_and_run_by_run_exact_agree_with_their_gradients() {
    for (structured, entropy) in [(true, false), (true, true), (false, false), (false, true)] {
        let (model, guide) = chain_pair(vec![0.4, 2.1, 1.7, -0.3, 0.9, 2.5], structured);
        let params = ParamStore::new(DType::F64, CPU);
        let exact = || if entropy { Exact::elbo() } else { Exact::map() };
        let brute = exact()
            .parallel(false)
            .estimate(&model, &guide, &params, &mut Rng::seed(0))
            .unwrap();
        let fast = exact()
            .parallel(true)
            .estimate(&model, &guide, &params, &mut Rng::seed(0))
            .unwrap();
        assert!((brute.objective - fast.objective).abs() < 1e-10);
        assert!((brute.entropy.unwrap() - fast.entropy.unwrap()).abs() < 1e-10);
        let (gb, gf) = (
            brute.loss.backward().unwrap(),
            fast.loss.backward().unwrap(),
        );
        for name in ["model.a", "guide.b"] {
            let p = params.get(name).unwrap().tensor();
            let (b, f) = (
                gb.get(&p).unwrap().to_f64_vec(),
                gf.get(&p).unwrap().to_f64_vec(),
            );
            for (x, y) in b.iter().zip(&f) {
                assert!((x - y).abs() < 1e-9, "{name}: {b:?} vs {f:?}");
            }
        }
    }
}

#[test]
fn beta_weighs_the_latent_terms_alike_in_both_engines() {
    let (model, guide) = chain_pair(vec![0.4, 2.1, 1.7, -0.3], true);
    let params = ParamStore::new(DType::F64, CPU);
    let run = |exact: Exact| {
        let e = exact
            .clone()
            .estimate(&model, &guide, &params, &mut Rng::seed(0))
            .unwrap();
        let grads = e.loss.backward().unwrap();
        let flat: Vec<f64> = ["model.a", "guide.b"]
            .iter()
            .flat_map(|name| {
                let p = params.get(name).unwrap().tensor();
                grads.get(&p).unwrap().to_f64_vec()
            })
            .collect();
        (e.objective, e.entropy.unwrap(), flat)
    };
    let beta = 0.3;
    for entropy in [false, true] {
        let exact = || if entropy { Exact::elbo() } else { Exact::map() };
        // β = 0 leaves the likelihood, β = 1 the usual objective; β between mixes them.
        let (lik, _, g_lik) = run(exact().beta(0.0).parallel(false));
        let (full, h, g_full) = run(exact().parallel(false));
        let want = lik + beta * (full - lik);
        for parallel in [false, true] {
            let (got, got_h, g) = run(exact().beta(beta).parallel(parallel));
            assert!((got - want).abs() < 1e-10, "{got} vs {want}");
            assert!(
                (got_h - h).abs() < 1e-10,
                "the entropy is reported unweighted"
            );
            for ((a, b), c) in g.iter().zip(&g_lik).zip(&g_full) {
                let w = b + beta * (c - b);
                assert!((a - w).abs() < 1e-9, "{a} vs {w} (parallel: {parallel})");
            }
        }
    }
    for bad in [-0.5, f64::NAN, f64::INFINITY] {
        assert!(Exact::elbo()
            .beta(bad)
            .estimate(&model, &guide, &params, &mut Rng::seed(0))
            .is_err());
    }
}
