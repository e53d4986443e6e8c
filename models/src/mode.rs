//! The halting modes by name, and the handlers each one stands for.
//!
//! A mode is not a code path of the networks: the networks are models of the modelling
//! language ([`ResNet::model`], [`PonderingRnn::model`](crate::recurrent::PonderingRnn::model))
//! with one halting site per block, and a mode names the handlers the model runs under:
//!
//! | mode | handlers |
//! |---|---|
//! | `plain` | [`full_depth`]: every unit, no heads |
//! | `act` | [`relax`] by [`ActRelaxation`] (math §7): ACT's weights as the units run |
//! | `pact-deterministic` | [`decode`] with the threshold ½ (math §6): early exit, compaction |
//! | `pact-relaxed` | [`relax`] by the Concrete (or straight-through) relaxation |
//! | `pact-sample` | none: `N` drawn from the heads' posterior |
//! | `ponder-net` | parallel enumeration (sequences; math §10) |
//!
//! [`ResNet::run_in_mode`] evaluates an image classifier in a mode: the online modes (plain,
//! ACT, deterministic PACT) of a network with global halting heads run the low-memory
//! chunked model ([`ResNet::chunked_model`]); the others, and spatial networks, run
//! [`ResNet::model`]. [`run_in_mode`](crate::evaluate_sequences::run_in_mode) does the same
//! for the pondering RNNs.

use crate::halting::ActRelaxation;
use crate::resnet::{stage_site, upsample_nearest, ResNet};
use crate::{Error, Result};
use pact::nn::ParamStore;
use pact::ppl::{decode, full_depth, relax, run, Ctx, DecodeRule, Relaxation, Trace};
use pact::{Rng, Tensor};
use serde::{Deserialize, Serialize};

/// A halting mode: the name of a stack of handlers (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum HaltingMode {
    /// Every unit runs; no halting heads are evaluated ([`full_depth`]).
    Plain,
    /// Graves' ACT with threshold slack `eps` ([`ActRelaxation`]).
    Act {
        /// ε of math §2 (0.01 in the papers).
        eps: f64,
    },
    /// PACT with Concrete-relaxed halting variables.
    PactRelaxed {
        /// Concrete temperature `t > 0`.
        temperature: f64,
        /// Hard one-hot weights forward, relaxed gradient backward.
        straight_through: bool,
    },
    /// PACT's deterministic evaluation ([`decode`] with threshold ½): halt at the first
    /// `h ≥ 0.5`, compacting the batch.
    PactDeterministic,
    /// PonderNet (math §10): the halting sites enumerated in parallel.
    PonderNet,
    /// PACT with exact samples: `N ~ q(N | x)` per example.
    PactSample,
}

impl HaltingMode {
    /// A short name for reports: `plain`, `act`, `pact-relaxed`, `pact-deterministic`,
    /// `ponder-net`, `pact-sample`.
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

    /// Whether the mode runs its halting sites online (plain, ACT, deterministic PACT), so
    /// that a chunked model can run it.
    pub fn is_online(&self) -> bool {
        matches!(
            self,
            HaltingMode::Plain | HaltingMode::Act { .. } | HaltingMode::PactDeterministic
        )
    }

    /// Checks the mode's settings: ACT's `eps ∈ (0, 1)`, a positive finite temperature.
    pub fn check(&self) -> Result<()> {
        match *self {
            HaltingMode::Act { eps } if !(eps > 0.0 && eps < 1.0) => Err(Error::InvalidInput(
                format!("ACT's eps must be in (0, 1), got {eps}"),
            )),
            HaltingMode::PactRelaxed { temperature, .. }
                if !(temperature > 0.0 && temperature.is_finite()) =>
            {
                Err(Error::InvalidInput(format!(
                    "the temperature must be positive and finite, got {temperature}"
                )))
            }
            _ => Ok(()),
        }
    }

    /// Runs `model` under this mode's handlers with the parameters `params` (those the model
    /// reads with `ctx.param`; the shipped networks hold their own), parallel enumeration
    /// excepted: that needs the model's plate nesting, see
    /// [`run_in_mode`](crate::evaluate_sequences::run_in_mode).
    pub fn run<T>(
        &self,
        model: impl Fn(&mut Ctx) -> pact::Result<T>,
        params: &ParamStore,
        rng: &mut Rng,
    ) -> Result<(T, Trace)> {
        self.check()?;
        Ok(match *self {
            HaltingMode::Plain => run(&full_depth(model), params, rng)?,
            HaltingMode::Act { eps } => run(
                &relax(ActRelaxation::new(eps).into_relaxation(), model),
                params,
                rng,
            )?,
            HaltingMode::PactDeterministic => {
                run(&decode(DecodeRule::Threshold(0.5), model), params, rng)?
            }
            HaltingMode::PactRelaxed {
                temperature,
                straight_through,
            } => {
                let relaxation = match straight_through {
                    true => Relaxation::StraightThrough { temperature },
                    false => Relaxation::Concrete { temperature },
                };
                run(&relax(relaxation, model), params, rng)?
            }
            HaltingMode::PactSample => run(&model, params, rng)?,
            HaltingMode::PonderNet => {
                return Err(Error::InvalidInput(
                    "ponder-net runs the model enumerated in parallel; it is a training \
                     objective of the pondering RNNs, not an evaluation mode of this model"
                        .into(),
                ))
            }
        })
    }
}

/// The units `N` (1-based) of each of the `rows` rows of a halting site's one-hot value `e_N`
/// (any leading shape, the units last).
pub(crate) fn drawn_steps(value: &Tensor, rows: usize) -> Result<Vec<usize>> {
    let units = value.dims().last().copied().unwrap_or(1);
    let n = value.reshape([rows, units])?.argmax(1)?;
    Ok(n.iter().map(|n| n + 1).collect())
}

/// What one stage of a network did in a run: the units each row (image, or position of a
/// spatial network) ran, and the value of its halting site.
#[derive(Clone, Debug)]
pub struct StageRun {
    /// Units executed per row: `B` entries, or `B·H·W` for a spatial stage (row-major over
    /// image, y, x).
    pub steps: Vec<usize>,
    /// The stage's halting grid `(H, W)`: `(1, 1)` for a network with global heads.
    pub grid: (usize, usize),
    /// The value of the stage's halting site (`[B, L]`, or `[B, H, W, L]`): one-hot `e_N`,
    /// ACT's weights, relaxed weights; `None` for a stage without a site.
    pub value: Option<Tensor>,
}

impl StageRun {
    /// Rows per image, `H · W`.
    pub fn positions(&self) -> usize {
        self.grid.0 * self.grid.1
    }

    /// Mean units executed over the rows of each image (`B` values).
    pub fn mean_units(&self) -> Vec<f64> {
        let p = self.positions().max(1);
        self.steps
            .chunks(p)
            .map(|c| c.iter().sum::<usize>() as f64 / p as f64)
            .collect()
    }

    /// The most units any row of each image executed (`B` values): the depth it reached.
    pub fn max_units(&self) -> Vec<usize> {
        self.steps
            .chunks(self.positions().max(1))
            .map(|c| c.iter().copied().max().unwrap_or(0))
            .collect()
    }

    /// The ponder cost of every row: in ACT mode `N + R` (`R` the weight of the last step
    /// run, math §2; a stage of one unit, without a site, has `N = R = 1`), otherwise `N`.
    pub fn ponder_values(&self, mode: &HaltingMode) -> Result<Vec<f64>> {
        let n = self.steps.iter().map(|&n| n as f64);
        match (mode, &self.value) {
            (HaltingMode::Act { .. }, Some(value)) => {
                let units = value.dims().last().copied().unwrap_or(1);
                let w = value.try_to_f64_vec()?;
                Ok(n.zip(&self.steps)
                    .enumerate()
                    .map(|(row, (n, &steps))| n + w[row * units + steps - 1])
                    .collect())
            }
            (HaltingMode::Act { .. }, None) => Ok(n.map(|n| n + 1.0).collect()),
            _ => Ok(n.collect()),
        }
    }
}

/// What [`ResNet::run_in_mode`] computed.
#[derive(Clone, Debug)]
pub struct ImageRun {
    /// Class logits `[B, K]`.
    pub logits: Tensor,
    /// One entry per stage.
    pub stages: Vec<StageRun>,
}

impl ImageRun {
    /// The number of images.
    pub fn batch(&self) -> usize {
        self.logits.dims().first().copied().unwrap_or(0)
    }

    /// FLOPs of every image (math §9; per position for a spatial network) on images of
    /// `height × width`.
    pub fn flops_per_example(&self, net: &ResNet, height: usize, width: usize) -> Result<Vec<u64>> {
        (0..self.batch())
            .map(|b| {
                let per_stage: Vec<&[usize]> = self
                    .stages
                    .iter()
                    .map(|stage| {
                        let p = stage.positions();
                        stage.steps.get(b * p..(b + 1) * p).unwrap_or(&[])
                    })
                    .collect();
                if net.is_spatial() {
                    net.spatial_flops(height, width, &per_stage)
                } else {
                    let units: Vec<usize> = per_stage
                        .iter()
                        .map(|s| s.first().copied().unwrap_or(0))
                        .collect();
                    Ok(net.flops(height, width, &units))
                }
            })
            .collect()
    }

    /// The ponder-cost map of every image at the input resolution `height × width`: each
    /// stage's ponder cost per position ([`StageRun::ponder_values`] in `mode`) upsampled by
    /// nearest neighbour, summed over stages. One row-major `height · width` map per image.
    pub fn ponder_maps(
        &self,
        mode: &HaltingMode,
        height: usize,
        width: usize,
    ) -> Result<Vec<Vec<f64>>> {
        let mut maps = vec![vec![0.0; height * width]; self.batch()];
        for stage in &self.stages {
            let values = stage.ponder_values(mode)?;
            let p = stage.positions();
            let (h, w) = stage.grid;
            for (b, map) in maps.iter_mut().enumerate() {
                let Some(cells) = values.get(b * p..(b + 1) * p) else {
                    continue;
                };
                for (m, u) in map
                    .iter_mut()
                    .zip(upsample_nearest(cells, h, w, height, width))
                {
                    *m += u;
                }
            }
        }
        Ok(maps)
    }
}

impl ResNet {
    /// Evaluates the network on the images `x` (`[B, C, H, W]`; batch norm with running
    /// statistics, no graph: call it in [`pact::no_grad`]) under the handlers of `mode` (see
    /// the module docs). The online modes of a network with global halting heads (and a plain
    /// network in plain mode) run [`ResNet::chunked_model`] over chunks of `chunk` images,
    /// holding little activation memory; the others run [`ResNet::model`].
    ///
    /// ```
    /// use pact::nn::ParamStore;
    /// use pact::{DType, Device, Rng, Tensor};
    /// use pact_models::mode::HaltingMode;
    /// use pact_models::resnet::{ResNet, ResNetConfig};
    /// let config = ResNetConfig {
    ///     units_per_stage: 3,
    ///     widths: [2, 3, 4],
    ///     in_channels: 1,
    ///     num_classes: 3,
    ///     halting_bias: Some(0.0),
    /// };
    /// let net = ResNet::new(&ParamStore::new(DType::F32, Device::Cpu), config, &mut Rng::seed(0))?;
    /// let x = Tensor::randn([5, 1, 8, 8], DType::F32, Device::Cpu, &mut Rng::seed(1))?;
    /// let mode = HaltingMode::PactDeterministic;
    /// let out = pact::no_grad(|| net.run_in_mode(&x, &mode, 2, &mut Rng::seed(2)))?;
    /// assert_eq!(out.logits.dims(), [5, 3]);
    /// assert!(out.stages.iter().all(|s| s.steps.iter().all(|n| (1..=3).contains(n))));
    /// # Ok::<(), pact_models::Error>(())
    /// ```
    pub fn run_in_mode(
        &self,
        x: &Tensor,
        mode: &HaltingMode,
        chunk: usize,
        rng: &mut Rng,
    ) -> Result<ImageRun> {
        if !matches!(mode, HaltingMode::Plain) && self.config().halting_bias.is_none() {
            return Err(Error::InvalidInput(format!(
                "halting mode {} needs a network with halting heads",
                mode.name()
            )));
        }
        // The network holds its parameters; the models read none through the context.
        let params = ParamStore::new(x.dtype(), x.device());
        let (out, trace) = if mode.is_online() && !self.is_spatial() {
            mode.run(self.chunked_model(x, None, chunk)?, &params, rng)?
        } else {
            mode.run(self.model(x, None, 0.0, false)?, &params, rng)?
        };
        // A network with global heads halts per image: one row per image in every stage.
        let grids = match self.is_spatial() {
            true => self.stage_grids(x)?,
            false => vec![(1, 1); out.steps.len()],
        };
        let mut stages = Vec::with_capacity(grids.len());
        for (k, (steps, grid)) in out.steps.into_iter().zip(grids).enumerate() {
            let value = trace.get(&stage_site(k)).map(|site| site.value().clone());
            let steps = match (mode, &value) {
                // A dense run computes every unit; the sampled mode reports the N it drew.
                (HaltingMode::PactSample, Some(v)) => drawn_steps(v, steps.len())?,
                _ => steps,
            };
            stages.push(StageRun { steps, grid, value });
        }
        Ok(ImageRun {
            logits: out.logits,
            stages,
        })
    }
}
