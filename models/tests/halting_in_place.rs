//! The in-place halting site of the modelling language (`Ctx::halting_in_place`, one halting
//! decision per position of a feature map, math §8) in every halting mode, run by the
//! handlers around one model: against `run_spatial_block` (the spatial block the SACT and
//! spatial PACT networks trained with before) on the stages of a spatial ResNet, and, on a
//! pointwise block whose positions do not interact, against the row site `Ctx::halting` on the
//! positions as rows. Outputs, units, the site's terms and gradients, in f64.

mod common;

use common::check::{close, flat_grads};
use common::reference::{run_spatial_block, HaltingMode, SpatialBlockOutput};
use pact::dist::Distribution;
use pact::nn::ParamStore;
use pact::ppl::{
    decode, full_depth, relax, run, Ctx, DecodeRule, HaltingOutput, HaltingSite, Relaxation, Trace,
};
use pact::{DType, Device, Rng, Tensor};
use pact_models::halting::{ActRelaxation, HaltingLaw, ACT_EPSILON};
use pact_models::resnet::{ResNet, ResNetConfig, POSITION_AXES};
use std::sync::Arc;

const CPU: Device = Device::Cpu;
const F64: DType = DType::F64;

/// The halting site of a block of `units` steps with the time-penalty prior `λ = penalty`.
fn site(units: usize, penalty: f64) -> HaltingSite {
    let prior = HaltingLaw::time_penalty_prior(penalty, units, F64, CPU).unwrap();
    HaltingSite::new(units, Arc::new(prior), |logits: &Tensor| {
        let law: Arc<dyn Distribution> = Arc::new(HaltingLaw::posterior(logits.clone())?);
        Ok(law)
    })
}

/// A tiny spatial ResNet in f64 (3 units per stage, widths 4/8/8) and a batch of 3 images.
fn tiny_spatial(bias: f64, seed: u64) -> (ParamStore, ResNet, Tensor) {
    let mut rng = Rng::seed(seed);
    let config = ResNetConfig {
        units_per_stage: 3,
        widths: [4, 8, 8],
        in_channels: 3,
        num_classes: 5,
        halting_bias: Some(bias),
    };
    let store = ParamStore::new(F64, CPU);
    let net = ResNet::new_spatial(&store, config, &mut rng).unwrap();
    let x = Tensor::randn([3, 3, 8, 8], F64, CPU, &mut rng).unwrap();
    (store, net, x)
}

/// The input of stage `k` (every earlier unit run).
fn stage_input(net: &ResNet, x: &Tensor, k: usize, training: bool) -> Tensor {
    let mut h = net.stem(x).unwrap();
    for stage in &net.stages()[..k] {
        for unit in &stage.units {
            h = unit.forward(&h, training).unwrap();
        }
    }
    h.detach()
}

/// Stage `k` of `net` as an in-place halting site `"stage"`.
fn stage_model<'a>(
    net: &'a ResNet,
    k: usize,
    input: &'a Tensor,
    penalty: f64,
    training: bool,
) -> impl Fn(&mut Ctx) -> pact::Result<HaltingOutput> + 'a {
    let stage = &net.stages()[k];
    let heads = net.spatial_heads(k);
    let site = site(stage.units.len(), penalty);
    move |ctx: &mut Ctx| {
        ctx.halting_in_place(
            "stage",
            &site,
            input,
            &POSITION_AXES,
            |l, s, mask| stage.units[l].forward_masked(s, mask, training),
            |l, s| heads[l].logits(s),
        )
    }
}

/// Stage `k` of `net` as the reference spatial block (`common::reference`).
fn stage_block(
    net: &ResNet,
    k: usize,
    input: &Tensor,
    mode: &HaltingMode,
    training: bool,
    seed: u64,
) -> SpatialBlockOutput {
    let stage = &net.stages()[k];
    let heads = net.spatial_heads(k);
    run_spatial_block(
        stage.units.len(),
        input,
        |l, s, mask| stage.units[l].forward_masked(s, mask, training),
        |l, s| heads[l].logits(s),
        mode,
        &mut Rng::seed(seed),
    )
    .unwrap()
}

/// The site's log-probability `[B, H, W]` in a trace.
fn site_log_prob(trace: &Trace) -> Tensor {
    trace.get("stage").unwrap().log_prob.clone().unwrap()
}

/// math §8: SACT, relaxed spatial PACT (Concrete and straight-through), deterministic spatial
/// PACT and the plain network are the in-place halting site under relax(ACT), relax(Concrete
/// or straight-through), decode(threshold 0.5) and full_depth: on stages 0 and 1 (whose first
/// unit halves the resolution) of a spatial ResNet with batch statistics, the same
/// outputs, units per position, ponder costs (the ACT prior's −τ(N + R) per position),
/// posteriors and gradients as `run_spatial_block`.
#[test]
fn in_place_site_is_the_spatial_block_in_every_mode_section_8() {
    let (store, net, x) = tiny_spatial(0.5, 21);
    let params = ParamStore::new(F64, CPU);
    let tau = 0.3;
    let mut act_units = Vec::new();
    for k in [0, 1] {
        let input = stage_input(&net, &x, k, true);
        let reference_target = |out: &Tensor| {
            Tensor::randn(out.dims().to_vec(), F64, CPU, &mut Rng::seed(40 + k as u64)).unwrap()
        };
        let model = stage_model(&net, k, &input, tau, true);

        // Plain: every unit at every position.
        let (out, _) = run(&full_depth(&model), &params, &mut Rng::seed(0)).unwrap();
        let block = stage_block(&net, k, &input, &HaltingMode::Plain, true, 0);
        assert_eq!(out.steps, block.units);
        close(
            &out.output.to_f64_vec(),
            &block.output.to_f64_vec(),
            1e-12,
            "plain output",
        );

        // SACT: ACT per position, halted positions frozen; loss Σ out ⊙ T + τ Σ (N + R).
        let act = ActRelaxation::new(ACT_EPSILON).into_relaxation();
        let (out, trace) = run(&relax(act, &model), &params, &mut Rng::seed(0)).unwrap();
        let block = stage_block(
            &net,
            k,
            &input,
            &HaltingMode::Act { eps: ACT_EPSILON },
            true,
            0,
        );
        assert_eq!(out.steps, block.units, "SACT units");
        act_units.extend(out.steps.iter().copied());
        close(
            &out.output.to_f64_vec(),
            &block.output.to_f64_vec(),
            1e-12,
            "SACT output",
        );
        let ponder = block.ponder.clone().unwrap();
        let log_prob = site_log_prob(&trace);
        assert_eq!(log_prob.dims(), ponder.dims());
        close(
            &log_prob.mul_scalar(-1.0 / tau).unwrap().to_f64_vec(),
            &ponder.to_f64_vec(),
            1e-12,
            "SACT ponder cost",
        );
        let target = reference_target(&out.output);
        let lang = out
            .output
            .mul(&target)
            .unwrap()
            .sum_all()
            .unwrap()
            .sub(&log_prob.sum_all().unwrap())
            .unwrap();
        let hand = block
            .output
            .mul(&target)
            .unwrap()
            .sum_all()
            .unwrap()
            .add(&ponder.sum_all().unwrap().mul_scalar(tau).unwrap())
            .unwrap();
        close(
            &[lang.to_scalar().unwrap()],
            &[hand.to_scalar().unwrap()],
            1e-12,
            "SACT loss",
        );
        close(
            &flat_grads(&store, &lang.backward().unwrap()),
            &flat_grads(&store, &hand.backward().unwrap()),
            1e-10,
            "SACT gradients",
        );

        // Relaxed spatial PACT: the same Concrete draws per position; loss Σ out ⊙ T + λ Σ E_q[N].
        for straight_through in [false, true] {
            let t = 0.7;
            let relaxation = if straight_through {
                Relaxation::StraightThrough { temperature: t }
            } else {
                Relaxation::Concrete { temperature: t }
            };
            let what = if straight_through {
                "straight-through"
            } else {
                "Concrete"
            };
            let (out, trace) = run(&relax(relaxation, &model), &params, &mut Rng::seed(9)).unwrap();
            let mode = HaltingMode::PactRelaxed {
                temperature: t,
                straight_through,
            };
            let block = stage_block(&net, k, &input, &mode, true, 9);
            assert_eq!(out.steps, block.units, "{what}");
            close(
                &out.output.to_f64_vec(),
                &block.output.to_f64_vec(),
                1e-12,
                &format!("{what} output"),
            );
            let d = block.output.dims();
            assert_eq!(trace.value("stage").unwrap().dims(), [d[0], d[2], d[3], 3]);
            let posterior = out.posterior.clone().unwrap();
            let law = posterior
                .as_any()
                .and_then(|a| a.downcast_ref::<HaltingLaw>())
                .unwrap();
            let expected_n = law.expected_n().unwrap();
            let block_n = block.expected_n.clone().unwrap();
            close(
                &expected_n.to_f64_vec(),
                &block_n.to_f64_vec(),
                1e-12,
                &format!("{what} E_q[N]"),
            );
            close(
                &law.log_probs().to_f64_vec(),
                &block.log_q.clone().unwrap().to_f64_vec(),
                1e-12,
                &format!("{what} log q"),
            );
            let target = reference_target(&out.output);
            let loss = |o: &Tensor, n: &Tensor| {
                o.mul(&target)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .add(&n.sum_all().unwrap().mul_scalar(0.2).unwrap())
                    .unwrap()
            };
            close(
                &flat_grads(&store, &loss(&out.output, &expected_n).backward().unwrap()),
                &flat_grads(&store, &loss(&block.output, &block_n).backward().unwrap()),
                1e-10,
                &format!("{what} gradients"),
            );
        }

        // Deterministic spatial PACT (evaluation: batch norm with running statistics).
        let input = stage_input(&net, &x, k, false);
        let model = stage_model(&net, k, &input, tau, false);
        let decoded = decode(DecodeRule::Threshold(0.5), &model);
        let (out, trace) = pact::no_grad(|| run(&decoded, &params, &mut Rng::seed(0))).unwrap();
        let block = pact::no_grad(|| {
            stage_block(&net, k, &input, &HaltingMode::PactDeterministic, false, 0)
        });
        assert_eq!(out.steps, block.units, "deterministic units");
        assert!(trace.get("stage").unwrap().decoded);
        close(
            &out.output.to_f64_vec(),
            &block.output.to_f64_vec(),
            1e-12,
            "deterministic output",
        );
    }
    // Meaningful only if positions halt at different units.
    let mut distinct = act_units;
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() >= 2, "{distinct:?}");
}

/// A pointwise block on channels-last states `[B, H, W, C]`: unit `l` adds `tanh(s W_l)` at
/// the positions still running, head `l` is `s · v_l + c_l`. Positions do not interact, so
/// the in-place site with rows along axes 0, 1, 2 must be the row site on the positions.
struct Pointwise {
    w: Vec<Tensor>,
    v: Vec<Tensor>,
    c: Vec<f64>,
}

impl Pointwise {
    fn new(units: usize, channels: usize, rng: &mut Rng) -> Pointwise {
        let var = |dims: [usize; 2], sd: f64, rng: &mut Rng| {
            Tensor::rand_normal(dims, 0.0, sd, F64, CPU, rng)
                .unwrap()
                .to_var()
        };
        Pointwise {
            w: (0..units)
                .map(|_| var([channels, channels], 0.8, rng))
                .collect(),
            v: (0..units).map(|_| var([channels, 1], 1.5, rng)).collect(),
            c: (0..units).map(|_| rng.uniform() * 2.0 - 1.0).collect(),
        }
    }

    /// Works on `[.., C]` states of any rank (`[B, H, W, C]` in place, `[P, C]` as rows).
    fn unit(&self, l: usize, s: &Tensor, mask: Option<&Tensor>) -> pact::Result<Tensor> {
        let dims = s.dims().to_vec();
        let c = dims[dims.len() - 1];
        let flat = s.reshape([s.elem_count() / c, c])?;
        let branch = flat.matmul(&self.w[l])?.tanh()?.reshape(dims)?;
        let branch = match mask {
            Some(m) => branch.mul(m)?,
            None => branch,
        };
        s.add(&branch)
    }

    fn head(&self, l: usize, s: &Tensor) -> pact::Result<Tensor> {
        let dims = s.dims().to_vec();
        let c = dims[dims.len() - 1];
        let flat = s.reshape([s.elem_count() / c, c])?;
        flat.matmul(&self.v[l])?
            .add_scalar(self.c[l])?
            .reshape(dims[..dims.len() - 1].to_vec())
    }
}

/// The in-place site is generic: on a channels-last layout whose positions do not interact,
/// it equals `Ctx::halting` with one row per position, in every mode (outputs, units, values,
/// log-probabilities and gradients).
#[test]
fn in_place_site_on_independent_positions_is_the_row_site() {
    let mut rng = Rng::seed(5);
    let (units, b, h, w, c) = (4, 2, 3, 4, 3);
    let block = Pointwise::new(units, c, &mut rng);
    let x = Tensor::randn([b, h, w, c], F64, CPU, &mut rng).unwrap();
    let rows = x.reshape([b * h * w, c]).unwrap();
    let target = Tensor::randn([b, h, w, c], F64, CPU, &mut rng).unwrap();
    let site = site(units, 0.2);
    let in_place = |ctx: &mut Ctx| {
        ctx.halting_in_place(
            "n",
            &site,
            &x,
            &[0, 1, 2],
            |l, s, mask| block.unit(l, s, mask),
            |l, s| block.head(l, s),
        )
    };
    let row_site = |ctx: &mut Ctx| {
        ctx.halting(
            "n",
            &site,
            &rows,
            |l, s, _| block.unit(l, s, None),
            |l, s| block.head(l, s),
        )
    };
    let params = ParamStore::new(F64, CPU);
    let act = ActRelaxation::new(ACT_EPSILON).into_relaxation();
    let concrete = Relaxation::Concrete { temperature: 0.6 };
    type Handled<'a> = Box<dyn Fn(&mut Ctx) -> pact::Result<HaltingOutput> + 'a>;
    let modes: Vec<(&str, Handled, Handled)> = vec![
        ("dense", Box::new(in_place), Box::new(row_site)),
        (
            "full depth",
            Box::new(full_depth(in_place)),
            Box::new(full_depth(row_site)),
        ),
        (
            "ACT",
            Box::new(relax(act.clone(), in_place)),
            Box::new(relax(act, row_site)),
        ),
        (
            "Concrete",
            Box::new(relax(concrete.clone(), in_place)),
            Box::new(relax(concrete, row_site)),
        ),
        (
            "threshold",
            Box::new(decode(DecodeRule::Threshold(0.5), in_place)),
            Box::new(decode(DecodeRule::Threshold(0.5), row_site)),
        ),
    ];
    let vars: Vec<Tensor> = block.w.iter().chain(&block.v).cloned().collect();
    let grads_of = |loss: &Tensor| {
        let g = loss.backward().unwrap();
        let mut flat = Vec::new();
        for v in &vars {
            match g.get(v) {
                Some(t) => flat.extend(t.to_f64_vec()),
                None => flat.extend(std::iter::repeat_n(0.0, v.elem_count())),
            }
        }
        flat
    };
    let mut threshold_units = Vec::new();
    for (what, spatial, flat) in &modes {
        let (a, ta) = run(spatial, &params, &mut Rng::seed(3)).unwrap();
        let (e, te) = run(flat, &params, &mut Rng::seed(3)).unwrap();
        assert_eq!(a.steps, e.steps, "{what}");
        if *what == "threshold" {
            threshold_units = a.steps.clone();
        }
        close(
            &a.output.reshape([b * h * w, c]).unwrap().to_f64_vec(),
            &e.output.to_f64_vec(),
            1e-12,
            what,
        );
        assert_eq!(a.value.dims(), [b, h, w, units], "{what}");
        close(&a.value.to_f64_vec(), &e.value.to_f64_vec(), 1e-12, what);
        let (la, le) = (
            ta.get("n").unwrap().log_prob.clone().unwrap(),
            te.get("n").unwrap().log_prob.clone().unwrap(),
        );
        assert_eq!(la.dims(), [b, h, w], "{what}");
        close(&la.to_f64_vec(), &le.to_f64_vec(), 1e-12, what);
        let loss = |out: &Tensor, t: &Tensor, lp: &Tensor| {
            out.mul(t)
                .unwrap()
                .sum_all()
                .unwrap()
                .sub(&lp.sum_all().unwrap())
                .unwrap()
        };
        let ga = grads_of(&loss(&a.output, &target, &la));
        let ge = grads_of(&loss(
            &e.output,
            &target.reshape([b * h * w, c]).unwrap(),
            &le,
        ));
        close(&ga, &ge, 1e-10, &format!("{what} gradients"));
    }
    threshold_units.sort_unstable();
    threshold_units.dedup();
    assert!(threshold_units.len() >= 2, "{threshold_units:?}");
}

/// Under a rule, halted rows are frozen in place (the steps see the mask), the block stops
/// once every row has halted, and a one-step block records no site.
#[test]
fn in_place_rules_mask_the_halted_rows_and_stop_when_all_halted() {
    // Two images of 1 × 4 positions: after step l a position's value grows by 1 where it runs;
    // the halting logit is the value − 2.5.
    let x = Tensor::from_f64_slice(
        &[2.0, 0.0, 1.0, 5.0, 3.0, 2.0, 4.0, 9.0],
        [2, 1, 1, 4],
        F64,
        CPU,
    )
    .unwrap();
    let site = site(4, 0.1);
    let masks = std::cell::RefCell::new(Vec::new());
    let model = |ctx: &mut Ctx| {
        ctx.halting_in_place(
            "n",
            &site,
            &x,
            &POSITION_AXES,
            |_, s, mask| {
                masks
                    .borrow_mut()
                    .push(mask.map(|m| (m.dims().to_vec(), m.to_f64_vec())));
                match mask {
                    Some(m) => s.add(m),
                    None => s.add_scalar(1.0),
                }
            },
            |_, s| s.squeeze(1)?.add_scalar(-2.5),
        )
    };
    let params = ParamStore::new(F64, CPU);
    let decoded = decode(DecodeRule::Threshold(0.5), model);
    let (out, trace) = run(&decoded, &params, &mut Rng::seed(0)).unwrap();
    // Values after step 1: [3, 1, 2, 6 | 4, 3, 5, 10]: all of image 1 and positions 0, 3 of
    // image 0 halt; step 2: [·, 2, 3, · ]: position 2 halts; step 3: position 1 halts.
    assert_eq!(out.steps, vec![1, 3, 2, 1, 1, 1, 1, 1]);
    assert_eq!(
        out.output.to_f64_vec(),
        vec![3.0, 3.0, 3.0, 6.0, 4.0, 3.0, 5.0, 10.0]
    );
    assert_eq!(trace.value("n").unwrap().dims(), [2, 1, 4, 4]);
    let seen = masks.borrow().clone();
    // Steps 0, 1, 2 ran (the block stopped before step 3), with the masks of the running
    // positions, shaped [B, 1, H, W].
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0], None);
    let m1 = seen[1].clone().unwrap();
    assert_eq!(m1.0, vec![2, 1, 1, 4]);
    assert_eq!(m1.1, vec![0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(
        seen[2].clone().unwrap().1,
        vec![0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    );
    // One step: nothing to decide.
    let one = HaltingSite::new(1, site.prior().clone(), |_| {
        Err(pact::Error::invalid("posterior", "not needed"))
    });
    let (out, trace) = run(
        &|ctx: &mut Ctx| {
            ctx.halting_in_place(
                "n",
                &one,
                &x,
                &POSITION_AXES,
                |_, s, _| s.add_scalar(1.0),
                |_, _| unreachable!(),
            )
        },
        &params,
        &mut Rng::seed(0),
    )
    .unwrap();
    assert_eq!(out.steps, vec![1; 8]);
    assert_eq!(out.value.dims(), [2, 1, 4, 1]);
    assert!(trace.get("n").is_none());
}

/// Misuse is an error that names the site, not a panic.
#[test]
fn in_place_misuse_is_an_error() {
    let x = Tensor::zeros([2, 3, 4, 4], F64, CPU);
    let site = site(3, 0.1);
    let params = ParamStore::new(F64, CPU);
    let attempt = |axes: Vec<usize>, head_dims: Vec<usize>, shrink_at: usize| {
        let model = |ctx: &mut Ctx| {
            ctx.halting_in_place(
                "n",
                &site,
                &x,
                &axes,
                |l, s, _| {
                    if l == shrink_at {
                        s.narrow(2, 0, 2)
                    } else {
                        s.add_scalar(1.0)
                    }
                },
                |_, _| Ok(Tensor::zeros(head_dims.clone(), F64, CPU)),
            )
        };
        run(&model, &params, &mut Rng::seed(0))
            .err()
            .map(|e| e.to_string())
    };
    let ok = attempt(vec![0, 2, 3], vec![2, 4, 4], usize::MAX);
    assert!(ok.is_none(), "{ok:?}");
    for (axes, head, shrink, needle) in [
        (vec![2, 0], vec![4, 2], usize::MAX, "increasing"),
        (vec![0, 4], vec![2, 4], usize::MAX, "increasing"),
        (vec![0, 2, 3], vec![2, 16], usize::MAX, "halting head"),
        (vec![0, 2, 3], vec![2, 4, 4], 1, "only the first step"),
    ] {
        let err = attempt(axes.clone(), head, shrink).expect("an error");
        assert!(
            err.contains(needle) && err.contains("\"n\""),
            "{axes:?}: {err}"
        );
    }
    // The first step may change the rows (a stride): they are read from its output.
    assert!(attempt(vec![0, 2, 3], vec![2, 2, 4], 0).is_none());
}

/// `ResNet::model` of a spatial network is `forward_spatial` in every mode, stage by stage:
/// full_depth is the plain network, relax(ACT) SACT, relax(Concrete) relaxed spatial PACT
/// (the same draws), decode(threshold 0.5) deterministic spatial PACT: the same logits, units
/// per position, and `E_q[N]` per position where the stages ran densely.
#[test]
fn spatial_resnet_model_is_forward_spatial_in_every_mode() {
    let (store, net, x) = tiny_spatial(0.0, 8);
    let act = ActRelaxation::new(ACT_EPSILON).into_relaxation();
    let concrete = Relaxation::Concrete { temperature: 0.5 };
    for (mode, training) in [
        (HaltingMode::Plain, true),
        (HaltingMode::Act { eps: ACT_EPSILON }, true),
        (
            HaltingMode::PactRelaxed {
                temperature: 0.5,
                straight_through: false,
            },
            true,
        ),
        (HaltingMode::PactDeterministic, false),
    ] {
        let model = net.model(&x, None, 0.1, training).unwrap();
        let (out, trace) = pact::no_grad(|| {
            let mut rng = Rng::seed(4);
            match mode {
                HaltingMode::Plain => run(&full_depth(&model), &store, &mut rng),
                HaltingMode::Act { .. } => run(&relax(act.clone(), &model), &store, &mut rng),
                HaltingMode::PactRelaxed { .. } => {
                    run(&relax(concrete.clone(), &model), &store, &mut rng)
                }
                _ => run(
                    &decode(DecodeRule::Threshold(0.5), &model),
                    &store,
                    &mut rng,
                ),
            }
        })
        .unwrap();
        let reference = pact::no_grad(|| {
            common::reference::forward_spatial(&net, &x, &mode, training, &mut Rng::seed(4))
        })
        .unwrap();
        let what = mode.name();
        close(
            &out.logits.to_f64_vec(),
            &reference.logits.to_f64_vec(),
            1e-12,
            what,
        );
        for (k, block) in reference.blocks.iter().enumerate() {
            assert_eq!(out.steps[k], block.units, "{what}, stage {k}");
            let site = trace.get(&format!("stage{k}")).unwrap();
            assert_eq!(
                site.value().dims(),
                [x.dims()[0], block.height, block.width, 3],
                "{what}"
            );
            // Scaled so that objectives average over the stage's positions.
            assert!((site.scale - 1.0 / block.positions() as f64).abs() < 1e-15);
            match (&out.expected_n[k], &block.expected_n) {
                (Some(a), Some(e)) => close(&a.to_f64_vec(), &e.to_f64_vec(), 1e-12, what),
                (None, None) => {}
                _ => panic!("{what}: E_q[N] of stage {k}"),
            }
        }
    }
}
