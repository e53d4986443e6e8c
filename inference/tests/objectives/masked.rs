//! Masked sites (`Ctx::masked`) in the sampled objectives: the closed-form prior and entropy
//! terms count only the unmasked elements.

use pact::dist::Bernoulli;
use pact::nn::ParamStore;
use pact::ppl::Ctx;
use pact::{DType, Device, Rng, Tensor};
use pact_inference::objectives::{Elbo, Estimator, Objective, SvoMap};

const CPU: Device = Device::Cpu;

fn t(v: &[f64]) -> Tensor {
    Tensor::from_f64_slice(v, [v.len()], DType::F64, CPU).unwrap()
}

fn sigmoid(a: f64) -> f64 {
    1.0 / (1.0 + (-a).exp())
}

#[test]
fn closed_form_terms_count_only_unmasked_elements() {
    let prior = [0.3, -1.0, 2.0];
    let post = [1.5, 0.2, -0.7];
    let mask = [1.0, 0.0, 1.0];
    let model = move |ctx: &mut Ctx| -> pact::Result<()> {
        ctx.masked(&t(&mask), |ctx| {
            ctx.plate("batch", 3, |ctx| {
                ctx.sample_guided("z", Bernoulli::new(t(&prior))?, Bernoulli::new(t(&post))?)
                    .map(|_| ())
            })
        })
    };
    let guide = |_: &mut Ctx| -> pact::Result<()> { Ok(()) };
    let params = ParamStore::new(DType::F64, CPU);
    let mut expected_prior = 0.0;
    let mut expected_entropy = 0.0;
    for i in 0..3 {
        let (q, p) = (sigmoid(post[i]), sigmoid(prior[i]));
        expected_prior += mask[i] * (q * p.ln() + (1.0 - q) * (1.0 - p).ln());
        expected_entropy -= mask[i] * (q * q.ln() + (1.0 - q) * (1.0 - q).ln());
    }
    let svo = SvoMap::new(Estimator::Concrete)
        .estimate(&model, &guide, &params, &mut Rng::seed(0))
        .unwrap();
    assert!(svo.sites[0].closed_form_prior);
    assert!(
        (svo.objective - expected_prior).abs() < 1e-12,
        "{}",
        svo.objective
    );
    let elbo = Elbo::new(Estimator::Concrete)
        .estimate(&model, &guide, &params, &mut Rng::seed(0))
        .unwrap();
    let want = expected_prior + expected_entropy;
    assert!(
        (elbo.objective - want).abs() < 1e-12,
        "{} vs {want}",
        elbo.objective
    );
    assert!((elbo.entropy.unwrap() - expected_entropy).abs() < 1e-12);
}
