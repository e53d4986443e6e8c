//! Handlers: condition, replay, relax, enumerate (against brute force) and decode (against
//! a known MAP), and how they compose.

mod prob_common;

use pact::dist::{
    Bernoulli, Categorical, Distribution, Draw, Geometric, Normal, OneHotCategorical,
    RelaxedBernoulli, TruncatedGeometric,
};
use pact::nn::{Linear, ParamStore};
use pact::ppl::{
    condition, decode, enumerate, relax, replay, run, Ctx, CustomRelaxation, DecodeRule,
    RelaxPolicy, Relaxation, Select, SiteKind, Values,
};
use pact::{DType, Error, Result, Rng, Tensor};
use prob_common::*;
use std::f64::consts::PI;
use std::sync::Arc;

fn store() -> ParamStore {
    ParamStore::new(DType::F64, CPU)
}

fn normal_ln_pdf(x: f64, m: f64, s: f64) -> f64 {
    -0.5 * ((x - m) / s).powi(2) - s.ln() - 0.5 * (2.0 * PI).ln()
}

fn logsumexp(v: &[f64]) -> f64 {
    let m = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// z ~ Bernoulli(0.3); k | z ~ Categorical(π_z); n | k ~ TruncatedGeometric(λ_k, 4);
/// x ~ Normal(z + k − 0.5 n, 0.8), observed.
const PI_Z: [[f64; 3]; 2] = [[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]];
const LAMBDA_K: [f64; 3] = [0.5, 0.0, -0.3];
const X_OBS: f64 = 1.1;

fn chain(ctx: &mut Ctx) -> Result<f64> {
    chain_impl(ctx, true)
}

/// The chain without its observation.
fn chain_prior(ctx: &mut Ctx) -> Result<f64> {
    chain_impl(ctx, false)
}

fn chain_impl(ctx: &mut Ctx, observed: bool) -> Result<f64> {
    let z = ctx.sample("z", Bernoulli::from_probs(s64(0.3))?)?;
    let zi = z.to_scalar()? as usize;
    let k = ctx.sample("k", Categorical::from_probs(t64(&PI_Z[zi], &[3]))?)?;
    let ki = k.to_scalar()? as usize;
    let n = ctx.sample("n", TruncatedGeometric::new(s64(LAMBDA_K[ki]), 4)?)?;
    let loc = z.add(&k)?.sub(&n.mul_scalar(0.5)?)?;
    if observed {
        ctx.observe("x", Normal::new(loc, s64(0.8))?, &s64(X_OBS))?;
    }
    Ok(z.to_scalar()? + 10.0 * k.to_scalar()? + 100.0 * n.to_scalar()?)
}

fn chain_log_joint(z: usize, k: usize, n: usize) -> f64 {
    chain_log_prior(z, k, n) + normal_ln_pdf(X_OBS, z as f64 + k as f64 - 0.5 * n as f64, 0.8)
}

fn chain_log_prior(z: usize, k: usize, n: usize) -> f64 {
    let pz: f64 = [0.7, 0.3][z];
    let lam = LAMBDA_K[k];
    let log_z: f64 = (1..=4).map(|m| (-lam * m as f64).exp()).sum::<f64>().ln();
    pz.ln() + PI_Z[z][k].ln() + (-lam * n as f64 - log_z)
}

/// The configuration code `z + 10 k + 100 n` of the largest of `f(z, k, n)`.
fn argmax_config(f: fn(usize, usize, usize) -> f64) -> usize {
    let mut best = (f64::NEG_INFINITY, 0);
    for z in 0..2 {
        for k in 0..3 {
            for n in 1..=4 {
                let v = f(z, k, n);
                if v > best.0 {
                    best = (v, z + 10 * k + 100 * n);
                }
            }
        }
    }
    best.1
}

#[test]
fn enumerate_equals_the_brute_force_sum() {
    let (e, outer) = run(&enumerate(Select::All, chain), &store(), &mut Rng::seed(0)).unwrap();
    let mut terms = Vec::new();
    for z in 0..2 {
        for k in 0..3 {
            for n in 1..=4 {
                terms.push(chain_log_joint(z, k, n));
            }
        }
    }
    assert_eq!(e.runs.len(), 24);
    close(
        &[e.log_marginal.to_scalar().unwrap()],
        &[logsumexp(&terms)],
        1e-12,
    );
    // Every configuration appears once, each run's joint matches its configuration.
    let mut seen: Vec<f64> = e.runs.iter().map(|r| r.output).collect();
    seen.sort_by(|a, b| a.partial_cmp(b).unwrap());
    seen.dedup();
    assert_eq!(seen.len(), 24);
    for r in &e.runs {
        let code = r.output as usize;
        let (z, k, n) = (code % 10, code / 10 % 10, code / 100);
        close(
            &[r.trace.log_joint().unwrap().to_scalar().unwrap()],
            &[chain_log_joint(z, k, n)],
            1e-12,
        );
        assert!(r
            .trace
            .iter()
            .filter(|s| s.is_latent())
            .all(|s| s.enumerated));
        assert_eq!(r.assignment.len(), 3);
    }
    close(&[e.posterior().unwrap().iter().sum::<f64>()], &[1.0], 1e-12);
    // The log marginal is recorded in the surrounding trace.
    let f = outer.get(pact::ppl::enumerate::ENUMERATED_SITE).unwrap();
    assert_eq!(f.kind, SiteKind::Factor);
    close(
        &[outer.log_joint().unwrap().to_scalar().unwrap()],
        &[logsumexp(&terms)],
        1e-12,
    );
}

#[test]
fn enumerating_only_some_sites_keeps_the_others_fixed() {
    let (e, _) = run(
        &enumerate(Select::only(["k"]), chain),
        &store(),
        &mut Rng::seed(1),
    )
    .unwrap();
    assert_eq!(e.runs.len(), 3);
    let z0 = e.runs[0].trace.value("z").unwrap().to_scalar().unwrap();
    let n0 = e.runs[0].trace.value("n").unwrap().to_scalar().unwrap();
    for r in &e.runs {
        assert_eq!(r.trace.value("z").unwrap().to_scalar().unwrap(), z0);
        assert!(!r.trace.get("z").unwrap().enumerated);
    }
    let (z, n) = (z0 as usize, n0 as usize);
    let want = logsumexp(&(0..3).map(|k| chain_log_joint(z, k, n)).collect::<Vec<_>>());
    close(&[e.log_marginal.to_scalar().unwrap()], &[want], 1e-12);
}

const MU: [f64; 2] = [-1.0, 2.0];
const XS: [f64; 4] = [-0.8, 2.5, 0.3, 1.7];

/// A two-component mixture; `plated` puts the assignments in a plate.
fn mixture(plated: bool, w: Tensor) -> impl Fn(&mut Ctx) -> Result<()> {
    move |ctx: &mut Ctx| {
        let xs = t64(&XS, &[4]);
        let body = |ctx: &mut Ctx, logits: Tensor| -> Result<()> {
            let z = ctx.sample("z", Bernoulli::new(logits)?)?;
            // loc = μ_0 + z (μ_1 − μ_0)
            let loc = z.mul_scalar(MU[1] - MU[0])?.add_scalar(MU[0])?;
            ctx.observe("x", Normal::new(loc, s64(1.0))?, &xs)?;
            Ok(())
        };
        if plated {
            ctx.plate("data", 4, |ctx| body(ctx, w.clone()))
        } else {
            body(ctx, w.broadcast_as(&pact::Shape::new([4]))?)
        }
    }
}

#[test]
fn enumeration_in_a_plate_equals_joint_enumeration_and_the_closed_form() {
    let w = 0.4;
    let (local, _) = run(
        &enumerate(Select::All, mixture(true, s64(w))),
        &store(),
        &mut Rng::seed(0),
    )
    .unwrap();
    let (joint, _) = run(
        &enumerate(Select::All, mixture(false, s64(w))),
        &store(),
        &mut Rng::seed(0),
    )
    .unwrap();
    assert_eq!(local.runs.len(), 2);
    assert_eq!(joint.runs.len(), 16);
    let p1 = 1.0 / (1.0 + (-w).exp());
    let closed: f64 = XS
        .iter()
        .map(|&x| {
            ((1.0 - p1) * normal_ln_pdf(x, MU[0], 1.0).exp()
                + p1 * normal_ln_pdf(x, MU[1], 1.0).exp())
            .ln()
        })
        .sum();
    close(&[local.log_marginal.to_scalar().unwrap()], &[closed], 1e-12);
    close(&[joint.log_marginal.to_scalar().unwrap()], &[closed], 1e-12);
    // The gradient of the marginal with respect to the mixing logit matches finite differences.
    let wv = s64(w).to_var();
    let (e, _) = run(
        &enumerate(Select::All, mixture(true, wv.clone())),
        &store(),
        &mut Rng::seed(0),
    )
    .unwrap();
    let g = e
        .log_marginal
        .backward()
        .unwrap()
        .get(&wv)
        .unwrap()
        .to_scalar()
        .unwrap();
    let f = |v: &[f64]| {
        run(
            &enumerate(Select::All, mixture(true, s64(v[0]))),
            &store(),
            &mut Rng::seed(0),
        )
        .unwrap()
        .0
        .log_marginal
        .to_scalar()
        .unwrap()
    };
    close(&[g], &finite_diff(f, &[w], 1e-6), 1e-6);
}

#[test]
fn enumeration_errors() {
    let continuous = |ctx: &mut Ctx| -> Result<()> {
        ctx.sample("mu", Normal::new(s64(0.0), s64(1.0))?)?;
        Ok(())
    };
    let err = run(
        &enumerate(Select::only(["mu"]), continuous),
        &store(),
        &mut Rng::seed(0),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::Site { ref site, .. } if site == "mu"),
        "{err}"
    );
    // Select::All skips continuous sites instead.
    let (e, _) = run(
        &enumerate(Select::All, continuous),
        &store(),
        &mut Rng::seed(0),
    )
    .unwrap();
    assert_eq!(e.runs.len(), 1);

    let infinite = |ctx: &mut Ctx| -> Result<()> {
        ctx.sample("g", Geometric::from_probs(s64(0.5))?)?;
        Ok(())
    };
    assert!(matches!(
        run(
            &enumerate(Select::only(["g"]), infinite),
            &store(),
            &mut Rng::seed(0)
        ),
        Err(Error::Site { .. })
    ));
    // Too many joint values outside a plate.
    let wide = |ctx: &mut Ctx| -> Result<()> {
        ctx.sample("z", Bernoulli::new(Tensor::zeros([40], DType::F64, CPU))?)?;
        Ok(())
    };
    assert!(run(&enumerate(Select::All, wide), &store(), &mut Rng::seed(0)).is_err());
}

#[test]
fn condition_fixes_values_as_observations() {
    let values = Values::new()
        .with("z", s64(1.0))
        .with("k", s64(2.0))
        .with("absent", s64(0.0));
    let (code, trace) = run(&condition(values, chain), &store(), &mut Rng::seed(4)).unwrap();
    assert_eq!(code as usize % 100, 21);
    for name in ["z", "k"] {
        let s = trace.get(name).unwrap();
        assert_eq!(s.kind, SiteKind::Observe);
        assert!(s.relaxed.is_none());
    }
    assert_eq!(trace.get("n").unwrap().kind, SiteKind::Sample);
    let lp_k = trace
        .get("k")
        .unwrap()
        .log_prob
        .clone()
        .unwrap()
        .to_scalar()
        .unwrap();
    close(&[lp_k], &[PI_Z[1][2].ln()], 1e-12);
    // Conditioning on a whole trace's latent values reproduces its joint.
    let (_, t1) = run(&chain, &store(), &mut Rng::seed(8)).unwrap();
    let (_, t2) = run(
        &condition(t1.latent_values(), chain),
        &store(),
        &mut Rng::seed(99),
    )
    .unwrap();
    close(
        &[t2.log_joint().unwrap().to_scalar().unwrap()],
        &[t1.log_joint().unwrap().to_scalar().unwrap()],
        1e-12,
    );
    assert!(t2.latent_log_prob().unwrap().to_scalar().unwrap() == 0.0);
}

#[test]
fn replay_reuses_values_and_rescores_them_under_the_model() {
    let guide = |ctx: &mut Ctx| -> Result<()> {
        ctx.sample("z", Bernoulli::from_probs(s64(0.9))?)?;
        ctx.sample("k", Categorical::from_probs(t64(&[0.1, 0.1, 0.8], &[3]))?)?;
        Ok(())
    };
    let (_, q) = run(&guide, &store(), &mut Rng::seed(5)).unwrap();
    let (_, p) = run(&replay(q.clone(), chain), &store(), &mut Rng::seed(6)).unwrap();
    for name in ["z", "k"] {
        assert_eq!(
            p.value(name).unwrap().to_f64_vec(),
            q.value(name).unwrap().to_f64_vec()
        );
        assert!(p.get(name).unwrap().replayed);
        assert_eq!(p.get(name).unwrap().kind, SiteKind::Sample);
    }
    assert!(!p.get("n").unwrap().replayed);
    let (z, k) = (
        q.value("z").unwrap().to_scalar().unwrap(),
        q.value("k").unwrap().to_scalar().unwrap(),
    );
    let want = PI_Z[z as usize][k as usize].ln();
    close(
        &[p.get("k")
            .unwrap()
            .log_prob
            .clone()
            .unwrap()
            .to_scalar()
            .unwrap()],
        &[want],
        1e-12,
    );
}

#[test]
fn relaxed_replay_is_scored_from_the_raw_value() {
    let concrete = Relaxation::Concrete { temperature: 0.3 };
    let guide = |ctx: &mut Ctx| -> Result<()> {
        ctx.sample("z", Bernoulli::new(t64(&[1.5, -0.5], &[2]))?)?;
        Ok(())
    };
    let model = |ctx: &mut Ctx| -> Result<()> {
        ctx.sample("z", Bernoulli::new(t64(&[0.0, 0.2], &[2]))?)?;
        Ok(())
    };
    let (_, q) = run(&relax(concrete.clone(), guide), &store(), &mut Rng::seed(1)).unwrap();
    let (_, p) = run(
        &relax(concrete.clone(), replay(q.clone(), model)),
        &store(),
        &mut Rng::seed(2),
    )
    .unwrap();
    let raw = q.get("z").unwrap().draw.raw().unwrap().clone();
    let want = RelaxedBernoulli::new(t64(&[0.0, 0.2], &[2]), 0.3)
        .unwrap()
        .log_prob_logit(&raw)
        .unwrap();
    close(
        &p.get("z").unwrap().log_prob.clone().unwrap().to_f64_vec(),
        &want.to_f64_vec(),
        1e-12,
    );
    // The handler order does not matter for this.
    let (_, p2) = run(
        &replay(q.clone(), relax(concrete, model)),
        &store(),
        &mut Rng::seed(2),
    )
    .unwrap();
    close(
        &p2.get("z").unwrap().log_prob.clone().unwrap().to_f64_vec(),
        &want.to_f64_vec(),
        1e-12,
    );
}

#[derive(Debug)]
struct GaussianMoments;

impl CustomRelaxation for GaussianMoments {
    fn name(&self) -> &str {
        "gaussian-moments"
    }
    fn relax(&self, _site: &str, d: &Arc<dyn Distribution>) -> Result<Arc<dyn Distribution>> {
        Ok(Arc::new(Normal::new(d.mean()?, d.variance()?.sqrt()?)?))
    }
}

#[test]
fn relax_applies_a_relaxation_per_site_and_gradients_flow_through_values() {
    let logits = t64(&[0.3, -0.4, 1.0], &[3]).to_var();
    let model = |ctx: &mut Ctx| -> Result<Vec<Tensor>> {
        let mut out = Vec::new();
        for name in ["concrete", "st", "exact", "mean", "custom"] {
            out.push(ctx.sample(name, Bernoulli::new(logits.clone())?)?);
        }
        out.push(ctx.sample("onehot", OneHotCategorical::new(logits.clone())?)?);
        out.push(ctx.sample("mu", Normal::new(s64(0.0), s64(1.0))?)?);
        Ok(out)
    };
    let policy = RelaxPolicy::all(Relaxation::Exact)
        .with("concrete", Relaxation::Concrete { temperature: 0.5 })
        .with("st", Relaxation::StraightThrough { temperature: 0.5 })
        .with("mean", Relaxation::Expectation)
        .with("custom", Relaxation::Custom(Arc::new(GaussianMoments)))
        .with("onehot", Relaxation::Concrete { temperature: 0.5 });
    let (vals, trace) = run(&relax(policy, model), &store(), &mut Rng::seed(3)).unwrap();
    let label = |n: &str| trace.get(n).unwrap().relaxation.label();
    assert_eq!(label("concrete"), "concrete(t=0.5)");
    assert_eq!(label("st"), "straight-through(t=0.5)");
    assert_eq!(label("exact"), "exact");
    assert_eq!(label("mean"), "expectation");
    assert_eq!(label("custom"), "gaussian-moments");
    assert_eq!(label("mu"), "exact");
    assert!(vals[0].to_f64_vec().iter().all(|v| *v > 0.0 && *v < 1.0));
    assert!(vals[1].to_f64_vec().iter().all(|v| *v == 0.0 || *v == 1.0));
    assert!(matches!(
        trace.get("st").unwrap().draw,
        Draw::StraightThrough { .. }
    ));
    assert!(vals[2].to_f64_vec().iter().all(|v| *v == 0.0 || *v == 1.0));
    let sig: Vec<f64> = [0.3f64, -0.4, 1.0]
        .iter()
        .map(|a| 1.0 / (1.0 + (-a).exp()))
        .collect();
    close(&vals[3].to_f64_vec(), &sig, 1e-12);
    assert_eq!(
        trace
            .get("mean")
            .unwrap()
            .log_prob
            .clone()
            .unwrap()
            .to_f64_vec(),
        vec![0.0; 3]
    );
    close(
        &[vals[5].sum_all().unwrap().to_scalar().unwrap()],
        &[1.0],
        1e-12,
    );
    for s in trace.iter() {
        all_finite(s.log_prob.as_ref().unwrap(), &s.name);
    }
    // Gradients reach the logits through every relaxed value, not through the exact one.
    for (i, name) in ["concrete", "st", "exact", "mean", "custom", "onehot"]
        .iter()
        .enumerate()
    {
        let g = vals[i].sum_all().unwrap().backward();
        let reaches = g.map(|g| g.get(&logits).is_some()).unwrap_or(false);
        assert_eq!(reaches, *name != "exact", "{name}");
    }
    // The relaxed law is recorded beside the model's law.
    let s = trace.get("concrete").unwrap();
    assert_eq!(s.dist.as_ref().unwrap().name(), "Bernoulli");
    assert_eq!(s.scorer().unwrap().name(), "RelaxedBernoulli");
}

#[test]
fn relaxing_a_law_without_that_relaxation_is_an_error() {
    let model = |ctx: &mut Ctx| -> Result<Tensor> {
        ctx.sample("k", Categorical::new(t64(&[0.0; 3], &[3]))?)
    };
    let err = run(
        &relax(Relaxation::Concrete { temperature: 0.5 }, model),
        &store(),
        &mut Rng::seed(0),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::Site { ref site, .. } if site == "k"),
        "{err}"
    );
    // Exact for that site, Concrete elsewhere, is fine.
    let policy =
        RelaxPolicy::all(Relaxation::Concrete { temperature: 0.5 }).with("k", Relaxation::Exact);
    assert!(run(&relax(policy, model), &store(), &mut Rng::seed(0)).is_ok());
}

#[test]
fn decode_returns_the_map_configuration() {
    // Independent sites: the mode of each is the joint MAP.
    let independent = |ctx: &mut Ctx| -> Result<Vec<f64>> {
        let z = ctx.sample(
            "z",
            Bernoulli::from_probs(t64(&[0.2, 0.7, 0.5, 0.49], &[4]))?,
        )?;
        let k = ctx.sample("k", Categorical::from_probs(t64(&[0.2, 0.5, 0.3], &[3]))?)?;
        let n = ctx.sample("n", TruncatedGeometric::scalar(-0.2, 5, DType::F64, CPU)?)?;
        Ok([z.to_f64_vec(), k.to_f64_vec(), n.to_f64_vec()].concat())
    };
    let (v, trace) = run(
        &decode(DecodeRule::Mode, independent),
        &store(),
        &mut Rng::seed(0),
    )
    .unwrap();
    assert_eq!(v, vec![0.0, 1.0, 1.0, 0.0, 1.0, 5.0]);
    assert!(trace.iter().all(|s| s.decoded));
    let (v, _) = run(
        &decode(DecodeRule::Threshold(0.45), independent),
        &store(),
        &mut Rng::seed(0),
    )
    .unwrap();
    assert_eq!(&v[..4], &[0.0, 1.0, 1.0, 1.0]);

    // A chain: decoding follows the sites in order, each at its mode given the earlier
    // ones; for this prior that is its exact MAP, as enumeration confirms.
    let (code, decoded) = run(
        &decode(DecodeRule::Mode, chain_prior),
        &store(),
        &mut Rng::seed(0),
    )
    .unwrap();
    let (e, _) = run(
        &enumerate(Select::All, chain_prior),
        &store(),
        &mut Rng::seed(0),
    )
    .unwrap();
    let best = e.best().unwrap();
    assert_eq!(code, best.output);
    assert_eq!(code as usize, argmax_config(chain_log_prior));
    close(
        &[decoded.log_joint().unwrap().to_scalar().unwrap()],
        &[best.trace.log_joint().unwrap().to_scalar().unwrap()],
        1e-12,
    );
    // With the observation the posterior MAP moves (to z = 1, k = 2, n = 4); decoding the
    // model's own laws does not condition on data, enumeration does.
    let (e, _) = run(&enumerate(Select::All, chain), &store(), &mut Rng::seed(0)).unwrap();
    let map = argmax_config(chain_log_joint);
    assert_eq!(e.best().unwrap().output as usize, map);
    assert_eq!(map, 1 + 20 + 400);
    let (greedy, _) = run(
        &decode(DecodeRule::Mode, chain),
        &store(),
        &mut Rng::seed(0),
    )
    .unwrap();
    assert_eq!(greedy, code);
}

#[test]
fn handlers_compose() {
    // Enumerate k exactly while z is relaxed: z keeps one relaxed value across the runs.
    let model = |ctx: &mut Ctx| -> Result<()> {
        let z = ctx.sample("z", Bernoulli::new(s64(0.2))?)?;
        let k = ctx.sample("k", OneHotCategorical::new(t64(&[0.1, 0.2, 0.3], &[3]))?)?;
        let loc = k.mul(&t64(&[-1.0, 0.0, 1.0], &[3]))?.sum_all()?.add(&z)?;
        ctx.observe("x", Normal::new(loc, s64(1.0))?, &s64(0.4))?;
        Ok(())
    };
    let composed = relax(
        Relaxation::Concrete { temperature: 0.5 },
        enumerate(Select::only(["k"]), model),
    );
    let (e, outer) = run(&composed, &store(), &mut Rng::seed(2)).unwrap();
    assert_eq!(e.runs.len(), 3);
    let z0 = e.runs[0].trace.value("z").unwrap().to_scalar().unwrap();
    assert!(z0 > 0.0 && z0 < 1.0);
    for r in &e.runs {
        assert_eq!(r.trace.value("z").unwrap().to_scalar().unwrap(), z0);
        assert_eq!(
            r.trace.get("z").unwrap().relaxation.label(),
            "concrete(t=0.5)"
        );
        assert_eq!(r.trace.get("k").unwrap().relaxation.label(), "exact");
        assert!(r.trace.get("k").unwrap().enumerated);
    }
    assert!(outer.contains(pact::ppl::enumerate::ENUMERATED_SITE));
    // Condition inside decode: the conditioned site stays an observation.
    let both = decode(
        DecodeRule::Mode,
        condition(Values::new().with("z", s64(1.0)), chain),
    );
    let (code, trace) = run(&both, &store(), &mut Rng::seed(0)).unwrap();
    assert_eq!(code as usize % 10, 1);
    assert_eq!(trace.get("z").unwrap().kind, SiteKind::Observe);
    assert!(trace.get("k").unwrap().decoded);
}

#[test]
fn amortised_guides_are_written_in_the_same_language() {
    // q(z | x) = Bernoulli(σ(Linear(x))) per data point, relaxed; the ELBO's gradient reaches
    // the guide's weights through the relaxed values and through log q.
    let params = store();
    let mut rng = Rng::seed(0);
    let net = Linear::new(&params.pp("q"), 1, 1, &mut rng).unwrap();
    let xs = t64(&XS, &[4]);
    let guide = |ctx: &mut Ctx| -> Result<()> {
        let logits = net.forward(&xs.reshape([4, 1])?)?.reshape([4])?;
        ctx.plate("data", 4, |ctx| {
            ctx.sample("z", Bernoulli::new(logits)?).map(|_| ())
        })
    };
    let concrete = Relaxation::Concrete { temperature: 0.5 };
    let (_, q) = run(&relax(concrete.clone(), guide), &params, &mut rng).unwrap();
    let (_, p) = run(
        &relax(concrete, replay(q.clone(), mixture(true, s64(0.0)))),
        &params,
        &mut rng,
    )
    .unwrap();
    let elbo = p.log_joint().unwrap().sub(&q.log_joint().unwrap()).unwrap();
    let g = elbo.backward().unwrap();
    for (name, param) in params.trainable() {
        let gv = g
            .get(&param.tensor())
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        all_finite(gv, &name);
    }
    // Under the model alone (q's log-prob detached) the gradient still reaches q's weights
    // through the relaxed values.
    let gp = p.log_joint().unwrap().backward().unwrap();
    assert!(gp.get(&params.get("q.weight").unwrap().tensor()).is_some());
}

#[test]
fn enumerate_inside_a_plate_is_an_error() {
    let inner = |ctx: &mut Ctx| -> Result<()> {
        ctx.sample("z", Bernoulli::new(s64(0.0))?)?;
        Ok(())
    };
    let fit = enumerate(Select::All, inner);
    let outer = |ctx: &mut Ctx| -> Result<()> { ctx.plate("data", 3, |ctx| fit(ctx).map(|_| ())) };
    assert!(matches!(
        run(&outer, &store(), &mut Rng::seed(0)),
        Err(Error::InvalidArgument { .. })
    ));
}
