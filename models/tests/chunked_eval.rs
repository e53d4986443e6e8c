//! The chunked low-memory evaluation (the ResNet's chunked model under each mode's handlers,
//! `ResNet::run_in_mode`) computes what the dense reference block computes: logits, units
//! executed and ACT's ponder cost, for plain, ACT and deterministic PACT, at batch sizes and
//! chunk sizes that do not divide each other, with examples halting at different units.

mod common;

use common::reference::{run_block, HaltingMode};
use pact::nn::ParamStore;
use pact::ppl::{ChunkedSteps, Ctx};
use pact::{DType, Device, Rng, Tensor};
use pact_models::halting::{time_penalty_site, ACT_EPSILON};
use pact_models::resnet::{ResNet, ResNetConfig};

const ACT: HaltingMode = HaltingMode::Act { eps: ACT_EPSILON };

/// A small ResNet with random batch-norm statistics and affine parameters (so that the
/// fused evaluation-mode batch norm is exercised), and halting-head biases `bias`.
fn network(dtype: DType, units: usize, bias: f64, seed: u64) -> ResNet {
    network_and_store(dtype, units, bias, seed).0
}

/// Sets each halting head's bias so that its logit on `x` (every unit run, as PonderNet runs
/// them) is zero at the median example: examples then halt at different units.
fn center_heads(net: &ResNet, store: &ParamStore, x: &Tensor) {
    let dense = pact::no_grad(|| {
        common::reference::forward_adaptive(
            net,
            x,
            &HaltingMode::PonderNet,
            false,
            &mut Rng::seed(0),
        )
    })
    .unwrap();
    for (s, block) in dense.blocks.iter().enumerate() {
        let logits = block.logits.as_ref().unwrap();
        let (b, heads) = (logits.dims()[0], logits.dims()[1]);
        let values = logits.to_f64_vec();
        for u in 0..heads {
            let mut column: Vec<f64> = (0..b).map(|i| values[i * heads + u]).collect();
            column.sort_by(f64::total_cmp);
            let param = store.get(&format!("stages.{s}.halt.{u}.bias")).unwrap();
            let bias = param.tensor().to_f64_vec()[0] - column[b / 2];
            param.set(param.tensor().full_like(bias)).unwrap();
        }
    }
}

fn network_and_store(dtype: DType, units: usize, bias: f64, seed: u64) -> (ResNet, ParamStore) {
    let mut rng = Rng::seed(seed);
    let store = ParamStore::new(dtype, Device::Cpu);
    let config = ResNetConfig {
        units_per_stage: units,
        widths: [4, 8, 8],
        in_channels: 3,
        num_classes: 5,
        halting_bias: Some(bias),
    };
    let net = ResNet::new(&store, config, &mut rng).unwrap();
    for (name, param) in store.all() {
        let t = param.tensor();
        let (shape, dev) = (t.shape().clone(), t.device());
        let is_norm = name.contains(".b1.")
            || name.contains(".b2.")
            || name.contains("halt_bn.")
            || name.starts_with("bn.");
        let value = if name.ends_with("running_mean") {
            Tensor::rand_normal(shape, 0.0, 0.3, dtype, dev, &mut rng)
        } else if name.ends_with("running_var") {
            Tensor::rand_uniform(shape, 0.5, 1.5, dtype, dev, &mut rng)
        } else if is_norm && name.ends_with("weight") {
            Tensor::rand_uniform(shape, 0.7, 1.3, dtype, dev, &mut rng)
        } else if is_norm && name.ends_with("bias") {
            Tensor::rand_normal(shape, 0.0, 0.2, dtype, dev, &mut rng)
        } else {
            continue;
        };
        param.set(value.unwrap()).unwrap();
    }
    (net, store)
}

fn images(b: usize, dtype: DType, seed: u64) -> Tensor {
    Tensor::randn([b, 3, 8, 8], dtype, Device::Cpu, &mut Rng::seed(seed)).unwrap()
}

fn assert_close(a: &Tensor, b: &Tensor, tol: f64, what: &str) {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes");
    for (i, (x, y)) in a.to_f64_vec().iter().zip(b.to_f64_vec()).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

/// Runs both evaluations and compares them; returns the units per block.
fn compare(net: &ResNet, x: &Tensor, mode: &HaltingMode, chunk: usize) -> Vec<Vec<usize>> {
    let tol = if x.dtype() == DType::F64 { 1e-10 } else { 1e-4 };
    let dense = pact::no_grad(|| {
        common::reference::forward_adaptive(net, x, mode, false, &mut Rng::seed(0))
    })
    .unwrap();
    let chunked = pact::no_grad(|| net.run_in_mode(x, mode, chunk, &mut Rng::seed(0))).unwrap();
    let what = format!("{} chunk {chunk} batch {}", mode.name(), x.dims()[0]);
    assert_close(
        &chunked.logits,
        &dense.logits,
        tol,
        &format!("{what} logits"),
    );
    assert_eq!(chunked.stages.len(), dense.blocks.len());
    for (c, d) in chunked.stages.iter().zip(&dense.blocks) {
        assert_eq!(c.steps, d.units, "{what}: units");
        if let Some(d) = &d.ponder {
            let c = c.ponder_values(mode).unwrap();
            let c = Tensor::from_f64_slice(&c, [c.len()], d.dtype(), d.device()).unwrap();
            assert_close(&c, d, tol, &format!("{what} ponder"));
        }
    }
    chunked.stages.iter().map(|b| b.steps.clone()).collect()
}

fn mixed(units: &[Vec<usize>]) -> bool {
    units.iter().any(|block| {
        let first = block[0];
        block.iter().any(|&u| u != first)
    })
}

#[test]
fn plain_act_and_pact_match_the_dense_evaluation_in_f64() {
    let (net, store) = network_and_store(DType::F64, 4, 0.0, 1);
    center_heads(&net, &store, &images(13, DType::F64, 23));
    for b in [1, 7, 13] {
        let x = images(b, DType::F64, 10 + b as u64);
        for chunk in [1, 3, 5, 16] {
            compare(&net, &x, &HaltingMode::Plain, chunk);
            let act = compare(&net, &x, &ACT, chunk);
            let pact = compare(&net, &x, &HaltingMode::PactDeterministic, chunk);
            if b == 13 {
                assert!(mixed(&act), "ACT halting is not mixed: {act:?}");
                assert!(mixed(&pact), "PACT halting is not mixed: {pact:?}");
            }
        }
    }
}

#[test]
fn f32_evaluation_matches_within_rounding() {
    let net = network(DType::F32, 3, 0.0, 2);
    let x = images(11, DType::F32, 3);
    for mode in [HaltingMode::Plain, ACT, HaltingMode::PactDeterministic] {
        compare(&net, &x, &mode, 4);
    }
}

#[test]
fn halting_at_the_first_unit_and_never_halting() {
    for bias in [-30.0, 30.0] {
        let net = network(DType::F64, 3, bias, 4);
        let x = images(9, DType::F64, 5);
        let expected = if bias > 0.0 { 1 } else { 3 };
        for mode in [ACT, HaltingMode::PactDeterministic] {
            let units = compare(&net, &x, &mode, 4);
            assert!(units.iter().flatten().all(|&u| u == expected), "{units:?}");
        }
    }
}

#[test]
fn single_unit_stages_and_bad_arguments() {
    let net = network(DType::F64, 1, 0.0, 6);
    let x = images(5, DType::F64, 7);
    for mode in [HaltingMode::Plain, ACT, HaltingMode::PactDeterministic] {
        compare(&net, &x, &mode, 2);
    }
    let run = |mode: &HaltingMode, chunk: usize| {
        pact::no_grad(|| net.run_in_mode(&x, mode, chunk, &mut Rng::seed(0)))
            .unwrap_err()
            .to_string()
    };
    assert!(run(&HaltingMode::PonderNet, 2).contains("ponder-net"));
    assert!(run(&ACT, 0).contains("chunks of at least one"));
    assert!(run(&HaltingMode::Act { eps: 1.5 }, 2).contains("eps"));
    // A dense run of the chunked model's sites is refused, naming the site.
    let model = net.chunked_model(&x, None, 2).unwrap();
    let (net3, x3) = (network(DType::F64, 3, 0.0, 6), images(4, DType::F64, 7));
    let model3 = net3.chunked_model(&x3, None, 2).unwrap();
    let store3 = ParamStore::new(DType::F64, Device::Cpu);
    assert!(
        pact::no_grad(|| HaltingMode::PactSample.run(&model, &store3, &mut Rng::seed(0))).is_ok()
    );
    let err = pact::no_grad(|| HaltingMode::PactSample.run(&model3, &store3, &mut Rng::seed(0)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("stage0") && err.contains("online only"),
        "{err}"
    );
}

/// A block of non-residual units `tanh(s W_l)` and heads reading a per-row offset, as the
/// steps of a chunked halting site (heads see the states only, so the offset is stored in the
/// last column of the state).
struct Toy {
    w: Vec<Tensor>,
    residual: bool,
}

impl Toy {
    fn unit(&self, l: usize, s: &Tensor) -> pact::Result<Tensor> {
        let y = s.matmul(&self.w[l])?.tanh()?;
        let d = s.dims()[1];
        // Keep the offset column as it is.
        let keep = y.narrow(1, 0, d - 1)?;
        Tensor::concat(&[keep, s.narrow(1, d - 1, 1)?], 1)
    }

    fn head(&self, l: usize, s: &Tensor) -> pact::Result<Tensor> {
        let d = s.dims()[1];
        s.narrow(1, d - 1, 1)?
            .squeeze(1)?
            .affine(-1.0, l as f64 + 0.5)
    }
}

impl ChunkedSteps for Toy {
    fn is_residual(&self, _: usize) -> bool {
        self.residual
    }
    fn apply(&self, l: usize, chunk: Tensor) -> pact::Result<Tensor> {
        let out = self.unit(l, &chunk)?;
        if self.residual {
            out.sub(&chunk)
        } else {
            Ok(out)
        }
    }
    fn halting_logits(&self, l: usize, states: &[&Tensor]) -> pact::Result<Tensor> {
        let rows: Vec<Tensor> = states.iter().map(|&s| s.clone()).collect();
        self.head(l, &Tensor::concat(&rows, 0)?)
    }
}

#[test]
fn a_chunked_site_matches_the_reference_block_with_halting_spread_over_every_unit() {
    const UNITS: usize = 5;
    const B: usize = 23;
    const D: usize = 6;
    let mut rng = Rng::seed(8);
    let w: Vec<Tensor> = (0..UNITS)
        .map(|_| Tensor::rand_normal([D, D], 0.0, 0.5, DType::F64, Device::Cpu, &mut rng).unwrap())
        .collect();
    // Row i halts (in PACT) after unit i % UNITS: its offset column holds i % UNITS.
    let mut x = Tensor::randn([B, D], DType::F64, Device::Cpu, &mut rng)
        .unwrap()
        .to_f64_vec();
    for i in 0..B {
        x[i * D + D - 1] = (i % UNITS) as f64;
    }
    let x = Tensor::from_f64_vec(x, [B, D], Device::Cpu).unwrap();
    let site = time_penalty_site(UNITS, 0.1, DType::F64, Device::Cpu).unwrap();
    for residual in [false, true] {
        let toy = Toy {
            w: w.clone(),
            residual,
        };
        for mode in [HaltingMode::Plain, ACT, HaltingMode::PactDeterministic] {
            let dense = pact::no_grad(|| {
                run_block(
                    UNITS,
                    &x,
                    |l, s, _| toy.unit(l, s),
                    |l, s| toy.head(l, s),
                    &mode,
                    &mut Rng::seed(0),
                )
            })
            .unwrap();
            for chunk in [1, 4, 30] {
                let model = |ctx: &mut Ctx| {
                    let rows: Vec<Tensor> = (0..B).map(|i| x.narrow(0, i, 1).unwrap()).collect();
                    ctx.plate("batch", B, |ctx| {
                        ctx.halting_chunked("n", &site, rows, &toy, chunk)
                    })
                };
                let (out, _) = pact::no_grad(|| {
                    mode.run(
                        model,
                        &ParamStore::new(DType::F64, Device::Cpu),
                        &mut Rng::seed(0),
                    )
                })
                .unwrap();
                let states = Tensor::concat(&out.states, 0).unwrap();
                let what = format!("{} residual {residual} chunk {chunk}", mode.name());
                assert_close(&states, &dense.output, 1e-12, &what);
                assert_eq!(out.steps, dense.units, "{what}");
            }
            if matches!(mode, HaltingMode::PactDeterministic) {
                let expected: Vec<usize> = (0..B).map(|i| i % UNITS + 1).collect();
                assert_eq!(dense.units, expected);
            }
        }
    }
}

/// On the CPU the chunks of a step run side by side, one per worker thread: the logits and
/// units are bit for bit those of one thread, whatever the thread count.
#[test]
fn chunks_run_side_by_side_with_the_results_of_one_thread() {
    let (net, store) = network_and_store(DType::F32, 3, 0.0, 9);
    let x = images(21, DType::F32, 12);
    center_heads(&net, &store, &x);
    let on_chunks = |threads: usize, mode: &HaltingMode, chunk: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let out = pool
            .install(|| pact::no_grad(|| net.run_in_mode(&x, mode, chunk, &mut Rng::seed(0))))
            .unwrap();
        let steps: Vec<Vec<usize>> = out.stages.iter().map(|s| s.steps.clone()).collect();
        (out.logits.to_f64_vec(), steps)
    };
    let on = |threads: usize, mode: &HaltingMode| on_chunks(threads, mode, 4);
    for mode in [HaltingMode::Plain, ACT, HaltingMode::PactDeterministic] {
        let (logits, steps) = on(1, &mode);
        // Nor on the chunk size: each image's arithmetic is the same in any chunk (under
        // ACT the chunks stay together from unit to unit and shrink as images halt).
        for chunk in [1, 7, 32] {
            let (l, s) = on_chunks(2, &mode, chunk);
            assert_eq!(s, steps, "{} in chunks of {chunk}: units", mode.name());
            assert!(
                l.iter()
                    .zip(&logits)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{} in chunks of {chunk}: {l:?} vs {logits:?}",
                mode.name()
            );
        }
        if !matches!(mode, HaltingMode::Plain) {
            assert!(
                mixed(&steps),
                "{}: halting is not mixed: {steps:?}",
                mode.name()
            );
        }
        for threads in [2, 3] {
            let (l, s) = on(threads, &mode);
            assert_eq!(s, steps, "{} on {threads} threads: units", mode.name());
            let same = l
                .iter()
                .zip(&logits)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(
                same,
                "{} on {threads} threads: {l:?} vs {logits:?}",
                mode.name()
            );
        }
    }
}
