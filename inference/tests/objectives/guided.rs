//! Guided sites (`Ctx::sample_guided`): a model that computes its own amortised posterior
//! gives every objective exactly what the same model with a separate guide gives.

use super::common::{data, guide, model, s, BITS, CPU, DIM, PRIOR, W};
use pact::dist::{Bernoulli, Independent, Normal};
use pact::nn::{Linear, ParamStore};
use pact::ppl::{condition, decode, run, Ctx, DecodeRule, Values};
use pact::{DType, Result, Rng, Tensor};
use pact_inference::objectives::{Elbo, Estimator, Exact, Objective, ScoreFunction, SvoMap};
use std::collections::BTreeMap;

/// The model of `common::model` with the guide's linear layer inside it: each bit is a guided
/// site whose posterior logits the model computes from `x`.
fn guided_model(x: Tensor, layer: Linear) -> impl Fn(&mut Ctx) -> Result<()> {
    let n = x.dims()[0];
    move |ctx: &mut Ctx| {
        let logits = layer.forward(&x)?;
        ctx.plate("data", n, |ctx| {
            let mut loc = Tensor::zeros([n, DIM], DType::F64, CPU);
            for (j, row) in W.iter().enumerate() {
                let prior = Bernoulli::new(Tensor::scalar(PRIOR[j], DType::F64, CPU))?;
                let posterior = Bernoulli::new(logits.narrow(1, j, 1)?.squeeze(1)?)?;
                let z = ctx.sample_guided(&format!("z{j}"), prior, posterior)?;
                let w = Tensor::from_f64_vec(row.to_vec(), [1, DIM], CPU)?;
                loc = loc.add(&z.reshape([n, 1])?.matmul(&w)?)?;
            }
            ctx.observe("x", Independent::new(Normal::new(loc, s(1.0))?, 1)?, &x)?;
            Ok(())
        })
    }
}

fn no_guide(_: &mut Ctx) -> Result<()> {
    Ok(())
}

/// The loss and its gradient on every parameter.
fn loss_and_grads(
    objective: &mut impl Objective,
    model: &impl Fn(&mut Ctx) -> Result<()>,
    guide: &impl Fn(&mut Ctx) -> Result<Tensor>,
    params: &ParamStore,
    seed: u64,
) -> (f64, BTreeMap<String, Vec<f64>>) {
    let e = objective
        .estimate(model, guide, params, &mut Rng::seed(seed))
        .unwrap();
    let grads = e.loss.backward().unwrap();
    let g = params
        .trainable()
        .into_iter()
        .map(|(name, p)| {
            let v = grads
                .get(&p.tensor())
                .map(|g| g.to_f64_vec())
                .unwrap_or_default();
            (name, v)
        })
        .collect();
    (e.loss.to_scalar().unwrap(), g)
}

fn assert_same(objective: impl Objective + Clone, what: &str) {
    let x = data(6, &mut Rng::seed(3)).unwrap();
    let params = ParamStore::new(DType::F64, CPU);
    let layer = Linear::new(&params.pp("guide"), DIM, BITS, &mut Rng::seed(9)).unwrap();
    let separate = model(x.clone());
    let with_guide = guide(x.clone(), layer.clone());
    let inside = guided_model(x, layer);
    let empty = |ctx: &mut Ctx| no_guide(ctx).map(|_| Tensor::scalar(0.0, DType::F64, CPU));
    for seed in 0..3 {
        let (l1, g1) = loss_and_grads(
            &mut objective.clone(),
            &separate,
            &with_guide,
            &params,
            seed,
        );
        let (l2, g2) = loss_and_grads(&mut objective.clone(), &inside, &empty, &params, seed);
        assert!(
            (l1 - l2).abs() < 1e-12 * (1.0 + l1.abs()),
            "{what}: {l1} vs {l2}"
        );
        assert_eq!(g1.keys().collect::<Vec<_>>(), g2.keys().collect::<Vec<_>>());
        for (name, a) in &g1 {
            let b = &g2[name];
            assert!(!a.is_empty(), "{what}: no gradient on {name}");
            assert_eq!(a.len(), b.len(), "{what}: {name}");
            for (u, v) in a.iter().zip(b) {
                assert!(
                    (u - v).abs() < 1e-12 * (1.0 + u.abs()),
                    "{what}: {name}: {u} vs {v}"
                );
            }
        }
    }
}

#[test]
fn guided_sites_equal_a_separate_guide_under_every_objective() {
    assert_same(SvoMap::new(Estimator::Concrete), "SvoMap, Concrete");
    assert_same(
        SvoMap::new(Estimator::StraightThrough),
        "SvoMap, straight-through",
    );
    assert_same(
        SvoMap::new(Estimator::ScoreFunction),
        "SvoMap, score function",
    );
    assert_same(Elbo::new(Estimator::Concrete), "ELBO, Concrete");
    assert_same(ScoreFunction::map(), "ScoreFunction::map");
    assert_same(Exact::map(), "Exact::map");
    assert_same(Exact::elbo(), "Exact::elbo");
}

#[test]
fn guided_sites_decode_from_the_posterior_and_condition_like_any_site() {
    let prior = || Bernoulli::new(s(-4.0)).unwrap(); // the prior says 0
    let model = move |ctx: &mut Ctx| -> Result<Tensor> {
        let posterior = Bernoulli::new(s(2.0))?; // the posterior says 1
        ctx.sample_guided("z", prior(), posterior)
    };
    let params = ParamStore::new(DType::F64, CPU);
    let (z, trace) = run(&decode(DecodeRule::Mode, model), &params, &mut Rng::seed(0)).unwrap();
    assert_eq!(z.to_scalar().unwrap(), 1.0);
    let site = trace.get("z").unwrap();
    assert!(site.decoded && site.is_guided());
    // The prior scores the decoded value: log σ(−4)... of z = 1 is log σ(−4).
    let log_sigmoid = |a: f64| -(1.0 + (-a).exp()).ln();
    let lp = site.log_prob.as_ref().unwrap().to_scalar().unwrap();
    assert!((lp - log_sigmoid(-4.0)).abs() < 1e-12);
    let lq = site.guide_log_prob.as_ref().unwrap().to_scalar().unwrap();
    assert!((lq - log_sigmoid(2.0)).abs() < 1e-12);
    // Conditioning makes it an observation of the prior, with no posterior term.
    let observed = Values::new().with("z", s(0.0));
    let (_, trace) = run(&condition(observed, model), &params, &mut Rng::seed(0)).unwrap();
    let site = trace.get("z").unwrap();
    assert!(!site.is_latent() && site.guide_log_prob.is_none());
    // Laws of different shapes are refused, naming the site.
    let bad = |ctx: &mut Ctx| -> Result<Tensor> {
        let wide = Bernoulli::new(Tensor::zeros([2], DType::F64, CPU))?;
        ctx.sample_guided("w", prior(), wide)
    };
    let err = run(&bad, &params, &mut Rng::seed(0))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"w\"") && err.contains("same shapes"),
        "{err}"
    );
}

#[test]
fn a_site_both_guided_and_in_the_guide_is_refused() {
    let model = |ctx: &mut Ctx| -> Result<()> {
        ctx.sample_guided("z", Bernoulli::new(s(0.0))?, Bernoulli::new(s(1.0))?)?;
        Ok(())
    };
    let guide = |ctx: &mut Ctx| -> Result<Tensor> { ctx.sample("z", Bernoulli::new(s(0.5))?) };
    let params = ParamStore::new(DType::F64, CPU);
    let err = SvoMap::new(Estimator::Concrete)
        .estimate(&model, &guide, &params, &mut Rng::seed(0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("guided in the model"), "{err}");
}

/// The traps a new user fell into, now errors that say what is wrong: a guide site whose name
/// matches no model site (`zz` for `z`), and an optimiser built before the model created its
/// parameters.
#[test]
fn misspelt_guide_sites_and_early_optimisers_are_errors() {
    use pact::nn::{Adam, AdamConfig, Optimizer};
    let model = |ctx: &mut Ctx| -> Result<()> {
        let z = ctx.sample("z", Bernoulli::new(s(0.0))?)?;
        ctx.observe("x", Normal::new(z, s(1.0))?, &s(1.0))
            .map(|_| ())
    };
    let misspelt = |ctx: &mut Ctx| -> Result<Tensor> { ctx.sample("zz", Bernoulli::new(s(0.5))?) };
    let params = ParamStore::new(DType::F64, CPU);
    let err = SvoMap::new(Estimator::Concrete)
        .estimate(&model, &misspelt, &params, &mut Rng::seed(0))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"zz\"") && err.contains("latent sites: z"),
        "{err}"
    );

    let guide = |ctx: &mut Ctx| -> Result<Tensor> {
        let phi = ctx.param("phi", || Ok(s(0.0)))?;
        ctx.sample("z", Bernoulli::new(phi)?)
    };
    let params = ParamStore::new(DType::F64, CPU);
    // Built before any run: the store is still empty.
    let mut early = Adam::new(params.trainable(), AdamConfig::default());
    let mut svo = SvoMap::new(Estimator::Concrete);
    let e = svo
        .estimate(&model, &guide, &params, &mut Rng::seed(0))
        .unwrap();
    let err = early
        .step(&e.loss.backward().unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("updates no parameters") && err.contains("ctx.param"),
        "{err}"
    );
    // Built after the first run it trains φ.
    let mut late = Adam::new(params.trainable(), AdamConfig::default());
    let before = params.get("phi").unwrap().tensor().to_scalar().unwrap();
    late.step(&e.loss.backward().unwrap()).unwrap();
    assert_ne!(
        params.get("phi").unwrap().tensor().to_scalar().unwrap(),
        before
    );
}

/// A model latent that neither the guide draws nor the model guides would silently come from
/// its prior: an error, unless allowed by name.
#[test]
fn uncovered_model_latents_are_errors_unless_allowed() {
    let model = |ctx: &mut Ctx| -> Result<()> {
        let z = ctx.sample("z", Bernoulli::new(s(0.0))?)?;
        let w = ctx.sample("w", Bernoulli::new(s(0.0))?)?;
        ctx.observe("x", Normal::new(z.add(&w)?, s(1.0))?, &s(1.0))
            .map(|_| ())
    };
    let guide = |ctx: &mut Ctx| -> Result<Tensor> { ctx.sample("z", Bernoulli::new(s(0.3))?) };
    let params = ParamStore::new(DType::F64, CPU);
    let err = SvoMap::new(Estimator::Concrete)
        .estimate(&model, &guide, &params, &mut Rng::seed(0))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("\"w\"") && err.contains("allow_prior_sites"),
        "{err}"
    );
    let err = Exact::map()
        .estimate(&model, &guide, &params, &mut Rng::seed(0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"w\""), "{err}");
    SvoMap::new(Estimator::Concrete)
        .allow_prior_sites(["w"])
        .estimate(&model, &guide, &params, &mut Rng::seed(0))
        .unwrap();
    Exact::map()
        .allow_prior_sites(["w"])
        .estimate(&model, &guide, &params, &mut Rng::seed(0))
        .unwrap();
}
