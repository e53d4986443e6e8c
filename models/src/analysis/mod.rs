//! The analytic ACT-vs-PACT comparison.
//!
//! Everything here is scalar math on the halting probabilities `h_1 … h_{L−1}` of one adaptive
//! block of `L` units; the last unit always halts (`h_L ≡ 1`), so a slice of `L − 1` values
//! describes a block of `L` units. Unit numbers and `N` are counted from 1, as in
//! `docs/guide/math.md`, whose sections the items below cite.
//!
//! - [ACT](act()) (§2): the halting step `N`, the remainder `R`, the ponder cost `ρ = N + R`, the
//!   halting weights `p` and `∂ρ/∂h`.
//! - [PACT](pact()) (§3, §6): the stick-breaking distribution [`halting_distribution`] `q(N)`,
//!   [`expected_n`] `E_q[N]` and its gradient, the [`deterministic_n`] of §6, the most probable
//!   [`map_n`], and the priors over `N`: the truncated geometric prior of §3
//!   ([`geometric_prior`], [`log_geometric_prior`], [`expected_log_prior`]) and the
//!   independent-Bernoulli prior ([`bernoulli_prior`], [`expected_log_bernoulli_prior`]).
//! - [`compare`] and [`sweep`] put both together for `pact compare`; [`comparison_chart`],
//!   [`sweep_chart`] and [`halting_chart`] draw them (and a trained block's `q(N | x)`).
//!
//! # Priors over N
//!
//! Two priors are supported; both are truncated geometric laws on `N ∈ {1 … L}`, but they are
//! truncated differently:
//!
//! - **Truncated geometric with penalty `λ ≥ 0`** (the prior of §3):
//!   `p(N = n) = e^{−λn} / Z`, `Z = Σ_{m=1..L} e^{−λm}`. The geometric law is *renormalised* over
//!   `1 … L`, so `log p(N) = −λN − log Z` is linear in `N` everywhere, including at `N = L`: it
//!   is exactly ACT's `τN` term with `λ = τ` (§7). `λ = 0` gives the uniform prior.
//! - **Independent `Bernoulli(φ)` halting variables**, `φ ∈ (0, 1)`: `z_l ~ Bernoulli(φ)` for
//!   `l < L` and `z_L ≡ 1`, so `p(N = n) = φ (1 − φ)^{n−1}` for `n < L` and
//!   `p(N = L) = (1 − φ)^{L−1}`. This is the geometric law *censored* at `L`: the tail mass
//!   beyond `L` is piled onto the last unit instead of being renormalised away. Its log is
//!   `log φ + (n − 1) log(1 − φ)` for `n < L`, linear with slope `log(1 − φ)`, but at `n = L`
//!   the `log φ` term is missing, so the last unit gets a bonus of `−log φ` over the line. The
//!   slopes match for `φ = 1 − e^{−λ}` ([`bernoulli_phi_for_penalty`]); the two priors then
//!   agree on ratios `p(n+1)/p(n)` for `n + 1 < L` and differ only in the mass of `N = L`. The
//!   uniform prior (`λ = 0`) has no Bernoulli counterpart.
//!
//! Under the variational `q(N)` the expected log-priors have closed forms:
//! `E_q[log p(N)] = −λ E_q[N] − log Z` (geometric) and
//! `E_q[log p(N)] = (E_q[N] − 1) log(1 − φ) + (1 − q(N = L)) log φ` (Bernoulli).
//!
//! # Generic numbers
//!
//! The formulas are generic over [`num_traits::Float`], so the same code runs on `f64` and on
//! forward-mode dual numbers (the tests check the closed-form gradients against the `autodiff`
//! crate this way). Every function validates its input and reports a bad value as
//! [`Error::InvalidInput`](crate::Error::InvalidInput) with a one-line message naming it.
//!
//! ```
//! use pact_models::analysis::{act, pact};
//!
//! // §3 worked example: h = (.01, .5, .6, .7), the fifth unit halts.
//! let h = [0.01f64, 0.5, 0.6, 0.7];
//! let a = act(&h, 0.01)?;
//! assert_eq!(a.n, 3);
//! assert!((a.ponder - 3.49).abs() < 1e-12);
//! let p = pact(&h, 0.01)?;
//! assert!((p.expected_n - 2.7424).abs() < 1e-12);
//! assert_eq!(p.deterministic_n, 2);
//! # Ok::<(), pact_models::Error>(())
//! ```

mod act;
mod charts;
mod compare;
mod pact;
mod prior;
mod stick;
mod validate;

pub use act::{act, Act};
pub use charts::{comparison_chart, halting_chart, list, short, sweep_chart};
pub use compare::{compare, sweep, Comparison, SweepPoint};
pub use pact::{deterministic_n, expected_n, halting_distribution, map_n, pact, Pact};
pub use prior::{
    bernoulli_phi_for_penalty, bernoulli_prior, expected_log_bernoulli_prior, expected_log_prior,
    expected_log_prior_grad, geometric_prior, log_bernoulli_prior, log_geometric_prior,
    log_normaliser,
};
pub use stick::expected_n_grad;
pub use validate::{validate_eps, validate_halting, validate_penalty, validate_phi};

/// ACT's default threshold slack `ε` (§2): a block halts once `Σ h ≥ 1 − ε`.
pub const DEFAULT_EPS: f64 = 0.01;

/// The default time penalty `λ` of the truncated geometric prior (§3).
///
/// `0.01` is the order of magnitude of the ponder-cost weights `τ` used for ResNets in the SACT
/// paper; by §7, PACT with `λ = τ` corresponds to ACT with ponder weight `τ`.
pub const DEFAULT_PENALTY: f64 = 0.01;
