//! ACT and PACT side by side, and sweeps over one halting probability (`pact compare`).

use super::act::{act, Act};
use super::pact::{pact, Pact};
use super::validate::{validate_eps, validate_halting, validate_penalty};
use crate::{Error, Result};
use serde::Serialize;

/// ACT and PACT for the same halting probabilities.
///
/// Serialises to
/// `{"act": {"n", "remainder", "ponder", "weights"}, "pact": {"q", "expected_n",
/// "deterministic_n", "map_n", "expected_log_prior"}}`, the JSON of `pact compare --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// ACT (§2).
    pub act: Act<f64>,
    /// PACT (§3, §6) with the truncated geometric prior.
    pub pact: Pact<f64>,
}

/// Computes ACT with slack `eps` and PACT with time penalty `penalty` for `h_1 … h_{L−1}`.
///
/// ```
/// use pact_models::analysis::compare;
///
/// let c = compare(&[0.01, 0.5, 0.6, 0.7], 0.01, 0.01)?;
/// assert_eq!((c.act.n, c.pact.deterministic_n), (3, 2));
/// let json = serde_json::to_value(&c).unwrap();
/// assert_eq!(json["act"]["n"], 3);
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn compare(halting: &[f64], eps: f64, penalty: f64) -> Result<Comparison> {
    Ok(Comparison {
        act: act(halting, eps)?,
        pact: pact(halting, penalty)?,
    })
}

/// One point of a [`sweep`]: the swept unit's halting probability and what both methods make
/// of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepPoint {
    /// The value given to the swept halting probability.
    pub h: f64,
    /// ACT's halting step `N`.
    pub act_n: usize,
    /// ACT's ponder cost `ρ = N + R`: piecewise linear, with jumps where `N` changes.
    pub act_ponder: f64,
    /// PACT's `E_q[N]`: smooth (linear) in the swept value.
    pub expected_n: f64,
    /// PACT's deterministic `N` (§6).
    pub deterministic_n: usize,
    /// PACT's expected log-prior `E_q[log p(N)]`.
    pub expected_log_prior: f64,
}

/// Varies unit `unit`'s halting probability (1-based, `1 ≤ unit ≤ L−1`) over `points` evenly
/// spaced values `i / (points + 1)`, `i = 1 … points`, strictly inside `(0, 1)`, keeping the
/// others fixed.
///
/// The value given for the swept unit in `halting` is ignored but must still be valid.
///
/// ```
/// use pact_models::analysis::sweep;
///
/// // §2's discontinuity: h = (0.5, x), ρ = 3.5 − x for x < 0.49 and 2.5 from 0.49 on.
/// let s = sweep(&[0.5, 0.0], 2, 99, 0.01, 0.01)?;
/// assert_eq!(s.len(), 99);
/// assert!((s[47].h - 0.48).abs() < 1e-12 && (s[47].act_ponder - 3.02).abs() < 1e-12);
/// assert!((s[48].act_ponder - 2.5).abs() < 1e-12);
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn sweep(
    halting: &[f64],
    unit: usize,
    points: usize,
    eps: f64,
    penalty: f64,
) -> Result<Vec<SweepPoint>> {
    validate_halting(halting)?;
    validate_eps(eps)?;
    validate_penalty(penalty)?;
    if unit == 0 || unit > halting.len() {
        return Err(Error::InvalidInput(format!(
            "sweep unit {unit} is out of range: the halting probabilities given cover units 1..={}",
            halting.len()
        )));
    }
    if points == 0 {
        return Err(Error::InvalidInput(
            "sweep points = 0: need at least one point".into(),
        ));
    }
    let mut h = halting.to_vec();
    (1..=points)
        .map(|i| {
            let x = i as f64 / (points + 1) as f64;
            h[unit - 1] = x;
            let a = act(&h, eps)?;
            let p = pact(&h, penalty)?;
            Ok(SweepPoint {
                h: x,
                act_n: a.n,
                act_ponder: a.ponder,
                expected_n: p.expected_n,
                deterministic_n: p.deterministic_n,
                expected_log_prior: p.expected_log_prior,
            })
        })
        .collect()
}
