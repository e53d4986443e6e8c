//! `SvoMap` inside the trainer: a small ppl model (an amortised encoder `q(z | x)` and a
//! learned decoder `p(x | z)`) trained by `Trainer::fit`, checkpointed, interrupted and
//! resumed bit for bit.

use crate::common::{jsonl_without_timing, optim_bits, param_bits, record_bits};
use pact::dist::{Bernoulli, Independent, Normal};
use pact::nn::{Adam, AdamConfig, Linear, ParamStore};
use pact::ppl::Ctx;
use pact::{DType, Device, Rng, Tensor};
use pact_inference::objectives::{Estimator, Objective, SvoMap, Temperature};
use pact_inference::{Batch, Result, StepOutput, Stop, Trainer, TrainerConfig};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const CPU: Device = Device::Cpu;
const N: usize = 40;
const BITS: usize = 2;
const DIM: usize = 4;

/// `N × DIM` inputs: two fair bits per input, `x = W z + ε` with `W` rows
/// `(2, 2, 0, 0)` and `(0, 0, 2, 2)`, `ε ~ N(0, 0.5²)`.
fn data() -> Vec<f64> {
    let mut rng = Rng::seed(5);
    let noise = Tensor::randn([N, DIM], DType::F64, CPU, &mut rng)
        .unwrap()
        .to_f64_vec();
    let mut x: Vec<f64> = noise.iter().map(|e| 0.5 * e).collect();
    for i in 0..N {
        for j in 0..BITS {
            if rng.uniform() < 0.5 {
                x[i * DIM + 2 * j] += 2.0;
                x[i * DIM + 2 * j + 1] += 2.0;
            }
        }
    }
    x
}

/// The encoder of the guide and the decoder of the model, in one store.
struct Nets {
    encoder: Linear,
    decoder: Linear,
}

/// A fresh store with both networks; `init` seeds their initial weights.
fn nets(init: u64) -> (ParamStore, Nets) {
    let store = ParamStore::new(DType::F64, CPU);
    let mut rng = Rng::seed(init);
    let encoder = Linear::new(&store.pp("encoder"), DIM, BITS, &mut rng).unwrap();
    let decoder = Linear::new(&store.pp("decoder"), BITS, DIM, &mut rng).unwrap();
    (store, Nets { encoder, decoder })
}

/// `z_j ~ Bernoulli(1/2)`, `x ~ N(decoder(z), 1)` for the inputs of a minibatch.
fn model<'a>(x: &'a Tensor, nets: &'a Nets) -> impl Fn(&mut Ctx) -> pact::Result<()> + 'a {
    move |ctx: &mut Ctx| {
        let n = x.dims()[0];
        ctx.plate("data", n, |ctx| {
            let mut z = Vec::with_capacity(BITS);
            for j in 0..BITS {
                let prior = Bernoulli::new(Tensor::zeros([n], DType::F64, CPU))?;
                z.push(ctx.sample(&format!("z{j}"), prior)?.reshape([n, 1])?);
            }
            let loc = nets.decoder.forward(&Tensor::concat(&z, 1)?)?;
            let likelihood = Normal::new(loc, Tensor::scalar(1.0, DType::F64, CPU))?;
            ctx.observe("x", Independent::new(likelihood, 1)?, x)?;
            Ok(())
        })
    }
}

/// `q(z_j | x) = Bernoulli(σ(encoder(x)_j))`.
fn guide<'a>(x: &'a Tensor, nets: &'a Nets) -> impl Fn(&mut Ctx) -> pact::Result<()> + 'a {
    move |ctx: &mut Ctx| {
        let logits = nets.encoder.forward(x)?;
        let n = x.dims()[0];
        ctx.plate("data", n, |ctx| {
            for j in 0..BITS {
                let l = logits.narrow(1, j, 1)?.squeeze(1)?;
                ctx.sample(&format!("z{j}"), Bernoulli::new(l)?)?;
            }
            Ok(())
        })
    }
}

/// The objective: Concrete, temperature decaying from 1 by 0.9 a step to 0.3.
fn objective() -> SvoMap {
    SvoMap::new(Estimator::Concrete).temperature(Temperature::ExponentialDecay {
        initial: 1.0,
        rate: 0.9,
        floor: 0.3,
    })
}

/// One training step: the minibatch's rows, one SvoMap estimate with the trainer's random
/// stream, the loss per input. With `sync`, the objective's step counter (which drives the
/// temperature schedule) is set from the trainer's step, so that a resumed run continues
/// the schedule; without it the objective counts its own estimates.
fn step(
    svo: &mut SvoMap,
    sync: bool,
    nets: &Nets,
    store: &ParamStore,
    data: &[f64],
    batch: &Batch<'_>,
    rng: &mut Rng,
) -> Result<StepOutput> {
    if sync {
        svo.set_step(batch.step - 1);
    }
    let n = batch.indices.len();
    let rows: Vec<f64> = batch
        .indices
        .iter()
        .flat_map(|&i| data[i * DIM..(i + 1) * DIM].iter().copied())
        .collect();
    let x = Tensor::from_f64_vec(rows, [n, DIM], CPU)?;
    let e = svo.estimate(&model(&x, nets), &guide(&x, nets), store, rng)?;
    let mut out = StepOutput::new(e.loss.mul_scalar(1.0 / n as f64)?)
        .metric("objective", e.objective / n as f64)
        .metric("temperature", e.temperature.unwrap_or(0.0));
    if let Some(h) = e.entropy {
        out = out.metric("entropy", h / n as f64);
    }
    Ok(out)
}

fn adam(store: &ParamStore) -> Adam {
    Adam::new(
        store.trainable(),
        AdamConfig {
            lr: 0.05,
            ..Default::default()
        },
    )
}

fn config(dir: &Path, name: &str) -> TrainerConfig {
    TrainerConfig {
        seed: 17,
        batch_size: 8,
        stop: Stop::Epochs(4),
        checkpoint_dir: Some(dir.join(name)),
        checkpoint_every: Some(4),
        log_path: Some(dir.join(format!("{name}.jsonl"))),
        log_every: 3,
        ..Default::default()
    }
}

/// Trains 20 steps in one go, and the same run interrupted after step 9 (mid-epoch,
/// mid-log-window, after the checkpoint of step 8) and resumed from its checkpoint by a
/// fresh trainer, store (initialised differently) and objective. Returns both trainers
/// and their records.
fn straight_and_resumed(
    dir: &Path,
    sync: bool,
) -> (
    Trainer<Adam>,
    Vec<pact_inference::trainer::Record>,
    Trainer<Adam>,
    Vec<pact_inference::trainer::Record>,
) {
    let data = data();
    let (store, nets_a) = nets(1);
    let mut svo = objective();
    let mut straight = Trainer::new(config(dir, "straight"), store.clone(), adam(&store)).unwrap();
    let full = straight
        .fit(N, |b, rng| {
            step(&mut svo, sync, &nets_a, &store, &data, b, rng)
        })
        .unwrap();
    assert_eq!((full.step, full.interrupted), (20, false));

    let (store, nets_b) = nets(1);
    let flag = Arc::new(AtomicBool::new(false));
    let mut svo = objective();
    let mut first = Trainer::new(config(dir, "split"), store.clone(), adam(&store))
        .unwrap()
        .with_stop_flag(flag.clone());
    let part = first
        .fit(N, |b, rng| {
            if b.step == 9 {
                flag.store(true, Ordering::SeqCst);
            }
            step(&mut svo, sync, &nets_b, &store, &data, b, rng)
        })
        .unwrap();
    assert_eq!((part.step, part.interrupted), (9, true));
    drop(first);

    let (store, nets_c) = nets(2);
    let mut svo = objective();
    let mut second = Trainer::new(config(dir, "split"), store.clone(), adam(&store)).unwrap();
    assert!(second.resume_latest().unwrap());
    assert_eq!(second.step(), 9);
    let rest = second
        .fit(N, |b, rng| {
            step(&mut svo, sync, &nets_c, &store, &data, b, rng)
        })
        .unwrap();
    assert_eq!((rest.step, rest.interrupted), (20, false));
    let together = part.records.into_iter().chain(rest.records).collect();
    (straight, full.records, second, together)
}

#[test]
fn svo_map_trains_in_the_trainer_and_resumes_bit_identically() {
    let dir = tempfile::tempdir().unwrap();
    let (straight, full, resumed, together) = straight_and_resumed(dir.path(), true);

    assert_eq!(param_bits(straight.store()), param_bits(resumed.store()));
    assert_eq!(
        optim_bits(straight.optimizer()),
        optim_bits(resumed.optimizer())
    );
    assert_eq!(straight.rng().state(), resumed.rng().state());
    assert_eq!(full.len(), together.len());
    for (a, b) in full.iter().zip(&together) {
        assert_eq!(record_bits(a), record_bits(b));
    }
    assert_eq!(
        jsonl_without_timing(&dir.path().join("straight.jsonl")),
        jsonl_without_timing(&dir.path().join("split.jsonl"))
    );

    // It trained: the objective per input rose, the temperature followed the schedule.
    let metric = |r: &pact_inference::trainer::Record, name: &str| r.metrics[name];
    let (first, last) = (&full[0], &full[full.len() - 1]);
    println!(
        "objective per input {:.3} -> {:.3}, temperature {:.3} -> {:.3}",
        metric(first, "objective"),
        metric(last, "objective"),
        metric(first, "temperature"),
        metric(last, "temperature")
    );
    assert!(metric(last, "objective") > metric(first, "objective") + 1.0);
    assert_eq!(metric(last, "temperature"), 0.3);
}

/// The check above can fail: an objective whose step counter is not set from the trainer's
/// restarts its temperature schedule after a resume, and the runs part.
#[test]
fn an_objective_counting_its_own_steps_does_not_resume_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (straight, _, resumed, _) = straight_and_resumed(dir.path(), false);
    assert_ne!(param_bits(straight.store()), param_bits(resumed.store()));
}
