//! Spatial halting (math §8) and its FLOPs (§9): the spatial block against the
//! non-spatial one position by position, frozen positions, deterministic evaluation against a
//! direct implementation, the spatial ResNet against the non-spatial one when every position
//! has the same halting probability, gradients against finite differences, the objectives and
//! evaluation.

mod common;

use common::check::close;
use common::reference::{run_block, run_spatial_block, HaltingMode};
use pact::nn::ParamStore;
use pact::{DType, Device, Rng, Tensor};
use pact_models::analysis::log_normaliser;
use pact_models::data::ImageSet;
use pact_models::evaluate::evaluate_images;
use pact_models::halting::{act_from_probs, ACT_EPSILON};
use pact_models::objective::{image_step, Objective};
use pact_models::resnet::{ResNet, ResNetConfig};

const CPU: Device = Device::Cpu;

/// A pointwise toy block on `[B, C, H, W]` states: unit `l` adds `tanh(W_l s)` at every
/// position (a 1×1 convolution), head `l` is `v_l · s + c_l`. Positions do not interact, so
/// the spatial block must equal the non-spatial block run on the positions as examples.
struct Toy {
    w: Vec<Tensor>,
    v: Vec<Tensor>,
    c: Vec<f64>,
    channels: usize,
}

impl Toy {
    fn new(units: usize, channels: usize, rng: &mut Rng) -> Toy {
        let var = |shape: [usize; 2], std: f64, rng: &mut Rng| {
            Tensor::rand_normal(shape, 0.0, std, DType::F64, CPU, rng)
                .unwrap()
                .to_var()
        };
        Toy {
            w: (0..units)
                .map(|_| var([channels, channels], 0.8, rng))
                .collect(),
            v: (0..units).map(|_| var([1, channels], 1.5, rng)).collect(),
            c: (0..units).map(|_| rng.uniform() * 2.0 - 1.0).collect(),
            channels,
        }
    }

    fn spatial_unit(&self, l: usize, s: &Tensor, mask: Option<&Tensor>) -> pact::Result<Tensor> {
        let c = self.channels;
        let branch = s
            .conv2d(&self.w[l].reshape([c, c, 1, 1])?, None, 1, 0)?
            .tanh()?;
        let branch = match mask {
            Some(m) => branch.mul(m)?,
            None => branch,
        };
        s.add(&branch)
    }

    fn spatial_head(&self, l: usize, s: &Tensor) -> pact::Result<Tensor> {
        s.conv2d(&self.v[l].reshape([1, self.channels, 1, 1])?, None, 1, 0)?
            .add_scalar(self.c[l])?
            .squeeze(1)
    }

    fn rows_unit(&self, l: usize, s: &Tensor) -> pact::Result<Tensor> {
        s.add(&s.matmul(&self.w[l].transpose(0, 1)?)?.tanh()?)
    }

    fn rows_head(&self, l: usize, s: &Tensor) -> pact::Result<Tensor> {
        s.matmul(&self.v[l].transpose(0, 1)?)?
            .add_scalar(self.c[l])?
            .squeeze(1)
    }
}

/// `[B, C, H, W]` → one row per position, `[B·H·W, C]`.
fn rows(t: &Tensor) -> Tensor {
    let d = t.dims().to_vec();
    t.permute(&[0, 2, 3, 1])
        .unwrap()
        .reshape([d[0] * d[2] * d[3], d[1]])
        .unwrap()
}

/// math §8: per position, SACT, relaxed and deterministic spatial PACT are the
/// non-spatial ACT / PACT of §2, §5, §6 (values and gradients).
#[test]
fn spatial_block_is_the_non_spatial_block_position_by_position_section_8() {
    let mut rng = Rng::seed(3);
    let (units, b, c, h, w) = (4, 2, 3, 3, 4);
    let toy = Toy::new(units, c, &mut rng);
    let x = Tensor::randn([b, c, h, w], DType::F64, CPU, &mut rng).unwrap();
    let target = Tensor::randn([b, c, h, w], DType::F64, CPU, &mut rng).unwrap();
    let modes = [
        HaltingMode::Plain,
        HaltingMode::Act { eps: ACT_EPSILON },
        HaltingMode::PactRelaxed {
            temperature: 0.7,
            straight_through: false,
        },
        HaltingMode::PactDeterministic,
    ];
    for mode in modes {
        let mut rows_seen = vec![0usize; units];
        let spatial = run_spatial_block(
            units,
            &x,
            |l, s, m| {
                rows_seen[l] += s.dims()[0];
                toy.spatial_unit(l, s, m)
            },
            |l, s| toy.spatial_head(l, s),
            &mode,
            &mut Rng::seed(11),
        )
        .unwrap();
        let flat = run_block(
            units,
            &rows(&x),
            |l, s, _| toy.rows_unit(l, s),
            |l, s| toy.rows_head(l, s),
            &mode,
            &mut Rng::seed(11),
        )
        .unwrap();
        let what = mode.name();
        assert_eq!(spatial.units, flat.units, "{what}");
        if mode == HaltingMode::PactDeterministic {
            // Examples leave the batch once all their positions have halted.
            for (l, &seen) in rows_seen.iter().enumerate() {
                let running = (0..b)
                    .filter(|&e| {
                        spatial.units[e * h * w..(e + 1) * h * w]
                            .iter()
                            .any(|&n| n > l)
                    })
                    .count();
                assert_eq!(seen, running, "unit {l}");
            }
        }
        assert_eq!((spatial.height, spatial.width), (h, w));
        close(
            &rows(&spatial.output).to_f64_vec(),
            &flat.output.to_f64_vec(),
            1e-12,
            what,
        );
        for (a, e) in [
            (&spatial.ponder, &flat.ponder),
            (&spatial.expected_n, &flat.expected_n),
        ] {
            assert_eq!(a.is_some(), e.is_some(), "{what}");
            if let (Some(a), Some(e)) = (a, e) {
                assert_eq!(a.dims(), &[b, h, w]);
                close(&a.to_f64_vec(), &e.to_f64_vec(), 1e-12, what);
            }
        }
        if matches!(mode, HaltingMode::Plain | HaltingMode::PactDeterministic) {
            continue;
        }
        // Gradients of the same loss through both.
        let loss = |out: &Tensor, target: &Tensor, extra: Option<&Tensor>| {
            let l = out.mul(target).unwrap().sum_all().unwrap();
            match extra {
                Some(e) => l
                    .add(&e.sum_all().unwrap().mul_scalar(0.3).unwrap())
                    .unwrap(),
                None => l,
            }
        };
        let extra_s = spatial.ponder.as_ref().or(spatial.expected_n.as_ref());
        let extra_f = flat.ponder.as_ref().or(flat.expected_n.as_ref());
        let gs = loss(&spatial.output, &target, extra_s).backward().unwrap();
        let gf = loss(&flat.output, &rows(&target), extra_f)
            .backward()
            .unwrap();
        for p in toy.w.iter().chain(&toy.v) {
            let a = gs.get(p).map(|g| g.to_f64_vec()).unwrap_or_default();
            let e = gf.get(p).map(|g| g.to_f64_vec()).unwrap_or_default();
            let n = a.len().max(e.len());
            let pad = |mut v: Vec<f64>| {
                v.resize(n, 0.0);
                v
            };
            close(&pad(a), &pad(e), 1e-9, &format!("{what} gradient"));
        }
    }
    // The test is only meaningful if positions halt at different units under ACT.
    let act = run_spatial_block(
        units,
        &x,
        |l, s, m| toy.spatial_unit(l, s, m),
        |l, s| toy.spatial_head(l, s),
        &HaltingMode::Act { eps: ACT_EPSILON },
        &mut Rng::seed(0),
    )
    .unwrap();
    let mut distinct = act.units.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() >= 2, "{:?}", act.units);
}

/// A tiny spatial ResNet in `f64`: 3 units per stage, widths 4/8/8, 8×8 inputs.
fn tiny_spatial(bias: f64, seed: u64) -> (ParamStore, ResNet, Tensor) {
    let mut rng = Rng::seed(seed);
    let config = ResNetConfig {
        units_per_stage: 3,
        widths: [4, 8, 8],
        in_channels: 3,
        num_classes: 5,
        halting_bias: Some(bias),
    };
    let store = ParamStore::new(DType::F64, CPU);
    let net = ResNet::new_spatial(&store, config, &mut rng).unwrap();
    let x = Tensor::randn([3, 3, 8, 8], DType::F64, CPU, &mut rng).unwrap();
    (store, net, x)
}

/// Runs stage 0 of `net` as a spatial block in `mode`, recording the state after every unit
/// and the halting probabilities of every head.
fn record_stage0(
    net: &ResNet,
    x: &Tensor,
    mode: &HaltingMode,
) -> (
    common::reference::SpatialBlockOutput,
    Vec<Tensor>,
    Vec<Tensor>,
) {
    let stage = &net.stages()[0];
    let heads = net.spatial_heads(0);
    let input = net.stem(x).unwrap();
    let mut states = Vec::new();
    let mut probs = Vec::new();
    let out = pact::no_grad(|| {
        run_spatial_block(
            stage.units.len(),
            &input,
            |l, s, m| {
                let next = stage.units[l].forward_masked(s, m, false)?;
                states.push(next.clone());
                Ok(next)
            },
            |l, s| {
                let a = heads[l].logits(s)?;
                probs.push(a.sigmoid()?);
                Ok(a)
            },
            mode,
            &mut Rng::seed(0),
        )
    })
    .unwrap();
    (out, states, probs)
}

/// The `C` values of position `p` (row-major over example, y, x) of a `[B, C, H, W]` state.
fn at(state: &[f64], dims: &[usize], p: usize) -> Vec<f64> {
    let (c, hw) = (dims[1], dims[2] * dims[3]);
    let (b, q) = (p / hw, p % hw);
    (0..c).map(|k| state[(b * c + k) * hw + q]).collect()
}

/// math §2 per position (§8) on the ResNet's own units and heads: N, R and ρ are those of
/// `act_from_probs` on each position's halting probabilities, and a halted position keeps the
/// state of its halting unit exactly.
#[test]
fn sact_is_act_per_position_and_halted_positions_are_frozen_section_8() {
    let (_store, net, x) = tiny_spatial(0.5, 21);
    let (out, states, probs) = record_stage0(&net, &x, &HaltingMode::Act { eps: ACT_EPSILON });
    let dims = states[0].dims().to_vec();
    let p = dims[0] * dims[2] * dims[3];
    // Heads that did not run (every position had halted) cannot matter: pad with zeros.
    let mut columns: Vec<Tensor> = probs.iter().map(|t| t.reshape([p, 1]).unwrap()).collect();
    while columns.len() < 2 {
        columns.push(Tensor::zeros([p, 1], DType::F64, CPU));
    }
    let act = act_from_probs(&Tensor::concat(&columns, 1).unwrap(), ACT_EPSILON).unwrap();
    assert_eq!(out.units, act.n);
    close(
        &out.ponder.as_ref().unwrap().to_f64_vec(),
        &act.ponder.to_f64_vec(),
        1e-12,
        "ponder",
    );
    let mut distinct = out.units.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(
        distinct.len() >= 2,
        "every position halted alike: {distinct:?}"
    );
    // Frozen: every recorded state after a position's halting unit equals the state there.
    let values: Vec<Vec<f64>> = states.iter().map(Tensor::to_f64_vec).collect();
    let mut frozen_checked = 0;
    for (pos, &n) in out.units.iter().enumerate() {
        let halted = at(&values[n - 1], &dims, pos);
        for later in &values[n..] {
            assert_eq!(
                at(later, &dims, pos),
                halted,
                "position {pos} moved after N = {n}"
            );
            frozen_checked += 1;
        }
    }
    assert!(frozen_checked > 0);
    // The output mixes each position's states with ACT's weights.
    let weights = act.weights.to_f64_vec();
    let output = out.output.to_f64_vec();
    for pos in 0..p {
        let mut mix = vec![0.0; dims[1]];
        for (l, state) in values.iter().enumerate() {
            for (m, v) in mix.iter_mut().zip(at(state, &dims, pos)) {
                *m += weights[pos * 3 + l] * v;
            }
        }
        close(&at(&output, &dims, pos), &mix, 1e-12, "output");
    }
}

/// math §6 per position (§8): deterministic spatial PACT equals a direct implementation
/// that runs every unit densely and keeps, with `where`, the old state at positions that have
/// halted (the first unit with `h ≥ 0.5`); the output is each position's state at its N.
#[test]
fn deterministic_spatial_pact_runs_each_position_until_its_n_section_8() {
    let (_store, net, x) = tiny_spatial(0.0, 8);
    let out = pact::no_grad(|| {
        common::reference::forward_spatial(
            &net,
            &x,
            &HaltingMode::PactDeterministic,
            false,
            &mut Rng::seed(0),
        )
    })
    .unwrap();
    let mut h = net.stem(&x).unwrap();
    for (s, stage) in net.stages().iter().enumerate() {
        let heads = net.spatial_heads(s);
        let units = stage.units.len();
        h = stage.units[0].forward(&h, false).unwrap();
        let d = h.dims().to_vec();
        let mut n = vec![0usize; d[0] * d[2] * d[3]];
        let mut states = vec![h.clone()];
        for (l, unit) in stage.units.iter().enumerate() {
            if l > 0 {
                let running: Vec<f64> = n.iter().map(|&v| f64::from(u8::from(v == 0))).collect();
                let cond = Tensor::from_f64_slice(&running, [d[0], 1, d[2], d[3]], DType::F64, CPU)
                    .unwrap();
                let full = unit.forward(&h, false).unwrap();
                h = Tensor::where_cond(&cond, &full, &h).unwrap();
                states.push(h.clone());
            }
            if let Some(head) = heads.get(l) {
                let a = head.logits(&h).unwrap().to_f64_vec();
                for (v, &logit) in n.iter_mut().zip(&a) {
                    if *v == 0 && logit >= 0.0 {
                        *v = l + 1;
                    }
                }
            }
        }
        for v in &mut n {
            if *v == 0 {
                *v = units;
            }
        }
        assert_eq!(out.blocks[s].units, n, "stage {s}");
        close(
            &out.blocks[s].output.to_f64_vec(),
            &h.to_f64_vec(),
            1e-12,
            "stage output",
        );
        // The output at each position is its state at unit N.
        let values: Vec<Vec<f64>> = states.iter().map(Tensor::to_f64_vec).collect();
        let output = h.to_f64_vec();
        for (pos, &np) in n.iter().enumerate() {
            assert_eq!(at(&output, &d, pos), at(&values[np - 1], &d, pos));
        }
    }
    let expected = net.head(&h, false).unwrap();
    close(
        &out.logits.to_f64_vec(),
        &expected.to_f64_vec(),
        1e-12,
        "logits",
    );
    let all: Vec<usize> = out.blocks.iter().flat_map(|b| b.units.clone()).collect();
    assert!(
        all.iter().any(|&v| v < 3) && all.iter().any(|&v| v > 1),
        "{all:?}"
    );
}

/// Sets every entry of parameter `name` to `value`.
fn fill(store: &ParamStore, name: &str, value: f64) {
    let p = store
        .get(name)
        .unwrap_or_else(|| panic!("no parameter {name}"));
    p.set(p.tensor().full_like(value)).unwrap();
}

/// math §8: with the same halting probability at every position the spatial network is
/// the non-spatial one: same logits (ACT, deterministic PACT, plain), a constant ponder map
/// equal to the per-example ponder cost, and the same SACT training loss.
#[test]
fn uniform_halting_reproduces_the_non_spatial_network_section_8() {
    let config = ResNetConfig {
        units_per_stage: 3,
        widths: [4, 8, 8],
        in_channels: 3,
        num_classes: 5,
        halting_bias: Some(0.0),
    };
    let mut rng = Rng::seed(2);
    let plain_store = ParamStore::new(DType::F64, CPU);
    let plain = ResNet::new(&plain_store, config.clone(), &mut rng).unwrap();
    let spatial_store = ParamStore::new(DType::F64, CPU);
    let spatial = ResNet::new_spatial(&spatial_store, config, &mut rng).unwrap();
    // Same units; heads with constant logits c[stage][unit].
    for (name, param) in plain_store.all() {
        if let Some(target) = spatial_store.get(&name) {
            target.set(param.tensor()).unwrap();
        }
    }
    let logits = [[-1.0, -1.0], [1.0, 0.2], [5.0, 0.0]];
    for (s, row) in logits.iter().enumerate() {
        for (u, &c) in row.iter().enumerate() {
            fill(&plain_store, &format!("stages.{s}.halt.{u}.weight"), 0.0);
            fill(&plain_store, &format!("stages.{s}.halt.{u}.bias"), c);
            fill(
                &spatial_store,
                &format!("stages.{s}.spatial_halt.{u}.conv.weight"),
                0.0,
            );
            fill(
                &spatial_store,
                &format!("stages.{s}.spatial_halt.{u}.conv.bias"),
                c,
            );
            fill(
                &spatial_store,
                &format!("stages.{s}.spatial_halt.{u}.fc.weight"),
                0.0,
            );
        }
    }
    let x = Tensor::randn([4, 3, 8, 8], DType::F64, CPU, &mut rng).unwrap();
    let act = HaltingMode::Act { eps: ACT_EPSILON };
    for mode in [act, HaltingMode::PactDeterministic, HaltingMode::Plain] {
        let a = common::reference::forward_adaptive(&plain, &x, &mode, false, &mut Rng::seed(0))
            .unwrap();
        let b = common::reference::forward_spatial(&spatial, &x, &mode, false, &mut Rng::seed(0))
            .unwrap();
        close(
            &b.logits.to_f64_vec(),
            &a.logits.to_f64_vec(),
            1e-12,
            mode.name(),
        );
        for (bs, ba) in b.blocks.iter().zip(&a.blocks) {
            let p = bs.positions();
            for (i, &n) in ba.units.iter().enumerate() {
                assert!(bs.units[i * p..(i + 1) * p].iter().all(|&v| v == n));
            }
            if let (Some(ps), Some(pa)) = (&bs.ponder, &ba.ponder) {
                let (ps, pa) = (ps.to_f64_vec(), pa.to_f64_vec());
                for (i, &v) in pa.iter().enumerate() {
                    close(&ps[i * p..(i + 1) * p], &vec![v; p], 1e-12, "ponder map");
                }
            }
        }
    }
    // ACT units: stage 1 runs all 3 (h = .27, .27), stage 2 halts at 2, stage 3 at 1.
    let a =
        common::reference::forward_spatial(&spatial, &x, &act, false, &mut Rng::seed(0)).unwrap();
    assert_eq!(
        a.blocks.iter().map(|b| b.units[0]).collect::<Vec<_>>(),
        vec![3, 2, 1]
    );
    // The SACT objective (§2: mean over batch and positions) equals ACT's.
    let labels = [0, 1, 2, 3];
    let objective = Objective::Act {
        tau: 0.1,
        eps: ACT_EPSILON,
    };
    let la = image_step(&plain, &x, &labels, &objective, &mut Rng::seed(0)).unwrap();
    let lb = image_step(&spatial, &x, &labels, &objective, &mut Rng::seed(0)).unwrap();
    close(
        &[lb.loss.to_scalar().unwrap()],
        &[la.loss.to_scalar().unwrap()],
        1e-12,
        "loss",
    );
    close(&lb.units, &la.units, 1e-12, "units");
}

/// The SACT and spatial PACT objectives, which train through the modelling language, are the
/// hand-written losses over `forward_spatial`: cross-entropy plus τ (λ) times the mean over
/// batch and positions of the ponder cost (of `E_q[N]`), summed over blocks (math §2, §4, §8),
/// plus log Z per block for PACT.
#[test]
fn spatial_objectives_average_over_batch_and_positions_section_8() {
    let (_store, net, x) = tiny_spatial(0.0, 4);
    let labels = [0, 3, 4];
    let cases = [
        Objective::Act {
            tau: 0.05,
            eps: ACT_EPSILON,
        },
        Objective::Pact {
            lambda: 0.2,
            temperature: 0.5,
            straight_through: false,
        },
    ];
    for objective in cases {
        let step = image_step(&net, &x, &labels, &objective, &mut Rng::seed(6)).unwrap();
        let out = common::reference::forward_spatial(
            &net,
            &x,
            &objective.training_mode(),
            true,
            &mut Rng::seed(6),
        )
        .unwrap();
        let mut expected = out
            .logits
            .cross_entropy(&labels)
            .unwrap()
            .to_scalar()
            .unwrap();
        let weight = match objective {
            Objective::Act { tau, .. } => tau,
            Objective::Pact { lambda, .. } => {
                // Through the modelling language the prior term keeps its normaliser, log Z
                // per position, averaged over positions: log Z per block (a constant).
                let units = net.stages()[0].units.len();
                expected += 3.0 * log_normaliser(lambda, units).unwrap();
                lambda
            }
            _ => unreachable!(),
        };
        for (b, block) in out.blocks.iter().enumerate() {
            let cost = block.ponder.as_ref().or(block.expected_n.as_ref()).unwrap();
            assert_eq!(cost.dims(), &[3, block.height, block.width]);
            let v = cost.to_f64_vec();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            expected += weight * mean;
            let units = block.units.iter().sum::<usize>() as f64 / block.units.len() as f64;
            let logged = if matches!(objective, Objective::Act { .. }) {
                units
            } else {
                mean
            };
            assert!((step.units[b] - logged).abs() < 1e-12);
        }
        close(
            &[step.loss.to_scalar().unwrap()],
            &[expected],
            1e-12,
            "loss",
        );
    }
    let err = image_step(
        &net,
        &x,
        &labels,
        &Objective::PactScoreFunction { lambda: 0.1 },
        &mut Rng::seed(0),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("not offered for spatial"), "{err}");
}

/// Gradients of the spatial head and of whole SACT and spatial-PACT losses (in `f64`) against
/// central finite differences, for a few entries of every kind of parameter.
#[test]
fn spatial_gradients_match_finite_differences() {
    let (store, net, x) = tiny_spatial(0.0, 13);
    let labels = [1, 2, 0];
    let names = [
        "stages.0.spatial_halt.0.conv.weight",
        "stages.0.spatial_halt.1.conv.bias",
        "stages.1.spatial_halt.0.fc.weight",
        "stages.2.spatial_halt.1.conv.weight",
        "stages.0.units.1.c1.weight",
        "stages.1.units.2.c2.weight",
    ];
    let objectives = [
        Objective::Act {
            tau: 0.3,
            eps: ACT_EPSILON,
        },
        Objective::Pact {
            lambda: 0.3,
            temperature: 0.5,
            straight_through: false,
        },
    ];
    for objective in objectives {
        let loss_of = || {
            image_step(&net, &x, &labels, &objective, &mut Rng::seed(5))
                .unwrap()
                .loss
        };
        let grads = loss_of().backward().unwrap();
        for name in names {
            let param = store.get(name).unwrap();
            let value = param.tensor();
            let base = value.to_f64_vec();
            let g = grads
                .get(&value)
                .unwrap_or_else(|| panic!("{name}: no gradient"))
                .to_f64_vec();
            let step = 1e-6;
            for i in [0, base.len() / 2, base.len() - 1] {
                let eval = |delta: f64| {
                    let mut v = base.clone();
                    v[i] += delta;
                    param
                        .set(
                            Tensor::from_f64_slice(&v, value.shape().clone(), DType::F64, CPU)
                                .unwrap(),
                        )
                        .unwrap();
                    pact::no_grad(|| loss_of().to_scalar()).unwrap()
                };
                let numeric = (eval(step) - eval(-step)) / (2.0 * step);
                param
                    .set(
                        Tensor::from_f64_slice(&base, value.shape().clone(), DType::F64, CPU)
                            .unwrap(),
                    )
                    .unwrap();
                assert!(
                    (numeric - g[i]).abs() <= 1e-6 * (1.0 + numeric.abs()),
                    "{} {name}[{i}]: autodiff {} vs finite differences {numeric}",
                    objective_name(&objective),
                    g[i]
                );
            }
        }
    }
    // The head alone, with respect to its input state.
    let head = &net.spatial_heads(1)[0];
    let s0 = Tensor::randn([2, 8, 4, 4], DType::F64, CPU, &mut Rng::seed(1)).unwrap();
    let r = Tensor::randn([2, 4, 4], DType::F64, CPU, &mut Rng::seed(2)).unwrap();
    let s = s0.to_var();
    let g = head
        .logits(&s)
        .unwrap()
        .mul(&r)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let g = g.get(&s).unwrap().to_f64_vec();
    let base = s0.to_f64_vec();
    for i in [0, 37, 127, 255] {
        let eval = |delta: f64| {
            let mut v = base.clone();
            v[i] += delta;
            let t = Tensor::from_f64_slice(&v, [2, 8, 4, 4], DType::F64, CPU).unwrap();
            head.logits(&t)
                .unwrap()
                .mul(&r)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar()
                .unwrap()
        };
        let numeric = (eval(1e-6) - eval(-1e-6)) / 2e-6;
        assert!(
            (numeric - g[i]).abs() < 1e-7,
            "head input[{i}]: {} vs {numeric}",
            g[i]
        );
    }
}

/// The plain objective on a spatial network (heads present, every unit run): the
/// cross-entropy of the plain network, plus the constant −log p(N = L) = log L of each stage's
/// prior (λ = 0), averaged over positions; every position runs every unit.
#[test]
fn plain_objective_on_a_spatial_network_is_the_cross_entropy() {
    let (_store, net, x) = tiny_spatial(0.0, 4);
    let labels = [2, 0, 1];
    let step = image_step(&net, &x, &labels, &Objective::Plain, &mut Rng::seed(1)).unwrap();
    let ce = net
        .forward(&x, true)
        .unwrap()
        .cross_entropy(&labels)
        .unwrap()
        .to_scalar()
        .unwrap();
    close(
        &[step.loss.to_scalar().unwrap()],
        &[ce + 3.0 * 3f64.ln()],
        1e-12,
        "plain loss",
    );
    assert_eq!(step.units, vec![3.0; 3]);
}

fn objective_name(o: &Objective) -> &'static str {
    match o {
        Objective::Act { .. } => "SACT",
        _ => "spatial PACT",
    }
}

/// `pact eval`'s numbers for a spatial model: units are means over positions, FLOPs are
/// counted per position (math §9).
#[test]
fn evaluation_counts_units_and_flops_per_position_section_9() {
    let config = ResNetConfig {
        units_per_stage: 2,
        widths: [4, 8, 8],
        in_channels: 3,
        num_classes: 4,
        halting_bias: Some(0.0),
    };
    let net =
        ResNet::new_spatial(&ParamStore::new(DType::F32, CPU), config, &mut Rng::seed(1)).unwrap();
    let mut rng = Rng::seed(9);
    let n = 6;
    let images: Vec<f32> = (0..n * 3 * 64).map(|_| rng.uniform() as f32).collect();
    let set = ImageSet::new(
        "random",
        images.clone(),
        vec![0, 1, 2, 3, 0, 1],
        [3, 8, 8],
        4,
    )
    .unwrap();
    for mode in [
        HaltingMode::Act { eps: ACT_EPSILON },
        HaltingMode::PactDeterministic,
    ] {
        let report = evaluate_images(&net, &set, &mode, 4, CPU).unwrap();
        let x = Tensor::from_f32_vec(images.clone(), [n, 3, 8, 8], CPU).unwrap();
        let out = pact::no_grad(|| {
            common::reference::forward_spatial(&net, &x, &mode, false, &mut Rng::seed(0))
        })
        .unwrap();
        for (b, block) in out.blocks.iter().enumerate() {
            let mean = block.units.iter().sum::<usize>() as f64 / block.units.len() as f64;
            assert!(
                (report.units_mean[b] - mean).abs() < 1e-12,
                "{}",
                mode.name()
            );
            assert_eq!(report.units_per_example[b], block.max_units());
        }
        let flops = out.flops_per_example(&net, 8, 8).unwrap();
        let mean = flops.iter().sum::<u64>() as f64 / n as f64;
        assert!((report.flops_mean - mean).abs() < 1e-6 * mean);
        // Fewer FLOPs than every position running every unit, unless nothing halted.
        let full = net
            .spatial_flops(8, 8, &[&[2; 64], &[2; 16], &[2; 4]])
            .unwrap() as f64;
        assert!(report.flops_mean <= full);
    }
}

/// math §6 and §8: in deterministic mode an example whose every position has halted leaves
/// the batch; the others keep running with their halted positions frozen, and the output has
/// every example in order.
#[test]
fn deterministic_mode_compacts_examples_whose_positions_all_halted_section_6() {
    // Example 0: every position positive (halts after unit 1). Example 1: the left half
    // positive, the right half negative (never halts, runs all 3 units).
    let (h, w) = (2, 4);
    let mut values = vec![1.0; h * w];
    values.extend((0..h * w).map(|i| if i % w < w / 2 { 1.0 } else { -1.0 }));
    let x = Tensor::from_f64_slice(&values, [2, 1, h, w], DType::F64, CPU).unwrap();
    let mut rows_seen = vec![];
    let out = run_spatial_block(
        3,
        &x,
        |_, s, m| {
            rows_seen.push(s.dims()[0]);
            let branch = s.mul_scalar(0.1)?;
            let branch = match m {
                Some(m) => branch.mul(m)?,
                None => branch,
            };
            s.add(&branch)
        },
        |_, s| s.squeeze(1),
        &HaltingMode::PactDeterministic,
        &mut Rng::seed(0),
    )
    .unwrap();
    assert_eq!(rows_seen, vec![2, 1, 1]);
    let mut expected_units = vec![1; h * w];
    expected_units.extend((0..h * w).map(|i| if i % w < w / 2 { 1 } else { 3 }));
    assert_eq!(out.units, expected_units);
    let expected: Vec<f64> = values
        .iter()
        .zip(&expected_units)
        .map(|(v, &n)| v * 1.1f64.powi(n as i32))
        .collect();
    close(&out.output.to_f64_vec(), &expected, 1e-12, "output");
}
