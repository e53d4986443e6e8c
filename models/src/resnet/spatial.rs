//! Spatially adaptive ResNets (SACT and spatial PACT, math §8): every stage is a spatial
//! block with a [`SpatialHaltingHead`] after each unit but the last; FLOPs are counted per
//! position (§9).

use super::model::{observe_labels, posterior_expected_n, stage_site, ModelOutput, BATCH_PLATE};
use super::{ResNet, ResNetConfig, SpatialHaltingHead};
use crate::{Error, Result};
use pact::nn::ParamStore;
use pact::ppl::{Ctx, HaltingSite};
use pact::{Rng, Tensor};

/// The axes of a `[B, C, H, W]` state that index the positions: the rows of a spatial
/// stage's halting site, whose batch shape is `[B, H, W]`.
pub const POSITION_AXES: [usize; 3] = [0, 2, 3];

/// Nearest-neighbour upsampling of one `h × w` map (row-major) to `out_h × out_w`: output
/// pixel `(y, x)` takes the value of cell `(⌊y·h/out_h⌋, ⌊x·w/out_w⌋)`.
pub fn upsample_nearest(
    values: &[f64],
    h: usize,
    w: usize,
    out_h: usize,
    out_w: usize,
) -> Vec<f64> {
    if h == 0 || w == 0 || values.len() < h * w {
        return vec![0.0; out_h * out_w];
    }
    let mut out = Vec::with_capacity(out_h * out_w);
    for y in 0..out_h {
        let sy = (y * h / out_h.max(1)).min(h - 1);
        for x in 0..out_w {
            let sx = (x * w / out_w.max(1)).min(w - 1);
            out.push(values[sy * w + sx]);
        }
    }
    out
}

/// The 3×3 dilation of a mask on an `h × w` grid (a position is set if it or one of its eight
/// neighbours is set; the grid's border clips the neighbourhood).
pub fn dilate3x3(mask: &[bool], h: usize, w: usize) -> Vec<bool> {
    let mut out = vec![false; h * w];
    for y in 0..h {
        for x in 0..w {
            if !mask[y * w + x] {
                continue;
            }
            for yy in y.saturating_sub(1)..(y + 2).min(h) {
                for xx in x.saturating_sub(1)..(x + 2).min(w) {
                    out[yy * w + xx] = true;
                }
            }
        }
    }
    out
}

impl ResNet {
    /// Builds and initialises a spatial ResNet (SACT / spatial PACT): the same units as
    /// [`ResNet::new`], with a [`SpatialHaltingHead`] (3×3 conv with bias
    /// `config.halting_bias`, plus a global linear logit) after every unit but the last of each
    /// stage. `config.halting_bias` must be set.
    pub fn new_spatial(store: &ParamStore, config: ResNetConfig, rng: &mut Rng) -> Result<Self> {
        if config.halting_bias.is_none() {
            return Err(Error::InvalidInput(
                "a spatial ResNet needs halting heads (a halting bias)".into(),
            ));
        }
        Ok(Self::build(store, config, true, rng)?)
    }

    /// Whether this network halts per position (built with [`ResNet::new_spatial`]).
    pub fn is_spatial(&self) -> bool {
        self.spatial_heads.is_some()
    }

    /// The spatial halting heads of stage `stage` (empty for a non-spatial network).
    pub fn spatial_heads(&self, stage: usize) -> &[SpatialHaltingHead] {
        self.spatial_heads
            .as_ref()
            .and_then(|h| h.get(stage))
            .map_or(&[], Vec::as_slice)
    }

    /// The spatial network as a model (what [`ResNet::model`] runs for it): the stem, each
    /// stage with halting heads as an in-place halting site `stage{k}` over the positions of
    /// its grid ([`POSITION_AXES`]), scaled by `1/(H·W)`, and the labels observed in the
    /// plate `batch`.
    pub(super) fn spatial_model(
        &self,
        ctx: &mut Ctx,
        x: &Tensor,
        labels: Option<&Tensor>,
        sites: &[Option<HaltingSite>],
        training: bool,
    ) -> pact::Result<ModelOutput> {
        let mut h = self.stem(x)?;
        let (batch, mut height, mut width) = match *h.dims() {
            [b, _, hh, ww] => (b, hh, ww),
            _ => {
                return Err(pact::Error::invalid(
                    "ResNet::model",
                    format!("images of shape {}, not [B, C, H, W]", x.shape()),
                ))
            }
        };
        let mut steps = Vec::with_capacity(self.stages.len());
        let mut expected_n = Vec::with_capacity(self.stages.len());
        for (k, (stage, site)) in self.stages.iter().zip(sites).enumerate() {
            // The first unit sets the stage's grid (a 3×3 convolution with padding 1).
            let stride = stage.units.first().map_or(1, |u| u.stride());
            (height, width) = (height.div_ceil(stride), width.div_ceil(stride));
            let positions = batch * height * width;
            let Some(site) = site else {
                for unit in &stage.units {
                    h = unit.forward(&h, training)?;
                }
                steps.push(vec![stage.units.len(); positions]);
                expected_n.push(None);
                continue;
            };
            let heads = self.spatial_heads(k);
            let out = ctx.scaled(1.0 / (height * width) as f64, |ctx| {
                ctx.halting_in_place(
                    &stage_site(k),
                    site,
                    &h,
                    &POSITION_AXES,
                    |l, s, mask| stage.units[l].forward_masked(s, mask, training),
                    |l, s| match heads.get(l) {
                        Some(head) => head.logits(s),
                        None => Err(pact::Error::invalid(
                            "ResNet::model",
                            format!("stage {k} has no spatial halting head after unit {l}"),
                        )),
                    },
                )
            })?;
            if out.steps.len() != positions {
                return Err(pact::Error::invalid(
                    "ResNet::model",
                    format!(
                        "stage {k} halted {} positions, its grid has {batch}×{height}×{width}",
                        out.steps.len()
                    ),
                ));
            }
            expected_n.push(posterior_expected_n(out.posterior.as_ref())?);
            steps.push(out.steps);
            h = out.output;
        }
        let logits = self.head(&h, training)?;
        if let Some(y) = labels {
            ctx.plate(BATCH_PLATE, batch, |ctx| observe_labels(ctx, &logits, y))?;
        }
        Ok(ModelOutput {
            logits,
            steps,
            expected_n,
        })
    }

    /// FLOPs of one example of a spatial network (math §9) given the units executed at
    /// every position of every stage (`units[s]` row-major over that stage's grid): the stem
    /// and the classifier always; unit `l` of a stage where it executed, its first convolution
    /// on the executed positions dilated by 3×3, its second on the executed positions; the
    /// halting head after unit `l` (3×3 conv per executed position, plus the global linear
    /// logit once if any position executed).
    pub fn spatial_flops(&self, height: usize, width: usize, units: &[&[usize]]) -> Result<u64> {
        let c = &self.config;
        if units.len() != self.stages.len() {
            return Err(Error::InvalidInput(format!(
                "units for {} stages, the network has {}",
                units.len(),
                self.stages.len()
            )));
        }
        let mut total = 2 * 9 * (c.in_channels * c.widths[0] * height * width) as u64;
        let (mut h, mut w) = (height, width);
        for (s, (stage, per_position)) in self.stages.iter().zip(units).enumerate() {
            let stride = stage.units.first().map_or(1, |u| u.stride());
            (h, w) = (h.div_ceil(stride), w.div_ceil(stride));
            if per_position.len() != h * w {
                return Err(Error::InvalidInput(format!(
                    "stage {s}: {} positions given for a {h}x{w} grid",
                    per_position.len()
                )));
            }
            let heads = self.spatial_heads(s);
            for (l, unit) in stage.units.iter().enumerate() {
                let active: Vec<bool> = per_position.iter().map(|&n| n > l).collect();
                let count = active.iter().filter(|&&a| a).count();
                if count == 0 {
                    break;
                }
                let dilated = dilate3x3(&active, h, w).iter().filter(|&&a| a).count();
                total += unit.flops_masked(dilated, count);
                if let Some(head) = heads.get(l) {
                    total += head.flops_per_position() * count as u64 + head.global_flops();
                }
            }
        }
        Ok(total + 2 * (c.widths[2] * c.num_classes) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pact::{DType, Device};

    #[test]
    fn dilation_clips_at_the_border() {
        let mut m = vec![false; 12];
        m[0] = true; // (0, 0) on a 3 × 4 grid
        m[6] = true; // (1, 2)
        let d = dilate3x3(&m, 3, 4);
        let set: Vec<usize> = (0..12).filter(|&i| d[i]).collect();
        assert_eq!(set, vec![0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11]);
    }

    #[test]
    fn nearest_upsampling_repeats_cells() {
        let up = upsample_nearest(&[1.0, 2.0, 3.0, 4.0], 2, 2, 4, 4);
        assert_eq!(
            up,
            vec![1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 3.0, 3.0, 4.0, 4.0]
        );
        // Odd sizes: a 3-wide map on 5 pixels.
        assert_eq!(
            upsample_nearest(&[1.0, 2.0, 3.0], 1, 3, 1, 5),
            vec![1.0, 1.0, 2.0, 2.0, 3.0]
        );
    }

    /// math §9, spatial variant, counted by hand on a tiny network: 1 input channel,
    /// widths 2/4/4, two units per stage, 3 classes, a 4×4 input (grids 4×4, 2×2, 1×1).
    #[test]
    fn spatial_flops_by_hand_section_9() {
        let config = ResNetConfig {
            units_per_stage: 2,
            widths: [2, 4, 4],
            in_channels: 1,
            num_classes: 3,
            halting_bias: Some(-3.0),
        };
        let net = ResNet::new_spatial(
            &ParamStore::new(DType::F32, Device::Cpu),
            config,
            &mut Rng::seed(0),
        )
        .unwrap();
        // Stage 1 (4×4): only (0, 0) runs unit 2. Stage 2 (2×2): every position halts at 1.
        // Stage 3 (1×1): the one position runs both units.
        let mut s1 = vec![1usize; 16];
        s1[0] = 2;
        let s2 = vec![1usize; 4];
        let s3 = vec![2usize; 1];
        let flops = net.spatial_flops(4, 4, &[&s1, &s2, &s3]).unwrap();
        let stem = 2 * 9 * 2 * 16; // 1 → 2 channels on 16 positions
                                   // Stage 1, unit 1 (2 → 2) everywhere: 2 convs × 16 positions; head after it: 3×3
                                   // conv on 16 positions + global linear.
        let s1_u1 = 2 * (2 * 9 * 2 * 2 * 16) + 2 * 9 * 2 * 16 + 2 * 2;
        // Unit 2 at (0, 0) only: conv 1 on the dilated mask {(0,0), (0,1), (1,0), (1,1)},
        // conv 2 on (0, 0). No head after the last unit.
        let s1_u2 = 2 * 9 * 2 * 2 * 4 + 2 * 9 * 2 * 2;
        // Stage 2, unit 1 (2 → 4, stride 2) on the 2×2 grid, and its head.
        let s2_u1 = 2 * 9 * 2 * 4 * 4 + 2 * 9 * 4 * 4 * 4 + 2 * 9 * 4 * 4 + 2 * 4;
        // Stage 3 (4 → 4, stride 2) on 1×1: unit 1 with its head, unit 2.
        let s3_u1 = 2 * 9 * 4 * 4 + 2 * 9 * 4 * 4 + 2 * 9 * 4 + 2 * 4;
        let s3_u2 = 2 * 9 * 4 * 4 * 2;
        let classifier = 2 * 4 * 3;
        assert_eq!(
            flops,
            (stem + s1_u1 + s1_u2 + s2_u1 + s3_u1 + s3_u2 + classifier) as u64
        );
        // Every position running every unit: the plain count plus the heads.
        let all = net
            .spatial_flops(4, 4, &[&[2; 16], &[2; 4], &[2; 1]])
            .unwrap();
        let heads = (2 * 9 * 2 * 16 + 2 * 2) + (2 * 9 * 4 * 4 + 2 * 4) + (2 * 9 * 4 + 2 * 4);
        assert_eq!(all, net.flops(4, 4, &[2, 2, 2]) + heads as u64);
        // Wrong grid sizes are errors, not panics.
        assert!(net.spatial_flops(4, 4, &[&s1, &s2]).is_err());
        assert!(net.spatial_flops(4, 4, &[&s2, &s2, &s3]).is_err());
    }
}
