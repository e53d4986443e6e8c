//! Recurrent cells: tanh RNN and LSTM (PyTorch parameter names and gate order).

use super::{init, Param, ParamStore};
use crate::{Result, Rng, Tensor};

fn recurrent_params(
    store: &ParamStore,
    inputs: usize,
    hidden: usize,
    gates: usize,
    rng: &mut Rng,
) -> Result<[Param; 4]> {
    let (dt, dev) = (store.dtype(), store.device());
    let n = gates * hidden;
    Ok([
        store.create(
            "weight_ih",
            init::uniform_fan([n, inputs], hidden, dt, dev, rng)?,
        )?,
        store.create(
            "weight_hh",
            init::uniform_fan([n, hidden], hidden, dt, dev, rng)?,
        )?,
        store.create("bias_ih", init::uniform_fan([n], hidden, dt, dev, rng)?)?,
        store.create("bias_hh", init::uniform_fan([n], hidden, dt, dev, rng)?)?,
    ])
}

/// `W_ih x + b_ih + W_hh h + b_hh`.
fn affine_gates(p: &[Param; 4], x: &Tensor, h: &Tensor) -> Result<Tensor> {
    let ih = x
        .matmul(&p[0].tensor().transpose(0, 1)?)?
        .add(&p[2].tensor())?;
    let hh = h
        .matmul(&p[1].tensor().transpose(0, 1)?)?
        .add(&p[3].tensor())?;
    ih.add(&hh)
}

/// Elman RNN cell: `h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`.
#[derive(Clone)]
pub struct RnnCell {
    params: [Param; 4],
    hidden: usize,
}

impl RnnCell {
    /// A cell with `inputs` input features and `hidden` units.
    pub fn new(store: &ParamStore, inputs: usize, hidden: usize, rng: &mut Rng) -> Result<Self> {
        Ok(RnnCell {
            params: recurrent_params(store, inputs, hidden, 1, rng)?,
            hidden,
        })
    }

    /// Number of hidden units.
    pub fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// One step: `x` is `[B, inputs]`, `h` is `[B, hidden]`.
    pub fn forward(&self, x: &Tensor, h: &Tensor) -> Result<Tensor> {
        affine_gates(&self.params, x, h)?.tanh()
    }
}

/// Hidden and cell state of an LSTM.
#[derive(Clone, Debug)]
pub struct LstmState {
    /// Hidden state `[B, hidden]`.
    pub h: Tensor,
    /// Cell state `[B, hidden]`.
    pub c: Tensor,
}

/// LSTM cell with gates in PyTorch order (input, forget, cell, output).
#[derive(Clone)]
pub struct LstmCell {
    params: [Param; 4],
    hidden: usize,
}

impl LstmCell {
    /// A cell with `inputs` input features and `hidden` units.
    pub fn new(store: &ParamStore, inputs: usize, hidden: usize, rng: &mut Rng) -> Result<Self> {
        Ok(LstmCell {
            params: recurrent_params(store, inputs, hidden, 4, rng)?,
            hidden,
        })
    }

    /// Number of hidden units.
    pub fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// A zero state for a batch of `batch`.
    pub fn zero_state(&self, batch: usize) -> LstmState {
        let t = self.params[0].tensor();
        let z = Tensor::zeros([batch, self.hidden], t.dtype(), t.device());
        LstmState { h: z.clone(), c: z }
    }

    /// One step: `x` is `[B, inputs]`.
    pub fn forward(&self, x: &Tensor, state: &LstmState) -> Result<LstmState> {
        let g = affine_gates(&self.params, x, &state.h)?;
        let n = self.hidden;
        let i = g.narrow(1, 0, n)?.sigmoid()?;
        let f = g.narrow(1, n, n)?.sigmoid()?;
        let c_hat = g.narrow(1, 2 * n, n)?.tanh()?;
        let o = g.narrow(1, 3 * n, n)?.sigmoid()?;
        let c = f.mul(&state.c)?.add(&i.mul(&c_hat)?)?;
        let h = o.mul(&c.tanh()?)?;
        Ok(LstmState { h, c })
    }
}
