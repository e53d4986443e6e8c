//! The adaptive block as the networks ran it before they became models of the modelling
//! language: one function per halting mode over closures for the units and heads. The tests
//! keep it as an independent reference that the models, under each mode's handlers, must
//! reproduce; it is not part of the library.

#![allow(dead_code, unused_imports)]

pub mod block;
pub mod spatial;

pub use block::{run_block, weighted_sum, BlockOutput};
pub use pact_models::mode::HaltingMode;
pub use spatial::{run_spatial_block, SpatialBlockOutput};

use pact::{Rng, Tensor};
use pact_models::recurrent::PonderingRnn;
use pact_models::resnet::ResNet;
use pact_models::Result;

/// Logits and per-stage halting information of one reference forward pass.
#[derive(Clone, Debug)]
pub struct NetOutput {
    /// Class logits `[B, K]`.
    pub logits: Tensor,
    /// One entry per stage.
    pub blocks: Vec<BlockOutput>,
}

/// Logits and per-stage spatial halting information of one reference forward pass.
#[derive(Clone, Debug)]
pub struct SpatialNetOutput {
    /// Class logits `[B, K]`.
    pub logits: Tensor,
    /// One entry per stage.
    pub blocks: Vec<SpatialBlockOutput>,
}

impl SpatialNetOutput {
    /// FLOPs of every example (math §9, per position), for an input of `height × width`.
    pub fn flops_per_example(&self, net: &ResNet, height: usize, width: usize) -> Result<Vec<u64>> {
        let batch = self.logits.dims()[0];
        (0..batch)
            .map(|b| {
                let per_stage: Vec<&[usize]> = self
                    .blocks
                    .iter()
                    .map(|block| {
                        let p = block.positions();
                        block.units.get(b * p..(b + 1) * p).unwrap_or(&[])
                    })
                    .collect();
                net.spatial_flops(height, width, &per_stage)
            })
            .collect()
    }

    /// The non-spatial view of every block.
    pub fn into_net_output(self) -> NetOutput {
        NetOutput {
            logits: self.logits,
            blocks: self
                .blocks
                .into_iter()
                .map(SpatialBlockOutput::into_block_output)
                .collect(),
        }
    }
}

/// The ResNet with every stage run as a reference block in `mode` (a spatial network as
/// spatial blocks, reported per position).
pub fn forward_adaptive(
    net: &ResNet,
    x: &Tensor,
    mode: &HaltingMode,
    training: bool,
    rng: &mut Rng,
) -> Result<NetOutput> {
    if net.is_spatial() {
        return Ok(forward_spatial(net, x, mode, training, rng)?.into_net_output());
    }
    let mut h = net.stem(x)?;
    let mut blocks = Vec::new();
    for stage in net.stages() {
        let out = run_block(
            stage.units.len(),
            &h,
            |l, s, _| stage.units[l].forward(s, training),
            |l, s| stage.heads[l].logit(s, training),
            mode,
            rng,
        )?;
        h = out.output.clone();
        blocks.push(out);
    }
    Ok(NetOutput {
        logits: net.head(&h, training)?,
        blocks,
    })
}

/// A spatial ResNet with every stage run as a reference spatial block in `mode`.
pub fn forward_spatial(
    net: &ResNet,
    x: &Tensor,
    mode: &HaltingMode,
    training: bool,
    rng: &mut Rng,
) -> Result<SpatialNetOutput> {
    let mut h = net.stem(x)?;
    let mut blocks = Vec::new();
    for (s, stage) in net.stages().iter().enumerate() {
        let heads = net.spatial_heads(s);
        let out = run_spatial_block(
            stage.units.len(),
            &h,
            |l, st, mask| stage.units[l].forward_masked(st, mask, training),
            |l, st| heads[l].logits(st),
            mode,
            rng,
        )?;
        h = out.output.clone();
        blocks.push(out);
    }
    Ok(SpatialNetOutput {
        logits: net.head(&h, training)?,
        blocks,
    })
}

/// Outputs of a reference run of a pondering RNN over a sequence.
pub struct PonderingOutput {
    /// Output logits per step, `[B, T, outputs]`.
    pub logits: Tensor,
    /// One block per input step.
    pub steps: Vec<BlockOutput>,
}

/// The pondering RNN over `inputs` (`[B, T, inputs]`), every input step's pondering run as a
/// reference block in `mode`.
pub fn forward_pondering(
    net: &PonderingRnn,
    inputs: &Tensor,
    mode: &HaltingMode,
    rng: &mut Rng,
) -> Result<PonderingOutput> {
    let d = inputs.dims();
    let (b, t) = (d[0], d[1]);
    let (dt, dev) = (inputs.dtype(), inputs.device());
    let mut state = Tensor::zeros([b, net.state_width()], dt, dev);
    let first = Tensor::ones([b, 1], dt, dev);
    let rest = Tensor::zeros([b, 1], dt, dev);
    let mut steps = Vec::with_capacity(t);
    let mut logits = Vec::with_capacity(t);
    for step in 0..t {
        let x = inputs.narrow(1, step, 1)?.squeeze(1)?;
        let with_first = Tensor::concat(&[x.clone(), first.clone()], 1)?;
        let with_rest = Tensor::concat(&[x, rest.clone()], 1)?;
        let block = run_block(
            net.config().max_ponder,
            &state,
            |n, s, rows| {
                let x = if n == 0 { &with_first } else { &with_rest };
                // Deterministic mode compacts the batch: take the surviving rows.
                let x = if rows.len() == b {
                    x.clone()
                } else {
                    x.index_select(0, rows)?
                };
                net.cell_step(&x, s).map_err(to_pact)
            },
            |_, s| net.halting_logits(s).map_err(to_pact),
            mode,
            rng,
        )?;
        state = block.output.clone();
        logits.push(net.readout(&state)?);
        steps.push(block);
    }
    Ok(PonderingOutput {
        logits: Tensor::stack(&logits, 1)?,
        steps,
    })
}

fn to_pact(e: pact_models::Error) -> pact::Error {
    pact::Error::invalid("reference", e.to_string())
}
