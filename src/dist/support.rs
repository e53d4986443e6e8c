//! The set of values a distribution puts its mass on.

use std::fmt;

/// The support of a distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// The real line (elementwise).
    Real,
    /// The positive reals `(0, ∞)` (elementwise).
    Positive,
    /// An interval whose ends are the law's parameters (elementwise).
    Interval,
    /// The open unit interval (relaxed Bernoulli values).
    UnitInterval,
    /// The open probability simplex (relaxed one-hot values).
    Simplex,
    /// `{0, 1}`.
    Boolean,
    /// The integers `low..=high`; `high = None` for no upper end.
    Integers {
        /// The smallest value.
        low: i64,
        /// The largest value, if any.
        high: Option<i64>,
    },
    /// One-hot vectors of length `k`.
    OneHot(usize),
    /// A single point (a deterministic value).
    Point,
}

impl Support {
    /// Whether the support is countable: Boolean, integers or one-hot vectors.
    pub fn is_discrete(&self) -> bool {
        matches!(
            self,
            Support::Boolean | Support::Integers { .. } | Support::OneHot(_)
        )
    }

    /// The number of values per batch element of a finite discrete support.
    pub fn size(&self) -> Option<usize> {
        match *self {
            Support::Boolean => Some(2),
            Support::Integers {
                low,
                high: Some(high),
            } if high >= low => usize::try_from(high - low + 1).ok(),
            Support::OneHot(k) => Some(k),
            _ => None,
        }
    }
}

impl fmt::Display for Support {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Support::Real => write!(f, "real"),
            Support::Positive => write!(f, "(0, ∞)"),
            Support::Interval => write!(f, "an interval set by the parameters"),
            Support::UnitInterval => write!(f, "(0, 1)"),
            Support::Simplex => write!(f, "simplex"),
            Support::Boolean => write!(f, "{{0, 1}}"),
            Support::Integers { low, high: Some(h) } => write!(f, "{{{low}, …, {h}}}"),
            Support::Integers { low, high: None } => write!(f, "{{{low}, {}, …}}", low + 1),
            Support::OneHot(k) => write!(f, "one-hot vectors of length {k}"),
            Support::Point => write!(f, "a point"),
        }
    }
}
