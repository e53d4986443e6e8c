//! Exact expectations under a guide by parallel enumeration: `E_q[log p(x, z)]` and the
//! entropy of `q`, the objectives of `Exact` (SVO-MAP's and the ELBO) at a cost linear in
//! the length of a chain.

use super::execute::{expect, Pair};
use super::graph::{structure_of, OwnedLayout};
use super::handler::{Mode, NestingProbe, ParallelEnumerate, Role, State};
use super::plan::plan;
use super::ParallelEnum;
use crate::ppl::{Ctx, Select, Trace};
use crate::{Error, Result, Tensor};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::OnceLock;

/// The result of [`ParallelEnum::expectation`].
#[derive(Clone, Debug)]
pub struct GuideExpectation {
    /// `E_q[log p(x, z)]`: the model's log joint averaged over the guide's enumerated sites
    /// (rank 0; differentiable in the model's and the guide's parameters, so its gradient is
    /// the exact gradient of the expectation).
    pub log_joint: Tensor,
    /// `H[q] = −E_q[log q(z)]` over the enumerated sites (rank 0, differentiable).
    pub entropy: Tensor,
    /// `E_q[Σ log p(z)]` over the model's latent sites: the part of `log_joint` that is the
    /// prior of the latent variables rather than the likelihood of the observations (rank 0,
    /// differentiable). `log_joint − log_prior` is the expected log-likelihood, and
    /// `−(log_prior + entropy)` is `KL(q ‖ p)` where every latent site is enumerated.
    pub log_prior: Tensor,
    /// The guide's run (enumerated sites hold their supports along their axes).
    pub guide_trace: Trace,
    /// The model's run at the guide's values.
    pub model_trace: Trace,
    /// The enumerated sites, in the order they were met.
    pub enumerated: Vec<String>,
    /// Entries of the largest table of the contraction.
    pub largest_table: usize,
}

impl ParallelEnum {
    /// The exact expectation over a guide's finite discrete sites of the model's log joint,
    /// and the guide's entropy, by parallel enumeration: the guide runs once with its
    /// `select`ed sites enumerated, the model once at those values (the guide's other latent
    /// sites replayed; guided sites, [`Ctx::sample_guided`], enumerated with their
    /// posterior as `q`), and the terms are contracted in the expectation semiring (pairs
    /// of weight and value), so a chain costs time linear in its length. Guide and model
    /// must share their `markov` structure. Latent model sites the guide does not draw come
    /// from their prior.
    ///
    /// ```
    /// use pact::dist::{Bernoulli, Normal};
    /// use pact::nn::ParamStore;
    /// use pact::ppl::{run, Ctx, ParallelEnum, Select};
    /// use pact::{DType, Device, Result, Rng, Tensor};
    /// let s = |v: f64| Tensor::scalar(v, DType::F64, Device::Cpu);
    /// let model = move |ctx: &mut Ctx| -> Result<()> {
    ///     let z = ctx.sample("z", Bernoulli::new(s(0.0))?)?;
    ///     ctx.observe("x", Normal::new(z.mul_scalar(2.0)?, s(1.0))?, &s(1.5)).map(|_| ())
    /// };
    /// let guide = move |ctx: &mut Ctx| -> Result<()> {
    ///     ctx.sample("z", Bernoulli::from_probs(s(0.8))?).map(|_| ())
    /// };
    /// let params = ParamStore::new(DType::F64, Device::Cpu);
    /// let e = ParallelEnum::new(Select::All).expectation(guide, model);
    /// let (e, _) = run(&e, &params, &mut Rng::seed(0))?;
    /// let ln_n = |x: f64, m: f64| -0.5 * (x - m) * (x - m) - 0.5 * (2.0 * std::f64::consts::PI).ln();
    /// let expected = 0.2 * (0.5f64.ln() + ln_n(1.5, 0.0)) + 0.8 * (0.5f64.ln() + ln_n(1.5, 2.0));
    /// assert!((e.log_joint.to_scalar()? - expected).abs() < 1e-12);
    /// let h = -(0.2f64 * 0.2f64.ln() + 0.8 * 0.8f64.ln());
    /// assert!((e.entropy.to_scalar()? - h).abs() < 1e-12);
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn expectation<T, U>(
        self,
        guide: impl Fn(&mut Ctx) -> Result<U>,
        model: impl Fn(&mut Ctx) -> Result<T>,
    ) -> impl Fn(&mut Ctx) -> Result<GuideExpectation> {
        let nesting = OnceLock::new();
        move |ctx: &mut Ctx| {
            if let Some(plate) = ctx.plates().first() {
                return Err(Error::invalid(
                    "expectation",
                    format!(
                        "enumeration wraps a whole model; it was run inside plate {:?}",
                        plate.name
                    ),
                ));
            }
            let p = match (self.max_plate_nesting, nesting.get()) {
                (Some(p), _) | (None, Some(&p)) => p,
                (None, None) => {
                    let depth = Rc::new(Cell::new(0));
                    for which in 0..2 {
                        let probe = NestingProbe {
                            depth: depth.clone(),
                        };
                        let (out, _) = ctx.with_fresh_trace(|ctx| {
                            ctx.with_handler(Box::new(probe), |ctx| {
                                if which == 0 {
                                    guide(ctx).map(|_| ())
                                } else {
                                    model(ctx).map(|_| ())
                                }
                            })
                        });
                        out?;
                    }
                    let _ = nesting.set(depth.get());
                    depth.get()
                }
            };
            let mut fresh = State::new(self.select.clone(), p, self.max_table);
            fresh.mode = Mode::Guide;
            let state = Rc::new(RefCell::new(fresh));
            let handler = ParallelEnumerate {
                state: state.clone(),
            };
            let (out, guide_trace) =
                ctx.with_fresh_trace(|ctx| ctx.with_handler(Box::new(handler), &guide));
            out?;
            state.borrow_mut().start_model(guide_trace.clone());
            let handler = ParallelEnumerate {
                state: state.clone(),
            };
            let (out, model_trace) =
                ctx.with_fresh_trace(|ctx| ctx.with_handler(Box::new(handler), &model));
            out?;
            let state = std::mem::replace(&mut *state.borrow_mut(), State::new(Select::All, 0, 0));
            let all: Vec<usize> = (0..state.factors.len()).collect();
            let planned = plan(
                &structure_of(&state.vars, &state.plates, &state.factors),
                &all,
                None,
                state.max_table,
            )?;
            let layout = OwnedLayout::new(&state.vars, &state.plates, state.nesting);
            let pairs: Vec<Pair> = state
                .factors
                .iter()
                .map(|f| -> Result<Pair> {
                    Ok(match f.role {
                        Role::Guide => Pair {
                            l: Some(f.tensor.clone()),
                            r: vec![None, Some(f.tensor.neg()?), None],
                        },
                        Role::Joint => Pair {
                            l: None,
                            r: vec![Some(f.tensor.clone()), None, None],
                        },
                        Role::Prior => Pair {
                            l: None,
                            r: vec![Some(f.tensor.clone()), None, Some(f.tensor.clone())],
                        },
                    })
                })
                .collect::<Result<_>>()?;
            if pairs.is_empty() {
                return Err(Error::invalid("expectation", "a model without factors"));
            }
            let (_, values) = expect(&planned, &layout.view(), pairs, 3)?;
            let mut values = values.into_iter();
            let (log_joint, entropy, log_prior) =
                match (values.next(), values.next(), values.next()) {
                    (Some(a), Some(b), Some(c)) => (a, b, c),
                    _ => return Err(Error::invalid("expectation", "missing channels")),
                };
            Ok(GuideExpectation {
                log_joint,
                entropy,
                log_prior,
                guide_trace,
                model_trace,
                enumerated: state.vars.iter().map(|v| v.name.clone()).collect(),
                largest_table: planned.largest,
            })
        }
    }
}
