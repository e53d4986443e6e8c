//! A small discrete model whose exact MAP is checked: PACT's halting model (math §3–§4).
//!
//! Each of `B` problems runs a block of `L = 5` units with known states `s_1 … s_L`; the model
//! says how many units ran, `N ~ TruncatedGeometric(λ)` (`p(n) ∝ e^{−λn}`), and observes a few
//! noisy readings of the state `s_N`. The variational distribution is PACT's: halting variables
//! `z_l ~ Bernoulli(h_l)`, `N = min{l : z_l = 1}`, written in the same language.
//!
//! 1. The worked example of math §3: enumerating that guide at
//!    `h = (.01, .5, .6, .7)` gives `q(N) = (.01, .495, .297, .1386, .0594)` and
//!    `E_q[N] = 2.7424`; decoding it with `z = [h ≥ 0.5]` gives `N = 2`.
//! 2. Stochastic variational optimisation for MAP inference: maximise
//!    `J = E_q[log p(y, N)]` (no entropy term), here computed exactly by enumerating the
//!    guide. Then decode the fitted guide and check that it picks, for every problem, the
//!    exact MAP `argmax_n p(y, N = n)` found by enumerating the model.
//!
//! ```text
//! cargo run --release --example halting_map
//! cargo run --release --example halting_map -- --quick
//! ```

use pact::dist::{Bernoulli, Independent, Normal, TruncatedGeometric};
use pact::nn::{Adam, AdamConfig, Optimizer, ParamStore};
use pact::ppl::{decode, enumerate, run, Ctx, DecodeRule, Enumeration, Select};
use pact::{DType, Device, Error, Result, Rng, Tensor};

const L: usize = 5;
const B: usize = 4;
const LAMBDA: f64 = 0.5;
const NOISE: f64 = 0.1;
const CPU: Device = Device::Cpu;

/// PACT's guide: `z_l ~ Bernoulli(σ(a_l))` for `l < L` in a plate of problems; returns
/// `N = min{l : z_l = 1}` (or `L`) per problem.
fn guide(logits: impl Fn(&mut Ctx) -> Result<Tensor>) -> impl Fn(&mut Ctx) -> Result<Tensor> {
    move |ctx: &mut Ctx| {
        let a = logits(ctx)?;
        let batch = a.dims()[0];
        ctx.plate("problems", batch, |ctx| {
            let mut halted = Tensor::zeros([batch], DType::F64, CPU);
            let mut n = Tensor::full(L as f64, [batch], DType::F64, CPU);
            for l in 0..L - 1 {
                let z = ctx.sample(
                    &format!("z{}", l + 1),
                    Bernoulli::new(a.narrow(1, l, 1)?.reshape([batch])?)?,
                )?;
                // The first unit whose z is 1 sets N.
                let first = z.mul(&halted.neg()?.add_scalar(1.0)?)?;
                n = Tensor::where_cond(
                    &first,
                    &Tensor::full((l + 1) as f64, [batch], DType::F64, CPU),
                    &n,
                )?;
                halted = halted.maximum(&z)?;
            }
            Ok(n)
        })
    }
}

/// The model: `N ~ TruncatedGeometric(λ, L)`, readings `y ~ N(s_N, 0.1²)` per problem.
fn model(states: Tensor, y: Tensor) -> impl Fn(&mut Ctx) -> Result<Tensor> {
    move |ctx: &mut Ctx| {
        let batch = y.dims()[0];
        ctx.plate("problems", batch, |ctx| {
            let n = ctx.sample("n", TruncatedGeometric::scalar(LAMBDA, L, DType::F64, CPU)?)?;
            let units = Tensor::arange(L, DType::F64, CPU).add_scalar(1.0)?;
            let chosen = n.unsqueeze(1)?.eq(&units)?;
            let state = chosen.mul(&states)?.sum(1)?;
            let loc = state.unsqueeze(1)?.broadcast_as(y.shape())?;
            let reading =
                Independent::new(Normal::new(loc, Tensor::scalar(NOISE, DType::F64, CPU))?, 1)?;
            ctx.observe("y", reading, &y)?;
            Ok(n)
        })
    }
}

/// Per run of a local enumeration, the value of `n` (shared by all problems) and the
/// per-problem log joint.
fn per_problem(e: &Enumeration<Tensor>) -> Result<Vec<(Tensor, Tensor)>> {
    e.runs
        .iter()
        .map(|r| {
            let mut total: Option<Tensor> = None;
            for site in r.trace.iter() {
                if let Some(lp) = &site.log_prob {
                    total = Some(match total {
                        Some(t) => t.add(lp)?,
                        None => lp.clone(),
                    });
                }
            }
            let total = total.ok_or_else(|| Error::invalid("halting_map", "empty run"))?;
            Ok((r.output.clone(), total))
        })
        .collect()
}

fn worked_example() -> Result<()> {
    let h = [0.01, 0.5, 0.6, 0.7];
    let logits: Vec<f64> = h.iter().map(|p: &f64| (p / (1.0 - p)).ln()).collect();
    let a = Tensor::from_f64_vec(logits, [1, L - 1], CPU)?;
    let q = guide(move |_| Ok(a.clone()));
    let params = ParamStore::new(DType::F64, CPU);
    let (e, _) = run(&enumerate(Select::All, &q), &params, &mut Rng::seed(0))?;
    let mut q_n = [0.0; L];
    for (n, lq) in per_problem(&e)? {
        q_n[n.to_f64_vec()[0] as usize - 1] += lq.exp()?.to_f64_vec()[0];
    }
    let mean: f64 = q_n
        .iter()
        .enumerate()
        .map(|(i, p)| (i + 1) as f64 * p)
        .sum();
    let (n_decoded, _) = run(
        &decode(DecodeRule::Threshold(0.5), &q),
        &params,
        &mut Rng::seed(0),
    )?;
    println!(
        "§3 worked example: q(N) = {q_n:.4?}, E_q[N] = {mean:.4}, decoded N = {}",
        n_decoded.to_f64_vec()[0]
    );
    let golden = [0.01, 0.495, 0.297, 0.1386, 0.0594];
    let ok = q_n.iter().zip(golden).all(|(a, b)| (a - b).abs() < 1e-12)
        && (mean - 2.7424).abs() < 1e-12
        && n_decoded.to_f64_vec()[0] == 2.0
        && e.log_marginal.to_scalar()?.abs() < 1e-12;
    if !ok {
        return Err(Error::invalid(
            "halting_map",
            "the worked example of math §3 does not match",
        ));
    }
    Ok(())
}

fn main() -> Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let steps = if quick { 200 } else { 600 };
    worked_example()?;

    // Four problems: unit states converge to a target; the readings favour different depths.
    let mut states = Vec::new();
    for target in [1.0, 2.0, -1.0, 0.5] {
        states.extend((1..=L).map(|l| target * (1.0 - 0.5f64.powi(l as i32))));
    }
    let states = Tensor::from_f64_vec(states, [B, L], CPU)?;
    let y = Tensor::from_f64_vec(
        vec![
            0.52, 0.47, 0.55, 1.74, 1.77, 1.71, -0.97, -0.93, -0.95, 0.38, 0.41, 0.36,
        ],
        [B, 3],
        CPU,
    )?;
    let p = model(states, y);
    let params = ParamStore::new(DType::F64, CPU);
    let mut rng = Rng::seed(0);

    // The exact MAP of every problem, by enumerating N (in the plate: L runs).
    let (exact, _) = run(&enumerate(Select::All, &p), &params, &mut rng)?;
    let joint = per_problem(&exact)?;
    let mut map = [(f64::NEG_INFINITY, 0usize); B];
    for (n, lj) in &joint {
        for (b, v) in lj.to_f64_vec().into_iter().enumerate() {
            if v > map[b].0 {
                map[b] = (v, n.to_f64_vec()[b] as usize);
            }
        }
    }
    // log p(y, N = n) per problem, as a table f[n − 1][b].
    let f: Vec<Vec<f64>> = joint.iter().map(|(_, lj)| lj.to_f64_vec()).collect();

    // SVO-MAP: maximise J = Σ_b E_q[log p(y_b, N_b)], exactly, over the halting logits.
    let q = guide(|ctx: &mut Ctx| {
        ctx.param("halting_logits", || {
            Ok(Tensor::zeros([B, L - 1], DType::F64, CPU))
        })
    });
    run(&q, &params, &mut rng)?; // creates the parameters
    let mut opt = Adam::new(
        params.trainable(),
        AdamConfig {
            lr: 0.1,
            ..Default::default()
        },
    );
    let mut objective = 0.0;
    for _ in 0..steps {
        let (e, _) = run(&enumerate(Select::All, &q), &params, &mut rng)?;
        let mut j: Option<Tensor> = None;
        for (n, lq) in per_problem(&e)? {
            let values: Vec<f64> = n
                .to_f64_vec()
                .iter()
                .enumerate()
                .map(|(b, n)| f[*n as usize - 1][b])
                .collect();
            let term = lq
                .exp()?
                .mul(&Tensor::from_f64_vec(values, [B], CPU)?)?
                .sum_all()?;
            j = Some(match j {
                Some(t) => t.add(&term)?,
                None => term,
            });
        }
        let j = j.ok_or_else(|| Error::invalid("halting_map", "no runs"))?;
        objective = j.to_scalar()?;
        opt.step(&j.neg()?.backward()?)?;
    }

    let (decoded, _) = run(&decode(DecodeRule::Threshold(0.5), &q), &params, &mut rng)?;
    let decoded: Vec<usize> = decoded.to_f64_vec().iter().map(|n| *n as usize).collect();
    let exact_map: Vec<usize> = map.iter().map(|m| m.1).collect();
    let h = params
        .get("halting_logits")
        .map(|p| p.tensor())
        .ok_or_else(|| Error::invalid("main", "no logits"))?;
    println!("SVO-MAP, {steps} steps: J = {objective:.4}");
    for (b, row) in h.sigmoid()?.to_f64_vec().chunks(L - 1).enumerate() {
        println!(
            "  problem {b}: h = {row:.3?}  decoded N = {}  exact MAP N = {}",
            decoded[b], exact_map[b]
        );
    }
    if decoded != exact_map {
        return Err(Error::invalid(
            "halting_map",
            "the decoded guide is not the exact MAP",
        ));
    }
    println!("the decoded guide gives the exact MAP of every problem");
    Ok(())
}
