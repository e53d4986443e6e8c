//! ACT as one more relaxation of the PACT model (math §7).
//!
//! Take a halting site whose guide law is the amortised posterior and whose model law is the
//! time-penalty prior with `λ = τ` (both [`HaltingLaw`]s). [`ActRelaxation`] replaces
//! (a) the random choice of `s_N`, `N ~ q`, by ACT's thresholded weights `p` of §2 — the guide
//! side becomes [`ActWeights`], a deterministic law whose value is `p` — and (b) the prior term
//! by `−λ (N + R)` — the model side becomes [`ActPonderPrior`], which scores `p` that way.
//! An objective without an entropy term (`SvoMap`) over the relaxed model is then exactly ACT's
//! objective: `−log p(y | Σ_n p_n s_n) + τ (N + R)` per example.

use super::act::act_halting;
use super::act::act_halts;
use super::law::{HaltingLaw, HaltingRole};
use pact::dist::{Distribution, Draw, Support};
use pact::ppl::{CustomRelaxation, HaltingRule, HaltingRun, Relaxation, StepDecision};
use pact::{DType, Device, Error, Result, Rng, Shape, Tensor};
use std::sync::Arc;

/// The ACT relaxation of a halting site, with threshold slack `eps` (ε of §2).
///
/// Use it as the relaxation of the site, for the guide and the model alike:
///
/// ```
/// use pact::ppl::{relax, Relaxation};
/// use pact_models::halting::{ActRelaxation, ACT_EPSILON};
/// let act: Relaxation = ActRelaxation::new(ACT_EPSILON).into_relaxation();
/// assert_eq!(act.label(), "act(eps=0.01)");
/// ```
#[derive(Clone, Debug)]
pub struct ActRelaxation {
    eps: f64,
    label: String,
}

impl ActRelaxation {
    /// ACT with threshold slack `eps`.
    pub fn new(eps: f64) -> Self {
        ActRelaxation {
            eps,
            label: format!("act(eps={eps})"),
        }
    }

    /// As a [`Relaxation`] for a relaxation policy.
    pub fn into_relaxation(self) -> Relaxation {
        Relaxation::Custom(Arc::new(self))
    }
}

impl CustomRelaxation for ActRelaxation {
    fn name(&self) -> &str {
        &self.label
    }

    fn halting_rule(&self) -> Option<Arc<dyn HaltingRule>> {
        Some(Arc::new(ActRule { eps: self.eps }))
    }

    fn relax(&self, site: &str, dist: &Arc<dyn Distribution>) -> Result<Arc<dyn Distribution>> {
        let law = dist
            .as_any()
            .and_then(|a| a.downcast_ref::<HaltingLaw>())
            .ok_or_else(|| {
                Error::site(
                    site,
                    format!(
                        "the ACT relaxation applies to halting sites (HaltingLaw), not {}",
                        dist.name()
                    ),
                )
            })?;
        match law.role() {
            HaltingRole::Posterior => Ok(Arc::new(ActWeights::new(law.logits(), self.eps)?)),
            HaltingRole::TimePenaltyPrior { lambda } => Ok(Arc::new(ActPonderPrior {
                lambda: *lambda,
                batch: law.batch_shape(),
                units: law.num_units(),
                dtype: law.dtype(),
                device: law.device(),
            })),
            HaltingRole::BernoulliPrior { .. } => Err(Error::site(
                site,
                "ACT is a relaxation of PACT with the time-penalty prior (math §7); this \
                 site's prior has independent Bernoulli halting variables",
            )),
        }
    }
}

/// The guide side of [`ActRelaxation`]: a deterministic law whose value is ACT's halting
/// weights `p` (§2, `batch_shape ++ [L]`), differentiable in the halting logits with `N` held
/// constant. Every value has log-density 0 (there is no sampling to score).
#[derive(Clone, Debug)]
pub struct ActWeights {
    weights: Tensor,
}

impl ActWeights {
    /// ACT's weights from halting logits `batch_shape ++ [L − 1]`.
    pub fn new(logits: &Tensor, eps: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&eps) {
            return Err(Error::invalid(
                "ActWeights",
                format!("ε must lie in [0, 1), got {eps}"),
            ));
        }
        let dims = logits.dims();
        let (units_1, batch) = dims
            .split_last()
            .ok_or_else(|| Error::invalid("ActWeights", "halting logits need an axis of units"))?;
        let rows = batch.iter().product::<usize>();
        let act = act_halting(&logits.reshape([rows, *units_1])?, eps)?;
        let mut out = batch.to_vec();
        out.push(units_1 + 1);
        Ok(ActWeights {
            weights: act.weights.reshape(out)?,
        })
    }

    /// The law of weights `p` already computed (`batch_shape ++ [L]`), as [`ActRule`]
    /// produces them step by step.
    pub fn from_weights(weights: Tensor) -> Result<Self> {
        let dims = weights.dims();
        let Some((&units, batch)) = dims.split_last() else {
            return Err(Error::invalid(
                "ActWeights",
                "ACT weights need an axis of units",
            ));
        };
        if units < 1 || batch.contains(&0) {
            return Err(Error::invalid(
                "ActWeights",
                format!("ACT weights of shape {}", weights.shape()),
            ));
        }
        Ok(ActWeights { weights })
    }

    /// The weights `p`.
    pub fn weights(&self) -> &Tensor {
        &self.weights
    }
}

impl Distribution for ActWeights {
    fn name(&self) -> &'static str {
        "ActWeights"
    }

    fn batch_shape(&self) -> Shape {
        let dims = self.weights.dims();
        Shape::new(&dims[..dims.len() - 1])
    }

    fn event_shape(&self) -> Shape {
        Shape::new([self.weights.dims()[self.weights.rank() - 1]])
    }

    fn support(&self) -> Support {
        Support::Point
    }

    fn dtype(&self) -> DType {
        self.weights.dtype()
    }

    fn device(&self) -> Device {
        self.weights.device()
    }

    fn has_rsample(&self) -> bool {
        true
    }

    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        let mut dims = batch_shape.dims().to_vec();
        dims.push(self.weights.dims()[self.weights.rank() - 1]);
        Ok(Arc::new(ActWeights {
            weights: self.weights.broadcast_as(&Shape::new(dims))?,
        }))
    }

    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        Ok(self.rsample(sample_shape, rng)?.detach())
    }

    fn rsample(&self, sample_shape: &[usize], _rng: &mut Rng) -> Result<Draw> {
        let mut dims = sample_shape.to_vec();
        dims.extend_from_slice(self.weights.dims());
        Ok(Draw::Exact(self.weights.broadcast_as(&Shape::new(dims))?))
    }

    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        let dims = value.dims();
        let keep = dims.len().checked_sub(1).ok_or_else(|| {
            Error::invalid("ActWeights::log_prob", "a value needs an axis of units")
        })?;
        Ok(Tensor::zeros(&dims[..keep], value.dtype(), value.device()))
    }

    fn mean(&self) -> Result<Tensor> {
        Ok(self.weights.clone())
    }
}

/// The model side of [`ActRelaxation`]: scores ACT weights `p` by `−λ (N + R)`, where `N` is
/// the last unit with `p_N > 0` (a constant for differentiation) and `R = p_N` the remainder.
/// Only for scoring replayed guide values; it cannot be sampled.
#[derive(Clone, Debug)]
pub struct ActPonderPrior {
    lambda: f64,
    batch: Shape,
    units: usize,
    dtype: DType,
    device: Device,
}

impl ActPonderPrior {
    /// The time penalty `λ`.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// `N + R` of weights `p` (`… × [L]`), shape `…`.
    pub fn ponder_cost(&self, p: &Tensor) -> Result<Tensor> {
        let axis = p
            .rank()
            .checked_sub(1)
            .ok_or_else(|| Error::invalid("ActPonderPrior", "ACT weights need an axis of units"))?;
        if p.dims()[axis] != self.units {
            return Err(Error::invalid(
                "ActPonderPrior",
                format!(
                    "ACT weights have {} units, the prior {}",
                    p.dims()[axis],
                    self.units
                ),
            ));
        }
        let values = p.to_f64_vec();
        let mut at = vec![0.0; values.len()];
        let mut n = Vec::with_capacity(values.len() / self.units);
        for (row, chunk) in values.chunks(self.units).enumerate() {
            if chunk.iter().any(|v| v.is_nan()) {
                // Diverged weights: a NaN cost, for the trainer's guard to report.
                n.push(f64::NAN);
                continue;
            }
            let last = chunk.iter().rposition(|&v| v > 0.0).ok_or_else(|| {
                Error::invalid("ActPonderPrior", "ACT weights with no positive entry")
            })?;
            at[row * self.units + last] = 1.0;
            n.push((last + 1) as f64);
        }
        let at = Tensor::from_f64_slice(&at, p.shape().clone(), p.dtype(), p.device())?;
        let n = Tensor::from_f64_slice(&n, &p.dims()[..axis], p.dtype(), p.device())?;
        n.add(&p.mul(&at)?.sum(axis)?)
    }
}

impl Distribution for ActPonderPrior {
    fn name(&self) -> &'static str {
        "ActPonderPrior"
    }

    fn batch_shape(&self) -> Shape {
        self.batch.clone()
    }

    fn event_shape(&self) -> Shape {
        Shape::new([self.units])
    }

    fn support(&self) -> Support {
        Support::Point
    }

    fn dtype(&self) -> DType {
        self.dtype
    }

    fn device(&self) -> Device {
        self.device
    }

    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        Ok(Arc::new(ActPonderPrior {
            batch: batch_shape.clone(),
            ..self.clone()
        }))
    }

    fn sample(&self, _sample_shape: &[usize], _rng: &mut Rng) -> Result<Draw> {
        Err(Error::unsupported(
            "ActPonderPrior",
            "sample",
            "the ACT prior only scores the guide's ACT weights; run the model on a guide trace",
        ))
    }

    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        self.ponder_cost(value)?.mul_scalar(-self.lambda)
    }
}

/// ACT as an online rule of a halting site ([`pact::ppl::Ctx::halting`]): the weights
/// `p_l = h_l` accumulate while the cumulative halting probability stays below `1 − ε`, the
/// remainder `R = 1 − Σ_{l<N} h_l` goes to the halting step, and the block stops once every row
/// has halted, holding only the current state and the weighted sum (math §2). Every row stays
/// in the batch (with weight 0 once halted), so gradients reach every step a row ran.
#[derive(Clone, Copy, Debug)]
pub struct ActRule {
    eps: f64,
}

impl ActRule {
    /// ACT with threshold slack `eps ∈ (0, 1)`.
    ///
    /// ```
    /// use pact::ppl::HaltingRule;
    /// use pact_models::halting::{ActRule, ACT_EPSILON};
    /// let rule = ActRule::new(ACT_EPSILON)?;
    /// assert!(!rule.compacts());
    /// assert!(ActRule::new(1.0).is_err());
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn new(eps: f64) -> Result<Self> {
        if !(eps > 0.0 && eps < 1.0) {
            return Err(Error::invalid(
                "ActRule",
                format!("ACT's eps must be in (0, 1), got {eps}"),
            ));
        }
        Ok(ActRule { eps })
    }
}

impl HaltingRule for ActRule {
    fn name(&self) -> &str {
        "act"
    }

    fn compacts(&self) -> bool {
        false
    }

    fn start(&self, rows: usize) -> Result<Box<dyn HaltingRun>> {
        if !(self.eps > 0.0 && self.eps < 1.0) {
            return Err(Error::invalid(
                "ActRule",
                format!("ACT's eps must be in (0, 1), got {}", self.eps),
            ));
        }
        Ok(Box::new(ActRun {
            eps: self.eps,
            cum: None,
            halted: vec![false; rows],
        }))
    }

    fn guide(&self, value: &Tensor) -> Result<Option<Arc<dyn Distribution>>> {
        Ok(Some(Arc::new(ActWeights::from_weights(value.clone())?)))
    }
}

/// ACT over one batch: the cumulative halting probability of each row (differentiable) and
/// which rows have halted.
struct ActRun {
    eps: f64,
    cum: Option<Tensor>,
    halted: Vec<bool>,
}

impl HaltingRun for ActRun {
    fn step(&mut self, _l: usize, logits: Option<&Tensor>, rows: &[usize]) -> Result<StepDecision> {
        let b = rows.len();
        let h = match logits {
            Some(a) => a.sigmoid()?,
            None => {
                let like = self.cum.as_ref().ok_or_else(|| {
                    Error::invalid("ActRule", "the last step came before any other")
                })?;
                Tensor::ones([b], like.dtype(), like.device())
            }
        };
        let (dt, dev) = (h.dtype(), h.device());
        let cum = match self.cum.take() {
            Some(c) => c,
            None => Tensor::zeros([b], dt, dev),
        };
        let last = logits.is_none();
        let cum_values = cum.to_f64_vec();
        let h_values = h.to_f64_vec();
        // Masks (constants): still running and continuing, or halting at this step.
        let mut cont = vec![0.0; b];
        let mut stop = vec![0.0; b];
        let mut halts = vec![false; b];
        for i in 0..b {
            if self.halted[i] {
                continue;
            }
            if last || act_halts(cum_values[i], h_values[i], self.eps) {
                stop[i] = 1.0;
                halts[i] = true;
                self.halted[i] = true;
            } else {
                cont[i] = 1.0;
            }
        }
        let cont = Tensor::from_f64_slice(&cont, [b], dt, dev)?;
        let stop = Tensor::from_f64_slice(&stop, [b], dt, dev)?;
        let r = cum.affine(-1.0, 1.0)?.mul(&stop)?;
        let weights = h.mul(&cont)?.add(&r)?;
        self.cum = Some(cum.add(&h.mul(&cont)?)?);
        Ok(StepDecision {
            weights: Some(weights),
            halts,
        })
    }
}
