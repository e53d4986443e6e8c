//! The test-time rule of math §6 as a decoding rule of the modelling language.

use super::law::HaltingLaw;
use super::stick_breaking::deterministic_n;
use pact::dist::Distribution;
use pact::ppl::DecodeRule;
use pact::{Result, Tensor};
use std::sync::Arc;

/// Decodes halting sites ([`HaltingLaw`]) by §6: `N = min{l : h_l ≥ 0.5}` (or `L`), as a
/// one-hot vector; every other discrete site takes its mode.
///
/// ```
/// use pact::ppl::{decode, run, Ctx};
/// use pact::nn::ParamStore;
/// use pact::{DType, Device, Result, Rng, Tensor};
/// use pact_models::halting::{deterministic_rule, HaltingLaw};
/// // h = (.01, .5, .6, .7): q(N) peaks at N = 2 and the rule also gives N = 2.
/// let a: Vec<f64> = [0.01f64, 0.5, 0.6, 0.7].iter().map(|p| (p / (1.0 - p)).ln()).collect();
/// let logits = Tensor::from_f64_vec(a, [1, 4], Device::Cpu)?;
/// let guide = move |ctx: &mut Ctx| -> Result<Tensor> {
///     ctx.sample("n", HaltingLaw::posterior(logits.clone())?)
/// };
/// let params = ParamStore::new(DType::F64, Device::Cpu);
/// let (n, _) = run(&decode(deterministic_rule(), guide), &params, &mut Rng::seed(0))?;
/// assert_eq!(n.to_f64_vec(), vec![0.0, 1.0, 0.0, 0.0, 0.0]);
/// # Ok::<(), pact::Error>(())
/// ```
pub fn deterministic_rule() -> DecodeRule {
    DecodeRule::Custom(Arc::new(|_site: &str, dist: &dyn Distribution| match dist
        .as_any()
        .and_then(|a| a.downcast_ref::<HaltingLaw>())
    {
        Some(law) => first_confident_unit(law),
        None => dist.mode(),
    }))
}

/// One-hot `e_N`, `N = min{l : a_l ≥ 0}` (`σ(a_l) ≥ 0.5`), or `L`.
fn first_confident_unit(law: &HaltingLaw) -> Result<Tensor> {
    let logits = law.logits();
    let units = law.num_units();
    let n = deterministic_n(logits);
    let mut hot = vec![0.0; n.len() * units];
    for (row, &n) in n.iter().enumerate() {
        hot[row * units + n - 1] = 1.0;
    }
    let mut dims = logits.dims().to_vec();
    if let Some(last) = dims.last_mut() {
        *last = units;
    }
    Tensor::from_f64_slice(&hot, dims, logits.dtype(), logits.device())
}
