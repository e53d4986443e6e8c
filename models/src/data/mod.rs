//! Data sets and tasks, as plain host data.
//!
//! Nothing here touches tensors: loaders and generators produce `Vec`s in documented layouts,
//! and training code turns mini-batches of them into tensors. Nothing is ever downloaded;
//! real data sets are read from files you put in place, and the built-in tasks are generated
//! from a seeded [`pact::Rng`] (every random draw goes through it, so a seed fixes the data).
//!
//! # Types
//!
//! - [`ImageSet`]: `N` labelled images, NCHW row-major `f32`, with an optional difficulty level
//!   per image; [`ImageSet::batches`] gives one epoch of index batches ([`Batches`]) and
//!   [`ImageSet::to_batch`] the pixels and labels of a batch.
//! - [`SequenceSet`]: `N` input sequences `[N, T, D]` with `K` classification targets per step
//!   `[N, T, K]`, a per-step target mask, lengths, and difficulty per example and per step.
//! - [`DataSpec`]: a data set named by a string such as `cifar10:DIR` or `parity:16`, which
//!   loads or generates it.
//!
//! # Sources
//!
//! | module | what | format |
//! |---|---|---|
//! | [`cifar10`] | CIFAR-10, `3×32×32`, pixels in `[0, 1]` | `data_batch_{1..5}.bin`, `test_batch.bin`: records of 1 label byte + 3072 CHW pixel bytes |
//! | [`mnist`] | MNIST, `1×28×28`, pixels in `[0, 1]` | IDX files (`train-images-idx3-ubyte`, …), plain or `.gz` |
//! | [`csv`] | any images | one row per image: `C·H·W` pixels then the label; no header |
//! | [`shapes`] | synthetic shapes with difficulty levels 0–3 | generated |
//! | [`tasks`] | Graves' parity, logic, addition and sort | generated, self-checked |
//!
//! [`augment`] holds the usual image augmentation (pad-and-crop, flip, standardisation).
//!
//! # Errors
//!
//! Missing files give [`crate::Error::MissingData`] saying which files are expected where;
//! malformed files give [`crate::Error::Data`] naming the file and the place (record, byte
//! offset, line and column); bad parameters give [`crate::Error::InvalidInput`].

pub mod augment;
pub mod cifar10;
pub mod csv;
mod image_set;
pub mod mnist;
mod sequence_set;
pub mod shapes;
pub mod spec;
pub mod tasks;

pub use augment::Augment;
pub use image_set::{Batches, ImageSet, SplitSize};
pub use sequence_set::{SequenceBatch, SequenceDims, SequenceSet};
pub use shapes::ShapesConfig;
pub use spec::{DataKind, DataSpec};
pub use tasks::addition::AdditionConfig;
pub use tasks::logic::LogicConfig;
pub use tasks::parity::ParityConfig;
pub use tasks::sort::SortConfig;

use std::fmt;

/// Which part of a data set with a fixed train/test split to load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// The training images.
    Train,
    /// The test images.
    Test,
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

/// One draw from the standard normal distribution (Box–Muller on two uniforms of `rng`).
pub(crate) fn standard_normal(rng: &mut pact::Rng) -> f64 {
    // 1 - U lies in (0, 1], so the logarithm is finite.
    let u1 = 1.0 - rng.uniform();
    let u2 = rng.uniform();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_normal_has_the_right_moments() {
        let mut rng = pact::Rng::seed(11);
        let xs: Vec<f64> = (0..20_000).map(|_| standard_normal(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.03, "{mean}");
        assert!((var - 1.0).abs() < 0.05, "{var}");
    }
}
