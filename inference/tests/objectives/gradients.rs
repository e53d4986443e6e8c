//! Gradient estimators against the exact (enumerated) gradient of the same objective.

use pact::nn::ParamStore;
use pact::{DType, Rng};
use pact_inference::objectives::{Estimator, Exact, Objective, ScoreFunction, SvoMap, Temperature};

use super::common::{one_latent_guide as guide, one_latent_model as model, CPU};

fn grad(objective: &mut impl Objective, params: &ParamStore, rng: &mut Rng) -> f64 {
    let e = objective.estimate(&model, &guide, params, rng).unwrap();
    let g = e.loss.backward().unwrap();
    let phi = params.get("phi").unwrap().tensor();
    -g.get(&phi).unwrap().to_scalar().unwrap()
}

/// (mean, standard error) of `m` single-sample gradients.
fn average(objective: &mut impl Objective, m: usize) -> (f64, f64) {
    let params = ParamStore::new(DType::F64, CPU);
    let mut rng = Rng::seed(11);
    let g: Vec<f64> = (0..m).map(|_| grad(objective, &params, &mut rng)).collect();
    let mean = g.iter().sum::<f64>() / m as f64;
    let var = g.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (m - 1) as f64;
    (mean, (var / m as f64).sqrt())
}

/// The exact `∂J/∂φ` at `φ = 0.2`, from `Exact::map()`.
pub fn exact() -> f64 {
    let params = ParamStore::new(DType::F64, CPU);
    grad(&mut Exact::map(), &params, &mut Rng::seed(0))
}

#[test]
fn score_function_gradient_is_unbiased() {
    let truth = exact();
    let (mean, se) = average(&mut ScoreFunction::map(), 4000);
    println!("exact {truth:.4}, score function {mean:.4} ± {se:.4}");
    // Within four standard errors (a false alarm about once in 16 000 seeds).
    assert!((mean - truth).abs() < 4.0 * se, "{mean} ± {se} vs {truth}");
}

#[test]
fn concrete_bias_shrinks_with_the_temperature() {
    let truth = exact();
    // The variance grows as the temperature falls: more samples at t = 0.1.
    let bias: Vec<(f64, f64)> = [(1.0, 4000), (0.5, 4000), (0.1, 16000)]
        .iter()
        .map(|&(t, m)| {
            let mut svo = SvoMap::new(Estimator::Concrete).temperature(Temperature::Constant(t));
            let (mean, se) = average(&mut svo, m);
            ((mean - truth).abs(), se)
        })
        .collect();
    println!("exact {truth:.4}, concrete |bias| ± se at t = 1, 0.5, 0.1: {bias:.4?}");
    // At t = 1 the bias is far outside the noise; at t = 0.5 and 0.1 it is smaller than
    // that with a margin of two standard errors (the t = 0.1 bias is within its noise).
    assert!(bias[0].0 > 4.0 * bias[0].1, "{bias:?}");
    assert!(bias[1].0 + 2.0 * bias[1].1 < bias[0].0, "{bias:?}");
    assert!(bias[2].0 + 2.0 * bias[2].1 < bias[0].0, "{bias:?}");
}
