//! Sort: read a list of real numbers, then output their positions in ascending order.
//!
//! A sequence holds `m` numbers, `m` uniform in `min_len..=max_len` (2..=15), drawn from a
//! standard normal distribution (redrawn in the unlikely case of a tie). It takes `2m` steps:
//!
//! - steps `0..m` read the numbers, one per step, as a size-2 input vector: the number, and a
//!   flag that is 1 on the last number and 0 otherwise; these steps have no target;
//! - steps `m..2m` have zero inputs, and step `m + j` has as target the (0-based) position in
//!   the input of the `j`-th smallest number: one `max_len`-way classification.
//!
//! Sequences are padded to `T = 2·max_len` steps. Difficulty: `m`, the numbers to sort (also
//! the `step_difficulty` of each of the `2m` steps).

use super::{check_dims, check_error};
use crate::data::{standard_normal, SequenceDims, SequenceSet};
use crate::{Error, Result};
use pact::Rng;

/// The settings of a sort set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortConfig {
    /// The fewest numbers (at least 2).
    pub min_len: usize,
    /// The most numbers (`min_len..`): the difficulty control; also the classes.
    pub max_len: usize,
}

impl Default for SortConfig {
    /// Graves' setting: 2 to 15 numbers.
    fn default() -> Self {
        SortConfig {
            min_len: 2,
            max_len: 15,
        }
    }
}

impl SortConfig {
    /// The dimensions of an `n`-example set.
    pub fn dims(&self, n: usize) -> SequenceDims {
        SequenceDims {
            examples: n,
            steps: 2 * self.max_len,
            input_size: 2,
            outputs_per_step: 1,
            num_classes: self.max_len,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.min_len < 2 || self.min_len > self.max_len || self.max_len > 10_000 {
            return Err(Error::InvalidInput(format!(
                "sort: need 2 <= min_len <= max_len <= 10000, got {} and {}",
                self.min_len, self.max_len
            )));
        }
        Ok(())
    }
}

/// Generates `n` sort sequences, checked with [`check`].
///
/// ```
/// use pact_models::data::tasks::sort::{self, SortConfig};
/// let config = SortConfig { min_len: 2, max_len: 4 };
/// let set = sort::generate(10, &config, &mut pact::Rng::seed(0))?;
/// assert_eq!((set.steps, set.input_size, set.num_classes), (8, 2, 4));
/// assert!(set.difficulty.iter().all(|&m| (2..=4).contains(&m)));
/// sort::check(&set)?;
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn generate(n: usize, config: &SortConfig, rng: &mut Rng) -> Result<SequenceSet> {
    config.validate()?;
    let dims = config.dims(n);
    let t_max = dims.steps;
    let mut set = SequenceSet::zeros("sort", dims);
    for i in 0..n {
        let m = config.min_len + rng.below(config.max_len - config.min_len + 1);
        let mut values: Vec<f32> = Vec::with_capacity(m);
        while values.len() < m {
            let v = standard_normal(rng) as f32;
            if !values.contains(&v) {
                values.push(v);
            }
        }
        let mut order: Vec<usize> = (0..m).collect();
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        for (t, &v) in values.iter().enumerate() {
            let row = i * t_max + t;
            set.inputs[2 * row] = v;
            set.inputs[2 * row + 1] = f32::from(u8::from(t + 1 == m));
        }
        for (j, &pos) in order.iter().enumerate() {
            let row = i * t_max + m + j;
            set.targets[row] = pos;
            set.mask[row] = true;
        }
        set.lengths[i] = 2 * m;
        set.difficulty[i] = m;
        set.step_difficulty[i * t_max..i * t_max + 2 * m].fill(m);
    }
    check(&set)?;
    Ok(set)
}

/// Checks a sort set: the end flag marks the last number, the output phase has zero inputs,
/// its targets form a permutation of the input positions along which the numbers never
/// decrease (compared pairwise, not by re-sorting), and the difficulties are the lengths.
pub fn check(set: &SequenceSet) -> Result<()> {
    let want = SequenceDims {
        examples: set.len(),
        steps: set.steps,
        input_size: 2,
        outputs_per_step: 1,
        num_classes: set.steps / 2,
    };
    check_dims(set, "sort", want)?;
    let t_max = set.steps;
    for n in 0..set.len() {
        let len = set.lengths[n];
        let m = len / 2;
        let fail = |msg: String| Err(check_error("sort", n, None, msg));
        if len % 2 != 0 || m < 2 {
            return fail(format!("length {len} is not 2m with m >= 2"));
        }
        let values: Vec<f32> = (0..m).map(|t| set.step_input(n, t)[0]).collect();
        for t in 0..t_max {
            let x = set.step_input(n, t);
            let (want_flag, want_mask) = (t + 1 == m, t >= m && t < len);
            if t >= m && x != [0.0, 0.0] {
                return fail(format!("step {t}: input after the numbers is not zero"));
            }
            if (t < m && (x[1] == 1.0) != want_flag) || (x[1] != 0.0 && x[1] != 1.0) {
                return fail(format!("step {t}: wrong end flag {}", x[1]));
            }
            if t < m && !x[0].is_finite() {
                return fail(format!("step {t}: number {} is not finite", x[0]));
            }
            if set.has_target(n, t) != want_mask {
                return fail(format!("step {t}: target mask should be {want_mask}"));
            }
            let want_d = if t < len { m } else { 0 };
            if set.step_difficulty[n * t_max + t] != want_d {
                return fail(format!("step {t}: step difficulty should be {want_d}"));
            }
        }
        let targets: Vec<usize> = (m..len).map(|t| set.step_targets(n, t)[0]).collect();
        let mut seen = vec![false; m];
        for &p in &targets {
            if p >= m || std::mem::replace(&mut seen[p], true) {
                return fail(format!(
                    "targets {targets:?} are not a permutation of 0..{m}"
                ));
            }
        }
        if let Some(w) = targets.windows(2).find(|w| values[w[0]] > values[w[1]]) {
            return fail(format!(
                "targets put {} (position {}) before {} (position {})",
                values[w[0]], w[0], values[w[1]], w[1]
            ));
        }
        if set.difficulty[n] != m {
            return fail(format!("difficulty {} but {m} numbers", set.difficulty[n]));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_made_example() {
        // Numbers (0.5, -1, 2): sorted positions 1, 0, 2.
        let config = SortConfig {
            min_len: 2,
            max_len: 3,
        };
        let mut set = SequenceSet::zeros("sort", config.dims(1));
        set.inputs[..6].copy_from_slice(&[0.5, 0.0, -1.0, 0.0, 2.0, 1.0]);
        set.targets[3..6].copy_from_slice(&[1, 0, 2]);
        set.mask[3..6].fill(true);
        set.lengths[0] = 6;
        set.difficulty[0] = 3;
        set.step_difficulty.fill(3);
        check(&set).unwrap();
        set.targets[3..6].copy_from_slice(&[0, 1, 2]);
        assert!(check(&set).unwrap_err().to_string().contains("before"));
        set.targets[3..6].copy_from_slice(&[1, 1, 2]);
        assert!(check(&set).unwrap_err().to_string().contains("permutation"));
    }

    #[test]
    fn difficulty_control_and_determinism() {
        let config = SortConfig {
            min_len: 3,
            max_len: 5,
        };
        let a = generate(60, &config, &mut Rng::seed(8)).unwrap();
        assert_eq!(a, generate(60, &config, &mut Rng::seed(8)).unwrap());
        for m in 3..=5 {
            assert!(a.difficulty.contains(&m));
        }
        assert!(a
            .lengths
            .iter()
            .zip(&a.difficulty)
            .all(|(&l, &m)| l == 2 * m));
        // Roughly standard normal numbers.
        let xs: Vec<f32> = (0..a.len())
            .flat_map(|n| (0..a.difficulty[n]).map(move |t| (n, t)))
            .map(|(n, t)| a.step_input(n, t)[0])
            .collect();
        let mean = xs.iter().sum::<f32>() / xs.len() as f32;
        assert!(mean.abs() < 0.3, "{mean}");
        assert!(generate(
            1,
            &SortConfig {
                min_len: 1,
                max_len: 3
            },
            &mut Rng::seed(0)
        )
        .is_err());
    }

    #[test]
    fn check_catches_a_wrong_flag() {
        let mut set = generate(5, &SortConfig::default(), &mut Rng::seed(9)).unwrap();
        set.inputs[1] = 1.0; // flag on the first of at least two numbers
        assert!(check(&set).is_err());
    }
}
