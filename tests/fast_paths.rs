//! The CPU kernels' fast paths (vectorised lane sums, in-place writes, parallel chunks, fused
//! gradients) checked against plain `f64` reference computations, on sizes that take the
//! parallel paths (at least 2¹⁵ elements) and on odd and empty sizes.

mod common;

use common::{Gen, DEV};
use pact::{DType, Tensor};

/// `|a − b| ≤ tol · (1 + |b|)` elementwise.
fn assert_close(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

/// Batch norm of `x` (`[N, C, inner]` flattened) and its gradients for the output gradient
/// `dy`, computed directly in `f64`: `(y, dx, dgamma, dbeta)`.
#[allow(clippy::type_complexity)]
fn batch_norm_reference(
    x: &[f64],
    dy: &[f64],
    gamma: &[f64],
    beta: &[f64],
    dims: (usize, usize, usize),
    eps: f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let (n, c, inner) = dims;
    let at = |o: usize, ch: usize, i: usize| (o * c + ch) * inner + i;
    let count = (n * inner) as f64;
    let (mut y, mut dx) = (vec![0.0; x.len()], vec![0.0; x.len()]);
    let (mut dgamma, mut dbeta) = (vec![0.0; c], vec![0.0; c]);
    for ch in 0..c {
        let idx: Vec<usize> = (0..n)
            .flat_map(|o| (0..inner).map(move |i| at(o, ch, i)))
            .collect();
        let mean = idx.iter().map(|&k| x[k]).sum::<f64>() / count;
        let var = idx.iter().map(|&k| (x[k] - mean).powi(2)).sum::<f64>() / count;
        let s = 1.0 / (var + eps).sqrt();
        let xhat = |k: usize| (x[k] - mean) * s;
        let sum_dy: f64 = idx.iter().map(|&k| dy[k]).sum();
        let sum_dy_xhat: f64 = idx.iter().map(|&k| dy[k] * xhat(k)).sum();
        for &k in &idx {
            y[k] = xhat(k) * gamma[ch] + beta[ch];
            dx[k] = gamma[ch] * s / count * (count * dy[k] - sum_dy - xhat(k) * sum_dy_xhat);
        }
        dgamma[ch] = sum_dy_xhat;
        dbeta[ch] = sum_dy;
    }
    (y, dx, dgamma, dbeta)
}

#[test]
fn batch_norm_matches_the_f64_reference_on_large_odd_and_offset_inputs() {
    let mut g = Gen::new(1);
    // (shape, offset of the values): the first two take the parallel paths; the offset one
    // checks that the one-pass variance stays accurate far from zero.
    let cases: Vec<(Vec<usize>, f64)> = vec![
        (vec![6, 5, 33, 35], 0.0),
        (vec![4, 3, 61, 47], 300.0),
        (vec![3, 2, 5, 7], 0.0),
        (vec![7, 3], -4.0),
        (vec![1, 1, 1, 1], 0.0),
        (vec![2, 0, 3, 3], 0.0),
    ];
    for (shape, offset) in cases {
        let (n, c) = (shape[0], shape[1]);
        let inner: usize = shape[2..].iter().product();
        let len = n * c * inner;
        let x = g.vec(len, offset - 2.0, offset + 2.0);
        let dy = g.vec(len, -1.0, 1.0);
        let gamma = g.vec(c, 0.5, 1.5);
        let beta = g.vec(c, -0.5, 0.5);
        let (ey, edx, edgamma, edbeta) =
            batch_norm_reference(&x, &dy, &gamma, &beta, (n, c, inner), 1e-3);
        for (dtype, tol) in [(DType::F64, 1e-9), (DType::F32, 2e-3)] {
            let what = format!("{shape:?} {dtype:?}");
            let xt = Tensor::from_f64_slice(&x, shape.clone(), dtype, DEV)
                .unwrap()
                .to_var();
            let gt = Tensor::from_f64_slice(&gamma, [c], dtype, DEV)
                .unwrap()
                .to_var();
            let bt = Tensor::from_f64_slice(&beta, [c], dtype, DEV)
                .unwrap()
                .to_var();
            let dyt = Tensor::from_f64_slice(&dy, shape.clone(), dtype, DEV).unwrap();
            let (y, _, _) = xt.batch_norm_train(&gt, &bt, 1e-3).unwrap();
            assert_close(&format!("y {what}"), &y.to_f64_vec(), &ey, tol);
            let grads = y.mul(&dyt).unwrap().sum_all().unwrap().backward().unwrap();
            let get = |t: &Tensor| grads.get(t).unwrap().to_f64_vec();
            // The input gradient is a difference of terms of size ~γ·s·|dy|: compare on
            // that scale.
            assert_close(&format!("dx {what}"), &get(&xt), &edx, tol * 4.0);
            let scale = (n * inner) as f64;
            let rel = |v: Vec<f64>| v.iter().map(|a| a / scale).collect::<Vec<_>>();
            assert_close(
                &format!("dgamma {what}"),
                &rel(get(&gt)),
                &rel(edgamma.clone()),
                tol,
            );
            assert_close(
                &format!("dbeta {what}"),
                &rel(get(&bt)),
                &rel(edbeta.clone()),
                tol,
            );
        }
    }
}

#[test]
fn leaky_relu_and_relu_gradients_match_the_reference_on_every_size() {
    let mut g = Gen::new(2);
    for len in [0, 1, 17, 40_000] {
        let x = g.vec(len, -1.0, 1.0);
        let dy = g.vec(len, -1.0, 1.0);
        for slope in [0.1, 0.0] {
            for dtype in [DType::F32, DType::F64] {
                let xt = Tensor::from_f64_slice(&x, [len], dtype, DEV)
                    .unwrap()
                    .to_var();
                let dyt = Tensor::from_f64_slice(&dy, [len], dtype, DEV).unwrap();
                let y = if slope == 0.0 {
                    xt.relu()
                } else {
                    xt.leaky_relu(slope)
                }
                .unwrap();
                let grads = y.mul(&dyt).unwrap().sum_all().unwrap().backward().unwrap();
                let expected: Vec<f64> = x
                    .iter()
                    .zip(&dy)
                    .map(|(&v, &d)| if v > 0.0 { d } else { slope * d })
                    .collect();
                assert_close(
                    &format!("{len} {slope} {dtype:?}"),
                    &grads.get(&xt).unwrap().to_f64_vec(),
                    &expected,
                    1e-6,
                );
            }
        }
    }
}

#[test]
fn gradients_of_a_value_used_several_times_add_up() {
    // A large tensor feeding three branches: its gradient is accumulated (in place where
    // possible) from three contributions; the branch values must not be disturbed.
    let mut g = Gen::new(3);
    let len = 50_000;
    let x = g.vec(len, -1.0, 1.0);
    let xt = Tensor::from_f64_slice(&x, [len], DType::F64, DEV)
        .unwrap()
        .to_var();
    let a = xt.mul_scalar(2.0).unwrap();
    let b = xt.square().unwrap();
    let c = xt.leaky_relu(0.1).unwrap();
    let loss = a.add(&b).unwrap().add(&c).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    let expected: Vec<f64> = x
        .iter()
        .map(|&v| 2.0 + 2.0 * v + if v > 0.0 { 1.0 } else { 0.1 })
        .collect();
    assert_close(
        "dx",
        &grads.get(&xt).unwrap().to_f64_vec(),
        &expected,
        1e-12,
    );
    // A second backward pass over the same graph gives the same gradients.
    let again = loss.backward().unwrap();
    assert_close(
        "again",
        &again.get(&xt).unwrap().to_f64_vec(),
        &expected,
        1e-12,
    );
    let twice = {
        let mut store = loss.backward().unwrap();
        loss.backward_into(&mut store).unwrap();
        store.get(&xt).unwrap().to_f64_vec()
    };
    let doubled: Vec<f64> = expected.iter().map(|v| 2.0 * v).collect();
    assert_close("accumulated", &twice, &doubled, 1e-12);
}

#[test]
fn sum_to_merges_axes_and_matches_the_reference() {
    let mut g = Gen::new(4);
    let big = [3usize, 4, 5, 6];
    let x = g.vec(big.iter().product(), -1.0, 1.0);
    let at = |i: [usize; 4]| ((i[0] * big[1] + i[1]) * big[2] + i[2]) * big[3] + i[3];
    let targets: Vec<Vec<usize>> = vec![
        vec![3, 1, 1, 1],
        vec![1, 4, 1, 1],
        vec![4, 1, 1],
        vec![1, 1, 5, 6],
        vec![3, 1, 5, 1],
        vec![6],
        vec![1],
        vec![],
        vec![3, 4, 5, 6],
    ];
    for target in targets {
        let padded: Vec<usize> = std::iter::repeat_n(1, 4 - target.len())
            .chain(target.iter().copied())
            .collect();
        let out_len: usize = padded.iter().product();
        let mut expected = vec![0.0; out_len];
        for a in 0..big[0] {
            for b in 0..big[1] {
                for c in 0..big[2] {
                    for d in 0..big[3] {
                        let i = [a, b, c, d];
                        let mut o = 0;
                        for k in 0..4 {
                            o = o * padded[k] + if padded[k] == 1 { 0 } else { i[k] };
                        }
                        expected[o] += x[at(i)];
                    }
                }
            }
        }
        let t = Tensor::from_f64_slice(&x, big, DType::F64, DEV).unwrap();
        let s = t.sum_to(&pact::Shape::new(target.clone())).unwrap();
        assert_eq!(s.dims(), &target[..]);
        assert_close(&format!("{target:?}"), &s.to_f64_vec(), &expected, 1e-12);
    }
}

/// `a op b` with NumPy broadcasting, by index arithmetic.
fn broadcast_reference(
    a: &[f64],
    a_shape: &[usize],
    b: &[f64],
    b_shape: &[usize],
    out: &[usize],
    op: fn(f64, f64) -> f64,
) -> Vec<f64> {
    let n: usize = out.iter().product();
    let pad = |s: &[usize]| -> Vec<usize> {
        std::iter::repeat_n(1, out.len() - s.len())
            .chain(s.iter().copied())
            .collect()
    };
    let (pa, pb) = (pad(a_shape), pad(b_shape));
    let index = |p: &[usize], coords: &[usize]| {
        coords
            .iter()
            .zip(p)
            .fold(0, |acc, (&c, &d)| acc * d + if d == 1 { 0 } else { c })
    };
    (0..n)
        .map(|flat| {
            let mut coords = vec![0; out.len()];
            let mut r = flat;
            for k in (0..out.len()).rev() {
                coords[k] = r % out[k];
                r /= out[k];
            }
            op(a[index(&pa, &coords)], b[index(&pb, &coords)])
        })
        .collect()
}

/// A binary op's name, its tensor method and its scalar reference.
type NamedBinary = (
    &'static str,
    fn(&Tensor, &Tensor) -> pact::Result<Tensor>,
    fn(f64, f64) -> f64,
);

#[test]
fn broadcast_binary_ops_match_the_reference_on_every_path() {
    let mut g = Gen::new(5);
    let big = vec![6usize, 5, 33, 35];
    let smalls: Vec<Vec<usize>> = vec![
        big.clone(),
        vec![1, 5, 1, 1],
        vec![6, 1, 1, 1],
        vec![5, 1, 1],
        vec![6, 5, 1, 1],
        vec![1],
        vec![35],
        vec![6, 1, 33, 1],
        vec![1, 1, 1, 1],
    ];
    let ops: [NamedBinary; 4] = [
        ("add", |a, b| a.add(b), |x, y| x + y),
        ("sub", |a, b| a.sub(b), |x, y| x - y),
        ("mul", |a, b| a.mul(b), |x, y| x * y),
        ("div", |a, b| a.div(b), |x, y| x / y),
    ];
    for small in &smalls {
        let x = g.vec(big.iter().product(), -2.0, 2.0);
        let y = g.vec(small.iter().product(), 0.5, 2.0);
        for dtype in [DType::F32, DType::F64] {
            let xt = Tensor::from_f64_slice(&x, big.clone(), dtype, DEV).unwrap();
            let yt = Tensor::from_f64_slice(&y, small.clone(), dtype, DEV).unwrap();
            for (name, op, f) in ops {
                let what = format!("{name} {small:?} {dtype:?}");
                let e = broadcast_reference(&x, &big, &y, small, &big, f);
                assert_close(&what, &op(&xt, &yt).unwrap().to_f64_vec(), &e, 1e-6);
                // Swapped operands (the small one first); divide by values away from 0.
                let xs: Vec<f64> = x.iter().map(|v| v.abs() + 0.5).collect();
                let xst = Tensor::from_f64_slice(&xs, big.clone(), dtype, DEV).unwrap();
                let e = broadcast_reference(&y, small, &xs, &big, &big, f);
                assert_close(
                    &format!("swapped {what}"),
                    &op(&yt, &xst).unwrap().to_f64_vec(),
                    &e,
                    1e-6,
                );
            }
        }
    }
    // Empty and unit-sized operands.
    let e = Tensor::zeros([0, 3], DType::F32, DEV);
    let c = Tensor::ones([3], DType::F32, DEV);
    assert_eq!(e.add(&c).unwrap().dims(), &[0, 3]);
    let u = Tensor::ones([4, 1], DType::F32, DEV);
    assert_eq!(u.add(&c).unwrap().to_f64_vec(), vec![2.0; 12]);
}

#[test]
fn unary_maps_match_the_reference_across_chunk_boundaries() {
    let mut g = Gen::new(6);
    for len in [0, 1, 8191, 8193, 40_000] {
        let x = g.vec(len, -2.0, 2.0);
        let t = Tensor::from_f64_slice(&x, [len], DType::F32, DEV).unwrap();
        let e: Vec<f64> = x
            .iter()
            .map(|&v| if v > 0.0 { v } else { 0.1 * v })
            .collect();
        assert_close("leaky", &t.leaky_relu(0.1).unwrap().to_f64_vec(), &e, 1e-6);
        let e: Vec<f64> = x.iter().map(|&v| 3.0 * v - 1.0).collect();
        assert_close(
            "affine",
            &t.affine(3.0, -1.0).unwrap().to_f64_vec(),
            &e,
            1e-6,
        );
    }
}

/// How a batch norm is computed in [`batch_norm_run`].
#[derive(Clone, Copy, Debug)]
enum Norm {
    Plain,
    /// With a leaky ReLU of slope 0.1: fused, or as two ops.
    Leaky {
        fused: bool,
    },
}

/// `[y, mean, var, dx, dγ, dβ]` of a training-mode batch norm of `x` (shaped `shape`, `γ`,
/// `β` per channel) for the output gradient `dy`.
fn batch_norm_run(
    (x, dy, gamma, beta): (&[f64], &[f64], &[f64], &[f64]),
    shape: &[usize],
    dtype: DType,
    how: Norm,
) -> [Vec<f64>; 6] {
    let c = shape[1];
    let var = |v: &[f64], s: &[usize]| {
        Tensor::from_f64_slice(v, s.to_vec(), dtype, DEV)
            .unwrap()
            .to_var()
    };
    let (xt, gt, bt) = (var(x, shape), var(gamma, &[c]), var(beta, &[c]));
    let dyt = Tensor::from_f64_slice(dy, shape.to_vec(), dtype, DEV).unwrap();
    let (y, mean, var) = match how {
        Norm::Plain => xt.batch_norm_train(&gt, &bt, 1e-3).unwrap(),
        Norm::Leaky { fused: true } => xt.batch_norm_train_leaky_relu(&gt, &bt, 1e-3, 0.1).unwrap(),
        Norm::Leaky { fused: false } => {
            let (y, m, v) = xt.batch_norm_train(&gt, &bt, 1e-3).unwrap();
            (y.leaky_relu(0.1).unwrap(), m, v)
        }
    };
    let grads = y.mul(&dyt).unwrap().sum_all().unwrap().backward().unwrap();
    let get = |t: &Tensor| grads.get(t).unwrap().to_f64_vec();
    [
        y.to_f64_vec(),
        mean.to_f64_vec(),
        var.to_f64_vec(),
        get(&xt),
        get(&gt),
        get(&bt),
    ]
}

#[test]
fn fused_batch_norm_leaky_relu_equals_the_two_ops_exactly() {
    let mut g = Gen::new(7);
    for shape in [
        vec![6usize, 5, 33, 35],
        vec![3, 4, 5],
        vec![9, 2],
        vec![1, 1, 1, 1],
    ] {
        let c = shape[1];
        let len: usize = shape.iter().product();
        let x = g.vec(len, -2.0, 2.0);
        let dy = g.vec(len, -1.0, 1.0);
        let gamma = g.vec(c, 0.5, 1.5);
        let beta = g.vec(c, -0.5, 0.5);
        for dtype in [DType::F32, DType::F64] {
            let run = |fused| {
                batch_norm_run(
                    (&x, &dy, &gamma, &beta),
                    &shape,
                    dtype,
                    Norm::Leaky { fused },
                )
            };
            assert_eq!(run(true), run(false), "{shape:?} {dtype:?}");
        }
    }
}

#[test]
fn batch_norm_does_not_depend_on_the_thread_count() {
    // Large enough for the parallel paths: the per-channel sums are taken over fixed blocks
    // of examples and the blocks added in order, whatever the number of threads.
    let mut g = Gen::new(11);
    let shape = vec![37usize, 6, 17, 19];
    let c = shape[1];
    let len: usize = shape.iter().product();
    let x = g.vec(len, -2.0, 3.0);
    let dy = g.vec(len, -1.0, 1.0);
    let gamma = g.vec(c, 0.5, 1.5);
    let beta = g.vec(c, -0.5, 0.5);
    for dtype in [DType::F32, DType::F64] {
        for how in [Norm::Plain, Norm::Leaky { fused: true }] {
            let on = |threads: usize| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| batch_norm_run((&x, &dy, &gamma, &beta), &shape, dtype, how))
            };
            let one = on(1);
            assert_eq!(one, on(2), "{dtype:?} {how:?}");
            assert_eq!(one, on(3), "{dtype:?} {how:?}");
        }
    }
}
