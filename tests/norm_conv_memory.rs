//! What a training graph holds through `Tensor::batch_norm_train_leaky_relu_conv2d`: where
//! the direct kernels run, the output and no normalised activations; where they do not, the
//! two ops and their activations. The memory counters are process-wide, so this measurement
//! has a test binary to itself.

mod common;

use common::{Gen, DEV};
use pact::backend::cpu::conv::direct;
use pact::{memory, DType, Tensor};

#[test]
fn the_fused_op_keeps_no_normalised_activations() {
    let mut g = Gen::new(9);
    let (b, c, h) = (8, 16, 32);
    let len = b * c * h * h;
    let x = Tensor::from_f64_slice(&g.vec(len, -1.0, 1.0), [b, c, h, h], DType::F32, DEV)
        .unwrap()
        .to_var();
    let w = Tensor::from_f64_slice(&g.vec(c * c * 9, -0.5, 0.5), [c, c, 3, 3], DType::F32, DEV)
        .unwrap()
        .to_var();
    let gamma = Tensor::ones([c], DType::F32, DEV).to_var();
    let beta = Tensor::zeros([c], DType::F32, DEV).to_var();
    // Bytes that the graph keeps alive after the forward pass.
    let held = |fused: bool| {
        let before = memory::live_bytes();
        let out = if fused {
            x.batch_norm_train_leaky_relu_conv2d(&gamma, &beta, 1e-3, 0.1, &w, 1, 1)
                .unwrap()
                .0
        } else {
            let (y, _, _) = x
                .batch_norm_train_leaky_relu(&gamma, &beta, 1e-3, 0.1)
                .unwrap();
            y.conv2d(&w, None, 1, 1).unwrap()
        };
        let held = memory::live_bytes() - before;
        drop(out);
        held
    };
    let activations = len * 4;
    let (fused, composed) = (held(true), held(false));
    // Both hold the output (`activations` bytes here) and a few per-channel vectors.
    assert!(
        composed >= 2 * activations,
        "the two ops hold {composed} bytes"
    );
    if direct::enabled() {
        assert!(
            fused < activations + activations / 8,
            "fused: {fused} bytes held, the output is {activations}"
        );
    } else {
        assert!(
            fused >= 2 * activations,
            "without the kernels it is the two ops: {fused}"
        );
    }
}
