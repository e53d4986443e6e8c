//! A Gaussian mixture with discrete assignments, fitted twice:
//!
//! 1. by **exact enumeration**: the assignments are summed out (`enumerate`), and the
//!    marginal likelihood is maximised over the means, the mixing weights and the scale;
//! 2. by **Concrete relaxation**: an amortised guide `q(z | x)` (a small network) and the model
//!    are both relaxed (`relax`), and the one-sample objective
//!    `log p(x | z̃) − KL(q ‖ p)`, `z̃ ~ Concrete(q)`, is maximised (the Gumbel-softmax
//!    recipe of Jang et al. 2017), with the temperature annealed from 1 to 0.3.
//!
//! Both fits are then scored by the exact log-likelihood (enumeration again) and by how well
//! they recover the true clusters (assignments by the posterior, resp. by decoding the guide).
//!
//! ```text
//! cargo run --release --example gaussian_mixture            # 600 points
//! cargo run --release --example gaussian_mixture -- --quick # CI-sized
//! ```

use pact::dist::{kl_divergence, Independent, Normal, OneHotCategorical};
use pact::nn::{Adam, AdamConfig, Linear, Optimizer, ParamStore};
use pact::ppl::{
    decode, enumerate, relax, replay, run, Ctx, DecodeRule, Relaxation, Select, Trace,
};
use pact::{DType, Device, Error, Result, Rng, Tensor};

const K: usize = 3;
const D: usize = 2;
const TRUE_MEANS: [[f64; D]; K] = [[-3.0, 0.0], [3.0, 0.0], [0.0, 4.0]];
const TRUE_WEIGHTS: [f64; K] = [0.5, 0.3, 0.2];
const TRUE_SCALE: f64 = 0.8;
const CPU: Device = Device::Cpu;

struct Data {
    x: Tensor,
    labels: Vec<usize>,
}

fn make_data(n: usize, rng: &mut Rng) -> Result<Data> {
    let mut x = Vec::with_capacity(n * D);
    let mut labels = Vec::with_capacity(n);
    let noise = Tensor::randn([n, D], DType::F64, CPU, rng)?.to_f64_vec();
    for i in 0..n {
        let u = rng.uniform();
        let k = if u < TRUE_WEIGHTS[0] {
            0
        } else if u < TRUE_WEIGHTS[0] + TRUE_WEIGHTS[1] {
            1
        } else {
            2
        };
        labels.push(k);
        for d in 0..D {
            x.push(TRUE_MEANS[k][d] + TRUE_SCALE * noise[i * D + d]);
        }
    }
    Ok(Data {
        x: Tensor::from_f64_vec(x, [n, D], CPU)?,
        labels,
    })
}

/// Farthest-point initialisation of the means: a random point, then repeatedly the point
/// farthest from those chosen.
fn initial_means(x: &Tensor, rng: &mut Rng) -> Result<Tensor> {
    let v = x.to_f64_vec();
    let n = v.len() / D;
    let point = |i: usize| &v[i * D..(i + 1) * D];
    let dist2 = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| (p - q).powi(2)).sum::<f64>();
    let mut chosen = vec![rng.below(n)];
    while chosen.len() < K {
        let far = (0..n)
            .max_by(|&i, &j| {
                let di = chosen
                    .iter()
                    .map(|&c| dist2(point(i), point(c)))
                    .fold(f64::MAX, f64::min);
                let dj = chosen
                    .iter()
                    .map(|&c| dist2(point(j), point(c)))
                    .fold(f64::MAX, f64::min);
                di.total_cmp(&dj)
            })
            .unwrap_or(0);
        chosen.push(far);
    }
    let data: Vec<f64> = chosen.iter().flat_map(|&c| point(c).to_vec()).collect();
    Tensor::from_f64_vec(data, [K, D], CPU)
}

/// p(z, x) = Π_n Categorical(z_n; softmax(mix)) N(x_n; locs[z_n], scale² I).
fn model(x: Tensor, init: Tensor) -> impl Fn(&mut Ctx) -> Result<()> {
    let n = x.dims()[0];
    move |ctx: &mut Ctx| {
        let locs = ctx.param("locs", || Ok(init.clone()))?;
        let mix = ctx.param("mix_logits", || Ok(Tensor::zeros([K], DType::F64, CPU)))?;
        let log_scale = ctx.param("log_scale", || Ok(Tensor::zeros([1], DType::F64, CPU)))?;
        ctx.plate("data", n, |ctx| {
            let z = ctx.sample("z", OneHotCategorical::new(mix.clone())?)?;
            let loc = z.matmul(&locs)?;
            let likelihood = Independent::new(Normal::new(loc, log_scale.exp()?)?, 1)?;
            ctx.observe("x", likelihood, &x)?;
            Ok(())
        })
    }
}

/// q(z | x) = Π_n Categorical(z_n; softmax(net(x_n))).
fn guide(x: Tensor, hidden: Linear, out: Linear) -> impl Fn(&mut Ctx) -> Result<()> {
    let n = x.dims()[0];
    move |ctx: &mut Ctx| {
        let logits = out.forward(&hidden.forward(&x)?.tanh()?)?;
        ctx.plate("data", n, |ctx| {
            ctx.sample("z", OneHotCategorical::new(logits)?)?;
            Ok(())
        })
    }
}

/// The fraction of points whose assignment matches the truth, matching each fitted
/// component to the true mean nearest to its own mean.
fn accuracy(assigned: &[usize], locs: &Tensor, labels: &[usize]) -> f64 {
    let l = locs.to_f64_vec();
    let to_true: Vec<usize> = (0..K)
        .map(|k| {
            (0..K)
                .min_by(|&a, &b| {
                    let da: f64 = (0..D)
                        .map(|d| (l[k * D + d] - TRUE_MEANS[a][d]).powi(2))
                        .sum();
                    let db: f64 = (0..D)
                        .map(|d| (l[k * D + d] - TRUE_MEANS[b][d]).powi(2))
                        .sum();
                    da.total_cmp(&db)
                })
                .unwrap_or(0)
        })
        .collect();
    let hits = assigned
        .iter()
        .zip(labels)
        .filter(|(a, t)| to_true[**a] == **t)
        .count();
    hits as f64 / labels.len() as f64
}

/// The exact log-likelihood per point, and each point's most probable component.
fn evaluate(
    model: &impl Fn(&mut Ctx) -> Result<()>,
    params: &ParamStore,
    n: usize,
) -> Result<(f64, Vec<usize>)> {
    let (e, _) = pact::no_grad(|| run(&enumerate(Select::All, model), params, &mut Rng::seed(0)))?;
    // Per point: its log marginal, p(z_n = k | x_n) and the most probable k.
    let per_point = e.per_element()?;
    let ll = e.log_marginal.to_scalar()? / n as f64;
    Ok((ll, per_point.argmax("z")?))
}

fn main() -> Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let (n, steps) = if quick { (150, 150) } else { (600, 400) };
    let mut rng = Rng::seed(2017);
    let data = make_data(n, &mut rng)?;
    let init = initial_means(&data.x, &mut rng)?;
    println!(
        "Gaussian mixture: {n} points, {K} components in {D}-d, {steps} Adam steps per method"
    );

    // 1. Exact enumeration of the assignments.
    let params = ParamStore::new(DType::F64, CPU);
    let p = model(data.x.clone(), init.clone());
    let fit = enumerate(Select::All, &p);
    run(&fit, &params, &mut rng)?; // creates the parameters
    let mut opt = Adam::new(
        params.trainable(),
        AdamConfig {
            lr: 0.05,
            ..Default::default()
        },
    );
    for _ in 0..steps {
        let (e, _) = run(&fit, &params, &mut rng)?;
        let loss = e.log_marginal.mul_scalar(-1.0 / n as f64)?;
        opt.step(&loss.backward()?)?;
    }
    let (ll_enum, assigned) = evaluate(&p, &params, n)?;
    let locs_enum = params
        .get("locs")
        .map(|l| l.tensor())
        .ok_or_else(|| Error::invalid("main", "no locs"))?;
    let acc_enum = accuracy(&assigned, &locs_enum, &data.labels);

    // 2. Concrete relaxation with an amortised guide.
    let params = ParamStore::new(DType::F64, CPU);
    let hidden = Linear::new(&params.pp("guide.hidden"), D, 16, &mut rng)?;
    let out = Linear::new(&params.pp("guide.out"), 16, K, &mut rng)?;
    let p = model(data.x.clone(), init);
    let q = guide(data.x.clone(), hidden, out);
    // E_q[log p(x | z̃)] − KL(q ‖ p): the likelihood at relaxed assignments z̃ (gradients
    // flow through them to the guide), the divergence between the exact laws that both
    // traces record at site "z" (the divergence between the relaxed laws is unbounded
    // and would keep q from committing to a component).
    let objective = |t: f64, rng: &mut Rng| -> Result<Tensor> {
        let relaxation = Relaxation::Concrete { temperature: t };
        let (_, q_trace) = run(&relax(relaxation.clone(), &q), &params, rng)?;
        let (_, p_trace) = run(
            &relax(relaxation, replay(q_trace.clone(), &p)),
            &params,
            rng,
        )?;
        let law = |t: &Trace| {
            t.get("z")
                .and_then(|s| s.dist.clone())
                .ok_or_else(|| Error::invalid("objective", "no site z"))
        };
        let kl = kl_divergence(&*law(&q_trace)?, &*law(&p_trace)?)?.sum_all()?;
        p_trace.observed_log_prob()?.sub(&kl)
    };
    objective(1.0, &mut rng)?; // creates the model's parameters
    let mut opt = Adam::new(
        params.trainable(),
        AdamConfig {
            lr: 0.05,
            ..Default::default()
        },
    );
    for step in 0..steps {
        let t = (0.3f64).powf(step as f64 / steps as f64);
        let loss = objective(t, &mut rng)?.mul_scalar(-1.0 / n as f64)?;
        opt.step(&loss.backward()?)?;
    }
    let (ll_relax, _) = evaluate(&p, &params, n)?;
    let (_, decoded) = run(&decode(DecodeRule::Mode, &q), &params, &mut rng)?;
    let z = decoded.value("z")?.argmax(1)?;
    let locs_relax = params
        .get("locs")
        .map(|l| l.tensor())
        .ok_or_else(|| Error::invalid("main", "no locs"))?;
    let acc_relax = accuracy(&z, &locs_relax, &data.labels);

    let show = |t: &Tensor| -> Vec<String> {
        t.to_f64_vec()
            .chunks(D)
            .map(|c| format!("({:.2}, {:.2})", c[0], c[1]))
            .collect()
    };
    println!(
        "true means       {:?}",
        TRUE_MEANS
            .iter()
            .map(|m| format!("({:.2}, {:.2})", m[0], m[1]))
            .collect::<Vec<_>>()
    );
    println!(
        "enumeration      means {:?}  log-lik/point {ll_enum:.4}  accuracy {acc_enum:.3}",
        show(&locs_enum)
    );
    println!(
        "Concrete + guide means {:?}  log-lik/point {ll_relax:.4}  accuracy {acc_relax:.3}",
        show(&locs_relax)
    );
    if acc_enum < 0.9 || acc_relax < 0.9 {
        return Err(Error::invalid(
            "gaussian_mixture",
            "a fit did not recover the clusters",
        ));
    }
    println!("both fits recover the clusters (accuracy ≥ 0.9)");
    Ok(())
}
