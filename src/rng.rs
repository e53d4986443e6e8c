//! The seeded random-number generator that every random draw in `pact` goes through.
//!
//! One generator, passed explicitly, makes runs reproducible: the same seed gives the same
//! samples, shuffles and augmentations. Its state can be saved into a checkpoint and restored,
//! so a resumed run continues the exact random stream.

use rand::{Rng as _, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

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
        }
    }

    /// A new independent generator derived from this one (advances this one).
    pub fn fork(&mut self) -> Self {
        Rng {
            inner: ChaCha8Rng::seed_from_u64(self.inner.next_u64()),
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
        Rng { inner }
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
