//! The chunked halting site (`Ctx::halting_chunked`) against the halting site it stands for
//! (`Ctx::halting`) under every online rule, for every chunk size: the same outputs, steps,
//! values and scores; and the errors.

mod prob_common;

use pact::dist::{Distribution, OneHotCategorical};
use pact::nn::ParamStore;
use pact::ppl::{
    decode, full_depth, map_side_by_side, relax, run, run_chunked, ChunkedSteps, Ctx,
    CustomRelaxation, DecodeRule, HaltingRule, HaltingRun, HaltingSite, Relaxation, StepDecision,
    Trace,
};
use pact::{DType, Device, Result, Rng, Tensor};
use prob_common::{categorical_site, t64 as t};
use std::sync::Arc;

const CPU: Device = Device::Cpu;
const L: usize = 4;
const B: usize = 7;
const WIDTH: usize = 3;

/// A site with a fixed prior over the steps and the categorical of the logits (0 appended)
/// as posterior.
fn site() -> HaltingSite {
    categorical_site(&[0.3, -0.2, 0.5, 0.1])
}

/// The block: step 0 maps `[r, 2]` to `[r, 3]` (not residual); steps 1.. add
/// `tanh(s) · (l + 1) / 2` (residual). The head after step `l` is `Σ s − 2 + l`.
struct Block;

impl Block {
    fn first(x: &Tensor) -> Result<Tensor> {
        let w = t(&[1.0, -0.5, 0.25, 0.5, 1.0, -1.0], &[2, WIDTH]);
        x.matmul(&w)
    }

    fn branch(l: usize, s: &Tensor) -> Result<Tensor> {
        s.tanh()?.mul_scalar((l + 1) as f64 / 2.0)
    }

    fn logits(l: usize, s: &Tensor) -> Result<Tensor> {
        s.sum(1)?.add_scalar(l as f64 - 2.0)
    }
}

impl ChunkedSteps for Block {
    fn is_residual(&self, l: usize) -> bool {
        l > 0
    }

    fn apply(&self, l: usize, chunk: Tensor) -> Result<Tensor> {
        match l {
            0 => Block::first(&chunk),
            _ => Block::branch(l, &chunk),
        }
    }

    fn halting_logits(&self, l: usize, states: &[&Tensor]) -> Result<Tensor> {
        let owned: Vec<Tensor> = states.iter().map(|s| (*s).clone()).collect();
        Block::logits(l, &Tensor::concat(&owned, 0)?)
    }
}

fn inputs() -> Tensor {
    let v: Vec<f64> = (0..B * 2)
        .map(|k| ((k * 37 % 11) as f64 - 5.0) / 3.0)
        .collect();
    t(&v, &[B, 2])
}

/// What a run reports: the outputs `[B, WIDTH]`, the steps per row.
type Outcome = (Vec<f64>, Vec<usize>);

fn dense_model(site: HaltingSite) -> impl Fn(&mut Ctx) -> Result<Outcome> {
    move |ctx: &mut Ctx| {
        let x = inputs();
        ctx.plate("batch", B, |ctx| {
            let out = ctx.halting(
                "n",
                &site,
                &x,
                |l, s, _| match l {
                    0 => Block::first(s),
                    _ => s.add(&Block::branch(l, s)?),
                },
                Block::logits,
            )?;
            Ok((out.output.to_f64_vec(), out.steps))
        })
    }
}

fn chunked_model(site: HaltingSite, chunk: usize) -> impl Fn(&mut Ctx) -> Result<Outcome> {
    move |ctx: &mut Ctx| {
        let x = inputs();
        let rows = (0..B)
            .map(|r| x.narrow(0, r, 1))
            .collect::<Result<Vec<_>>>()?;
        ctx.plate("batch", B, |ctx| {
            let out = ctx.halting_chunked("n", &site, rows, &Block, chunk)?;
            assert_eq!(out.value.dims(), [B, L]);
            let states = out.states.iter().flat_map(|s| s.to_f64_vec()).collect();
            Ok((states, out.steps))
        })
    }
}

/// A rule that weighs the steps: weight ½ per step until a row's logit is ≥ 0 (or the
/// cumulative weight would pass 1), then the remainder; rows stay in the batch.
#[derive(Debug)]
struct Halves;

struct HalvesRun {
    cum: Vec<f64>,
    halted: Vec<bool>,
}

impl HaltingRule for Halves {
    fn name(&self) -> &str {
        "halves"
    }

    fn compacts(&self) -> bool {
        false
    }

    fn start(&self, rows: usize) -> Result<Box<dyn HaltingRun>> {
        Ok(Box::new(HalvesRun {
            cum: vec![0.0; rows],
            halted: vec![false; rows],
        }))
    }
}

impl HaltingRun for HalvesRun {
    fn step(&mut self, _l: usize, logits: Option<&Tensor>, rows: &[usize]) -> Result<StepDecision> {
        assert_eq!(rows.len(), self.cum.len(), "a weighing rule sees every row");
        let a = logits.map(|a| a.to_f64_vec());
        let mut w = vec![0.0; rows.len()];
        let mut halts = vec![false; rows.len()];
        for r in 0..rows.len() {
            if self.halted[r] {
                continue;
            }
            let stop = match &a {
                Some(a) => a[r] >= 0.0 || self.cum[r] + 0.5 >= 1.0,
                None => true,
            };
            if stop {
                w[r] = 1.0 - self.cum[r];
                halts[r] = true;
                self.halted[r] = true;
            } else {
                w[r] = 0.5;
                self.cum[r] += 0.5;
            }
        }
        Ok(StepDecision {
            weights: Some(Tensor::from_f64_slice(&w, [rows.len()], DType::F64, CPU)?),
            halts,
        })
    }
}

/// The relaxation that brings [`Halves`]; it scores the weights by the prior's
/// `Σ_l w_l log p_l`.
#[derive(Debug)]
struct HalvesRelaxation;

impl CustomRelaxation for HalvesRelaxation {
    fn name(&self) -> &str {
        "halves"
    }

    fn relax(&self, _site: &str, dist: &Arc<dyn Distribution>) -> Result<Arc<dyn Distribution>> {
        Ok(dist.clone())
    }

    fn halting_rule(&self) -> Option<Arc<dyn HaltingRule>> {
        Some(Arc::new(Halves))
    }
}

fn halves() -> Relaxation {
    Relaxation::Custom(Arc::new(HalvesRelaxation))
}

fn close(a: &[f64], b: &[f64], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= 1e-12, "{what}[{k}]: {x} vs {y}");
    }
}

fn check_same(dense: &(Outcome, Trace), chunked: &(Outcome, Trace), what: &str) {
    let ((out_d, steps_d), trace_d) = dense;
    let ((out_c, steps_c), trace_c) = chunked;
    assert_eq!(steps_d, steps_c, "{what}: steps");
    close(out_d, out_c, &format!("{what}: outputs"));
    let (sd, sc) = (trace_d.get("n").unwrap(), trace_c.get("n").unwrap());
    close(
        &sd.value().to_f64_vec(),
        &sc.value().to_f64_vec(),
        &format!("{what}: value"),
    );
    close(
        &sd.log_prob.as_ref().unwrap().to_f64_vec(),
        &sc.log_prob.as_ref().unwrap().to_f64_vec(),
        &format!("{what}: log_prob"),
    );
    assert_eq!(sd.decoded, sc.decoded, "{what}: decoded");
}

#[test]
fn a_chunked_site_computes_what_the_halting_site_computes_under_every_online_rule() {
    for chunk in [1, 2, 3, B, 100] {
        let decoded = |m| decode(DecodeRule::Threshold(0.5), m);
        let steps = compare_under(decoded, chunk, "decode");
        // The threshold decides: rows halt at different steps, some before the last.
        assert!(
            steps.iter().any(|&n| n < L) && steps.iter().any(|&n| n > 1),
            "{steps:?}"
        );
        assert_eq!(compare_under(full_depth, chunk, "full depth"), vec![L; B]);
        let steps = compare_under(|m| relax(halves(), m), chunk, "a weighing rule");
        assert!(
            steps.iter().any(|&n| n < L) && steps.iter().any(|&n| n > 1),
            "{steps:?}"
        );
    }
}

/// A model of this file, boxed so that one handler stack can wrap either.
type Model = Box<dyn Fn(&mut Ctx) -> Result<Outcome>>;

/// Runs the dense and the chunked model (chunks of `chunk` rows) under the handlers `wrap`
/// puts around them, checks that they agree, and returns the steps each row ran.
fn compare_under<H: Fn(&mut Ctx) -> Result<Outcome>>(
    wrap: impl Fn(Model) -> H,
    chunk: usize,
    handlers: &str,
) -> Vec<usize> {
    let params = ParamStore::new(DType::F64, CPU);
    let what = format!("{handlers}, chunks of {chunk}");
    let dense = run(
        &wrap(Box::new(dense_model(site()))),
        &params,
        &mut Rng::seed(3),
    )
    .unwrap();
    let chunked = wrap(Box::new(chunked_model(site(), chunk)));
    let chunked = pact::no_grad(|| run(&chunked, &params, &mut Rng::seed(3))).unwrap();
    check_same(&dense, &chunked, &what);
    dense.0 .1
}

#[test]
fn a_chunked_site_refuses_dense_runs_and_bad_rows_naming_the_site() {
    let params = ParamStore::new(DType::F64, CPU);
    // No handler: the site would be drawn from its posterior, which needs every state.
    let err = pact::no_grad(|| run(&chunked_model(site(), 2), &params, &mut Rng::seed(0)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("site \"n\"") && err.contains("online only"),
        "{err}"
    );
    let err = pact::no_grad(|| {
        run(
            &relax(
                Relaxation::Concrete { temperature: 0.5 },
                chunked_model(site(), 2),
            ),
            &params,
            &mut Rng::seed(0),
        )
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("online only"), "{err}");

    let bad_rows = |rows: Vec<Tensor>, chunk: usize| {
        move |ctx: &mut Ctx| -> Result<()> {
            ctx.halting_chunked("n", &site(), rows.clone(), &Block, chunk)?;
            Ok(())
        }
    };
    let decoded = |m| decode(DecodeRule::Threshold(0.5), m);
    for (rows, chunk, expect) in [
        (vec![], 2, "at least one row"),
        (vec![t(&[1.0, 2.0, 3.0, 4.0], &[2, 2])], 2, "not [1, ..]"),
        (vec![t(&[1.0, 2.0], &[1, 2])], 0, "at least one row"),
    ] {
        let err =
            pact::no_grad(|| run(&decoded(bad_rows(rows, chunk)), &params, &mut Rng::seed(0)))
                .unwrap_err()
                .to_string();
        assert!(err.contains("site \"n\"") && err.contains(expect), "{err}");
    }
}

#[test]
fn a_chunked_block_of_one_step_runs_it_and_records_no_site() {
    let one = HaltingSite::new(
        1,
        Arc::new(OneHotCategorical::new(t(&[0.0], &[1])).unwrap()),
        |_| unreachable!("a block of one step builds no posterior"),
    );
    let model = move |ctx: &mut Ctx| -> Result<Vec<f64>> {
        let rows = vec![t(&[1.0, 2.0], &[1, 2]), t(&[-1.0, 0.5], &[1, 2])];
        let out = ctx.halting_chunked("n", &one, rows, &Block, 1)?;
        assert_eq!(out.steps, vec![1, 1]);
        Ok(out.states.iter().flat_map(|s| s.to_f64_vec()).collect())
    };
    let params = ParamStore::new(DType::F64, CPU);
    let (out, trace) = pact::no_grad(|| run(&model, &params, &mut Rng::seed(0))).unwrap();
    let expected = Block::first(&t(&[1.0, 2.0, -1.0, 0.5], &[2, 2])).unwrap();
    close(&out, &expected.to_f64_vec(), "one step");
    assert!(trace.get("n").is_none());
}

/// On the CPU the chunks of a step run side by side on the worker threads: the outputs and
/// steps are bit for bit those of one thread, for the halting site (under `decode` and a
/// weighing rule) and for `run_chunked`, and the workers run under the caller's `no_grad`
/// (the rows are variables here, so a worker that recorded a graph would return states that
/// track).
#[test]
fn chunks_run_side_by_side_with_the_results_of_one_thread_and_no_graph() {
    let rows = || -> Vec<Tensor> {
        let x = inputs().to_f64_vec();
        (0..B)
            .map(|r| Tensor::var_from_f64(&x[r * 2..r * 2 + 2], [1, 2], CPU).unwrap())
            .collect()
    };
    let outcome = |states: &[Tensor]| -> Vec<u64> {
        assert!(
            states.iter().all(|s| !s.tracks()),
            "a state records a graph"
        );
        states
            .iter()
            .flat_map(|s| s.to_f64_vec())
            .map(f64::to_bits)
            .collect()
    };
    let on = |threads: usize, chunk: usize, handlers: &str| -> (Vec<u64>, Vec<usize>) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            pact::no_grad(|| {
                let model = |ctx: &mut Ctx| {
                    ctx.plate("batch", B, |ctx| {
                        ctx.halting_chunked("n", &site(), rows(), &Block, chunk)
                    })
                };
                let params = ParamStore::new(DType::F64, CPU);
                let out = match handlers {
                    "decode" => {
                        let model = decode(DecodeRule::Threshold(0.5), model);
                        run(&model, &params, &mut Rng::seed(3)).unwrap().0
                    }
                    "halves" => {
                        run(&relax(halves(), model), &params, &mut Rng::seed(3))
                            .unwrap()
                            .0
                    }
                    _ => {
                        let states = run_chunked(&Block, L, rows(), chunk).unwrap();
                        return (outcome(&states), vec![L; B]);
                    }
                };
                (outcome(&out.states), out.steps)
            })
        })
    };
    for handlers in ["decode", "halves", "run_chunked"] {
        for chunk in [1, 2, 3] {
            let one = on(1, chunk, handlers);
            for threads in [2, 3] {
                let what = format!("{handlers}, chunks of {chunk}, {threads} threads");
                assert_eq!(on(threads, chunk, handlers), one, "{what}");
            }
        }
    }
}

/// `map_side_by_side` returns the results in the items' order on any thread count, gives the
/// worker threads the caller's graph setting, and returns an error of the work.
#[test]
fn map_side_by_side_keeps_order_graph_setting_and_errors() {
    let items = || -> Vec<Tensor> {
        (0..9)
            .map(|k| Tensor::var_from_f64(&[k as f64], [1], CPU).unwrap())
            .collect()
    };
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let double = |t: Tensor| t.mul_scalar(2.0);
            let off = pact::no_grad(|| map_side_by_side(CPU, items(), double)).unwrap();
            let values: Vec<f64> = off.iter().map(|t| t.to_f64_vec()[0]).collect();
            assert_eq!(values, (0..9).map(|k| 2.0 * k as f64).collect::<Vec<_>>());
            assert!(
                off.iter().all(|t| !t.tracks()),
                "{threads} threads, no_grad"
            );
            let on = map_side_by_side(CPU, items(), double).unwrap();
            assert!(on.iter().all(|t| t.tracks()), "{threads} threads, graph");
            let failing = map_side_by_side(CPU, items(), |t: Tensor| {
                // The fifth item fails: a one-element tensor has no shape [2].
                let fails = t.to_f64_vec()[0] == 4.0;
                if fails {
                    t.reshape([2])
                } else {
                    Ok(t)
                }
            });
            assert!(failing.is_err(), "{threads} threads");
        });
    }
}
