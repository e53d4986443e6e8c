//! `ppl::weighted_states` for weights `[B, L]` on the CPU is one fused op (one pass forward,
//! the weights' gradient as a dot product per row); its values and gradients must be those of
//! the products and sums it replaces, bit for bit, in `f32` and `f64`, serial and parallel
//! sizes, on any number of threads. The other weight shapes compose the ops.

mod common;

use common::{Gen, DEV};
use pact::ppl::weighted_states;
use pact::{DType, Tensor};

/// `Σ_l s_l · w[:, l]` as separate products and sums, the way the fused op is defined.
fn composed(states: &[Tensor], w: &Tensor) -> Tensor {
    let rank = states[0].rank();
    let mut sum: Option<Tensor> = None;
    for (l, s) in states.iter().enumerate() {
        let mut dims = vec![w.dims()[0]];
        dims.extend(std::iter::repeat_n(1, rank - 1));
        let term = s
            .mul(&w.narrow(1, l, 1).unwrap().reshape(dims).unwrap())
            .unwrap();
        sum = Some(match sum {
            Some(o) => o.add(&term).unwrap(),
            None => term,
        });
    }
    sum.unwrap()
}

/// Random states `[B, ..]` and weights `[B, L]` (variables) of `dtype`.
fn operands(shape: &[usize], steps: usize, dtype: DType, seed: u64) -> (Vec<Tensor>, Tensor) {
    let mut g = Gen::new(seed);
    let len: usize = shape.iter().product();
    let states = (0..steps)
        .map(|_| {
            Tensor::from_f64_slice(&g.vec(len, -2.0, 2.0), shape, dtype, DEV)
                .unwrap()
                .to_var()
        })
        .collect();
    let w = Tensor::from_f64_slice(
        &g.vec(shape[0] * steps, 0.0, 1.0),
        [shape[0], steps],
        dtype,
        DEV,
    )
    .unwrap()
    .to_var();
    (states, w)
}

/// The output and the gradients of the states and the weights of `f(states, w)` for a random
/// upstream gradient, as `f64` vectors.
fn run(
    f: impl Fn(&[Tensor], &Tensor) -> Tensor,
    states: &[Tensor],
    w: &Tensor,
    seed: u64,
) -> Vec<Vec<f64>> {
    let out = f(states, w);
    let r = Tensor::from_f64_slice(
        &Gen::new(seed).vec(out.elem_count(), -1.0, 1.0),
        out.dims(),
        out.dtype(),
        DEV,
    )
    .unwrap();
    let grads = out.mul(&r).unwrap().sum_all().unwrap().backward().unwrap();
    let mut all = vec![out.to_f64_vec()];
    for t in states.iter().chain([w]) {
        all.push(
            grads
                .get(t)
                .expect("every input gets a gradient")
                .to_f64_vec(),
        );
    }
    all
}

/// Shapes on both sides of the parallel threshold (2¹⁵ elements), of rank 1 to 4.
const SHAPES: [&[usize]; 4] = [&[7], &[3, 5], &[4, 3, 2, 5], &[8, 16, 32, 32]];

#[test]
fn the_fused_sum_equals_the_products_and_sums_exactly() {
    for dtype in [DType::F32, DType::F64] {
        for (i, shape) in SHAPES.iter().enumerate() {
            for steps in [1, 2, 5] {
                let (states, w) = operands(shape, steps, dtype, i as u64);
                let fused = run(|s, w| weighted_states(s, w).unwrap(), &states, &w, 99);
                let reference = run(composed, &states, &w, 99);
                for (k, (a, b)) in fused.iter().zip(&reference).enumerate() {
                    assert!(
                        a == b,
                        "{dtype:?} {shape:?}, {steps} steps: output/gradient {k} differs"
                    );
                }
            }
        }
    }
}

#[test]
fn the_fused_sum_does_not_depend_on_the_thread_count() {
    let (states, w) = operands(&[8, 16, 32, 32], 4, DType::F32, 5);
    let on = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| run(|s, w| weighted_states(s, w).unwrap(), &states, &w, 7))
    };
    let one = on(1);
    for threads in [2, 3] {
        assert!(on(threads) == one, "{threads} threads differ from one");
    }
}

#[test]
fn other_weight_shapes_compose_the_ops() {
    let (states, _) = operands(&[3, 4], 2, DType::F64, 3);
    // Weights [1, L] broadcast over the rows.
    let w = Tensor::from_f64_slice(&[0.25, 0.75], [1, 2], DType::F64, DEV).unwrap();
    let out = weighted_states(&states, &w).unwrap().to_f64_vec();
    let (a, b) = (states[0].to_f64_vec(), states[1].to_f64_vec());
    let expect: Vec<f64> = a.iter().zip(&b).map(|(x, y)| 0.25 * x + 0.75 * y).collect();
    assert_eq!(out, expect);
    // Weights [K, B, L] for K enumerated values give [K, B, ..].
    let w = Tensor::from_f64_slice(
        &[1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
        [2, 3, 2],
        DType::F64,
        DEV,
    )
    .unwrap();
    let out = weighted_states(&states, &w).unwrap();
    assert_eq!(out.dims(), [2, 3, 4]);
    assert_eq!(out.to_f64_vec(), [a, b].concat());
}

#[test]
fn weights_that_do_not_match_the_states_are_errors() {
    let (states, _) = operands(&[3, 4], 2, DType::F32, 4);
    let three_steps = Tensor::zeros([3, 3], DType::F32, DEV);
    let err = weighted_states(&states, &three_steps)
        .unwrap_err()
        .to_string();
    assert!(err.contains("for a block of 2 states"), "{err}");
    let other_rows = Tensor::zeros([5, 2], DType::F32, DEV);
    assert!(weighted_states(&states, &other_rows).is_err());
    let f64_weights = Tensor::zeros([3, 2], DType::F64, DEV);
    assert!(weighted_states(&states, &f64_weights).is_err());
}
