//! The stick-breaking law of the halting step and its mean, shared by PACT's quantities
//! (`pact.rs`) and the priors (`prior.rs`) (math.md §3, §4).

use super::validate::validate_halting;
use crate::Result;
use num_traits::Float;

/// Converts a count to the float type (exact for any realistic number of units).
pub(crate) fn count<T: Float>(n: usize) -> T {
    T::from(n).unwrap_or_else(T::nan)
}

/// The closed-form gradient `∂E_q[N]/∂h_k`, `k = 1 … L−1`.
///
/// From `E_q[N] = Σ_{n=1..L} P(N ≥ n) = Σ_{n=1..L} Π_{l<n} (1 − h_l)`:
/// `∂E_q[N]/∂h_k = −Σ_{n=k+1..L} Π_{l<n, l≠k} (1 − h_l)`. It is never positive and is smooth in
/// `h`, unlike ACT's ponder cost.
///
/// ```
/// use pact_models::analysis::expected_n_grad;
///
/// // Two units: E_q[N] = 1 + (1 − h_1), so the gradient is −1.
/// assert_eq!(expected_n_grad(&[0.3])?, vec![-1.0]);
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn expected_n_grad<T: Float>(halting: &[T]) -> Result<Vec<T>> {
    validate_halting(halting)?;
    let grad = (0..halting.len())
        .map(|k| {
            // Sum over N = 2 … L of Π_{l<N, l≠k} (1 − h_l) for N > k (1-based N and l).
            // Here k and `i` are 0-based: step `i` brings in the factor of h_{i+1} and N = i + 2.
            let mut total = T::zero();
            let mut survive = T::one();
            for (i, &h) in halting.iter().enumerate() {
                if i != k {
                    survive = survive * (T::one() - h);
                }
                if i >= k {
                    total = total + survive;
                }
            }
            -total
        })
        .collect();
    Ok(grad)
}

/// `q(N)` without checks; `halting` holds `h_1 … h_{L−1}`.
pub(crate) fn stick_breaking<T: Float>(halting: &[T]) -> Vec<T> {
    let mut q = Vec::with_capacity(halting.len() + 1);
    let mut survive = T::one();
    for &h in halting {
        q.push(survive * h);
        survive = survive * (T::one() - h);
    }
    q.push(survive); // h_L = 1
    q
}

/// `Σ_n n q_n` with `n` counted from 1.
pub(crate) fn mean<T: Float>(q: &[T]) -> T {
    q.iter()
        .enumerate()
        .fold(T::zero(), |acc, (i, &p)| acc + count::<T>(i + 1) * p)
}
