//! Helpers shared by the distribution and ppl suites (`dist_*`, `ppl_*`).
#![allow(dead_code)]

use pact::dist::{Distribution, OneHotCategorical};
use pact::ppl::HaltingSite;
use pact::{DType, Device, Tensor};
use std::sync::Arc;

pub const CPU: Device = Device::Cpu;

/// An f64 constant.
pub fn t64(v: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_f64_slice(v, shape, DType::F64, CPU).unwrap()
}

/// An f32 constant.
pub fn t32(v: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_f64_slice(v, shape, DType::F32, CPU).unwrap()
}

/// An f64 scalar.
pub fn s64(v: f64) -> Tensor {
    Tensor::scalar(v, DType::F64, CPU)
}

/// Asserts elementwise `|a − b| ≤ tol · (1 + |b|)`; equal infinities pass.
pub fn close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        let ok = x == y || (x - y).abs() <= tol * (1.0 + y.abs());
        assert!(ok, "{a:?} vs {b:?} (tol {tol})");
    }
}

/// Asserts that every element is finite.
pub fn all_finite(t: &Tensor, what: &str) {
    let v = t.to_f64_vec();
    assert!(v.iter().all(|x| x.is_finite()), "{what}: {v:?}");
}

/// Central finite differences of the scalar function `f` at `x` (f64).
pub fn finite_diff(f: impl Fn(&[f64]) -> f64, x: &[f64], h: f64) -> Vec<f64> {
    (0..x.len())
        .map(|i| {
            let mut up = x.to_vec();
            let mut down = x.to_vec();
            up[i] += h;
            down[i] -= h;
            (f(&up) - f(&down)) / (2.0 * h)
        })
        .collect()
}

/// The upper `1 − alpha` quantile of the chi-square law with `df` degrees of freedom.
pub fn chi2_critical(df: usize, alpha: f64) -> f64 {
    use statrs::distribution::{ChiSquared, ContinuousCDF};
    ChiSquared::new(df as f64).unwrap().inverse_cdf(1.0 - alpha)
}

/// Pearson's chi-square statistic of observed counts against expected probabilities.
pub fn chi2_stat(counts: &[usize], probs: &[f64]) -> f64 {
    let n: usize = counts.iter().sum();
    counts
        .iter()
        .zip(probs)
        .filter(|(_, &p)| p > 0.0)
        .map(|(&c, &p)| {
            let e = n as f64 * p;
            (c as f64 - e).powi(2) / e
        })
        .sum()
}

/// Counts of each value `0..k` in a slice of small non-negative integers stored as floats.
pub fn counts(values: &[f64], k: usize) -> Vec<usize> {
    let mut c = vec![0; k];
    for &v in values {
        c[v as usize] += 1;
    }
    c
}

/// A halting site of `prior_logits.len()` steps in f64 with the fixed prior
/// `OneHotCategorical(prior_logits)` and, as posterior, the categorical of the heads' logits
/// `[B, L − 1]` with a logit 0 appended for the last step (enough to exercise the handlers).
pub fn categorical_site(prior_logits: &[f64]) -> HaltingSite {
    let prior = OneHotCategorical::new(t64(prior_logits, &[prior_logits.len()])).unwrap();
    HaltingSite::new(prior_logits.len(), Arc::new(prior), |logits: &Tensor| {
        let last = Tensor::zeros([logits.dims()[0], 1], logits.dtype(), logits.device());
        let law: Arc<dyn Distribution> = Arc::new(OneHotCategorical::new(Tensor::concat(
            &[logits.clone(), last],
            1,
        )?)?);
        Ok(law)
    })
}
