//! The ResNet as a model of the modelling language ([`pact::ppl`]): each stage of a network
//! with halting heads is one halting site ([`Ctx::halting`]) named `stage{k}`, whose prior is
//! the time-penalty law `p(N) ∝ e^{−λN}` over its units and whose posterior is the
//! stick-breaking law of its heads' logits; the classifier's likelihood is the observation `y`
//! of the plate `batch`. How many units run, and what the loss is, is up to the handlers and
//! the objective the model runs under (see [`crate::objective`]).
//!
//! A spatial network ([`ResNet::new_spatial`], math §8) halts per position: each stage is an
//! in-place halting site ([`Ctx::halting_in_place`](pact::ppl::Ctx::halting_in_place)) whose
//! rows are the positions of the stage's output grid (batch shape `[B, H, W]`); its units see
//! the mask of the positions still running and freeze the others, and the site is scaled by
//! `1/(H·W)` ([`Ctx::scaled`](pact::ppl::Ctx::scaled)) so that objectives average its terms
//! (ACT's ponder cost, PACT's prior term) over positions as well as over the batch. Those
//! sites sit outside the plate `batch` (whose axis would be the last of their batch shape),
//! which then holds the labels only.

use super::ResNet;
use crate::halting::{time_penalty_site, HaltingLaw};
use pact::dist::{Categorical, Distribution};
use pact::ppl::{Ctx, HaltingSite};
use pact::{Result, Tensor};
use std::sync::Arc;

/// The name of the plate over the images of a batch.
pub const BATCH_PLATE: &str = "batch";

/// The name of the observed labels.
pub const LABELS_SITE: &str = "y";

/// The name of stage `k`'s halting site.
pub fn stage_site(k: usize) -> String {
    format!("stage{k}")
}

/// What one run of the model computed.
#[derive(Clone, Debug)]
pub struct ModelOutput {
    /// Class logits `[B, K]`.
    pub logits: Tensor,
    /// Per stage, the units each image ran.
    pub steps: Vec<Vec<usize>>,
    /// Per stage, `E_q[N]` per image under the posterior, where the stage ran densely.
    pub expected_n: Vec<Option<Tensor>>,
}

impl ResNet {
    /// The network on the images `x` (`[B, C, H, W]`) as a model: the stem, each stage as a
    /// halting site with time penalty `penalty` (a network without heads runs every unit),
    /// the head, and, if `labels` (`[B]`, class indices as values) are given, their
    /// observation under `Categorical(logits)`. Batch norm uses batch statistics when
    /// `training`. A spatial network halts per position (a `halting_in_place` site per stage
    /// over its positions, scaled by `1/(H·W)`): [`ModelOutput::steps`] then has one entry per
    /// position of each stage's grid (row-major over image, y, x) and
    /// [`ModelOutput::expected_n`] is `[B, H, W]`.
    ///
    /// ```
    /// use pact::nn::ParamStore;
    /// use pact::ppl::{decode, run, DecodeRule};
    /// use pact::{DType, Device, Rng, Tensor};
    /// use pact_models::resnet::{ResNet, ResNetConfig};
    /// let config = ResNetConfig {
    ///     units_per_stage: 2,
    ///     widths: [2, 3, 4],
    ///     in_channels: 1,
    ///     num_classes: 3,
    ///     halting_bias: Some(0.0),
    /// };
    /// let store = ParamStore::new(DType::F64, Device::Cpu);
    /// let net = ResNet::new(&store, config, &mut Rng::seed(0))?;
    /// let x = Tensor::randn([4, 1, 8, 8], DType::F64, Device::Cpu, &mut Rng::seed(1))?;
    /// // PACT's deterministic evaluation: each image halts at its first confident head.
    /// let model = decode(DecodeRule::Threshold(0.5), net.model(&x, None, 0.01, false)?);
    /// let (out, trace) = run(&model, &store, &mut Rng::seed(2))?;
    /// assert_eq!(out.logits.dims(), [4, 3]);
    /// assert!(trace.get("stage0").unwrap().decoded);
    /// # Ok::<(), pact_models::Error>(())
    /// ```
    pub fn model<'a>(
        &'a self,
        x: &'a Tensor,
        labels: Option<&'a Tensor>,
        penalty: f64,
        training: bool,
    ) -> crate::Result<impl Fn(&mut Ctx) -> Result<ModelOutput> + 'a> {
        let batch = x.dims().first().copied().unwrap_or(0);
        let sites = self.stage_sites(penalty, x)?;
        let spatial = self.is_spatial();
        Ok(move |ctx: &mut Ctx| {
            if spatial {
                return self.spatial_model(ctx, x, labels, &sites, training);
            }
            ctx.plate(BATCH_PLATE, batch, |ctx| {
                let mut h = self.stem(x)?;
                let mut steps = Vec::with_capacity(self.stages.len());
                let mut expected_n = Vec::with_capacity(self.stages.len());
                for (k, (stage, site)) in self.stages.iter().zip(&sites).enumerate() {
                    let Some(site) = site else {
                        for unit in &stage.units {
                            h = unit.forward(&h, training)?;
                        }
                        steps.push(vec![stage.units.len(); batch]);
                        expected_n.push(None);
                        continue;
                    };
                    let out = ctx.halting(
                        &stage_site(k),
                        site,
                        &h,
                        |l, s, _rows| stage.units[l].forward(s, training),
                        |l, s| stage.heads[l].logit(s, training),
                    )?;
                    expected_n.push(posterior_expected_n(out.posterior.as_ref())?);
                    steps.push(out.steps);
                    h = out.output;
                }
                let logits = self.head(&h, training)?;
                if let Some(y) = labels {
                    observe_labels(ctx, &logits, y)?;
                }
                Ok(ModelOutput {
                    logits,
                    steps,
                    expected_n,
                })
            })
        })
    }
}

impl ResNet {
    /// The halting site of every stage with time penalty `penalty`, in `x`'s dtype and
    /// device: `None` for a stage without heads or of one unit (nothing to decide).
    pub(super) fn stage_sites(&self, penalty: f64, x: &Tensor) -> Result<Vec<Option<HaltingSite>>> {
        match self.config.halting_bias {
            Some(_) => self
                .stages
                .iter()
                .map(|stage| match stage.units.len() {
                    0 | 1 => Ok(None),
                    units => time_penalty_site(units, penalty, x.dtype(), x.device()).map(Some),
                })
                .collect(),
            None => Ok(vec![None; self.stages.len()]),
        }
    }
}

/// `E_q[N]` of a stage's posterior, where it ran densely with a [`HaltingLaw`].
pub(super) fn posterior_expected_n(
    posterior: Option<&Arc<dyn Distribution>>,
) -> Result<Option<Tensor>> {
    match posterior
        .and_then(|q| q.as_any())
        .and_then(|any| any.downcast_ref::<HaltingLaw>())
    {
        Some(law) => Ok(Some(law.expected_n()?)),
        None => Ok(None),
    }
}

/// The observation of the labels `y` under `Categorical(logits)`. Logits that are not finite
/// (a diverged network) have no such law: the labels then contribute a NaN log-likelihood per
/// image (a factor of the same name), so that the loss is NaN and a trainer's guard reports
/// the step, as it does for any non-finite loss.
pub(super) fn observe_labels(ctx: &mut Ctx, logits: &Tensor, y: &Tensor) -> Result<()> {
    if logits.to_f64_vec().iter().all(|v| v.is_finite()) {
        ctx.observe(LABELS_SITE, Categorical::new(logits.clone())?, y)?;
    } else {
        let nan = Tensor::full(f64::NAN, y.dims().to_vec(), logits.dtype(), logits.device());
        ctx.factor(LABELS_SITE, &nan)?;
    }
    Ok(())
}
