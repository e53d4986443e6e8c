//! Stochastic gradient descent with momentum, Nesterov momentum and weight decay.

use super::{check_has_parameters, grad_of, restore, Optimizer};
use crate::nn::Param;
use crate::{no_grad, GradStore, Result, Tensor};
use std::collections::BTreeMap;

/// Settings of [`Sgd`] (PyTorch semantics).
#[derive(Clone, Copy, Debug)]
pub struct SgdConfig {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor μ (0 disables momentum).
    pub momentum: f64,
    /// Use Nesterov momentum.
    pub nesterov: bool,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f64,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 0.1,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }
}

/// SGD: `g ← ∇ + wd·w`, `v ← μ·v + g`, `w ← w − lr·(nesterov ? g + μ·v : v)`.
pub struct Sgd {
    params: Vec<(String, Param)>,
    velocity: BTreeMap<String, Tensor>,
    config: SgdConfig,
}

impl Sgd {
    /// An optimiser over `params` (usually `store.trainable()`).
    pub fn new(params: Vec<(String, Param)>, config: SgdConfig) -> Self {
        Sgd {
            params,
            velocity: BTreeMap::new(),
            config,
        }
    }
}

impl Optimizer for Sgd {
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
                let update = if c.momentum != 0.0 {
                    let v = match self.velocity.get(name) {
                        Some(v) => v.mul_scalar(c.momentum)?.add(&g)?,
                        None => g.clone(),
                    };
                    self.velocity.insert(name.clone(), v.clone());
                    if c.nesterov {
                        g.add(&v.mul_scalar(c.momentum)?)?
                    } else {
                        v
                    }
                } else {
                    g
                };
                p.set(w.sub(&update.mul_scalar(c.lr)?)?)?;
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
        self.velocity
            .iter()
            .map(|(n, v)| (format!("{n}.momentum_buffer"), v.clone()))
            .collect()
    }

    fn load_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<()> {
        self.velocity.clear();
        for (name, p) in &self.params {
            if let Some(v) = restore(state, &format!("{name}.momentum_buffer"), &p.tensor())? {
                self.velocity.insert(name.clone(), v);
            }
        }
        Ok(())
    }
}
