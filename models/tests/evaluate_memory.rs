//! Activation memory of evaluation. The memory counters are process-wide, so this test lives
//! alone in its own test binary (tests in one binary run on parallel threads).

use pact::nn::ParamStore;
use pact::{DType, Device, Rng};
use pact_models::data::shapes::{self, ShapesConfig};
use pact_models::evaluate::evaluate_images;
use pact_models::mode::HaltingMode;
use pact_models::resnet::{ResNet, ResNetConfig};

#[test]
fn deterministic_pact_holds_less_activation_memory_than_act() {
    // Same network, same data; ACT keeps a weighted sum beside the current state, PACT only
    // the current state (and halted examples leave the batch).
    let mut rng = Rng::seed(1);
    let data = ShapesConfig {
        size: 16,
        classes: 4,
        ..Default::default()
    };
    let set = shapes::generate(32, &data, &mut rng).unwrap();
    let config = ResNetConfig {
        units_per_stage: 4,
        widths: [8, 16, 16],
        in_channels: 3,
        num_classes: 4,
        halting_bias: Some(-3.0),
    };
    let net = ResNet::new(&ParamStore::new(DType::F32, Device::Cpu), config, &mut rng).unwrap();
    let act =
        evaluate_images(&net, &set, &HaltingMode::Act { eps: 0.01 }, 32, Device::Cpu).unwrap();
    let pact =
        evaluate_images(&net, &set, &HaltingMode::PactDeterministic, 32, Device::Cpu).unwrap();
    assert!(
        pact.peak_activation_bytes < act.peak_activation_bytes,
        "{} vs {}",
        pact.peak_activation_bytes,
        act.peak_activation_bytes
    );
}
