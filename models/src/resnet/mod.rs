//! CIFAR-style pre-activation ResNets (as in the SACT reference code): a 3×3 stem, three
//! stages of `n` residual units (widths 16/32/64, stride 2 at the first unit of stages 2 and
//! 3), batch norm and leaky ReLU, global average pooling, a linear classifier.
//! `n = 5` is ResNet-32, `n = 18` is ResNet-110.

mod chunked;
mod head;
mod memory;
mod model;
mod spatial;
mod spatial_head;
mod unit;

pub use chunked::EVAL_CHUNK;
pub use head::{HaltingHead, HALTING_BIAS};
pub use memory::TrainingMemory;
pub use model::{stage_site, ModelOutput, BATCH_PLATE, LABELS_SITE};
pub use spatial::{dilate3x3, upsample_nearest, POSITION_AXES};
pub use spatial_head::SpatialHaltingHead;
pub use unit::{ResidualUnit, UnitNorms, BN_EPS, BN_MOMENTUM, LEAKY_SLOPE};

use pact::nn::{BatchNorm, Conv2d, Conv2dConfig, Linear, ParamStore};
use pact::{Result, Rng, Tensor};
use serde::{Deserialize, Serialize};

/// Shape of a ResNet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResNetConfig {
    /// Residual units per stage (5 for ResNet-32, 18 for ResNet-110).
    pub units_per_stage: usize,
    /// Channels of the three stages.
    pub widths: [usize; 3],
    /// Input channels (3 for colour images).
    pub in_channels: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// Initial bias of the halting heads; `None` builds a plain network without heads.
    pub halting_bias: Option<f64>,
}

impl ResNetConfig {
    /// ResNet with `n` units per stage, 3 input channels, 10 classes.
    pub fn cifar(n: usize) -> Self {
        ResNetConfig {
            units_per_stage: n,
            widths: [16, 32, 64],
            in_channels: 3,
            num_classes: 10,
            halting_bias: Some(HALTING_BIAS),
        }
    }

    /// The same network without halting heads.
    pub fn plain(mut self) -> Self {
        self.halting_bias = None;
        self
    }

    /// Depth in the usual naming (6n + 2).
    pub fn depth(&self) -> usize {
        6 * self.units_per_stage + 2
    }
}

/// One stage: its residual units in order and the halting heads after every unit but the
/// last (none in a plain network).
#[derive(Clone)]
pub struct Stage {
    /// The units.
    pub units: Vec<ResidualUnit>,
    /// The halting heads (`units − 1` of them, or none).
    pub heads: Vec<HaltingHead>,
}

/// The stem, the stages and the head of a ResNet, with parameters in a [`ParamStore`] under
/// the names `conv`, `stages.{s}.units.{u}.{b1,c1,b2,c2}`, `bn`, `fc` (those of the PyTorch
/// peer's `state_dict`).
///
/// A spatial ResNet ([`ResNet::new_spatial`], math §8) has spatial halting heads
/// (`stages.{s}.spatial_halt.{u}.{conv,fc}`) instead of the global ones, and runs its stages
/// as spatial blocks.
#[derive(Clone)]
pub struct ResNet {
    config: ResNetConfig,
    stem: Conv2d,
    stages: Vec<Stage>,
    final_bn: BatchNorm,
    fc: Linear,
    /// The spatial halting heads per stage (spatial networks only).
    spatial_heads: Option<Vec<Vec<SpatialHaltingHead>>>,
}

impl ResNet {
    /// Builds and initialises a ResNet.
    pub fn new(store: &ParamStore, config: ResNetConfig, rng: &mut Rng) -> Result<Self> {
        Self::build(store, config, false, rng)
    }

    /// Builds a ResNet with global (`spatial = false`) or spatial halting heads.
    fn build(
        store: &ParamStore,
        config: ResNetConfig,
        spatial: bool,
        rng: &mut Rng,
    ) -> Result<Self> {
        let w = config.widths;
        let stem = Conv2d::new(
            &store.pp("conv"),
            Conv2dConfig {
                c_in: config.in_channels,
                c_out: w[0],
                kernel: 3,
                stride: 1,
                padding: 1,
                bias: false,
            },
            LEAKY_SLOPE,
            rng,
        )?;
        let mut stages = Vec::with_capacity(3);
        let mut spatial_heads = Vec::with_capacity(3);
        let mut c_in = w[0];
        for (s, &c_out) in w.iter().enumerate() {
            let store_s = store.pp(format!("stages.{s}"));
            let mut units = Vec::with_capacity(config.units_per_stage);
            let mut heads = Vec::new();
            let mut spatial_stage = Vec::new();
            for u in 0..config.units_per_stage {
                let stride = if s > 0 && u == 0 { 2 } else { 1 };
                let cin = if u == 0 { c_in } else { c_out };
                let unit_store = store_s.pp(format!("units.{u}"));
                units.push(ResidualUnit::new(&unit_store, cin, c_out, stride, rng)?);
                if let Some(bias) = config.halting_bias {
                    if spatial && u + 1 < config.units_per_stage {
                        let head_store = store_s.pp(format!("spatial_halt.{u}"));
                        spatial_stage.push(SpatialHaltingHead::new(&head_store, c_out, bias, rng)?);
                    } else if u + 1 < config.units_per_stage {
                        let bn = store_s.pp(format!("halt_bn.{u}"));
                        let fc = store_s.pp(format!("halt.{u}"));
                        heads.push(HaltingHead::new(&bn, &fc, c_out, bias, rng)?);
                    }
                }
            }
            stages.push(Stage { units, heads });
            spatial_heads.push(spatial_stage);
            c_in = c_out;
        }
        let final_bn = BatchNorm::new(&store.pp("bn"), w[2], BN_EPS, BN_MOMENTUM)?;
        let fc = Linear::new(&store.pp("fc"), w[2], config.num_classes, rng)?;
        Ok(ResNet {
            config,
            stem,
            stages,
            final_bn,
            fc,
            spatial_heads: spatial.then_some(spatial_heads),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ResNetConfig {
        &self.config
    }

    /// The stages.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// The stem convolution.
    pub fn stem(&self, x: &Tensor) -> Result<Tensor> {
        self.stem.forward(x)
    }

    /// Final batch norm, leaky ReLU, global average pooling and the classifier.
    pub fn head(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        let h = self.final_bn.forward_leaky_relu(x, training, LEAKY_SLOPE)?;
        self.fc.forward(&h.global_avg_pool2d()?)
    }

    /// Floating-point operations per example (math §9) given the units executed per
    /// stage: the stem, the classifier, and each executed unit with its halting head. (Spatial
    /// networks count per position: [`ResNet::spatial_flops`].)
    pub fn flops(&self, height: usize, width: usize, units_per_stage: &[usize]) -> u64 {
        let c = &self.config;
        let mut total = 2 * 9 * (c.in_channels * c.widths[0] * height * width) as u64;
        let (mut h, mut w) = (height, width);
        for (stage, &executed) in self.stages.iter().zip(units_per_stage) {
            for (l, unit) in stage.units.iter().enumerate().take(executed) {
                total += unit.flops(h, w);
                if let Some(head) = stage.heads.get(l) {
                    total += head.flops();
                }
                (h, w) = (h.div_ceil(unit.stride()), w.div_ceil(unit.stride()));
            }
            // Units not executed still set the resolution of the next stage.
            for unit in stage.units.iter().skip(executed) {
                (h, w) = (h.div_ceil(unit.stride()), w.div_ceil(unit.stride()));
            }
        }
        total + 2 * (c.widths[2] * c.num_classes) as u64
    }

    /// Logits of the plain (non-adaptive) network: every unit runs.
    pub fn forward(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        let mut h = self.stem(x)?;
        for stage in &self.stages {
            for unit in &stage.units {
                h = unit.forward(&h, training)?;
            }
        }
        self.head(&h, training)
    }
}
