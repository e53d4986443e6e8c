//! `condition` (fix values as observations) and `replay` (reuse the latent values of a trace).

use super::{Ctx, HaltingClaim, HaltingPlan, Handler, Message, SiteKind, Trace, Values};
use crate::Result;
use std::sync::Arc;

struct Condition {
    values: Arc<Values>,
}

impl Handler for Condition {
    fn process(&mut self, msg: &mut Message) -> Result<()> {
        if !msg.is_free() {
            return Ok(());
        }
        if let Some(v) = self.values.get(&msg.name) {
            msg.fix_exact(v.clone());
            msg.kind = SiteKind::Observe;
        }
        Ok(())
    }

    fn halting_plan(&mut self, name: &str) -> Result<Option<HaltingClaim>> {
        Ok(self.values.get(name).is_some().then(|| HaltingClaim {
            plan: HaltingPlan::Dense,
            fixes_value: true,
        }))
    }
}

/// The model with the latent sites named in `values` fixed to those values and turned into
/// observations (kind [`SiteKind::Observe`], scored by the model's exact law). Other sites,
/// and names that do not occur, are untouched.
///
/// ```
/// use pact::dist::Bernoulli;
/// use pact::nn::ParamStore;
/// use pact::ppl::{condition, run, Ctx, SiteKind, Values};
/// use pact::{DType, Device, Result, Rng, Tensor};
/// let model = |ctx: &mut Ctx| -> Result<Tensor> {
///     ctx.sample("z", Bernoulli::new(Tensor::scalar(0.0, DType::F64, Device::Cpu))?)
/// };
/// let one = Tensor::scalar(1.0, DType::F64, Device::Cpu);
/// let conditioned = condition(Values::new().with("z", one), model);
/// let params = ParamStore::new(DType::F64, Device::Cpu);
/// let (z, trace) = run(&conditioned, &params, &mut Rng::seed(0))?;
/// assert_eq!(z.to_scalar()?, 1.0);
/// assert_eq!(trace.get("z").unwrap().kind, SiteKind::Observe);
/// # Ok::<(), pact::Error>(())
/// ```
pub fn condition<T>(
    values: Values,
    model: impl Fn(&mut Ctx) -> Result<T>,
) -> impl Fn(&mut Ctx) -> Result<T> {
    let values = Arc::new(values);
    move |ctx: &mut Ctx| {
        let handler = Condition {
            values: values.clone(),
        };
        ctx.with_handler(Box::new(handler), &model)
    }
}

struct Replay {
    trace: Arc<Trace>,
}

impl Handler for Replay {
    fn process(&mut self, msg: &mut Message) -> Result<()> {
        if !msg.is_free() {
            return Ok(());
        }
        if let Some(site) = self.trace.get(&msg.name).filter(|s| s.is_latent()) {
            msg.value = Some(site.draw.clone());
            msg.replayed = true;
        }
        Ok(())
    }

    fn halting_plan(&mut self, name: &str) -> Result<Option<HaltingClaim>> {
        Ok(self
            .trace
            .get(name)
            .is_some_and(|s| s.is_latent())
            .then(|| HaltingClaim {
                plan: HaltingPlan::Dense,
                fixes_value: true,
            }))
    }
}

/// The model with each latent site that also is a latent site of `trace` taking the value
/// recorded there (the whole [`Draw`](crate::dist::Draw): a relaxed draw keeps its raw
/// value). The site stays latent and is scored by the model's own (possibly relaxed) law,
/// which is how a model is evaluated at a guide's sample: `log p(x, z)` with `z ~ q`.
///
/// ```
/// use pact::dist::Normal;
/// use pact::nn::ParamStore;
/// use pact::ppl::{replay, run, Ctx};
/// use pact::{DType, Device, Result, Rng, Tensor};
/// let s = |v: f64| Tensor::scalar(v, DType::F64, Device::Cpu);
/// let guide = move |ctx: &mut Ctx| -> Result<Tensor> { ctx.sample("z", Normal::new(s(1.0), s(0.1))?) };
/// let model = move |ctx: &mut Ctx| -> Result<Tensor> { ctx.sample("z", Normal::new(s(0.0), s(1.0))?) };
/// let params = ParamStore::new(DType::F64, Device::Cpu);
/// let mut rng = Rng::seed(0);
/// let (_, q) = run(&guide, &params, &mut rng)?;
/// let (_, p) = run(&replay(q.clone(), model), &params, &mut rng)?;
/// assert_eq!(p.value("z")?.to_f64_vec(), q.value("z")?.to_f64_vec());
/// # Ok::<(), pact::Error>(())
/// ```
pub fn replay<T>(
    trace: Trace,
    model: impl Fn(&mut Ctx) -> Result<T>,
) -> impl Fn(&mut Ctx) -> Result<T> {
    let trace = Arc::new(trace);
    move |ctx: &mut Ctx| {
        let handler = Replay {
            trace: trace.clone(),
        };
        ctx.with_handler(Box::new(handler), &model)
    }
}
