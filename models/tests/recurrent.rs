//! Pondering recurrent cells (math §10) in every halting mode.

mod common;

use pact::nn::ParamStore;
use pact::{DType, Device, Rng, Tensor};
use pact_models::data::DataSpec;
use pact_models::evaluate_sequences::run_in_mode;
use pact_models::mode::HaltingMode;
use pact_models::recurrent::{CellKind, PonderingConfig, PonderingRnn};
use pact_models::sequence_objective::SequenceTensors;

const CPU: Device = Device::Cpu;

fn net(cell: CellKind, bias: f64, rng: &mut Rng) -> PonderingRnn {
    let config = PonderingConfig {
        cell,
        inputs: 3,
        hidden: 6,
        outputs: 2,
        max_ponder: 4,
        halting_bias: bias,
    };
    PonderingRnn::new(&ParamStore::new(DType::F64, CPU), config, rng).unwrap()
}

#[test]
fn every_mode_runs_on_rnn_and_lstm() {
    let mut rng = Rng::seed(1);
    let x = Tensor::randn([5, 3, 3], DType::F64, CPU, &mut rng).unwrap();
    for cell in [CellKind::Rnn, CellKind::Lstm] {
        let net = net(cell, 1.0, &mut rng);
        for mode in [
            HaltingMode::Plain,
            HaltingMode::Act { eps: 0.01 },
            HaltingMode::PactRelaxed {
                temperature: 0.5,
                straight_through: false,
            },
            HaltingMode::PactDeterministic,
            HaltingMode::PonderNet,
        ] {
            let out = common::reference::forward_pondering(&net, &x, &mode, &mut rng).unwrap();
            assert_eq!(out.logits.dims(), &[5, 3, 2], "{cell:?} {mode:?}");
            assert_eq!(out.steps.len(), 3);
            for step in &out.steps {
                assert!(step.units.iter().all(|&n| (1..=4).contains(&n)));
            }
            if let HaltingMode::PonderNet = mode {
                let q = out.steps[0]
                    .log_q
                    .as_ref()
                    .unwrap()
                    .exp()
                    .unwrap()
                    .sum(1)
                    .unwrap();
                for v in q.to_f64_vec() {
                    assert!((v - 1.0).abs() < 1e-12);
                }
                assert_eq!(out.steps[0].states.as_ref().unwrap().len(), 4);
            }
        }
    }
}

#[test]
fn act_with_graves_bias_halts_early_and_reports_ponder_cost() {
    let mut rng = Rng::seed(2);
    let net = net(CellKind::Rnn, 1.0, &mut rng);
    let x = Tensor::randn([4, 2, 3], DType::F64, CPU, &mut rng).unwrap();
    let out =
        common::reference::forward_pondering(&net, &x, &HaltingMode::Act { eps: 0.01 }, &mut rng)
            .unwrap();
    for step in &out.steps {
        let ponder = step.ponder.as_ref().unwrap().to_f64_vec();
        for (p, &n) in ponder.iter().zip(&step.units) {
            // ρ = N + R with 0 < R ≤ 1.
            assert!(*p > n as f64 && *p <= n as f64 + 1.0, "{p} vs N = {n}");
        }
    }
}

#[test]
fn deterministic_evaluation_matches_each_sequence_alone() {
    let mut rng = Rng::seed(3);
    // A zero bias puts h near 0.5, so examples halt after different numbers of steps.
    let net = net(CellKind::Lstm, 0.0, &mut rng);
    let x = Tensor::randn([6, 2, 3], DType::F64, CPU, &mut rng).unwrap();
    let mode = HaltingMode::PactDeterministic;
    let batched =
        pact::no_grad(|| common::reference::forward_pondering(&net, &x, &mode, &mut rng)).unwrap();
    let all = batched.logits.to_f64_vec();
    let mut varied = false;
    for i in 0..6 {
        let alone = pact::no_grad(|| {
            common::reference::forward_pondering(&net, &x.narrow(0, i, 1).unwrap(), &mode, &mut rng)
        })
        .unwrap();
        for (a, b) in alone
            .logits
            .to_f64_vec()
            .iter()
            .zip(&all[i * 4..(i + 1) * 4])
        {
            assert!((a - b).abs() < 1e-12, "example {i}");
        }
        for (t, step) in alone.steps.iter().enumerate() {
            assert_eq!(step.units[0], batched.steps[t].units[i]);
            varied |= step.units[0] != batched.steps[t].units[0];
        }
    }
    assert!(
        varied,
        "every example pondered equally; the test would not exercise compaction"
    );
}

#[test]
fn wrong_input_width_is_an_error() {
    let mut rng = Rng::seed(0);
    let net = net(CellKind::Rnn, 1.0, &mut rng);
    let set = DataSpec::parse("parity:3")
        .unwrap()
        .generate_sequences(2, &mut rng)
        .unwrap();
    let mut batch =
        SequenceTensors::new(set.to_batch(&[0, 1]).unwrap(), set.dims(), DType::F64, CPU).unwrap();
    let t = batch.steps;
    batch.inputs = Tensor::zeros([2, t, 5], DType::F64, CPU);
    let err = run_in_mode(&net, &batch, &HaltingMode::Plain, &mut rng)
        .err()
        .unwrap();
    assert!(
        err.to_string().contains(&format!("[2, {t}, 5]"))
            && err.to_string().contains("of 3 features"),
        "{err}"
    );
}

#[test]
fn flops_count_the_cell_and_head_per_pondering_step() {
    let mut rng = Rng::seed(0);
    // inputs 3 (+1 flag), hidden 6, outputs 2, M = 4.
    let rnn = net(CellKind::Rnn, 1.0, &mut rng);
    let lstm = net(CellKind::Lstm, 1.0, &mut rng);
    assert_eq!(rnn.cell_flops(), 2 * 6 * (4 + 6));
    assert_eq!(lstm.cell_flops(), 2 * 4 * 6 * (4 + 6));
    assert_eq!(rnn.halt_flops(), 12);
    assert_eq!(rnn.output_flops(), 24);
    // Two input steps, pondering 1 and 4 (= M: no head after the last step).
    let want = (rnn.cell_flops() + 12 + 24) + (4 * rnn.cell_flops() + 3 * 12 + 24);
    assert_eq!(rnn.flops(&[1, 4]), want);
    assert_eq!(rnn.flops(&[]), 0);
}

#[test]
fn readout_reads_the_hidden_part_of_the_state() {
    let mut rng = Rng::seed(4);
    let net = net(CellKind::Lstm, 1.0, &mut rng);
    let x = Tensor::randn([2, 1, 3], DType::F64, CPU, &mut rng).unwrap();
    let out =
        common::reference::forward_pondering(&net, &x, &HaltingMode::Plain, &mut rng).unwrap();
    let state = out.steps[0].output.clone();
    assert_eq!(state.dims(), &[2, 12]);
    let again = net.readout(&state).unwrap().to_f64_vec();
    for (a, b) in again.iter().zip(out.logits.to_f64_vec()) {
        assert!((a - b).abs() < 1e-12);
    }
}
