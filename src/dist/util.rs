//! Shared numerics of the distributions: safe products with infinities, probability to
//! logit conversions, shape helpers.

use crate::{DType, Error, Result, Shape, Tensor};

/// Logits of relaxed distributions are clamped into `[−LOGIT_BOUND, LOGIT_BOUND]`.
///
/// A probability of exactly 0 or 1 has an infinite logit; the Concrete density and its
/// samples need a finite one. At ±30 the probability differs from 0 or 1 by `e^{−30} ≈ 1e−13`,
/// and because uniform noise is kept `1e−6` away from 0 and 1 (logistic noise within ±13.9,
/// Gumbel noise within [−2.7, 13.9]) a clamped certain outcome is still always drawn.
/// Gradients do not flow through clamped logits.
pub const LOGIT_BOUND: f64 = 30.0;

/// `x · y`, with the product taken as 0 where `x == 0` even if `y` is infinite, and with no
/// NaN in either gradient there (the double-`where` trick).
pub(crate) fn xmul(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    let zero_x = x.eq(&x.zeros_like())?;
    let zero = y.scalar_like(0.0);
    let safe_y = Tensor::where_cond(&zero_x, &zero, y)?;
    Tensor::where_cond(&zero_x, &zero, &x.mul(&safe_y)?)
}

/// `log p` with `log 0 = −∞` and no NaN in the gradient at `p = 0`.
pub(crate) fn safe_log(p: &Tensor) -> Result<Tensor> {
    let positive = p.gt_scalar(0.0)?;
    let safe = Tensor::where_cond(&positive, p, &p.ones_like())?;
    Tensor::where_cond(&positive, &safe.log()?, &p.scalar_like(f64::NEG_INFINITY))
}

/// `log p − log(1 − p)`, `−∞` at `p = 0` and `+∞` at `p = 1`, with no NaN in the gradient.
pub(crate) fn logit_from_prob(p: &Tensor) -> Result<Tensor> {
    let inside = p.gt_scalar(0.0)?.mul(&p.lt_scalar(1.0)?)?;
    let safe = Tensor::where_cond(&inside, p, &p.full_like(0.5))?;
    let logit = safe.log()?.sub(&safe.neg()?.log1p()?)?;
    let edge = Tensor::where_cond(
        &p.gt_scalar(0.0)?,
        &p.scalar_like(f64::INFINITY),
        &p.scalar_like(f64::NEG_INFINITY),
    )?;
    Tensor::where_cond(&inside, &logit, &edge)
}

/// Errors if any element is NaN.
pub(crate) fn check_not_nan(t: &Tensor, op: &'static str, what: &str) -> Result<()> {
    if t.to_f64_vec().iter().any(|v| v.is_nan()) {
        return Err(Error::invalid(op, format!("{what} contains NaN")));
    }
    Ok(())
}

/// Errors unless every element lies in `[lo, hi]` (NaN fails).
pub(crate) fn check_range(
    t: &Tensor,
    lo: f64,
    hi: f64,
    op: &'static str,
    what: &str,
) -> Result<()> {
    if let Some(v) = t.to_f64_vec().into_iter().find(|v| !(*v >= lo && *v <= hi)) {
        return Err(Error::invalid(
            op,
            format!(
                "{what} must lie in {}, found {}",
                interval(lo, hi),
                compact(v)
            ),
        ));
    }
    Ok(())
}

/// The interval `[lo, hi]` as a reader wants it: `f64::MIN_POSITIVE` as an open 0 and
/// `f64::MAX` as an open ∞, so that `(0, 1]` is not printed with 330 digits.
fn interval(lo: f64, hi: f64) -> String {
    let left = if lo == f64::MIN_POSITIVE {
        "(0".to_string()
    } else {
        format!("[{}", compact(lo))
    };
    let right = if hi >= f64::MAX {
        "∞)".to_string()
    } else {
        format!("{}]", compact(hi))
    };
    format!("{left}, {right}")
}

/// A number in at most about 20 characters: scientific notation when tiny or huge.
pub(crate) fn compact(x: f64) -> String {
    if x != 0.0 && x.is_finite() && (x.abs() < 1e-4 || x.abs() >= 1e9) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// Errors unless the temperature is finite and positive.
pub(crate) fn check_temperature(t: f64, op: &'static str) -> Result<()> {
    if t.is_finite() && t > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            op,
            format!("temperature must be finite and > 0, got {t}"),
        ))
    }
}

/// Checks category logits of shape `[.., K]` (`K ≥ 1`; no NaN, no `+∞`, not every logit of
/// a row `−∞`) and returns them normalised by `log_softmax`.
pub(crate) fn normalized_category_logits(logits: &Tensor, op: &'static str) -> Result<Tensor> {
    let k = match logits.dims().last() {
        Some(&k) if k > 0 => k,
        _ => {
            return Err(Error::invalid(
                op,
                format!(
                    "expected [.., K] with K ≥ 1 categories, got shape {}",
                    logits.shape()
                ),
            ))
        }
    };
    for row in logits.to_f64_vec().chunks(k) {
        if row.iter().any(|v| v.is_nan() || *v == f64::INFINITY) {
            return Err(Error::invalid(
                op,
                "logits must not be NaN or +∞ (give probabilities for certain outcomes)",
            ));
        }
        if row.iter().all(|v| *v == f64::NEG_INFINITY) {
            return Err(Error::invalid(op, "a row of logits is −∞ everywhere"));
        }
    }
    logits.log_softmax(logits.rank() - 1)
}

/// `sample_shape ++ batch ++ event`.
pub(crate) fn extended(sample_shape: &[usize], batch: &Shape, event: &Shape) -> Shape {
    let mut dims = sample_shape.to_vec();
    dims.extend_from_slice(batch.dims());
    dims.extend_from_slice(event.dims());
    Shape::new(dims)
}

/// The shape without its last axis.
pub(crate) fn drop_last(shape: &Shape) -> Shape {
    let d = shape.dims();
    Shape::new(&d[..d.len().saturating_sub(1)])
}

/// `shape ++ [k]`.
pub(crate) fn with_last(shape: &Shape, k: usize) -> Shape {
    let mut d = shape.dims().to_vec();
    d.push(k);
    Shape::new(d)
}

/// The index of the largest entry along the last axis, as a float tensor of the leading shape.
pub(crate) fn argmax_last(t: &Tensor) -> Result<Tensor> {
    let axis = t
        .rank()
        .checked_sub(1)
        .ok_or_else(|| Error::invalid("argmax", "a scalar has no category axis".to_string()))?;
    let idx: Vec<f64> = t.argmax(axis)?.into_iter().map(|i| i as f64).collect();
    Tensor::from_f64_slice(&idx, drop_last(t.shape()), t.dtype(), t.device())
}

/// One-hot encoding along a new last axis of size `k` (1 where `index == j`).
pub(crate) fn one_hot(index: &Tensor, k: usize) -> Result<Tensor> {
    let classes = Tensor::arange(k, index.dtype(), index.device());
    index.unsqueeze(index.rank())?.eq(&classes)
}

/// `ln((k − 1)!)`.
pub(crate) fn log_factorial_minus_one(k: usize) -> f64 {
    (1..k).map(|i| (i as f64).ln()).sum()
}

/// The smallest positive normal value and the largest value below 1 of a dtype: relaxed
/// values are clamped into this interval before a logarithm is taken.
pub(crate) fn unit_interval_bounds(dtype: DType) -> (f64, f64) {
    match dtype {
        DType::F32 => (f32::MIN_POSITIVE as f64, 1.0 - f32::EPSILON as f64 / 2.0),
        DType::F64 => (f64::MIN_POSITIVE, 1.0 - f64::EPSILON / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_print_short() {
        assert_eq!(interval(f64::MIN_POSITIVE, 1.0), "(0, 1]");
        assert_eq!(interval(0.0, f64::MAX), "[0, ∞)");
        assert_eq!(interval(0.0, 1.0), "[0, 1]");
        assert_eq!(compact(1e-320), "1e-320");
        assert_eq!(compact(-2.5), "-2.5");
        assert_eq!(compact(f64::NAN), "NaN");
    }
}
