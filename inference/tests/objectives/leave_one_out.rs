//! The leave-one-out baseline of the score-function estimator (`Baseline::leave_one_out`):
//! the surrogate's gradient is `Σ_i ∇log q_i (r_i − b_i)` computed by hand, its expectation
//! is `Exact`'s gradient, one element gives zero advantage, a data-parallel run gives what
//! one process gives, and the errors name the plate.
//!
//! The model: a plate `batch` of `B` elements (subsampled from `size`, so every term in it
//! counts `s = size / B` times); per element a latent `z_i ~ Bernoulli(σ(0.4))` with
//! posterior `Bernoulli(σ(φ_i))`, a latent `w_i ~ Bernoulli(σ(−0.3))` with posterior
//! `Bernoulli(σ(ψ_i))`, a log-weight `0.7 z_i` and an observation `x_i ~ N(3 z_i + w_i, 1)`;
//! outside the plate an observation that no latent feeds. Both latents are score-function
//! sites with a closed-form prior term. `w` is a guided site (its posterior computed by the
//! model); `z` is drawn by a separate guide ([`Layout::Guide`]) or guided too
//! ([`Layout::Guided`], the layout `Exact` can enumerate).

use pact::collective::{with_replicas, Collective, ThreadGroup};
use pact::dist::{Bernoulli, Normal};
use pact::nn::ParamStore;
use pact::ppl::{replay, run, Ctx};
use pact::{DType, Result, Rng, Shard, Tensor};
use pact_inference::objectives::{Baseline, Exact, LearnedBaseline, Objective, ScoreFunction};
use pact_inference::Error;
use std::sync::Arc;

use super::common::{mean_var, s, CPU};

const PRIOR_Z: f64 = 0.4;
const PRIOR_W: f64 = -0.3;
const BONUS: f64 = 0.7;

const X: [f64; 5] = [0.3, 2.9, 4.1, -0.8, 1.2];
const PHI: [f64; 5] = [0.2, -0.5, 1.1, 0.0, -1.3];
const PSI: [f64; 5] = [-0.4, 0.6, 0.1, 1.5, -0.9];

fn vector(v: &[f64]) -> Tensor {
    Tensor::from_f64_slice(v, [v.len()], DType::F64, CPU).unwrap()
}

fn sigmoid(a: f64) -> f64 {
    1.0 / (1.0 + (-a).exp())
}

fn log_normal(x: f64, mu: f64) -> f64 {
    -0.5 * (x - mu).powi(2) - 0.5 * (2.0 * std::f64::consts::PI).ln()
}

/// Where the posterior of `z` comes from.
#[derive(Clone, Copy, Debug)]
enum Layout {
    /// A separate guide draws `z`.
    Guide,
    /// The model draws `z` from its posterior (`sample_guided`); the guide is empty.
    Guided,
}

/// The model over the elements `x` (a subsample of a plate of `size`), with the posterior
/// logits `ψ` of `w` (and `φ` of `z` if guided) read from the store.
fn model(x: Vec<f64>, size: usize, layout: Layout) -> impl Fn(&mut Ctx) -> Result<()> {
    move |ctx: &mut Ctx| {
        let b = x.len();
        let phi = ctx.param("phi", || Ok(vector(&vec![0.0; b])))?;
        let psi = ctx.param("psi", || Ok(vector(&vec![0.0; b])))?;
        let xs = vector(&x);
        ctx.subsample_plate("batch", size, b, |ctx| {
            let prior = Bernoulli::new(s(PRIOR_Z))?;
            let z = match layout {
                Layout::Guide => ctx.sample("z", prior)?,
                Layout::Guided => ctx.sample_guided("z", prior, Bernoulli::new(phi)?)?,
            };
            let w = ctx.sample_guided("w", Bernoulli::new(s(PRIOR_W))?, Bernoulli::new(psi)?)?;
            ctx.factor("bonus", &z.mul_scalar(BONUS)?)?;
            let loc = z.mul_scalar(3.0)?.add(&w)?;
            ctx.observe("x", Normal::new(loc, s(1.0))?, &xs)?;
            Ok(())
        })?;
        ctx.observe("global", Normal::new(s(0.0), s(1.0))?, &s(0.3))?;
        Ok(())
    }
}

/// The guide of `z`: `Bernoulli(σ(φ_i))` per element in the plate `plate` (nothing for
/// [`Layout::Guided`]).
fn guide(
    b: usize,
    size: usize,
    plate: &'static str,
    layout: Layout,
) -> impl Fn(&mut Ctx) -> Result<()> {
    move |ctx: &mut Ctx| {
        if let Layout::Guided = layout {
            return Ok(());
        }
        let phi = ctx.param("phi", || Ok(vector(&vec![0.0; b])))?;
        ctx.subsample_plate(plate, size, b, |ctx| {
            ctx.sample("z", Bernoulli::new(phi)?).map(|_| ())
        })
    }
}

/// A store holding `φ` and `ψ`.
fn store(phi: &[f64], psi: &[f64]) -> ParamStore {
    let params = ParamStore::new(DType::F64, CPU);
    params.create("phi", vector(phi)).unwrap();
    params.create("psi", vector(psi)).unwrap();
    params
}

/// `(∂loss/∂φ, ∂loss/∂ψ)`.
fn gradient_of(loss: &Tensor, params: &ParamStore) -> Vec<f64> {
    let grads = loss.backward().unwrap();
    let mut out = Vec::new();
    for name in ["phi", "psi"] {
        let p = params.get(name).unwrap().tensor();
        out.extend(grads.get(&p).unwrap().to_f64_vec());
    }
    out
}

/// `(∂loss/∂φ, ∂loss/∂ψ)` of one estimate on the first `b` elements.
fn gradients(
    objective: &mut impl Objective,
    b: usize,
    size: usize,
    layout: Layout,
    seed: u64,
) -> Vec<f64> {
    let params = store(&PHI[..b], &PSI[..b]);
    let e = objective
        .estimate(
            &model(X[..b].to_vec(), size, layout),
            &guide(b, size, "batch", layout),
            &params,
            &mut Rng::seed(seed),
        )
        .unwrap();
    gradient_of(&e.loss, &params)
}

/// The same gradients by hand: `−[s σ'(φ_i) a_z + (z_i − σ(φ_i))(r_i − b_i)]` for `φ_i` (the
/// closed-form prior term and the score-function term), likewise for `ψ_i`, with the draws
/// `z`, `w` of the same seed, `r_i = s (log N(x_i; 3z_i + w_i, 1) + 0.7 z_i)` and
/// `b_i = (Σ_j r_j − r_i)/(B − 1)`.
fn by_hand(b: usize, size: usize, layout: Layout, seed: u64) -> Vec<f64> {
    let (x, phi, psi) = (&X[..b], &PHI[..b], &PSI[..b]);
    let params = store(phi, psi);
    // The objective runs the guide, then the model replayed on the guide's trace, on one
    // generator: the same draws.
    let mut rng = Rng::seed(seed);
    let (_, q) = run(&guide(b, size, "batch", layout), &params, &mut rng).unwrap();
    let replayed = replay(q.clone(), model(x.to_vec(), size, layout));
    let (_, p) = run(&replayed, &params, &mut rng).unwrap();
    let z = p.value("z").unwrap().to_f64_vec();
    let w = p.value("w").unwrap().to_f64_vec();
    let scale = size as f64 / b as f64;
    let r: Vec<f64> = (0..b)
        .map(|i| scale * (log_normal(x[i], 3.0 * z[i] + w[i]) + BONUS * z[i]))
        .collect();
    let total: f64 = r.iter().sum();
    let advantage: Vec<f64> = r
        .iter()
        .map(|ri| {
            if b > 1 {
                ri - (total - ri) / (b as f64 - 1.0)
            } else {
                0.0
            }
        })
        .collect();
    let part = |logit: f64, prior: f64, value: f64, adv: f64| {
        let q = sigmoid(logit);
        -(scale * q * (1.0 - q) * prior + (value - q) * adv)
    };
    let mut out: Vec<f64> = (0..b)
        .map(|i| part(phi[i], PRIOR_Z, z[i], advantage[i]))
        .collect();
    out.extend((0..b).map(|i| part(psi[i], PRIOR_W, w[i], advantage[i])));
    out
}

fn loo() -> ScoreFunction {
    ScoreFunction::map().baseline(Baseline::leave_one_out("batch"))
}

#[test]
fn leave_one_out_gradient_equals_the_hand_computed_surrogate() {
    for layout in [Layout::Guide, Layout::Guided] {
        for (b, size) in [(5, 5), (4, 8), (2, 2)] {
            for seed in 0..4 {
                let got = gradients(&mut loo(), b, size, layout, seed);
                let want = by_hand(b, size, layout, seed);
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (g - w).abs() < 1e-12,
                        "{layout:?}, B = {b}, size {size}, seed {seed}: {got:?} vs {want:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn leave_one_out_gradient_is_unbiased() {
    // B = 4 elements counted twice each (s = 2). `Exact` enumerates either the guide or the
    // model's guided sites: both latents are guided here.
    // The MAP objective and the ELBO (whose entropy has a closed form here).
    let (b, size, layout) = (4, 8, Layout::Guided);
    let m = 4000;
    for elbo in [false, true] {
        let (mut exact, sf) = if elbo {
            (Exact::elbo(), ScoreFunction::elbo())
        } else {
            (Exact::map(), ScoreFunction::map())
        };
        let sf = sf.baseline(Baseline::leave_one_out("batch"));
        let truth = gradients(&mut exact, b, size, layout, 0);
        let draws: Vec<Vec<f64>> = (0..m)
            .map(|seed| gradients(&mut sf.clone(), b, size, layout, 1000 + seed))
            .collect();
        for (k, truth) in truth.iter().enumerate() {
            let g: Vec<f64> = draws.iter().map(|d| d[k]).collect();
            let (mean, var) = mean_var(&g);
            let se = (var / m as f64).sqrt();
            println!(
                "elbo {elbo}, component {k}: exact {truth:.4}, leave-one-out {mean:.4} ± {se:.4}"
            );
            // Four standard errors per component: a false alarm about once in 16 000 seeds
            // per component, about once in 1 000 for the sixteen (the seeds are fixed, so the
            // outcome is too).
            assert!(
                (mean - truth).abs() < 4.0 * se,
                "elbo {elbo}, component {k}: {mean} ± {se} vs {truth}"
            );
            assert!(se > 0.0 && se < 0.1, "component {k}: standard error {se}");
        }
    }
}

#[test]
fn leave_one_out_has_a_lower_variance_than_no_baseline_here() {
    // Not a property of the estimator in general: a check that the per-element advantage
    // removes the other elements' rewards from each element's score (with no baseline each
    // `∇log q_i` is multiplied by the whole batch's reward).
    let (b, size) = (5, 5);
    let m = 1000;
    let variance = |objective: &dyn Fn() -> ScoreFunction| -> f64 {
        let g: Vec<f64> = (0..m)
            .map(|seed| gradients(&mut objective(), b, size, Layout::Guide, seed)[0])
            .collect();
        mean_var(&g).1
    };
    let none = variance(&|| ScoreFunction::map().baseline(Baseline::moving_average(0.0)));
    let leave = variance(&loo);
    println!("variance of ∂/∂φ_1: no baseline {none:.4}, leave-one-out {leave:.4}");
    assert!(leave < 0.5 * none, "{leave} vs {none}");
}

#[test]
fn one_element_gives_zero_advantage() {
    // B = 1: the gradient is the closed-form prior terms' alone, whatever the draw.
    for layout in [Layout::Guide, Layout::Guided] {
        for seed in 0..4 {
            let got = gradients(&mut loo(), 1, 3, layout, seed);
            let scale = 3.0;
            let prior = |logit: f64, a: f64| {
                let q = sigmoid(logit);
                -scale * q * (1.0 - q) * a
            };
            let want = [prior(PHI[0], PRIOR_Z), prior(PSI[0], PRIOR_W)];
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() < 1e-12,
                    "{layout:?}, seed {seed}: {got:?} vs {want:?}"
                );
            }
        }
    }
}

#[test]
fn replicas_compute_what_one_process_computes() {
    // Four elements on two replicas of two: each replica's gradient is one process's at its
    // elements (the sum and count of the baseline are the whole batch's; every replica's
    // plate counts its elements once, as one process does).
    let (b, size, layout, seed) = (4, 4, Layout::Guide, 5);
    let whole = gradients(&mut loo(), b, size, layout, seed);
    let members = ThreadGroup::new(2);
    let parts: Vec<Vec<f64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = members
            .into_iter()
            .enumerate()
            .map(|(r, member)| {
                scope.spawn(move || {
                    let group: Arc<dyn Collective> = Arc::new(member);
                    let range = 2 * r..2 * r + 2;
                    let params = store(&PHI[range.clone()], &PSI[range.clone()]);
                    let mut rng = Rng::seed(seed);
                    rng.set_shard(Some(Shard {
                        start: 2 * r,
                        len: 2,
                        total: 4,
                    }));
                    with_replicas(&group, || {
                        let e = loo()
                            .estimate(
                                &model(X[range.clone()].to_vec(), 2, layout),
                                &guide(2, 2, "batch", layout),
                                &params,
                                &mut rng,
                            )
                            .unwrap();
                        gradient_of(&e.loss, &params)
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (r, part) in parts.iter().enumerate() {
        for (k, name) in ["phi", "psi"].iter().enumerate() {
            for j in 0..2 {
                let (got, want) = (part[k * 2 + j], whole[k * b + 2 * r + j]);
                assert!(
                    (got - want).abs() < 1e-12,
                    "replica {r}, {name}[{j}]: {got} vs {want}"
                );
            }
        }
    }
}

/// The error of one leave-one-out estimate over `plate`, with the guide's plate `guide_plate`.
fn error(baseline: Baseline, guide_plate: &'static str) -> Error {
    let params = store(&PHI[..3], &PSI[..3]);
    ScoreFunction::map()
        .baseline(baseline)
        .estimate(
            &model(X[..3].to_vec(), 3, Layout::Guide),
            &guide(3, 3, guide_plate, Layout::Guide),
            &params,
            &mut Rng::seed(0),
        )
        .unwrap_err()
}

#[test]
fn a_plate_that_is_not_there_is_an_error_naming_it() {
    let err = error(Baseline::leave_one_out("bacth"), "batch");
    let msg = err.to_string();
    assert!(matches!(err, Error::Objective(_)), "{msg}");
    assert!(msg.contains("\"bacth\""), "{msg}");
    assert!(msg.contains("batch"), "lists the plates there are: {msg}");
}

#[test]
fn a_score_function_site_outside_the_plate_is_an_error_naming_it() {
    // The guide draws `z` in a plate of another name: the model's plate "batch" exists, but
    // the score-function site `z` is not in it.
    let msg = error(Baseline::leave_one_out("batch"), "other").to_string();
    assert!(msg.contains("\"z\"") && msg.contains("\"batch\""), "{msg}");
}

#[test]
fn a_learned_part_or_an_empty_plate_name_is_refused() {
    let learned: LearnedBaseline = Arc::new(|_: &ParamStore| Ok(s(0.0)));
    for baseline in [
        Baseline::leave_one_out("batch").with_learned(learned),
        Baseline::leave_one_out(""),
    ] {
        let err = error(baseline, "batch");
        assert!(matches!(err, Error::InvalidConfig(_)), "{err}");
    }
}
