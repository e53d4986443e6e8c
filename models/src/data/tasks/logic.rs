//! Logic: apply a chain of binary logic gates to two bits, carrying the result along a sequence.
//!
//! A sequence has a random length `1..=max_len` (10). Each step's input vector has
//! `2 + 10·gate_slots` elements (102 by default): two bits, then `gate_slots` chunks of 10. The
//! first `g` chunks, `g` drawn from `min_gates..=max_gates` (1..=10), hold a one-hot index into
//! the ten gates of [`GATE_NAMES`] (Graves' Table 1); the remaining chunks are zero.
//!
//! Writing `b0, b1` for the two bits and `T_1 … T_g` for the gates, the step's target is
//! `b_{g+1}` where `b_{i+1} = T_i(b_i, b_{i−1})`: each gate takes the newest bit as its first
//! argument P and the one before as Q. At the first step both bits are random and written in
//! elements 0 (b0) and 1 (b1). At later steps b1 is random and written in element 1, while
//! b0 is the previous step's target: element 0 is then always 0, so the network has to carry
//! the previous result itself. Every step has a target (one binary classification).
//!
//! Difficulty: the number of gates per step (`step_difficulty`) and in total (`difficulty`).

use super::{check_dims, check_error};
use crate::data::{SequenceDims, SequenceSet};
use crate::{Error, Result};
use pact::Rng;

/// The ten gates, by index: Graves' Table 1.
pub const GATE_NAMES: [&str; 10] = [
    "NOR", "Xq", "ABJ", "XOR", "NAND", "AND", "XNOR", "if/then", "then/if", "OR",
];

/// Truth tables: bit `2·P + Q` of `TRUTH[g]` is `T_g(P, Q)`.
const TRUTH: [u8; 10] = [
    0b0001, // NOR: only (0,0)
    0b0010, // Xq = ¬P ∧ Q: only (0,1)
    0b0100, // ABJ = P ∧ ¬Q: only (1,0)
    0b0110, // XOR
    0b0111, // NAND
    0b1000, // AND
    0b1001, // XNOR
    0b1011, // if/then = P → Q: all but (1,0)
    0b1101, // then/if = Q → P: all but (0,1)
    0b1110, // OR
];

/// Gate `g` applied to `(p, q)` (the generator's table lookup).
pub fn apply_gate(g: usize, p: bool, q: bool) -> bool {
    (TRUTH[g] >> (2 * usize::from(p) + usize::from(q))) & 1 == 1
}

/// The settings of a logic set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogicConfig {
    /// The longest sequence (lengths are uniform in `1..=max_len`); also T.
    pub max_len: usize,
    /// The gate chunks per input vector (D = 2 + 10·gate_slots).
    pub gate_slots: usize,
    /// The fewest gates per step (at least 1).
    pub min_gates: usize,
    /// The most gates per step (`min_gates..=gate_slots`): the difficulty control.
    pub max_gates: usize,
}

impl Default for LogicConfig {
    /// Graves' setting: sequences of 1 to 10 vectors of size 102, 1 to 10 gates each.
    fn default() -> Self {
        LogicConfig {
            max_len: 10,
            gate_slots: 10,
            min_gates: 1,
            max_gates: 10,
        }
    }
}

impl LogicConfig {
    /// The dimensions of an `n`-example set.
    pub fn dims(&self, n: usize) -> SequenceDims {
        SequenceDims {
            examples: n,
            steps: self.max_len,
            input_size: 2 + 10 * self.gate_slots,
            outputs_per_step: 1,
            num_classes: 2,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.max_len == 0
            || self.min_gates == 0
            || self.min_gates > self.max_gates
            || self.max_gates > self.gate_slots
        {
            return Err(Error::InvalidInput(format!(
                "logic: need max_len >= 1 and 1 <= min_gates <= max_gates <= gate_slots, got \
                 max_len {} and {} <= {} <= {}",
                self.max_len, self.min_gates, self.max_gates, self.gate_slots
            )));
        }
        Ok(())
    }
}

/// Generates `n` logic sequences, checked with [`check`].
///
/// ```
/// use pact_models::data::tasks::logic::{self, LogicConfig};
/// let config = LogicConfig { max_gates: 2, ..LogicConfig::default() };
/// let set = logic::generate(50, &config, &mut pact::Rng::seed(0))?;
/// assert_eq!((set.steps, set.input_size), (10, 102));
/// assert!(set.step_difficulty.iter().all(|&g| g <= 2));
/// logic::check(&set)?;
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn generate(n: usize, config: &LogicConfig, rng: &mut Rng) -> Result<SequenceSet> {
    config.validate()?;
    let dims = config.dims(n);
    let (t_max, d) = (dims.steps, dims.input_size);
    let mut set = SequenceSet::zeros("logic", dims);
    for i in 0..n {
        let len = 1 + rng.below(config.max_len);
        set.lengths[i] = len;
        let mut prev = rng.below(2) == 1; // b0 of the first step
        for t in 0..len {
            let x = &mut set.inputs[(i * t_max + t) * d..(i * t_max + t + 1) * d];
            if t == 0 {
                x[0] = f32::from(u8::from(prev));
            }
            let b1 = rng.below(2) == 1;
            x[1] = f32::from(u8::from(b1));
            let g = config.min_gates + rng.below(config.max_gates - config.min_gates + 1);
            let (mut older, mut newer) = (prev, b1);
            for chunk in 0..g {
                let gate = rng.below(GATE_NAMES.len());
                x[2 + 10 * chunk + gate] = 1.0;
                let next = apply_gate(gate, newer, older);
                older = newer;
                newer = next;
            }
            set.targets[i * t_max + t] = usize::from(newer);
            set.mask[i * t_max + t] = true;
            set.step_difficulty[i * t_max + t] = g;
            set.difficulty[i] += g;
            prev = newer;
        }
    }
    check(&set)?;
    Ok(set)
}

/// Gate `g` on `(p, q)` by its logical formula (the checker's independent route).
fn gate_formula(g: usize, p: bool, q: bool) -> bool {
    match GATE_NAMES[g] {
        "NOR" => !(p || q),
        "Xq" => !p && q,
        "ABJ" => p && !q,
        "XOR" => p != q,
        "NAND" => !(p && q),
        "AND" => p && q,
        "XNOR" => p == q,
        "if/then" => !p || q,
        "then/if" => p || !q,
        _ => p || q, // OR
    }
}

/// Checks a logic set: input structure (bits, one-hot gate chunks filling a prefix, element 0
/// zero after the first step, padding zero), every target recomputed with the gates' logical
/// formulas, and the difficulties.
pub fn check(set: &SequenceSet) -> Result<()> {
    let slots = set.input_size.saturating_sub(2) / 10;
    let want = SequenceDims {
        examples: set.len(),
        steps: set.steps,
        input_size: 2 + 10 * slots,
        outputs_per_step: 1,
        num_classes: 2,
    };
    check_dims(set, "logic", want)?;
    let err = |n, t, m: String| Err(check_error("logic", n, Some(t), m));
    for n in 0..set.len() {
        let len = set.lengths[n];
        if len == 0 {
            return Err(check_error("logic", n, None, "empty sequence"));
        }
        let mut prev = false;
        let mut total = 0;
        for t in 0..set.steps {
            let x = set.step_input(n, t);
            if t >= len {
                if x.iter().any(|&v| v != 0.0) || set.step_difficulty[n * set.steps + t] != 0 {
                    return err(n, t, "padding step is not zero".into());
                }
                continue;
            }
            if let Some(v) = x.iter().find(|&&v| v != 0.0 && v != 1.0) {
                return err(n, t, format!("input value {v} is not 0 or 1"));
            }
            if t == 0 {
                prev = x[0] == 1.0;
            } else if x[0] != 0.0 {
                return err(n, t, "element 0 must be 0 after the first step".into());
            }
            let (mut older, mut newer) = (prev, x[1] == 1.0);
            let (mut gates, mut ended) = (0, false);
            for chunk in x[2..].chunks(10) {
                let hot: Vec<usize> = (0..10).filter(|&j| chunk[j] == 1.0).collect();
                match (hot.as_slice(), ended) {
                    ([], _) => ended = true,
                    ([g], false) => {
                        let next = gate_formula(*g, newer, older);
                        older = newer;
                        newer = next;
                        gates += 1;
                    }
                    ([_], true) => return err(n, t, "a gate follows an empty chunk".into()),
                    _ => return err(n, t, format!("a chunk has {} ones", hot.len())),
                }
            }
            if gates == 0 {
                return err(n, t, "no gates".into());
            }
            if !set.has_target(n, t) || set.step_targets(n, t)[0] != usize::from(newer) {
                return err(
                    n,
                    t,
                    format!(
                        "target {} but the gates give {}",
                        set.step_targets(n, t)[0],
                        u8::from(newer)
                    ),
                );
            }
            if set.step_difficulty[n * set.steps + t] != gates {
                return err(n, t, format!("step difficulty is not the {gates} gates"));
            }
            total += gates;
            prev = newer;
        }
        if set.difficulty[n] != total {
            return Err(check_error(
                "logic",
                n,
                None,
                format!("difficulty {} but {total} gates", set.difficulty[n]),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_formulas() {
        for (g, name) in GATE_NAMES.iter().enumerate() {
            for (p, q) in [(false, false), (false, true), (true, false), (true, true)] {
                assert_eq!(apply_gate(g, p, q), gate_formula(g, p, q), "{name}");
            }
        }
    }

    #[test]
    fn hand_made_example() {
        // One step: b0 = 1, b1 = 0, gates AND then NOR: b2 = AND(0, 1) = 0, b3 = NOR(0, 0) = 1.
        let config = LogicConfig {
            max_len: 1,
            gate_slots: 2,
            min_gates: 1,
            max_gates: 2,
        };
        let mut set = SequenceSet::zeros("logic", config.dims(1));
        set.inputs[0] = 1.0;
        set.inputs[2 + 5] = 1.0; // AND
        set.inputs[12] = 1.0; // NOR
        set.targets[0] = 1;
        set.mask[0] = true;
        set.lengths[0] = 1;
        set.difficulty[0] = 2;
        set.step_difficulty[0] = 2;
        check(&set).unwrap();
        set.targets[0] = 0;
        assert!(check(&set).is_err());
    }

    #[test]
    fn difficulty_control_and_structure() {
        let config = LogicConfig {
            max_len: 4,
            gate_slots: 5,
            min_gates: 2,
            max_gates: 3,
        };
        let set = generate(200, &config, &mut Rng::seed(3)).unwrap();
        assert_eq!(set.input_size, 52);
        for n in 0..set.len() {
            assert!((1..=4).contains(&set.lengths[n]));
            for t in 0..set.lengths[n] {
                let g = set.step_difficulty[n * 4 + t];
                assert!((2..=3).contains(&g));
                assert_eq!(set.step_input(n, t)[2..].iter().sum::<f32>(), g as f32);
            }
        }
        assert!(set.lengths.contains(&1) && set.lengths.contains(&4));
        let ones = set.targets.iter().sum::<usize>();
        assert!(ones > 50, "{ones}");
    }

    #[test]
    fn check_catches_corruption() {
        let set = generate(20, &LogicConfig::default(), &mut Rng::seed(4)).unwrap();
        let mut bad = set.clone();
        bad.targets[0] ^= 1;
        assert!(check(&bad).is_err());
        // Carrying b0 into the input after step 0 is not allowed.
        let n = (0..set.len()).find(|&n| set.lengths[n] > 1).unwrap();
        let mut bad = set.clone();
        bad.inputs[(n * set.steps + 1) * set.input_size] = 1.0;
        assert!(check(&bad).is_err());
        let mut bad = set;
        bad.difficulty[0] += 1;
        assert!(check(&bad).is_err());
        assert!(generate(
            1,
            &LogicConfig {
                max_gates: 11,
                ..LogicConfig::default()
            },
            &mut Rng::seed(0)
        )
        .is_err());
    }
}
