//! What training a ResNet will take in memory, estimated from its configuration before
//! anything is allocated, so that a typo such as `--units 100000` is refused with a number
//! instead of filling the machine's memory.

use super::ResNetConfig;

/// The memory of one training step, in bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainingMemory {
    /// Parameters, with their gradients and the optimiser's state.
    pub parameters: u64,
    /// The activations a forward pass keeps for the backward pass.
    pub activations: u64,
}

impl TrainingMemory {
    /// Both together.
    pub fn total(&self) -> u64 {
        self.parameters + self.activations
    }
}

/// Tensors of a unit's output shape that a training step keeps per unit: batch norm inputs,
/// convolution outputs, the residual sum and the gradients in flight, with the halting
/// block's share (batch norm's normalised activations and the weighted sum's products are
/// not kept: both are fused into the ops after them). Measured with
/// [`pact::memory::peak_bytes`] over PACT ResNets of 1–5 units per stage it is 4.1–5.8, so
/// the estimate errs high, room for what the allocator keeps beside the tensors
/// (`models/tests/memory_estimate.rs` checks it against the measured peak).
const KEPT_PER_UNIT: u64 = 6;

impl ResNetConfig {
    /// The number of trainable parameters (batch-norm running statistics excluded).
    ///
    /// ```
    /// use pact_models::resnet::ResNetConfig;
    /// // ResNet-32 without halting heads: 0.46 million parameters.
    /// assert_eq!(ResNetConfig::cifar(5).plain().parameter_count(), 464_154);
    /// ```
    pub fn parameter_count(&self) -> u64 {
        let [w0, w1, w2] = self.widths.map(|w| w as u64);
        let n = self.units_per_stage as u64;
        let stem = 9 * self.in_channels as u64 * w0;
        let mut total = stem;
        let mut c_in = w0;
        for c_out in [w0, w1, w2] {
            // First unit from c_in, the others from c_out: two 3×3 convolutions and two batch
            // norms (scale and shift) each.
            let unit = |c_in: u64| 9 * c_in * c_out + 9 * c_out * c_out + 2 * c_in + 2 * c_out;
            total += unit(c_in) + n.saturating_sub(1) * unit(c_out);
            if self.halting_bias.is_some() {
                // A head per unit but the last: batch norm and a linear map to one logit.
                total += n.saturating_sub(1) * (2 * c_out + c_out + 1);
            }
            c_in = c_out;
        }
        total + 2 * w2 + w2 * self.num_classes as u64 + self.num_classes as u64
    }

    /// The memory of one training step on batches of `batch` images of `height × width`, with
    /// `bytes` per value (4 for `f32`) and an optimiser that keeps `optimizer_copies` tensors
    /// per parameter (1 for SGD with momentum, 2 for Adam).
    ///
    /// ```
    /// use pact_models::resnet::ResNetConfig;
    /// let small = ResNetConfig::cifar(5).training_memory(128, 32, 32, 4, 1);
    /// assert!(small.total() < 2 << 30); // ResNet-32: well under 2 GiB
    /// let typo = ResNetConfig::cifar(100_000).training_memory(128, 32, 32, 4, 1);
    /// assert!(typo.total() > 1 << 40); // --units 100000: over a terabyte
    /// ```
    pub fn training_memory(
        &self,
        batch: usize,
        height: usize,
        width: usize,
        bytes: u64,
        optimizer_copies: u64,
    ) -> TrainingMemory {
        let parameters = self.parameter_count() * bytes * (2 + optimizer_copies);
        let n = self.units_per_stage as u64;
        let (b, h, w) = (batch as u64, height as u64, width as u64);
        let mut activations = b * self.widths[0] as u64 * h * w * bytes; // the stem's output
        for (stage, &c) in self.widths.iter().enumerate() {
            let scale = 1u64 << (2 * stage); // each later stage halves the height and width
            let plane = b * c as u64 * (h * w / scale).max(1);
            activations += n * KEPT_PER_UNIT * plane * bytes;
        }
        TrainingMemory {
            parameters,
            activations,
        }
    }
}
