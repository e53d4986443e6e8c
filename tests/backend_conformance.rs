//! The backend conformance suite: forward values of every primitive against naive,
//! obviously-correct references written here, in `f32` and `f64`, on odd shapes and edge
//! cases; plus the autodiff mechanics and error behaviour that every backend must share.
//!
//! The suite is parameterised by device: each backend adds one line,
//!
//! ```text
//! conformance_suite!(cpu, Ok(Device::Cpu));
//! #[cfg(feature = "arrayfire")]
//! conformance_suite!(arrayfire, arrayfire_device());
//! ```
//!
//! where the expression gives the device, or why it cannot run here: then every test of that
//! backend prints `skipped: <backend>::<test>: <reason>` to stderr (past the test harness's
//! output capture) and returns, and a last line counts the skips. Set
//! `PACT_REQUIRE_ARRAYFIRE=1` to make a missing ArrayFire a failure instead (for machines
//! that are meant to have it).
//!
//! Test data is rounded to the dtype under test before the reference sees it, so both compute
//! from identical inputs. Tolerances: `f64` `|got − want| ≤ 1e-12·(1 + |want|)`, `f32`
//! `|got − want| ≤ 1e-5·(1 + |want|)` (about 100 ulps; the longest sums here have ~50
//! terms), except where a test states otherwise.

mod common;

use pact::Device;

/// Instantiates every conformance check for one device, given as `Result<Device, String>`
/// (`Err` says why the backend cannot run here).
macro_rules! conformance_suite {
    ($name:ident, $device:expr) => {
        conformance_suite!(@tests $name, $device, [
            constructors_and_casts,
            unary_ops,
            unary_boundaries,
            sigmoid_family_large_values_f32,
            binary_ops_with_broadcasting,
            where_cond_and_broadcast_as,
            reductions,
            reductions_large,
            scans,
            logsumexp_and_softmax,
            logsumexp_infinite_rows,
            nan_propagation,
            matmul_shapes,
            matmul_primitive_transposes,
            layout_ops,
            index_ops,
            conv2d_forward,
            conv2d_backward_primitives,
            pooling,
            batch_norm,
            batch_norm_leaky_relu,
            empty_sizes,
            no_grad_builds_no_graph,
            detach_stops_gradients,
            gradient_accumulation,
            deep_graphs,
            backward_errors,
            shape_and_dtype_errors,
            axis_errors,
            index_errors,
        ]);
    };
    (@tests $name:ident, $device:expr, [$($test:ident),* $(,)?]) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            /// Tests in this instantiation (for the skip count).
            const TOTAL: usize = [$(stringify!($test)),*].len();

            $(
                #[test]
                fn $test() {
                    let device: Result<Device, String> = $device;
                    match device {
                        Ok(dev) => super::checks::$test(dev),
                        Err(reason) => {
                            super::skip(stringify!($name), stringify!($test), &reason, TOTAL)
                        }
                    }
                }
            )*
        }
    };
}

conformance_suite!(cpu, Ok(Device::Cpu));

#[cfg(any(feature = "arrayfire", feature = "arrayfire-emulator"))]
conformance_suite!(arrayfire, arrayfire_device());

/// The ArrayFire device to test: `PACT_ARRAYFIRE_DEVICE` (`cuda:0`, `opencl`, …; default:
/// ArrayFire's first backend with a device), or why there is none.
#[cfg(any(feature = "arrayfire", feature = "arrayfire-emulator"))]
fn arrayfire_device() -> Result<Device, String> {
    use pact::backend::arrayfire;
    let spec = std::env::var("PACT_ARRAYFIRE_DEVICE").unwrap_or_default();
    let device: Device = format!("arrayfire:{spec}")
        .trim_end_matches(':')
        .parse()
        .map_err(|e| format!("PACT_ARRAYFIRE_DEVICE={spec}: {e}"))?;
    let Device::ArrayFire(wanted) = device else {
        unreachable!("parsed an arrayfire device")
    };
    let found = arrayfire::resolve(wanted)?;
    match arrayfire::supports_f64(found) {
        Ok(true) => Ok(Device::ArrayFire(found)),
        Ok(false) => Err(format!(
            "{found} has no f64 support, and every check runs in f32 and f64"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Reports a test that cannot run: one line per test on stderr (written past the harness's
/// capture, so it shows in a normal `cargo test`), and a count after the last one.
#[allow(dead_code)]
fn skip(suite: &str, test: &str, reason: &str, total: usize) {
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};
    static SKIPPED: AtomicUsize = AtomicUsize::new(0);
    let required = std::env::var("PACT_REQUIRE_ARRAYFIRE").is_ok_and(|v| !v.is_empty() && v != "0");
    if required {
        panic!("{suite}::{test} cannot run and PACT_REQUIRE_ARRAYFIRE is set: {reason}");
    }
    // One write per line, so that lines of parallel tests do not interleave.
    let mut line = format!("skipped: {suite}::{test}: {reason}\n");
    let n = SKIPPED.fetch_add(1, Ordering::SeqCst) + 1;
    if n == total {
        line.push_str(&format!(
            "skipped: all {total} {suite} conformance tests ({reason})\n"
        ));
    }
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// The checks, each a function of the device.
mod checks {
    use super::common::{close, Gen};
    use pact::autodiff::CustomOp;
    use pact::backend::ops::*;
    use pact::{DType, Device, Error, GradStore, Shape, Tensor};
    use std::sync::Arc;

    const DTYPES: [DType; 2] = [DType::F32, DType::F64];

    fn tol(dtype: DType) -> f64 {
        match dtype {
            DType::F32 => 1e-5,
            DType::F64 => 1e-12,
        }
    }

    /// `v` rounded to `dtype`.
    fn round(v: &[f64], dtype: DType) -> Vec<f64> {
        match dtype {
            DType::F32 => v.iter().map(|&x| x as f32 as f64).collect(),
            DType::F64 => v.to_vec(),
        }
    }

    /// Random data in `[lo, hi)`, rounded to `dtype`.
    fn data(g: &mut Gen, n: usize, lo: f64, hi: f64, dtype: DType) -> Vec<f64> {
        round(&g.vec(n, lo, hi), dtype)
    }

    fn mk(dev: Device, v: &[f64], shape: &[usize], dtype: DType) -> Tensor {
        Tensor::from_f64_slice(v, Shape::new(shape), dtype, dev).unwrap()
    }

    #[track_caller]
    fn check_values(got: &[f64], want: &[f64], t: f64, what: &str) {
        assert_eq!(
            got.len(),
            want.len(),
            "{what}: {} values, want {}",
            got.len(),
            want.len()
        );
        for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
            assert!(
                close(a, b, t, t),
                "{what}: element {i}: got {a:e}, want {b:e}"
            );
        }
    }

    /// Checks shape, dtype, device and values of `got`.
    #[track_caller]
    fn check(got: &Tensor, want: &[f64], dims: &[usize], dtype: DType, dev: Device, what: &str) {
        assert_eq!(got.dims(), dims, "{what}: shape");
        assert_eq!(got.dtype(), dtype, "{what}: dtype");
        assert_eq!(got.device(), dev, "{what}: device");
        check_values(
            &got.to_f64_vec(),
            want,
            tol(dtype),
            &format!("{what} ({dtype:?})"),
        );
    }

    fn numel(d: &[usize]) -> usize {
        d.iter().product()
    }

    fn unravel(mut i: usize, dims: &[usize]) -> Vec<usize> {
        let mut idx = vec![0; dims.len()];
        for a in (0..dims.len()).rev() {
            idx[a] = i % dims[a];
            i /= dims[a];
        }
        idx
    }

    fn ravel(idx: &[usize], dims: &[usize]) -> usize {
        idx.iter().zip(dims).fold(0, |acc, (&i, &d)| acc * d + i)
    }

    /// The flat index into a tensor of `dims` that broadcasts to the output index `out_idx`.
    fn source_index(out_idx: &[usize], dims: &[usize]) -> usize {
        let offset = out_idx.len() - dims.len();
        let idx: Vec<usize> = dims
            .iter()
            .enumerate()
            .map(|(a, &d)| if d == 1 { 0 } else { out_idx[a + offset] })
            .collect();
        ravel(&idx, dims)
    }

    fn broadcast_shape(a: &[usize], b: &[usize]) -> Vec<usize> {
        let rank = a.len().max(b.len());
        (0..rank)
            .map(|i| {
                let da = if i + a.len() >= rank {
                    a[i + a.len() - rank]
                } else {
                    1
                };
                let db = if i + b.len() >= rank {
                    b[i + b.len() - rank]
                } else {
                    1
                };
                da.max(db)
            })
            .collect()
    }

    // -----------------------------------------------------------------------------------------
    // Constructors, element access, casts.

    pub fn constructors_and_casts(dev: Device) {
        let v = [1.5, -2.25, 3.0, 0.1, 1e-40, 3.4e38];
        let t64 = Tensor::from_f64_vec(v.to_vec(), [2, 3], dev).unwrap();
        assert_eq!(t64.to_f64_vec(), v.to_vec());
        assert_eq!(
            (t64.dtype(), t64.device(), t64.elem_count(), t64.rank()),
            (DType::F64, dev, 6, 2)
        );
        let t32 = t64.to_dtype(DType::F32);
        assert_eq!(
            t32.to_f32_vec(),
            v.iter().map(|&x| x as f32).collect::<Vec<_>>()
        );
        assert_eq!(t32.to_dtype(DType::F64).to_f64_vec(), round(&v, DType::F32));
        let f = Tensor::from_f32_vec(vec![1.0, 2.5], [2], dev).unwrap();
        assert_eq!((f.dtype(), f.to_f64_vec()), (DType::F32, vec![1.0, 2.5]));
        for dtype in DTYPES {
            let s = Tensor::from_f64_slice(&v, [3, 2], dtype, dev).unwrap();
            assert_eq!(s.to_f64_vec(), round(&v, dtype));
            assert_eq!(
                Tensor::full(0.5, [2, 2], dtype, dev).to_f64_vec(),
                vec![0.5; 4]
            );
            assert_eq!(Tensor::zeros([3], dtype, dev).to_f64_vec(), vec![0.0; 3]);
            assert_eq!(Tensor::ones([1, 2], dtype, dev).to_f64_vec(), vec![1.0; 2]);
            let sc = Tensor::scalar(4.0, dtype, dev);
            assert_eq!((sc.rank(), sc.to_scalar().unwrap()), (0, 4.0));
            assert_eq!(
                Tensor::arange(4, dtype, dev).to_f64_vec(),
                vec![0.0, 1.0, 2.0, 3.0]
            );
            let l = s.full_like(2.0);
            assert_eq!(
                (l.dims(), l.dtype(), l.to_f64_vec()),
                (&[3, 2][..], dtype, vec![2.0; 6])
            );
        }
        // Lengths that do not fill the shape are errors.
        assert!(Tensor::from_f64_slice(&[1.0; 5], [2, 3], DType::F32, dev).is_err());
        assert!(Tensor::from_f32_vec(vec![1.0; 7], [2, 3], dev).is_err());
        assert!(Tensor::from_f64_vec(vec![], [1], dev).is_err());
        assert!(t64.to_scalar().is_err());
    }

    // -----------------------------------------------------------------------------------------
    // Elementwise.

    fn sigmoid_ref(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    fn softplus_ref(x: f64) -> f64 {
        // log(1 + eˣ), exact in f64 over the ranges used here.
        if x > 35.0 {
            x + (-x).exp()
        } else {
            x.exp().ln_1p()
        }
    }

    fn unary_ref(op: UnaryOp, x: f64) -> f64 {
        let b = |c: bool| if c { 1.0 } else { 0.0 };
        match op {
            UnaryOp::Neg => -x,
            UnaryOp::Exp => x.exp(),
            UnaryOp::Log => x.ln(),
            UnaryOp::Log1p => x.ln_1p(),
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Abs => x.abs(),
            UnaryOp::Sign => b(x > 0.0) - b(x < 0.0),
            UnaryOp::Square => x * x,
            UnaryOp::Recip => 1.0 / x,
            UnaryOp::Sigmoid => sigmoid_ref(x),
            UnaryOp::Tanh => x.tanh(),
            UnaryOp::Relu => b(x > 0.0) * x,
            UnaryOp::Step => b(x > 0.0),
            UnaryOp::LeakyRelu(a) => {
                if x > 0.0 {
                    x
                } else {
                    a * x
                }
            }
            UnaryOp::LeakyStep(a) => {
                if x > 0.0 {
                    1.0
                } else {
                    a
                }
            }
            UnaryOp::Softplus => softplus_ref(x),
            UnaryOp::LogSigmoid => -softplus_ref(-x),
            UnaryOp::Powf(p) => x.powf(p),
            UnaryOp::Clamp(lo, hi) => {
                if x < lo {
                    lo
                } else if x > hi {
                    hi
                } else {
                    x
                }
            }
            UnaryOp::InRange(lo, hi) => b(lo <= x && x <= hi),
            UnaryOp::Affine(m, a) => m * x + a,
            UnaryOp::CmpScalar(c, v) => b(match c {
                CmpOp::Eq => x == v,
                CmpOp::Ne => x != v,
                CmpOp::Lt => x < v,
                CmpOp::Le => x <= v,
                CmpOp::Gt => x > v,
                CmpOp::Ge => x >= v,
            }),
        }
    }

    /// Every unary op with the interval its inputs are drawn from. Constants are exact in f32.
    fn all_unary_ops() -> Vec<(UnaryOp, f64, f64)> {
        let mut ops = vec![
            (UnaryOp::Neg, -3.0, 3.0),
            (UnaryOp::Exp, -5.0, 5.0),
            (UnaryOp::Log, 0.01, 5.0),
            (UnaryOp::Log1p, -0.9, 5.0),
            (UnaryOp::Sqrt, 0.0, 5.0),
            (UnaryOp::Abs, -3.0, 3.0),
            (UnaryOp::Sign, -3.0, 3.0),
            (UnaryOp::Square, -3.0, 3.0),
            (UnaryOp::Recip, 0.1, 3.0),
            (UnaryOp::Sigmoid, -10.0, 10.0),
            (UnaryOp::Tanh, -4.0, 4.0),
            (UnaryOp::Relu, -3.0, 3.0),
            (UnaryOp::Step, -3.0, 3.0),
            (UnaryOp::LeakyRelu(0.125), -3.0, 3.0),
            (UnaryOp::LeakyStep(0.125), -3.0, 3.0),
            (UnaryOp::Softplus, -10.0, 10.0),
            (UnaryOp::LogSigmoid, -10.0, 10.0),
            (UnaryOp::Powf(2.5), 0.0, 3.0),
            (UnaryOp::Powf(-0.5), 0.1, 3.0),
            (UnaryOp::Powf(3.0), -2.0, 2.0),
            (UnaryOp::Clamp(-0.5, 1.25), -3.0, 3.0),
            (UnaryOp::InRange(-0.5, 1.25), -3.0, 3.0),
            (UnaryOp::Affine(-1.5, 0.25), -3.0, 3.0),
        ];
        for c in [
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Gt,
            CmpOp::Ge,
        ] {
            ops.push((UnaryOp::CmpScalar(c, 0.5), -1.0, 1.0));
        }
        ops
    }

    pub fn unary_ops(dev: Device) {
        let mut g = Gen::new(1);
        for dtype in DTYPES {
            for (op, lo, hi) in all_unary_ops() {
                for shape in [vec![7], vec![2, 3, 5], vec![1]] {
                    let x = data(&mut g, numel(&shape), lo, hi, dtype);
                    let want: Vec<f64> = x.iter().map(|&v| unary_ref(op, v)).collect();
                    let got = mk(dev, &x, &shape, dtype).unary(op).unwrap();
                    check(
                        &got,
                        &round(&want, dtype),
                        &shape,
                        dtype,
                        dev,
                        &format!("{op:?}"),
                    );
                }
            }
        }
    }

    pub fn unary_boundaries(dev: Device) {
        // Exact boundary values: the comparison conventions of the derivative helpers.
        let xs = [-0.5, 0.0, 0.5, 1.25, -0.0];
        for dtype in DTYPES {
            let t = mk(dev, &xs, &[5], dtype);
            for (op, want) in [
                (UnaryOp::Sign, vec![-1.0, 0.0, 1.0, 1.0, 0.0]),
                (UnaryOp::Relu, vec![0.0, 0.0, 0.5, 1.25, 0.0]),
                (UnaryOp::Step, vec![0.0, 0.0, 1.0, 1.0, 0.0]),
                (UnaryOp::LeakyStep(0.25), vec![0.25, 0.25, 1.0, 1.0, 0.25]),
                (UnaryOp::InRange(-0.5, 1.25), vec![1.0, 1.0, 1.0, 1.0, 1.0]),
                (UnaryOp::Clamp(-0.5, 1.25), vec![-0.5, 0.0, 0.5, 1.25, 0.0]),
                (UnaryOp::Clamp(0.0, 0.5), vec![0.0, 0.0, 0.5, 0.5, 0.0]),
                (
                    UnaryOp::CmpScalar(CmpOp::Ge, 0.5),
                    vec![0.0, 0.0, 1.0, 1.0, 0.0],
                ),
                (
                    UnaryOp::CmpScalar(CmpOp::Gt, 0.5),
                    vec![0.0, 0.0, 0.0, 1.0, 0.0],
                ),
                (
                    UnaryOp::CmpScalar(CmpOp::Eq, 0.0),
                    vec![0.0, 1.0, 0.0, 0.0, 1.0],
                ),
            ] {
                check(
                    &t.unary(op).unwrap(),
                    &want,
                    &[5],
                    dtype,
                    dev,
                    &format!("{op:?} at boundaries"),
                );
            }
        }
    }

    pub fn sigmoid_family_large_values_f32(dev: Device) {
        let xs = [
            -3.0e38, -1e30, -1000.0, -100.0, -89.0, -88.0, -50.0, -20.0, 20.0, 50.0, 88.0, 89.0,
            100.0, 1000.0, 1e30, 3.0e38,
        ];
        for dtype in DTYPES {
            let x = Tensor::from_f64_slice(&xs, [xs.len()], dtype, dev)
                .unwrap()
                .to_var();
            for (op, f) in [
                (UnaryOp::Sigmoid, sigmoid_ref as fn(f64) -> f64),
                (UnaryOp::Softplus, softplus_ref),
                (UnaryOp::LogSigmoid, |x: f64| -softplus_ref(-x)),
                (UnaryOp::Tanh, f64::tanh),
            ] {
                let y = x.unary(op).unwrap();
                let got = y.to_f64_vec();
                for (i, (&v, &xv)) in got.iter().zip(&xs).enumerate() {
                    assert!(v.is_finite(), "{op:?}({xv}) = {v} in {dtype:?}");
                    let want = f(round(&[xv], dtype)[0]);
                    // Relative accuracy, down to the smallest normal f32.
                    assert!(
                        close(v, want, 1e-6, 1e-37),
                        "{op:?}({xv}) = {v:e}, want {want:e} ({dtype:?}, #{i})"
                    );
                }
                let grads = y.sum_all().unwrap().backward().unwrap();
                let gx = grads.get(&x).unwrap().to_f64_vec();
                assert!(
                    gx.iter().all(|v| v.is_finite() && *v >= 0.0),
                    "{op:?} gradient {gx:?}"
                );
            }
        }
    }

    fn binary_ref(op: BinaryOp, a: f64, b: f64) -> f64 {
        let t = |c: bool| if c { 1.0 } else { 0.0 };
        match op {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
            BinaryOp::Maximum => a.max(b),
            BinaryOp::Minimum => a.min(b),
            BinaryOp::Pow => a.powf(b),
            BinaryOp::Cmp(c) => t(match c {
                CmpOp::Eq => a == b,
                CmpOp::Ne => a != b,
                CmpOp::Lt => a < b,
                CmpOp::Le => a <= b,
                CmpOp::Gt => a > b,
                CmpOp::Ge => a >= b,
            }),
        }
    }

    fn all_binary_ops() -> Vec<BinaryOp> {
        let mut ops = vec![
            BinaryOp::Add,
            BinaryOp::Sub,
            BinaryOp::Mul,
            BinaryOp::Div,
            BinaryOp::Maximum,
            BinaryOp::Minimum,
            BinaryOp::Pow,
        ];
        for c in [
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Gt,
            CmpOp::Ge,
        ] {
            ops.push(BinaryOp::Cmp(c));
        }
        ops
    }

    /// Naive broadcast binary op.
    fn binary_naive(
        op: BinaryOp,
        a: &[f64],
        sa: &[usize],
        b: &[f64],
        sb: &[usize],
    ) -> (Vec<f64>, Vec<usize>) {
        let out = broadcast_shape(sa, sb);
        let v = (0..numel(&out))
            .map(|i| {
                let idx = unravel(i, &out);
                binary_ref(op, a[source_index(&idx, sa)], b[source_index(&idx, sb)])
            })
            .collect();
        (v, out)
    }

    pub fn binary_ops_with_broadcasting(dev: Device) {
        let pairs: Vec<(Vec<usize>, Vec<usize>)> = vec![
            (vec![2, 3], vec![2, 3]),
            (vec![2, 3], vec![1]),
            (vec![], vec![2, 3]),
            (vec![4], vec![3, 4]),
            (vec![2, 3, 4, 5], vec![1, 3, 1, 1]),
            (vec![3, 1, 1], vec![2, 3, 4, 5]),
            (vec![3, 1], vec![1, 4]),
            (vec![2, 1, 3], vec![2, 4, 3]),
            (vec![2, 3, 1], vec![3, 4]),
            (vec![1, 3, 4], vec![2, 1, 4]),
            (vec![5, 1, 2], vec![5, 3, 2]),
            (vec![1, 1, 3], vec![2, 2, 3]),
            // Large enough for the parallel paths.
            (vec![8, 64, 64], vec![1, 64, 1]),
            (vec![8, 64, 64], vec![8, 64, 64]),
            (vec![8, 64, 64], vec![]),
        ];
        let mut g = Gen::new(2);
        for dtype in DTYPES {
            for (sa, sb) in &pairs {
                // Operands on a coarse grid, so comparisons and ties actually occur.
                let a: Vec<f64> = (0..numel(sa))
                    .map(|_| g.below(9) as f64 * 0.25 + 0.25)
                    .collect();
                let b: Vec<f64> = (0..numel(sb))
                    .map(|_| g.below(9) as f64 * 0.25 + 0.25)
                    .collect();
                let (ta, tb) = (mk(dev, &a, sa, dtype), mk(dev, &b, sb, dtype));
                for op in all_binary_ops() {
                    let (want, out) = binary_naive(op, &a, sa, &b, sb);
                    let got = ta.binary(&tb, op).unwrap();
                    check(
                        &got,
                        &round(&want, dtype),
                        &out,
                        dtype,
                        dev,
                        &format!("{op:?} {sa:?} {sb:?}"),
                    );
                    let (want, out) = binary_naive(op, &b, sb, &a, sa);
                    let got = tb.binary(&ta, op).unwrap();
                    check(
                        &got,
                        &round(&want, dtype),
                        &out,
                        dtype,
                        dev,
                        &format!("{op:?} {sb:?} {sa:?}"),
                    );
                }
            }
        }
    }

    pub fn where_cond_and_broadcast_as(dev: Device) {
        let mut g = Gen::new(3);
        let triples: Vec<[Vec<usize>; 3]> = vec![
            [vec![2, 3], vec![2, 3], vec![2, 3]],
            [vec![3], vec![2, 1], vec![]],
            [vec![2, 1, 4], vec![3, 1], vec![1, 3, 4]],
            [vec![1], vec![4, 2], vec![2]],
        ];
        for dtype in DTYPES {
            for [sc, st, sf] in &triples {
                let c: Vec<f64> = (0..numel(sc))
                    .map(|_| [0.0, 1.0, -3.0][g.below(3)])
                    .collect();
                let t = data(&mut g, numel(st), -1.0, 1.0, dtype);
                let f = data(&mut g, numel(sf), -1.0, 1.0, dtype);
                let out = broadcast_shape(&broadcast_shape(sc, st), sf);
                let want: Vec<f64> = (0..numel(&out))
                    .map(|i| {
                        let idx = unravel(i, &out);
                        if c[source_index(&idx, sc)] != 0.0 {
                            t[source_index(&idx, st)]
                        } else {
                            f[source_index(&idx, sf)]
                        }
                    })
                    .collect();
                // The condition may have either dtype.
                for cdt in DTYPES {
                    let got = Tensor::where_cond(
                        &mk(dev, &c, sc, cdt),
                        &mk(dev, &t, st, dtype),
                        &mk(dev, &f, sf, dtype),
                    )
                    .unwrap();
                    check(
                        &got,
                        &want,
                        &out,
                        dtype,
                        dev,
                        &format!("where {sc:?} {st:?} {sf:?}"),
                    );
                }
            }
            for (from, to) in [
                (vec![3, 1], vec![2, 3, 4]),
                (vec![], vec![2, 2]),
                (vec![1, 4], vec![3, 4]),
                (vec![2, 3], vec![2, 3]),
            ] {
                let x = data(&mut g, numel(&from), -1.0, 1.0, dtype);
                let want: Vec<f64> = (0..numel(&to))
                    .map(|i| x[source_index(&unravel(i, &to), &from)])
                    .collect();
                let got = mk(dev, &x, &from, dtype)
                    .broadcast_as(&Shape::new(to.clone()))
                    .unwrap();
                check(
                    &got,
                    &want,
                    &to,
                    dtype,
                    dev,
                    &format!("broadcast_as {from:?} → {to:?}"),
                );
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Reductions and scans.

    /// Naive reduction of axis `axis` with `f`, keeping the axis.
    fn reduce_naive(
        x: &[f64],
        dims: &[usize],
        axis: usize,
        init: f64,
        f: impl Fn(f64, f64) -> f64,
    ) -> Vec<f64> {
        let mut out_dims = dims.to_vec();
        out_dims[axis] = 1;
        (0..numel(&out_dims))
            .map(|i| {
                let mut idx = unravel(i, &out_dims);
                let mut acc = init;
                for j in 0..dims[axis] {
                    idx[axis] = j;
                    acc = f(acc, x[ravel(&idx, dims)]);
                }
                acc
            })
            .collect()
    }

    fn argmax_naive(x: &[f64], dims: &[usize], axis: usize) -> Vec<usize> {
        let mut out_dims = dims.to_vec();
        out_dims[axis] = 1;
        (0..numel(&out_dims))
            .map(|i| {
                let mut idx = unravel(i, &out_dims);
                let mut best = 0;
                for j in 0..dims[axis] {
                    idx[axis] = j;
                    let v = x[ravel(&idx, dims)];
                    idx[axis] = best;
                    if v > x[ravel(&idx, dims)] {
                        best = j;
                    }
                }
                best
            })
            .collect()
    }

    const REDUCE_SHAPES: [&[usize]; 6] = [
        &[7],
        &[2, 3, 4],
        &[1, 5],
        &[3, 1, 2],
        &[4, 1],
        &[2, 2, 2, 3],
    ];

    pub fn reductions(dev: Device) {
        let mut g = Gen::new(4);
        for dtype in DTYPES {
            for &dims in &REDUCE_SHAPES {
                // A coarse grid, so that ties occur (argmax takes the first).
                let x: Vec<f64> = (0..numel(dims)).map(|_| g.below(5) as f64 - 2.0).collect();
                let t = mk(dev, &x, dims, dtype);
                for axis in 0..dims.len() {
                    let mut kd = dims.to_vec();
                    kd[axis] = 1;
                    let mut dropped = dims.to_vec();
                    dropped.remove(axis);
                    let sum = reduce_naive(&x, dims, axis, 0.0, |a, b| a + b);
                    let max = reduce_naive(&x, dims, axis, f64::NEG_INFINITY, f64::max);
                    let min = reduce_naive(&x, dims, axis, f64::INFINITY, f64::min);
                    let mean: Vec<f64> = sum.iter().map(|s| s / dims[axis] as f64).collect();
                    let w = format!("{dims:?} axis {axis}");
                    check(
                        &t.sum_keepdim(axis).unwrap(),
                        &sum,
                        &kd,
                        dtype,
                        dev,
                        &format!("sum_keepdim {w}"),
                    );
                    check(
                        &t.sum(axis).unwrap(),
                        &sum,
                        &dropped,
                        dtype,
                        dev,
                        &format!("sum {w}"),
                    );
                    check(
                        &t.max_keepdim(axis).unwrap(),
                        &max,
                        &kd,
                        dtype,
                        dev,
                        &format!("max_keepdim {w}"),
                    );
                    check(
                        &t.max(axis).unwrap(),
                        &max,
                        &dropped,
                        dtype,
                        dev,
                        &format!("max {w}"),
                    );
                    check(
                        &t.min_keepdim(axis).unwrap(),
                        &min,
                        &kd,
                        dtype,
                        dev,
                        &format!("min_keepdim {w}"),
                    );
                    check(
                        &t.min(axis).unwrap(),
                        &min,
                        &dropped,
                        dtype,
                        dev,
                        &format!("min {w}"),
                    );
                    check(
                        &t.mean_keepdim(axis).unwrap(),
                        &round(&mean, dtype),
                        &kd,
                        dtype,
                        dev,
                        &format!("mean_keepdim {w}"),
                    );
                    check(
                        &t.mean(axis).unwrap(),
                        &round(&mean, dtype),
                        &dropped,
                        dtype,
                        dev,
                        &format!("mean {w}"),
                    );
                    assert_eq!(
                        t.argmax(axis).unwrap(),
                        argmax_naive(&x, dims, axis),
                        "argmax {w}"
                    );
                }
                let total: f64 = x.iter().sum();
                check(&t.sum_all().unwrap(), &[total], &[], dtype, dev, "sum_all");
                check(
                    &t.mean_all().unwrap(),
                    &round(&[total / x.len() as f64], dtype),
                    &[],
                    dtype,
                    dev,
                    "mean_all",
                );
            }
        }
    }

    pub fn reductions_large(dev: Device) {
        // Past the parallel threshold, with outer > 1 and inner > 1.
        let dims = [3, 11_000, 2];
        let mut g = Gen::new(5);
        for dtype in DTYPES {
            // Integers: every partial sum is exact in both dtypes.
            let x: Vec<f64> = (0..numel(&dims))
                .map(|_| g.below(200) as f64 - 100.0)
                .collect();
            let t = mk(dev, &x, &dims, dtype);
            for axis in 0..3 {
                let mut kd = dims.to_vec();
                kd[axis] = 1;
                let w = format!("large axis {axis}");
                check(
                    &t.sum_keepdim(axis).unwrap(),
                    &reduce_naive(&x, &dims, axis, 0.0, |a, b| a + b),
                    &kd,
                    dtype,
                    dev,
                    &w,
                );
                check(
                    &t.max_keepdim(axis).unwrap(),
                    &reduce_naive(&x, &dims, axis, f64::NEG_INFINITY, f64::max),
                    &kd,
                    dtype,
                    dev,
                    &w,
                );
                check(
                    &t.min_keepdim(axis).unwrap(),
                    &reduce_naive(&x, &dims, axis, f64::INFINITY, f64::min),
                    &kd,
                    dtype,
                    dev,
                    &w,
                );
            }
        }
    }

    pub fn scans(dev: Device) {
        let mut g = Gen::new(6);
        for dtype in DTYPES {
            for &dims in &REDUCE_SHAPES {
                let mut x = data(&mut g, numel(dims), -1.5, 1.5, dtype);
                x[0] = 0.0; // a zero factor
                let t = mk(dev, &x, dims, dtype);
                for axis in 0..dims.len() {
                    for (op, name) in [(ScanOp::Sum, "cumsum"), (ScanOp::Prod, "cumprod")] {
                        let want: Vec<f64> = (0..x.len())
                            .map(|i| {
                                let mut idx = unravel(i, dims);
                                let end = idx[axis];
                                let mut acc = if op == ScanOp::Sum { 0.0 } else { 1.0 };
                                for j in 0..=end {
                                    idx[axis] = j;
                                    let v = x[ravel(&idx, dims)];
                                    acc = if op == ScanOp::Sum { acc + v } else { acc * v };
                                }
                                acc
                            })
                            .collect();
                        let got = if op == ScanOp::Sum {
                            t.cumsum(axis)
                        } else {
                            t.cumprod(axis)
                        }
                        .unwrap();
                        check(
                            &got,
                            &want,
                            dims,
                            dtype,
                            dev,
                            &format!("{name} {dims:?} axis {axis}"),
                        );
                    }
                }
            }
        }
    }

    fn logsumexp_ref(row: &[f64]) -> f64 {
        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if m.is_infinite() {
            return m;
        }
        m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
    }

    pub fn logsumexp_and_softmax(dev: Device) {
        let mut g = Gen::new(7);
        for dtype in DTYPES {
            for (rows, cols) in [(1, 1), (3, 5), (2, 7), (4, 1)] {
                let mut x = data(&mut g, rows * cols, -5.0, 5.0, dtype);
                x[0] = 500.0; // exp overflows without the max shift
                let t = mk(dev, &x, &[rows, cols], dtype);
                let lse: Vec<f64> = x.chunks(cols).map(logsumexp_ref).collect();
                check(
                    &t.logsumexp(1).unwrap(),
                    &lse,
                    &[rows],
                    dtype,
                    dev,
                    "logsumexp",
                );
                check(
                    &t.logsumexp_keepdim(1).unwrap(),
                    &lse,
                    &[rows, 1],
                    dtype,
                    dev,
                    "logsumexp_keepdim",
                );
                let logsm: Vec<f64> = x
                    .iter()
                    .enumerate()
                    .map(|(i, v)| v - lse[i / cols])
                    .collect();
                check(
                    &t.log_softmax(1).unwrap(),
                    &logsm,
                    &[rows, cols],
                    dtype,
                    dev,
                    "log_softmax",
                );
                let sm: Vec<f64> = logsm.iter().map(|v| v.exp()).collect();
                check(
                    &t.softmax(1).unwrap(),
                    &sm,
                    &[rows, cols],
                    dtype,
                    dev,
                    "softmax",
                );
                // Along axis 0 as well.
                let tt = t.transpose(0, 1).unwrap();
                check(
                    &tt.logsumexp(0).unwrap(),
                    &lse,
                    &[rows],
                    dtype,
                    dev,
                    "logsumexp axis 0",
                );
                let labels: Vec<usize> = (0..rows).map(|r| (r * 3) % cols).collect();
                let nll: Vec<f64> = labels
                    .iter()
                    .enumerate()
                    .map(|(r, &l)| -logsm[r * cols + l])
                    .collect();
                check(
                    &t.nll_per_example(&labels).unwrap(),
                    &nll,
                    &[rows],
                    dtype,
                    dev,
                    "nll_per_example",
                );
                let ce = nll.iter().sum::<f64>() / rows as f64;
                check(
                    &t.cross_entropy(&labels).unwrap(),
                    &[ce],
                    &[],
                    dtype,
                    dev,
                    "cross_entropy",
                );
            }
        }
    }

    pub fn logsumexp_infinite_rows(dev: Device) {
        let ninf = f64::NEG_INFINITY;
        let x = [
            ninf,
            ninf,
            ninf,
            0.0,
            ninf,
            1.0,
            2.0,
            3.0,
            1000.0,
            f64::INFINITY,
            0.0,
            ninf,
        ];
        for dtype in DTYPES {
            let t = mk(dev, &x, &[4, 3], dtype);
            let lse: Vec<f64> = x.chunks(3).map(logsumexp_ref).collect();
            assert_eq!(lse[0], ninf);
            let got = t.logsumexp(1).unwrap().to_f64_vec();
            assert!(
                got.iter().all(|v| !v.is_nan()),
                "logsumexp made NaN: {got:?}"
            );
            check_values(
                &got,
                &round(&lse, dtype),
                tol(dtype),
                "logsumexp with infinities",
            );
            // Softmax of a row with −∞ entries puts zero mass there.
            let sm = t.narrow(0, 1, 2).unwrap().softmax(1).unwrap().to_f64_vec();
            let e = 1f64.exp();
            let want = [1.0 / (1.0 + e), 0.0, e / (1.0 + e), 0.0, 0.0, 1.0];
            check_values(&sm, &want, tol(dtype), "softmax with −∞");
            // Gradients through rows with −∞ entries stay finite.
            let v = t.narrow(0, 1, 2).unwrap().to_var();
            let gr = v
                .log_softmax(1)
                .unwrap()
                .narrow(1, 2, 1)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            assert!(gr
                .get(&v)
                .unwrap()
                .to_f64_vec()
                .iter()
                .all(|g| g.is_finite()));
        }
    }

    pub fn nan_propagation(dev: Device) {
        let nan = f64::NAN;
        for dtype in DTYPES {
            // NaN first, middle and last along the reduced axis.
            let x = [nan, 1.0, 2.0, 0.5, nan, -1.0, 3.0, 4.0, nan, 1.0, 2.0, 3.0];
            let t = mk(dev, &x, &[4, 3], dtype);
            for (name, got) in [
                ("max", t.max(1).unwrap()),
                ("min", t.min(1).unwrap()),
                ("sum", t.sum(1).unwrap()),
            ] {
                let v = got.to_f64_vec();
                assert!(
                    v[..3].iter().all(|v| v.is_nan()),
                    "{name} lost a NaN: {v:?}"
                );
                assert!(!v[3].is_nan(), "{name} invented a NaN: {v:?}");
            }
            assert_eq!(
                t.argmax(1).unwrap(),
                vec![0, 1, 2, 2],
                "argmax treats NaN as largest"
            );
            // Along the outer axis (the strided path).
            let v = t.max(0).unwrap().to_f64_vec();
            assert!(v.iter().all(|v| v.is_nan()), "max over axis 0: {v:?}");
            // Elementwise maximum/minimum propagate a NaN from either side.
            let a = mk(dev, &[nan, 1.0, nan, 2.0], &[4], dtype);
            let b = mk(dev, &[1.0, nan, nan, 1.0], &[4], dtype);
            for (name, got) in [
                ("maximum", a.maximum(&b).unwrap()),
                ("minimum", a.minimum(&b).unwrap()),
                ("maximum swapped", b.maximum(&a).unwrap()),
                ("minimum swapped", b.minimum(&a).unwrap()),
            ] {
                let v = got.to_f64_vec();
                assert!(
                    v[..3].iter().all(|v| v.is_nan()) && !v[3].is_nan(),
                    "{name}: {v:?}"
                );
            }
            // relu and clamp, the other max-like ops.
            for (name, got) in [
                ("relu", a.relu().unwrap()),
                ("clamp", a.clamp(0.0, 1.5).unwrap()),
            ] {
                let v = got.to_f64_vec();
                assert!(
                    v[0].is_nan() && v[2].is_nan() && !v[1].is_nan(),
                    "{name}: {v:?}"
                );
            }
            // Max pooling: a NaN anywhere in a window makes that window NaN.
            let mut img = vec![0.0; 16];
            img[5] = nan; // window (0, 0) of a 2×2 stride-2 pooling
            let p = mk(dev, &img, &[1, 1, 4, 4], dtype)
                .max_pool2d(2, 2)
                .unwrap()
                .to_f64_vec();
            assert!(
                p[0].is_nan() && p[1..].iter().all(|v| *v == 0.0),
                "max_pool2d: {p:?}"
            );
            img[5] = 0.0;
            img[0] = nan; // the first element of the window
            let p = mk(dev, &img, &[1, 1, 4, 4], dtype)
                .max_pool2d(2, 2)
                .unwrap()
                .to_f64_vec();
            assert!(p[0].is_nan(), "max_pool2d (NaN first): {p:?}");
        }
    }

    // -----------------------------------------------------------------------------------------
    // Matrix products.

    #[allow(clippy::too_many_arguments)]
    fn matmul_naive(
        a: &[f64],
        b: &[f64],
        batch: usize,
        m: usize,
        k: usize,
        n: usize,
        d: MatmulDims,
    ) -> Vec<f64> {
        let mut out = vec![0.0; batch * m * n];
        for bi in 0..batch {
            for i in 0..m {
                for j in 0..n {
                    let mut acc = 0.0;
                    for l in 0..k {
                        let ab = if d.lhs_batched { bi * m * k } else { 0 };
                        let bb = if d.rhs_batched { bi * k * n } else { 0 };
                        let av = if d.lhs_transposed {
                            a[ab + l * m + i]
                        } else {
                            a[ab + i * k + l]
                        };
                        let bv = if d.rhs_transposed {
                            b[bb + j * k + l]
                        } else {
                            b[bb + l * n + j]
                        };
                        acc += av * bv;
                    }
                    out[(bi * m + i) * n + j] = acc;
                }
            }
        }
        out
    }

    fn plain_dims(batch: usize, m: usize, k: usize, n: usize, lb: bool, rb: bool) -> MatmulDims {
        MatmulDims {
            batch,
            m,
            k,
            n,
            lhs_batched: lb,
            rhs_batched: rb,
            lhs_transposed: false,
            rhs_transposed: false,
        }
    }

    pub fn matmul_shapes(dev: Device) {
        let mut g = Gen::new(8);
        // (lhs shape, rhs shape)
        let cases: Vec<(Vec<usize>, Vec<usize>)> = vec![
            (vec![1, 1], vec![1, 1]),
            (vec![3, 1], vec![1, 4]),
            (vec![1, 5], vec![5, 1]),
            (vec![2, 3], vec![3, 5]),
            (vec![65, 33], vec![33, 17]),
            (vec![3, 2, 4], vec![3, 4, 5]),
            (vec![1, 2, 4], vec![1, 4, 3]),
            (vec![2, 4], vec![3, 4, 5]),
            (vec![3, 2, 4], vec![4, 5]),
            (vec![2, 3, 2, 4], vec![4, 3]),
            (vec![2, 2, 3, 4], vec![2, 2, 4, 2]),
            (vec![40, 30, 20], vec![20, 10]),
            (vec![4, 32, 32], vec![4, 32, 32]),
        ];
        for dtype in DTYPES {
            for (sa, sb) in &cases {
                let a = data(&mut g, numel(sa), -1.0, 1.0, dtype);
                let b = data(&mut g, numel(sb), -1.0, 1.0, dtype);
                let (m, k) = (sa[sa.len() - 2], sa[sa.len() - 1]);
                let n = sb[sb.len() - 1];
                let (ba, bb) = (&sa[..sa.len() - 2], &sb[..sb.len() - 2]);
                let batch_dims = if ba.is_empty() { bb } else { ba };
                let batch = numel(batch_dims);
                let want = matmul_naive(
                    &a,
                    &b,
                    batch,
                    m,
                    k,
                    n,
                    plain_dims(batch, m, k, n, !ba.is_empty(), !bb.is_empty()),
                );
                let mut out = batch_dims.to_vec();
                out.extend([m, n]);
                let got = mk(dev, &a, sa, dtype)
                    .matmul(&mk(dev, &b, sb, dtype))
                    .unwrap();
                check(
                    &got,
                    &want,
                    &out,
                    dtype,
                    dev,
                    &format!("matmul {sa:?}·{sb:?}"),
                );
            }
        }
    }

    pub fn matmul_primitive_transposes(dev: Device) {
        let mut g = Gen::new(9);
        for dtype in DTYPES {
            for (batch, m, k, n) in [(1, 3, 4, 2), (3, 2, 5, 3), (2, 1, 1, 4), (1, 17, 9, 13)] {
                for (lb, rb) in [(true, true), (false, true), (true, false), (false, false)] {
                    if batch > 1 && !lb && !rb {
                        continue;
                    }
                    for (lt, rt) in [(false, false), (true, false), (false, true), (true, true)] {
                        let d = MatmulDims {
                            batch,
                            m,
                            k,
                            n,
                            lhs_batched: lb,
                            rhs_batched: rb,
                            lhs_transposed: lt,
                            rhs_transposed: rt,
                        };
                        let a = data(&mut g, if lb { batch } else { 1 } * m * k, -1.0, 1.0, dtype);
                        let b = data(&mut g, if rb { batch } else { 1 } * k * n, -1.0, 1.0, dtype);
                        let ta = mk(dev, &a, &[a.len()], dtype);
                        let tb = mk(dev, &b, &[b.len()], dtype);
                        let got = ta.storage().matmul(tb.storage(), d).unwrap().to_f64_vec();
                        check_values(
                            &got,
                            &matmul_naive(&a, &b, batch, m, k, n, d),
                            tol(dtype),
                            &format!("matmul primitive {d:?}"),
                        );
                    }
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Layout.

    pub fn layout_ops(dev: Device) {
        let mut g = Gen::new(10);
        for dtype in DTYPES {
            let dims = [2, 3, 4];
            let x = data(&mut g, 24, -1.0, 1.0, dtype);
            let t = mk(dev, &x, &dims, dtype);
            // Permutations.
            for perm in [
                [0, 1, 2],
                [0, 2, 1],
                [1, 0, 2],
                [1, 2, 0],
                [2, 0, 1],
                [2, 1, 0],
            ] {
                let od: Vec<usize> = perm.iter().map(|&p| dims[p]).collect();
                let want: Vec<f64> = (0..24)
                    .map(|i| {
                        let oi = unravel(i, &od);
                        let mut ii = [0; 3];
                        for (a, &p) in perm.iter().enumerate() {
                            ii[p] = oi[a];
                        }
                        x[ravel(&ii, &dims)]
                    })
                    .collect();
                check(
                    &t.permute(&perm).unwrap(),
                    &want,
                    &od,
                    dtype,
                    dev,
                    &format!("permute {perm:?}"),
                );
            }
            let x4 = data(&mut g, 120, -1.0, 1.0, dtype);
            let d4 = [2, 3, 4, 5];
            let want: Vec<f64> = (0..120)
                .map(|i| {
                    let o = unravel(i, &[5, 2, 4, 3]);
                    x4[ravel(&[o[1], o[3], o[2], o[0]], &d4)]
                })
                .collect();
            check(
                &mk(dev, &x4, &d4, dtype).permute(&[3, 0, 2, 1]).unwrap(),
                &want,
                &[5, 2, 4, 3],
                dtype,
                dev,
                "permute rank 4",
            );
            check(
                &t.transpose(0, 2).unwrap(),
                &t.permute(&[2, 1, 0]).unwrap().to_f64_vec(),
                &[4, 3, 2],
                dtype,
                dev,
                "transpose",
            );
            // Reshapes share values in row-major order.
            check(
                &t.reshape([4, 6]).unwrap(),
                &x,
                &[4, 6],
                dtype,
                dev,
                "reshape",
            );
            check(
                &t.flatten_from(1).unwrap(),
                &x,
                &[2, 12],
                dtype,
                dev,
                "flatten_from",
            );
            check(
                &t.unsqueeze(3).unwrap(),
                &x,
                &[2, 3, 4, 1],
                dtype,
                dev,
                "unsqueeze",
            );
            check(
                &t.unsqueeze(0).unwrap().squeeze(0).unwrap(),
                &x,
                &dims,
                dtype,
                dev,
                "squeeze",
            );
            // Narrow along each axis.
            for (axis, start, len) in [(0, 1, 1), (1, 1, 2), (2, 0, 3), (2, 3, 1), (1, 0, 0)] {
                let mut od = dims.to_vec();
                od[axis] = len;
                let want: Vec<f64> = (0..numel(&od))
                    .map(|i| {
                        let mut idx = unravel(i, &od);
                        idx[axis] += start;
                        x[ravel(&idx, &dims)]
                    })
                    .collect();
                check(
                    &t.narrow(axis, start, len).unwrap(),
                    &want,
                    &od,
                    dtype,
                    dev,
                    &format!("narrow {axis} {start} {len}"),
                );
            }
            // Concat along each axis, with a zero-size part, and stack.
            for axis in 0..3 {
                let sizes = [1, 0, 2];
                let parts: Vec<(Vec<f64>, Vec<usize>)> = sizes
                    .iter()
                    .map(|&s| {
                        let mut d = dims.to_vec();
                        d[axis] = s;
                        (data(&mut g, numel(&d), -1.0, 1.0, dtype), d)
                    })
                    .collect();
                let mut od = dims.to_vec();
                od[axis] = 3;
                let want: Vec<f64> = (0..numel(&od))
                    .map(|i| {
                        let mut idx = unravel(i, &od);
                        let (p, j) = if idx[axis] < 1 {
                            (0, idx[axis])
                        } else {
                            (2, idx[axis] - 1)
                        };
                        idx[axis] = j;
                        parts[p].0[ravel(&idx, &parts[p].1)]
                    })
                    .collect();
                let ts: Vec<Tensor> = parts.iter().map(|(v, d)| mk(dev, v, d, dtype)).collect();
                check(
                    &Tensor::concat(&ts, axis).unwrap(),
                    &want,
                    &od,
                    dtype,
                    dev,
                    &format!("concat axis {axis}"),
                );
            }
            let a = data(&mut g, 6, -1.0, 1.0, dtype);
            let b = data(&mut g, 6, -1.0, 1.0, dtype);
            let (ta, tb) = (mk(dev, &a, &[2, 3], dtype), mk(dev, &b, &[2, 3], dtype));
            let s0: Vec<f64> = a.iter().chain(&b).copied().collect();
            check(
                &Tensor::stack(&[ta.clone(), tb.clone()], 0).unwrap(),
                &s0,
                &[2, 2, 3],
                dtype,
                dev,
                "stack 0",
            );
            let s2: Vec<f64> = a.iter().zip(&b).flat_map(|(&p, &q)| [p, q]).collect();
            check(
                &Tensor::stack(&[ta.clone(), tb], 2).unwrap(),
                &s2,
                &[2, 3, 2],
                dtype,
                dev,
                "stack 2",
            );
            // Zero padding.
            let p = ta.pad_zeros(1, 1, 2).unwrap();
            let want: Vec<f64> = (0..12)
                .map(|i| {
                    let (r, c) = (i / 6, i % 6);
                    if (1..4).contains(&c) {
                        a[r * 3 + c - 1]
                    } else {
                        0.0
                    }
                })
                .collect();
            check(&p, &want, &[2, 6], dtype, dev, "pad_zeros");
        }
    }

    pub fn index_ops(dev: Device) {
        let mut g = Gen::new(11);
        for dtype in DTYPES {
            let dims = [3, 4, 2];
            let x = data(&mut g, 24, -1.0, 1.0, dtype);
            let t = mk(dev, &x, &dims, dtype);
            for (axis, idx) in [
                (0, vec![2, 0, 2, 2]),
                (1, vec![3, 3, 1]),
                (2, vec![1, 0, 1]),
                (1, vec![]),
            ] {
                let mut od = dims.to_vec();
                od[axis] = idx.len();
                let want: Vec<f64> = (0..numel(&od))
                    .map(|i| {
                        let mut ii = unravel(i, &od);
                        ii[axis] = idx[ii[axis]];
                        x[ravel(&ii, &dims)]
                    })
                    .collect();
                check(
                    &t.index_select(axis, &idx).unwrap(),
                    &want,
                    &od,
                    dtype,
                    dev,
                    &format!("index_select {axis} {idx:?}"),
                );
                // index_add: the adjoint, accumulating repeats.
                let src = data(&mut g, numel(&od), -1.0, 1.0, dtype);
                let mut want = vec![0.0; 24];
                for (i, &v) in src.iter().enumerate() {
                    let mut ii = unravel(i, &od);
                    ii[axis] = idx[ii[axis]];
                    want[ravel(&ii, &dims)] += v;
                }
                let got = mk(dev, &src, &od, dtype)
                    .index_add(axis, &idx, dims[axis])
                    .unwrap();
                check(
                    &got,
                    &want,
                    &dims,
                    dtype,
                    dev,
                    &format!("index_add {axis} {idx:?}"),
                );
            }
            // gather / scatter_add along each axis, with repeats and collisions.
            for axis in 0..3 {
                let mut id = dims.to_vec();
                id[axis] = 5;
                let index = g.indices(numel(&id), dims[axis]);
                let want: Vec<f64> = (0..numel(&id))
                    .map(|i| {
                        let mut ii = unravel(i, &id);
                        ii[axis] = index[i];
                        x[ravel(&ii, &dims)]
                    })
                    .collect();
                let ish = Shape::new(id.clone());
                check(
                    &t.gather(axis, &index, &ish).unwrap(),
                    &want,
                    &id,
                    dtype,
                    dev,
                    &format!("gather {axis}"),
                );
                let src = data(&mut g, numel(&id), -1.0, 1.0, dtype);
                let mut want = vec![0.0; 24];
                for (i, &v) in src.iter().enumerate() {
                    let mut ii = unravel(i, &id);
                    ii[axis] = index[i];
                    want[ravel(&ii, &dims)] += v;
                }
                let got = mk(dev, &src, &id, dtype)
                    .scatter_add(axis, &index, &Shape::new(dims))
                    .unwrap();
                check(
                    &got,
                    &want,
                    &dims,
                    dtype,
                    dev,
                    &format!("scatter_add {axis}"),
                );
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Convolution, pooling, batch norm.

    #[allow(clippy::too_many_arguments)]
    fn conv_params(
        b: usize,
        ci: usize,
        h: usize,
        w: usize,
        co: usize,
        kh: usize,
        kw: usize,
        stride: usize,
        padding: usize,
    ) -> Conv2dParams {
        Conv2dParams {
            batch: b,
            c_in: ci,
            h_in: h,
            w_in: w,
            c_out: co,
            k_h: kh,
            k_w: kw,
            stride,
            padding,
        }
    }

    /// Input position of output `(oy, ox)` and kernel tap `(ky, kx)`, if inside the image.
    fn tap(p: &Conv2dParams, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
        let iy = (oy * p.stride + ky) as isize - p.padding as isize;
        let ix = (ox * p.stride + kx) as isize - p.padding as isize;
        (iy >= 0 && ix >= 0 && (iy as usize) < p.h_in && (ix as usize) < p.w_in)
            .then_some((iy as usize, ix as usize))
    }

    /// Calls `f(x index, w index, y index)` for every multiply-add of the convolution.
    fn conv_loops(p: &Conv2dParams, mut f: impl FnMut(usize, usize, usize)) {
        let (ho, wo) = (p.h_out(), p.w_out());
        for b in 0..p.batch {
            for o in 0..p.c_out {
                for oy in 0..ho {
                    for ox in 0..wo {
                        for c in 0..p.c_in {
                            for ky in 0..p.k_h {
                                for kx in 0..p.k_w {
                                    if let Some((iy, ix)) = tap(p, oy, ox, ky, kx) {
                                        let xi = ((b * p.c_in + c) * p.h_in + iy) * p.w_in + ix;
                                        let wi = ((o * p.c_in + c) * p.k_h + ky) * p.k_w + kx;
                                        let yi = ((b * p.c_out + o) * ho + oy) * wo + ox;
                                        f(xi, wi, yi);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn conv_cases() -> Vec<Conv2dParams> {
        vec![
            conv_params(1, 1, 4, 5, 2, 3, 3, 1, 0),
            conv_params(3, 2, 5, 4, 3, 3, 3, 1, 1),
            conv_params(1, 2, 7, 6, 2, 3, 3, 2, 1),
            conv_params(3, 3, 6, 6, 4, 2, 2, 2, 0),
            conv_params(2, 3, 4, 5, 2, 1, 1, 1, 0),
            conv_params(1, 4, 5, 4, 3, 1, 1, 2, 0),
            conv_params(2, 2, 3, 3, 2, 1, 1, 1, 1),
            conv_params(1, 2, 4, 6, 3, 2, 3, 1, 2),
            conv_params(5, 2, 5, 5, 3, 3, 3, 2, 2),
            conv_params(1, 1, 3, 3, 1, 3, 3, 3, 0),
            // Padding wider than the image: whole kernel rows and columns fall outside.
            conv_params(1, 1, 1, 2, 2, 3, 3, 1, 2),
            conv_params(2, 1, 2, 1, 1, 2, 3, 2, 2),
        ]
    }

    pub fn conv2d_forward(dev: Device) {
        let mut g = Gen::new(12);
        for dtype in DTYPES {
            for p in conv_cases() {
                let x = data(&mut g, p.batch * p.c_in * p.h_in * p.w_in, -1.0, 1.0, dtype);
                let w = data(&mut g, p.c_out * p.c_in * p.k_h * p.k_w, -1.0, 1.0, dtype);
                let bias = data(&mut g, p.c_out, -1.0, 1.0, dtype);
                let (ho, wo) = (p.h_out(), p.w_out());
                let mut want = vec![0.0; p.batch * p.c_out * ho * wo];
                conv_loops(&p, |xi, wi, yi| want[yi] += x[xi] * w[wi]);
                let tx = mk(dev, &x, &[p.batch, p.c_in, p.h_in, p.w_in], dtype);
                let tw = mk(dev, &w, &[p.c_out, p.c_in, p.k_h, p.k_w], dtype);
                let od = [p.batch, p.c_out, ho, wo];
                check(
                    &tx.conv2d(&tw, None, p.stride, p.padding).unwrap(),
                    &want,
                    &od,
                    dtype,
                    dev,
                    &format!("conv2d {p:?}"),
                );
                let with_bias: Vec<f64> = want
                    .iter()
                    .enumerate()
                    .map(|(i, v)| v + bias[(i / (ho * wo)) % p.c_out])
                    .collect();
                let tb = mk(dev, &bias, &[p.c_out], dtype);
                check(
                    &tx.conv2d(&tw, Some(&tb), p.stride, p.padding).unwrap(),
                    &with_bias,
                    &od,
                    dtype,
                    dev,
                    &format!("conv2d + bias {p:?}"),
                );
            }
        }
    }

    pub fn conv2d_backward_primitives(dev: Device) {
        let mut g = Gen::new(13);
        for dtype in DTYPES {
            for p in conv_cases() {
                let x = data(&mut g, p.batch * p.c_in * p.h_in * p.w_in, -1.0, 1.0, dtype);
                let w = data(&mut g, p.c_out * p.c_in * p.k_h * p.k_w, -1.0, 1.0, dtype);
                let dy = data(
                    &mut g,
                    p.batch * p.c_out * p.h_out() * p.w_out(),
                    -1.0,
                    1.0,
                    dtype,
                );
                let (mut dx, mut dw) = (vec![0.0; x.len()], vec![0.0; w.len()]);
                conv_loops(&p, |xi, wi, yi| {
                    dx[xi] += dy[yi] * w[wi];
                    dw[wi] += dy[yi] * x[xi];
                });
                let (tx, tw, tdy) = (
                    mk(dev, &x, &[x.len()], dtype),
                    mk(dev, &w, &[w.len()], dtype),
                    mk(dev, &dy, &[dy.len()], dtype),
                );
                let got_dx = tdy
                    .storage()
                    .conv2d_backward_input(tw.storage(), p)
                    .unwrap();
                let got_dw = tx
                    .storage()
                    .conv2d_backward_weight(tdy.storage(), p)
                    .unwrap();
                assert_eq!((got_dx.dtype(), got_dw.dtype()), (dtype, dtype));
                check_values(
                    &got_dx.to_f64_vec(),
                    &dx,
                    tol(dtype),
                    &format!("conv2d_backward_input {p:?} {dtype:?}"),
                );
                check_values(
                    &got_dw.to_f64_vec(),
                    &dw,
                    tol(dtype),
                    &format!("conv2d_backward_weight {p:?} {dtype:?}"),
                );
            }
        }
    }

    pub fn pooling(dev: Device) {
        let mut g = Gen::new(14);
        for dtype in DTYPES {
            for (dims, kernel, stride) in [
                ([1, 1, 4, 4], 2, 2),
                ([3, 2, 5, 4], 3, 1),
                ([1, 2, 4, 7], 2, 3),
                ([2, 1, 6, 5], 3, 2),
                ([1, 1, 3, 3], 3, 3),
                ([2, 3, 2, 2], 1, 1),
            ] {
                let p = Pool2dParams {
                    planes: dims[0] * dims[1],
                    h_in: dims[2],
                    w_in: dims[3],
                    kernel,
                    stride,
                };
                let (ho, wo) = (p.h_out(), p.w_out());
                let x = data(&mut g, numel(&dims), -1.0, 1.0, dtype);
                let dy = data(&mut g, p.planes * ho * wo, -1.0, 1.0, dtype);
                let (mut avg, mut max) = (
                    vec![0.0; p.planes * ho * wo],
                    vec![f64::NEG_INFINITY; p.planes * ho * wo],
                );
                let (mut davg, mut dmax) = (vec![0.0; x.len()], vec![0.0; x.len()]);
                for pl in 0..p.planes {
                    for oy in 0..ho {
                        for ox in 0..wo {
                            let o = (pl * ho + oy) * wo + ox;
                            let mut arg = usize::MAX;
                            for ky in 0..kernel {
                                for kx in 0..kernel {
                                    let i = (pl * p.h_in + oy * stride + ky) * p.w_in
                                        + ox * stride
                                        + kx;
                                    avg[o] += x[i] / (kernel * kernel) as f64;
                                    davg[i] += dy[o] / (kernel * kernel) as f64;
                                    if x[i] > max[o] {
                                        max[o] = x[i];
                                        arg = i;
                                    }
                                }
                            }
                            dmax[arg] += dy[o];
                        }
                    }
                }
                let t = mk(dev, &x, &dims, dtype);
                let od = [dims[0], dims[1], ho, wo];
                check(
                    &t.avg_pool2d(kernel, stride).unwrap(),
                    &avg,
                    &od,
                    dtype,
                    dev,
                    &format!("avg_pool2d {dims:?} k{kernel} s{stride}"),
                );
                check(
                    &t.max_pool2d(kernel, stride).unwrap(),
                    &max,
                    &od,
                    dtype,
                    dev,
                    &format!("max_pool2d {dims:?} k{kernel} s{stride}"),
                );
                let tdy = mk(dev, &dy, &od, dtype);
                check_values(
                    &tdy.storage().avg_pool2d_backward(p).unwrap().to_f64_vec(),
                    &davg,
                    tol(dtype),
                    "avg_pool2d_backward",
                );
                check_values(
                    &t.storage()
                        .max_pool2d_backward(tdy.storage(), p)
                        .unwrap()
                        .to_f64_vec(),
                    &dmax,
                    tol(dtype),
                    "max_pool2d_backward",
                );
                let gap: Vec<f64> = x
                    .chunks(dims[2] * dims[3])
                    .map(|c| c.iter().sum::<f64>() / c.len() as f64)
                    .collect();
                check(
                    &t.global_avg_pool2d().unwrap(),
                    &gap,
                    &dims[..2],
                    dtype,
                    dev,
                    "global_avg_pool2d",
                );
            }
            // Ties: the gradient goes to the first maximum of the window, once.
            let p = Pool2dParams {
                planes: 1,
                h_in: 2,
                w_in: 2,
                kernel: 2,
                stride: 2,
            };
            let t = mk(dev, &[1.0, 1.0, 1.0, 0.0], &[1, 1, 2, 2], dtype);
            let dy = mk(dev, &[2.0], &[1, 1, 1, 1], dtype);
            assert_eq!(
                t.storage()
                    .max_pool2d_backward(dy.storage(), p)
                    .unwrap()
                    .to_f64_vec(),
                vec![2.0, 0.0, 0.0, 0.0]
            );
        }
    }

    pub fn batch_norm(dev: Device) {
        let mut g = Gen::new(15);
        let eps = 1e-3;
        for dtype in DTYPES {
            for dims in [
                vec![4, 3],
                vec![2, 3, 2, 2],
                vec![1, 2, 3, 3],
                vec![3, 1, 5],
                vec![5, 2, 1, 1],
            ] {
                let (n, c) = (dims[0], dims[1]);
                let inner: usize = dims[2..].iter().product();
                let count = (n * inner) as f64;
                let x = data(&mut g, numel(&dims), -2.0, 3.0, dtype);
                let gamma = data(&mut g, c, 0.5, 1.5, dtype);
                let beta = data(&mut g, c, -0.5, 0.5, dtype);
                let dy = data(&mut g, x.len(), -1.0, 1.0, dtype);
                let at = |o: usize, ch: usize, i: usize| (o * c + ch) * inner + i;
                let (mut mean, mut var) = (vec![0.0; c], vec![0.0; c]);
                let mut y = vec![0.0; x.len()];
                let (mut dx, mut dgamma, mut dbeta) =
                    (vec![0.0; x.len()], vec![0.0; c], vec![0.0; c]);
                for ch in 0..c {
                    let idx: Vec<usize> = (0..n)
                        .flat_map(|o| (0..inner).map(move |i| at(o, ch, i)))
                        .collect();
                    mean[ch] = idx.iter().map(|&i| x[i]).sum::<f64>() / count;
                    var[ch] = idx.iter().map(|&i| (x[i] - mean[ch]).powi(2)).sum::<f64>() / count;
                    let invstd = 1.0 / (var[ch] + eps).sqrt();
                    let xhat = |i: usize| (x[i] - mean[ch]) * invstd;
                    for &i in &idx {
                        y[i] = xhat(i) * gamma[ch] + beta[ch];
                        dgamma[ch] += dy[i] * xhat(i);
                        dbeta[ch] += dy[i];
                    }
                    // dx by the full Jacobian: ∂y_j/∂x_i = γ·s·(δ_ij − 1/N − x̂_i x̂_j / N).
                    for &i in &idx {
                        dx[i] = idx
                            .iter()
                            .map(|&j| {
                                let delta = if i == j { 1.0 } else { 0.0 };
                                dy[j]
                                    * gamma[ch]
                                    * invstd
                                    * (delta - 1.0 / count - xhat(i) * xhat(j) / count)
                            })
                            .sum();
                    }
                }
                let tx = mk(dev, &x, &dims, dtype);
                let (tg, tb) = (mk(dev, &gamma, &[c], dtype), mk(dev, &beta, &[c], dtype));
                let (out, m, v) = tx.batch_norm_train(&tg, &tb, eps).unwrap();
                let w = format!("batch_norm {dims:?}");
                check(&out, &y, &dims, dtype, dev, &w);
                check(&m, &mean, &[c], dtype, dev, &format!("{w} mean"));
                // The variance is recovered from invstd: looser in f32.
                let vt = if dtype == DType::F32 { 1e-4 } else { 1e-12 };
                check_values(&v.to_f64_vec(), &var, vt, &format!("{w} variance"));
                // The backward primitive.
                let invstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
                let (tm, ts) = (mk(dev, &mean, &[c], dtype), mk(dev, &invstd, &[c], dtype));
                let tdy = mk(dev, &dy, &dims, dtype);
                let nd = NormDims {
                    outer: n,
                    channels: c,
                    inner,
                };
                let (gx, gg, gb) = tx
                    .storage()
                    .batch_norm_backward(
                        tdy.storage(),
                        tg.storage(),
                        tm.storage(),
                        ts.storage(),
                        nd,
                    )
                    .unwrap();
                check_values(&gx.to_f64_vec(), &dx, tol(dtype), &format!("{w} dx"));
                check_values(
                    &gg.to_f64_vec(),
                    &dgamma,
                    tol(dtype),
                    &format!("{w} dgamma"),
                );
                check_values(&gb.to_f64_vec(), &dbeta, tol(dtype), &format!("{w} dbeta"));
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Empty sizes.

    /// The fused batch norm + leaky ReLU equals the two ops (values and gradients).
    pub fn batch_norm_leaky_relu(dev: Device) {
        let mut g = Gen::new(16);
        for dtype in DTYPES {
            for dims in [vec![4, 3], vec![2, 3, 2, 2], vec![5, 2, 1, 1]] {
                let c = dims[1];
                let x = data(&mut g, numel(&dims), -2.0, 3.0, dtype);
                let gamma = data(&mut g, c, 0.5, 1.5, dtype);
                let beta = data(&mut g, c, -0.5, 0.5, dtype);
                let dy = data(&mut g, x.len(), -1.0, 1.0, dtype);
                let run = |fused: bool| {
                    let tx = mk(dev, &x, &dims, dtype).to_var();
                    let tg = mk(dev, &gamma, &[c], dtype).to_var();
                    let tb = mk(dev, &beta, &[c], dtype).to_var();
                    let y = if fused {
                        tx.batch_norm_train_leaky_relu(&tg, &tb, 1e-3, 0.1)
                            .unwrap()
                            .0
                    } else {
                        tx.batch_norm_train(&tg, &tb, 1e-3)
                            .unwrap()
                            .0
                            .leaky_relu(0.1)
                            .unwrap()
                    };
                    let grads = y
                        .mul(&mk(dev, &dy, &dims, dtype))
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .backward()
                        .unwrap();
                    let get = |t: &Tensor| grads.get(t).unwrap().to_f64_vec();
                    [y.to_f64_vec(), get(&tx), get(&tg), get(&tb)]
                };
                let (fused, plain) = (run(true), run(false));
                for (what, (a, b)) in ["y", "dx", "dgamma", "dbeta"]
                    .iter()
                    .zip(fused.iter().zip(&plain))
                {
                    for (u, v) in a.iter().zip(b) {
                        assert!(
                            (u - v).abs() <= 1e-5 * (1.0 + v.abs()),
                            "{what} {dims:?} {dtype:?}: {u} vs {v}"
                        );
                    }
                }
            }
        }
    }

    pub fn empty_sizes(dev: Device) {
        for dtype in DTYPES {
            let e = Tensor::zeros([0, 3], dtype, dev);
            let f = Tensor::zeros([3, 0], dtype, dev);
            let row = Tensor::ones([3], dtype, dev);
            let col = Tensor::ones([3, 1], dtype, dev);
            assert_eq!(e.exp().unwrap().dims(), &[0, 3]);
            assert_eq!(e.add(&row).unwrap().dims(), &[0, 3]);
            assert_eq!(row.mul(&e).unwrap().dims(), &[0, 3]);
            assert_eq!(f.add(&col).unwrap().dims(), &[3, 0]);
            assert_eq!(col.sub(&f).unwrap().dims(), &[3, 0]);
            assert_eq!(
                f.maximum(&Tensor::zeros([1, 0], dtype, dev))
                    .unwrap()
                    .dims(),
                &[3, 0]
            );
            // Reductions over an empty axis give the identity; over a non-empty one, nothing.
            check(
                &e.sum(0).unwrap(),
                &[0.0; 3],
                &[3],
                dtype,
                dev,
                "sum over empty axis",
            );
            check(
                &e.max(0).unwrap(),
                &[f64::NEG_INFINITY; 3],
                &[3],
                dtype,
                dev,
                "max over empty axis",
            );
            check(
                &e.min_keepdim(0).unwrap(),
                &[f64::INFINITY; 3],
                &[1, 3],
                dtype,
                dev,
                "min over empty axis",
            );
            check(&e.sum(1).unwrap(), &[], &[0], dtype, dev, "sum of no rows");
            check(
                &f.sum(0).unwrap(),
                &[],
                &[0],
                dtype,
                dev,
                "sum of empty rows",
            );
            check(
                &f.max_keepdim(0).unwrap(),
                &[],
                &[1, 0],
                dtype,
                dev,
                "max of empty rows",
            );
            check(
                &f.sum(1).unwrap(),
                &[0.0; 3],
                &[3],
                dtype,
                dev,
                "sum of empty rows, axis 1",
            );
            check(
                &e.sum_all().unwrap(),
                &[0.0],
                &[],
                dtype,
                dev,
                "sum_all of nothing",
            );
            check(
                &e.cumsum(0).unwrap(),
                &[],
                &[0, 3],
                dtype,
                dev,
                "cumsum of nothing",
            );
            check(
                &f.cumprod(1).unwrap(),
                &[],
                &[3, 0],
                dtype,
                dev,
                "cumprod of nothing",
            );
            // Matrix products with an empty dimension.
            check(
                &f.matmul(&Tensor::ones([0, 2], dtype, dev)).unwrap(),
                &[0.0; 6],
                &[3, 2],
                dtype,
                dev,
                "matmul k = 0",
            );
            check(
                &e.matmul(&Tensor::ones([3, 2], dtype, dev)).unwrap(),
                &[],
                &[0, 2],
                dtype,
                dev,
                "matmul m = 0",
            );
            check(
                &Tensor::ones([2, 3], dtype, dev).matmul(&f).unwrap(),
                &[],
                &[2, 0],
                dtype,
                dev,
                "matmul n = 0",
            );
            check(
                &Tensor::ones([0, 2, 3], dtype, dev)
                    .matmul(&Tensor::ones([3, 4], dtype, dev))
                    .unwrap(),
                &[],
                &[0, 2, 4],
                dtype,
                dev,
                "matmul batch 0",
            );
            // Layout ops.
            check(
                &e.permute(&[1, 0]).unwrap(),
                &[],
                &[3, 0],
                dtype,
                dev,
                "permute empty",
            );
            check(
                &row.narrow(0, 1, 0).unwrap(),
                &[],
                &[0],
                dtype,
                dev,
                "narrow to nothing",
            );
            check(
                &row.index_select(0, &[]).unwrap(),
                &[],
                &[0],
                dtype,
                dev,
                "index_select nothing",
            );
            check(
                &Tensor::concat(&[e.clone(), row.unsqueeze(0).unwrap()], 0).unwrap(),
                &[1.0; 3],
                &[1, 3],
                dtype,
                dev,
                "concat with empty",
            );
            check(
                &e.broadcast_as(&Shape::new([2, 0, 3])).unwrap(),
                &[],
                &[2, 0, 3],
                dtype,
                dev,
                "broadcast empty",
            );
            check(
                &Tensor::where_cond(&e, &e, &row).unwrap(),
                &[],
                &[0, 3],
                dtype,
                dev,
                "where empty",
            );
            // Convolution and pooling of an empty batch.
            let x = Tensor::zeros([0, 2, 4, 4], dtype, dev);
            let w = Tensor::ones([3, 2, 3, 3], dtype, dev);
            check(
                &x.conv2d(&w, None, 1, 1).unwrap(),
                &[],
                &[0, 3, 4, 4],
                dtype,
                dev,
                "conv2d batch 0",
            );
            check(
                &x.avg_pool2d(2, 2).unwrap(),
                &[],
                &[0, 2, 2, 2],
                dtype,
                dev,
                "avg_pool2d batch 0",
            );
            check(
                &x.max_pool2d(2, 2).unwrap(),
                &[],
                &[0, 2, 2, 2],
                dtype,
                dev,
                "max_pool2d batch 0",
            );
            // No largest element along an empty axis.
            assert!(e.argmax(0).is_err());
            assert_eq!(e.argmax(1).unwrap(), Vec::<usize>::new());
            // Batch norm has no statistics over an empty batch: an error, not NaN.
            let g = Tensor::ones([2], dtype, dev);
            assert!(x.batch_norm_train(&g, &g, 1e-5).is_err());
        }
    }

    // -----------------------------------------------------------------------------------------
    // Autodiff mechanics.

    pub fn no_grad_builds_no_graph(dev: Device) {
        let x = Tensor::from_f64_slice(&[1.0, 2.0], [2], DType::F64, dev)
            .unwrap()
            .to_var();
        let y = pact::no_grad(|| x.exp().unwrap().mul(&x).unwrap().sum_all().unwrap());
        assert!(!y.tracks());
        assert!(matches!(y.backward(), Err(Error::Autodiff(_))));
        // Reshapes, layout and composite ops alike.
        let z = pact::no_grad(|| {
            let r = x.reshape([1, 2]).unwrap();
            assert!(!r.tracks());
            r.softmax(1).unwrap()
        });
        assert!(!z.tracks());
        // Guards nest and restore the previous state.
        {
            let _outer = pact::NoGradGuard::new();
            {
                let _inner = pact::NoGradGuard::new();
                assert!(!pact::autodiff::is_grad_enabled());
            }
            assert!(!pact::autodiff::is_grad_enabled());
            assert!(!x.square().unwrap().tracks());
        }
        assert!(pact::autodiff::is_grad_enabled());
        assert!(x.square().unwrap().tracks());
        // Constants never track.
        let c = Tensor::ones([2], DType::F64, dev);
        assert!(!c.exp().unwrap().tracks());
    }

    pub fn detach_stops_gradients(dev: Device) {
        let x = Tensor::from_f64_slice(&[1.0, -2.0, 3.0], [3], DType::F64, dev)
            .unwrap()
            .to_var();
        // y = x · detach(x): the gradient is detach(x) = x, not 2x.
        let y = x.mul(&x.detach()).unwrap().sum_all().unwrap();
        let g = y.backward().unwrap();
        assert_eq!(g.get(&x).unwrap().to_f64_vec(), vec![1.0, -2.0, 3.0]);
        assert!(!x.detach().tracks());
        assert_eq!(x.detach().to_f64_vec(), x.to_f64_vec());
        // A detached branch alone is untracked.
        let d = x.exp().unwrap().detach();
        assert!(matches!(
            d.sum_all().unwrap().backward(),
            Err(Error::Autodiff(_))
        ));
        // to_var starts a new leaf: no gradient reaches the original variable.
        let leaf = x.square().unwrap().to_var();
        let g = leaf.sum_all().unwrap().backward().unwrap();
        assert_eq!(g.get(&leaf).unwrap().to_f64_vec(), vec![1.0; 3]);
        assert!(g.get(&x).is_none());
        // where_cond's condition never receives a gradient.
        let c = x.gt_scalar(0.0).unwrap();
        let w = Tensor::where_cond(&c, &x, &x.neg().unwrap())
            .unwrap()
            .sum_all()
            .unwrap();
        assert_eq!(
            w.backward().unwrap().get(&x).unwrap().to_f64_vec(),
            vec![1.0, -1.0, 1.0]
        );
    }

    pub fn gradient_accumulation(dev: Device) {
        for dtype in DTYPES {
            let x = Tensor::from_f64_slice(&[1.0, 2.0], [2], dtype, dev)
                .unwrap()
                .to_var();
            let w = Tensor::from_f64_slice(&[3.0], [1], dtype, dev)
                .unwrap()
                .to_var();
            let mut store = GradStore::new();
            // loss 1 = Σ w·x², loss 2 = Σ x
            x.square()
                .unwrap()
                .mul(&w)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward_into(&mut store)
                .unwrap();
            x.sum_all().unwrap().backward_into(&mut store).unwrap();
            assert_eq!(
                store.get(&x).unwrap().to_f64_vec(),
                vec![2.0 * 3.0 + 1.0, 4.0 * 3.0 + 1.0]
            );
            assert_eq!(store.get(&w).unwrap().to_f64_vec(), vec![5.0]);
            assert_eq!(store.get(&x).unwrap().dtype(), dtype);
            assert_eq!(store.len(), 2);
            // merge adds stores; the same op twice doubles.
            let mut other = x.sum_all().unwrap().backward().unwrap();
            other.merge(store.clone()).unwrap();
            assert_eq!(other.get(&x).unwrap().to_f64_vec(), vec![8.0, 14.0]);
            // The output itself being the variable: gradient of ones.
            assert_eq!(
                x.backward().unwrap().get(&x).unwrap().to_f64_vec(),
                vec![1.0, 1.0]
            );
            // A variable reached along many paths accumulates every one of them.
            let y = x
                .add(&x)
                .unwrap()
                .add(&x.mul(&x).unwrap())
                .unwrap()
                .sum_all()
                .unwrap();
            assert_eq!(
                y.backward().unwrap().get(&x).unwrap().to_f64_vec(),
                vec![4.0, 6.0]
            );
        }
    }

    pub fn deep_graphs(dev: Device) {
        // A graph far deeper than the test thread's stack would allow a recursive walk or a
        // recursive drop to go (an RNN unrolled over a long sequence).
        let depth = 150_000;
        let x = Tensor::from_f64_slice(&[0.5], [1], DType::F64, dev)
            .unwrap()
            .to_var();
        let mut y = x.clone();
        for i in 0..depth {
            y = if i % 2 == 0 {
                y.add(&x)
            } else {
                y.mul_scalar(1.0)
            }
            .unwrap();
        }
        let g = y.sum_all().unwrap().backward().unwrap();
        assert_eq!(
            g.get(&x).unwrap().to_f64_vec(),
            vec![(depth / 2 + 1) as f64]
        );
        drop(g);
        drop(y); // must not overflow the stack
        assert_eq!(x.to_f64_vec(), vec![0.5]);
    }

    struct BadArity;
    impl CustomOp for BadArity {
        fn name(&self) -> &'static str {
            "bad_arity"
        }
        fn forward(&self, inputs: &[Tensor]) -> pact::Result<Tensor> {
            inputs[0].exp()
        }
        fn backward(
            &self,
            _: &[Tensor],
            _: &Tensor,
            g: &Tensor,
        ) -> pact::Result<Vec<Option<Tensor>>> {
            Ok(vec![Some(g.clone()), Some(g.clone())])
        }
    }

    struct BadShape;
    impl CustomOp for BadShape {
        fn name(&self) -> &'static str {
            "bad_shape"
        }
        fn forward(&self, inputs: &[Tensor]) -> pact::Result<Tensor> {
            inputs[0].exp()
        }
        fn backward(
            &self,
            _: &[Tensor],
            _: &Tensor,
            g: &Tensor,
        ) -> pact::Result<Vec<Option<Tensor>>> {
            Ok(vec![Some(g.sum_all()?)])
        }
    }

    pub fn backward_errors(dev: Device) {
        let c = Tensor::ones([2], DType::F64, dev);
        assert!(matches!(c.backward(), Err(Error::Autodiff(_))));
        assert!(matches!(
            c.exp().unwrap().sum_all().unwrap().backward(),
            Err(Error::Autodiff(_))
        ));
        let mut store = GradStore::new();
        assert!(c.backward_into(&mut store).is_err());
        assert!(store.is_empty());
        let x = Tensor::from_f64_slice(&[0.5, 1.0], [2], DType::F64, dev)
            .unwrap()
            .to_var();
        let y = Tensor::apply_custom(Arc::new(BadArity), std::slice::from_ref(&x)).unwrap();
        assert!(matches!(
            y.sum_all().unwrap().backward(),
            Err(Error::Autodiff(_))
        ));
        let y = Tensor::apply_custom(Arc::new(BadShape), &[x]).unwrap();
        assert!(y.sum_all().unwrap().backward().is_err());
    }

    pub fn shape_and_dtype_errors(dev: Device) {
        let a = Tensor::ones([2, 3], DType::F32, dev);
        let b = Tensor::ones([2, 3], DType::F64, dev);
        let v4 = Tensor::ones([4], DType::F32, dev);
        assert!(matches!(a.add(&b), Err(Error::DTypeMismatch { .. })));
        assert!(matches!(a.add(&v4), Err(Error::Broadcast { .. })));
        assert!(matches!(a.matmul(&b), Err(Error::DTypeMismatch { .. })));
        assert!(matches!(a.matmul(&a), Err(Error::ShapeMismatch { .. })));
        assert!(a.matmul(&v4).is_err());
        assert!(Tensor::ones([2, 2, 3], DType::F32, dev)
            .matmul(&Tensor::ones([3, 3, 2], DType::F32, dev))
            .is_err());
        assert!(Tensor::where_cond(&a, &a, &b).is_err());
        assert!(Tensor::where_cond(&v4, &a, &a).is_err());
        assert!(matches!(
            a.reshape([4, 2]),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(a.broadcast_as(&Shape::new([3, 3])).is_err());
        assert!(a.broadcast_as(&Shape::new([3])).is_err());
        assert!(
            a.sum_to(&Shape::new([3, 2])).is_err(),
            "sum_to a shape that does not broadcast"
        );
        assert!(
            a.sum_to(&Shape::new([1, 2, 3])).is_err(),
            "sum_to a higher rank"
        );
        assert!(a.sum_to(&Shape::new([4])).is_err());
        assert!(Tensor::concat(&[], 0).is_err());
        assert!(Tensor::concat(&[a.clone(), b.clone()], 0).is_err());
        assert!(Tensor::concat(&[a.clone(), Tensor::ones([2, 4], DType::F32, dev)], 0).is_err());
        assert!(Tensor::concat(&[a.clone(), Tensor::ones([6], DType::F32, dev)], 0).is_err());
        assert!(Tensor::stack(&[a.clone(), Tensor::ones([3, 2], DType::F32, dev)], 0).is_err());
        assert!(Tensor::stack(&[], 0).is_err());
        assert!(a.squeeze(0).is_err());
        assert!(a.permute(&[0, 0]).is_err());
        assert!(a.permute(&[1]).is_err());
        assert!(a.permute(&[0, 2]).is_err());
        assert!(a.expect_shape(&[3, 2], "test").is_err());
        // Convolution and pooling geometry.
        let x = Tensor::ones([1, 2, 4, 4], DType::F32, dev);
        let w = Tensor::ones([3, 2, 3, 3], DType::F32, dev);
        assert!(x
            .conv2d(&Tensor::ones([3, 1, 3, 3], DType::F32, dev), None, 1, 0)
            .is_err());
        assert!(x
            .conv2d(&Tensor::ones([3, 2, 5, 5], DType::F32, dev), None, 1, 0)
            .is_err());
        assert!(x.conv2d(&w, None, 0, 0).is_err());
        assert!(x
            .conv2d(&w, Some(&Tensor::ones([2], DType::F32, dev)), 1, 0)
            .is_err());
        assert!(x
            .conv2d(&w, Some(&Tensor::ones([3], DType::F64, dev)), 1, 0)
            .is_err());
        assert!(x.conv2d(&w.to_dtype(DType::F64), None, 1, 0).is_err());
        assert!(a.conv2d(&w, None, 1, 0).is_err());
        assert!(x.avg_pool2d(0, 1).is_err());
        assert!(x.max_pool2d(2, 0).is_err());
        assert!(x.max_pool2d(5, 1).is_err());
        assert!(a.avg_pool2d(2, 2).is_err());
        assert!(a.global_avg_pool2d().is_err());
        // Batch norm parameters.
        let g2 = Tensor::ones([2], DType::F32, dev);
        assert!(x
            .batch_norm_train(&Tensor::ones([3], DType::F32, dev), &g2, 1e-5)
            .is_err());
        assert!(x
            .batch_norm_train(&g2, &g2.to_dtype(DType::F64), 1e-5)
            .is_err());
        assert!(v4.batch_norm_train(&g2, &g2, 1e-5).is_err());
        // Cross-entropy needs [N, K] logits and N labels.
        assert!(a.cross_entropy(&[0]).is_err());
        assert!(v4.cross_entropy(&[0]).is_err());
        // straight-through needs matching operands.
        assert!(Tensor::straight_through(&a, &b).is_err());
    }

    pub fn axis_errors(dev: Device) {
        let a = Tensor::ones([2, 3], DType::F64, dev);
        let bad = |r: pact::Result<Tensor>, what: &str| {
            assert!(
                matches!(r, Err(Error::AxisOutOfRange { .. })),
                "{what}: {r:?}"
            );
        };
        bad(a.sum(2), "sum");
        bad(a.sum_keepdim(5), "sum_keepdim");
        bad(a.mean(2), "mean");
        bad(a.max(2), "max");
        bad(a.min_keepdim(2), "min");
        bad(a.logsumexp(2), "logsumexp");
        bad(a.softmax(2), "softmax");
        bad(a.log_softmax(3), "log_softmax");
        bad(a.cumsum(2), "cumsum");
        bad(a.cumprod(2), "cumprod");
        bad(a.narrow(2, 0, 1), "narrow");
        bad(Tensor::concat(&[a.clone(), a.clone()], 2), "concat");
        bad(a.index_select(2, &[0]), "index_select");
        bad(a.index_add(2, &[0], 1), "index_add");
        bad(a.gather(2, &[0], &Shape::new([2, 3])), "gather");
        bad(a.scatter_add(2, &[0], &Shape::new([2, 3])), "scatter_add");
        bad(a.transpose(0, 2), "transpose");
        bad(a.unsqueeze(3), "unsqueeze");
        bad(a.squeeze(2), "squeeze");
        bad(a.flatten_from(2), "flatten_from");
        bad(a.pad_zeros(2, 1, 1), "pad_zeros");
        assert!(matches!(a.argmax(2), Err(Error::AxisOutOfRange { .. })));
        assert!(a.dim(2).is_err());
        bad(Tensor::stack(&[a.clone(), a.clone()], 3), "stack");
    }

    pub fn index_errors(dev: Device) {
        let a = Tensor::ones([2, 3], DType::F64, dev);
        let oob = |r: pact::Result<Tensor>, what: &str| {
            assert!(
                matches!(r, Err(Error::IndexOutOfRange { .. })),
                "{what}: {r:?}"
            );
        };
        oob(a.narrow(1, 2, 2), "narrow past the end");
        oob(a.narrow(0, 3, 0), "narrow starting past the end");
        oob(a.narrow(1, usize::MAX, 2), "narrow with an overflowing end");
        oob(a.index_select(1, &[0, 3]), "index_select");
        oob(a.index_add(1, &[0, 1, 5], 4), "index_add");
        oob(
            a.gather(1, &[0, 1, 3, 0, 0, 0], &Shape::new([2, 3])),
            "gather",
        );
        oob(
            a.scatter_add(0, &[0, 1, 2, 0, 0, 0], &Shape::new([2, 3])),
            "scatter_add",
        );
        oob(a.cross_entropy(&[0, 3]), "cross_entropy label");
        // Index lists that do not match their shapes.
        assert!(a.index_add(1, &[0, 1], 3).is_err());
        assert!(a.gather(1, &[0, 1], &Shape::new([2, 3])).is_err());
        assert!(a.gather(1, &[0; 8], &Shape::new([4, 2])).is_err());
        assert!(a.scatter_add(1, &[0; 6], &Shape::new([3, 3])).is_err());
    }
}
