//! Low-memory evaluation of a ResNet with global halting heads, as a model of the modelling
//! language: the stem, every stage (a chunked halting site,
//! [`Ctx::halting_chunked`](pact::ppl::Ctx::halting_chunked)) and the classifier head run
//! over chunks of the batch, with the states held one tensor per image between them.

use super::model::{observe_labels, stage_site, ModelOutput, BATCH_PLATE};
use super::{HaltingHead, ResNet, ResidualUnit, UnitNorms, LEAKY_SLOPE};
use crate::{Error, Result};
use pact::ppl::{map_side_by_side, run_chunked, ChunkedSteps, Ctx};
use pact::Tensor;

/// Examples per chunk in evaluation: large enough that a chunk's convolutions are long runs
/// of kernel work, small enough that a chunk's intermediates (one chunk per worker thread
/// runs at a time on the CPU) are a small fraction of the batch's states.
pub const EVAL_CHUNK: usize = 16;

/// A stage as a chunked halting site runs it, with its batch norms prepared.
struct EvalStage<'a> {
    units: &'a [ResidualUnit],
    norms: Vec<UnitNorms>,
    heads: &'a [HaltingHead],
}

impl ChunkedSteps for EvalStage<'_> {
    fn is_residual(&self, l: usize) -> bool {
        self.units[l].has_identity_shortcut()
    }

    fn apply(&self, l: usize, chunk: Tensor) -> pact::Result<Tensor> {
        self.units[l].forward_eval_chunk(chunk, &self.norms[l])
    }

    fn apply_residual(&self, l: usize, chunk: &mut Tensor) -> pact::Result<()> {
        self.units[l].add_eval_branch(chunk, &self.norms[l])
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
    /// The network on the images `x` as a model for evaluation with little activation
    /// memory: [`ResNet::model`] in evaluation mode (batch norm with running statistics),
    /// with the same sites (`stage{k}`, the labels `y` in the plate `batch`), computing what
    /// it computes up to floating-point rounding, over chunks of at most `chunk` images. At
    /// any time the per-image states of the batch (and, under ACT, the weighted sums of the
    /// running images) plus one chunk's intermediates per worker thread are held (on the
    /// CPU the chunks run side by side, one per thread, with the same results on any number
    /// of threads). Its halting sites run online
    /// only (`full_depth`, `decode`, ACT's relaxation; see
    /// [`Ctx::halting_chunked`](pact::ppl::Ctx::halting_chunked)); run it without a graph
    /// ([`pact::no_grad`]). The prior of each site (the time penalty, here with `λ = 0`) only
    /// scores the value recorded; no decision reads it. Spatial networks have no chunked
    /// model.
    ///
    /// ```
    /// use pact::nn::ParamStore;
    /// use pact::ppl::{decode, run, DecodeRule};
    /// use pact::{DType, Device, Rng, Tensor};
    /// use pact_models::resnet::{ResNet, ResNetConfig};
    /// let config = ResNetConfig {
    ///     units_per_stage: 3,
    ///     widths: [2, 3, 4],
    ///     in_channels: 1,
    ///     num_classes: 3,
    ///     halting_bias: Some(0.0),
    /// };
    /// let store = ParamStore::new(DType::F32, Device::Cpu);
    /// let net = ResNet::new(&store, config, &mut Rng::seed(0))?;
    /// let x = Tensor::randn([5, 1, 8, 8], DType::F32, Device::Cpu, &mut Rng::seed(1))?;
    /// let chunked = decode(DecodeRule::Threshold(0.5), net.chunked_model(&x, None, 2)?);
    /// let dense = decode(DecodeRule::Threshold(0.5), net.model(&x, None, 0.0, false)?);
    /// let (a, _) = pact::no_grad(|| run(&chunked, &store, &mut Rng::seed(2)))?;
    /// let (b, _) = pact::no_grad(|| run(&dense, &store, &mut Rng::seed(2)))?;
    /// assert_eq!(a.steps, b.steps);
    /// let (a, b) = (a.logits.to_f64_vec(), b.logits.to_f64_vec());
    /// assert!(a.iter().zip(&b).all(|(u, v)| (u - v).abs() < 1e-4));
    /// # Ok::<(), pact_models::Error>(())
    /// ```
    pub fn chunked_model<'a>(
        &'a self,
        x: &'a Tensor,
        labels: Option<&'a Tensor>,
        chunk: usize,
    ) -> Result<impl Fn(&mut Ctx) -> pact::Result<ModelOutput> + 'a> {
        if self.is_spatial() {
            return Err(Error::InvalidInput(
                "a spatial network halts per position and has no chunked model; run \
                 ResNet::model"
                    .into(),
            ));
        }
        if chunk == 0 || x.rank() != 4 || x.dims()[0] == 0 {
            return Err(Error::InvalidInput(format!(
                "chunked evaluation needs an NCHW batch of at least one image and chunks of at \
                 least one, got {} in chunks of {chunk}",
                x.shape()
            )));
        }
        let batch = x.dims()[0];
        let sites = self.stage_sites(0.0, x)?;
        Ok(move |ctx: &mut Ctx| {
            ctx.plate(BATCH_PLATE, batch, |ctx| {
                let starts: Vec<usize> = (0..batch).step_by(chunk).collect();
                let stems = map_side_by_side(x.device(), starts, |start| {
                    let len = chunk.min(batch - start);
                    split_rows(&self.stem(&x.narrow(0, start, len)?)?)
                })?;
                let mut states: Vec<Tensor> = stems.into_iter().flatten().collect();
                let mut steps = Vec::with_capacity(self.stages.len());
                for (k, (stage, site)) in self.stages.iter().zip(&sites).enumerate() {
                    let eval = EvalStage {
                        units: &stage.units,
                        norms: stage
                            .units
                            .iter()
                            .map(ResidualUnit::eval_norms)
                            .collect::<pact::Result<_>>()?,
                        heads: &stage.heads,
                    };
                    match site {
                        Some(site) => {
                            let out =
                                ctx.halting_chunked(&stage_site(k), site, states, &eval, chunk)?;
                            states = out.states;
                            steps.push(out.steps);
                        }
                        None => {
                            states = run_chunked(&eval, stage.units.len(), states, chunk)?;
                            steps.push(vec![stage.units.len(); batch]);
                        }
                    }
                }
                let logits = self.head_chunked(states, chunk)?;
                if let Some(y) = labels {
                    observe_labels(ctx, &logits, y)?;
                }
                Ok(ModelOutput {
                    logits,
                    expected_n: vec![None; steps.len()],
                    steps,
                })
            })
        })
    }

    /// [`ResNet::head`] in evaluation mode over chunks of the per-image final states (side by
    /// side on the CPU), freeing each chunk's states as it goes.
    fn head_chunked(&self, mut states: Vec<Tensor>, chunk: usize) -> pact::Result<Tensor> {
        let (scale, shift) = self.final_bn.eval_scale_shift()?;
        let device = scale.device();
        let mut parts = Vec::with_capacity(states.len().div_ceil(chunk));
        while !states.is_empty() {
            let rest = states.split_off(chunk.min(states.len()));
            parts.push(std::mem::replace(&mut states, rest));
        }
        let pooled = map_side_by_side(device, parts, |rows| {
            let x = Tensor::concat(&rows, 0)?;
            drop(rows);
            x.scale_shift_leaky_relu(&scale, &shift, LEAKY_SLOPE)?
                .global_avg_pool2d()
        })?;
        self.fc.forward(&Tensor::concat(&pooled, 0)?)
    }

    /// The output grid `(H, W)` of every stage for images `x` (`[B, C, H, W]`).
    pub fn stage_grids(&self, x: &Tensor) -> Result<Vec<(usize, usize)>> {
        let (mut h, mut w) = match *x.dims() {
            [_, _, h, w] => (h, w),
            _ => {
                return Err(Error::InvalidInput(format!(
                    "images of shape {}, not [B, C, H, W]",
                    x.shape()
                )))
            }
        };
        Ok(self
            .stages
            .iter()
            .map(|stage| {
                for unit in &stage.units {
                    (h, w) = (h.div_ceil(unit.stride()), w.div_ceil(unit.stride()));
                }
                (h, w)
            })
            .collect())
    }
}
