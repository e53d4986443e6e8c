//! Named model families and the description stored in every checkpoint, so that `pact eval`
//! and `pact plot` rebuild exactly the network that was trained.

use crate::mode::HaltingMode;
use crate::resnet::{ResNet, ResNetConfig};
use crate::{Error, Result};
use pact::nn::ParamStore;
use pact::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The recurrent families (math §10) and their checkpoint description, kept in their own
/// module.
pub use crate::recurrent_spec::{RecurrentName, RecurrentSpec, RECURRENT_MODEL_KEY};

/// Checkpoint metadata key holding the [`ModelSpec`] as JSON.
pub const MODEL_KEY: &str = "pact.model";

/// The model families `pact train --model` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelName {
    /// Plain pre-activation ResNet (every unit runs).
    Resnet,
    /// ResNet whose stages are ACT blocks.
    ActResnet,
    /// ResNet whose stages are PACT blocks (Concrete-relaxed in training, deterministic in
    /// evaluation).
    PactResnet,
    /// ResNet whose stages are spatial ACT blocks (SACT, math §8): halting per position.
    SactResnet,
    /// ResNet whose stages are spatial PACT blocks (one halting variable per unit and
    /// position; Concrete-relaxed in training, deterministic per position in evaluation).
    SpatialPactResnet,
}

impl ModelName {
    /// Every name with a one-line description, for `--help` and error messages.
    pub const ALL: [(&'static str, &'static str); 5] = [
        ("resnet", "plain pre-activation ResNet, every unit runs"),
        ("act-resnet", "ResNet with Graves' ACT in every stage"),
        ("pact-resnet", "ResNet with PACT halting in every stage"),
        (
            "sact-resnet",
            "ResNet with spatial ACT (SACT): halting per position",
        ),
        (
            "spatial-pact-resnet",
            "ResNet with spatial PACT: halting per position",
        ),
    ];

    /// Parses a name; the error lists the valid ones.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "resnet" => Ok(ModelName::Resnet),
            "act-resnet" => Ok(ModelName::ActResnet),
            "pact-resnet" => Ok(ModelName::PactResnet),
            "sact-resnet" => Ok(ModelName::SactResnet),
            "spatial-pact-resnet" => Ok(ModelName::SpatialPactResnet),
            other => Err(Error::InvalidInput(format!(
                "unknown model '{other}'; valid models: {}",
                Self::ALL.map(|(n, _)| n).join(", ")
            ))),
        }
    }

    /// The name as written on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelName::Resnet => "resnet",
            ModelName::ActResnet => "act-resnet",
            ModelName::PactResnet => "pact-resnet",
            ModelName::SactResnet => "sact-resnet",
            ModelName::SpatialPactResnet => "spatial-pact-resnet",
        }
    }

    /// Whether the family halts per spatial position (math §8).
    pub fn is_spatial(self) -> bool {
        matches!(self, ModelName::SactResnet | ModelName::SpatialPactResnet)
    }

    /// The halting mode a trained model of this family is evaluated in by default.
    pub fn default_eval_mode(self) -> HaltingMode {
        match self {
            ModelName::Resnet => HaltingMode::Plain,
            ModelName::ActResnet | ModelName::SactResnet => HaltingMode::Act {
                eps: crate::halting::ACT_EPSILON,
            },
            ModelName::PactResnet | ModelName::SpatialPactResnet => HaltingMode::PactDeterministic,
        }
    }
}

/// What a checkpoint says about the network it holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// The family.
    pub name: ModelName,
    /// The ResNet's shape.
    pub resnet: ResNetConfig,
    /// Input height and width.
    pub input_size: [usize; 2],
    /// The data spec the model was trained on (for messages).
    pub data: String,
}

impl ModelSpec {
    /// Builds (and initialises) the network this spec describes: [`ResNet::new_spatial`] for
    /// the spatial families, [`ResNet::new`] otherwise.
    pub fn build_resnet(&self, store: &ParamStore, rng: &mut Rng) -> Result<ResNet> {
        if self.name.is_spatial() {
            ResNet::new_spatial(store, self.resnet.clone(), rng)
        } else {
            Ok(ResNet::new(store, self.resnet.clone(), rng)?)
        }
    }

    /// The metadata entry to store in a checkpoint.
    pub fn to_metadata(&self) -> Result<(String, String)> {
        let json = serde_json::to_string(self).map_err(|e| Error::InvalidInput(e.to_string()))?;
        Ok((MODEL_KEY.to_string(), json))
    }

    /// Reads the spec from checkpoint metadata; `path` names the file in errors.
    pub fn from_metadata(metadata: &BTreeMap<String, String>, path: &str) -> Result<Self> {
        let json = metadata.get(MODEL_KEY).ok_or_else(|| {
            Error::data(
                path,
                format!("no '{MODEL_KEY}' entry: not a checkpoint written by pact train"),
            )
        })?;
        serde_json::from_str(json)
            .map_err(|e| Error::data(path, format!("invalid '{MODEL_KEY}' entry: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_valid_ones() {
        for (n, _) in ModelName::ALL {
            assert_eq!(ModelName::parse(n).unwrap().as_str(), n);
        }
        let err = ModelName::parse("vgg").unwrap_err().to_string();
        assert!(
            err.contains("unknown model 'vgg'") && err.contains("pact-resnet"),
            "{err}"
        );
    }

    #[test]
    fn spec_round_trips_through_metadata() {
        let spec = ModelSpec {
            name: ModelName::PactResnet,
            resnet: ResNetConfig::cifar(2),
            input_size: [32, 32],
            data: "shapes".into(),
        };
        let (k, v) = spec.to_metadata().unwrap();
        let meta: BTreeMap<String, String> = [(k, v)].into_iter().collect();
        assert_eq!(ModelSpec::from_metadata(&meta, "x").unwrap(), spec);
        let err = ModelSpec::from_metadata(&BTreeMap::new(), "x.safetensors")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x.safetensors") && err.contains("not a checkpoint written by pact train")
        );
    }
}
