//! The seeded random-number generator that every random draw in `pact` goes through.
//!
//! One generator, passed explicitly, makes runs reproducible: the same seed gives the same
//! samples, shuffles and augmentations. Its state can be saved into a checkpoint and restored,
//! so a resumed run continues the exact random stream.
//!
//! In a data-parallel run each replica computes on a [`Shard`] of the batch. A generator told
//! its shard ([`Rng::set_shard`]) draws, for every batched draw, the values of the *whole*
//! batch, exactly as one process would, and keeps the rows of its own examples: the draws stay
//! tied to the examples, every replica's stream stays at the same position, and the run does
//! not depend on how many replicas share it.

use rand::{Rng as _, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// The examples of a batch that one replica of a data-parallel run computes on: positions
/// `start..start + len` of a batch of `total`.
///
/// A generator told its shard ([`Rng::set_shard`]) draws, for every batched draw, the values
/// of the *whole* batch, exactly as one process would, and keeps the rows of its own
/// examples: the draws stay tied to the examples, every replica's generator stays at the same
/// position, and the run does not depend on how many replicas share it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// The position of this replica's first example in the batch.
    pub start: usize,
    /// The number of this replica's examples.
    pub len: usize,
    /// The number of examples of the whole batch.
    pub total: usize,
}

impl Shard {
    /// Replica `rank`'s part of a batch of `total` examples split among `replicas` (`K`) as
    /// evenly as possible, in position order: part `r` is `⌊r·total/K⌋..⌊(r+1)·total/K⌋`.
    ///
    /// ```
    /// use pact::Shard;
    /// let parts: Vec<usize> = (0..3).map(|r| Shard::of(10, r, 3).len).collect();
    /// assert_eq!(parts, [3, 3, 4]);
    /// assert_eq!(Shard::of(10, 2, 3).start, 6);
    /// ```
    pub fn of(total: usize, rank: usize, replicas: usize) -> Shard {
        let k = replicas.max(1);
        let start = total * rank / k;
        let end = total * (rank + 1) / k;
        Shard {
            start,
            len: end.saturating_sub(start),
            total,
        }
    }

    /// For a batched draw of shape `dims` on this shard: the shape of the same draw for the
    /// whole batch and the range of its elements (row-major) that belong to this shard. The
    /// first axis must run over this shard's examples, each owning the same number of
    /// consecutive rows.
    pub fn whole_batch_draw(
        &self,
        dims: &[usize],
        op: &str,
    ) -> crate::Result<(Vec<usize>, Range<usize>)> {
        let rows = dims.first().copied().unwrap_or(0);
        if self.len == 0 || rows % self.len != 0 {
            return Err(crate::Error::invalid(
                "rng",
                format!(
                    "{op}: a draw of shape {dims:?} on a shard of {} examples (of {}): the first \
                     axis must run over the shard's examples",
                    self.len, self.total
                ),
            ));
        }
        let per_example = rows / self.len;
        let inner: usize = dims[1..].iter().product();
        let mut whole = dims.to_vec();
        whole[0] = self.total * per_example;
        let step = per_example * inner;
        Ok((whole, self.start * step..(self.start + self.len) * step))
    }
}

/// A seedable, checkpointable random-number generator (ChaCha8).
///
/// ```
/// let mut a = pact::Rng::seed(7);
/// let mut b = pact::Rng::seed(7);
/// assert_eq!(a.uniform(), b.uniform());
/// ```
#[derive(Clone, Debug)]
pub struct Rng {
    inner: ChaCha8Rng,
    shard: Option<Shard>,
}

/// The complete state of an [`Rng`], for checkpoints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    /// The seed the stream started from.
    pub seed: [u8; 32],
    /// The stream number.
    pub stream: u64,
    /// The position in the stream, in 32-bit words.
    pub word_pos: u128,
}

impl Rng {
    /// A generator started from `seed`.
    pub fn seed(seed: u64) -> Self {
        Rng {
            inner: ChaCha8Rng::seed_from_u64(seed),
            shard: None,
        }
    }

    /// A new independent generator derived from this one (advances this one).
    pub fn fork(&mut self) -> Self {
        Rng {
            inner: ChaCha8Rng::seed_from_u64(self.inner.next_u64()),
            shard: None,
        }
    }

    /// The next 64 random bits (a seed for a generator of one's own).
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Makes batched draws whole-batch draws restricted to `shard` (see [`Shard`]), or ends
    /// that with `None`. Batched draws are the
    /// `Tensor::rand_*` constructors, [`Rng::uniform_per_example`] and whatever builds on
    /// them; scalar draws ([`Rng::uniform`], [`Rng::below`]) are not affected. The shard is
    /// not part of [`Rng::state`].
    pub fn set_shard(&mut self, shard: Option<Shard>) {
        self.shard = shard;
    }

    /// The shard set by [`Rng::set_shard`].
    pub fn shard(&self) -> Option<Shard> {
        self.shard
    }

    /// `n` draws from U(0, 1), the same as `n` calls of [`Rng::uniform`]; on a shard, `n`
    /// counts this shard's examples' draws (a multiple of them) and the values are those of
    /// the whole batch's draws at this shard's positions.
    ///
    /// ```
    /// use pact::{Rng, Shard};
    /// let whole = Rng::seed(1).uniform_per_example(6)?;
    /// let mut second = Rng::seed(1);
    /// second.set_shard(Some(Shard { start: 2, len: 2, total: 6 }));
    /// assert_eq!(second.uniform_per_example(2)?, whole[2..4]);
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn uniform_per_example(&mut self, n: usize) -> crate::Result<Vec<f64>> {
        match self.shard {
            None => Ok((0..n).map(|_| self.uniform()).collect()),
            Some(shard) => {
                let (whole, keep) = shard.whole_batch_draw(&[n], "uniform_per_example")?;
                let all: Vec<f64> = (0..whole[0]).map(|_| self.uniform()).collect();
                Ok(all[keep].to_vec())
            }
        }
    }

    /// The state, to store in a checkpoint.
    pub fn state(&self) -> RngState {
        RngState {
            seed: self.inner.get_seed(),
            stream: self.inner.get_stream(),
            word_pos: self.inner.get_word_pos(),
        }
    }

    /// A generator restored from a saved state; it continues exactly where the saved one was.
    pub fn from_state(state: &RngState) -> Self {
        let mut inner = ChaCha8Rng::from_seed(state.seed);
        inner.set_stream(state.stream);
        inner.set_word_pos(state.word_pos);
        Rng { inner, shard: None }
    }

    /// One draw from U(0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.inner.random::<f64>()
    }

    /// A uniform integer in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        self.inner.random_range(0..n.max(1))
    }

    /// A uniformly random permutation of `0..n` (Fisher–Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.below(i + 1);
            p.swap(i, j);
        }
        p
    }

    /// The underlying generator, for use with `rand` and `ndarray-rand` distributions.
    pub fn inner(&mut self) -> &mut ChaCha8Rng {
        &mut self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trip_continues_the_stream() {
        let mut a = Rng::seed(3);
        for _ in 0..17 {
            a.uniform();
        }
        let mut b = Rng::from_state(&a.state());
        for _ in 0..5 {
            assert_eq!(a.uniform(), b.uniform());
        }
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut r = Rng::seed(1);
        let mut p = r.permutation(50);
        p.sort_unstable();
        assert_eq!(p, (0..50).collect::<Vec<_>>());
    }
}
