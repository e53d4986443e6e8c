//! The halting variables of a block as one site of the modelling language: [`HaltingLaw`], the
//! law of the halting unit `N` encoded as a one-hot vector over the units `1..=L`, and
//! [`RelaxedHalting`], its Concrete relaxation (math §3, §5).
//!
//! A block's halting variables `z_1 … z_{L−1}` (with `z_L ≡ 1`) enter the model only through
//! `N = min{l : z_l = 1}`, so one site per block carries them: its exact values are the one-hot
//! vectors `e_N`, its relaxed values are the stick-breaking weights `w_l = z̃_l Π_{i<l}(1 − z̃_i)`
//! of Concrete-relaxed `z̃_l` (whose logits are the draw's raw value). Any law of `N` on
//! `1..=L` is a stick-breaking law, so the amortised posterior (logits from the halting heads)
//! and both priors (the time-penalty truncated geometric, independent Bernoulli halting
//! variables) are the same type, which gives [`pact::ppl`] a closed-form `E_q[log p(N)]`
//! and lets one relaxation apply to both sides of a site.

use super::stick_breaking::{log_stick_breaking, stick_breaking_weights};
use pact::dist::{Distribution, Draw, OneHotCategorical, RelaxedBernoulli, Support};
use pact::{DType, Device, Error, Result, Rng, Shape, Tensor};
use std::any::Any;
use std::sync::Arc;

/// What a [`HaltingLaw`] stands for at its site.
#[derive(Clone, Debug, PartialEq)]
pub enum HaltingRole {
    /// The amortised posterior `q(N | x)`: halting logits from the halting heads.
    Posterior,
    /// The time-penalty prior `p(N = n) ∝ e^{−λn}` (math §3).
    TimePenaltyPrior {
        /// The time penalty `λ`.
        lambda: f64,
    },
    /// Independent `Bernoulli(φ)` halting variables, `φ = σ(phi_logit)`:
    /// `p(n) = φ(1 − φ)^{n−1}` for `n < L`, and the tail lumped onto `L` (see
    /// [`pact::dist::TruncatedGeometric::halting_bernoulli`]).
    BernoulliPrior {
        /// The logit of the halting probability `φ`.
        phi_logit: f64,
    },
}

/// The law of a block's halting unit `N ∈ {1, …, L}` as a one-hot vector of length `L`
/// (event shape `[L]`), given by the conditional halting logits `a_l` of units `1..L−1`:
/// `q(N = n) = σ(a_n) Π_{l<n} σ(−a_l)` (stick breaking, `σ(a_L) ≡ 1`).
///
/// Exact draws are one-hot, drawn by inverse CDF (see [`HaltingLaw::sample_units`]);
/// `log_prob(v) = Σ_n v_n log q(n)`. Its Concrete relaxation
/// ([`Distribution::relaxed`]) is [`RelaxedHalting`] (per-unit binary Concrete, then stick
/// breaking), its straight-through relaxation the same with hard one-hot values forward.
///
/// ```
/// use pact::dist::Distribution;
/// use pact::{DType, Device, Tensor};
/// use pact_models::halting::HaltingLaw;
/// // h = (.01, .5, .6, .7) as logits: the worked example of math §3.
/// let h = [0.01f64, 0.5, 0.6, 0.7];
/// let a: Vec<f64> = h.iter().map(|p| (p / (1.0 - p)).ln()).collect();
/// let q = HaltingLaw::posterior(Tensor::from_f64_vec(a, [1, 4], Device::Cpu)?)?;
/// let probs = q.mean()?.to_f64_vec();
/// let expected = [0.01, 0.495, 0.297, 0.1386, 0.0594];
/// assert!(probs.iter().zip(expected).all(|(p, e)| (p - e).abs() < 1e-12));
/// // The time-penalty prior over 5 units is the same type.
/// let prior = HaltingLaw::time_penalty_prior(0.5, 5, DType::F64, Device::Cpu)?;
/// assert_eq!(prior.num_units(), 5);
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct HaltingLaw {
    logits: Tensor,
    one_hot: OneHotCategorical,
    role: HaltingRole,
}

impl HaltingLaw {
    /// The amortised posterior from halting logits of shape `batch_shape ++ [L − 1]`.
    pub fn posterior(logits: Tensor) -> Result<Self> {
        Self::build(logits, HaltingRole::Posterior)
    }

    /// The time-penalty prior `p(n) ∝ e^{−λn}` on `1..=units` (batch shape `[]`; a plate
    /// expands it). Its conditional halting logits are `a_l = log p(l) − log Σ_{m>l} p(m)`.
    pub fn time_penalty_prior(
        lambda: f64,
        units: usize,
        dtype: DType,
        device: Device,
    ) -> Result<Self> {
        if !lambda.is_finite() {
            return Err(Error::invalid(
                "HaltingLaw::time_penalty_prior",
                format!("the time penalty must be finite, got {lambda}"),
            ));
        }
        check_units(units)?;
        // log Σ_{m>l} e^{−λm}, accumulated from the end for stability.
        let mut tail = vec![f64::NEG_INFINITY; units + 1];
        for m in (1..=units).rev() {
            tail[m - 1] = log_add(tail[m], -lambda * m as f64);
        }
        let a: Vec<f64> = (1..units).map(|l| -lambda * l as f64 - tail[l]).collect();
        let logits = Tensor::from_f64_vec(a, [units - 1], device)?.to_dtype(dtype);
        Self::build(logits, HaltingRole::TimePenaltyPrior { lambda })
    }

    /// Independent `Bernoulli(σ(phi_logit))` halting variables on `units` units.
    pub fn bernoulli_prior(
        phi_logit: f64,
        units: usize,
        dtype: DType,
        device: Device,
    ) -> Result<Self> {
        if !phi_logit.is_finite() {
            return Err(Error::invalid(
                "HaltingLaw::bernoulli_prior",
                format!("the halting logit must be finite, got {phi_logit}"),
            ));
        }
        check_units(units)?;
        let logits = Tensor::full(phi_logit, [units - 1], dtype, device);
        Self::build(logits, HaltingRole::BernoulliPrior { phi_logit })
    }

    fn build(logits: Tensor, role: HaltingRole) -> Result<Self> {
        if logits.rank() == 0 {
            return Err(Error::invalid(
                "HaltingLaw",
                "halting logits need a last axis of L − 1 units",
            ));
        }
        if logits.to_f64_vec().iter().any(|v| v.is_nan()) {
            return Err(Error::invalid("HaltingLaw", "halting logits contain NaN"));
        }
        let one_hot = OneHotCategorical::new(log_stick_breaking(&logits)?)?;
        Ok(HaltingLaw {
            logits,
            one_hot,
            role,
        })
    }

    /// The conditional halting logits `a_1 … a_{L−1}`, shape `batch_shape ++ [L − 1]`.
    pub fn logits(&self) -> &Tensor {
        &self.logits
    }

    /// `log q(N = n)`, shape `batch_shape ++ [L]`.
    pub fn log_probs(&self) -> &Tensor {
        self.one_hot.logits()
    }

    /// The number of units `L`.
    pub fn num_units(&self) -> usize {
        self.one_hot.num_categories()
    }

    /// What the law stands for (posterior or one of the priors).
    pub fn role(&self) -> &HaltingRole {
        &self.role
    }

    /// Draws the halting unit of every row (0-based: `n − 1`) by inverse CDF, as
    /// [`HaltingMode::PactSample`](crate::mode::HaltingMode::PactSample) draws it: with
    /// `q = exp(log_stick_breaking(a))`, one uniform `u` per row, and the first unit `n` with
    /// `u < Σ_{m ≤ n} q(m)` (the last unit if rounding leaves `u` above the total).
    ///
    /// The rows are the elements of `sample_shape ++ batch_shape`; the result is in that
    /// order (row-major). The uniforms are drawn element of the batch first, then sample:
    /// `rng.uniform_per_example(batch elements × samples)`, the draw for batch element `r`
    /// and sample `s` at position `r · samples + s`. Each batch element thus owns consecutive
    /// draws, so on a data-parallel shard ([`Rng::set_shard`]), whose batch's first axis runs
    /// over the shard's examples, a replica draws what one process with the whole batch
    /// draws at its examples. A law with batch shape `[]` (one element, not tied to an
    /// example) draws with [`Rng::uniform`], which the shard does not affect. With
    /// `sample_shape = []` and batch shape `[B]` this is `rng.uniform_per_example(B)`.
    ///
    /// ```
    /// use pact::{Device, Rng, Tensor};
    /// use pact_models::halting::HaltingLaw;
    /// // Two examples of a 3-unit block: q(N) = (0.5, 0.25, 0.25) for both.
    /// let q = HaltingLaw::posterior(Tensor::from_f64_vec(vec![0.0; 4], [2, 2], Device::Cpu)?)?;
    /// let units = q.sample_units(&[], &mut Rng::seed(3))?;
    /// // The same uniforms, inverted by hand.
    /// let u = Rng::seed(3).uniform_per_example(2)?;
    /// let by_hand: Vec<usize> =
    ///     u.iter().map(|&u| if u < 0.5 { 0 } else if u < 0.75 { 1 } else { 2 }).collect();
    /// assert_eq!(units, by_hand);
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn sample_units(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let l = self.num_units();
        let q = log_stick_breaking(&self.logits.detach())?
            .exp()?
            .to_f64_vec();
        let rows = q.len() / l;
        let samples: usize = sample_shape.iter().product();
        let draws = if self.logits.rank() == 1 {
            (0..samples).map(|_| rng.uniform()).collect()
        } else {
            rng.uniform_per_example(rows * samples)?
        };
        let mut units = vec![0; samples * rows];
        for (r, probs) in q.chunks(l).enumerate() {
            for s in 0..samples {
                units[s * rows + r] = inverse_cdf(probs, draws[r * samples + s]);
            }
        }
        Ok(units)
    }

    /// `E[N] = Σ_n n q(n)`, shape `batch_shape`.
    pub fn expected_n(&self) -> Result<Tensor> {
        let q = self.one_hot.probs()?;
        let n = Tensor::arange(self.num_units(), q.dtype(), q.device()).add_scalar(1.0)?;
        q.mul(&n)?.sum(q.rank() - 1)
    }
}

impl Distribution for HaltingLaw {
    fn name(&self) -> &'static str {
        "HaltingLaw"
    }

    fn batch_shape(&self) -> Shape {
        self.one_hot.batch_shape()
    }

    fn event_shape(&self) -> Shape {
        Shape::new([self.num_units()])
    }

    fn support(&self) -> Support {
        Support::OneHot(self.num_units())
    }

    fn dtype(&self) -> DType {
        self.logits.dtype()
    }

    fn device(&self) -> Device {
        self.logits.device()
    }

    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        let mut dims = batch_shape.dims().to_vec();
        dims.push(self.num_units() - 1);
        let logits = self.logits.broadcast_as(&Shape::new(dims))?;
        Ok(Arc::new(Self::build(logits, self.role.clone())?))
    }

    /// One-hot draws by [`HaltingLaw::sample_units`], shape `sample_shape ++ batch_shape ++
    /// [L]`.
    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        let l = self.num_units();
        let units = self.sample_units(sample_shape, rng)?;
        let mut one_hot = vec![0.0; units.len() * l];
        for (row, &n) in units.iter().enumerate() {
            one_hot[row * l + n] = 1.0;
        }
        let mut dims = sample_shape.to_vec();
        dims.extend_from_slice(self.batch_shape().dims());
        dims.push(l);
        let value =
            Tensor::from_f64_slice(&one_hot, Shape::new(dims), self.dtype(), self.device())?;
        Ok(Draw::Exact(value))
    }

    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        self.one_hot.log_prob(value)
    }

    fn mean(&self) -> Result<Tensor> {
        self.one_hot.mean()
    }

    fn variance(&self) -> Result<Tensor> {
        self.one_hot.variance()
    }

    fn mode(&self) -> Result<Tensor> {
        self.one_hot.mode()
    }

    fn entropy(&self) -> Result<Tensor> {
        self.one_hot.entropy()
    }

    fn enumerate_support(&self) -> Result<Tensor> {
        self.one_hot.enumerate_support()
    }

    fn relaxed(&self, temperature: f64) -> Result<Arc<dyn Distribution>> {
        Ok(Arc::new(RelaxedHalting::new(
            self.logits.clone(),
            temperature,
            false,
        )?))
    }

    fn relaxed_straight_through(&self, temperature: f64) -> Result<Arc<dyn Distribution>> {
        Ok(Arc::new(RelaxedHalting::new(
            self.logits.clone(),
            temperature,
            true,
        )?))
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

/// A block's halting site for [`pact::ppl::Ctx::halting`]: `units` steps, the time-penalty
/// prior `p(N) ∝ e^{−λN}` ([`HaltingLaw::time_penalty_prior`]) and the amortised posterior
/// [`HaltingLaw::posterior`] of the heads' logits — the site the shipped networks use.
///
/// ```
/// use pact::{DType, Device};
/// use pact_models::halting::time_penalty_site;
/// let site = time_penalty_site(4, 0.01, DType::F64, Device::Cpu)?;
/// assert_eq!(site.steps(), 4);
/// # Ok::<(), pact::Error>(())
/// ```
pub fn time_penalty_site(
    units: usize,
    lambda: f64,
    dtype: DType,
    device: Device,
) -> Result<pact::ppl::HaltingSite> {
    let prior = HaltingLaw::time_penalty_prior(lambda, units, dtype, device)?;
    Ok(pact::ppl::HaltingSite::new(
        units,
        Arc::new(prior),
        |logits: &Tensor| {
            let law: Arc<dyn Distribution> = Arc::new(HaltingLaw::posterior(logits.clone())?);
            Ok(law)
        },
    ))
}

/// The Concrete relaxation of a [`HaltingLaw`] (math §5): per unit
/// `y_l = (a_l + log u_l − log(1 − u_l)) / t`, `z̃_l = σ(y_l)`, and the value is the
/// stick-breaking weight vector `w_l = z̃_l Π_{i<l}(1 − z̃_i)` (`z̃_L ≡ 1`, so `Σ w = 1`).
///
/// Draws carry `y` as their raw value and are scored by the logit-space density of `y`
/// (the sum of the per-unit binary Concrete densities); a value without a raw part is mapped
/// back to its `y` first. With `straight_through`, the forward value is the hard one-hot
/// vector of `N = min{l : y_l ≥ 0}` and the gradient is the relaxed weights'.
#[derive(Clone, Debug)]
pub struct RelaxedHalting {
    /// The binary Concrete law of each unit's `z̃_l` (logits clamped to `±LOGIT_BOUND`).
    per_unit: RelaxedBernoulli,
    straight_through: bool,
}

impl RelaxedHalting {
    /// From halting logits `batch_shape ++ [L − 1]` and a temperature `t > 0`.
    pub fn new(logits: Tensor, temperature: f64, straight_through: bool) -> Result<Self> {
        if !(temperature > 0.0 && temperature.is_finite()) {
            return Err(Error::invalid(
                "RelaxedHalting",
                format!("the temperature must be positive and finite, got {temperature}"),
            ));
        }
        Ok(RelaxedHalting {
            per_unit: RelaxedBernoulli::new(logits, temperature)?,
            straight_through,
        })
    }

    /// The temperature.
    pub fn temperature(&self) -> f64 {
        self.per_unit.temperature()
    }

    fn logits(&self) -> &Tensor {
        self.per_unit.logits()
    }

    fn num_units(&self) -> usize {
        self.logits().dims().last().copied().unwrap_or(0) + 1
    }

    /// The sum over units of the binary Concrete logit-space densities of `y`.
    fn log_prob_raw(&self, y: &Tensor) -> Result<Tensor> {
        let per_unit = self.per_unit.log_prob_logit(y)?;
        per_unit.sum(per_unit.rank() - 1)
    }
}

impl Distribution for RelaxedHalting {
    fn name(&self) -> &'static str {
        "RelaxedHalting"
    }

    fn batch_shape(&self) -> Shape {
        let dims = self.logits().dims();
        Shape::new(&dims[..dims.len() - 1])
    }

    fn event_shape(&self) -> Shape {
        Shape::new([self.num_units()])
    }

    fn support(&self) -> Support {
        Support::Simplex
    }

    fn dtype(&self) -> DType {
        self.logits().dtype()
    }

    fn device(&self) -> Device {
        self.logits().device()
    }

    fn has_rsample(&self) -> bool {
        true
    }

    fn expand(&self, batch_shape: &Shape) -> Result<Arc<dyn Distribution>> {
        let mut dims = batch_shape.dims().to_vec();
        dims.push(self.num_units() - 1);
        Ok(Arc::new(RelaxedHalting::new(
            self.logits().broadcast_as(&Shape::new(dims))?,
            self.temperature(),
            self.straight_through,
        )?))
    }

    fn sample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        Ok(self.rsample(sample_shape, rng)?.detach())
    }

    fn rsample(&self, sample_shape: &[usize], rng: &mut Rng) -> Result<Draw> {
        let mut dims = sample_shape.to_vec();
        dims.extend_from_slice(self.logits().dims());
        let shape = Shape::new(dims);
        let noise = Tensor::rand_logistic(shape.clone(), self.dtype(), self.device(), rng)?;
        let raw = self
            .logits()
            .broadcast_as(&shape)?
            .add(&noise)?
            .mul_scalar(1.0 / self.temperature())?;
        let soft = stick_breaking_weights(&raw.sigmoid()?)?;
        if !self.straight_through {
            return Ok(Draw::Relaxed { value: soft, raw });
        }
        let hard = pact::no_grad(|| stick_breaking_weights(&raw.ge_scalar(0.0)?))?;
        Ok(Draw::StraightThrough {
            value: Tensor::straight_through(&hard, &soft)?,
            hard,
            soft,
            raw,
        })
    }

    fn log_prob(&self, value: &Tensor) -> Result<Tensor> {
        self.log_prob_raw(&raw_from_weights(value)?)
    }

    fn log_prob_draw(&self, draw: &Draw) -> Result<Tensor> {
        match draw.raw() {
            Some(y) => self.log_prob_raw(y),
            None => self.log_prob(draw.value()),
        }
    }
}

/// The `y` that gives weights `w`: `z_l = w_l / (1 − Σ_{i<l} w_i)`, `y_l = logit(z_l)`,
/// with `z` clamped into the open unit interval.
fn raw_from_weights(w: &Tensor) -> Result<Tensor> {
    let axis = w.rank().checked_sub(1).ok_or_else(|| {
        Error::invalid("RelaxedHalting::log_prob", "a value needs an axis of units")
    })?;
    let units = w.dims()[axis];
    if units < 2 {
        return Err(Error::invalid(
            "RelaxedHalting::log_prob",
            "a value needs at least two units",
        ));
    }
    let head = w.narrow(axis, 0, units - 1)?;
    let used = head.cumsum(axis)?.sub(&head)?;
    let eps = if w.dtype() == DType::F32 { 1e-6 } else { 1e-12 };
    let z = head
        .div(&used.affine(-1.0, 1.0)?.clamp(eps, 1.0)?)?
        .clamp(eps, 1.0 - eps)?;
    z.log()?.sub(&z.affine(-1.0, 1.0)?.log()?)
}

/// The first unit (0-based) whose cumulative probability exceeds `u`, else the last.
fn inverse_cdf(probs: &[f64], u: f64) -> usize {
    let mut cum = 0.0;
    for (n, p) in probs.iter().enumerate() {
        cum += p;
        if u < cum {
            return n;
        }
    }
    probs.len().saturating_sub(1)
}

fn check_units(units: usize) -> Result<()> {
    if units < 2 {
        return Err(Error::invalid(
            "HaltingLaw",
            format!("a halting law needs at least 2 units, got {units}"),
        ));
    }
    Ok(())
}

fn log_add(a: f64, b: f64) -> f64 {
    let m = a.max(b);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + ((a - m).exp() + (b - m).exp()).ln()
}
