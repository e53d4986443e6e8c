//! The ResNets: FLOP counts, parameter names, and evaluation in every halting mode.

use pact::nn::ParamStore;
use pact::{DType, Device, Rng, Tensor};
use pact_models::mode::HaltingMode;
use pact_models::resnet::{ResNet, ResNetConfig, EVAL_CHUNK};

const CPU: Device = Device::Cpu;

/// math §9. Per example on 32×32 inputs, with 2·K_h·K_w·C_in·C_out per output position:
/// - stem 3→16 at 32×32: 2·9·3·16·1024 = 884,736;
/// - a unit of stage 1 (two 16→16 convs at 32×32): 2 · 2·9·16·16·1024 = 9,437,184;
/// - the first unit of stage 2: 16→32 with stride 2 (16×16 out) 2,359,296 plus 32→32 at
///   16×16 4,718,592 = 7,077,888; the other units of stage 2: 9,437,184 each;
/// - stage 3 likewise (32→64 to 8×8, then 64→64 at 8×8): 7,077,888 then 9,437,184 each;
/// - classifier 64→10: 1,280.
///
/// ResNet-32 (n = 5): 884,736 + 5·9,437,184 + 2·(7,077,888 + 4·9,437,184) + 1,280 =
/// 137,725,184. ResNet-110 (n = 18): 884,736 + 18·9,437,184 + 2·(7,077,888 +
/// 17·9,437,184) + 1,280 = 505,775,360. Halting heads add 2·C per executed head: 4 heads per
/// stage of ResNet-32 add 4·(32 + 64 + 128) = 896.
#[test]
fn flops_of_plain_resnet32_and_resnet110_section_9() {
    let mut rng = Rng::seed(0);
    let plain32 = ResNet::new(
        &ParamStore::new(DType::F32, CPU),
        ResNetConfig::cifar(5).plain(),
        &mut rng,
    )
    .unwrap();
    assert_eq!(plain32.flops(32, 32, &[5, 5, 5]), 137_725_184);
    let plain110 = ResNet::new(
        &ParamStore::new(DType::F32, CPU),
        ResNetConfig::cifar(18).plain(),
        &mut rng,
    )
    .unwrap();
    assert_eq!(plain110.flops(32, 32, &[18, 18, 18]), 505_775_360);
    let adaptive32 = ResNet::new(
        &ParamStore::new(DType::F32, CPU),
        ResNetConfig::cifar(5),
        &mut rng,
    )
    .unwrap();
    assert_eq!(adaptive32.flops(32, 32, &[5, 5, 5]), 137_725_184 + 896);
    // Halting after the first unit of every stage: stem, one unit per stage with its head,
    // classifier.
    let one_each = 884_736 + 9_437_184 + 32 + 7_077_888 + 64 + 7_077_888 + 128 + 1_280;
    assert_eq!(adaptive32.flops(32, 32, &[1, 1, 1]), one_each);
}

#[test]
fn parameter_names_follow_the_pytorch_peer() {
    let store = ParamStore::new(DType::F32, CPU);
    ResNet::new(&store, ResNetConfig::cifar(2), &mut Rng::seed(0)).unwrap();
    let names = store.names();
    for expected in [
        "conv.weight",
        "stages.0.units.0.b1.weight",
        "stages.0.units.0.b1.running_mean",
        "stages.0.units.1.c2.weight",
        "stages.1.halt.0.bias",
        "stages.2.halt_bn.0.running_var",
        "bn.weight",
        "fc.weight",
        "fc.bias",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "missing {expected} in {names:?}"
        );
    }
    // Halting heads start at bias −3.
    let bias = store
        .get("stages.1.halt.0.bias")
        .unwrap()
        .tensor()
        .to_f64_vec();
    assert_eq!(bias, vec![-3.0]);
}

fn tiny() -> (ResNet, Tensor, Rng) {
    let mut rng = Rng::seed(5);
    let config = ResNetConfig {
        units_per_stage: 3,
        widths: [4, 8, 8],
        in_channels: 3,
        num_classes: 5,
        halting_bias: Some(0.0),
    };
    let net = ResNet::new(&ParamStore::new(DType::F64, CPU), config, &mut rng).unwrap();
    let x = Tensor::randn([6, 3, 8, 8], DType::F64, CPU, &mut rng).unwrap();
    (net, x, rng)
}

#[test]
fn every_mode_gives_logits_and_halting_information() {
    let (net, x, mut rng) = tiny();
    let modes = [
        HaltingMode::Plain,
        HaltingMode::Act { eps: 0.01 },
        HaltingMode::PactRelaxed {
            temperature: 0.5,
            straight_through: false,
        },
        HaltingMode::PactRelaxed {
            temperature: 0.5,
            straight_through: true,
        },
        HaltingMode::PactDeterministic,
    ];
    for mode in modes {
        let out = pact::no_grad(|| net.run_in_mode(&x, &mode, EVAL_CHUNK, &mut rng)).unwrap();
        assert_eq!(out.logits.dims(), &[6, 5], "{mode:?}");
        assert_eq!(out.stages.len(), 3);
        for stage in &out.stages {
            assert!(
                stage.steps.iter().all(|&n| (1..=3).contains(&n)),
                "{mode:?}: {:?}",
                stage.steps
            );
            // Every mode but plain records each stage's halting site: its value sums to 1.
            match (mode, &stage.value) {
                (HaltingMode::Plain, _) => {}
                (_, Some(value)) => {
                    assert_eq!(value.dims(), [6, 3]);
                    for row in value.to_f64_vec().chunks(3) {
                        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-5, "{row:?}");
                    }
                }
                (_, None) => panic!("{mode:?}: no halting site recorded"),
            }
        }
    }
}

#[test]
fn deterministic_evaluation_matches_each_example_alone() {
    // With batch norm in evaluation mode every example is independent, so compaction may not
    // change any output.
    let (net, x, mut rng) = tiny();
    let batched = pact::no_grad(|| {
        net.run_in_mode(&x, &HaltingMode::PactDeterministic, EVAL_CHUNK, &mut rng)
    })
    .unwrap();
    let all = batched.logits.to_f64_vec();
    for i in 0..6 {
        let xi = x.narrow(0, i, 1).unwrap();
        let alone = pact::no_grad(|| {
            net.run_in_mode(&xi, &HaltingMode::PactDeterministic, EVAL_CHUNK, &mut rng)
        })
        .unwrap();
        let v = alone.logits.to_f64_vec();
        for (a, b) in v.iter().zip(&all[i * 5..(i + 1) * 5]) {
            assert!((a - b).abs() < 1e-12);
        }
        for (s, stage) in alone.stages.iter().enumerate() {
            assert_eq!(stage.steps[0], batched.stages[s].steps[i]);
        }
    }
}

#[test]
fn plain_network_rejects_adaptive_modes() {
    let mut rng = Rng::seed(0);
    let net = ResNet::new(
        &ParamStore::new(DType::F32, CPU),
        ResNetConfig::cifar(2).plain(),
        &mut rng,
    )
    .unwrap();
    let x = Tensor::zeros([1, 3, 8, 8], DType::F32, CPU);
    let err = net
        .run_in_mode(&x, &HaltingMode::Act { eps: 0.01 }, EVAL_CHUNK, &mut rng)
        .err()
        .unwrap();
    assert!(err.to_string().contains("halting heads"), "{err}");
}

#[test]
fn score_function_objective_trains_the_halting_heads() {
    use pact_models::objective::{image_step, Objective};
    let mut rng = Rng::seed(5);
    let config = ResNetConfig {
        units_per_stage: 3,
        widths: [4, 8, 8],
        in_channels: 3,
        num_classes: 5,
        halting_bias: Some(0.0),
    };
    let store = ParamStore::new(DType::F64, CPU);
    let net = ResNet::new(&store, config, &mut rng).unwrap();
    let x = Tensor::randn([6, 3, 8, 8], DType::F64, CPU, &mut rng).unwrap();
    let labels = [0, 1, 2, 3, 4, 0];
    let head = store.get("stages.1.halt.0.weight").unwrap().tensor();
    // λ = 0 removes the prior term, so any gradient on the head comes from REINFORCE.
    let out = image_step(
        &net,
        &x,
        &labels,
        &Objective::PactScoreFunction { lambda: 0.0 },
        &mut rng,
    )
    .unwrap();
    let grads = out.loss.backward().unwrap();
    let g = grads
        .get(&head)
        .expect("the halting head has a gradient")
        .to_f64_vec();
    assert!(g.iter().map(|v| v.abs()).sum::<f64>() > 0.0, "{g:?}");
    assert!(out.units.iter().all(|u| (1.0..=3.0).contains(u)));
}
