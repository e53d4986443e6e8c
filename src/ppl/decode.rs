//! `decode`: deterministic evaluation, each discrete latent at its mode or a threshold rule.

use super::{Ctx, HaltingClaim, HaltingPlan, Handler, Message, SitePolicy, ThresholdRule};
use crate::dist::{Distribution, Support};
use crate::{Error, Result, Tensor};
use std::fmt;
use std::sync::Arc;

/// How a discrete latent site is decoded.
#[derive(Clone)]
pub enum DecodeRule {
    /// The law's mode ([`Distribution::mode`]).
    Mode,
    /// For `{0, 1}` sites, `z = [E z ≥ threshold]` (`[p ≥ 0.5]` is math §6); other
    /// discrete sites fall back to the mode.
    Threshold(f64),
    /// A user rule: the value for a site given its name and law.
    Custom(Arc<DecodeFn>),
}

/// The signature of a [`DecodeRule::Custom`] rule.
pub type DecodeFn = dyn Fn(&str, &dyn Distribution) -> Result<Tensor> + Send + Sync;

impl fmt::Debug for DecodeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeRule::Mode => write!(f, "Mode"),
            DecodeRule::Threshold(t) => write!(f, "Threshold({t})"),
            DecodeRule::Custom(_) => write!(f, "Custom(..)"),
        }
    }
}

impl DecodeRule {
    /// The decoded value of `site` with law `dist` (no gradient).
    pub fn value(&self, site: &str, dist: &dyn Distribution) -> Result<Tensor> {
        let v = match self {
            DecodeRule::Mode => dist.mode()?,
            DecodeRule::Threshold(t) if dist.support() == Support::Boolean => {
                dist.mean()?.ge_scalar(*t)?
            }
            DecodeRule::Threshold(_) => dist.mode()?,
            DecodeRule::Custom(f) => f(site, dist)?,
        };
        Ok(v.detach())
    }
}

struct Decode {
    policy: Arc<SitePolicy<DecodeRule>>,
}

impl Handler for Decode {
    fn process(&mut self, msg: &mut Message) -> Result<()> {
        if !msg.is_free() || !msg.dist.is_discrete() {
            return Ok(());
        }
        // A guided site is decoded from its posterior, the law that would have drawn it.
        let law = msg.guide.as_ref().unwrap_or(&msg.dist);
        let value = self.policy.get(&msg.name).value(&msg.name, &**law)?;
        msg.fix_exact(value);
        msg.decoded = true;
        Ok(())
    }

    /// A threshold rule decodes a halting site online (rows halt and leave the batch); the
    /// other rules need the whole posterior, so every step runs.
    fn halting_plan(&mut self, name: &str) -> Result<Option<HaltingClaim>> {
        let plan = match self.policy.get(name) {
            DecodeRule::Threshold(t) => HaltingPlan::Online {
                rule: Arc::new(
                    ThresholdRule::new(*t).map_err(|e| Error::site(name, e.to_string()))?,
                ),
                relaxation: None,
                decoded: true,
            },
            DecodeRule::Mode | DecodeRule::Custom(_) => HaltingPlan::Dense,
        };
        Ok(Some(HaltingClaim {
            plan,
            fixes_value: true,
        }))
    }
}

/// The model run deterministically: each free discrete latent site takes the value its
/// [`DecodeRule`] gives (a single rule applies to every site), and is scored by its exact
/// law, so the trace's log joint is that of the decoded configuration.
///
/// Sites are decoded in execution order, each given the values decoded before it: for a
/// chain this is the greedy (sequential) mode, which equals the joint MAP when the sites
/// are independent or, as for a fitted PACT variational distribution, nearly deterministic.
///
/// ```
/// use pact::dist::Bernoulli;
/// use pact::nn::ParamStore;
/// use pact::ppl::{decode, run, Ctx, DecodeRule};
/// use pact::{DType, Device, Result, Rng, Tensor};
/// let model = |ctx: &mut Ctx| -> Result<Tensor> {
///     let p = Tensor::from_f64_slice(&[0.2, 0.5, 0.9], [3], DType::F64, Device::Cpu)?;
///     ctx.sample("z", Bernoulli::from_probs(p)?)
/// };
/// let params = ParamStore::new(DType::F64, Device::Cpu);
/// let (z, _) = run(&decode(DecodeRule::Threshold(0.5), model), &params, &mut Rng::seed(0))?;
/// assert_eq!(z.to_f64_vec(), vec![0.0, 1.0, 1.0]);
/// # Ok::<(), pact::Error>(())
/// ```
pub fn decode<T>(
    policy: impl Into<SitePolicy<DecodeRule>>,
    model: impl Fn(&mut Ctx) -> Result<T>,
) -> impl Fn(&mut Ctx) -> Result<T> {
    let policy = Arc::new(policy.into());
    move |ctx: &mut Ctx| {
        let handler = Decode {
            policy: policy.clone(),
        };
        ctx.with_handler(Box::new(handler), &model)
    }
}
