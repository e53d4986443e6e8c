//! Comparisons shared by the integration tests.

#![allow(dead_code)]

use pact::nn::ParamStore;
use pact::GradStore;

/// Asserts that `a` and `b` agree element by element to `tol` relative to `1 + |b|`.
pub fn close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

/// The gradients in `grads` of every trainable parameter of `store`, flattened in the store's
/// order (zeros for a parameter without a gradient).
pub fn flat_grads(store: &ParamStore, grads: &GradStore) -> Vec<f64> {
    let mut flat = Vec::new();
    for (_, param) in store.trainable() {
        let value = param.tensor();
        match grads.get(&value) {
            Some(g) => flat.extend(g.to_f64_vec()),
            None => flat.extend(std::iter::repeat_n(0.0, value.elem_count())),
        }
    }
    flat
}
