//! Addition: output the running sum of a sequence of decimal numbers.
//!
//! A sequence has a random length `1..=max_len` (5). Each step reads one number of `D` digits,
//! `D` uniform in `1..=max_digits` (5), each digit uniform in 0–9 (so leading zeros occur). The
//! input vector has `10·digit_slots` elements (50 by default): the one-hot codes of the digits,
//! most significant first, then zeros.
//!
//! From the second step on, the targets are the digits of the cumulative sum of all numbers so
//! far, most significant first and without leading zeros, followed by the end marker
//! [`END`] (class 10) in the remaining positions: `K` simultaneous 11-way classifications,
//! where `K` is the number of digits of the largest possible sum (6 by default). The first
//! step has no target (its mask is off), as no sum has been formed yet.
//!
//! Difficulty: the digits read at a step (`step_difficulty`) and in total (`difficulty`).

use super::{check_dims, check_error};
use crate::data::{SequenceDims, SequenceSet};
use crate::{Error, Result};
use pact::Rng;

/// The class marking positions past the end of the sum.
pub const END: usize = 10;

/// The settings of an addition set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdditionConfig {
    /// The longest sequence (lengths are uniform in `1..=max_len`); also T.
    pub max_len: usize,
    /// Digit positions per input vector (D = 10·digit_slots), at most 18.
    pub digit_slots: usize,
    /// The most digits per number (`1..=digit_slots`): the difficulty control.
    pub max_digits: usize,
}

impl Default for AdditionConfig {
    /// Graves' setting: 1 to 5 numbers of 1 to 5 digits, inputs of size 50, 6 output digits.
    fn default() -> Self {
        AdditionConfig {
            max_len: 5,
            digit_slots: 5,
            max_digits: 5,
        }
    }
}

impl AdditionConfig {
    /// K: the digits of the largest possible sum, `max_len · (10^digit_slots − 1)`.
    pub fn output_digits(&self) -> usize {
        let largest = u32::try_from(self.digit_slots)
            .ok()
            .and_then(|d| 10u128.checked_pow(d))
            .and_then(|p| (self.max_len as u128).checked_mul(p - 1))
            .unwrap_or(u128::MAX);
        largest.max(1).to_string().len()
    }

    /// The dimensions of an `n`-example set.
    pub fn dims(&self, n: usize) -> SequenceDims {
        SequenceDims {
            examples: n,
            steps: self.max_len,
            input_size: 10 * self.digit_slots,
            outputs_per_step: self.output_digits(),
            num_classes: 11,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.max_len == 0
            || self.max_len > 100_000
            || self.digit_slots > 18
            || self.max_digits == 0
            || self.max_digits > self.digit_slots
        {
            return Err(Error::InvalidInput(format!(
                "addition: need 1 <= max_len <= 100000 and 1 <= max_digits <= digit_slots <= 18, \
                 got max_len {}, max_digits {}, digit_slots {}",
                self.max_len, self.max_digits, self.digit_slots
            )));
        }
        Ok(())
    }
}

/// Generates `n` addition sequences, checked with [`check`].
///
/// ```
/// use pact_models::data::tasks::addition::{self, AdditionConfig};
/// let set = addition::generate(20, &AdditionConfig::default(), &mut pact::Rng::seed(0))?;
/// assert_eq!((set.steps, set.input_size, set.outputs_per_step, set.num_classes), (5, 50, 6, 11));
/// assert!(!set.has_target(0, 0)); // no sum at the first step
/// addition::check(&set)?;
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn generate(n: usize, config: &AdditionConfig, rng: &mut Rng) -> Result<SequenceSet> {
    config.validate()?;
    let dims = config.dims(n);
    let (t_max, d, k) = (dims.steps, dims.input_size, dims.outputs_per_step);
    let mut set = SequenceSet::zeros("addition", dims);
    for i in 0..n {
        let len = 1 + rng.below(config.max_len);
        set.lengths[i] = len;
        let mut sum: u128 = 0;
        for t in 0..len {
            let row = i * t_max + t;
            let digits = 1 + rng.below(config.max_digits);
            let mut number: u128 = 0;
            for j in 0..digits {
                let digit = rng.below(10);
                set.inputs[row * d + 10 * j + digit] = 1.0;
                number = number * 10 + digit as u128;
            }
            sum += number;
            set.step_difficulty[row] = digits;
            set.difficulty[i] += digits;
            if t == 0 {
                continue;
            }
            set.mask[row] = true;
            let text = sum.to_string();
            let out = &mut set.targets[row * k..(row + 1) * k];
            for (slot, o) in out.iter_mut().enumerate() {
                *o = text
                    .as_bytes()
                    .get(slot)
                    .map_or(END, |&c| usize::from(c - b'0'));
            }
        }
    }
    check(&set)?;
    Ok(set)
}

/// Checks an addition set: one-hot digit codes filling a prefix of the slots, the running sum
/// recomputed by schoolbook addition on digit vectors and compared with the targets (first
/// step unmasked, all later steps masked), and the difficulties.
pub fn check(set: &SequenceSet) -> Result<()> {
    let slots = set.input_size / 10;
    let want = SequenceDims {
        examples: set.len(),
        steps: set.steps,
        input_size: 10 * slots,
        outputs_per_step: set.outputs_per_step,
        num_classes: 11,
    };
    check_dims(set, "addition", want)?;
    let err = |n, t, m: String| Err(check_error("addition", n, Some(t), m));
    for n in 0..set.len() {
        let len = set.lengths[n];
        if len == 0 {
            return Err(check_error("addition", n, None, "empty sequence"));
        }
        // The running sum, least significant digit first.
        let mut sum: Vec<u8> = Vec::new();
        let mut total = 0;
        for t in 0..set.steps {
            let x = set.step_input(n, t);
            let row = n * set.steps + t;
            if t >= len {
                if x.iter().any(|&v| v != 0.0) || set.step_difficulty[row] != 0 {
                    return err(n, t, "padding step is not zero".into());
                }
                continue;
            }
            let mut digits = Vec::new();
            let mut ended = false;
            for chunk in x.chunks(10) {
                let hot: Vec<u8> = (0..10u8).filter(|&j| chunk[j as usize] != 0.0).collect();
                match (hot.as_slice(), ended) {
                    ([], _) => ended = true,
                    ([j], false) if chunk[*j as usize] == 1.0 => digits.push(*j),
                    _ => return err(n, t, "digit codes are not one-hot in a prefix".into()),
                }
            }
            if digits.is_empty() {
                return err(n, t, "no digits".into());
            }
            if set.step_difficulty[row] != digits.len() {
                return err(
                    n,
                    t,
                    format!("step difficulty is not the {} digits", digits.len()),
                );
            }
            total += digits.len();
            // Schoolbook addition of the new number (reversed) into the running sum.
            let mut carry = 0;
            for (p, &dgt) in digits.iter().rev().enumerate() {
                if p == sum.len() {
                    sum.push(0);
                }
                let s = sum[p] + dgt + carry;
                sum[p] = s % 10;
                carry = s / 10;
            }
            let mut p = digits.len();
            while carry > 0 {
                if p == sum.len() {
                    sum.push(0);
                }
                let s = sum[p] + carry;
                sum[p] = s % 10;
                carry = s / 10;
                p += 1;
            }
            if t == 0 {
                if set.has_target(n, t) {
                    return err(n, t, "the first step must have no target".into());
                }
                continue;
            }
            // Most significant first, leading zeros dropped (but "0" for zero).
            let mut expect: Vec<usize> = sum.iter().rev().map(|&d| usize::from(d)).collect();
            let first = expect
                .iter()
                .position(|&d| d != 0)
                .unwrap_or(expect.len() - 1);
            expect.drain(..first);
            if expect.len() > set.outputs_per_step {
                return err(
                    n,
                    t,
                    "the sum has more digits than there are outputs".into(),
                );
            }
            expect.resize(set.outputs_per_step, END);
            if !set.has_target(n, t) || set.step_targets(n, t) != expect.as_slice() {
                return err(
                    n,
                    t,
                    format!(
                        "targets {:?} but the sum gives {expect:?}",
                        set.step_targets(n, t)
                    ),
                );
            }
        }
        if set.difficulty[n] != total {
            return Err(check_error(
                "addition",
                n,
                None,
                format!("difficulty {} but {total} digits", set.difficulty[n]),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_made_example() {
        // 95 then 7: no target, then 102 = [1, 0, 2, END].
        let config = AdditionConfig {
            max_len: 2,
            digit_slots: 2,
            max_digits: 2,
        };
        assert_eq!(config.output_digits(), 3); // 2 * 99 = 198
        let mut set = SequenceSet::zeros("addition", config.dims(1));
        set.inputs[9] = 1.0;
        set.inputs[10 + 5] = 1.0;
        set.inputs[20 + 7] = 1.0;
        set.lengths[0] = 2;
        set.mask[1] = true;
        set.targets[3..6].copy_from_slice(&[1, 0, 2]);
        set.difficulty[0] = 3;
        set.step_difficulty[..2].copy_from_slice(&[2, 1]);
        check(&set).unwrap();
        set.targets[5] = 3;
        assert!(check(&set).is_err());
    }

    #[test]
    fn targets_are_running_sums_and_difficulty_is_controlled() {
        let config = AdditionConfig {
            max_len: 4,
            digit_slots: 3,
            max_digits: 2,
        };
        let set = generate(100, &config, &mut Rng::seed(5)).unwrap();
        assert_eq!(set.outputs_per_step, 4); // 4 * 999 = 3996
        for n in 0..set.len() {
            let mut sum = 0;
            for t in 0..set.lengths[n] {
                let x = set.step_input(n, t);
                assert!(x[20..].iter().all(|&v| v == 0.0)); // at most 2 digits
                let number = x
                    .chunks(10)
                    .take(set.step_difficulty[n * 4 + t])
                    .fold(0, |acc, c| {
                        acc * 10 + c.iter().position(|&v| v == 1.0).unwrap()
                    });
                sum += number;
                if t > 0 {
                    let decoded = set
                        .step_targets(n, t)
                        .iter()
                        .take_while(|&&c| c != END)
                        .fold(0, |acc, &c| acc * 10 + c);
                    assert_eq!(decoded, sum);
                }
            }
        }
        assert!(set.step_difficulty.iter().all(|&d| d <= 2));
    }

    #[test]
    fn check_catches_corruption() {
        let set = generate(30, &AdditionConfig::default(), &mut Rng::seed(6)).unwrap();
        let n = (0..set.len()).find(|&n| set.lengths[n] > 1).unwrap();
        let mut bad = set.clone();
        let k = set.outputs_per_step;
        bad.targets[(n * set.steps + 1) * k] = (bad.targets[(n * set.steps + 1) * k] + 1) % 10;
        assert!(check(&bad).is_err());
        let mut bad = set;
        bad.mask[0] = true;
        assert!(check(&bad).is_err());
        let bad_config = AdditionConfig {
            max_digits: 6,
            ..AdditionConfig::default()
        };
        assert!(generate(1, &bad_config, &mut Rng::seed(0)).is_err());
    }
}
