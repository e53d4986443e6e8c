//! Learning-rate schedules.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// The learning rate as a function of the step (counted from 0).
///
/// ```
/// use pact::nn::LrSchedule;
/// let s = LrSchedule::Piecewise { boundaries: vec![100, 200], values: vec![0.1, 0.01, 0.001] };
/// assert_eq!(s.at(150), 0.01);
/// let c = LrSchedule::Cosine { base: 1.0, min: 0.0, total_steps: 10 };
/// assert!((c.at(5) - 0.5).abs() < 1e-12);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LrSchedule {
    /// Always `value`.
    Constant {
        /// The learning rate.
        value: f64,
    },
    /// `values[i]` from step `boundaries[i-1]` (inclusive) to `boundaries[i]` (exclusive);
    /// `values` has one more entry than `boundaries`.
    Piecewise {
        /// Steps at which the rate changes, increasing.
        boundaries: Vec<u64>,
        /// The rates, one per interval.
        values: Vec<f64>,
    },
    /// Cosine decay from `base` to `min` over `total_steps`, then `min`.
    Cosine {
        /// Rate at step 0.
        base: f64,
        /// Final rate.
        min: f64,
        /// Length of the decay.
        total_steps: u64,
    },
}

impl LrSchedule {
    /// Checks the schedule's values; the error names the problem.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::invalid("LrSchedule", m));
        match self {
            LrSchedule::Constant { value } if !(*value > 0.0 && value.is_finite()) => {
                bad(format!("learning rate {value} must be positive and finite"))
            }
            LrSchedule::Piecewise { boundaries, values } => {
                if values.len() != boundaries.len() + 1 {
                    return bad(format!(
                        "{} values for {} boundaries (need one more value than boundaries)",
                        values.len(),
                        boundaries.len()
                    ));
                }
                if boundaries.windows(2).any(|w| w[0] >= w[1]) {
                    return bad("boundaries must increase".into());
                }
                match values.iter().find(|v| !(**v > 0.0 && v.is_finite())) {
                    Some(v) => bad(format!("learning rate {v} must be positive and finite")),
                    None => Ok(()),
                }
            }
            LrSchedule::Cosine {
                base,
                min,
                total_steps,
            } => {
                let valid = *base > 0.0 && base.is_finite() && *min >= 0.0 && min <= base;
                if !valid || *total_steps == 0 {
                    bad(format!("cosine schedule needs 0 ≤ min ≤ base, base > 0 and total_steps > 0 (got base {base}, min {min}, total_steps {total_steps})"))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// The rate at `step`.
    pub fn at(&self, step: u64) -> f64 {
        match self {
            LrSchedule::Constant { value } => *value,
            LrSchedule::Piecewise { boundaries, values } => {
                let i = boundaries.iter().take_while(|&&b| step >= b).count();
                values.get(i).or(values.last()).copied().unwrap_or(0.0)
            }
            LrSchedule::Cosine {
                base,
                min,
                total_steps,
            } => {
                if step >= *total_steps {
                    *min
                } else {
                    let t = step as f64 / *total_steps as f64;
                    min + 0.5 * (base - min) * (1.0 + (std::f64::consts::PI * t).cos())
                }
            }
        }
    }
}
