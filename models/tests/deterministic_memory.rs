//! math §6: deterministic evaluation keeps only the current state of each example — no
//! stored unit outputs, no weighted accumulator. Measured with the process-wide tensor
//! memory counters, so this test has a binary to itself.

mod common;

use common::reference::{run_block, HaltingMode};
use pact::{memory, DType, Device, Rng, Tensor};

const UNITS: usize = 8;
const B: usize = 64;
const D: usize = 128;

/// Peak tensor bytes above the baseline while a block of `UNITS` units `tanh(s W_l)` with
/// heads `mean(s) + bias` runs in `mode` (no graph).
fn peak_above_baseline(mode: HaltingMode, bias: f64) -> usize {
    let mut rng = Rng::seed(3);
    let w: Vec<Tensor> = (0..UNITS)
        .map(|_| Tensor::rand_normal([D, D], 0.0, 0.1, DType::F64, Device::Cpu, &mut rng).unwrap())
        .collect();
    let x = Tensor::randn([B, D], DType::F64, Device::Cpu, &mut rng).unwrap();
    // Row i halts after unit i % UNITS when bias = 0 (heads read a per-row offset).
    let offsets: Vec<f64> = (0..B).map(|i| (i % UNITS) as f64).collect();
    let offsets = Tensor::from_f64_vec(offsets, [B], Device::Cpu).unwrap();
    let base = memory::reset_peak();
    let out = pact::no_grad(|| {
        run_block(
            UNITS,
            &x,
            |l, s, _| s.matmul(&w[l])?.tanh(),
            |l, s| {
                let rows = s.dims()[0];
                let off = if rows == B {
                    offsets.clone()
                } else {
                    Tensor::full(0.0, [rows], DType::F64, Device::Cpu)
                };
                off.affine(-1.0, l as f64 + 0.5 + bias)
            },
            &mode,
            &mut rng,
        )
    })
    .unwrap();
    let peak = memory::peak_bytes() - base;
    drop(out);
    peak
}

#[test]
fn deterministic_evaluation_holds_one_state_per_example() {
    let state = B * D * 8;
    // Nobody halts early: all eight units run on the full batch.
    let never = peak_above_baseline(HaltingMode::PactDeterministic, -100.0);
    // Examples halt at different units (the batch shrinks as they leave).
    let mixed = peak_above_baseline(HaltingMode::PactDeterministic, 0.0);
    // The dense PonderNet mode keeps every unit's state, for contrast.
    let dense = peak_above_baseline(HaltingMode::PonderNet, -100.0);
    println!(
        "peak above baseline in states of [B, D]: deterministic {:.2} (never halting), {:.2} \
         (mixed), PonderNet {:.2}",
        never as f64 / state as f64,
        mixed as f64 / state as f64,
        dense as f64 / state as f64
    );
    // While unit l runs: its input state, the matmul result and the tanh output.
    assert!(never <= 3 * state + 4096, "{never} bytes");
    assert!(mixed <= 3 * state + 4096, "{mixed} bytes");
    assert!(dense >= UNITS * state, "{dense} bytes");
}
