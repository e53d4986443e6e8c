//! Activation memory of the chunked evaluation (math §6): deterministic PACT holds one
//! state per example plus one chunk's intermediates per worker thread; ACT also holds the weighted sum of
//! every running example. The memory counters are process-wide, so these measurements have a
//! test binary to themselves and run one after the other in one test.

use pact::nn::ParamStore;
use pact::{memory, DType, Device, Rng, Tensor};
use pact_models::data::shapes::{self, ShapesConfig};
use pact_models::evaluate::evaluate_images;
use pact_models::halting::ACT_EPSILON;
use pact_models::mode::HaltingMode;
use pact_models::resnet::{ResNet, ResNetConfig, EVAL_CHUNK};

const B: usize = 64;
const SIZE: usize = 16;
const WIDTHS: [usize; 3] = [8, 16, 16];
/// Small tensors beside the states and intermediates: per-channel batch-norm scales and
/// shifts, pooled features, halting logits, class logits.
const SMALL: usize = 16 << 10;

/// How many chunks of `chunk` examples of the batch run at once: one per worker thread.
fn side_by_side(chunk: usize) -> usize {
    rayon::current_num_threads().min(B.div_ceil(chunk))
}

fn peak_of(net: &ResNet, x: &Tensor, mode: &HaltingMode, chunk: usize) -> usize {
    let base = memory::reset_peak();
    let out = pact::no_grad(|| net.run_in_mode(x, mode, chunk, &mut Rng::seed(0))).unwrap();
    let peak = memory::peak_bytes() - base;
    drop(out);
    peak
}

#[test]
fn chunked_pact_holds_one_state_per_example_and_act_two() {
    let mut rng = Rng::seed(1);
    let config = ResNetConfig {
        units_per_stage: 3,
        widths: WIDTHS,
        in_channels: 3,
        num_classes: 4,
        // Every unit runs: the heads' logits are about −3.
        halting_bias: Some(-3.0),
    };
    let net = ResNet::new(
        &ParamStore::new(DType::F32, Device::Cpu),
        config.clone(),
        &mut rng,
    )
    .unwrap();
    let x = Tensor::randn([B, 3, SIZE, SIZE], DType::F32, Device::Cpu, &mut rng).unwrap();
    let act_mode = HaltingMode::Act { eps: ACT_EPSILON };
    // The largest state: the first stage's, at full resolution.
    let example = WIDTHS[0] * SIZE * SIZE * 4;
    let states = B * example;
    for chunk in [4, EVAL_CHUNK] {
        let pact = peak_of(&net, &x, &HaltingMode::PactDeterministic, chunk);
        let act = peak_of(&net, &x, &act_mode, chunk);
        let plain = peak_of(&net, &x, &HaltingMode::Plain, chunk);
        println!(
            "chunk {chunk}: peak in first-stage states: PACT {:.3}, ACT {:.3}, plain {:.3}; \
             PACT / ACT = {:.3}",
            pact as f64 / states as f64,
            act as f64 / states as f64,
            plain as f64 / states as f64,
            pact as f64 / act as f64
        );
        // The states, and one chunk's intermediates per chunk running at once (one per
        // worker thread): a convolution's input and output.
        let transients = 2 * chunk * example * side_by_side(chunk);
        assert!(pact <= states + transients + SMALL, "PACT {pact} bytes");
        assert!(plain <= states + transients + SMALL, "plain {plain} bytes");
        // ACT: every example runs on after the first unit, holding state and weighted sum.
        assert!(act >= 2 * states, "ACT {act} bytes");
        assert!(act <= 2 * states + transients + SMALL, "ACT {act} bytes");
        // So PACT / ACT ≤ (S + T) / 2S: one half plus half the chunk's share of the batch.
        assert!(pact < act, "{pact} vs {act}");
    }

    // Every example halts at the first unit: ACT's weighted sum replaces each state as it is
    // made, so ACT holds what PACT holds, not a sum beside every state.
    let early = ResNet::new(
        &ParamStore::new(DType::F32, Device::Cpu),
        ResNetConfig {
            halting_bias: Some(30.0),
            ..config
        },
        &mut rng,
    )
    .unwrap();
    for chunk in [4, EVAL_CHUNK] {
        let act = peak_of(&early, &x, &act_mode, chunk);
        let transients = 2 * chunk * example * side_by_side(chunk);
        // One sum beside its state per worker thread, at most.
        let sums = rayon::current_num_threads() * example;
        assert!(
            act <= states + transients + sums + SMALL,
            "ACT halting at once, chunk {chunk}: {act} bytes"
        );
    }

    // evaluate_images runs the chunked path: the same bound, measured on real images.
    let data = ShapesConfig {
        size: SIZE,
        classes: 4,
        ..Default::default()
    };
    let set = shapes::generate(B, &data, &mut rng).unwrap();
    let pact =
        evaluate_images(&net, &set, &HaltingMode::PactDeterministic, B, Device::Cpu).unwrap();
    let act = evaluate_images(&net, &set, &act_mode, B, Device::Cpu).unwrap();
    let transients = 2 * EVAL_CHUNK * example * side_by_side(EVAL_CHUNK);
    assert!(pact.peak_activation_bytes <= states + transients + SMALL);
    assert!(act.peak_activation_bytes >= 2 * states);
    assert!(pact.peak_activation_bytes < act.peak_activation_bytes);
}
