//! Temperature schedules for the relaxed estimators.

use crate::{Error, Result};

/// The temperature of the Concrete and straight-through relaxations as a function of the
/// training step (counted from 0).
///
/// ```
/// use pact_inference::objectives::Temperature;
/// let t = Temperature::ExponentialDecay { initial: 1.0, rate: 0.5, floor: 0.3 };
/// assert_eq!(t.at(0), 1.0);
/// assert_eq!(t.at(1), 0.5);
/// assert_eq!(t.at(10), 0.3);
/// assert_eq!(Temperature::Constant(0.7).at(99), 0.7);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Temperature {
    /// The same temperature at every step.
    Constant(f64),
    /// `max(initial · rate^step, floor)`.
    ExponentialDecay {
        /// The temperature at step 0.
        initial: f64,
        /// The factor per step, in `(0, 1]`.
        rate: f64,
        /// The lowest temperature.
        floor: f64,
    },
}

impl Temperature {
    /// The temperature at `step`.
    pub fn at(&self, step: u64) -> f64 {
        match *self {
            Temperature::Constant(t) => t,
            Temperature::ExponentialDecay {
                initial,
                rate,
                floor,
            } => {
                let exponent = i32::try_from(step).unwrap_or(i32::MAX);
                (initial * rate.powi(exponent)).max(floor)
            }
        }
    }

    /// Checks that every temperature is finite and positive and the rate lies in `(0, 1]`.
    ///
    /// ```
    /// use pact_inference::objectives::Temperature;
    /// assert!(Temperature::Constant(0.0).validate().is_err());
    /// assert!(Temperature::Constant(0.5).validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<()> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::InvalidConfig(format!(
                    "temperature {name} must be finite and positive, got {v}"
                )))
            }
        };
        match *self {
            Temperature::Constant(t) => positive("", t),
            Temperature::ExponentialDecay {
                initial,
                rate,
                floor,
            } => {
                positive("initial", initial)?;
                positive("floor", floor)?;
                if !(rate > 0.0 && rate <= 1.0) {
                    return Err(Error::InvalidConfig(format!(
                        "temperature decay rate must lie in (0, 1], got {rate}"
                    )));
                }
                Ok(())
            }
        }
    }
}

impl Default for Temperature {
    fn default() -> Self {
        Temperature::Constant(0.5)
    }
}
