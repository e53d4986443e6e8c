//! Special functions composed of elementwise ops: `lgamma` and `digamma` for positive
//! arguments. Being compositions, they run on every backend and are differentiable (the
//! derivative of `digamma`, the trigamma function, comes from differentiating the
//! composition).
//!
//! Both shift the argument up by [`SHIFT`] with the recurrences `Γ(x + 1) = x Γ(x)` and
//! `ψ(x + 1) = ψ(x) + 1/x`, then use the asymptotic (Stirling) series at `y = x + SHIFT ≥ 16`,
//! whose truncation error there is about 10⁻¹⁶. The recurrence sums are of a few
//! terms, so the result is accurate to a few units in the last place of the larger of the
//! result and the terms (absolutely near the zeros of `lgamma`, at 1 and 2).

use crate::{Result, Tensor};

/// How far the recurrences shift the argument before the asymptotic series.
pub const SHIFT: usize = 16;

/// Where the differences of special functions ([`Tensor::lgamma_half_step`],
/// [`Tensor::digamma_half_step`], [`Tensor::gamma_entropy`]) switch from the direct
/// difference to their asymptotic series, whose truncation error here is below 10⁻¹⁴
/// relative.
pub const ASYMPTOTIC_FROM: f64 = 20.0;

impl Tensor {
    /// `log Γ(x)` elementwise, for `x > 0` (other values give NaN or ±∞).
    ///
    /// ```
    /// use pact::{DType, Device, Tensor};
    /// let x = Tensor::from_f64_slice(&[0.5, 1.0, 10.0, 1e6], [4], DType::F64, Device::Cpu)?;
    /// let got = x.lgamma()?.to_f64_vec();
    /// let want = [0.5723649429247001, 0.0, 12.801827480081469, 12815504.569147612];
    /// for (g, w) in got.iter().zip(want) {
    ///     assert!((g - w).abs() <= 1e-13 * (1.0 + w.abs()), "{g} vs {w}");
    /// }
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn lgamma(&self) -> Result<Tensor> {
        let (y, shifts) = self.shifted()?;
        // Σ log(x + k) for k < SHIFT, then Stirling at y: (y − ½) log y − y + ½ log 2π
        // + 1/(12y) − 1/(360y³) + 1/(1260y⁵) − 1/(1680y⁷) + 1/(1188y⁹) − 691/(360360y¹¹).
        let mut log_product = shifts[0].log()?;
        for s in &shifts[1..] {
            log_product = log_product.add(&s.log()?)?;
        }
        let inv = y.recip()?;
        let inv2 = inv.square()?;
        // Horner in 1/y² over the coefficients, highest first.
        let coefficients = [
            -691.0 / 360360.0,
            1.0 / 1188.0,
            -1.0 / 1680.0,
            1.0 / 1260.0,
            -1.0 / 360.0,
            1.0 / 12.0,
        ];
        let series = inv.mul(&horner(&inv2, &coefficients)?)?;
        let stirling = y
            .add_scalar(-0.5)?
            .mul(&y.log()?)?
            .sub(&y)?
            .add_scalar(0.5 * (2.0 * std::f64::consts::PI).ln())?
            .add(&series)?;
        stirling.sub(&log_product)
    }

    /// The digamma function `ψ(x) = d log Γ(x) / dx` elementwise, for `x > 0`.
    ///
    /// ```
    /// use pact::{DType, Device, Tensor};
    /// let x = Tensor::from_f64_slice(&[1.0, 0.5, 30.0], [3], DType::F64, Device::Cpu)?;
    /// let got = x.digamma()?.to_f64_vec();
    /// // −γ, −γ − 2 log 2, and ψ(30).
    /// let want = [-0.5772156649015329, -1.9635100260214235, 3.384438132685525];
    /// for (g, w) in got.iter().zip(want) {
    ///     assert!((g - w).abs() <= 1e-14 * (1.0 + w.abs()), "{g} vs {w}");
    /// }
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn digamma(&self) -> Result<Tensor> {
        let (y, shifts) = self.shifted()?;
        // ψ(x) = ψ(y) − Σ 1/(x + k), and at y: log y − 1/(2y)
        // − 1/(12y²) + 1/(120y⁴) − 1/(252y⁶) + 1/(240y⁸) − 1/(132y¹⁰) + 691/(32760y¹²).
        let mut reciprocals = shifts[0].recip()?;
        for s in &shifts[1..] {
            reciprocals = reciprocals.add(&s.recip()?)?;
        }
        let inv = y.recip()?;
        let inv2 = inv.square()?;
        let coefficients = [
            691.0 / 32760.0,
            -1.0 / 132.0,
            1.0 / 240.0,
            -1.0 / 252.0,
            1.0 / 120.0,
            -1.0 / 12.0,
        ];
        let tail = inv2.mul(&horner(&inv2, &coefficients)?)?;
        y.log()?
            .sub(&inv.mul_scalar(0.5)?)?
            .add(&tail)?
            .sub(&reciprocals)
    }

    /// `eˣ − 1` elementwise, without the cancellation of `exp(x) − 1` for small `x` (a Taylor
    /// polynomial below |x| = 10⁻³, whose error there is below 10⁻¹⁷ relative).
    ///
    /// ```
    /// use pact::{DType, Device, Tensor};
    /// let x = Tensor::from_f64_slice(&[1e-10, 0.5], [2], DType::F64, Device::Cpu)?;
    /// let got = x.expm1()?.to_f64_vec();
    /// assert!((got[0] - 1.00000000005e-10).abs() < 1e-24);
    /// assert!((got[1] - 0.6487212707001282).abs() < 1e-15);
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn expm1(&self) -> Result<Tensor> {
        const SMALL: f64 = 1e-3;
        let x = self.clamp(-SMALL, SMALL)?;
        // x (1 + x/2 (1 + x/3 (1 + x/4))).
        let series = x.mul(
            &x.mul(
                &x.mul(&x.mul_scalar(0.25)?.add_scalar(1.0)?)?
                    .mul_scalar(1.0 / 3.0)?
                    .add_scalar(1.0)?,
            )?
            .mul_scalar(0.5)?
            .add_scalar(1.0)?,
        )?;
        let direct = self.exp()?.add_scalar(-1.0)?;
        Tensor::where_cond(&self.abs()?.lt_scalar(SMALL)?, &series, &direct)
    }

    /// `log Γ(x + ½) − log Γ(x)` elementwise, for `x > 0`, without the cancellation of the
    /// two `lgamma` calls at large `x` (where both are of order `x log x` and their difference
    /// of order `log x`): from [`ASYMPTOTIC_FROM`] on, the series
    /// `½ log x − 1/(8x) + 1/(192x³) − 1/(640x⁵) + 17/(14336x⁷)`.
    ///
    /// ```
    /// use pact::{DType, Device, Tensor};
    /// let x = Tensor::from_f64_slice(&[0.5, 5e5], [2], DType::F64, Device::Cpu)?;
    /// let got = x.lgamma_half_step()?.to_f64_vec();
    /// // log Γ(1) − log Γ(½) = −½ log π, and ½ log(5·10⁵) − 1/(4·10⁶) + … at 5·10⁵.
    /// assert!((got[0] + 0.5 * std::f64::consts::PI.ln()).abs() < 1e-14);
    /// assert!((got[1] - 6.561181438702164).abs() < 1e-14);
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn lgamma_half_step(&self) -> Result<Tensor> {
        let direct = self.add_scalar(0.5)?.lgamma()?.sub(&self.lgamma()?)?;
        let x = self.clamp(ASYMPTOTIC_FROM, f64::MAX)?;
        let inv = x.recip()?;
        let inv2 = inv.square()?;
        let series = inv
            .mul(&horner(
                &inv2,
                &[17.0 / 14336.0, -1.0 / 640.0, 1.0 / 192.0, 0.0, -1.0 / 8.0],
            )?)?
            .add(&x.log()?.mul_scalar(0.5)?)?;
        Tensor::where_cond(&self.ge_scalar(ASYMPTOTIC_FROM)?, &series, &direct)
    }

    /// `ψ(x + ½) − ψ(x)` elementwise, for `x > 0`: from [`ASYMPTOTIC_FROM`] on, the
    /// derivative of [`lgamma_half_step`](Tensor::lgamma_half_step)'s series,
    /// `1/(2x) + 1/(8x²) − 1/(64x⁴) + 1/(128x⁶) − 17/(2048x⁸)`, which keeps its digits where
    /// the two digamma values agree in most of theirs.
    ///
    /// ```
    /// use pact::{DType, Device, Tensor};
    /// let x = Tensor::from_f64_slice(&[0.5, 1e6], [2], DType::F64, Device::Cpu)?;
    /// let got = x.digamma_half_step()?.to_f64_vec();
    /// // ψ(1) − ψ(½) = 2 log 2; at 10⁶: 1/(2·10⁶) + 1/(8·10¹²) − ….
    /// assert!((got[0] - 2.0 * 2f64.ln()).abs() < 1e-14);
    /// assert!((got[1] - 5.00000125e-7).abs() < 1e-21);
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn digamma_half_step(&self) -> Result<Tensor> {
        let direct = self.add_scalar(0.5)?.digamma()?.sub(&self.digamma()?)?;
        let x = self.clamp(ASYMPTOTIC_FROM, f64::MAX)?;
        let inv = x.recip()?;
        let inv2 = inv.square()?;
        let even = inv2.mul(&horner(
            &inv2,
            &[-17.0 / 2048.0, 1.0 / 128.0, -1.0 / 64.0, 0.0, 1.0 / 8.0],
        )?)?;
        let series = inv.mul_scalar(0.5)?.add(&even)?;
        Tensor::where_cond(&self.ge_scalar(ASYMPTOTIC_FROM)?, &series, &direct)
    }

    /// `α + log Γ(α) + (1 − α) ψ(α)` elementwise, for `α > 0`: the entropy of a Gamma law of
    /// rate 1. At large `α` the three terms are of order `α log α` and the result of order
    /// `log α`, so from [`ASYMPTOTIC_FROM`] on it is the series `½ log(2πeα) − 1/(3α)
    /// − 1/(12α²) − 1/(90α³) + 1/(120α⁴) + 1/(210α⁵) − 1/(252α⁶)`.
    ///
    /// ```
    /// use pact::{DType, Device, Tensor};
    /// let a = Tensor::from_f64_slice(&[1.0, 1e8], [2], DType::F64, Device::Cpu)?;
    /// let got = a.gamma_entropy()?.to_f64_vec();
    /// assert!((got[0] - 1.0).abs() < 1e-14); // Exponential(1): entropy 1
    /// assert!((got[1] - 10.629278901847522).abs() < 1e-13);
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn gamma_entropy(&self) -> Result<Tensor> {
        let direct = self
            .add(&self.lgamma()?)?
            .add(&self.neg()?.add_scalar(1.0)?.mul(&self.digamma()?)?)?;
        let a = self.clamp(ASYMPTOTIC_FROM, f64::MAX)?;
        let inv = a.recip()?;
        let tail = inv.mul(&horner(
            &inv,
            &[
                -1.0 / 252.0,
                1.0 / 210.0,
                1.0 / 120.0,
                -1.0 / 90.0,
                -1.0 / 12.0,
                -1.0 / 3.0,
            ],
        )?)?;
        let two_pi_e = 2.0 * std::f64::consts::PI * std::f64::consts::E;
        let series = a.mul_scalar(two_pi_e)?.log()?.mul_scalar(0.5)?.add(&tail)?;
        Tensor::where_cond(&self.ge_scalar(ASYMPTOTIC_FROM)?, &series, &direct)
    }

    /// `x + SHIFT` and the terms `x, x + 1, …, x + SHIFT − 1` of the recurrences.
    fn shifted(&self) -> Result<(Tensor, Vec<Tensor>)> {
        let shifts = (0..SHIFT)
            .map(|k| self.add_scalar(k as f64))
            .collect::<Result<Vec<_>>>()?;
        Ok((self.add_scalar(SHIFT as f64)?, shifts))
    }
}

/// `c₀ tⁿ⁻¹ + c₁ tⁿ⁻² + … + cₙ₋₁` by Horner's rule (coefficients highest power first).
fn horner(t: &Tensor, coefficients: &[f64]) -> Result<Tensor> {
    let mut acc = t.full_like(coefficients[0]);
    for &c in &coefficients[1..] {
        acc = acc.mul(t)?.add_scalar(c)?;
    }
    Ok(acc)
}
