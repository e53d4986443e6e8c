//! Priors over the number of executed units (math.md §3, §4).
//!
//! The priors are described in the docs of the parent module (`analysis`, "Priors over N").

use super::stick::{count, expected_n_grad, mean, stick_breaking};
use super::validate::{validate_halting, validate_penalty, validate_phi, validate_units};
use crate::Result;
use num_traits::Float;

/// `log Z = log Σ_{m=1..L} e^{−λm}`, the normaliser of the truncated geometric prior (§3).
///
/// Computed as `−λ + log Σ_{k=0..L−1} e^{−λk}`, whose terms are at most 1 (no overflow).
///
/// ```
/// use pact_models::analysis::log_normaliser;
/// assert!((log_normaliser(0.0, 5)? - 5f64.ln()).abs() < 1e-12);
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn log_normaliser<T: Float>(penalty: T, units: usize) -> Result<T> {
    validate_penalty(penalty)?;
    validate_units(units)?;
    Ok(log_normaliser_unchecked(penalty, units))
}

/// The truncated geometric prior `p(N = n) = e^{−λn} / Z` for `n = 1 … L` (§3).
///
/// ```
/// use pact_models::analysis::geometric_prior;
///
/// let p = geometric_prior(1.0, 3)?;
/// assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
/// assert!((p[1] / p[0] - (-1f64).exp()).abs() < 1e-12);
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn geometric_prior<T: Float>(penalty: T, units: usize) -> Result<Vec<T>> {
    Ok(log_geometric_prior(penalty, units)?
        .into_iter()
        .map(Float::exp)
        .collect())
}

/// `log p(N = n) = −λn − log Z` for `n = 1 … L` (§3).
///
/// ```
/// use pact_models::analysis::log_geometric_prior;
/// let lp = log_geometric_prior(0.5f64, 4)?;
/// assert!((lp[3] - lp[2] + 0.5).abs() < 1e-12);
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn log_geometric_prior<T: Float>(penalty: T, units: usize) -> Result<Vec<T>> {
    validate_penalty(penalty)?;
    validate_units(units)?;
    let log_z = log_normaliser_unchecked(penalty, units);
    Ok((1..=units)
        .map(|n| -penalty * count::<T>(n) - log_z)
        .collect())
}

/// `E_q[log p(N)] = −λ E_q[N] − log Z` under the truncated geometric prior (§4).
///
/// ```
/// use pact_models::analysis::{expected_log_prior, log_geometric_prior, halting_distribution};
///
/// let h = [0.01, 0.5, 0.6, 0.7];
/// let direct: f64 = halting_distribution(&h)?
///     .iter()
///     .zip(log_geometric_prior(0.3, 5)?)
///     .map(|(q, lp)| q * lp)
///     .sum();
/// assert!((expected_log_prior(&h, 0.3)? - direct).abs() < 1e-12);
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn expected_log_prior<T: Float>(halting: &[T], penalty: T) -> Result<T> {
    validate_halting(halting)?;
    validate_penalty(penalty)?;
    let q = stick_breaking(halting);
    Ok(expected_log_prior_unchecked(mean(&q), penalty, q.len()))
}

/// `∂E_q[log p(N)]/∂h_k = −λ ∂E_q[N]/∂h_k` for `k = 1 … L−1`.
///
/// ```
/// use pact_models::analysis::expected_log_prior_grad;
/// assert_eq!(expected_log_prior_grad(&[0.3], 0.5)?, vec![0.5]);
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn expected_log_prior_grad<T: Float>(halting: &[T], penalty: T) -> Result<Vec<T>> {
    validate_penalty(penalty)?;
    Ok(expected_n_grad(halting)?
        .into_iter()
        .map(|g| -penalty * g)
        .collect())
}

/// The independent-Bernoulli prior on `N`: `φ (1 − φ)^{n−1}` for `n < L`, `(1 − φ)^{L−1}` at
/// `n = L` (see [Priors over N](super#priors-over-n) for how it differs from
/// [`geometric_prior`]).
///
/// ```
/// use pact_models::analysis::bernoulli_prior;
///
/// let p = bernoulli_prior(0.5, 3)?;
/// assert_eq!(p, vec![0.5, 0.25, 0.25]);
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn bernoulli_prior<T: Float>(phi: T, units: usize) -> Result<Vec<T>> {
    Ok(log_bernoulli_prior(phi, units)?
        .into_iter()
        .map(Float::exp)
        .collect())
}

/// `log p(N = n)` under the independent-Bernoulli prior, `n = 1 … L`.
///
/// ```
/// use pact_models::analysis::log_bernoulli_prior;
/// let lp = log_bernoulli_prior(0.2, 3)?;
/// assert!((lp[0] - 0.2f64.ln()).abs() < 1e-12);
/// assert!((lp[2] - 2.0 * 0.8f64.ln()).abs() < 1e-12);
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn log_bernoulli_prior<T: Float>(phi: T, units: usize) -> Result<Vec<T>> {
    validate_phi(phi)?;
    validate_units(units)?;
    let (log_phi, log_stay) = (phi.ln(), (T::one() - phi).ln());
    Ok((1..=units)
        .map(|n| {
            let stay = count::<T>(n - 1) * log_stay;
            if n < units {
                log_phi + stay
            } else {
                stay
            }
        })
        .collect())
}

/// `E_q[log p(N)] = (E_q[N] − 1) log(1 − φ) + (1 − q(N = L)) log φ` under the
/// independent-Bernoulli prior.
///
/// ```
/// use pact_models::analysis::{expected_log_bernoulli_prior, halting_distribution, log_bernoulli_prior};
///
/// let h = [0.01, 0.5, 0.6, 0.7];
/// let direct: f64 = halting_distribution(&h)?
///     .iter()
///     .zip(log_bernoulli_prior(0.3, 5)?)
///     .map(|(q, lp)| q * lp)
///     .sum();
/// assert!((expected_log_bernoulli_prior(&h, 0.3)? - direct).abs() < 1e-12);
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn expected_log_bernoulli_prior<T: Float>(halting: &[T], phi: T) -> Result<T> {
    validate_halting(halting)?;
    validate_phi(phi)?;
    let q = stick_breaking(halting);
    let last = q[q.len() - 1];
    Ok((mean(&q) - T::one()) * (T::one() - phi).ln() + (T::one() - last) * phi.ln())
}

/// The `φ = 1 − e^{−λ}` whose Bernoulli prior has the same slope `−λ` in `log p(N)` as the
/// truncated geometric prior with penalty `λ` (for `n < L`; they differ at `N = L`).
///
/// ```
/// use pact_models::analysis::bernoulli_phi_for_penalty;
/// assert!((bernoulli_phi_for_penalty(2f64.ln())? - 0.5).abs() < 1e-12);
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn bernoulli_phi_for_penalty<T: Float>(penalty: T) -> Result<T> {
    validate_penalty(penalty)?;
    Ok(-(-penalty).exp_m1())
}

pub(crate) fn log_normaliser_unchecked<T: Float>(penalty: T, units: usize) -> T {
    let sum = (0..units).fold(T::zero(), |acc, k| acc + (-penalty * count::<T>(k)).exp());
    -penalty + sum.ln()
}

pub(crate) fn expected_log_prior_unchecked<T: Float>(expected_n: T, penalty: T, units: usize) -> T {
    -penalty * expected_n - log_normaliser_unchecked(penalty, units)
}
