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
