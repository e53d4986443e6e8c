//! Graves' synthetic tasks for adaptive computation time (Graves 2016, arXiv 1603.08983 §3).
//!
//! Every task is generated on the fly from a [`pact::Rng`] into a [`SequenceSet`], with a
//! difficulty control in its config and a difficulty measure per example and per step. Every
//! generator checks its own output with the task's `check` function before returning it;
//! `check` recomputes the targets from the inputs by an independent route and is public, so
//! tests (and callers holding a set from elsewhere) can use it too.
//!
//! | task | steps T | input D | outputs K × classes | difficulty |
//! |---|---|---|---|---|
//! | [`parity`] | 1 | B (64) | 1 × 2 | non-zero entries |
//! | [`logic`] | 10 | 102 | 1 × 2 | gates applied |
//! | [`addition`] | 5 | 50 | 6 × 11 | digits read |
//! | [`sort`] | 30 | 2 | 1 × 15 | numbers to sort |
//!
//! (T, D, K and the classes shown are for the default configs.)
//!
//! [`SequenceSet`]: crate::data::SequenceSet

pub mod addition;
pub mod logic;
pub mod parity;
pub mod sort;

use crate::{Error, Result};

/// An error from a task's `check`: `task: example n, step t: message`.
fn check_error(task: &str, n: usize, t: Option<usize>, msg: impl std::fmt::Display) -> Error {
    match t {
        Some(t) => Error::InvalidInput(format!("{task}: example {n}, step {t}: {msg}")),
        None => Error::InvalidInput(format!("{task}: example {n}: {msg}")),
    }
}

/// Checks the set-level dimensions a task's `check` expects.
fn check_dims(
    set: &crate::data::SequenceSet,
    task: &str,
    want: crate::data::SequenceDims,
) -> Result<()> {
    set.validate()?;
    let got = set.dims();
    if got != want {
        return Err(Error::InvalidInput(format!(
            "{task}: set dimensions {got:?} differ from the task's {want:?}"
        )));
    }
    Ok(())
}
