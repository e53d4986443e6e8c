//! What a training graph holds through `ppl::weighted_states` with weights `[B, L]`: the
//! fused op keeps its output and nothing else (its inputs are alive anyway), where the
//! composed products and sums keep `2L − 1` state-sized tensors. The memory counters are
//! process-wide, so this measurement has a test binary to itself.

mod common;

use common::{Gen, DEV};
use pact::ppl::weighted_states;
use pact::{memory, DType, Tensor};

#[test]
fn the_fused_sum_keeps_only_its_output() {
    let mut g = Gen::new(3);
    let (rows, row, steps) = (8, 4096, 5);
    let states: Vec<Tensor> = (0..steps)
        .map(|_| {
            Tensor::from_f64_slice(&g.vec(rows * row, -1.0, 1.0), [rows, row], DType::F32, DEV)
                .unwrap()
                .to_var()
        })
        .collect();
    let w = Tensor::from_f64_slice(
        &g.vec(rows * steps, 0.0, 1.0),
        [rows, steps],
        DType::F32,
        DEV,
    )
    .unwrap()
    .to_var();
    let state_bytes = rows * row * 4;
    let before = memory::live_bytes();
    let out = weighted_states(&states, &w).unwrap();
    let held = memory::live_bytes() - before;
    assert_eq!(held, state_bytes, "the fused op holds {held} bytes");
    // The composed ops hold the products and partial sums as well (reshaped weight columns
    // share the weights' storage, the narrowed columns are a few bytes each).
    let before = memory::live_bytes();
    let mut sum: Option<Tensor> = None;
    for (l, s) in states.iter().enumerate() {
        let term = s.mul(&w.narrow(1, l, 1).unwrap()).unwrap();
        sum = Some(match sum {
            Some(o) => o.add(&term).unwrap(),
            None => term,
        });
    }
    let composed = memory::live_bytes() - before;
    assert!(
        composed >= (2 * steps - 1) * state_bytes,
        "the composed ops hold {composed} bytes"
    );
    // The gradients flow either way.
    let grads = out.sum_all().unwrap().backward().unwrap();
    assert!(grads.get(&w).is_some() && grads.get(&states[0]).is_some());
    drop(sum);
}
