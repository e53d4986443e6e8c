//! The adaptive block: a sequence of units with halting heads, run in one of the halting
//! modes of the literature on the same parameters.
//!
//! A block is described by two closures, so the same code serves a ResNet stage (units are
//! residual units, heads pool and classify the state) and a pondering recurrent cell (every
//! unit is the same cell with a first-step flag):
//!
//! - `unit(l, state) → state` runs unit `l` (0-based);
//! - `head(l, state) → logits [B]` gives the halting logit after unit `l` (`l < L − 1`).
//!
//! Modes ([`HaltingMode`]):
//! - `Plain`: every unit, no halting;
//! - `Act`: Graves' ACT (math §2), weights accumulated as the units run, so only the
//!   current state and the weighted sum are held;
//! - `PactRelaxed`: Concrete-relaxed stick-breaking weights at temperature `t` (§5), optionally
//!   straight-through; every unit runs (training);
//! - `PactDeterministic`: the test-time rule of §6: an example stops at the first unit with
//!   `h ≥ 0.5`; halted examples leave the batch, so later units run on fewer examples, and
//!   only the current state of each example is held;
//! - `PonderNet`: every unit runs; every state is returned with `log q(N | x)` (§10).
//!
//! [`run_block_chunked`] evaluates the plain, ACT and deterministic PACT modes with little
//! memory: per-example states, units over chunks of the running examples, residual updates
//! in place.
//!
//! [`run_spatial_block`] runs the spatial variants (SACT and spatial PACT, §8): the same
//! modes, with one halting decision per spatial position and halted positions frozen.

mod block;
mod chunked;
mod spatial;

pub use block::{run_block, weighted_sum, BlockOutput};
pub use chunked::{
    chunked_mode, run_block_chunked, BlockHalting, ChunkedBlock, ChunkedBlockOutput,
};
pub use spatial::{dilate3x3, run_spatial_block, upsample_nearest, SpatialBlockOutput};

use serde::{Deserialize, Serialize};

/// How an adaptive block decides how many units to run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum HaltingMode {
    /// Every unit runs; no halting heads are evaluated.
    Plain,
    /// Graves' ACT with threshold slack `eps`.
    Act {
        /// ε of math §2 (0.01 in the papers).
        eps: f64,
    },
    /// PACT training: Concrete-relaxed halting variables.
    PactRelaxed {
        /// Concrete temperature `t > 0`.
        temperature: f64,
        /// Hard one-hot weights forward, relaxed gradient backward.
        straight_through: bool,
    },
    /// PACT evaluation: halt at the first `h ≥ 0.5`, compacting the batch.
    PactDeterministic,
    /// PonderNet (math §10): every unit runs and every state is returned with
    /// `log q(N = n | x)`, so the caller can form `Σ_n q(n) · loss(y, ŷ_n) + β KL(q ‖ prior)`.
    PonderNet,
    /// PACT with exact samples: every unit runs, `N ~ q(N | x)` is drawn per example and the
    /// block outputs `s_N`, with `log q(N | x)` for the score-function (REINFORCE) estimator.
    PactSample,
}

impl HaltingMode {
    /// A short name for reports: `plain`, `act`, `pact-relaxed`, `pact-deterministic`.
    pub fn name(&self) -> &'static str {
        match self {
            HaltingMode::Plain => "plain",
            HaltingMode::Act { .. } => "act",
            HaltingMode::PactRelaxed { .. } => "pact-relaxed",
            HaltingMode::PactDeterministic => "pact-deterministic",
            HaltingMode::PonderNet => "ponder-net",
            HaltingMode::PactSample => "pact-sample",
        }
    }
}
