//! A three-state hidden Markov model over sequences, fitted and decoded three ways:
//!
//! 1. **Exact enumeration** (`enumerate_parallel`): every state `x_t` is summed out by
//!    variable elimination along the `markov` chain, in one run per step, and the exact
//!    marginal likelihood `log p(y)` is maximised over the initial, transition and emission
//!    parameters. The fitted model is decoded by max-product (`FactorGraph::map`) and checked
//!    against Viterbi and the forward algorithm written out below in f64.
//! 2. **SVO-MAP with the model fixed** at the true parameters: a guide is fitted by maximising
//!    `E_q[log p(x, y)]` and decoded; how often is the decoded path the exact MAP path, and
//!    where it is not, is it a single-flip optimum (no change of one state raises the log
//!    joint)? Three variants: a factorised guide (a free factor per sequence and step) with
//!    the objective computed exactly (`Exact::map()`, by parallel enumeration), the same guide
//!    with Concrete samples (`SvoMap`), and a structured amortised guide
//!    `q(x_t | x_{t−1}, y_t, y_{t+1})` with Concrete samples.
//! 3. **SVO-MAP fitting the model too**: the transition and emission parameters are learnt
//!    jointly with the guide under the same objective. With `q` collapsing to a point mass this
//!    is hard EM; the fitted parameters and their exact log-likelihood are compared with (1).
//!
//! The run ends with a check line; it fails (an error) if enumeration disagrees with the
//! forward algorithm or with Viterbi. What SVO-MAP does is reported, not asserted: see "When
//! SVO-MAP is the right tool" in `docs/guide/inference.md` for the numbers of a full run.
//!
//! ```text
//! cargo run --release --example hmm            # 40 sequences of 60 steps (a few minutes)
//! cargo run --release --example hmm -- --quick # CI-sized
//! ```

use pact::dist::{Normal, OneHotCategorical};
use pact::nn::{Adam, AdamConfig, Optimizer, ParamStore};
use pact::ppl::{decode, enumerate_parallel, run, Ctx, DecodeRule, Select};
use pact::{DType, Device, Error, Result, Rng, Tensor};
use pact_inference::objectives::{Estimator, Exact, Objective, SvoMap, Temperature};

const K: usize = 3;
const CPU: Device = Device::Cpu;
const TRUE_INIT: [f64; K] = [0.5, 0.3, 0.2];
const TRUE_TRANS: [[f64; K]; K] = [[0.85, 0.1, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]];
const TRUE_LOCS: [f64; K] = [-2.0, 0.0, 2.0];
const TRUE_SCALE: f64 = 1.0;

/// The parameters of an HMM in probabilities (for Viterbi and the forward algorithm).
#[derive(Clone, Debug)]
struct Hmm {
    init: Vec<f64>,
    trans: Vec<Vec<f64>>,
    locs: Vec<f64>,
    scale: f64,
}

impl Hmm {
    fn truth() -> Self {
        Hmm {
            init: TRUE_INIT.to_vec(),
            trans: TRUE_TRANS.iter().map(|r| r.to_vec()).collect(),
            locs: TRUE_LOCS.to_vec(),
            scale: TRUE_SCALE,
        }
    }

    /// The parameters in a store (logits normalised by softmax, as the model reads them).
    fn from_store(params: &ParamStore) -> Result<Self> {
        let get = |name: &str| {
            params
                .get(name)
                .map(|p| p.tensor())
                .ok_or_else(|| Error::invalid("hmm", format!("no parameter {name}")))
        };
        let softmax = |v: Vec<f64>| {
            let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = v.iter().map(|x| (x - m).exp()).collect();
            let z: f64 = e.iter().sum();
            e.into_iter().map(|x| x / z).collect::<Vec<_>>()
        };
        let trans = get("trans")?.to_f64_vec();
        Ok(Hmm {
            init: softmax(get("init")?.to_f64_vec()),
            trans: trans.chunks(K).map(|r| softmax(r.to_vec())).collect(),
            locs: get("locs")?.to_f64_vec(),
            scale: get("log_scale")?.to_f64_vec()[0].exp(),
        })
    }

    fn emit(&self, j: usize, y: f64) -> f64 {
        let z = (y - self.locs[j]) / self.scale;
        -0.5 * z * z - self.scale.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
    }

    /// `log p(y)` by the forward algorithm.
    fn forward(&self, y: &[f64]) -> f64 {
        let mut alpha: Vec<f64> = (0..K)
            .map(|j| self.init[j].ln() + self.emit(j, y[0]))
            .collect();
        for &v in &y[1..] {
            alpha = (0..K)
                .map(|j| {
                    let terms: Vec<f64> =
                        (0..K).map(|i| alpha[i] + self.trans[i][j].ln()).collect();
                    logsumexp(&terms) + self.emit(j, v)
                })
                .collect();
        }
        logsumexp(&alpha)
    }

    /// `log p(x, y)` of the path `x`.
    fn log_joint(&self, x: &[usize], y: &[f64]) -> f64 {
        let mut total = self.init[x[0]].ln() + self.emit(x[0], y[0]);
        for i in 1..x.len() {
            total += self.trans[x[i - 1]][x[i]].ln() + self.emit(x[i], y[i]);
        }
        total
    }

    /// Whether no change of a single state raises `log p(x, y)`: a local optimum of the
    /// kind a point mass settles in when each state has its own factor of `q`.
    fn single_flip_optimal(&self, x: &[usize], y: &[f64]) -> bool {
        let here = self.log_joint(x, y);
        let mut other = x.to_vec();
        for i in 0..x.len() {
            for k in (0..K).filter(|&k| k != x[i]) {
                other[i] = k;
                if self.log_joint(&other, y) > here + 1e-9 {
                    return false;
                }
            }
            other[i] = x[i];
        }
        true
    }

    /// The most probable path, by Viterbi.
    fn viterbi(&self, y: &[f64]) -> Vec<usize> {
        let mut delta: Vec<f64> = (0..K)
            .map(|j| self.init[j].ln() + self.emit(j, y[0]))
            .collect();
        let mut back = Vec::new();
        for &v in &y[1..] {
            let mut next = vec![0.0; K];
            let mut arg = vec![0; K];
            for j in 0..K {
                let (best, i) = (0..K)
                    .map(|i| (delta[i] + self.trans[i][j].ln(), i))
                    .fold((f64::NEG_INFINITY, 0), |a, b| if b.0 > a.0 { b } else { a });
                next[j] = best + self.emit(j, v);
                arg[j] = i;
            }
            delta = next;
            back.push(arg);
        }
        let mut last = (0..K).fold(0, |a, j| if delta[j] > delta[a] { j } else { a });
        let mut path = vec![last];
        for arg in back.iter().rev() {
            last = arg[last];
            path.push(last);
        }
        path.reverse();
        path
    }
}

fn logsumexp(v: &[f64]) -> f64 {
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// Sequences `[n][t]` and their true states.
/// Per sequence, one value per step.
type Sequences<T> = Vec<Vec<T>>;

/// The error type of `main` and of the SVO-MAP fits (objectives have an error type of their
/// own).
type AnyError = Box<dyn std::error::Error>;

fn make_data(n: usize, t: usize, rng: &mut Rng) -> Result<(Sequences<f64>, Sequences<usize>)> {
    let pick = |p: &[f64], rng: &mut Rng| {
        let u = rng.uniform();
        let mut acc = 0.0;
        p.iter()
            .position(|q| {
                acc += q;
                u < acc
            })
            .unwrap_or(p.len() - 1)
    };
    let (mut ys, mut xs) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let noise = Tensor::randn([t], DType::F64, CPU, rng)?.to_f64_vec();
        let mut x = pick(&TRUE_INIT, rng);
        let mut states = Vec::with_capacity(t);
        for _ in 0..t {
            if !states.is_empty() {
                x = pick(&TRUE_TRANS[x], rng);
            }
            states.push(x);
        }
        ys.push(
            states
                .iter()
                .zip(&noise)
                .map(|(&x, e)| TRUE_LOCS[x] + TRUE_SCALE * e)
                .collect(),
        );
        xs.push(states);
    }
    Ok((ys, xs))
}

/// The data as one `[n]` tensor per step.
fn by_step(ys: &[Vec<f64>]) -> Result<Vec<Tensor>> {
    (0..ys[0].len())
        .map(|i| Tensor::from_f64_vec(ys.iter().map(|y| y[i]).collect(), [ys.len()], CPU))
        .collect()
}

/// The model's parameters: learnt (created in the store) or fixed at the truth.
#[derive(Clone, Copy)]
enum Params {
    Learn,
    Truth,
}

/// p(x, y) = Π_n p(x_n0) Π_t p(x_nt | x_n,t−1) N(y_nt; locs[x_nt], scale²), states one-hot.
fn model(ys: &[Vec<f64>], which: Params) -> Result<impl Fn(&mut Ctx) -> Result<()>> {
    let steps = by_step(ys)?;
    let n = ys.len();
    // Initial emission means: quantiles of the data (1/6, 1/2, 5/6), to break the symmetry.
    let mut all: Vec<f64> = ys.iter().flatten().copied().collect();
    all.sort_by(f64::total_cmp);
    let q = |f: f64| all[((all.len() - 1) as f64 * f) as usize];
    let init_locs = vec![q(1.0 / 6.0), q(0.5), q(5.0 / 6.0)];
    let truth_trans: Vec<f64> = TRUE_TRANS.iter().flatten().map(|p| p.ln()).collect();
    Ok(move |ctx: &mut Ctx| -> Result<()> {
        let (init, trans, locs, log_scale) = match which {
            Params::Learn => (
                ctx.param("init", || Ok(Tensor::zeros([K], DType::F64, CPU)))?,
                ctx.param("trans", || Ok(Tensor::zeros([K, K], DType::F64, CPU)))?,
                ctx.param("locs", || {
                    Tensor::from_f64_vec(init_locs.clone(), [K, 1], CPU)
                })?,
                ctx.param("log_scale", || Ok(Tensor::zeros([1], DType::F64, CPU)))?,
            ),
            Params::Truth => (
                Tensor::from_f64_vec(TRUE_INIT.iter().map(|p| p.ln()).collect(), [K], CPU)?,
                Tensor::from_f64_vec(truth_trans.clone(), [K, K], CPU)?,
                Tensor::from_f64_vec(TRUE_LOCS.to_vec(), [K, 1], CPU)?,
                Tensor::full(TRUE_SCALE.ln(), [1], DType::F64, CPU),
            ),
        };
        let scale = log_scale.exp()?;
        ctx.plate("seq", n, |ctx| {
            let mut prev: Option<Tensor> = None;
            ctx.markov(steps.len(), |ctx, t| {
                let logits = match &prev {
                    None => init.clone(),
                    Some(x) => x.matmul(&trans)?,
                };
                let x = ctx.sample(&format!("x_{t}"), OneHotCategorical::new(logits)?)?;
                let dims = x.dims().to_vec();
                let loc = x.matmul(&locs)?.reshape(&dims[..dims.len() - 1])?;
                ctx.observe(
                    &format!("y_{t}"),
                    Normal::new(loc, scale.clone())?,
                    &steps[t],
                )?;
                prev = Some(x);
                Ok(())
            })
        })
    })
}

/// The structured guide q(x_t | x_{t−1}, y_t, y_{t+1}): a chain whose step logits are
/// `B[x_{t−1}] + c + W · (y_t, y_t², y_{t+1}, y_{t+1}²)`, shared by every sequence and step.
fn guide(ys: &[Vec<f64>]) -> Result<impl Fn(&mut Ctx) -> Result<()>> {
    let (n, t) = (ys.len(), ys[0].len());
    let features: Vec<Tensor> = (0..t)
        .map(|i| {
            let mut f = Vec::with_capacity(4 * n);
            for y in ys {
                let next = if i + 1 < t { y[i + 1] } else { 0.0 };
                f.extend_from_slice(&[y[i], y[i] * y[i], next, next * next]);
            }
            Tensor::from_f64_vec(f, [n, 4], CPU)
        })
        .collect::<Result<_>>()?;
    // Start as a nearest-mean classifier of y_t around the means -1.5, 0, 1.5.
    let w0: Vec<f64> = [[-1.5, 0.0, 1.5], [0.0; 3], [0.0; 3], [0.0; 3]]
        .iter()
        .flatten()
        .copied()
        .collect();
    Ok(move |ctx: &mut Ctx| -> Result<()> {
        let b0 = ctx.param("guide.init", || Ok(Tensor::zeros([K], DType::F64, CPU)))?;
        let bt = ctx.param("guide.trans", || Ok(Tensor::zeros([K, K], DType::F64, CPU)))?;
        let w = ctx.param("guide.w", || Tensor::from_f64_vec(w0.clone(), [4, K], CPU))?;
        let c = ctx.param("guide.c", || {
            Tensor::from_f64_vec(vec![-1.125, 0.0, -1.125], [K], CPU)
        })?;
        ctx.plate("seq", n, |ctx| {
            let mut prev: Option<Tensor> = None;
            ctx.markov(t, |ctx, i| {
                let local = features[i].matmul(&w)?.add(&c)?;
                let logits = match &prev {
                    None => local.add(&b0)?,
                    Some(x) => local.add(&x.matmul(&bt)?)?,
                };
                prev = Some(ctx.sample(&format!("x_{i}"), OneHotCategorical::new(logits)?)?);
                Ok(())
            })
        })
    })
}

/// The factorised guide q(x) = Π_{n,t} Categorical(x_nt; softmax(φ_nt)): a free logit
/// vector per sequence and step, started at the same nearest-mean classifier of y_nt.
fn factorised_guide(ys: &[Vec<f64>]) -> Result<impl Fn(&mut Ctx) -> Result<()>> {
    let (n, t) = (ys.len(), ys[0].len());
    let means = [-1.5, 0.0, 1.5];
    let mut phi0 = Vec::with_capacity(t * n * K);
    for i in 0..t {
        for y in ys {
            phi0.extend(means.iter().map(|m| m * y[i] - 0.5 * m * m));
        }
    }
    Ok(move |ctx: &mut Ctx| -> Result<()> {
        let phi = ctx.param("guide.phi", || {
            Tensor::from_f64_vec(phi0.clone(), [t, n, K], CPU)
        })?;
        ctx.plate("seq", n, |ctx| {
            // The model's markov structure (needed to enumerate guide and model together).
            ctx.markov(t, |ctx, i| {
                let logits = phi.narrow(0, i, 1)?.reshape([n, K])?;
                ctx.sample(&format!("x_{i}"), OneHotCategorical::new(logits)?)?;
                Ok(())
            })
        })
    })
}

/// Which guide SVO-MAP fits.
#[derive(Clone, Copy, Debug)]
enum Guide {
    /// q(x_t | x_{t−1}, y_t, y_{t+1}), amortised ([`guide`]).
    Structured,
    /// A free factor per sequence and step ([`factorised_guide`]).
    Factorised,
}

/// Per sequence, the path of a values set (`x_t` one-hot `[n, K]`).
fn paths(get: impl Fn(&str) -> Result<Tensor>, n: usize, t: usize) -> Result<Vec<Vec<usize>>> {
    let mut out = vec![Vec::with_capacity(t); n];
    for i in 0..t {
        let states = get(&format!("x_{i}"))?.argmax(1)?;
        for (p, s) in out.iter_mut().zip(states) {
            p.push(s);
        }
    }
    Ok(out)
}

/// The fitted state matching each true state (the nearest emission mean).
fn relabel(fitted: &Hmm) -> Vec<usize> {
    (0..K)
        .map(|k| {
            (0..K)
                .min_by(|&a, &b| {
                    (fitted.locs[k] - TRUE_LOCS[a])
                        .abs()
                        .total_cmp(&(fitted.locs[k] - TRUE_LOCS[b]).abs())
                })
                .unwrap_or(k)
        })
        .collect()
}

fn show(m: &[Vec<f64>]) -> String {
    let rows: Vec<String> = m
        .iter()
        .map(|r| {
            let cells: Vec<String> = r.iter().map(|p| format!("{p:.3}")).collect();
            format!("[{}]", cells.join(", "))
        })
        .collect();
    format!("[{}]", rows.join(", "))
}

/// Fits the guide (and, with `Params::Learn`, the model) by SVO-MAP; returns the decoded
/// paths and the store.
/// How the SVO-MAP objective `E_q[log p(x, y)]` is evaluated.
#[derive(Clone, Copy, Debug)]
enum Estimate {
    /// Exactly, by enumerating the guide in parallel (`Exact::map().parallel(true)`).
    Exact,
    /// From one Concrete sample per step (`SvoMap::new(Estimator::Concrete)`), the
    /// temperature decaying from 1 to 0.1.
    Concrete,
}

fn svo_map(
    ys: &[Vec<f64>],
    which: Params,
    kind: Guide,
    estimate: Estimate,
    steps: usize,
    rng: &mut Rng,
) -> std::result::Result<(Sequences<usize>, ParamStore), AnyError> {
    let (n, t) = (ys.len(), ys[0].len());
    let p = model(ys, which)?;
    let structured = guide(ys)?;
    let factorised = factorised_guide(ys)?;
    let q = |ctx: &mut Ctx| match kind {
        Guide::Structured => structured(ctx),
        Guide::Factorised => factorised(ctx),
    };
    let params = ParamStore::new(DType::F64, CPU);
    let decay = (0.1f64).powf(1.0 / steps as f64);
    let mut svo = SvoMap::new(Estimator::Concrete).temperature(Temperature::ExponentialDecay {
        initial: 1.0,
        rate: decay,
        floor: 0.1,
    });
    let mut exact = Exact::map().parallel(true);
    let mut objective = |rng: &mut Rng| match estimate {
        Estimate::Exact => exact.estimate(&p, &q, &params, rng),
        Estimate::Concrete => svo.estimate(&p, &q, &params, rng),
    };
    objective(rng)?; // creates the parameters
    let mut opt = Adam::new(
        params.trainable(),
        AdamConfig {
            lr: 0.03,
            ..Default::default()
        },
    );
    for _ in 0..steps {
        let e = objective(rng)?;
        opt.step(&e.loss.mul_scalar(1.0 / n as f64)?.backward()?)?;
    }
    let (_, decoded) = run(&decode(DecodeRule::Mode, &q), &params, rng)?;
    Ok((paths(|s| Ok(decoded.value(s)?.clone()), n, t)?, params))
}

/// How decoded paths compare with the exact MAP paths under `hmm`: sequences decoded to the
/// MAP, states that differ, sequences at a single-flip optimum other than the MAP, and the
/// mean shortfall of `log p(x, y)` per sequence.
fn compare(hmm: &Hmm, ys: &[Vec<f64>], decoded: &[Vec<usize>]) -> (usize, usize, usize, f64) {
    let (mut exact, mut flips, mut stuck, mut gap) = (0, 0, 0, 0.0);
    for (y, d) in ys.iter().zip(decoded) {
        let map = hmm.viterbi(y);
        if *d == map {
            exact += 1;
        } else if hmm.single_flip_optimal(d, y) {
            stuck += 1;
        }
        flips += d.iter().zip(&map).filter(|(a, b)| a != b).count();
        gap += hmm.log_joint(&map, y) - hmm.log_joint(d, y);
    }
    (exact, flips, stuck, gap / ys.len() as f64)
}

fn main() -> std::result::Result<(), AnyError> {
    let quick = std::env::args().any(|a| a == "--quick");
    let (n, t, fit_steps, svo_steps) = if quick {
        (16, 40, 150, 400)
    } else {
        (40, 60, 300, 1500)
    };
    let mut rng = Rng::seed(88);
    let (ys, truth) = make_data(n, t, &mut rng)?;
    let true_hmm = Hmm::truth();
    let true_ll: f64 = ys.iter().map(|y| true_hmm.forward(y)).sum();
    let steps_total = (n * t) as f64;
    println!("HMM: {K} states, {n} sequences of {t} steps, Gaussian emissions");
    println!("true transitions {}", show(&true_hmm.trans));

    // 1. Exact marginal likelihood by parallel enumeration.
    let params = ParamStore::new(DType::F64, CPU);
    let p = model(&ys, Params::Learn)?;
    let exact = enumerate_parallel(Select::All, &p);
    run(&exact, &params, &mut rng)?; // creates the parameters
    let mut opt = Adam::new(
        params.trainable(),
        AdamConfig {
            lr: 0.05,
            ..Default::default()
        },
    );
    let started = std::time::Instant::now();
    for _ in 0..fit_steps {
        let (graph, _) = run(&exact, &params, &mut rng)?;
        opt.step(&graph.log_marginal.mul_scalar(-1.0 / n as f64)?.backward()?)?;
    }
    let fit_time = started.elapsed().as_secs_f64();
    let (graph, _) = pact::no_grad(|| run(&exact, &params, &mut rng))?;
    let fitted = Hmm::from_store(&params)?;
    let fitted_ll = graph.log_marginal.to_scalar()?;
    let forward_ll: f64 = ys.iter().map(|y| fitted.forward(y)).sum();
    let map = graph.map()?;
    let decoded = paths(
        |s| {
            map.values
                .get(s)
                .cloned()
                .ok_or_else(|| Error::site(s, "not decoded"))
        },
        n,
        t,
    )?;
    let viterbi_fitted: Vec<Vec<usize>> = ys.iter().map(|y| fitted.viterbi(y)).collect();
    let agree = decoded
        .iter()
        .zip(&viterbi_fitted)
        .filter(|(a, b)| a == b)
        .count();
    let label = relabel(&fitted);
    let hits: usize = decoded
        .iter()
        .zip(&truth)
        .map(|(d, x)| d.iter().zip(x).filter(|(a, b)| label[**a] == **b).count())
        .sum();
    println!(
        "1. exact marginal likelihood (enumerate_parallel, {fit_steps} Adam steps, {fit_time:.1} s, largest table {} entries):",
        graph.largest_table()
    );
    println!(
        "   log p(y) per step {:.4} (true parameters {:.4}); emission means {:?}, scale {:.3}",
        fitted_ll / steps_total,
        true_ll / steps_total,
        fitted
            .locs
            .iter()
            .map(|l| format!("{l:.2}"))
            .collect::<Vec<_>>(),
        fitted.scale
    );
    println!("   transitions {}", show(&fitted.trans));
    println!(
        "   MAP paths (FactorGraph::map) equal Viterbi's under the fitted parameters for {agree}/{n} sequences; {:.1}% of the states are the true ones",
        100.0 * hits as f64 / steps_total
    );

    // 2. SVO-MAP with the model at the true parameters: does the guide find the exact MAP?
    let (graph_true, _) = pact::no_grad(|| {
        run(
            &enumerate_parallel(Select::All, model(&ys, Params::Truth)?),
            &ParamStore::new(DType::F64, CPU),
            &mut rng,
        )
    })?;
    let map_true = graph_true.map()?;
    let enum_paths = paths(
        |s| {
            map_true
                .values
                .get(s)
                .cloned()
                .ok_or_else(|| Error::site(s, "not decoded"))
        },
        n,
        t,
    )?;
    let (enum_true, ..) = compare(&true_hmm, &ys, &enum_paths);
    println!(
        "2. SVO-MAP ({svo_steps} Adam steps), model fixed at the true parameters; exact MAP by enumeration: {enum_true}/{n} sequences"
    );
    let methods = [
        (Guide::Factorised, Estimate::Exact),
        (Guide::Factorised, Estimate::Concrete),
        (Guide::Structured, Estimate::Concrete),
    ];
    for (kind, estimate) in methods {
        let (decoded, _) = svo_map(&ys, Params::Truth, kind, estimate, svo_steps, &mut rng)?;
        let (exact, flips, stuck, gap) = compare(&true_hmm, &ys, &decoded);
        println!(
            "   {kind:?} guide, {estimate:?} objective: decoded = exact MAP path for {exact}/{n} sequences ({:.0}%), {flips} of {} states differ; {stuck} of the other {} sequences sit at a single-flip optimum; log p(x, y) short of the MAP by {gap:.3} per sequence",
            100.0 * exact as f64 / n as f64,
            n * t,
            n - exact
        );
    }

    // 3. SVO-MAP fitting the model's parameters jointly with the guide (hard EM).
    println!("3. SVO-MAP fitting transitions and emissions jointly with the guide (hard EM):");
    for (kind, estimate) in [methods[0], methods[2]] {
        let (joint_paths, joint_params) =
            svo_map(&ys, Params::Learn, kind, estimate, svo_steps, &mut rng)?;
        let joint = Hmm::from_store(&joint_params)?;
        let joint_ll: f64 = ys.iter().map(|y| joint.forward(y)).sum();
        let mut used = [0usize; K];
        for path in &joint_paths {
            for &s in path {
                used[s] += 1;
            }
        }
        println!(
            "   {kind:?} guide, {estimate:?} objective: transitions {}, emission means {:?}, scale {:.3}",
            show(&joint.trans),
            joint
                .locs
                .iter()
                .map(|l| format!("{l:.2}"))
                .collect::<Vec<_>>(),
            joint.scale
        );
        println!(
            "      exact log p(y) per step at these parameters {:.4} (enumeration's fit {:.4}); decoded states per label {used:?}",
            joint_ll / steps_total,
            fitted_ll / steps_total
        );
    }

    let ll_ok = (fitted_ll - forward_ll).abs() <= 1e-8 * forward_ll.abs().max(1.0);
    let map_ok = agree == n && enum_true == n;
    println!(
        "check: enumeration's log p(y) equals the forward algorithm's (|Δ| = {:.1e}) and its MAP paths equal Viterbi's for every sequence, fitted ({agree}/{n}) and true ({enum_true}/{n}): {}",
        (fitted_ll - forward_ll).abs(),
        if ll_ok && map_ok { "OK" } else { "FAILED" }
    );
    if !(ll_ok && map_ok) {
        return Err(Box::new(Error::invalid(
            "hmm",
            "enumeration disagrees with the forward algorithm or Viterbi",
        )));
    }
    Ok(())
}
