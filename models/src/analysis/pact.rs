//! PACT's halting distribution and its point estimates (math.md §3, §6).

use super::prior::expected_log_prior_unchecked;
use super::stick::{mean, stick_breaking};
use super::validate::{validate_halting, validate_penalty};
use crate::Result;
use num_traits::Float;
use serde::Serialize;

/// PACT's quantities for one block (math.md §3, §4, §6).
///
/// Serialises to `{"q", "expected_n", "deterministic_n", "map_n", "expected_log_prior"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pact<T> {
    /// `q(N = n) = h_n Π_{l<n} (1 − h_l)` for `n = 1 … L` (stick-breaking, §3); sums to 1.
    pub q: Vec<T>,
    /// `E_q[N] = Σ_n n q(N = n)`.
    pub expected_n: T,
    /// The deterministic test-time `N` of §6: the first unit with `h ≥ 0.5`, else `L`.
    pub deterministic_n: usize,
    /// The most probable `N` under `q` (the smallest one on ties).
    pub map_n: usize,
    /// `E_q[log p(N)] = −λ E_q[N] − log Z` under the truncated geometric prior (§3, §4).
    pub expected_log_prior: T,
}

/// PACT (§3, §6) for halting probabilities `h_1 … h_{L−1}` and time penalty `λ ≥ 0`.
///
/// ```
/// use pact_models::analysis::pact;
///
/// let p = pact(&[0.01, 0.5, 0.6, 0.7], 0.0)?;
/// assert_eq!(p.q.len(), 5);
/// assert_eq!((p.deterministic_n, p.map_n), (2, 2));
/// // With λ = 0 the prior is uniform: E_q[log p(N)] = −log 5.
/// assert!((p.expected_log_prior + 5f64.ln()).abs() < 1e-12);
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn pact<T: Float>(halting: &[T], penalty: T) -> Result<Pact<T>> {
    validate_halting(halting)?;
    validate_penalty(penalty)?;
    let q = stick_breaking(halting);
    let expected_n = mean(&q);
    Ok(Pact {
        map_n: argmax(&q),
        deterministic_n: first_at_least_half(halting),
        expected_log_prior: expected_log_prior_unchecked(expected_n, penalty, q.len()),
        expected_n,
        q,
    })
}

/// The halting distribution `q(N = n) = h_n Π_{l<n} (1 − h_l)`, `n = 1 … L` (§3).
///
/// ```
/// use pact_models::analysis::halting_distribution;
///
/// let q = halting_distribution(&[0.01f64, 0.5, 0.6, 0.7])?;
/// let golden = [0.01, 0.495, 0.297, 0.1386, 0.0594];
/// for (a, b) in q.iter().zip(golden) {
///     assert!((a - b).abs() < 1e-12);
/// }
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn halting_distribution<T: Float>(halting: &[T]) -> Result<Vec<T>> {
    validate_halting(halting)?;
    Ok(stick_breaking(halting))
}

/// The expected number of executed units `E_q[N] = Σ_n n q(N = n)` (§4).
///
/// ```
/// use pact_models::analysis::expected_n;
/// assert!((expected_n(&[0.01f64, 0.5, 0.6, 0.7])? - 2.7424).abs() < 1e-12);
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn expected_n<T: Float>(halting: &[T]) -> Result<T> {
    validate_halting(halting)?;
    Ok(mean(&stick_breaking(halting)))
}

/// The deterministic test-time halting step of §6: `N = min{ l : h_l ≥ 0.5 }`, or `L`.
///
/// ```
/// use pact_models::analysis::deterministic_n;
/// assert_eq!(deterministic_n(&[0.01, 0.5, 0.6, 0.7])?, 2);
/// assert_eq!(deterministic_n(&[0.1, 0.2])?, 3);
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn deterministic_n<T: Float>(halting: &[T]) -> Result<usize> {
    validate_halting(halting)?;
    Ok(first_at_least_half(halting))
}

/// The most probable halting step `argmax_n q(N = n)` (the smallest `n` on ties).
///
/// It can differ from [`deterministic_n`]: for `h = (0.4, 0.4)`, `q = (0.4, 0.24, 0.36)`, so
/// the MAP is 1 while the deterministic rule runs all 3 units.
///
/// ```
/// use pact_models::analysis::map_n;
/// assert_eq!(map_n(&[0.4, 0.4])?, 1);
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn map_n<T: Float>(halting: &[T]) -> Result<usize> {
    validate_halting(halting)?;
    Ok(argmax(&stick_breaking(halting)))
}

/// The 1-based index of the largest entry (the first one on ties).
fn argmax<T: Float>(q: &[T]) -> usize {
    let mut best = 0;
    for (i, &p) in q.iter().enumerate() {
        if p > q[best] {
            best = i;
        }
    }
    best + 1
}

fn first_at_least_half<T: Float>(halting: &[T]) -> usize {
    let half = T::from(0.5).unwrap_or_else(T::nan);
    halting
        .iter()
        .position(|&h| h >= half)
        .map_or(halting.len() + 1, |i| i + 1)
}
