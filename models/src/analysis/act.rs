//! Graves' ACT (math.md §2).

use super::validate::{validate_eps, validate_halting};
use crate::Result;
use num_traits::Float;
use serde::Serialize;

/// ACT's quantities for one block (math.md §2).
///
/// Serialises to `{"n", "remainder", "ponder", "weights"}` (`ponder_grad` is left out).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Act<T> {
    /// The halting step `N = min{ n : h_1 + … + h_n ≥ 1 − ε }` (or `L`), counted from 1.
    pub n: usize,
    /// The remainder `R = 1 − (h_1 + … + h_{N−1})`.
    pub remainder: T,
    /// The ponder cost `ρ = N + R`.
    pub ponder: T,
    /// The halting weights `p_1 … p_L`: `h_n` before `N`, `R` at `N`, `0` after; they sum to 1.
    pub weights: Vec<T>,
    /// `∂ρ/∂h_n` for the `L − 1` inputs: `−1` for `n < N`, `0` otherwise (`N` is held constant).
    #[serde(skip)]
    pub ponder_grad: Vec<T>,
}

/// ACT (§2) for halting probabilities `h_1 … h_{L−1}` (the last unit halts) and slack `ε`.
///
/// Fails with [`Error::InvalidInput`](crate::Error::InvalidInput) for an empty list, a value
/// outside `[0, 1]` or NaN, or `ε ∉ (0, 1)`.
///
/// ```
/// use pact_models::analysis::act;
///
/// let a = act(&[0.01f64, 0.5, 0.6, 0.7], 0.01)?;
/// assert_eq!(a.n, 3);
/// assert!((a.remainder - 0.49).abs() < 1e-12);
/// assert!((a.ponder - 3.49).abs() < 1e-12);
/// assert_eq!(a.weights.len(), 5);
/// assert_eq!(a.ponder_grad, vec![-1.0, -1.0, 0.0, 0.0]);
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn act<T: Float>(halting: &[T], eps: T) -> Result<Act<T>> {
    validate_halting(halting)?;
    validate_eps(eps)?;
    let units = halting.len() + 1;
    let threshold = T::one() - eps;

    // Find N: the first n whose cumulative sum reaches 1 − ε; the last unit (h_L = 1) always does.
    let mut cumulative = T::zero();
    let mut before = T::zero(); // h_1 + … + h_{N−1}
    let mut n = units;
    for (i, &h) in halting.iter().enumerate() {
        cumulative = cumulative + h;
        if cumulative >= threshold {
            n = i + 1;
            break;
        }
        before = cumulative;
    }

    let remainder = T::one() - before;
    let ponder = T::from(n).unwrap_or_else(T::nan) + remainder;

    let mut weights = vec![T::zero(); units];
    weights[..n - 1].copy_from_slice(&halting[..n - 1]);
    weights[n - 1] = remainder;

    let ponder_grad = (1..units)
        .map(|l| if l < n { -T::one() } else { T::zero() })
        .collect();

    Ok(Act {
        n,
        remainder,
        ponder,
        weights,
        ponder_grad,
    })
}
