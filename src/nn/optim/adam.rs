//! Adam (Kingma and Ba, 2015), with optional L2 weight decay as in PyTorch's `Adam`.

use super::{check_has_parameters, grad_of, restore, Optimizer};
use crate::nn::Param;
use crate::{no_grad, GradStore, Result, Tensor};
use std::collections::BTreeMap;

/// Settings of [`Adam`].
#[derive(Clone, Copy, Debug)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// Adam: `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
/// `w ← w − lr · m̂ / (√v̂ + ε)` with bias-corrected `m̂ = m/(1−β₁ᵗ)`, `v̂ = v/(1−β₂ᵗ)`.
pub struct Adam {
    params: Vec<(String, Param)>,
    moments: BTreeMap<String, (Tensor, Tensor)>,
    steps: BTreeMap<String, u64>,
    config: AdamConfig,
}

impl Adam {
    /// An optimiser over `params`.
    pub fn new(params: Vec<(String, Param)>, config: AdamConfig) -> Self {
        Adam {
            params,
            moments: BTreeMap::new(),
            steps: BTreeMap::new(),
            config,
        }
    }
}

impl Optimizer for Adam {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        check_has_parameters(&self.params, grads)?;
        let c = self.config;
        no_grad(|| {
            for (name, p) in &self.params {
                let Some(g) = grad_of(grads, p) else { continue };
                let w = p.tensor();
                let mut g = g.to_dtype(w.dtype());
                if c.weight_decay != 0.0 {
                    g = g.add(&w.mul_scalar(c.weight_decay)?)?;
                }
                let (m, v) = match self.moments.get(name) {
                    Some((m, v)) => (m.clone(), v.clone()),
                    None => (w.zeros_like(), w.zeros_like()),
                };
                let m = m.mul_scalar(c.beta1)?.add(&g.mul_scalar(1.0 - c.beta1)?)?;
                let v = v
                    .mul_scalar(c.beta2)?
                    .add(&g.square()?.mul_scalar(1.0 - c.beta2)?)?;
                let t = self.steps.get(name).copied().unwrap_or(0) + 1;
                let m_hat = m.mul_scalar(1.0 / (1.0 - c.beta1.powi(t as i32)))?;
                let v_hat = v.mul_scalar(1.0 / (1.0 - c.beta2.powi(t as i32)))?;
                let update = m_hat.div(&v_hat.sqrt()?.add_scalar(c.eps)?)?;
                p.set(w.sub(&update.mul_scalar(c.lr)?)?)?;
                self.moments.insert(name.clone(), (m, v));
                self.steps.insert(name.clone(), t);
            }
            Ok(())
        })
    }

    fn learning_rate(&self) -> f64 {
        self.config.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (n, (m, v)) in &self.moments {
            out.push((format!("{n}.exp_avg"), m.clone()));
            out.push((format!("{n}.exp_avg_sq"), v.clone()));
            let t = self.steps.get(n).copied().unwrap_or(0) as f64;
            out.push((
                format!("{n}.step"),
                Tensor::scalar(t, m.dtype(), m.device()),
            ));
        }
        out
    }

    fn load_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<()> {
        self.moments.clear();
        self.steps.clear();
        for (name, p) in &self.params {
            let w = p.tensor();
            let m = restore(state, &format!("{name}.exp_avg"), &w)?;
            let v = restore(state, &format!("{name}.exp_avg_sq"), &w)?;
            if let (Some(m), Some(v)) = (m, v) {
                let t = match state.get(&format!("{name}.step")) {
                    Some(t) => t.to_scalar()? as u64,
                    None => 0,
                };
                self.moments.insert(name.clone(), (m, v));
                self.steps.insert(name.clone(), t);
            }
        }
        Ok(())
    }
}
