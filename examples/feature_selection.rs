//! Sparse feature selection with Bernoulli gates.
//!
//! Spike-and-slab linear regression `y = X (g ⊙ w) + ε`: a binary gate `g_d ~ Bernoulli(0.2)`
//! decides whether feature `d` is used, its weight has a `N(0, 2²)` prior. A factorised guide
//! `q(w_d, g_d) = N(μ_d, s_d²) Bernoulli(σ(φ_d))` is fitted by maximising
//! `E_q[log p(y | w, g)] − KL(q ‖ p)`, the expectation estimated with one sample per step:
//! reparameterised weights and straight-through gates (hard 0/1 forward, Concrete gradients
//! backward), chosen per site with a relaxation policy. The selected features are then read
//! off by decoding the guide with the rule `g = [q(g = 1) ≥ 0.5]` and compared with the truth.
//! (Across 12 data seeds, both sizes below select exactly the relevant features in all but
//! one run: a chance correlation can keep a spurious gate open.)
//!
//! ```text
//! cargo run --release --example feature_selection
//! cargo run --release --example feature_selection -- --quick
//! ```

use pact::dist::{kl_divergence, Bernoulli, Normal};
use pact::nn::{Adam, AdamConfig, Optimizer, ParamStore};
use pact::ppl::{decode, relax, replay, run, Ctx, DecodeRule, RelaxPolicy, Relaxation, Trace};
use pact::{DType, Device, Error, Result, Rng, Tensor};

const D: usize = 20;
const RELEVANT: [(usize, f64); 4] = [(1, 2.0), (5, -1.5), (9, 1.0), (14, 3.0)];
const NOISE: f64 = 0.5;
const PRIOR_ON: f64 = 0.2;
const CPU: Device = Device::Cpu;

fn make_data(n: usize, rng: &mut Rng) -> Result<(Tensor, Tensor)> {
    let x = Tensor::randn([n, D], DType::F64, CPU, rng)?;
    let mut w = vec![0.0; D];
    for (d, v) in RELEVANT {
        w[d] = v;
    }
    let w = Tensor::from_f64_vec(w, [D, 1], CPU)?;
    let noise = Tensor::randn([n], DType::F64, CPU, rng)?.mul_scalar(NOISE)?;
    let y = x.matmul(&w)?.reshape([n])?.add(&noise)?;
    Ok((x, y))
}

/// p(w, g, y) = Π_d N(w_d; 0, 2²) Bernoulli(g_d; 0.2) · Π_n N(y_n; x_n · (g ⊙ w), 0.5²):
/// a spike-and-slab regression.
fn model(x: Tensor, y: Tensor) -> impl Fn(&mut Ctx) -> Result<()> {
    let n = x.dims()[0];
    move |ctx: &mut Ctx| {
        let scalar = |v: f64| Tensor::scalar(v, DType::F64, CPU);
        let (w, g) = ctx.plate("features", D, |ctx| {
            let w = ctx.sample("w", Normal::new(scalar(0.0), scalar(2.0))?)?;
            let g = ctx.sample("g", Bernoulli::from_probs(scalar(PRIOR_ON))?)?;
            Ok((w, g))
        })?;
        let mean = x.matmul(&g.mul(&w)?.reshape([D, 1])?)?.reshape([n])?;
        ctx.plate("data", n, |ctx| {
            ctx.observe("y", Normal::new(mean, scalar(NOISE))?, &y)
        })?;
        Ok(())
    }
}

/// q(w, g) = Π_d N(w_d; μ_d, softplus(ρ_d)²) Bernoulli(g_d; σ(φ_d)).
fn guide(ctx: &mut Ctx) -> Result<()> {
    let zeros = || Ok(Tensor::zeros([D], DType::F64, CPU));
    let mu = ctx.param("mu", zeros)?;
    let rho = ctx.param("rho", || Ok(Tensor::full(-1.0, [D], DType::F64, CPU)))?;
    // Start with every gate likely open, so that every weight gets a gradient.
    let phi = ctx.param("phi", || Ok(Tensor::full(2.0, [D], DType::F64, CPU)))?;
    ctx.plate("features", D, |ctx| {
        ctx.sample("w", Normal::new(mu, rho.softplus()?)?)?;
        ctx.sample("g", Bernoulli::new(phi)?)?;
        Ok(())
    })
}

/// Σ over the guide's latent sites of KL(q ‖ p) between the laws both traces record.
fn kl_sum(q: &Trace, p: &Trace) -> Result<Tensor> {
    let mut total = Tensor::scalar(0.0, DType::F64, CPU);
    for site in q.iter().filter(|s| s.is_latent()) {
        let law = |t: &Trace| t.get(&site.name).and_then(|s| s.dist.clone());
        let (Some(lq), Some(lp)) = (law(q), law(p)) else {
            return Err(Error::site(&site.name, "missing from one of the traces"));
        };
        total = total.add(&kl_divergence(&*lq, &*lp)?.sum_all()?)?;
    }
    Ok(total)
}

fn main() -> Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let (n, steps) = if quick { (400, 1000) } else { (400, 2000) };
    let mut rng = Rng::seed(7);
    let (x, y) = make_data(n, &mut rng)?;
    let p = model(x, y);
    let params = ParamStore::new(DType::F64, CPU);
    let policy = RelaxPolicy::all(Relaxation::Exact)
        .with("g", Relaxation::StraightThrough { temperature: 0.5 });

    // E_q[log p(y | w, g)] − KL(q ‖ p), one sample per step (reparameterised weights,
    // straight-through gates).
    let objective = |rng: &mut Rng| -> Result<Tensor> {
        let (_, q) = run(&relax(policy.clone(), guide), &params, rng)?;
        let (_, pt) = run(&relax(policy.clone(), replay(q.clone(), &p)), &params, rng)?;
        pt.observed_log_prob()?.sub(&kl_sum(&q, &pt)?)
    };
    objective(&mut rng)?; // creates the parameters
    let mut opt = Adam::new(
        params.trainable(),
        AdamConfig {
            lr: 0.1,
            ..Default::default()
        },
    );
    for _ in 0..steps {
        let loss = objective(&mut rng)?.mul_scalar(-1.0 / n as f64)?;
        opt.step(&loss.backward()?)?;
    }

    let (_, decoded) = run(
        &decode(DecodeRule::Threshold(0.5), guide),
        &params,
        &mut rng,
    )?;
    let gates = decoded.value("g")?.to_f64_vec();
    let selected: Vec<usize> = (0..D).filter(|&d| gates[d] == 1.0).collect();
    let truth: Vec<usize> = RELEVANT.iter().map(|r| r.0).collect();
    let phi = params
        .get("phi")
        .map(|p| p.tensor())
        .ok_or_else(|| Error::invalid("main", "no phi"))?;
    let q_on: Vec<String> = phi
        .sigmoid()?
        .to_f64_vec()
        .iter()
        .map(|v| format!("{v:.2}"))
        .collect();
    let w = params
        .get("mu")
        .map(|p| p.tensor().to_f64_vec())
        .ok_or_else(|| Error::invalid("main", "no mu"))?;
    println!("Feature selection: {n} points, {D} features, {steps} Adam steps");
    println!("q(g = 1)  {q_on:?}");
    println!("selected  {selected:?} (true {truth:?})");
    for (d, v) in RELEVANT {
        println!("  E_q[w_{d}] = {:+.3} (true {v:+.1})", w[d]);
    }
    if selected != truth {
        return Err(Error::invalid(
            "feature_selection",
            "the selected features are not the relevant ones",
        ));
    }
    println!("the decoded gates select exactly the relevant features");
    Ok(())
}
