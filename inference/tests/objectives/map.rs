//! SvoMap reaches the exact MAP configuration with a point-mass q; the ELBO keeps entropy.
//!
//! The model's loadings are orthogonal, so the exact posterior factorises over the bits with
//! log-odds linear in `x` (`PRIOR_j + w_j·x − ‖w_j‖²/2`): the linear guide can represent it,
//! the ELBO's optimum is the posterior itself, and its entropy is known exactly.

use super::common::{data, exact_map, model, new_guide, BITS, CPU, DIM, PRIOR, W};
use pact::nn::{Adam, AdamConfig, Optimizer, ParamStore};
use pact::{DType, Rng, Tensor};
use pact_inference::objectives::{Elbo, Estimator, Objective, SvoMap, Temperature};

const N: usize = 100;
const STEPS: usize = 2500;
const SEED: u64 = 7;
/// Adam's learning rate decays exponentially from `LR.0` to `LR.1` over training.
const LR: (f64, f64) = (0.2, 0.05);

/// What [`train`] measures.
struct Fit {
    /// The fraction of inputs whose q-mode is the exact MAP.
    agreement: f64,
    /// The mean entropy of q per input (nats), averaged over the last 5 % of the steps of
    /// each quarter of training.
    mean_entropy: Vec<f64>,
    /// The median entropy of q per input (nats) after each quarter of training.
    median_entropy: Vec<f64>,
    /// The entropy of q of each input (nats) at the end.
    entropies: Vec<f64>,
}

/// The entropy of `Bernoulli(σ(l))` in nats.
fn bernoulli_entropy(l: f64) -> f64 {
    // −p log p − (1 − p) log(1 − p) = p·softplus(−l) + (1 − p)·softplus(l).
    let p = 1.0 / (1.0 + (-l).exp());
    let softplus = |x: f64| x.max(0.0) + (-x.abs()).exp().ln_1p();
    p * softplus(-l) + (1.0 - p) * softplus(l)
}

/// The median of `v`.
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// The entropy of the exact posterior of each input (nats).
fn posterior_entropies(x: &Tensor) -> Vec<f64> {
    x.to_f64_vec()
        .chunks(DIM)
        .map(|xi| {
            (0..BITS)
                .map(|j| {
                    let w2: f64 = W[j].iter().map(|w| w * w).sum();
                    let wx: f64 = W[j].iter().zip(xi).map(|(w, x)| w * x).sum();
                    bernoulli_entropy(PRIOR[j] + wx - 0.5 * w2)
                })
                .sum()
        })
        .collect()
}

/// The entropy of q of each input (nats): the guide's logits, run with a generator of its
/// own so that the training's random stream is left alone.
fn guide_entropies(
    q: &impl Fn(&mut pact::ppl::Ctx) -> pact::Result<Tensor>,
    params: &ParamStore,
) -> Vec<f64> {
    let (logits, _) = pact::ppl::run(q, params, &mut Rng::seed(0)).unwrap();
    logits
        .to_f64_vec()
        .chunks(BITS)
        .map(|row| row.iter().map(|&v| bernoulli_entropy(v)).sum())
        .collect()
}

/// Trains with `objective`.
fn train(objective: &mut impl Objective) -> Fit {
    let mut rng = Rng::seed(SEED);
    let x = data(N, &mut rng).unwrap();
    let params = ParamStore::new(DType::F64, CPU);
    let p = model(x.clone());
    let q = new_guide(&params, &x, 1).unwrap();
    let mut opt = Adam::new(
        params.trainable(),
        AdamConfig {
            lr: LR.0,
            ..Default::default()
        },
    );
    let (quarter, window) = (STEPS / 4, STEPS / 20);
    let mut entropy = Vec::new();
    let mut window_sum = 0.0;
    let mut medians = Vec::new();
    for step in 1..=STEPS {
        opt.set_learning_rate(LR.0 * (LR.1 / LR.0).powf((step - 1) as f64 / STEPS as f64));
        let e = objective.estimate(&p, &q, &params, &mut rng).unwrap();
        if step % quarter == 0 || step % quarter > quarter - window {
            window_sum += e.entropy.unwrap() / N as f64;
        }
        if step % quarter == 0 {
            entropy.push(window_sum / window as f64);
            window_sum = 0.0;
        }
        opt.step(
            &e.loss
                .mul_scalar(1.0 / N as f64)
                .unwrap()
                .backward()
                .unwrap(),
        )
        .unwrap();
        if step % quarter == 0 {
            medians.push(median(&guide_entropies(&q, &params)));
        }
    }
    let (logits, _) = pact::ppl::run(&q, &params, &mut rng).unwrap();
    let l = logits.to_f64_vec();
    let map = exact_map(&x);
    let hits = map
        .iter()
        .enumerate()
        .filter(|(i, z)| (0..BITS).all(|j| (l[i * BITS + j] > 0.0) == z[j]))
        .count();
    Fit {
        agreement: hits as f64 / N as f64,
        mean_entropy: entropy,
        median_entropy: medians,
        entropies: guide_entropies(&q, &params),
    }
}

fn schedule() -> Temperature {
    Temperature::ExponentialDecay {
        initial: 1.0,
        rate: 0.995,
        floor: 0.15,
    }
}

#[test]
fn svo_map_reaches_the_exact_map_with_a_point_mass_and_elbo_keeps_entropy() {
    let x = data(N, &mut Rng::seed(SEED)).unwrap();
    let posterior = posterior_entropies(&x);
    let h_post = posterior.iter().sum::<f64>() / N as f64;
    let svo = train(&mut SvoMap::new(Estimator::Concrete).temperature(schedule()));
    let elbo = train(&mut Elbo::new(Estimator::Concrete).temperature(schedule()));
    println!(
        "exact posterior: mean entropy {h_post:.4}, median {:.4}",
        median(&posterior)
    );
    for (name, f) in [("svo-map", &svo), ("elbo", &elbo)] {
        println!(
            "{name}: agreement {:.2}, mean entropy per quarter {:.4?}, median {:.4?}",
            f.agreement, f.mean_entropy, f.median_entropy
        );
    }
    // Measured (seed 7): the exact posterior has mean entropy 0.373 nats per input (median
    // 0.277). SvoMap: agreement 0.98; mean entropy 0.137, 0.099, 0.092, 0.092 over the last
    // 5 % of each quarter; median 0.0134, 0.0067, 0.0047, 0.0022 after each quarter. ELBO:
    // agreement 0.96; mean entropy 0.355, 0.359, 0.371, 0.402; median 0.297 at the end.
    // Seeds 8, 9, 10 (same settings): SvoMap agreement 0.98, 1.00, 0.97, the mean and median
    // falling every quarter, final medians 0.0042, 0.0023, 0.0037; ELBO within 12 % of the
    // posterior's mean entropy. The mean falls more slowly than the median: inputs close to
    // a decision boundary of the linear guide collapse last.
    assert!(svo.agreement >= 0.95, "agreement {}", svo.agreement);
    let (h, m) = (&svo.mean_entropy, &svo.median_entropy);
    assert!(
        h.windows(2).all(|w| w[1] < w[0]) && h[3] < 0.8 * h[0],
        "SvoMap mean entropy not falling: {h:?}"
    );
    assert!(
        m.windows(2).all(|w| w[1] < w[0]) && m[3] < 0.01,
        "SvoMap median entropy not falling to 0: {m:?}"
    );
    // The ELBO keeps the posterior's entropy: its mean within 25 % of the posterior's, its
    // median far above SvoMap's.
    let h_elbo = elbo.mean_entropy[3];
    assert!(
        (h_elbo - h_post).abs() < 0.25 * h_post,
        "ELBO entropy {h_elbo} vs posterior {h_post}"
    );
    assert!(h_elbo > 3.0 * h[3], "ELBO {h_elbo} vs SvoMap {}", h[3]);
    let elbo_median = median(&elbo.entropies);
    assert!(
        elbo_median > 20.0 * m[3],
        "ELBO median {elbo_median} vs SvoMap {m:?}"
    );
}
