//! Gradients of `log_prob`, `entropy`, `mean` and `rsample` against central finite
//! differences in f64 (rsample with a fixed seed, so the noise is the same at every point).

mod prob_common;

use pact::dist::{
    Bernoulli, Categorical, Distribution, Geometric, Normal, OneHotCategorical, RelaxedBernoulli,
    RelaxedOneHotCategorical, StraightThroughBernoulli, TruncatedGeometric,
};
use pact::{Result, Rng, Tensor};
use prob_common::*;

/// Compares the gradient of the scalar `f(θ)` from autodiff with finite differences.
fn check_grad(f: impl Fn(&Tensor) -> Result<Tensor>, x0: &[f64], shape: &[usize], what: &str) {
    let x = t64(x0, shape).to_var();
    let y = f(&x).unwrap().sum_all().unwrap();
    let analytic = y.backward().unwrap().get(&x).unwrap().to_f64_vec();
    let eval = |v: &[f64]| {
        f(&t64(v, shape))
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar()
            .unwrap()
    };
    let numeric = finite_diff(eval, x0, 1e-6);
    for (a, n) in analytic.iter().zip(&numeric) {
        assert!(
            (a - n).abs() <= 1e-6 * (1.0 + n.abs()),
            "{what}: autodiff {analytic:?} vs finite differences {numeric:?}"
        );
    }
}

#[test]
fn exact_laws_log_prob_gradients() {
    let z = t64(&[0.0, 1.0, 1.0], &[3]);
    check_grad(
        |a| Bernoulli::new(a.clone())?.log_prob(&z),
        &[-0.3, 0.8, 2.0],
        &[3],
        "Bernoulli logits",
    );
    check_grad(
        |p| Bernoulli::from_probs(p.clone())?.log_prob(&z),
        &[0.2, 0.6, 0.9],
        &[3],
        "Bernoulli probs",
    );
    let k = t64(&[2.0, 0.0], &[2]);
    let logits = [0.1, -0.5, 1.2, 0.0, 0.3, -1.0];
    check_grad(
        |a| Categorical::new(a.clone())?.log_prob(&k),
        &logits,
        &[2, 3],
        "Categorical",
    );
    let onehot = t64(&[0., 0., 1., 1., 0., 0.], &[2, 3]);
    check_grad(
        |a| OneHotCategorical::new(a.clone())?.log_prob(&onehot),
        &logits,
        &[2, 3],
        "OneHot",
    );
    check_grad(
        |p| Categorical::from_probs(p.clone())?.log_prob(&k),
        &[0.2, 0.3, 0.5, 0.1, 0.1, 0.8],
        &[2, 3],
        "Categorical probs",
    );
    let n = t64(&[0.0, 3.0], &[2]);
    check_grad(
        |a| Geometric::new(a.clone())?.log_prob(&n),
        &[0.4, -1.0],
        &[2],
        "Geometric",
    );
    let units = t64(&[1.0, 4.0, 2.0], &[3]);
    check_grad(
        |l| TruncatedGeometric::new(l.clone(), 5)?.log_prob(&units),
        &[0.3, 0.0, -0.7],
        &[3],
        "TruncatedGeometric λ",
    );
    check_grad(
        |phi| TruncatedGeometric::halting_bernoulli(phi.clone(), 4)?.log_prob(&units),
        &[-1.0, 0.5, 2.0],
        &[3],
        "halting-Bernoulli φ",
    );
    let x = t64(&[0.3, -1.0], &[2]);
    check_grad(
        |m| Normal::new(m.clone(), t64(&[0.5, 2.0], &[2]))?.log_prob(&x),
        &[0.0, 1.0],
        &[2],
        "Normal loc",
    );
    check_grad(
        |s| Normal::new(t64(&[0.0, 1.0], &[2]), s.clone())?.log_prob(&x),
        &[0.5, 2.0],
        &[2],
        "Normal scale",
    );
}

#[test]
fn closed_form_entropies_and_means_gradients() {
    check_grad(
        |a| Bernoulli::new(a.clone())?.entropy(),
        &[-0.3, 1.5],
        &[2],
        "Bernoulli entropy",
    );
    check_grad(
        |a| Categorical::new(a.clone())?.entropy(),
        &[0.1, -0.5, 1.2],
        &[3],
        "Categorical entropy",
    );
    check_grad(
        |l| TruncatedGeometric::new(l.clone(), 6)?.entropy(),
        &[0.2, -0.4],
        &[2],
        "TruncatedGeometric entropy",
    );
    check_grad(
        |l| TruncatedGeometric::new(l.clone(), 6)?.mean(),
        &[0.2, -0.4],
        &[2],
        "TruncatedGeometric mean",
    );
    check_grad(
        |a| Geometric::new(a.clone())?.entropy(),
        &[0.3, -0.2],
        &[2],
        "Geometric entropy",
    );
    let prior = Categorical::new(t64(&[0.0, 1.0, -1.0], &[3])).unwrap();
    check_grad(
        |a| pact::dist::kl_divergence(&Categorical::new(a.clone())?, &prior),
        &[0.4, -0.2, 1.1],
        &[3],
        "KL(q ‖ p) in q",
    );
    check_grad(
        |a| pact::dist::kl_divergence(&prior, &Categorical::new(a.clone())?),
        &[0.4, -0.2, 1.1],
        &[3],
        "KL(q ‖ p) in p",
    );
    check_grad(
        |s| Normal::new(t64(&[0.0], &[1]), s.clone())?.entropy(),
        &[0.7],
        &[1],
        "Normal entropy",
    );
}

#[test]
fn relaxed_log_prob_gradients_in_both_spaces() {
    let y = t64(&[-2.0, 0.5, 4.0], &[3]);
    check_grad(
        |a| RelaxedBernoulli::new(a.clone(), 0.4)?.log_prob_logit(&y),
        &[0.3, -1.0, 2.0],
        &[3],
        "RelaxedBernoulli logit-space",
    );
    let z = t64(&[0.1, 0.5, 0.97], &[3]);
    check_grad(
        |a| RelaxedBernoulli::new(a.clone(), 0.4)?.log_prob(&z),
        &[0.3, -1.0, 2.0],
        &[3],
        "RelaxedBernoulli (0,1)-space",
    );
    check_grad(
        |zv| RelaxedBernoulli::new(t64(&[0.3, -1.0, 2.0], &[3]), 0.4)?.log_prob(zv),
        &[0.1, 0.5, 0.97],
        &[3],
        "RelaxedBernoulli density in z",
    );
    let x = t64(&[-0.5, -1.5, -2.0], &[3]).log_softmax(0).unwrap();
    check_grad(
        |a| RelaxedOneHotCategorical::new(a.clone(), 0.6)?.log_prob_log_simplex(&x),
        &[0.2, -0.3, 0.9],
        &[3],
        "ExpConcrete",
    );
    let zs = x.exp().unwrap();
    check_grad(
        |a| RelaxedOneHotCategorical::new(a.clone(), 0.6)?.log_prob(&zs),
        &[0.2, -0.3, 0.9],
        &[3],
        "Concrete",
    );
}

#[test]
fn rsample_gradients_match_finite_differences_with_fixed_noise() {
    let draw_value = |d: &dyn Distribution| -> Result<Tensor> {
        Ok(d.rsample(&[4], &mut Rng::seed(42))?.value().clone())
    };
    check_grad(
        |a| draw_value(&RelaxedBernoulli::new(a.clone(), 0.7)?),
        &[0.3, -1.2],
        &[2],
        "RelaxedBernoulli rsample",
    );
    check_grad(
        |a| {
            let d = RelaxedOneHotCategorical::new(a.clone(), 0.8)?;
            let w = t64(&[1.0, -2.0, 0.5], &[3]);
            draw_value(&d)?.mul(&w)
        },
        &[0.2, -0.3, 0.9],
        &[3],
        "RelaxedOneHotCategorical rsample",
    );
    check_grad(
        |m| draw_value(&Normal::new(m.clone(), t64(&[0.5], &[1]))?),
        &[0.3],
        &[1],
        "Normal rsample loc",
    );
    check_grad(
        |s| draw_value(&Normal::new(t64(&[0.3], &[1]), s.clone())?)?.square(),
        &[0.5],
        &[1],
        "Normal rsample scale",
    );
    // The pathwise term of a relaxed objective: log q(rsample) as a function of the logits.
    check_grad(
        |a| {
            let d = RelaxedBernoulli::new(a.clone(), 0.5)?;
            let draw = d.rsample(&[4], &mut Rng::seed(9))?;
            d.log_prob_draw(&draw)
        },
        &[0.3, -1.2],
        &[2],
        "RelaxedBernoulli log q(rsample)",
    );
    // Straight-through: the forward value is piecewise constant, the gradient is that of the
    // soft value.
    let logits = t64(&[0.3, -1.2], &[2]).to_var();
    let st = StraightThroughBernoulli::new(logits.clone(), 0.7).unwrap();
    let soft = RelaxedBernoulli::new(logits.clone(), 0.7).unwrap();
    let g_st = st
        .rsample(&[4], &mut Rng::seed(42))
        .unwrap()
        .value()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let g_soft = soft
        .rsample(&[4], &mut Rng::seed(42))
        .unwrap()
        .value()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    close(
        &g_st.get(&logits).unwrap().to_f64_vec(),
        &g_soft.get(&logits).unwrap().to_f64_vec(),
        1e-12,
    );
}
