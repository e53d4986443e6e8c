//! The pondering network as a model of the modelling language: its sites, and the sequence
//! objectives through it against the hand-written losses on the adaptive block's halting modes
//! (the training path before the port), on padded multi-step batches with several targets per
//! step, for an RNN and an LSTM: the same loss (up to PACT's `log Z`) and the same gradient.

mod common;

use common::check::flat_grads;
use common::reference::{BlockOutput, HaltingMode};
use pact::nn::ParamStore;
use pact::ppl::run;
use pact::{DType, Device, Rng, Tensor};
use pact_models::analysis::log_normaliser;
use pact_models::data::DataSpec;
use pact_models::evaluate_sequences::run_in_mode;
use pact_models::halting::kl_to_truncated_geometric;
use pact_models::recurrent::{CellKind, PonderingConfig, PonderingRnn};
use pact_models::sequence_objective::{sequence_step, SequenceObjective, SequenceTensors};

const CPU: Device = Device::Cpu;
const M: usize = 4;

fn setup(cell: CellKind, spec: &str, seed: u64) -> (ParamStore, PonderingRnn, SequenceTensors) {
    let mut rng = Rng::seed(seed);
    let spec = DataSpec::parse(spec).unwrap();
    let set = spec.generate_sequences(6, &mut rng).unwrap();
    let config = PonderingConfig {
        cell,
        inputs: set.input_size,
        hidden: 5,
        outputs: set.outputs_per_step * set.num_classes,
        max_ponder: M,
        halting_bias: 0.3,
    };
    let store = ParamStore::new(DType::F64, CPU);
    let net = PonderingRnn::new(&store, config, &mut rng).unwrap();
    let indices: Vec<usize> = (0..set.len()).collect();
    let batch =
        SequenceTensors::new(set.to_batch(&indices).unwrap(), set.dims(), DType::F64, CPU).unwrap();
    (store, net, batch)
}

/// `[B]` indicator of `f(example)`.
fn indicator(batch: &SequenceTensors, f: impl Fn(usize) -> bool) -> Tensor {
    let v: Vec<f64> = (0..batch.len())
        .map(|i| f64::from(u8::from(f(i))))
        .collect();
    Tensor::from_f64_slice(&v, [v.len()], DType::F64, CPU).unwrap()
}

/// The training loss as it was written by hand on the adaptive block's modes.
fn hand_written(
    net: &PonderingRnn,
    batch: &SequenceTensors,
    objective: &SequenceObjective,
    rng: &mut Rng,
) -> Tensor {
    let out =
        common::reference::forward_pondering(net, &batch.inputs, &objective.training_mode(), rng)
            .unwrap();
    let valid = |t: usize| indicator(batch, |i| t < batch.lengths[i]);
    let sum_steps = |f: &dyn Fn(usize, &BlockOutput) -> Tensor| -> Tensor {
        let mut total: Option<Tensor> = None;
        for (t, block) in out.steps.iter().enumerate() {
            let term = f(t, block).mul(&valid(t)).unwrap();
            total = Some(match total {
                Some(acc) => acc.add(&term).unwrap(),
                None => term,
            });
        }
        total.unwrap()
    };
    let per_example = match *objective {
        SequenceObjective::Act { tau, .. } => {
            let cost = sum_steps(&|_, block| block.ponder.clone().unwrap());
            batch
                .task_loss(&out.logits)
                .unwrap()
                .add(&cost.mul_scalar(tau).unwrap())
                .unwrap()
        }
        SequenceObjective::Pact { lambda, .. } => {
            let expected = sum_steps(&|_, block| block.expected_n.clone().unwrap());
            batch
                .task_loss(&out.logits)
                .unwrap()
                .add(&expected.mul_scalar(lambda).unwrap())
                .unwrap()
        }
        SequenceObjective::PonderNet { beta, lambda } => {
            let (b, t_max, k, c) = (
                batch.len(),
                batch.steps,
                batch.outputs_per_step,
                batch.num_classes,
            );
            let kl = sum_steps(&|_, block| {
                kl_to_truncated_geometric(block.log_q.as_ref().unwrap(), lambda).unwrap()
            });
            let mut task: Option<Tensor> = None;
            for (t, block) in out.steps.iter().enumerate() {
                let states = block.states.as_ref().unwrap();
                let logits = net.readout(&Tensor::concat(states, 0).unwrap()).unwrap();
                let labels: Vec<usize> = (0..states.len())
                    .flat_map(|_| (0..b).flat_map(move |i| (0..k).map(move |j| (i, j))))
                    .map(|(i, j)| batch.targets[(i * t_max + t) * k + j])
                    .collect();
                let per_state = logits
                    .reshape([states.len() * b * k, c])
                    .unwrap()
                    .nll_per_example(&labels)
                    .unwrap()
                    .reshape([states.len(), b, k])
                    .unwrap()
                    .sum(2)
                    .unwrap()
                    .transpose(0, 1)
                    .unwrap();
                let q = block.log_q.as_ref().unwrap().exp().unwrap();
                let mask = indicator(batch, |i| batch.mask[i * t_max + t]);
                let term = q
                    .mul(&per_state)
                    .unwrap()
                    .sum(1)
                    .unwrap()
                    .mul(&mask)
                    .unwrap();
                task = Some(match task {
                    Some(acc) => acc.add(&term).unwrap(),
                    None => term,
                });
            }
            task.unwrap().add(&kl.mul_scalar(beta).unwrap()).unwrap()
        }
    };
    per_example.mean_all().unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-10 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn the_objectives_through_the_model_reproduce_the_hand_written_losses() {
    let objectives = [
        SequenceObjective::Act {
            tau: 0.05,
            eps: 0.01,
        },
        SequenceObjective::Pact {
            lambda: 0.1,
            temperature: 0.7,
            straight_through: false,
        },
        SequenceObjective::Pact {
            lambda: 0.1,
            temperature: 0.7,
            straight_through: true,
        },
        SequenceObjective::PonderNet {
            beta: 0.2,
            lambda: 0.1,
        },
    ];
    for (spec, seed) in [("addition:2", 3), ("sort:3", 4)] {
        for cell in [CellKind::Rnn, CellKind::Lstm] {
            let (store, net, batch) = setup(cell, spec, seed);
            // Padding and steps without targets are both present.
            assert!(batch.lengths.iter().any(|&l| l < batch.steps), "{spec}");
            assert!(
                (0..batch.len()).any(|i| !batch.mask[i * batch.steps]),
                "{spec}"
            );
            for objective in &objectives {
                let want = hand_written(&net, &batch, objective, &mut Rng::seed(9));
                let want_grads = flat_grads(&store, &want.backward().unwrap());
                let got = sequence_step(&net, &batch, objective, &mut Rng::seed(9)).unwrap();
                let got_grads = flat_grads(&store, &got.loss.backward().unwrap());
                let log_z = match objective {
                    SequenceObjective::Pact { lambda, .. } => {
                        let real: usize = batch.lengths.iter().sum();
                        log_normaliser(*lambda, M).unwrap() * real as f64 / batch.len() as f64
                    }
                    _ => 0.0,
                };
                let (w, g) = (want.to_scalar().unwrap(), got.loss.to_scalar().unwrap());
                let what = format!("{spec} {cell:?} {objective:?}");
                assert!(close(w, g - log_z), "{what}: loss {g} − {log_z} vs {w}");
                assert_eq!(want_grads.len(), got_grads.len());
                for (i, (a, b)) in want_grads.iter().zip(&got_grads).enumerate() {
                    assert!(close(*a, *b), "{what}: gradient {i}: {b} vs {a}");
                }
                assert!(got_grads.iter().any(|v| *v != 0.0), "{what}");
            }
        }
    }
}

#[test]
fn the_model_has_a_masked_halting_site_and_an_observation_per_input_step() {
    let (store, net, batch) = setup(CellKind::Lstm, "sort:3", 4);
    let model = net.model(&batch, 0.1, true).unwrap();
    let (out, trace) = run(&model, &store, &mut Rng::seed(0)).unwrap();
    assert_eq!(
        out.logits.dims(),
        [batch.len(), batch.steps, net.config().outputs]
    );
    assert_eq!(out.steps.len(), batch.steps);
    for t in 0..batch.steps {
        let halting = trace.get(&format!("step{t}")).unwrap();
        assert!(halting.is_guided());
        assert_eq!(halting.plates[0].name, "batch");
        let valid: Vec<f64> = batch
            .lengths
            .iter()
            .map(|&l| f64::from(u8::from(t < l)))
            .collect();
        assert_eq!(halting.mask.as_ref().unwrap().to_f64_vec(), valid);
        let y = trace.get(&format!("y{t}")).unwrap();
        let mask: Vec<f64> = (0..batch.len())
            .map(|i| f64::from(u8::from(batch.mask[i * batch.steps + t])))
            .collect();
        assert_eq!(y.mask.as_ref().unwrap().to_f64_vec(), mask);
        assert_eq!(out.posteriors[t].as_ref().unwrap().num_units(), M);
    }
    // Without observations the model only ponders.
    let unobserved = net.model(&batch, 0.1, false).unwrap();
    let (_, trace) = run(&unobserved, &store, &mut Rng::seed(0)).unwrap();
    assert!(trace.get("y0").is_none());
}

#[test]
fn a_cell_of_one_pondering_step_has_no_halting_site() {
    let mut rng = Rng::seed(5);
    let spec = DataSpec::parse("addition:2").unwrap();
    let set = spec.generate_sequences(3, &mut rng).unwrap();
    let config = PonderingConfig {
        cell: CellKind::Rnn,
        inputs: set.input_size,
        hidden: 3,
        outputs: set.outputs_per_step * set.num_classes,
        max_ponder: 1,
        halting_bias: 0.0,
    };
    let store = ParamStore::new(DType::F64, CPU);
    let net = PonderingRnn::new(&store, config, &mut rng).unwrap();
    let indices: Vec<usize> = (0..set.len()).collect();
    let batch =
        SequenceTensors::new(set.to_batch(&indices).unwrap(), set.dims(), DType::F64, CPU).unwrap();
    let (_, trace) = run(&net.model(&batch, 0.1, true).unwrap(), &store, &mut rng).unwrap();
    assert!(trace.iter().all(|s| !s.name.starts_with("step")));
    // Every objective is then the log-likelihood of the plain network.
    let plain =
        common::reference::forward_pondering(&net, &batch.inputs, &HaltingMode::Plain, &mut rng)
            .unwrap();
    let nll = batch
        .task_loss(&plain.logits)
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar()
        .unwrap();
    for objective in [
        SequenceObjective::Act { tau: 0.1, eps: 0.1 },
        SequenceObjective::PonderNet {
            beta: 0.5,
            lambda: 0.1,
        },
    ] {
        let out = sequence_step(&net, &batch, &objective, &mut rng).unwrap();
        assert!(close(out.loss.to_scalar().unwrap(), nll), "{objective:?}");
        assert!(close(out.task_loss, nll), "{objective:?}");
        assert_eq!(out.ponder, 1.0);
    }
}

/// Evaluation runs the model under the handlers of each halting mode: it computes what
/// `forward` (the adaptive block) computes in that mode, with the same random draws.
#[test]
fn the_model_in_each_halting_mode_runs_like_forward() {
    for cell in [CellKind::Rnn, CellKind::Lstm] {
        let (_, net, batch) = setup(cell, "sort:3", 4);
        for mode in [
            HaltingMode::Plain,
            HaltingMode::Act { eps: 0.01 },
            HaltingMode::PactDeterministic,
            HaltingMode::PactRelaxed {
                temperature: 0.6,
                straight_through: false,
            },
            HaltingMode::PactRelaxed {
                temperature: 0.6,
                straight_through: true,
            },
            HaltingMode::PonderNet,
            HaltingMode::PactSample,
        ] {
            let want =
                common::reference::forward_pondering(&net, &batch.inputs, &mode, &mut Rng::seed(7))
                    .unwrap();
            let got = run_in_mode(&net, &batch, &mode, &mut Rng::seed(7)).unwrap();
            let what = format!("{cell:?} {mode:?}");
            for (a, b) in want.logits.to_f64_vec().iter().zip(got.logits.to_f64_vec()) {
                assert!(close(*a, b), "{what}: {a} vs {b}");
            }
            let want_steps: Vec<Vec<usize>> = want.steps.iter().map(|s| s.units.clone()).collect();
            assert_eq!(want_steps, got.steps, "{what}");
        }
    }
}

#[test]
fn a_diverged_act_step_gives_a_non_finite_loss_not_an_error() {
    // The trainer's guard names the step and the last good checkpoint when the loss is not
    // finite; a refusal of the readout's logits would hide that behind a generic error.
    let (_store, net, mut batch) = setup(CellKind::Rnn, "parity:3", 5);
    batch.inputs = batch.inputs.full_like(f64::NAN);
    let act = SequenceObjective::Act {
        tau: 0.01,
        eps: 0.01,
    };
    let out = sequence_step(&net, &batch, &act, &mut Rng::seed(0)).expect("a step, not an error");
    assert!(!out.loss.to_scalar().unwrap().is_finite());
}
