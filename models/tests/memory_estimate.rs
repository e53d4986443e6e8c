//! The training-memory estimate of a ResNet against the memory one real training step holds
//! (`pact::memory::peak_bytes`, tensor storage), and its parameter count against the store.

use pact::nn::ParamStore;
use pact::{DType, Device, Rng, Tensor};
use pact_models::objective::{image_step, Objective};
use pact_models::resnet::{ResNet, ResNetConfig};

/// The peak tensor memory of one forward and backward pass, above what was held before.
fn measured_step(config: &ResNetConfig, batch: usize, side: usize, objective: Objective) -> u64 {
    let mut rng = Rng::seed(0);
    let store = ParamStore::new(DType::F32, Device::Cpu);
    let net = ResNet::new(&store, config.clone(), &mut rng).unwrap();
    let x = Tensor::randn(
        [batch, config.in_channels, side, side],
        DType::F32,
        Device::Cpu,
        &mut rng,
    )
    .unwrap();
    let labels: Vec<usize> = (0..batch).map(|i| i % config.num_classes).collect();
    let base = pact::memory::reset_peak();
    let out = image_step(&net, &x, &labels, &objective, &mut rng).unwrap();
    let grads = out.loss.backward().unwrap();
    let peak = pact::memory::peak_bytes().saturating_sub(base) as u64;
    drop(grads);
    peak
}

#[test]
fn the_estimate_follows_the_measured_memory_of_a_training_step() {
    let pact = Objective::Pact {
        lambda: 0.01,
        temperature: 0.5,
        straight_through: false,
    };
    for (units, widths, batch, side) in [
        (1, [8, 16, 32], 16, 16),
        (3, [8, 16, 32], 16, 16),
        (5, [16, 32, 64], 8, 32),
    ] {
        let config = ResNetConfig {
            units_per_stage: units,
            widths,
            in_channels: 3,
            num_classes: 10,
            halting_bias: Some(-3.0),
        };
        let measured = measured_step(&config, batch, side, pact);
        let estimate = config.training_memory(batch, side, side, 4, 1);
        // The activations dominate; parameters, gradients and momentum are in the estimate
        // too, so it may exceed the measured step by their share.
        let ratio = estimate.total() as f64 / measured as f64;
        assert!(
            (0.7..=2.0).contains(&ratio),
            "{units} units, widths {widths:?}: estimate {} against {measured} measured ({ratio:.2})",
            estimate.total()
        );
    }
}

#[test]
fn the_parameter_count_matches_the_store() {
    for halting in [None, Some(-3.0)] {
        for (units, channels) in [(1, 1), (5, 3), (2, 1)] {
            let config = ResNetConfig {
                units_per_stage: units,
                widths: [4, 8, 12],
                in_channels: channels,
                num_classes: 7,
                halting_bias: halting,
            };
            let store = ParamStore::new(DType::F32, Device::Cpu);
            ResNet::new(&store, config.clone(), &mut Rng::seed(0)).unwrap();
            assert_eq!(
                config.parameter_count(),
                store.num_trainable() as u64,
                "{config:?}"
            );
        }
    }
}
