//! Parity: is the number of `+1` entries of a vector odd?
//!
//! Each example is one step (T = 1) holding a vector of B elements (Graves used B = 64): a
//! random number `k` of them, drawn uniformly from `min_nonzero..=max_nonzero` (1..=B by
//! default), sit at random positions and are set to `+1` or `−1` with equal probability; the
//! rest are 0. The target (one binary classification) is 1 if the number of `+1` entries is
//! odd, else 0. The difficulty is `k`: the more non-zero entries, the more computation the
//! parity takes.

use super::{check_dims, check_error};
use crate::data::{SequenceDims, SequenceSet};
use crate::{Error, Result};
use pact::Rng;

/// The settings of a parity set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParityConfig {
    /// The vector size B.
    pub size: usize,
    /// The fewest non-zero entries (at least 1).
    pub min_nonzero: usize,
    /// The most non-zero entries (`min_nonzero..=size`): the difficulty control.
    pub max_nonzero: usize,
}

impl ParityConfig {
    /// Vectors of `size` elements with 1 to `size` non-zero entries.
    pub fn new(size: usize) -> Self {
        ParityConfig {
            size,
            min_nonzero: 1,
            max_nonzero: size,
        }
    }

    /// The dimensions of an `n`-example set.
    pub fn dims(&self, n: usize) -> SequenceDims {
        SequenceDims {
            examples: n,
            steps: 1,
            input_size: self.size,
            outputs_per_step: 1,
            num_classes: 2,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.size == 0
            || self.min_nonzero == 0
            || self.min_nonzero > self.max_nonzero
            || self.max_nonzero > self.size
        {
            return Err(Error::InvalidInput(format!(
                "parity: need 1 <= min_nonzero <= max_nonzero <= size, got {} <= {} <= {}",
                self.min_nonzero, self.max_nonzero, self.size
            )));
        }
        Ok(())
    }
}

impl Default for ParityConfig {
    /// Graves' setting: B = 64, 1 to 64 non-zero entries.
    fn default() -> Self {
        ParityConfig::new(64)
    }
}

/// Generates `n` parity examples, checked with [`check`].
///
/// ```
/// use pact_models::data::tasks::parity::{self, ParityConfig};
/// let config = ParityConfig { max_nonzero: 3, ..ParityConfig::new(16) };
/// let set = parity::generate(100, &config, &mut pact::Rng::seed(0))?;
/// assert_eq!((set.steps, set.input_size, set.num_classes), (1, 16, 2));
/// assert!(set.difficulty.iter().all(|&k| (1..=3).contains(&k)));
/// parity::check(&set)?;
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn generate(n: usize, config: &ParityConfig, rng: &mut Rng) -> Result<SequenceSet> {
    config.validate()?;
    let b = config.size;
    let mut set = SequenceSet::zeros("parity", config.dims(n));
    for i in 0..n {
        let k = config.min_nonzero + rng.below(config.max_nonzero - config.min_nonzero + 1);
        let positions = rng.permutation(b);
        let mut ones = 0;
        for &p in &positions[..k] {
            let v = if rng.below(2) == 1 { 1.0 } else { -1.0 };
            ones += usize::from(v > 0.0);
            set.inputs[i * b + p] = v;
        }
        set.targets[i] = ones % 2;
        set.mask[i] = true;
        set.lengths[i] = 1;
        set.difficulty[i] = k;
        set.step_difficulty[i] = k;
    }
    check(&set)?;
    Ok(set)
}

/// Checks a parity set: entries in {−1, 0, +1} with at least one non-zero, the target is the
/// parity of the `+1` count (computed here by toggling a bit), and the difficulty is the
/// non-zero count.
pub fn check(set: &SequenceSet) -> Result<()> {
    check_dims(
        set,
        "parity",
        ParityConfig::new(set.input_size).dims(set.len()),
    )?;
    for n in 0..set.len() {
        let x = set.input(n);
        if let Some(v) = x.iter().find(|v| ![-1.0, 0.0, 1.0].contains(*v)) {
            return Err(check_error(
                "parity",
                n,
                None,
                format!("entry {v} is not -1, 0 or 1"),
            ));
        }
        let odd = x.iter().fold(false, |odd, &v| odd ^ (v == 1.0));
        let nonzero = x.iter().filter(|&&v| v != 0.0).count();
        if nonzero == 0 {
            return Err(check_error("parity", n, None, "no non-zero entries"));
        }
        if set.targets[n] != usize::from(odd) {
            return Err(check_error(
                "parity",
                n,
                None,
                format!(
                    "target {} but the parity is {}",
                    set.targets[n],
                    u8::from(odd)
                ),
            ));
        }
        if !set.mask[n] || set.lengths[n] != 1 {
            return Err(check_error(
                "parity",
                n,
                None,
                "the single step must have a target",
            ));
        }
        if set.difficulty[n] != nonzero || set.step_difficulty[n] != nonzero {
            return Err(check_error(
                "parity",
                n,
                None,
                format!(
                    "difficulty {} but {nonzero} non-zero entries",
                    set.difficulty[n]
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_parities_and_difficulty_is_controlled() {
        let config = ParityConfig {
            size: 8,
            min_nonzero: 2,
            max_nonzero: 4,
        };
        let set = generate(300, &config, &mut Rng::seed(1)).unwrap();
        for n in 0..set.len() {
            let x = set.input(n);
            let nz = x.iter().filter(|&&v| v != 0.0).count();
            let plus = x.iter().filter(|&&v| v == 1.0).count();
            assert!((2..=4).contains(&nz));
            assert_eq!(set.targets[n], plus % 2);
        }
        // Every allowed difficulty occurs, and both labels.
        for k in 2..=4 {
            assert!(set.difficulty.contains(&k));
        }
        let ones = set.targets.iter().sum::<usize>();
        assert!(ones > 100 && ones < 200, "{ones}");
    }

    #[test]
    fn check_catches_a_wrong_label() {
        let mut set = generate(10, &ParityConfig::new(6), &mut Rng::seed(2)).unwrap();
        set.targets[3] ^= 1;
        let msg = check(&set).unwrap_err().to_string();
        assert!(msg.contains("example 3"), "{msg}");
        let mut set = generate(10, &ParityConfig::new(6), &mut Rng::seed(2)).unwrap();
        set.difficulty[0] += 1;
        assert!(check(&set).is_err());
    }

    #[test]
    fn deterministic_and_rejects_bad_configs() {
        let c = ParityConfig::default();
        assert_eq!(
            generate(5, &c, &mut Rng::seed(7)).unwrap(),
            generate(5, &c, &mut Rng::seed(7)).unwrap()
        );
        for bad in [
            ParityConfig::new(0),
            ParityConfig {
                min_nonzero: 0,
                ..ParityConfig::new(4)
            },
            ParityConfig {
                max_nonzero: 5,
                ..ParityConfig::new(4)
            },
            ParityConfig {
                min_nonzero: 3,
                max_nonzero: 2,
                size: 4,
            },
        ] {
            assert!(generate(1, &bad, &mut Rng::seed(0)).is_err(), "{bad:?}");
        }
    }
}
