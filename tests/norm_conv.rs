//! Training-mode batch norm with leaky ReLU fused into the convolution after it
//! (`Tensor::batch_norm_train_leaky_relu_conv2d`) against the two ops it replaces: values,
//! statistics and every gradient bit for bit, on shapes that take the parallel paths, stride
//! 2, and the cases that fall back to the two ops (not 3×3, `f64`), with and without a graph.
//! `.ci/run` runs this file under each `PACT_CPU`, so every kernel path is checked.

mod common;

use common::{Gen, DEV};
use pact::{DType, Tensor};

/// `(input shape, output channels, kernel, stride, padding)`.
type Case = (Vec<usize>, usize, usize, usize, usize);

fn cases() -> Vec<Case> {
    vec![
        (vec![8, 16, 32, 32], 16, 3, 1, 1),
        (vec![6, 16, 16, 16], 32, 3, 2, 1),
        (vec![3, 5, 7, 13], 6, 3, 1, 1),
        (vec![2, 4, 9, 11], 3, 3, 2, 1),
        (vec![2, 3, 8, 8], 4, 1, 1, 0),
        (vec![1, 2, 6, 6], 3, 5, 1, 2),
    ]
}

/// `[output, mean, var, dx, dγ, dβ, dw]` as bits, fused or as the two ops.
fn run(case: &Case, dtype: DType, fused: bool, g: &mut Gen) -> Vec<Vec<u64>> {
    let (shape, c_out, k, stride, padding) = case;
    let c = shape[1];
    let len: usize = shape.iter().product();
    let x = Tensor::from_f64_slice(&g.vec(len, -1.0, 2.0), shape.clone(), dtype, DEV)
        .unwrap()
        .to_var();
    let w = Tensor::from_f64_slice(
        &g.vec(c_out * c * k * k, -0.5, 0.5),
        [*c_out, c, *k, *k],
        dtype,
        DEV,
    )
    .unwrap()
    .to_var();
    let gamma = Tensor::from_f64_slice(&g.vec(c, 0.5, 1.5), [c], dtype, DEV)
        .unwrap()
        .to_var();
    let beta = Tensor::from_f64_slice(&g.vec(c, -0.5, 0.5), [c], dtype, DEV)
        .unwrap()
        .to_var();
    let (out, mean, var) = if fused {
        x.batch_norm_train_leaky_relu_conv2d(&gamma, &beta, 1e-3, 0.1, &w, *stride, *padding)
            .unwrap()
    } else {
        let (y, m, v) = x
            .batch_norm_train_leaky_relu(&gamma, &beta, 1e-3, 0.1)
            .unwrap();
        (y.conv2d(&w, None, *stride, *padding).unwrap(), m, v)
    };
    let dout = Tensor::from_f64_slice(&g.vec(out.elem_count(), -1.0, 1.0), out.dims(), dtype, DEV)
        .unwrap();
    let grads = out
        .mul(&dout)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let bits = |t: &Tensor| t.to_f64_vec().iter().map(|v| v.to_bits()).collect();
    let mut all: Vec<Vec<u64>> = vec![bits(&out), bits(&mean), bits(&var)];
    for t in [&x, &gamma, &beta, &w] {
        all.push(bits(grads.get(t).unwrap()));
    }
    all
}

#[test]
fn fused_norm_and_convolution_equal_the_two_ops_bit_for_bit() {
    for case in cases() {
        for dtype in [DType::F32, DType::F64] {
            let (mut a, mut b) = (Gen::new(3), Gen::new(3));
            let fused = run(&case, dtype, true, &mut a);
            let composed = run(&case, dtype, false, &mut b);
            let names = ["output", "mean", "var", "dx", "dgamma", "dbeta", "dw"];
            for ((name, f), c) in names.iter().zip(&fused).zip(&composed) {
                assert_eq!(f, c, "{name} {case:?} {dtype:?}");
            }
        }
    }
}

#[test]
fn fused_norm_and_convolution_without_a_graph() {
    let mut g = Gen::new(5);
    let x = Tensor::from_f64_slice(
        &g.vec(4 * 3 * 8 * 8, -1.0, 1.0),
        [4, 3, 8, 8],
        DType::F32,
        DEV,
    )
    .unwrap();
    let w = Tensor::from_f64_slice(&g.vec(5 * 3 * 9, -1.0, 1.0), [5, 3, 3, 3], DType::F32, DEV)
        .unwrap()
        .to_var();
    let gamma = Tensor::ones([3], DType::F32, DEV).to_var();
    let beta = Tensor::zeros([3], DType::F32, DEV).to_var();
    let (out, _, _) =
        pact::no_grad(|| x.batch_norm_train_leaky_relu_conv2d(&gamma, &beta, 1e-3, 0.1, &w, 1, 1))
            .unwrap();
    assert!(
        !out.tracks(),
        "no graph under no_grad, though the weight is a variable"
    );
    let (y, _, _) = x
        .batch_norm_train_leaky_relu(&gamma, &beta, 1e-3, 0.1)
        .unwrap();
    let want = y.conv2d(&w, None, 1, 1).unwrap();
    assert_eq!(out.to_f64_vec(), want.to_f64_vec());
}

#[test]
fn fused_norm_and_convolution_report_bad_shapes() {
    let x = Tensor::zeros([2, 3, 8, 8], DType::F32, DEV);
    let w = Tensor::zeros([4, 3, 3, 3], DType::F32, DEV);
    let (g3, b3) = (
        Tensor::ones([3], DType::F32, DEV),
        Tensor::zeros([3], DType::F32, DEV),
    );
    let g2 = Tensor::ones([2], DType::F32, DEV);
    let bad_w = Tensor::zeros([4, 2, 3, 3], DType::F32, DEV);
    let err = |r: pact::Result<(Tensor, Tensor, Tensor)>| r.expect_err("an error").to_string();
    assert!(
        err(x.batch_norm_train_leaky_relu_conv2d(&g2, &b3, 1e-3, 0.1, &w, 1, 1))
            .contains("batch_norm")
    );
    assert!(
        err(x.batch_norm_train_leaky_relu_conv2d(&g3, &b3, 1e-3, 0.1, &bad_w, 1, 1))
            .contains("conv2d")
    );
    let empty = Tensor::zeros([0, 3, 8, 8], DType::F32, DEV);
    assert!(
        err(empty.batch_norm_train_leaky_relu_conv2d(&g3, &b3, 1e-3, 0.1, &w, 1, 1))
            .contains("empty")
    );
}
