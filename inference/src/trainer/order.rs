//! The data order: which examples each step sees, computable from the seed and the step alone,
//! so a resumed run regenerates the same order without replaying earlier epochs.

use pact::Rng;

/// Random streams derived from the trainer's seed, one per purpose.
#[derive(Clone, Copy)]
pub(crate) enum Stream {
    /// The shuffle of one epoch (the epoch index, from 0).
    Epoch(u64),
    /// The random stream handed to the training step.
    Step,
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A generator for `stream`, a pure function of `seed` and `stream`.
pub(crate) fn derived_rng(seed: u64, stream: Stream) -> Rng {
    let (domain, index) = match stream {
        Stream::Epoch(e) => (1, e),
        Stream::Step => (2, 0),
    };
    Rng::seed(splitmix64(splitmix64(seed ^ splitmix64(domain)) ^ index))
}

/// Minibatches of `0..n` by step, shuffled per epoch from a generator derived from the seed.
pub(crate) struct DataOrder {
    n: usize,
    batch_size: usize,
    shuffle: bool,
    seed: u64,
    epoch: Option<(u64, Vec<usize>)>,
}

impl DataOrder {
    pub(crate) fn new(n: usize, batch_size: usize, shuffle: bool, seed: u64) -> Self {
        DataOrder {
            n,
            batch_size,
            shuffle,
            seed,
            epoch: None,
        }
    }

    fn steps_per_epoch(&self) -> u64 {
        self.n.div_ceil(self.batch_size) as u64
    }

    /// The epoch (from 0) and the example indices of the step with index `step` (from 0).
    pub(crate) fn batch(&mut self, step: u64) -> (u64, &[usize]) {
        let per_epoch = self.steps_per_epoch();
        let epoch = step / per_epoch;
        let position = (step % per_epoch) as usize;
        if self.epoch.as_ref().map(|(e, _)| *e) != Some(epoch) {
            let order = if self.shuffle {
                derived_rng(self.seed, Stream::Epoch(epoch)).permutation(self.n)
            } else {
                (0..self.n).collect()
            };
            self.epoch = Some((epoch, order));
        }
        let order = self.epoch.as_ref().map_or(&[][..], |(_, o)| o.as_slice());
        let start = position * self.batch_size;
        let end = (start + self.batch_size).min(self.n);
        (epoch, &order[start..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_epoch_covers_every_example_once_and_epochs_differ() {
        let mut order = DataOrder::new(10, 4, true, 3);
        let epoch = |o: &mut DataOrder, e: u64| -> Vec<usize> {
            (3 * e..3 * e + 3)
                .flat_map(|s| o.batch(s).1.to_vec())
                .collect()
        };
        let first = epoch(&mut order, 0);
        let second = epoch(&mut order, 1);
        assert_ne!(first, second);
        for mut e in [first.clone(), second] {
            e.sort_unstable();
            assert_eq!(e, (0..10).collect::<Vec<_>>());
        }
        // Jumping straight to a later step gives the same batch as walking there.
        let mut fresh = DataOrder::new(10, 4, true, 3);
        assert_eq!(fresh.batch(1).1, &first[4..8]);
        assert_eq!(fresh.batch(2), (0, &first[8..10]));
    }

    #[test]
    fn unshuffled_order_is_the_index_order() {
        let mut order = DataOrder::new(5, 2, false, 0);
        assert_eq!(order.batch(4), (1, &[2, 3][..]));
    }
}
