//! Low-memory evaluation of a ResNet with global halting heads: the stem, every stage (as
//! [`run_block_chunked`]) and the classifier head run over chunks of the batch, with the
//! states held one tensor per example between them.

use super::{HaltingHead, ResNet, ResidualUnit, UnitNorms, LEAKY_SLOPE};
use crate::adaptive::{chunked_mode, run_block_chunked, BlockHalting, ChunkedBlock, HaltingMode};
use crate::{Error, Result};
use pact::Tensor;

/// Examples per chunk in evaluation: large enough that a chunk's convolutions keep every
/// worker thread busy with GEMM-sized work, small enough that a chunk's intermediates are a
/// small fraction of the batch's states.
pub const EVAL_CHUNK: usize = 16;

/// Logits and per-stage halting of [`ResNet::forward_eval_chunked`].
#[derive(Clone, Debug)]
pub struct ChunkedNetOutput {
    /// Class logits `[B, K]`.
    pub logits: Tensor,
    /// Units executed per example (and ACT's ponder cost), one entry per stage.
    pub blocks: Vec<BlockHalting>,
}

/// A stage as [`run_block_chunked`] runs it, with its batch norms prepared.
struct EvalStage<'a> {
    units: &'a [ResidualUnit],
    norms: Vec<UnitNorms>,
    heads: &'a [HaltingHead],
}

impl ChunkedBlock for EvalStage<'_> {
    fn units(&self) -> usize {
        self.units.len()
    }

    fn is_residual(&self, l: usize) -> bool {
        self.units[l].has_identity_shortcut()
    }

    fn apply(&self, l: usize, chunk: Tensor) -> pact::Result<Tensor> {
        self.units[l].forward_eval_chunk(chunk, &self.norms[l])
    }

    fn halting_logits(&self, l: usize, states: &[&Tensor]) -> pact::Result<Tensor> {
        let head = self.heads.get(l).ok_or_else(|| {
            pact::Error::invalid("halting_logits", format!("no halting head after unit {l}"))
        })?;
        let pooled = states
            .iter()
            .map(|s| s.global_avg_pool2d())
            .collect::<pact::Result<Vec<_>>>()?;
        head.logit_pooled(&Tensor::concat(&pooled, 0)?, false)
    }
}

/// The rows of `t` (`[c, ..]`) as `c` tensors `[1, ..]`.
fn split_rows(t: &Tensor) -> pact::Result<Vec<Tensor>> {
    (0..t.dims()[0]).map(|k| t.narrow(0, k, 1)).collect()
}

impl ResNet {
    /// Whether [`ResNet::forward_eval_chunked`] evaluates this network in `mode`: a network
    /// with global halting heads (or a plain one in plain mode) in the plain, ACT or
    /// deterministic PACT mode.
    pub fn supports_chunked_eval(&self, mode: &HaltingMode) -> bool {
        !self.is_spatial()
            && chunked_mode(mode)
            && (matches!(mode, HaltingMode::Plain) || self.config.halting_bias.is_some())
    }

    /// Evaluation (batch norm with running statistics) in `mode` with little activation
    /// memory, computing what [`ResNet::forward_adaptive`] computes in that mode (up to
    /// floating-point rounding) over chunks of at most `chunk` examples: at any time the
    /// per-example states of the batch (and, for ACT, the weighted sums of the running
    /// examples) plus one chunk's intermediates are held. Call it without a graph
    /// ([`pact::no_grad`]); see [`ResNet::supports_chunked_eval`] for the modes.
    pub fn forward_eval_chunked(
        &self,
        x: &Tensor,
        mode: &HaltingMode,
        chunk: usize,
    ) -> Result<ChunkedNetOutput> {
        if !self.supports_chunked_eval(mode) {
            return Err(Error::InvalidInput(format!(
                "chunked evaluation covers plain, act and pact-deterministic on a network \
                 with global halting heads, not {} on this network",
                mode.name()
            )));
        }
        if chunk == 0 || x.rank() != 4 || x.dims()[0] == 0 {
            return Err(Error::InvalidInput(format!(
                "chunked evaluation needs an NCHW batch of at least one example and chunks of \
                 at least one, got {} in chunks of {chunk}",
                x.shape()
            )));
        }
        let b = x.dims()[0];
        let mut states = Vec::with_capacity(b);
        for start in (0..b).step_by(chunk) {
            let len = chunk.min(b - start);
            let h = self.stem(&x.narrow(0, start, len)?)?;
            states.extend(split_rows(&h)?);
        }
        let mut blocks = Vec::with_capacity(self.stages.len());
        for stage in &self.stages {
            let eval = EvalStage {
                units: &stage.units,
                norms: stage
                    .units
                    .iter()
                    .map(ResidualUnit::eval_norms)
                    .collect::<pact::Result<_>>()?,
                heads: &stage.heads,
            };
            let out = run_block_chunked(&eval, states, mode, chunk)?;
            states = out.states;
            blocks.push(out.halting);
        }
        Ok(ChunkedNetOutput {
            logits: self.head_chunked(states, chunk)?,
            blocks,
        })
    }

    /// [`ResNet::head`] in evaluation mode over chunks of the per-example final states,
    /// freeing each chunk's states as it goes.
    fn head_chunked(&self, mut states: Vec<Tensor>, chunk: usize) -> Result<Tensor> {
        let (scale, shift) = self.final_bn.eval_scale_shift()?;
        let mut pooled = Vec::with_capacity(states.len().div_ceil(chunk));
        while !states.is_empty() {
            let rest = states.split_off(chunk.min(states.len()));
            let x = Tensor::concat(&states, 0)?;
            states = rest;
            let h = x.scale_shift_leaky_relu(&scale, &shift, LEAKY_SLOPE)?;
            pooled.push(h.global_avg_pool2d()?);
        }
        Ok(self.fc.forward(&Tensor::concat(&pooled, 0)?)?)
    }
}
