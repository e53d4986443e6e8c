//! A Beta guide fitted by the ELBO through implicitly reparameterised draws (`Beta::rsample`,
//! math §12) on the Beta–Bernoulli model, whose posterior is known exactly:
//! `p ~ Beta(1, 1)`, `x_i ~ Bernoulli(p)`, 15 heads in 20 flips, posterior `Beta(16, 6)`.

use pact::dist::{Bernoulli, Beta};
use pact::nn::{Adam, AdamConfig, Optimizer, ParamStore};
use pact::ppl::Ctx;
use pact::{DType, Device, Rng, Tensor};
use pact_inference::objectives::{Elbo, Estimator, Objective};

const CPU: Device = Device::Cpu;
const HEADS: usize = 15;
const FLIPS: usize = 20;

fn s(v: f64) -> Tensor {
    Tensor::scalar(v, DType::F64, CPU)
}

#[test]
fn a_beta_guide_fitted_by_the_elbo_recovers_the_conjugate_posterior() {
    let flips: Vec<f64> = (0..FLIPS).map(|i| f64::from(u8::from(i < HEADS))).collect();
    let x = Tensor::from_f64_slice(&flips, [FLIPS], DType::F64, CPU).unwrap();
    let model = move |ctx: &mut Ctx| -> pact::Result<()> {
        let p = ctx.sample("p", Beta::new(s(1.0), s(1.0))?)?;
        let probs = p.broadcast_as(&pact::Shape::new([FLIPS]))?;
        ctx.plate("flips", FLIPS, |ctx| {
            ctx.observe("x", Bernoulli::from_probs(probs)?, &x)
                .map(|_| ())
        })
    };
    // q(p) = Beta(e^u, e^v), starting at Beta(1, 1).
    let guide = |ctx: &mut Ctx| -> pact::Result<()> {
        let a = ctx.param("u", || Ok(s(0.0)))?.exp()?;
        let b = ctx.param("v", || Ok(s(0.0)))?.exp()?;
        ctx.sample("p", Beta::new(a, b)?).map(|_| ())
    };
    let params = ParamStore::new(DType::F64, CPU);
    let mut elbo = Elbo::new(Estimator::Concrete);
    let mut rng = Rng::seed(5);
    // A first estimate creates the parameters and reports how the site is estimated.
    let first = elbo.estimate(&model, &guide, &params, &mut rng).unwrap();
    assert_eq!(first.sites.len(), 1);
    assert_eq!(
        first.sites[0].estimator, "reparameterised",
        "{:?}",
        first.sites
    );
    let mut opt = Adam::new(
        params.trainable(),
        AdamConfig {
            lr: 0.05,
            ..Default::default()
        },
    );
    let steps = 3000;
    for step in 0..steps {
        opt.set_learning_rate(0.05 * (0.02f64).powf(step as f64 / steps as f64));
        let e = elbo.estimate(&model, &guide, &params, &mut rng).unwrap();
        opt.step(&e.loss.backward().unwrap()).unwrap();
    }
    let value = |name: &str| {
        params
            .get(name)
            .unwrap()
            .tensor()
            .to_scalar()
            .unwrap()
            .exp()
    };
    let (a, b) = (value("u"), value("v"));
    // The exact posterior is Beta(16, 6): mean 16/22, concentration 22.
    let mean = a / (a + b);
    assert!(
        (mean - 16.0 / 22.0).abs() < 0.02,
        "q = Beta({a:.2}, {b:.2})"
    );
    assert!(
        (a + b - 22.0).abs() < 0.25 * 22.0,
        "q = Beta({a:.2}, {b:.2})"
    );
}
