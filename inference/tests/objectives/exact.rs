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
    let e = Exact::elbo()
        .estimate(&model, &guide, &params, &mut Rng::seed(0))
        .unwrap();
    let expected: f64 = [1.5, -0.5, 2.5].iter().map(|&x| by_hand(x, true)).sum();
    assert!(
        (e.objective - expected).abs() < 1e-12,
        "{} vs {expected}",
        e.objective
    );
}

#[test]
fn exact_refuses_too_many_configurations_before_the_work() {
    // Twenty binary guide sites: 2^20 joint configurations, refused after one run of the
    // guide (not after the 65,536 runs brute-force enumeration may take).
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
            ctx.sample(&format!("z_{i}"), Bernoulli::new(s(0.0))?)?;
        }
        Ok(())
    };
    let params = ParamStore::new(DType::F64, CPU);
    let err = Exact::map()
        .estimate(&model, &guide, &params, &mut Rng::seed(0))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("1048576 joint configurations"), "{err}");
    assert_eq!(runs.get(), 1);
}
