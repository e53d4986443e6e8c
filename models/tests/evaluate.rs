//! Evaluation reports: accuracy, FLOPs from the units executed, memory, per-difficulty
//! accuracy.

use pact::nn::ParamStore;
use pact::{DType, Device, Rng};
use pact_models::data::shapes::{self, ShapesConfig};
use pact_models::evaluate::evaluate_images;
use pact_models::mode::HaltingMode;
use pact_models::resnet::{ResNet, ResNetConfig};

#[test]
fn reports_are_consistent_with_the_units_executed() {
    let mut rng = Rng::seed(0);
    let data = ShapesConfig {
        size: 8,
        classes: 4,
        ..Default::default()
    };
    let set = shapes::generate(24, &data, &mut rng).unwrap();
    let config = ResNetConfig {
        units_per_stage: 3,
        widths: [4, 8, 8],
        in_channels: 3,
        num_classes: 4,
        halting_bias: Some(0.0),
    };
    let net = ResNet::new(&ParamStore::new(DType::F32, Device::Cpu), config, &mut rng).unwrap();
    let plain = evaluate_images(&net, &set, &HaltingMode::Plain, 10, Device::Cpu).unwrap();
    assert_eq!(plain.units_mean, vec![3.0, 3.0, 3.0]);
    assert_eq!(plain.flops_std, 0.0);
    assert_eq!(plain.flops_mean, net.flops(8, 8, &[3, 3, 3]) as f64);
    assert_eq!(plain.flops_most, plain.flops_mean);
    assert_eq!(plain.flops_least, net.flops(8, 8, &[1, 1, 1]) as f64);
    assert_eq!(plain.accuracy_by_difficulty.len(), 4);
    let det =
        evaluate_images(&net, &set, &HaltingMode::PactDeterministic, 10, Device::Cpu).unwrap();
    assert!(det.units_mean.iter().all(|&u| (1.0..=3.0).contains(&u)));
    // Mean FLOPs follow the per-example units.
    let per_example: f64 = (0..24)
        .map(|i| {
            let u: Vec<usize> = det.units_per_example.iter().map(|b| b[i]).collect();
            net.flops(8, 8, &u) as f64
        })
        .sum::<f64>()
        / 24.0;
    assert!((det.flops_mean - per_example).abs() < 1e-6);
    assert!(det.flops_mean <= plain.flops_mean);
    assert!(det.peak_activation_bytes > 0 && det.examples_per_s > 0.0);
    assert!((0.0..=1.0).contains(&det.accuracy));
    // Per class: the accuracies and units, weighted by the class sizes, give the totals, and
    // each class's units are the mean over its own examples.
    let counts = set.class_counts();
    assert_eq!(det.accuracy_by_class.len(), 4);
    let weighted: f64 = det
        .accuracy_by_class
        .iter()
        .zip(&counts)
        .map(|(a, &c)| a * c as f64)
        .sum();
    assert!((weighted / 24.0 - det.accuracy).abs() < 1e-12);
    for (c, per_block) in det.units_by_class.iter().enumerate() {
        for (b, &u) in per_block.iter().enumerate() {
            let own: Vec<usize> = (0..24)
                .filter(|&i| set.labels[i] == c)
                .map(|i| det.units_per_example[b][i])
                .collect();
            let mean = own.iter().sum::<usize>() as f64 / own.len().max(1) as f64;
            assert_eq!(u, mean, "class {c}, block {b}");
        }
    }
    assert_eq!(plain.units_by_class, vec![vec![3.0; 3]; 4]);
    let json = serde_json::to_value(&det).unwrap();
    for key in [
        "accuracy",
        "flops_mean",
        "flops_std",
        "units_mean",
        "peak_activation_bytes",
        "examples_per_s",
        "accuracy_by_class",
        "units_by_class",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
}
