//! Recurrent cells that ponder at every input step (math §10): at step `t` the cell runs
//! up to `M` times on the same input, with a first-step flag appended,
//! `s_t^1 = S(s_{t−1}, x_t ⊕ 1)`, `s_t^n = S(s_t^{n−1}, x_t ⊕ 0)`, and a halting head
//! `h_t^n = σ(W_h s_t^n + b_h)` decides how many times.
//!
//! The ponder steps of one input step form a halting block whose units are the repeated cell,
//! so ACT, PACT and PonderNet work here exactly as in the ResNets. Training and evaluation run
//! the network as a model of the modelling language ([`PonderingRnn::model`]: one halting site
//! per input step, the targets observed; see [`model`]) under the handlers of a
//! [`HaltingMode`](crate::mode::HaltingMode). An LSTM's state is carried as `[h, c]`
//! concatenated, so that both are weighted alike (§2).

pub mod model;

pub use model::{step_site, target_site, SequenceModelOutput, BATCH_PLATE};

use crate::{Error, Result};
use pact::nn::{Linear, LstmCell, LstmState, ParamStore, RnnCell};
use pact::{Rng, Tensor};

/// Which recurrent cell ponders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    /// Elman RNN with tanh.
    Rnn,
    /// LSTM.
    Lstm,
}

/// Shape of a [`PonderingRnn`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PonderingConfig {
    /// The cell.
    pub cell: CellKind,
    /// Input features per step (the flag is added to these).
    pub inputs: usize,
    /// Hidden units.
    pub hidden: usize,
    /// Output classes per step.
    pub outputs: usize,
    /// Step cap `M` (100 in Graves' experiments).
    pub max_ponder: usize,
    /// Initial halting bias (Graves used +1).
    pub halting_bias: f64,
}

enum Cell {
    Rnn(RnnCell),
    Lstm(LstmCell),
}

/// A pondering recurrent network: cell, halting head and a linear output layer.
pub struct PonderingRnn {
    config: PonderingConfig,
    cell: Cell,
    halt: Linear,
    out: Linear,
}

impl PonderingRnn {
    /// Builds the network under `store` (`cell`, `halt`, `out`).
    pub fn new(store: &ParamStore, config: PonderingConfig, rng: &mut Rng) -> Result<Self> {
        if config.max_ponder == 0 || config.hidden == 0 || config.outputs == 0 {
            return Err(Error::InvalidInput(format!(
                "max_ponder, hidden and outputs must be positive (got {}, {}, {})",
                config.max_ponder, config.hidden, config.outputs
            )));
        }
        let inputs = config.inputs + 1;
        let cell = match config.cell {
            CellKind::Rnn => {
                Cell::Rnn(RnnCell::new(&store.pp("cell"), inputs, config.hidden, rng)?)
            }
            CellKind::Lstm => Cell::Lstm(LstmCell::new(
                &store.pp("cell"),
                inputs,
                config.hidden,
                rng,
            )?),
        };
        let halt = Linear::new(&store.pp("halt"), config.hidden, 1, rng)?;
        if let Some(b) = halt.bias() {
            b.set(b.tensor().full_like(config.halting_bias))?;
        }
        let out = Linear::new(&store.pp("out"), config.hidden, config.outputs, rng)?;
        Ok(PonderingRnn {
            config,
            cell,
            halt,
            out,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PonderingConfig {
        &self.config
    }

    /// The output logits `[B, outputs]` read from a state `[B, width]` (for an LSTM the
    /// `[h, c]` pair; only `h` is read): what the network outputs when it halts in that state.
    /// PonderNet's loss reads every pondering state this way.
    pub fn readout(&self, state: &Tensor) -> Result<Tensor> {
        Ok(self.read(state)?)
    }

    /// [`PonderingRnn::readout`] on states with any leading axes `[.., B, width]`.
    fn read(&self, state: &Tensor) -> pact::Result<Tensor> {
        self.out.forward(&self.hidden_of(state)?)
    }

    /// One pondering step of the cell: the next state `[B, width]` from the input with its
    /// first-step flag `[B, inputs + 1]` and the state `[B, width]`.
    pub fn cell_step(&self, x: &Tensor, state: &Tensor) -> Result<Tensor> {
        Ok(self.step(x, state)?)
    }

    /// The halting logits `[B]` of states `[B, width]` (the head reads the hidden part).
    pub fn halting_logits(&self, state: &Tensor) -> Result<Tensor> {
        Ok(self.halt.forward(&self.hidden_of(state)?)?.squeeze(1)?)
    }

    /// The width of the carried state: `hidden`, or `2·hidden` for an LSTM's `[h, c]`.
    pub fn state_width(&self) -> usize {
        match self.cell {
            Cell::Rnn(_) => self.config.hidden,
            Cell::Lstm(_) => 2 * self.config.hidden,
        }
    }

    /// FLOPs of one pondering step of the cell (math §9: linear layers only, `2·in·out`
    /// each): the input map on `inputs + 1` features (the flag) and the recurrent map, four
    /// gates for an LSTM.
    pub fn cell_flops(&self) -> u64 {
        let c = &self.config;
        let gates = match c.cell {
            CellKind::Rnn => 1,
            CellKind::Lstm => 4,
        };
        2 * (gates * c.hidden * (c.inputs + 1 + c.hidden)) as u64
    }

    /// FLOPs of the halting head after one pondering step (`2·hidden`).
    pub fn halt_flops(&self) -> u64 {
        2 * self.config.hidden as u64
    }

    /// FLOPs of the output layer at one input step (`2·hidden·outputs`).
    pub fn output_flops(&self) -> u64 {
        2 * (self.config.hidden * self.config.outputs) as u64
    }

    /// FLOPs of one example (math §9) given its pondering steps at each of its real input
    /// steps: every executed pondering step counts the cell and, unless it is the `M`-th (which
    /// always halts, so no head runs), the halting head; the output layer counts once per input
    /// step.
    pub fn flops(&self, ponder_steps: &[usize]) -> u64 {
        let m = self.config.max_ponder;
        ponder_steps
            .iter()
            .map(|&n| {
                let n = n.min(m);
                n as u64 * self.cell_flops()
                    + n.min(m - 1) as u64 * self.halt_flops()
                    + self.output_flops()
            })
            .sum()
    }

    /// The hidden part of states `[.., width]` (the last axis).
    fn hidden_of(&self, state: &Tensor) -> pact::Result<Tensor> {
        match self.cell {
            Cell::Rnn(_) => Ok(state.clone()),
            Cell::Lstm(_) => state.narrow(state.rank().saturating_sub(1), 0, self.config.hidden),
        }
    }

    fn step(&self, x: &Tensor, state: &Tensor) -> pact::Result<Tensor> {
        match &self.cell {
            Cell::Rnn(c) => c.forward(x, state),
            Cell::Lstm(c) => {
                let h = self.config.hidden;
                let s = LstmState {
                    h: state.narrow(1, 0, h)?,
                    c: state.narrow(1, h, h)?,
                };
                let next = c.forward(x, &s)?;
                Tensor::concat(&[next.h, next.c], 1)
            }
        }
    }
}
