//! Input checks shared by the analysis functions.

use crate::{Error, Result};
use num_traits::Float;

/// Formats a value of any float type for an error message.
pub(crate) fn show<T: Float>(x: T) -> String {
    match x.to_f64() {
        Some(v) => format!("{v}"),
        None => "?".to_string(),
    }
}

/// Checks halting probabilities `h_1 … h_{L−1}`: at least one value, each in `[0, 1]`.
///
/// ```
/// use pact_models::analysis::validate_halting;
/// assert!(validate_halting(&[0.2, 1.0]).is_ok());
/// let err = validate_halting(&[0.2, 1.5]).unwrap_err();
/// assert!(err.to_string().contains("h_2 = 1.5"));
/// ```
pub fn validate_halting<T: Float>(halting: &[T]) -> Result<()> {
    if halting.is_empty() {
        return Err(Error::InvalidInput(
            "no halting probabilities given: need h_1 … h_{L-1} for at least one unit before the last"
                .into(),
        ));
    }
    for (i, &h) in halting.iter().enumerate() {
        if h.is_nan() {
            return Err(Error::InvalidInput(format!(
                "halting probability h_{} is NaN",
                i + 1
            )));
        }
        if h < T::zero() || h > T::one() {
            return Err(Error::InvalidInput(format!(
                "halting probability h_{} = {} is outside [0, 1]",
                i + 1,
                show(h)
            )));
        }
    }
    Ok(())
}

/// Checks ACT's threshold slack: `ε ∈ (0, 1)`.
///
/// ```
/// use pact_models::analysis::validate_eps;
/// assert!(validate_eps(0.01).is_ok());
/// assert!(validate_eps(1.0).is_err());
/// ```
pub fn validate_eps<T: Float>(eps: T) -> Result<()> {
    if eps.is_nan() || eps <= T::zero() || eps >= T::one() {
        return Err(Error::InvalidInput(format!(
            "eps = {} is outside (0, 1)",
            show(eps)
        )));
    }
    Ok(())
}

/// Checks a time penalty: `λ ≥ 0` and finite.
///
/// ```
/// use pact_models::analysis::validate_penalty;
/// assert!(validate_penalty(0.0).is_ok());
/// assert!(validate_penalty(-0.1).is_err());
/// ```
pub fn validate_penalty<T: Float>(penalty: T) -> Result<()> {
    if penalty.is_nan() || penalty.is_infinite() {
        return Err(Error::InvalidInput(format!(
            "penalty = {} is not a finite number",
            show(penalty)
        )));
    }
    if penalty < T::zero() {
        return Err(Error::InvalidInput(format!(
            "penalty = {} is negative; the time penalty must be >= 0",
            show(penalty)
        )));
    }
    Ok(())
}

/// Checks the halting probability `φ` of the independent-Bernoulli prior: `φ ∈ (0, 1)`.
///
/// ```
/// use pact_models::analysis::validate_phi;
/// assert!(validate_phi(0.5).is_ok());
/// assert!(validate_phi(0.0).is_err());
/// ```
pub fn validate_phi<T: Float>(phi: T) -> Result<()> {
    if phi.is_nan() || phi <= T::zero() || phi >= T::one() {
        return Err(Error::InvalidInput(format!(
            "phi = {} is outside (0, 1)",
            show(phi)
        )));
    }
    Ok(())
}

/// Checks a number of units `L ≥ 1`.
pub(crate) fn validate_units(units: usize) -> Result<()> {
    if units == 0 {
        return Err(Error::InvalidInput(
            "number of units L = 0: a block needs at least one unit".into(),
        ));
    }
    Ok(())
}
