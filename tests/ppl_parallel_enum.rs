//! Parallel enumeration with variable elimination (`enumerate_parallel`, `infer_discrete`)
//! against brute-force enumeration (`enumerate`, one run per configuration) on small models
//! with plates and markov chains, and against the forward algorithm and Viterbi written out
//! here in f64 on HMMs, up to a chain of 1,000 steps.

mod prob_common;

use pact::dist::{Bernoulli, Categorical, Normal, OneHotCategorical};
use pact::nn::ParamStore;
use pact::ppl::{
    enumerate, enumerate_parallel, infer_discrete, lookup, run, Ctx, ParallelEnum, Posterior,
    Select,
};
use pact::{DType, Result, Rng, Tensor};
use prob_common::*;
use std::f64::consts::PI;

fn store() -> ParamStore {
    ParamStore::new(DType::F64, CPU)
}

/// The error with which parallel enumeration refuses `model`.
fn refusal<T>(model: impl Fn(&mut Ctx) -> Result<T>) -> String {
    run(
        &enumerate_parallel(Select::All, model),
        &store(),
        &mut Rng::seed(0),
    )
    .err()
    .expect("parallel enumeration refuses the model")
    .to_string()
}

fn ln_normal(x: f64, m: f64, s: f64) -> f64 {
    -0.5 * ((x - m) / s).powi(2) - s.ln() - 0.5 * (2.0 * PI).ln()
}

fn logsumexp(v: &[f64]) -> f64 {
    let m = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// A K-state HMM with Gaussian emissions.
#[derive(Clone)]
struct Hmm {
    init: Vec<f64>,
    trans: Vec<Vec<f64>>,
    locs: Vec<f64>,
    scale: f64,
}

impl Hmm {
    fn three_states() -> Self {
        Hmm {
            init: vec![0.5, 0.3, 0.2],
            trans: vec![
                vec![0.8, 0.15, 0.05],
                vec![0.1, 0.7, 0.2],
                vec![0.2, 0.2, 0.6],
            ],
            locs: vec![-1.0, 0.5, 2.0],
            scale: 0.8,
        }
    }

    fn k(&self) -> usize {
        self.init.len()
    }

    /// Sequences drawn from the HMM, `[n][t]`.
    fn draw(&self, n: usize, t: usize, rng: &mut Rng) -> Vec<Vec<f64>> {
        let pick = |p: &[f64], rng: &mut Rng| {
            let u = rng.uniform();
            let mut acc = 0.0;
            for (i, q) in p.iter().enumerate() {
                acc += q;
                if u < acc {
                    return i;
                }
            }
            p.len() - 1
        };
        (0..n)
            .map(|_| {
                let mut x = pick(&self.init, rng);
                (0..t)
                    .map(|i| {
                        if i > 0 {
                            x = pick(&self.trans[x], rng);
                        }
                        let noise = Tensor::randn([1], DType::F64, CPU, rng).unwrap();
                        self.locs[x] + self.scale * noise.to_f64_vec()[0]
                    })
                    .collect()
            })
            .collect()
    }

    /// `log p(y)` by the forward algorithm.
    fn forward(&self, y: &[f64]) -> f64 {
        let k = self.k();
        let emit = |j: usize, v: f64| ln_normal(v, self.locs[j], self.scale);
        let mut alpha: Vec<f64> = (0..k).map(|j| self.init[j].ln() + emit(j, y[0])).collect();
        for &v in &y[1..] {
            alpha = (0..k)
                .map(|j| {
                    let into: Vec<f64> = (0..k).map(|i| alpha[i] + self.trans[i][j].ln()).collect();
                    logsumexp(&into) + emit(j, v)
                })
                .collect();
        }
        logsumexp(&alpha)
    }

    /// The most probable path and its log joint, by Viterbi.
    fn viterbi(&self, y: &[f64]) -> (Vec<usize>, f64) {
        let k = self.k();
        let emit = |j: usize, v: f64| ln_normal(v, self.locs[j], self.scale);
        let mut delta: Vec<f64> = (0..k).map(|j| self.init[j].ln() + emit(j, y[0])).collect();
        let mut back: Vec<Vec<usize>> = Vec::new();
        for &v in &y[1..] {
            let mut next = vec![0.0; k];
            let mut arg = vec![0; k];
            for j in 0..k {
                let (mut best, mut bi) = (f64::NEG_INFINITY, 0);
                for (i, d) in delta.iter().enumerate() {
                    let s = d + self.trans[i][j].ln();
                    if s > best {
                        best = s;
                        bi = i;
                    }
                }
                next[j] = best + emit(j, v);
                arg[j] = bi;
            }
            delta = next;
            back.push(arg);
        }
        let (mut last, mut score) = (0, f64::NEG_INFINITY);
        for (j, &d) in delta.iter().enumerate() {
            if d > score {
                score = d;
                last = j;
            }
        }
        let mut path = vec![last];
        for arg in back.iter().rev() {
            last = arg[last];
            path.push(last);
        }
        path.reverse();
        (path, score)
    }

    /// The model over `ys` (`[n][t]`): a plate of `n` sequences, a markov chain of `t` steps.
    fn model(&self, ys: &[Vec<f64>]) -> impl Fn(&mut Ctx) -> Result<()> {
        self.model_at(ys, t64(&self.locs, &[self.k()]))
    }

    /// The model with the emission means `locs` (a variable, say).
    fn model_at(&self, ys: &[Vec<f64>], locs: Tensor) -> impl Fn(&mut Ctx) -> Result<()> {
        self.model_in(ys, locs, DType::F64)
    }

    /// The model with its tensors in `dtype`.
    fn model_in(
        &self,
        ys: &[Vec<f64>],
        locs: Tensor,
        dtype: DType,
    ) -> impl Fn(&mut Ctx) -> Result<()> {
        let (n, t, k) = (ys.len(), ys[0].len(), self.k());
        let cast = |v: &[f64], dims: &[usize]| t64(v, dims).to_dtype(dtype);
        let steps: Vec<Tensor> = (0..t)
            .map(|i| cast(&ys.iter().map(|y| y[i]).collect::<Vec<_>>(), &[n]))
            .collect();
        let init = cast(&self.init, &[k]).log().unwrap();
        let flat: Vec<f64> = self.trans.iter().flatten().copied().collect();
        let trans = cast(&flat, &[k, k]).log().unwrap();
        let locs = locs.to_dtype(dtype);
        let scale_t = s64(self.scale).to_dtype(dtype);
        move |ctx: &mut Ctx| {
            ctx.plate("seq", n, |ctx| {
                let mut prev: Option<Tensor> = None;
                ctx.markov(t, |ctx, i| {
                    let logits = match &prev {
                        None => init.clone(),
                        Some(x) => lookup(&trans, x)?,
                    };
                    let x = ctx.sample(&format!("x_{i}"), Categorical::new(logits)?)?;
                    let emission = Normal::new(lookup(&locs, &x)?, scale_t.clone())?;
                    ctx.observe(&format!("y_{i}"), emission, &steps[i])?;
                    prev = Some(x);
                    Ok(())
                })
            })
        }
    }
}

fn path_of(values: &pact::ppl::Values, t: usize, seq: usize) -> Vec<usize> {
    (0..t)
        .map(|i| values.get(&format!("x_{i}")).unwrap().to_f64_vec()[seq] as usize)
        .collect()
}

#[test]
fn an_hmm_matches_the_forward_algorithm_and_viterbi() {
    let hmm = Hmm::three_states();
    let mut rng = Rng::seed(3);
    let ys = hmm.draw(4, 30, &mut rng);
    let (graph, outer) = run(
        &enumerate_parallel(Select::All, hmm.model(&ys)),
        &store(),
        &mut rng,
    )
    .unwrap();
    let forward: f64 = ys.iter().map(|y| hmm.forward(y)).sum();
    close(
        &[graph.log_marginal.to_scalar().unwrap()],
        &[forward],
        1e-10,
    );
    close(
        &[outer.log_joint().unwrap().to_scalar().unwrap()],
        &[forward],
        1e-10,
    );
    // A chain of K = 3 states costs tables of K² per sequence: linear in its length.
    assert_eq!(graph.largest_table(), 9 * 4);
    assert_eq!(graph.plate_nesting(), 1);
    let map = graph.map().unwrap();
    let mut best_total = 0.0;
    for (n, y) in ys.iter().enumerate() {
        let (path, score) = hmm.viterbi(y);
        assert_eq!(path_of(&map.values, 30, n), path, "sequence {n}");
        best_total += score;
    }
    close(&[map.log_joint.to_scalar().unwrap()], &[best_total], 1e-10);
    // Per sequence: the forward algorithm's log-likelihood and Viterbi's path.
    let per = graph.per_element("seq").unwrap();
    let by_seq: Vec<f64> = ys.iter().map(|y| hmm.forward(y)).collect();
    close(&per.log_marginal.to_f64_vec(), &by_seq, 1e-10);
    assert_eq!(per.best.get("x_7").unwrap().dims(), &[4]);
    assert_eq!(per.posterior.get("x_7").unwrap().dims(), &[4, 3]);
}

/// The engine in f32: the log marginal of 4 sequences of 200 steps within f32 rounding of
/// the forward algorithm in f64 (relative 1e-5), and the same Viterbi paths.
#[test]
fn an_hmm_in_f32_matches_the_forward_algorithm_and_viterbi_within_rounding() {
    let hmm = Hmm::three_states();
    let mut rng = Rng::seed(5);
    let ys = hmm.draw(4, 200, &mut rng);
    let model = hmm.model_in(&ys, t64(&hmm.locs, &[hmm.k()]), DType::F32);
    let params = ParamStore::new(DType::F32, CPU);
    let (graph, _) = run(&enumerate_parallel(Select::All, model), &params, &mut rng).unwrap();
    assert_eq!(graph.log_marginal.dtype(), DType::F32);
    let forward: f64 = ys.iter().map(|y| hmm.forward(y)).sum();
    let got = graph.log_marginal.to_scalar().unwrap();
    assert!(
        (got - forward).abs() <= 1e-5 * forward.abs(),
        "f32 log marginal {got} vs forward algorithm {forward}"
    );
    let map = graph.map().unwrap();
    for (n, y) in ys.iter().enumerate() {
        assert_eq!(
            path_of(&map.values, 200, n),
            hmm.viterbi(y).0,
            "sequence {n}"
        );
    }
}

#[test]
fn an_hmm_of_a_thousand_steps_fits_and_decodes() {
    let hmm = Hmm::three_states();
    let mut rng = Rng::seed(11);
    let ys = hmm.draw(2, 1000, &mut rng);
    let locs = t64(&hmm.locs, &[3]).to_var();
    let (graph, _) = run(
        &enumerate_parallel(Select::All, hmm.model_at(&ys, locs.clone())),
        &store(),
        &mut rng,
    )
    .unwrap();
    let forward: f64 = ys.iter().map(|y| hmm.forward(y)).sum();
    close(&[graph.log_marginal.to_scalar().unwrap()], &[forward], 1e-9);
    // The gradient that fits the emission means, against central differences of the
    // forward algorithm.
    let grad = graph.log_marginal.backward().unwrap();
    let by_fd: Vec<f64> = (0..3)
        .map(|j| {
            let at = |h: f64| {
                let mut moved = hmm.clone();
                moved.locs[j] += h;
                ys.iter().map(|y| moved.forward(y)).sum::<f64>()
            };
            (at(1e-5) - at(-1e-5)) / 2e-5
        })
        .collect();
    close(&grad.get(&locs).unwrap().to_f64_vec(), &by_fd, 1e-5);
    let map = graph.map().unwrap();
    for (n, y) in ys.iter().enumerate() {
        assert_eq!(path_of(&map.values, 1000, n), hmm.viterbi(y).0);
    }
    // Two axes serve the whole chain.
    let x999 = graph.trace.get("x_999").unwrap().value().dims().to_vec();
    assert!(x999.len() <= 3, "{x999:?}");
}

#[test]
fn hmm_marginals_and_draws_match_brute_force() {
    // 2 sequences of 5 steps, 3 states: 243 joint paths per sequence by brute force.
    let hmm = Hmm::three_states();
    let mut rng = Rng::seed(5);
    let ys = hmm.draw(2, 5, &mut rng);
    let model = hmm.model(&ys);
    let (brute, _) = run(&enumerate(Select::All, &model), &store(), &mut rng).unwrap();
    let (graph, _) = run(&enumerate_parallel(Select::All, &model), &store(), &mut rng).unwrap();
    close(
        &[graph.log_marginal.to_scalar().unwrap()],
        &[brute.log_marginal.to_scalar().unwrap()],
        1e-10,
    );
    let per_brute = brute.per_element().unwrap();
    let per = graph.per_element("seq").unwrap();
    close(
        &per.log_marginal.to_f64_vec(),
        &per_brute.log_marginal.to_f64_vec(),
        1e-10,
    );
    let marginals = graph.marginals().unwrap();
    for i in 0..5 {
        let name = format!("x_{i}");
        close(
            &marginals.get(&name).unwrap().to_f64_vec(),
            &per_brute.posterior.get(&name).unwrap().to_f64_vec(),
            1e-9,
        );
        close(
            &per.posterior.get(&name).unwrap().to_f64_vec(),
            &per_brute.posterior.get(&name).unwrap().to_f64_vec(),
            1e-9,
        );
        // The brute force's per-element best run is the per-sequence MAP path.
        assert_eq!(
            per.best.get(&name).unwrap().to_f64_vec(),
            per_brute.best.get(&name).unwrap().to_f64_vec()
        );
    }
    // Posterior draws: the frequency of sequence 0's path (x_0, x_4) pairs against the exact
    // marginal of x_4 from brute force, within 4.5 standard errors.
    let draws = 3000;
    let mut counts = [0usize; 3];
    for _ in 0..draws {
        let v = graph.sample(&mut rng).unwrap();
        counts[v.get("x_4").unwrap().to_f64_vec()[0] as usize] += 1;
    }
    let exact = per_brute.posterior.get("x_4").unwrap().to_f64_vec();
    for k in 0..3 {
        let p = exact[k];
        let f = counts[k] as f64 / draws as f64;
        let se = (p * (1.0 - p) / draws as f64).sqrt().max(1e-3);
        assert!((f - p).abs() < 4.5 * se, "state {k}: {f} vs {p}");
    }
}

/// A chain without plates: `z_t | z_{t−1}` Bernoulli, observed through `N(2 z_t, 1)`; with
/// `second_order`, `z_t` also depends on `z_{t−2}` (markov history 2).
fn bernoulli_chain(ys: Vec<f64>, second_order: bool) -> impl Fn(&mut Ctx) -> Result<()> {
    move |ctx: &mut Ctx| {
        let table = t64(&[-1.0, 0.5, 1.5, -0.5], &[4]);
        let mut hist: Vec<Tensor> = Vec::new();
        let history = if second_order { 2 } else { 1 };
        ctx.markov_with_history(ys.len(), history, |ctx, t| {
            let logit = match (hist.len(), second_order) {
                (0, _) => s64(0.3),
                (_, false) | (1, true) => lookup(&table, &hist[hist.len() - 1])?,
                (_, true) => {
                    let code = hist[hist.len() - 2]
                        .mul_scalar(2.0)?
                        .add(&hist[hist.len() - 1])?;
                    lookup(&table, &code)?
                }
            };
            let z = ctx.sample(&format!("z_{t}"), Bernoulli::new(logit)?)?;
            ctx.observe(
                &format!("y_{t}"),
                Normal::new(z.mul_scalar(2.0)?, s64(1.0))?,
                &s64(ys[t]),
            )?;
            hist.push(z);
            Ok(())
        })
    }
}

#[test]
fn markov_chains_without_plates_match_brute_force() {
    let ys = vec![0.3, 1.8, 2.5, -0.4, 0.9, 2.2, 1.1, 0.0];
    for second_order in [false, true] {
        let model = bernoulli_chain(ys.clone(), second_order);
        let mut rng = Rng::seed(1);
        let (brute, _) = run(&enumerate(Select::All, &model), &store(), &mut rng).unwrap();
        assert_eq!(brute.runs.len(), 256);
        let (graph, _) = run(&enumerate_parallel(Select::All, &model), &store(), &mut rng).unwrap();
        close(
            &[graph.log_marginal.to_scalar().unwrap()],
            &[brute.log_marginal.to_scalar().unwrap()],
            1e-10,
        );
        // The MAP is the brute force's best run.
        let best = brute.best().unwrap();
        let map = graph.map().unwrap();
        for (name, value) in &best.assignment {
            assert_eq!(
                map.values.get(name).unwrap().to_f64_vec(),
                value.to_f64_vec(),
                "{name} (second order: {second_order})"
            );
        }
        close(
            &[map.log_joint.to_scalar().unwrap()],
            &[best.trace.log_joint().unwrap().to_scalar().unwrap()],
            1e-10,
        );
        // Marginals of every site against the brute-force posterior.
        let post = brute.posterior().unwrap();
        let marginals = graph.marginals().unwrap();
        for t in 0..ys.len() {
            let name = format!("z_{t}");
            let p1: f64 = brute
                .runs
                .iter()
                .zip(&post)
                .filter(|(r, _)| r.trace.value(&name).unwrap().to_scalar().unwrap() == 1.0)
                .map(|(_, p)| p)
                .sum();
            close(
                &marginals.get(&name).unwrap().to_f64_vec(),
                &[1.0 - p1, p1],
                1e-9,
            );
        }
        // infer_discrete runs the model at the MAP: its trace's log joint is the MAP's.
        let decoded = infer_discrete(Select::All, Posterior::Map, &model);
        let (_, trace) = run(&decoded, &store(), &mut rng).unwrap();
        close(
            &[trace.log_joint().unwrap().to_scalar().unwrap()],
            &[map.log_joint.to_scalar().unwrap()],
            1e-10,
        );
        assert!(trace.get("z_3").unwrap().decoded);
        // A posterior draw instead: every site decoded to a value of its support.
        let drawn = infer_discrete(Select::All, Posterior::Sample, &model);
        let (_, trace) = run(&drawn, &store(), &mut rng).unwrap();
        for t in 0..ys.len() {
            let site = trace.get(&format!("z_{t}")).unwrap();
            assert!(site.decoded);
            let v = site.value().to_scalar().unwrap();
            assert!(v == 0.0 || v == 1.0);
        }
    }
}

#[test]
fn lookup_picks_rows_and_refuses_non_indices() {
    let table = t64(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]);
    let rows = lookup(&table, &t64(&[2.0, 0.0, 1.0], &[3, 1])).unwrap();
    assert_eq!(rows.dims(), &[3, 1, 2]);
    assert_eq!(rows.to_f64_vec(), vec![5.0, 6.0, 1.0, 2.0, 3.0, 4.0]);
    for bad in [3.0, -1.0, 0.5] {
        let err = lookup(&table, &s64(bad)).err().unwrap().to_string();
        assert!(err.contains("not a row"), "{err}");
    }
}

/// A global switch `g` outside the plate and local one-hot assignments inside it, with
/// learnable means: `g ~ Bernoulli(0.4)`, `z_n ~ OneHot(mix_g)`, `x_n ~ N(locs[z_n] + g, 1)`.
fn switched_mixture(x: Tensor) -> impl Fn(&mut Ctx) -> Result<()> {
    let n = x.dims()[0];
    move |ctx: &mut Ctx| {
        let locs = ctx.param("locs", || Ok(t64(&[-1.0, 0.5, 2.0], &[3, 1])))?;
        let mix = t64(&[0.2, 0.3, 0.5, 0.6, 0.3, 0.1], &[2, 3]).log()?;
        let g = ctx.sample("g", Bernoulli::from_probs(s64(0.4))?)?;
        let logits = lookup(&mix, &g)?;
        ctx.plate("data", n, |ctx| {
            let z = ctx.sample("z", OneHotCategorical::new(logits.clone())?)?;
            let dims = z.dims().to_vec();
            let loc = z.matmul(&locs)?.reshape(&dims[..dims.len() - 1])?.add(&g)?;
            ctx.observe("x", Normal::new(loc, s64(1.0))?, &x)?;
            Ok(())
        })
    }
}

#[test]
fn plates_with_a_global_site_match_brute_force_with_gradients() {
    let x = t64(&[-0.7, 2.4, 0.1, 1.6, 3.0], &[5]);
    let model = switched_mixture(x);
    let params = store();
    let mut rng = Rng::seed(2);
    let (brute, _) = run(&enumerate(Select::All, &model), &params, &mut rng).unwrap();
    let (graph, _) = run(&enumerate_parallel(Select::All, &model), &params, &mut rng).unwrap();
    close(
        &[graph.log_marginal.to_scalar().unwrap()],
        &[brute.log_marginal.to_scalar().unwrap()],
        1e-10,
    );
    let locs = params.get("locs").unwrap().tensor();
    let g_brute = brute.log_marginal.backward().unwrap();
    let g_graph = graph.log_marginal.backward().unwrap();
    close(
        &g_graph.get(&locs).unwrap().to_f64_vec(),
        &g_brute.get(&locs).unwrap().to_f64_vec(),
        1e-9,
    );
    // Per value of the global switch g, brute force holds the terms of every z per element:
    // sum (or maximise) them out per element, then over g.
    let mut by_g = Vec::new();
    for g in [0.0, 1.0] {
        let runs: Vec<_> = brute
            .runs
            .iter()
            .filter(|r| r.trace.value("g").unwrap().to_scalar().unwrap() == g)
            .collect();
        let lp = |r: &pact::ppl::EnumRun<()>, s: &str| {
            r.trace
                .get(s)
                .unwrap()
                .log_prob
                .as_ref()
                .unwrap()
                .to_f64_vec()
        };
        let prior = lp(runs[0], "g")[0];
        let (mut sum, mut max, mut zs) = (prior, prior, Vec::new());
        for e in 0..5 {
            let terms: Vec<f64> = runs.iter().map(|r| lp(r, "z")[e] + lp(r, "x")[e]).collect();
            sum += logsumexp(&terms);
            let arg = (0..terms.len())
                .max_by(|&a, &b| terms[a].total_cmp(&terms[b]))
                .unwrap();
            max += terms[arg];
            zs.push(runs[arg].trace.value("z").unwrap().argmax(1).unwrap()[e]);
        }
        by_g.push((sum, max, zs));
    }
    let z_total = logsumexp(&[by_g[0].0, by_g[1].0]);
    let marginals = graph.marginals().unwrap();
    close(
        &marginals.get("g").unwrap().to_f64_vec(),
        &[(by_g[0].0 - z_total).exp(), (by_g[1].0 - z_total).exp()],
        1e-9,
    );
    assert_eq!(marginals.get("z").unwrap().dims(), &[5, 3]);
    let map = graph.map().unwrap();
    let g_best = if by_g[1].1 > by_g[0].1 { 1 } else { 0 };
    close(
        &[map.log_joint.to_scalar().unwrap()],
        &[by_g[g_best].1],
        1e-10,
    );
    assert_eq!(
        map.values.get("g").unwrap().to_scalar().unwrap(),
        g_best as f64
    );
    assert_eq!(
        map.values.get("z").unwrap().argmax(1).unwrap(),
        by_g[g_best].2
    );
    // The elements are coupled by g: no per-element results.
    assert!(graph.per_element("data").is_err());
}

#[test]
fn subsampled_plates_scale_like_brute_force() {
    let x = t64(&[0.4, 2.9, -0.3], &[3]);
    let model = move |ctx: &mut Ctx| -> Result<()> {
        let g = ctx.sample("g", Bernoulli::from_probs(s64(0.5))?)?;
        ctx.subsample_plate("data", 12, 3, |ctx| {
            let z = ctx.sample("z", Bernoulli::new(g.mul_scalar(2.0)?.add_scalar(-1.0)?)?)?;
            ctx.observe("x", Normal::new(z.mul_scalar(3.0)?, s64(1.0))?, &x)?;
            Ok(())
        })
    };
    let mut rng = Rng::seed(0);
    let (brute, _) = run(&enumerate(Select::All, &model), &store(), &mut rng).unwrap();
    let (graph, _) = run(&enumerate_parallel(Select::All, &model), &store(), &mut rng).unwrap();
    close(
        &[graph.log_marginal.to_scalar().unwrap()],
        &[brute.log_marginal.to_scalar().unwrap()],
        1e-10,
    );
}

#[test]
fn parallel_enumeration_refuses_what_it_cannot_do_with_clear_errors() {
    // A site that reads an older step than its markov history allows.
    let too_old = |ctx: &mut Ctx| -> Result<()> {
        let mut hist: Vec<Tensor> = Vec::new();
        ctx.markov(4, |ctx, t| {
            let logit = if t >= 2 {
                hist[t - 2].mul_scalar(2.0)?
            } else {
                s64(0.0)
            };
            hist.push(ctx.sample(&format!("z_{t}"), Bernoulli::new(logit)?)?);
            Ok(())
        })
    };
    let err = refusal(too_old);
    assert!(
        err.contains("z_2") && err.contains("no enumerated site"),
        "{err}"
    );

    // A batched enumerated site outside any plate.
    let unplated = |ctx: &mut Ctx| -> Result<()> {
        ctx.sample("z", Bernoulli::new(t64(&[0.0, 1.0, 2.0], &[3]))?)?;
        Ok(())
    };
    let err = refusal(unplated);
    assert!(err.contains("in no plate"), "{err}");

    // Twenty binary sites that one observation reads: a log-probability over 2^20 entries,
    // refused when the observation is scored, with its size.
    let dense = |ctx: &mut Ctx| -> Result<()> {
        let mut total = s64(0.0);
        for i in 0..20 {
            total = total.add(&ctx.sample(&format!("z_{i}"), Bernoulli::new(s64(0.0))?)?)?;
        }
        ctx.observe("x", Normal::new(total, s64(1.0))?, &s64(3.0))?;
        Ok(())
    };
    let limited = ParallelEnum::new(Select::All)
        .max_table_size(1 << 16)
        .wrap(dense);
    let err = run(&limited, &store(), &mut Rng::seed(0))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("1048576") && err.contains("\"x\""), "{err}");

    // Pairwise factors between n sites: small factors, but eliminating any site joins all
    // the others; the plan is refused before any table is built, with the table's size.
    let pairwise = |n: usize| {
        move |ctx: &mut Ctx| -> Result<()> {
            let zs: Vec<Tensor> = (0..n)
                .map(|i| ctx.sample(&format!("z_{i}"), Bernoulli::new(s64(0.0))?))
                .collect::<Result<_>>()?;
            for i in 0..n {
                for j in i + 1..n {
                    let w = zs[i].mul(&zs[j])?.mul_scalar(0.1 * (i + j) as f64)?;
                    ctx.factor(&format!("f_{i}_{j}"), &w)?;
                }
            }
            Ok(())
        }
    };
    let limited = ParallelEnum::new(Select::All)
        .max_table_size(1000)
        .wrap(pairwise(12));
    let err = run(&limited, &store(), &mut Rng::seed(0))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("table of 4096 entries"), "{err}");
    // Under the default limit such a model contracts, and agrees with brute force.
    let (graph, _) = run(
        &enumerate_parallel(Select::All, pairwise(7)),
        &store(),
        &mut Rng::seed(0),
    )
    .unwrap();
    let (brute, _) = run(
        &enumerate(Select::All, pairwise(7)),
        &store(),
        &mut Rng::seed(0),
    )
    .unwrap();
    close(
        &[graph.log_marginal.to_scalar().unwrap()],
        &[brute.log_marginal.to_scalar().unwrap()],
        1e-10,
    );
}

#[test]
fn brute_force_refuses_too_many_configurations_after_one_run() {
    let runs = std::cell::Cell::new(0);
    let model = |ctx: &mut Ctx| -> Result<()> {
        runs.set(runs.get() + 1);
        for i in 0..20 {
            ctx.sample(&format!("z_{i}"), Bernoulli::new(s64(0.0))?)?;
        }
        Ok(())
    };
    let err = run(&enumerate(Select::All, model), &store(), &mut Rng::seed(0))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("1048576 joint configurations"), "{err}");
    assert_eq!(runs.get(), 1);
}

/// Two plates that cross: `za` per element of plate `a`, `zb` per element of plate `b`, and
/// an observation per pair `(a, b)` that reads both. Exact enumeration would need a factor
/// over every `za` and `zb` at once. A plate takes its axis from its nesting depth, so `b`,
/// alone at dim −1, sits at dim −2 inside `a`; under enumeration a plate must keep its axis,
/// and the model is refused there, naming the plate, before any table is built.
#[test]
fn crossing_plates_are_refused_naming_the_plate() {
    let crossing = |ctx: &mut Ctx| -> Result<()> {
        let za = ctx.plate("a", 2, |ctx| {
            ctx.sample("za", Bernoulli::new(t64(&[0.0, 0.5], &[2]))?)
        })?;
        let zb = ctx.plate("b", 3, |ctx| {
            ctx.sample("zb", Bernoulli::new(t64(&[0.1, -0.2, 0.3], &[3]))?)
        })?;
        ctx.plate("a", 2, |ctx| {
            ctx.plate("b", 3, |ctx| {
                let d = zb.dims();
                // zb's plate axis (its last) moved to dim −2, where `b` is now.
                let mut column = d[..d.len() - 1].to_vec();
                if column.last() == Some(&1) {
                    column.pop();
                }
                column.extend([d[d.len() - 1], 1]);
                let loc = za.add(&zb.reshape(column)?)?;
                let ones = loc.ones_like();
                let x = t64(&[0.5, 1.0, 1.5, 0.0, 2.0, 1.0], &[3, 2]);
                ctx.observe("x", Normal::new(loc, ones)?, &x)?;
                Ok(())
            })
        })
    };
    let err = refusal(crossing);
    assert!(
        err.contains("plate \"b\"") && err.contains("must keep its axis"),
        "{err}"
    );
    // Without enumeration the same model runs: the plates only scale and check shapes.
    run(&crossing, &store(), &mut Rng::seed(0)).unwrap();
}
