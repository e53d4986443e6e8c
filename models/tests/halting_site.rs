//! The adaptive block as a halting site of the modelling language (`Ctx::halting`), run in
//! every halting mode by the handlers around one model, against the reference adaptive block
//! (`common::reference`, what the networks ran before they became models) and against an ACT
//! written directly from math §2: outputs, units, losses and gradients in f64.

mod common;

use common::block::{
    assert_close, assert_same_grads, cross_entropy, direct_act, problem, reference_act, Block, CPU,
    F64,
};
use common::reference::{run_block, HaltingMode};
use pact::dist::{Categorical, Distribution};
use pact::nn::ParamStore;
use pact::ppl::{decode, full_depth, relax, run, Ctx, DecodeRule, HaltingSite, Relaxation};
use pact::{Rng, Tensor};
use pact_inference::objectives::{Estimator, Objective, SvoMap, Temperature};
use pact_models::halting::{ActRelaxation, HaltingLaw, ACT_EPSILON};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

/// The block's halting site with the time-penalty prior `λ = penalty`.
fn site(units: usize, penalty: f64) -> HaltingSite {
    let prior = HaltingLaw::time_penalty_prior(penalty, units, F64, CPU).unwrap();
    HaltingSite::new(units, Arc::new(prior), |logits: &Tensor| {
        let law: Arc<dyn Distribution> = Arc::new(HaltingLaw::posterior(logits.clone())?);
        Ok(law)
    })
}

/// The classifier over the block as one model: the halting site, then `y ~ Categorical`.
/// Returns the block's output and the steps each row ran.
fn model(
    block: Block,
    x: Tensor,
    y: Tensor,
    penalty: f64,
    heads_called: Rc<Cell<usize>>,
) -> impl Fn(&mut Ctx) -> pact::Result<(Tensor, Vec<usize>)> {
    let site = site(block.units(), penalty);
    move |ctx: &mut Ctx| {
        ctx.plate("data", x.dims()[0], |ctx| {
            let out = ctx.halting(
                "n",
                &site,
                &x,
                |l, s, _rows| block.unit(l, s),
                |l, s| {
                    heads_called.set(heads_called.get() + 1);
                    block.head(l, s)
                },
            )?;
            ctx.observe("y", Categorical::new(out.output.matmul(&block.u)?)?, &y)?;
            Ok((out.output, out.steps))
        })
    }
}

fn no_guide(_: &mut Ctx) -> pact::Result<()> {
    Ok(())
}

fn counter() -> Rc<Cell<usize>> {
    Rc::new(Cell::new(0))
}

#[test]
fn act_relaxation_runs_online_and_equals_direct_act_and_the_act_block() {
    let act = ActRelaxation::new(ACT_EPSILON).into_relaxation();
    let params = ParamStore::new(F64, CPU);
    let (mut early, mut stopped_early) = (0, 0);
    for seed in 0..8u64 {
        let units = 3 + (seed as usize % 3);
        let (block, x, y) = problem(seed, units);
        let tau = 0.01 + 0.1 * seed as f64;
        let heads = counter();
        let p = relax(
            act.clone(),
            model(block.clone(), x.clone(), y.clone(), tau, heads.clone()),
        );
        let mut svo = SvoMap::new(Estimator::Concrete);
        let e = svo
            .estimate(&p, &no_guide, &params, &mut Rng::seed(seed))
            .unwrap();
        assert_eq!(e.sites[0].estimator, "act(eps=0.01)");
        assert!(!e.sites[0].closed_form_prior);
        let direct = direct_act(&block, &x, &y, tau, ACT_EPSILON);
        assert_close("loss", &e.loss, &direct, 1e-12);
        let (g_site, g_direct) = (e.loss.backward().unwrap(), direct.backward().unwrap());
        assert_same_grads("site vs direct", &block, &g_site, &g_direct, 1e-9);

        let reference = reference_act(&block, &x);
        heads.set(0);
        let ((output, steps), trace) = run(&p, &params, &mut Rng::seed(0)).unwrap();
        assert_eq!(steps, reference.units);
        assert_close("output", &output, &reference.output, 1e-12);
        // The site is scored by −τ (N + R): ACT's ponder cost.
        let ponder = reference.ponder.unwrap();
        let scored = trace.get("n").unwrap().log_prob.clone().unwrap();
        assert_close("ponder", &scored, &ponder.mul_scalar(-tau).unwrap(), 1e-12);
        // Online: once every row has halted, no more steps or heads run.
        let deepest = *steps.iter().max().unwrap();
        if deepest < units {
            stopped_early += 1;
        }
        assert_eq!(heads.get(), deepest.min(units - 1), "heads run");
        // Under a graph the online run sums the states in one op at the end; without one it
        // keeps a running sum: the same output, bit for bit.
        let ((unrecorded, _), _) = pact::no_grad(|| run(&p, &params, &mut Rng::seed(0))).unwrap();
        assert!(output.tracks() && !unrecorded.tracks());
        assert_eq!(unrecorded.to_f64_vec(), output.to_f64_vec());
        early += steps.iter().filter(|&&n| n < units).count();
    }
    assert!(early >= 10, "rows halting early: {early}");
    println!("batches that stopped before the last step: {stopped_early}");
}

#[test]
fn concrete_relaxation_runs_every_step_and_equals_the_relaxed_block() {
    for straight_through in [false, true] {
        for seed in 0..4u64 {
            let (block, x, y) = problem(seed, 4);
            let t = 0.5;
            let relaxation = if straight_through {
                Relaxation::StraightThrough { temperature: t }
            } else {
                Relaxation::Concrete { temperature: t }
            };
            let p = relax(
                relaxation,
                model(block.clone(), x.clone(), y.clone(), 0.1, counter()),
            );
            let params = ParamStore::new(F64, CPU);
            let ((output, steps), trace) = run(&p, &params, &mut Rng::seed(seed)).unwrap();
            let reference = run_block(
                4,
                &x,
                |l, s, _| block.unit(l, s),
                |l, s| block.head(l, s),
                &HaltingMode::PactRelaxed {
                    temperature: t,
                    straight_through,
                },
                &mut Rng::seed(seed),
            )
            .unwrap();
            assert_close("output", &output, &reference.output, 1e-12);
            assert_eq!(steps, vec![4; 7]);
            assert!(trace.get("n").unwrap().is_guided());
        }
    }
}

#[test]
fn svo_map_over_the_relaxed_site_is_pact_s_loss_up_to_the_prior_normaliser() {
    let (block, x, y) = problem(4, 4);
    let lambda = 0.3;
    let t = 0.5;
    let p = model(block.clone(), x.clone(), y.clone(), lambda, counter());
    let params = ParamStore::new(F64, CPU);
    let mut svo = SvoMap::new(Estimator::Concrete).temperature(Temperature::Constant(t));
    let e = svo
        .estimate(&p, &no_guide, &params, &mut Rng::seed(9))
        .unwrap();
    assert!(e.sites[0].closed_form_prior);
    // Today's PACT loss summed over the batch: CE + λ Σ_b E_q[N_b]; the objective also keeps
    // −E_q[log p(N)]'s constant log Z per example.
    let reference = run_block(
        4,
        &x,
        |l, s, _| block.unit(l, s),
        |l, s| block.head(l, s),
        &HaltingMode::PactRelaxed {
            temperature: t,
            straight_through: false,
        },
        &mut Rng::seed(9),
    )
    .unwrap();
    let log_z = pact_models::analysis::log_normaliser(lambda, 4).unwrap();
    let handwritten = cross_entropy(&reference.output, &block.u, &y)
        .add(
            &reference
                .expected_n
                .unwrap()
                .sum_all()
                .unwrap()
                .mul_scalar(lambda)
                .unwrap(),
        )
        .unwrap();
    let shifted = handwritten.add_scalar(7.0 * log_z).unwrap();
    assert_close("loss", &e.loss, &shifted, 1e-12);
    let (g1, g2) = (e.loss.backward().unwrap(), handwritten.backward().unwrap());
    assert_same_grads("gradients", &block, &g1, &g2, 1e-10);
}

#[test]
fn threshold_decoding_halts_online_and_compacts_the_batch() {
    for seed in 0..6u64 {
        let (block, x, y) = problem(seed, 5);
        let rows_seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = rows_seen.clone();
        let site = site(5, 0.1);
        let b2 = block.clone();
        let m = move |ctx: &mut Ctx| -> pact::Result<(Tensor, Vec<usize>)> {
            let out = ctx.plate("data", 7, |ctx| {
                ctx.halting(
                    "n",
                    &site,
                    &x,
                    |l, s, rows| {
                        seen.lock().unwrap().push(rows.len());
                        assert_eq!(rows.len(), s.dims()[0]);
                        b2.unit(l, s)
                    },
                    |l, s| b2.head(l, s),
                )
            })?;
            ctx.observe("y", Categorical::new(out.output.matmul(&b2.u)?)?, &y)?;
            Ok((out.output, out.steps))
        };
        let params = ParamStore::new(F64, CPU);
        let ((output, steps), trace) = run(
            &decode(DecodeRule::Threshold(0.5), m),
            &params,
            &mut Rng::seed(0),
        )
        .unwrap();
        let reference = run_block(
            5,
            &problem(seed, 5).1,
            |l, s, _| block.unit(l, s),
            |l, s| block.head(l, s),
            &HaltingMode::PactDeterministic,
            &mut Rng::seed(0),
        )
        .unwrap();
        assert_eq!(output.to_f64_vec(), reference.output.to_f64_vec());
        assert_eq!(steps, reference.units);
        let site = trace.get("n").unwrap();
        assert!(site.decoded);
        // Each step ran on the rows that had not halted before it.
        let seen = rows_seen.lock().unwrap().clone();
        for (l, &rows) in seen.iter().enumerate() {
            assert_eq!(rows, steps.iter().filter(|&&n| n > l).count(), "step {l}");
        }
        // The value is e_N, scored by the prior.
        let value = site.value().to_f64_vec();
        for (row, &n) in steps.iter().enumerate() {
            assert_eq!(value[row * 5 + n - 1], 1.0);
            assert_eq!(value[row * 5..row * 5 + 5].iter().sum::<f64>(), 1.0);
        }
    }
}

#[test]
fn full_depth_runs_every_step_without_heads() {
    let (block, x, y) = problem(2, 4);
    let heads = counter();
    let p = full_depth(model(block.clone(), x.clone(), y, 0.1, heads.clone()));
    let params = ParamStore::new(F64, CPU);
    let ((output, steps), _) = run(&p, &params, &mut Rng::seed(0)).unwrap();
    let plain = run_block(
        4,
        &x,
        |l, s, _| block.unit(l, s),
        |l, s| block.head(l, s),
        &HaltingMode::Plain,
        &mut Rng::seed(0),
    )
    .unwrap();
    assert_eq!(output.to_f64_vec(), plain.output.to_f64_vec());
    assert_eq!(steps, vec![4; 7]);
    assert_eq!(heads.get(), 0);
}

#[test]
fn a_head_of_the_wrong_shape_is_an_error_naming_the_site() {
    let (block, x, _) = problem(2, 3);
    let site = site(3, 0.1);
    let m = move |ctx: &mut Ctx| -> pact::Result<()> {
        ctx.halting(
            "block0",
            &site,
            &x,
            |l, s, _| block.unit(l, s),
            |_, s| Ok(s.clone()),
        )
        .map(|_| ())
    };
    let params = ParamStore::new(F64, CPU);
    for err in [
        run(&m, &params, &mut Rng::seed(0)).unwrap_err(),
        run(
            &decode(DecodeRule::Threshold(0.5), &m),
            &params,
            &mut Rng::seed(0),
        )
        .unwrap_err(),
    ] {
        let msg = err.to_string();
        assert!(
            msg.contains("block0") && msg.contains("halting head"),
            "{msg}"
        );
    }
}
