//! Golden training trajectories of every halting mode: 20 steps of SGD on a small ResNet
//! (plain, ACT, PACT with Concrete, straight-through and score-function estimators, SACT,
//! spatial PACT) and a small pondering RNN and LSTM (ACT, PACT, PonderNet), in f64, from fixed
//! seeds. Each step records the loss, the squared norm of the gradient of every parameter
//! together, and its projections on three fixed pseudo-random directions; the test compares
//! them with `tests/fixtures/golden_training.json` to 1e-10 (relative to the value, or absolute
//! below 1).
//!
//! The fixture pins what the training path computes, so a rewrite of that path (the objectives,
//! the blocks, the models) must reproduce it. Regenerate it, only for an intended change of
//! the numbers, with
//!
//! ```sh
//! PACT_BLESS=1 cargo test -p pact-models --test golden_training
//! ```

mod common;

use common::check::flat_grads;
use pact::nn::{Optimizer, ParamStore, Sgd, SgdConfig};
use pact::GradStore;
use pact::{DType, Device, Rng, Tensor};
use pact_models::data::DataSpec;
use pact_models::objective::{image_step, Objective};
use pact_models::recurrent::{CellKind, PonderingConfig, PonderingRnn};
use pact_models::resnet::{ResNet, ResNetConfig};
use pact_models::sequence_objective::{sequence_step, SequenceObjective, SequenceTensors};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

const CPU: Device = Device::Cpu;
const STEPS: usize = 20;
const TOLERANCE: f64 = 1e-10;

/// One step's record: the loss, `‖g‖²` and `g · d_k` for three fixed directions `d_k`.
fn record(loss: f64, store: &ParamStore, grads: &GradStore) -> Value {
    let flat = flat_grads(store, grads);
    let direction = |k: usize, i: usize| ((i as f64 + 1.0) * (1.618_033_988_75 + k as f64)).sin();
    let squared: f64 = flat.iter().map(|g| g * g).sum();
    let projections: Vec<f64> = (0..3)
        .map(|k| {
            flat.iter()
                .enumerate()
                .map(|(i, g)| g * direction(k, i))
                .sum()
        })
        .collect();
    json!({ "loss": loss, "grad_sq": squared, "proj": projections })
}

fn sgd(store: &ParamStore) -> Sgd {
    Sgd::new(
        store.trainable(),
        SgdConfig {
            lr: 0.05,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 1e-4,
        },
    )
}

/// 20 steps of `objective` on a ResNet with 2 units per stage, widths 2/3/4, 8×8 one-channel
/// images in batches of 5 with 3 classes.
fn resnet_run(objective: Objective, spatial: bool) -> Value {
    let mut rng = Rng::seed(11);
    let config = ResNetConfig {
        units_per_stage: 2,
        widths: [2, 3, 4],
        in_channels: 1,
        num_classes: 3,
        halting_bias: (objective != Objective::Plain).then_some(0.0),
    };
    let store = ParamStore::new(DType::F64, CPU);
    let net = if spatial {
        ResNet::new_spatial(&store, config, &mut rng).expect("spatial network")
    } else {
        ResNet::new(&store, config, &mut rng).expect("network")
    };
    // PACT's objective through the modelling language keeps the normaliser of each stage's
    // prior, −E_q[log p(N)] = λ E_q[N] + log Z (a constant, no gradient), which the
    // hand-written losses the fixture was recorded from dropped: take it off here. A spatial
    // stage has it at every position, and its site is scaled by 1/(H·W) so that the loss
    // averages over positions: log Z per stage again.
    let normalisers = match objective {
        Objective::Pact { lambda, .. } | Objective::PactScoreFunction { lambda } => {
            3.0 * pact_models::analysis::log_normaliser(lambda, 2).expect("log Z")
        }
        _ => 0.0,
    };
    let mut opt = sgd(&store);
    let mut steps = Vec::new();
    for _ in 0..STEPS {
        let x = Tensor::randn([5, 1, 8, 8], DType::F64, CPU, &mut rng).expect("inputs");
        let labels: Vec<usize> = (0..5).map(|_| rng.below(3)).collect();
        let out = image_step(&net, &x, &labels, &objective, &mut rng).expect("step");
        let grads = out.loss.backward().expect("backward");
        let loss = out.loss.to_scalar().expect("loss") - normalisers;
        steps.push(record(loss, &store, &grads));
        opt.step(&grads).expect("update");
    }
    Value::Array(steps)
}

/// 20 steps of `objective` on a pondering cell with 4 hidden units and a step cap of 3, on
/// batches of 5 parity:3 sequences.
fn recurrent_run(cell: CellKind, objective: SequenceObjective) -> Value {
    let mut rng = Rng::seed(12);
    let spec = DataSpec::parse("parity:3").expect("spec");
    let sample = spec.generate_sequences(1, &mut rng).expect("data");
    let config = PonderingConfig {
        cell,
        inputs: sample.input_size,
        hidden: 4,
        outputs: sample.num_classes,
        max_ponder: 3,
        halting_bias: 0.0,
    };
    let store = ParamStore::new(DType::F64, CPU);
    let net = PonderingRnn::new(&store, config, &mut rng).expect("network");
    let mut opt = sgd(&store);
    let mut steps = Vec::new();
    for _ in 0..STEPS {
        let set = spec.generate_sequences(5, &mut rng).expect("data");
        let indices: Vec<usize> = (0..set.len()).collect();
        let batch = SequenceTensors::new(
            set.to_batch(&indices).expect("batch"),
            set.dims(),
            DType::F64,
            CPU,
        )
        .expect("tensors");
        let out = sequence_step(&net, &batch, &objective, &mut rng).expect("step");
        let grads = out.loss.backward().expect("backward");
        // As for the ResNets: PACT's objective keeps the prior's log Z at every real input
        // step (a constant), which the hand-written loss of the fixture dropped.
        let normalisers = match objective {
            SequenceObjective::Pact { lambda, .. } => {
                let real: usize = batch.lengths.iter().sum();
                let log_z = pact_models::analysis::log_normaliser(lambda, 3).expect("log Z");
                log_z * real as f64 / batch.len() as f64
            }
            _ => 0.0,
        };
        let loss = out.loss.to_scalar().expect("loss") - normalisers;
        steps.push(record(loss, &store, &grads));
        opt.step(&grads).expect("update");
    }
    Value::Array(steps)
}

fn trajectories() -> Map<String, Value> {
    let pact = |straight_through| Objective::Pact {
        lambda: 0.05,
        temperature: 0.5,
        straight_through,
    };
    let act = Objective::Act {
        tau: 0.05,
        eps: 0.01,
    };
    let seq_pact = SequenceObjective::Pact {
        lambda: 0.05,
        temperature: 1.0,
        straight_through: false,
    };
    let seq_act = SequenceObjective::Act {
        tau: 0.05,
        eps: 0.01,
    };
    let ponder_net = SequenceObjective::PonderNet {
        beta: 0.1,
        lambda: 0.05,
    };
    let mut runs = Map::new();
    let mut add = |name: &str, v: Value| {
        runs.insert(name.to_string(), v);
    };
    add("resnet/plain", resnet_run(Objective::Plain, false));
    add("resnet/act", resnet_run(act, false));
    add("resnet/pact-concrete", resnet_run(pact(false), false));
    add(
        "resnet/pact-straight-through",
        resnet_run(pact(true), false),
    );
    add(
        "resnet/pact-score-function",
        resnet_run(Objective::PactScoreFunction { lambda: 0.05 }, false),
    );
    add("resnet-spatial/sact", resnet_run(act, true));
    add(
        "resnet-spatial/pact-concrete",
        resnet_run(pact(false), true),
    );
    for (cell, name) in [(CellKind::Rnn, "rnn"), (CellKind::Lstm, "lstm")] {
        add(&format!("{name}/act"), recurrent_run(cell, seq_act));
        add(
            &format!("{name}/pact-concrete"),
            recurrent_run(cell, seq_pact),
        );
        add(
            &format!("{name}/pondernet"),
            recurrent_run(cell, ponder_net),
        );
    }
    runs
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden_training.json")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= TOLERANCE * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn every_halting_mode_reproduces_its_golden_trajectory() {
    let runs = trajectories();
    let path = fixture();
    if std::env::var_os("PACT_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("fixture directory")).expect("mkdir");
        let text = serde_json::to_string_pretty(&Value::Object(runs)).expect("json");
        std::fs::write(&path, text + "\n").expect("write the fixture");
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with PACT_BLESS=1 cargo test -p pact-models --test \
             golden_training",
            path.display()
        )
    });
    let golden: Map<String, Value> = serde_json::from_str(&text).expect("fixture JSON");
    assert_eq!(
        golden.keys().collect::<Vec<_>>(),
        runs.keys().collect::<Vec<_>>(),
        "the fixture and the test cover different modes"
    );
    for (name, steps) in &runs {
        let want = golden[name].as_array().expect("steps");
        let got = steps.as_array().expect("steps");
        assert_eq!(want.len(), got.len(), "{name}");
        for (step, (w, g)) in want.iter().zip(got).enumerate() {
            let numbers = |v: &Value| -> Vec<f64> {
                let mut out = vec![v["loss"].as_f64().expect("loss")];
                out.push(v["grad_sq"].as_f64().expect("grad_sq"));
                out.extend(
                    v["proj"]
                        .as_array()
                        .expect("proj")
                        .iter()
                        .map(|p| p.as_f64().expect("projection")),
                );
                out
            };
            let (w, g) = (numbers(w), numbers(g));
            for (k, (a, b)) in w.iter().zip(&g).enumerate() {
                let what = ["loss", "‖g‖²", "g·d1", "g·d2", "g·d3"][k];
                assert!(
                    close(*a, *b),
                    "{name}, step {}: {what} is {b}, the golden value {a}",
                    step + 1
                );
            }
        }
    }
}

#[test]
fn the_golden_runs_differ_between_modes_and_move() {
    // A check that could not fail would prove nothing: the trajectories must depend on the
    // mode, and the loss must change as the weights train.
    let runs = trajectories();
    let first_losses: Vec<f64> = runs
        .values()
        .map(|steps| steps[0]["loss"].as_f64().expect("loss"))
        .collect();
    for (name, steps) in &runs {
        let losses: Vec<f64> = steps
            .as_array()
            .expect("steps")
            .iter()
            .map(|s| s["loss"].as_f64().expect("loss"))
            .collect();
        assert!(losses.iter().all(|l| l.is_finite()), "{name}: {losses:?}");
        assert!(
            losses.windows(2).any(|w| (w[0] - w[1]).abs() > 1e-6),
            "{name}: the loss never moved"
        );
    }
    let resnet_act = runs["resnet/act"][3]["proj"][0].as_f64().expect("proj");
    let resnet_pact = runs["resnet/pact-concrete"][3]["proj"][0]
        .as_f64()
        .expect("proj");
    assert!(!close(resnet_act, resnet_pact));
    assert!(first_losses.iter().all(|l| *l > 0.0));
}
