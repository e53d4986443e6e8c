//! Implicit reparameterisation of Gamma draws (Figurnov, Mohamed and Mnih, 2018).
//!
//! A draw `z ~ Gamma(α, 1)` is exact (Marsaglia and Tsang's method) but not a differentiable
//! function of `α` and noise. Implicit reparameterisation differentiates the standardisation
//! instead: with the CDF `F(z; α) = P(α, z)` (the regularised lower incomplete gamma function)
//! held at the draw's quantile, `dz/dα = −(∂F/∂α)(z; α) / p(z; α)`. The derivative of `P` in
//! its first argument has no closed form; it is taken by a central difference of `P` (or of
//! `Q = 1 − P` in the upper tail, where `P` rounds to 1) at a relative step of `10⁻⁵`, which
//! leaves about ten correct digits. Beta and Dirichlet draws are ratios of Gamma draws, so
//! their gradients follow from these by the chain rule.

use crate::{Result, Tensor};
use statrs::function::gamma::{checked_gamma_lr, checked_gamma_ur, ln_gamma};

/// `dz/dα` at a draw `z` of `Gamma(α, 1)` (see the module docs); 0 where the draw underflowed
/// to 0 or the density vanishes (the draw cannot move).
pub(crate) fn standard_gamma_grad(alpha: f64, z: f64) -> f64 {
    if !(z > 0.0 && z.is_finite() && alpha > 0.0 && alpha.is_finite()) {
        return 0.0;
    }
    let log_density = (alpha - 1.0) * z.ln() - z - ln_gamma(alpha);
    let density = log_density.exp();
    if !(density > 0.0 && density.is_finite()) {
        return 0.0;
    }
    let h = 1e-5 * alpha;
    // In the upper tail P rounds towards 1, so differentiate Q = 1 − P there: ∂P/∂α = −∂Q/∂α.
    let upper = checked_gamma_lr(alpha, z).is_ok_and(|p| p > 0.5);
    let cdf = |a: f64| -> Option<f64> {
        if upper {
            checked_gamma_ur(a, z).ok().map(|q| -q)
        } else {
            checked_gamma_lr(a, z).ok()
        }
    };
    match (cdf(alpha + h), cdf(alpha - h)) {
        (Some(hi), Some(lo)) => {
            let d_cdf = (hi - lo) / (2.0 * h);
            let g = -d_cdf / density;
            if g.is_finite() {
                g
            } else {
                0.0
            }
        }
        _ => 0.0,
    }
}

/// The standard Gamma draws `z` (drawn at the concentrations `alpha`, same shape, flattened
/// row-major) as a tensor of `alpha`'s shape, dtype and device whose value is `z` and whose
/// gradient with respect to `alpha` is `dz/dα` per element.
pub(crate) fn reparameterised_gamma(z: &[f64], alpha: &Tensor) -> Result<Tensor> {
    let a = alpha.detach().to_f64_vec();
    let grads: Vec<f64> = a
        .iter()
        .zip(z)
        .map(|(&a, &z)| standard_gamma_grad(a, z))
        .collect();
    let (shape, dtype, device) = (alpha.shape().clone(), alpha.dtype(), alpha.device());
    let value = Tensor::from_f64_slice(z, shape.clone(), dtype, device)?;
    let slope = Tensor::from_f64_slice(&grads, shape, dtype, device)?;
    // value + (α − stop_gradient(α)) · dz/dα: the value is z, the gradient dz/dα.
    value.add(&alpha.sub(&alpha.detach())?.mul(&slope)?)
}

/// Standard Gamma draws at the concentrations `alpha` (one per element, in row-major order,
/// as `sample` draws them), reparameterised as [`reparameterised_gamma`].
pub(crate) fn rsample_standard_gamma(alpha: &Tensor, rng: &mut crate::Rng) -> Result<Tensor> {
    let z: Vec<f64> = alpha
        .detach()
        .to_f64_vec()
        .iter()
        .map(|&a| super::continuous::gamma_draw(rng, a))
        .collect();
    reparameterised_gamma(&z, alpha)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quantile `F⁻¹(u; α)` by bisection on `P(α, ·)` to the last bit.
    fn quantile(alpha: f64, u: f64) -> f64 {
        let (mut lo, mut hi) = (0.0f64, alpha + 50.0 * alpha.sqrt() + 50.0);
        for _ in 0..2000 {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            if checked_gamma_lr(alpha, mid).unwrap() < u {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }

    /// `dz/dα` at a fixed quantile, by a central difference of the quantile function: an
    /// independent route to the same derivative (inversion, not differentiation, of `P`).
    #[test]
    fn the_implicit_gradient_is_the_derivative_of_the_quantile_at_fixed_u() {
        for alpha in [0.05, 0.3, 1.0, 2.5, 10.0, 100.0] {
            for u in [0.01, 0.2, 0.5, 0.8, 0.99] {
                let z = quantile(alpha, u);
                // Central differences at h and h/2, extrapolated (Richardson): the quantile is
                // far from linear in α at small α.
                let diff = |h: f64| (quantile(alpha + h, u) - quantile(alpha - h, u)) / (2.0 * h);
                let h = 1e-4 * alpha;
                let want = (4.0 * diff(h / 2.0) - diff(h)) / 3.0;
                let got = standard_gamma_grad(alpha, z);
                assert!(
                    (got - want).abs() <= 1e-6 * want.abs().max(1e-3 * z.max(1e-300)),
                    "alpha {alpha}, u {u}, z {z}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn draws_that_cannot_move_have_no_gradient() {
        assert_eq!(standard_gamma_grad(0.5, 0.0), 0.0);
        assert_eq!(standard_gamma_grad(0.5, f64::INFINITY), 0.0);
        assert_eq!(standard_gamma_grad(0.5, f64::NAN), 0.0);
        assert_eq!(standard_gamma_grad(0.0, 1.0), 0.0);
    }
}
