//! Graves' ACT halting (math §2), batched and differentiable in the halting
//! probabilities (with `N` a constant, as in the paper).

use super::with_last_unit;
use pact::{Result, Tensor};

/// ACT's halting test after a unit with halting probability `h` (math §2): the block
/// halts once the cumulative halting probability `cum_before + h` reaches `1 − ε`.
pub fn act_halts(cum_before: f64, h: f64, eps: f64) -> bool {
    cum_before + h >= 1.0 - eps
}

/// ACT's threshold slack ε: halting happens once the cumulative halting probability reaches
/// `1 − ε`.
pub const ACT_EPSILON: f64 = 0.01;

/// ACT's decisions for a batch.
#[derive(Clone, Debug)]
pub struct ActHalting {
    /// Units executed per example, `N` (counted from 1).
    pub n: Vec<usize>,
    /// Halting weights `p`, `[B, L]` (`h_n` before `N`, `R` at `N`, 0 after).
    pub weights: Tensor,
    /// Remainder `R = 1 − Σ_{n<N} h_n`, `[B]`.
    pub remainder: Tensor,
    /// Ponder cost `ρ = N + R`, `[B]`; its gradient is `−1` for every `h_n` with `n < N`.
    pub ponder: Tensor,
}

/// ACT for halting logits `[B, L−1]` (the last unit halts) with slack `eps`.
pub fn act_halting(logits: &Tensor, eps: f64) -> Result<ActHalting> {
    act_from_probs(&logits.sigmoid()?, eps)
}

/// ACT for halting probabilities `[B, L−1]`.
pub fn act_from_probs(h: &Tensor, eps: f64) -> Result<ActHalting> {
    let h = with_last_unit(h)?;
    let (b, l) = (h.dims()[0], h.dims()[1]);
    // N is a constant for differentiation: found on the host from the values.
    let values = h.to_f64_vec();
    let mut n = Vec::with_capacity(b);
    let mut before = vec![0.0; b * l];
    let mut at = vec![0.0; b * l];
    for row in 0..b {
        let mut cum = 0.0;
        let mut halt = l;
        for j in 0..l {
            let h = values[row * l + j];
            if act_halts(cum, h, eps) {
                halt = j + 1;
                break;
            }
            cum += h;
        }
        n.push(halt);
        for j in 0..halt - 1 {
            before[row * l + j] = 1.0;
        }
        at[row * l + halt - 1] = 1.0;
    }
    let mask = |v: Vec<f64>| Tensor::from_f64_slice(&v, [b, l], h.dtype(), h.device());
    let (before, at) = (mask(before)?, mask(at)?);
    let kept = h.mul(&before)?;
    let remainder = kept.sum(1)?.affine(-1.0, 1.0)?;
    let weights = kept.add(&at.mul(&remainder.unsqueeze(1)?)?)?;
    let n_tensor = Tensor::from_f64_slice(
        &n.iter().map(|&v| v as f64).collect::<Vec<_>>(),
        [b],
        h.dtype(),
        h.device(),
    )?;
    let ponder = n_tensor.add(&remainder)?;
    Ok(ActHalting {
        n,
        weights,
        remainder,
        ponder,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pact::Device;

    fn probs(rows: &[&[f64]]) -> Tensor {
        let flat: Vec<f64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::var_from_f64(&flat, [rows.len(), rows[0].len()], Device::Cpu).unwrap()
    }

    /// math §2, golden values.
    #[test]
    fn act_golden_values_section_2() {
        let h = probs(&[
            &[0.999, 0.999, 0.999, 0.999],
            &[0.01, 0.5, 0.6, 0.7],
            &[0.01, 0.01, 0.01, 0.01],
        ]);
        let act = act_from_probs(&h, ACT_EPSILON).unwrap();
        assert_eq!(act.n, vec![1, 3, 5]);
        let ponder = act.ponder.to_f64_vec();
        for (p, e) in ponder.iter().zip([2.0, 3.49, 5.96]) {
            assert!((p - e).abs() < 1e-12, "{ponder:?}");
        }
        let w = act.weights.to_f64_vec();
        let expected = [
            1.0, 0.0, 0.0, 0.0, 0.0, //
            0.01, 0.5, 0.49, 0.0, 0.0, //
            0.01, 0.01, 0.01, 0.01, 0.96,
        ];
        for (a, e) in w.iter().zip(expected) {
            assert!((a - e).abs() < 1e-12, "{w:?}");
        }
        // ∂ρ/∂h: −1 before N, 0 elsewhere.
        let g = act.ponder.sum_all().unwrap().backward().unwrap();
        let grad = g.get(&h).unwrap().to_f64_vec();
        let expected = [
            0.0, 0.0, 0.0, 0.0, -1.0, -1.0, 0.0, 0.0, -1.0, -1.0, -1.0, -1.0,
        ];
        assert_eq!(grad, expected);
    }

    /// math §2: ρ is discontinuous in h, with h = (0.5, x, 1).
    #[test]
    fn act_ponder_jumps_at_the_threshold_section_2() {
        for (x, expected) in [(0.3, 3.2), (0.48, 3.02), (0.49, 2.5), (0.7, 2.5)] {
            let act = act_from_probs(&probs(&[&[0.5, x]]), ACT_EPSILON).unwrap();
            assert!(
                (act.ponder.to_f64_vec()[0] - expected).abs() < 1e-12,
                "x = {x}"
            );
        }
    }
}
