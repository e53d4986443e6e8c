//! Named recurrent model families (math §10) and the description stored in their
//! checkpoints, so that `pact eval` rebuilds exactly the pondering network that was trained.
//!
//! The image families live in [`crate::spec`]; a checkpoint holds one of the two descriptions,
//! under [`crate::spec::MODEL_KEY`] (ResNets) or [`RECURRENT_MODEL_KEY`] (recurrent models).

use crate::mode::HaltingMode;
use crate::recurrent::{CellKind, PonderingConfig};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Checkpoint metadata key holding a [`RecurrentSpec`] as JSON.
pub const RECURRENT_MODEL_KEY: &str = "pact.recurrent_model";

/// Graves' initial halting bias for recurrent ACT (math §1): `h ≈ 0.73`, so a fresh
/// network ponders one or two steps.
pub const RECURRENT_HALTING_BIAS: f64 = 1.0;

/// The default step cap `M` (math §10).
pub const DEFAULT_MAX_PONDER: usize = 100;

/// How a recurrent family halts and is trained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecurrentMethod {
    /// Graves' ACT: weighted states, ponder cost `τ Σ_t (N(t) + R(t))`.
    Act,
    /// PACT: Concrete-relaxed halting in training, the deterministic rule at test time.
    Pact,
    /// PonderNet: `Σ_n q(n) loss(y, ŷ_n) + β KL(q ‖ truncated geometric)`.
    PonderNet,
}

/// The recurrent model families `pact train --model` accepts: a halting method on a tanh RNN
/// or an LSTM cell that ponders at every input step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecurrentName {
    /// ACT on a tanh RNN.
    ActRnn,
    /// PACT on a tanh RNN.
    PactRnn,
    /// PonderNet on a tanh RNN.
    PondernetRnn,
    /// ACT on an LSTM.
    ActLstm,
    /// PACT on an LSTM.
    PactLstm,
    /// PonderNet on an LSTM.
    PondernetLstm,
}

impl RecurrentName {
    /// Every name with a one-line description, for `--help` and error messages.
    pub const ALL: [(&'static str, &'static str); 6] = [
        ("act-rnn", "tanh RNN pondering with Graves' ACT"),
        ("pact-rnn", "tanh RNN pondering with PACT halting"),
        ("pondernet-rnn", "tanh RNN pondering with PonderNet's loss"),
        ("act-lstm", "LSTM pondering with Graves' ACT"),
        ("pact-lstm", "LSTM pondering with PACT halting"),
        ("pondernet-lstm", "LSTM pondering with PonderNet's loss"),
    ];

    /// Parses a name; the error lists the valid ones.
    pub fn parse(name: &str) -> Result<Self> {
        use RecurrentName::*;
        Ok(match name {
            "act-rnn" => ActRnn,
            "pact-rnn" => PactRnn,
            "pondernet-rnn" => PondernetRnn,
            "act-lstm" => ActLstm,
            "pact-lstm" => PactLstm,
            "pondernet-lstm" => PondernetLstm,
            other => {
                return Err(Error::InvalidInput(format!(
                    "unknown recurrent model '{other}'; valid recurrent models: {}",
                    Self::ALL.map(|(n, _)| n).join(", ")
                )))
            }
        })
    }

    /// The name as written on the command line.
    pub fn as_str(self) -> &'static str {
        use RecurrentName::*;
        match self {
            ActRnn => "act-rnn",
            PactRnn => "pact-rnn",
            PondernetRnn => "pondernet-rnn",
            ActLstm => "act-lstm",
            PactLstm => "pact-lstm",
            PondernetLstm => "pondernet-lstm",
        }
    }

    /// The cell that ponders.
    pub fn cell(self) -> CellKind {
        use RecurrentName::*;
        match self {
            ActRnn | PactRnn | PondernetRnn => CellKind::Rnn,
            ActLstm | PactLstm | PondernetLstm => CellKind::Lstm,
        }
    }

    /// The halting method.
    pub fn method(self) -> RecurrentMethod {
        use RecurrentName::*;
        match self {
            ActRnn | ActLstm => RecurrentMethod::Act,
            PactRnn | PactLstm => RecurrentMethod::Pact,
            PondernetRnn | PondernetLstm => RecurrentMethod::PonderNet,
        }
    }

    /// The halting mode a trained model of this family is evaluated in by default: ACT's own
    /// weighted halting for ACT; the deterministic rule of math §6, applied at every input
    /// step, for PACT and for PonderNet (whose `q(N | x)` is the same stick-breaking law).
    pub fn default_eval_mode(self) -> HaltingMode {
        match self.method() {
            RecurrentMethod::Act => HaltingMode::Act {
                eps: crate::halting::ACT_EPSILON,
            },
            RecurrentMethod::Pact | RecurrentMethod::PonderNet => HaltingMode::PactDeterministic,
        }
    }
}

/// What a checkpoint says about the recurrent network it holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecurrentSpec {
    /// The family.
    pub name: RecurrentName,
    /// The network's shape (cell, sizes, step cap, initial halting bias).
    pub network: PonderingConfig,
    /// The data spec the model was trained on (for messages).
    pub data: String,
}

impl RecurrentSpec {
    /// The metadata entry to store in a checkpoint.
    pub fn to_metadata(&self) -> Result<(String, String)> {
        let json = serde_json::to_string(self).map_err(|e| Error::InvalidInput(e.to_string()))?;
        Ok((RECURRENT_MODEL_KEY.to_string(), json))
    }

    /// Reads the spec from checkpoint metadata, `None` if the checkpoint holds no recurrent
    /// model; `path` names the file in errors.
    pub fn from_metadata(metadata: &BTreeMap<String, String>, path: &str) -> Result<Option<Self>> {
        metadata
            .get(RECURRENT_MODEL_KEY)
            .map(|json| {
                serde_json::from_str(json).map_err(|e| {
                    Error::data(path, format!("invalid '{RECURRENT_MODEL_KEY}' entry: {e}"))
                })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_valid_ones() {
        for (n, _) in RecurrentName::ALL {
            let name = RecurrentName::parse(n).unwrap();
            assert_eq!(name.as_str(), n);
            let json = serde_json::to_string(&name).unwrap();
            assert_eq!(json, format!("\"{n}\""));
        }
        assert_eq!(
            RecurrentName::parse("pact-lstm").unwrap().cell(),
            CellKind::Lstm
        );
        assert_eq!(
            RecurrentName::parse("pondernet-rnn").unwrap().method(),
            RecurrentMethod::PonderNet
        );
        let err = RecurrentName::parse("gru").unwrap_err().to_string();
        assert!(err.contains("'gru'") && err.contains("act-lstm"), "{err}");
    }

    #[test]
    fn spec_round_trips_through_metadata() {
        let spec = RecurrentSpec {
            name: RecurrentName::ActRnn,
            network: PonderingConfig {
                cell: CellKind::Rnn,
                inputs: 16,
                hidden: 32,
                outputs: 2,
                max_ponder: DEFAULT_MAX_PONDER,
                halting_bias: RECURRENT_HALTING_BIAS,
            },
            data: "parity:16".into(),
        };
        let (k, v) = spec.to_metadata().unwrap();
        let meta: BTreeMap<String, String> = [(k, v)].into_iter().collect();
        assert_eq!(
            RecurrentSpec::from_metadata(&meta, "x").unwrap(),
            Some(spec)
        );
        assert_eq!(
            RecurrentSpec::from_metadata(&BTreeMap::new(), "x").unwrap(),
            None
        );
        let bad: BTreeMap<String, String> = [(RECURRENT_MODEL_KEY.into(), "{".into())].into();
        let err = RecurrentSpec::from_metadata(&bad, "r.safetensors").unwrap_err();
        assert!(err.to_string().contains("r.safetensors"), "{err}");
    }
}
