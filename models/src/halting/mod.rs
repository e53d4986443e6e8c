//! Halting arithmetic on batches: from the halting logits of a block's units to ACT's
//! weights and ponder cost (math §2), PACT's stick-breaking posterior `q(N | x)` (§3),
//! its Concrete relaxation (§5) and the deterministic rule (§6).
//!
//! Every function takes the logits `a` of units `1..L−1` as a `[B, L−1]` tensor (the last unit
//! always halts; [`with_last_unit`], [`stick_breaking_weights`], [`log_stick_breaking`] and
//! [`deterministic_n`] also take more leading batch axes) and works in the logit domain where that is the stable choice: `log h =
//! log σ(a)` and `log(1 − h) = log σ(−a)` are never recomputed from a rounded `h`.
//!
//! The same halting variables as a site of the modelling language ([`pact::ppl`]):
//! [`HaltingLaw`] is the law of a block's halting unit `N` (one-hot over `1..=L`) — the
//! amortised posterior from the halting heads, the time-penalty prior, or independent
//! Bernoulli halting variables — with the Concrete relaxation [`RelaxedHalting`];
//! [`ActRelaxation`] is ACT as one more relaxation of that model (§7); [`deterministic_rule`]
//! decodes it by the test-time rule of §6.

mod act;
mod act_relaxation;
mod decode;
mod law;
mod stick_breaking;

pub use act::{act_from_probs, act_halting, act_halts, ActHalting, ACT_EPSILON};
pub use act_relaxation::{ActPonderPrior, ActRelaxation, ActRule, ActWeights};
pub use decode::deterministic_rule;
pub use law::{time_penalty_site, HaltingLaw, HaltingRole, RelaxedHalting};
pub use stick_breaking::{
    concrete_weights, deterministic_n, expected_n, halts_deterministically,
    kl_to_truncated_geometric, log_stick_breaking, stick_breaking, stick_breaking_weights,
};

use pact::{Result, Tensor};

/// Appends the always-halting last unit: `[B, L−1]` halting probabilities → `[B, L]` (any
/// leading batch axes: the units are the last axis).
pub fn with_last_unit(h: &Tensor) -> Result<Tensor> {
    let axis = units_axis(h)?;
    Tensor::concat(&[h.clone(), unit_column(h, 1.0)], axis)
}

/// The last axis, the one that runs over units; an error for a scalar.
fn units_axis(t: &Tensor) -> Result<usize> {
    t.rank()
        .checked_sub(1)
        .ok_or_else(|| pact::Error::invalid("halting", "halting values need an axis of units"))
}

/// A column of `value` shaped like `t` with one unit: `[.., 1]`.
fn unit_column(t: &Tensor, value: f64) -> Tensor {
    let mut dims = t.dims().to_vec();
    if let Some(last) = dims.last_mut() {
        *last = 1;
    }
    Tensor::full(value, dims, t.dtype(), t.device())
}
