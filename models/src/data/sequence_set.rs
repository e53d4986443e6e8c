//! [`SequenceSet`]: padded input sequences with per-step classification targets and masks.

use crate::data::image_set::Batches;
use crate::{Error, Result};
use pact::Rng;

/// A set of `N` input sequences padded to `T` steps of `D` features, with `K` simultaneous
/// classification targets (each over `num_classes` classes) per step.
///
/// Layouts, all row-major:
///
/// - `inputs`: `[N, T, D]` `f32`; steps past an example's length are zero;
/// - `targets`: `[N, T, K]` class indices, meaningful only where `mask` is set (0 elsewhere);
/// - `mask`: `[N, T]`, whether step `t` of example `n` has a target (Graves' addition task has
///   none at the first step, the sort task none while the numbers are read);
/// - `lengths`: `[N]`, the steps that belong to each example (the rest is padding, where a
///   recurrent model should neither ponder nor be charged a ponder cost);
/// - `difficulty`: `[N]`, and `step_difficulty`: `[N, T]`, the task's own difficulty measure
///   (see each task's docs), 0 on padding.
///
/// The task generators ([`crate::data::tasks`]) build these sets and check them.
#[derive(Clone, Debug, PartialEq)]
pub struct SequenceSet {
    /// `[N, T, D]` inputs.
    pub inputs: Vec<f32>,
    /// `[N, T, K]` target class indices.
    pub targets: Vec<usize>,
    /// `[N, T]`: whether a step has targets.
    pub mask: Vec<bool>,
    /// `[N]`: the number of real (non-padding) steps of each example.
    pub lengths: Vec<usize>,
    /// `[N]`: a difficulty level per example.
    pub difficulty: Vec<usize>,
    /// `[N, T]`: a difficulty level per step (0 on padding).
    pub step_difficulty: Vec<usize>,
    /// T, the padded number of steps.
    pub steps: usize,
    /// D, the features per step.
    pub input_size: usize,
    /// K, the simultaneous classifications per step.
    pub outputs_per_step: usize,
    /// The classes of each classification.
    pub num_classes: usize,
    /// A short name (`"parity"`, `"logic"`, ...).
    pub name: String,
}

/// One mini-batch of a [`SequenceSet`], in the set's layouts with `N` = the batch size.
#[derive(Clone, Debug, PartialEq)]
pub struct SequenceBatch {
    /// `[B, T, D]` inputs.
    pub inputs: Vec<f32>,
    /// `[B, T, K]` targets.
    pub targets: Vec<usize>,
    /// `[B, T]` target mask.
    pub mask: Vec<bool>,
    /// `[B]` lengths.
    pub lengths: Vec<usize>,
}

/// The dimensions of a [`SequenceSet`]: `N`, `T`, `D`, `K` and the number of classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SequenceDims {
    /// N, the number of examples.
    pub examples: usize,
    /// T, the padded number of steps.
    pub steps: usize,
    /// D, the features per step.
    pub input_size: usize,
    /// K, the classifications per step.
    pub outputs_per_step: usize,
    /// The classes of each classification.
    pub num_classes: usize,
}

impl SequenceSet {
    /// An all-zero set of the given dimensions (no masks set, all lengths 0), for generators to
    /// fill in.
    pub fn zeros(name: impl Into<String>, dims: SequenceDims) -> Self {
        let SequenceDims {
            examples: n,
            steps: t,
            input_size: d,
            outputs_per_step: k,
            num_classes,
        } = dims;
        SequenceSet {
            inputs: vec![0.0; n * t * d],
            targets: vec![0; n * t * k],
            mask: vec![false; n * t],
            lengths: vec![0; n],
            difficulty: vec![0; n],
            step_difficulty: vec![0; n * t],
            steps: t,
            input_size: d,
            outputs_per_step: k,
            num_classes,
            name: name.into(),
        }
    }

    /// The set's dimensions.
    pub fn dims(&self) -> SequenceDims {
        SequenceDims {
            examples: self.len(),
            steps: self.steps,
            input_size: self.input_size,
            outputs_per_step: self.outputs_per_step,
            num_classes: self.num_classes,
        }
    }

    /// The number of examples.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// Whether the set has no examples.
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// The O(1) part of [`SequenceSet::validate`]: every array has the size its layout implies.
    fn check_sizes(&self) -> Result<()> {
        let (n, t, d, k) = (
            self.len(),
            self.steps,
            self.input_size,
            self.outputs_per_step,
        );
        let nt = n.checked_mul(t);
        let sizes = [
            (
                "inputs",
                self.inputs.len(),
                nt.and_then(|v| v.checked_mul(d)),
            ),
            (
                "targets",
                self.targets.len(),
                nt.and_then(|v| v.checked_mul(k)),
            ),
            ("mask", self.mask.len(), nt),
            ("difficulty", self.difficulty.len(), Some(n)),
            ("step_difficulty", self.step_difficulty.len(), nt),
        ];
        for (what, got, want) in sizes {
            if Some(got) != want {
                return Err(Error::InvalidInput(format!(
                    "{}: {what} has {got} values, expected {}",
                    self.name,
                    want.map_or_else(|| "too many".to_string(), |w| w.to_string())
                )));
            }
        }
        Ok(())
    }

    /// Checks that every array has the size its layout implies, that lengths are at most `T`,
    /// that masked steps lie within the length, and that targets are below `num_classes`.
    pub fn validate(&self) -> Result<()> {
        self.check_sizes()?;
        let bad = |msg: String| Err(Error::InvalidInput(format!("{}: {msg}", self.name)));
        let t = self.steps;
        for (i, &len) in self.lengths.iter().enumerate() {
            if len > t {
                return bad(format!("example {i} has length {len} > {t} steps"));
            }
            if let Some(s) = (len..t).find(|&s| self.mask[i * t + s]) {
                return bad(format!(
                    "example {i} has a target at step {s}, past its length {len}"
                ));
            }
        }
        if let Some(p) = self.targets.iter().position(|&c| c >= self.num_classes) {
            return bad(format!(
                "target {} at flat index {p} is not below num_classes = {}",
                self.targets[p], self.num_classes
            ));
        }
        Ok(())
    }

    /// The inputs of example `n`, `T·D` values.
    ///
    /// # Panics
    /// If `n >= self.len()`.
    pub fn input(&self, n: usize) -> &[f32] {
        let s = self.steps * self.input_size;
        &self.inputs[n * s..(n + 1) * s]
    }

    /// The input vector of step `t` of example `n`, `D` values.
    ///
    /// # Panics
    /// If `n` or `t` is out of range.
    pub fn step_input(&self, n: usize, t: usize) -> &[f32] {
        let d = self.input_size;
        &self.input(n)[t * d..(t + 1) * d]
    }

    /// The targets of step `t` of example `n`, `K` class indices.
    ///
    /// # Panics
    /// If `n` or `t` is out of range.
    pub fn step_targets(&self, n: usize, t: usize) -> &[usize] {
        let k = self.outputs_per_step;
        let start = (n * self.steps + t) * k;
        &self.targets[start..start + k]
    }

    /// Whether step `t` of example `n` has targets.
    ///
    /// # Panics
    /// If `n` or `t` is out of range.
    pub fn has_target(&self, n: usize, t: usize) -> bool {
        self.mask[n * self.steps + t]
    }

    /// A new set of the examples at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Result<SequenceSet> {
        let b = self.to_batch(indices)?;
        let t = self.steps;
        Ok(SequenceSet {
            inputs: b.inputs,
            targets: b.targets,
            mask: b.mask,
            lengths: b.lengths,
            difficulty: indices.iter().map(|&i| self.difficulty[i]).collect(),
            step_difficulty: indices
                .iter()
                .flat_map(|&i| self.step_difficulty[i * t..(i + 1) * t].iter().copied())
                .collect(),
            steps: t,
            input_size: self.input_size,
            outputs_per_step: self.outputs_per_step,
            num_classes: self.num_classes,
            name: self.name.clone(),
        })
    }

    /// Mini-batches of indices covering the set once; see [`Batches`].
    pub fn batches(&self, batch_size: usize, shuffle: bool, rng: &mut Rng) -> Result<Batches> {
        Batches::new(self.len(), batch_size, shuffle, rng)
    }

    /// The inputs, targets, mask and lengths of the examples at `indices`, in that order.
    pub fn to_batch(&self, indices: &[usize]) -> Result<SequenceBatch> {
        self.check_sizes()?;
        if let Some(i) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(Error::InvalidInput(format!(
                "{}: index {i} is out of range for {} examples",
                self.name,
                self.len()
            )));
        }
        let (t, d, k) = (self.steps, self.input_size, self.outputs_per_step);
        let mut batch = SequenceBatch {
            inputs: Vec::with_capacity(indices.len() * t * d),
            targets: Vec::with_capacity(indices.len() * t * k),
            mask: Vec::with_capacity(indices.len() * t),
            lengths: Vec::with_capacity(indices.len()),
        };
        for &i in indices {
            batch.inputs.extend_from_slice(self.input(i));
            batch
                .targets
                .extend_from_slice(&self.targets[i * t * k..(i + 1) * t * k]);
            batch.mask.extend_from_slice(&self.mask[i * t..(i + 1) * t]);
            batch.lengths.push(self.lengths[i]);
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SequenceSet {
        let dims = SequenceDims {
            examples: 2,
            steps: 3,
            input_size: 2,
            outputs_per_step: 1,
            num_classes: 4,
        };
        let mut s = SequenceSet::zeros("small", dims);
        s.inputs = (0..12).map(|v| v as f32).collect();
        s.targets = vec![0, 1, 2, 3, 0, 0];
        s.mask = vec![true, true, true, true, false, false];
        s.lengths = vec![3, 1];
        s.difficulty = vec![3, 1];
        s.step_difficulty = vec![1, 1, 1, 1, 0, 0];
        s
    }

    #[test]
    fn accessors_and_batches() {
        let s = small();
        s.validate().unwrap();
        assert_eq!(s.step_input(1, 1), &[8.0, 9.0]);
        assert_eq!(s.step_targets(0, 2), &[2]);
        assert!(s.has_target(1, 0) && !s.has_target(1, 1));
        let b = s.to_batch(&[1]).unwrap();
        assert_eq!(b.inputs, vec![6.0, 7.0, 8.0, 9.0, 10.0, 11.0]);
        assert_eq!(b.lengths, vec![1]);
        let sub = s.subset(&[1, 0]).unwrap();
        sub.validate().unwrap();
        assert_eq!(sub.difficulty, vec![1, 3]);
        assert_eq!(sub.step_difficulty, vec![1, 0, 0, 1, 1, 1]);
        assert!(s.to_batch(&[2]).is_err());
    }

    #[test]
    fn validate_catches_inconsistencies() {
        let mut s = small();
        s.mask[5] = true; // example 1 has length 1
        assert!(s.validate().is_err());
        let mut s = small();
        s.targets[0] = 4;
        assert!(s.validate().is_err());
        let mut s = small();
        s.inputs.pop();
        assert!(s.validate().is_err());
        assert!(s.to_batch(&[1]).is_err());
    }
}
