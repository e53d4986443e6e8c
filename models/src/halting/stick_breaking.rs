//! PACT's halting distribution (math §3), its Concrete relaxation (§5) and the
//! deterministic rule (§6), batched.

use super::{unit_column, units_axis, with_last_unit};
use pact::{Result, Rng, Tensor};

/// The deterministic rule's test for one unit (math §6): the first unit whose halting
/// logit is at least 0 (halting probability at least ½) stops the block.
pub fn halts_deterministically(logit: f64) -> bool {
    logit >= 0.0
}

/// `[B, L]` survival before each unit: `Π_{i<l} (1 − z_i)`, from `1 − z` of units `1..L−1`.
fn survival(one_minus: &Tensor) -> Result<Tensor> {
    let axis = units_axis(one_minus)?;
    Tensor::concat(
        &[unit_column(one_minus, 1.0), one_minus.cumprod(axis)?],
        axis,
    )
}

/// Stick-breaking weights `w_l = z_l Π_{i<l} (1 − z_i)` with `z_L ≡ 1`, from `z` of units
/// `1..L−1` (`[B, L−1]`, or more leading batch axes; hard or relaxed); the result sums to one
/// over the units.
pub fn stick_breaking_weights(z: &Tensor) -> Result<Tensor> {
    with_last_unit(z)?.mul(&survival(&z.affine(-1.0, 1.0)?)?)
}

/// `q(N = n | x) = h_n Π_{l<n} (1 − h_l)`, `[B, L]`, from halting logits `[B, L−1]`.
pub fn stick_breaking(logits: &Tensor) -> Result<Tensor> {
    stick_breaking_weights(&logits.sigmoid()?)
}

/// `log q(N = n | x)`, `[B, L]` (or more leading batch axes), computed in the logit domain:
/// `log σ(a_n) + Σ_{l<n} log σ(−a_l)` (the last unit's `log σ(a_L)` is 0).
pub fn log_stick_breaking(logits: &Tensor) -> Result<Tensor> {
    let axis = units_axis(logits)?;
    let zero = unit_column(logits, 0.0);
    let log_h = Tensor::concat(&[logits.log_sigmoid()?, zero.clone()], axis)?;
    let log_not = logits.neg()?.log_sigmoid()?.cumsum(axis)?;
    log_h.add(&Tensor::concat(&[zero, log_not], axis)?)
}

/// `E_q[N] = Σ_n n q(N = n | x)`, `[B]`, smooth in the logits.
pub fn expected_n(logits: &Tensor) -> Result<Tensor> {
    let q = stick_breaking(logits)?;
    let l = q.dims()[1];
    let n = Tensor::arange(l, q.dtype(), q.device()).add_scalar(1.0)?;
    q.mul(&n)?.sum(1)
}

/// The deterministic rule (§6): `N = min{ l : h_l ≥ 0.5 }`, else `L`; `h ≥ 0.5` is `a ≥ 0`.
/// One `N` per row of the logits (their leading axes flattened, row-major).
pub fn deterministic_n(logits: &Tensor) -> Vec<usize> {
    let dims = logits.dims();
    let l1 = dims.last().copied().unwrap_or(0);
    if l1 == 0 {
        // A block of one unit: every row stops there.
        return vec![1; dims[..dims.len().saturating_sub(1)].iter().product()];
    }
    logits
        .to_f64_vec()
        .chunks(l1)
        .map(|row| {
            row.iter()
                .position(|&a| halts_deterministically(a))
                .map_or(l1 + 1, |j| j + 1)
        })
        .collect()
}

/// Concrete-relaxed stick-breaking weights (§5): `z̃_l = σ((a_l + log u − log(1 − u)) / t)`,
/// then [`stick_breaking_weights`]. With `straight_through`, the forward value is the hard
/// one-hot weight vector of `N` (first `z̃ ≥ 0.5`) and the gradient is the relaxed one's.
pub fn concrete_weights(
    logits: &Tensor,
    temperature: f64,
    straight_through: bool,
    rng: &mut Rng,
) -> Result<Tensor> {
    let noise =
        Tensor::rand_logistic(logits.shape().clone(), logits.dtype(), logits.device(), rng)?;
    let y = logits.add(&noise)?.mul_scalar(1.0 / temperature)?;
    let soft = stick_breaking_weights(&y.sigmoid()?)?;
    if !straight_through {
        return Ok(soft);
    }
    let hard = pact::no_grad(|| stick_breaking_weights(&y.ge_scalar(0.0)?))?;
    Tensor::straight_through(&hard, &soft)
}

/// `KL(q ‖ p)` per example, `[B]`, between `q(N | x)` given as `log q` (`[B, L]`) and the
/// truncated geometric prior `p(N = n) ∝ e^{−λn}` on `1..=L` (math §3, §10):
/// `Σ_n q(n) (log q(n) + λn + log Z)`.
pub fn kl_to_truncated_geometric(log_q: &Tensor, lambda: f64) -> Result<Tensor> {
    let l = log_q.dims()[1];
    let n = Tensor::arange(l, log_q.dtype(), log_q.device()).add_scalar(1.0)?;
    let log_z = crate::analysis::log_normaliser(lambda, l)
        .map_err(|e| pact::Error::invalid("kl_to_truncated_geometric", e.to_string()))?;
    let log_p = n.mul_scalar(-lambda)?.add_scalar(-log_z)?;
    let q = log_q.exp()?;
    q.mul(&log_q.sub(&log_p)?)?.sum(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pact::{DType, Device};

    fn logits_of(h: &[f64]) -> Tensor {
        let a: Vec<f64> = h.iter().map(|p| (p / (1.0 - p)).ln()).collect();
        Tensor::from_f64_slice(&a, [1, h.len()], DType::F64, Device::Cpu).unwrap()
    }

    /// math §3 worked example: h = (.01, .5, .6, .7, 1).
    #[test]
    fn stick_breaking_worked_example_section_3() {
        let a = logits_of(&[0.01, 0.5, 0.6, 0.7]);
        let q = stick_breaking(&a).unwrap().to_f64_vec();
        for (v, e) in q.iter().zip([0.01, 0.495, 0.297, 0.1386, 0.0594]) {
            assert!((v - e).abs() < 1e-12, "{q:?}");
        }
        let log_q = log_stick_breaking(&a).unwrap().to_f64_vec();
        for (lv, v) in log_q.iter().zip(&q) {
            assert!((lv.exp() - v).abs() < 1e-12);
        }
        assert!((expected_n(&a).unwrap().to_f64_vec()[0] - 2.7424).abs() < 1e-12);
        // §6: the deterministic rule halts at unit 2.
        assert_eq!(deterministic_n(&a), vec![2]);
    }

    /// math §5: as t → 0 relaxed weights become one-hot, and the frequency of each N
    /// follows q.
    #[test]
    fn concrete_weights_tend_to_samples_of_q_section_5() {
        let a = logits_of(&[0.2, 0.5, 0.3]);
        let q = stick_breaking(&a).unwrap().to_f64_vec();
        let batch = 20_000;
        let a_batch = a.broadcast_as(&pact::Shape::new([batch, 3])).unwrap();
        let mut rng = Rng::seed(9);
        let w = concrete_weights(&a_batch, 0.01, false, &mut rng)
            .unwrap()
            .to_f64_vec();
        let mut counts = [0usize; 4];
        let mut nearly_one_hot = 0;
        for row in w.chunks(4) {
            let max = row.iter().cloned().fold(f64::MIN, f64::max);
            nearly_one_hot += usize::from(max > 0.99);
            counts[row.iter().position(|&v| v == max).unwrap()] += 1;
        }
        // At t = 0.01 a row is far from one-hot only when some a_l + noise lies within about
        // 0.05 of 0: probability about 0.1 × 0.25 per unit on the path, so 7% at most here.
        assert!(
            nearly_one_hot as f64 > 0.93 * batch as f64,
            "{nearly_one_hot}"
        );
        for (c, p) in counts.iter().zip(&q) {
            let freq = *c as f64 / batch as f64;
            // Four binomial standard deviations at most ≈ 0.014.
            assert!((freq - p).abs() < 0.015, "{counts:?} vs {q:?}");
        }
    }

    /// math §10: KL to the prior is zero when q equals it, positive otherwise.
    #[test]
    fn kl_to_truncated_geometric_section_10() {
        let lambda = 0.7f64;
        let z: f64 = (1..=4).map(|m| (-lambda * m as f64).exp()).sum();
        let prior: Vec<f64> = (1..=4).map(|m| (-lambda * m as f64).exp() / z).collect();
        let log_q = Tensor::from_f64_slice(
            &prior.iter().map(|p| p.ln()).collect::<Vec<_>>(),
            [1, 4],
            DType::F64,
            Device::Cpu,
        )
        .unwrap();
        let kl = kl_to_truncated_geometric(&log_q, lambda)
            .unwrap()
            .to_f64_vec()[0];
        assert!(kl.abs() < 1e-12, "{kl}");
        let a = logits_of(&[0.01, 0.5, 0.6]);
        let lq = log_stick_breaking(&a).unwrap();
        let q = lq.exp().unwrap().to_f64_vec();
        let direct: f64 = q
            .iter()
            .zip(&prior)
            .map(|(qi, pi)| qi * (qi / pi).ln())
            .sum();
        let kl = kl_to_truncated_geometric(&lq, lambda).unwrap().to_f64_vec()[0];
        assert!((kl - direct).abs() < 1e-12 && kl > 0.0, "{kl} vs {direct}");
    }

    #[test]
    fn straight_through_weights_are_one_hot_and_carry_gradient() {
        let a =
            Tensor::var_from_f64(&[0.3, -0.2, 0.1, 2.0, -1.0, 0.5], [2, 3], Device::Cpu).unwrap();
        let mut rng = Rng::seed(1);
        let w = concrete_weights(&a, 0.5, true, &mut rng).unwrap();
        for row in w.to_f64_vec().chunks(4) {
            assert_eq!(row.iter().filter(|&&v| v == 1.0).count(), 1, "{row:?}");
            assert_eq!(row.iter().filter(|&&v| v == 0.0).count(), 3, "{row:?}");
        }
        let target =
            Tensor::from_f64_slice(&[1.0, 2.0, 3.0, 4.0], [4], DType::F64, Device::Cpu).unwrap();
        let g = w
            .mul(&target)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(g
            .get(&a)
            .unwrap()
            .to_f64_vec()
            .iter()
            .any(|v| v.abs() > 1e-6));
    }
}
