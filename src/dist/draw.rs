//! A sampled value, with the raw value of a relaxation and the (hard, soft) pair of a
//! straight-through estimator.

use super::Distribution;
use crate::{Result, Tensor};

/// One draw from a distribution.
///
/// The value the model sees is [`Draw::value`]. Relaxed draws also carry their raw value
/// (pre-sigmoid logit or log-simplex point), which [`Distribution::log_prob_draw`] uses for a
/// stable density; straight-through draws carry the hard value (forward) and the soft value
/// (backward) as well.
#[derive(Clone, Debug)]
pub enum Draw {
    /// A value of an exact law (or a value fixed by conditioning, replay or decoding).
    Exact(Tensor),
    /// A Concrete draw.
    Relaxed {
        /// `σ(raw)` (binary) or `exp(raw)` (categorical).
        value: Tensor,
        /// Pre-sigmoid logit `y` (binary) or log-simplex point `x` (categorical).
        raw: Tensor,
    },
    /// A straight-through draw: `value` equals `hard` forward and has the gradient of `soft`.
    StraightThrough {
        /// `soft + (hard − soft).detach()`.
        value: Tensor,
        /// The rounded value: `[raw > 0]` or the one-hot argmax.
        hard: Tensor,
        /// The relaxed value.
        soft: Tensor,
        /// The raw value of the relaxed draw.
        raw: Tensor,
    },
}

impl Draw {
    /// The value the model sees.
    pub fn value(&self) -> &Tensor {
        match self {
            Draw::Exact(v)
            | Draw::Relaxed { value: v, .. }
            | Draw::StraightThrough { value: v, .. } => v,
        }
    }

    /// The raw relaxed value, if the draw is relaxed.
    pub fn raw(&self) -> Option<&Tensor> {
        match self {
            Draw::Exact(_) => None,
            Draw::Relaxed { raw, .. } | Draw::StraightThrough { raw, .. } => Some(raw),
        }
    }

    /// The hard value: the value itself for exact draws, the rounding for straight-through
    /// draws; `None` for Concrete draws.
    pub fn hard(&self) -> Option<&Tensor> {
        match self {
            Draw::Exact(v) => Some(v),
            Draw::Relaxed { .. } => None,
            Draw::StraightThrough { hard, .. } => Some(hard),
        }
    }

    /// The soft (relaxed) value, if any.
    pub fn soft(&self) -> Option<&Tensor> {
        match self {
            Draw::Exact(_) => None,
            Draw::Relaxed { value, .. } => Some(value),
            Draw::StraightThrough { soft, .. } => Some(soft),
        }
    }

    /// Log-density of this draw under `dist` (see [`Distribution::log_prob_draw`]).
    pub fn log_prob(&self, dist: &dyn Distribution) -> Result<Tensor> {
        dist.log_prob_draw(self)
    }

    /// The same draw with every tensor cut from the graph.
    pub fn detach(&self) -> Draw {
        match self {
            Draw::Exact(v) => Draw::Exact(v.detach()),
            Draw::Relaxed { value, raw } => Draw::Relaxed {
                value: value.detach(),
                raw: raw.detach(),
            },
            Draw::StraightThrough {
                value,
                hard,
                soft,
                raw,
            } => Draw::StraightThrough {
                value: value.detach(),
                hard: hard.detach(),
                soft: soft.detach(),
                raw: raw.detach(),
            },
        }
    }
}
