//! Derivatives cross-checked against forward-mode dual numbers (the `autodiff` crate).
//!
//! 1. The CPU kernels' scalar functions (`unary_fn`, `binary_fn`, `sigmoid`, `softplus`) are
//!    generic over `num_traits::Float`, so they run unchanged on dual numbers: their exact
//!    derivatives are compared with the reverse-mode rules of `autodiff/backward.rs`, evaluated
//!    through tensors, at many points including extreme ones (|x| up to 80 for the sigmoid
//!    family), in `f64` (relative tolerance 1e-12) and `f32` (relative tolerance 1e-5).
//! 2. Composite formulas (logsumexp, cross-entropy, batch norm, convolution, cumulative
//!    products, a halting distribution) written once generically and differentiated by dual
//!    numbers, against reverse mode on the tensor ops (relative tolerance 1e-10).

mod common;

use autodiff::{F1, FT};
use common::{close, Gen, DEV};
use num_traits::Float;
use pact::backend::cpu::elementwise::{binary_fn, sigmoid, softplus, unary_fn};
use pact::backend::ops::{BinaryOp, UnaryOp};
use pact::{DType, Result, Tensor};

/// Points spanning the interesting range, extreme values included.
const POINTS: [f64; 30] = [
    -80.0, -50.0, -36.0, -30.0, -20.0, -15.0, -10.0, -5.0, -2.5, -1.0, -0.5, -0.1, -1e-3, -1e-8,
    1e-8, 1e-3, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 36.0, 50.0, 80.0, 0.75, -0.75,
];

/// The unary ops with a gradient rule, and the points where they are smooth and finite.
/// Which points an op is smooth at.
type Smooth = fn(f64) -> bool;

fn differentiable_unary_ops() -> Vec<(UnaryOp, Smooth)> {
    vec![
        (UnaryOp::Neg, |_| true),
        (UnaryOp::Exp, |_| true),
        (UnaryOp::Log, |x| x > 0.0),
        (UnaryOp::Log1p, |x| x > -1.0),
        (UnaryOp::Sqrt, |x| x > 0.0),
        (UnaryOp::Abs, |x| x != 0.0),
        (UnaryOp::Square, |_| true),
        (UnaryOp::Recip, |x| x != 0.0),
        (UnaryOp::Sigmoid, |_| true),
        (UnaryOp::Tanh, |_| true),
        (UnaryOp::Relu, |x| x != 0.0),
        (UnaryOp::LeakyRelu(0.2), |x| x != 0.0),
        (UnaryOp::LeakyRelu(-0.5), |x| x != 0.0),
        (UnaryOp::Softplus, |_| true),
        (UnaryOp::LogSigmoid, |_| true),
        (UnaryOp::Powf(2.5), |x| x > 0.0 && x < 30.0),
        (UnaryOp::Powf(-0.5), |x| x > 0.0),
        (UnaryOp::Powf(3.0), |x| x.abs() < 30.0),
        (UnaryOp::Clamp(-1.0, 2.0), |x| x != -1.0 && x != 2.0),
        (UnaryOp::Affine(-1.5, 0.25), |_| true),
    ]
}

/// The piecewise-constant ops: derivative 0 everywhere they are smooth, and no gradient.
fn constant_unary_ops() -> Vec<UnaryOp> {
    use pact::backend::ops::CmpOp;
    vec![
        UnaryOp::Sign,
        UnaryOp::Step,
        UnaryOp::LeakyStep(0.3),
        UnaryOp::InRange(-1.0, 1.0),
        UnaryOp::CmpScalar(CmpOp::Gt, 0.25),
    ]
}

/// Reverse-mode gradient of `Σ op(x)` through the tensor layer.
fn reverse_unary(op: UnaryOp, xs: &[f64], dtype: DType) -> Result<Option<Vec<f64>>> {
    let x = Tensor::from_f64_slice(xs, [xs.len()], dtype, DEV)?.to_var();
    let y = x.unary(op)?;
    let grads = y.sum_all()?.backward()?;
    Ok(grads.get(&x).map(|g| g.to_f64_vec()))
}

#[test]
fn unary_rules_match_dual_numbers_in_f64() {
    for (op, smooth) in differentiable_unary_ops() {
        let xs: Vec<f64> = POINTS.iter().copied().filter(|&x| smooth(x)).collect();
        let f_dual = unary_fn::<F1>(op);
        let f64_fn = unary_fn::<f64>(op);
        let rev = reverse_unary(op, &xs, DType::F64)
            .unwrap()
            .unwrap_or_else(|| panic!("{op:?}: no gradient"));
        let fwd = Tensor::from_f64_slice(&xs, [xs.len()], DType::F64, DEV)
            .unwrap()
            .unary(op)
            .unwrap()
            .to_f64_vec();
        for (i, &x) in xs.iter().enumerate() {
            let d = f_dual(F1::var(x));
            // The dual number carries the very same value as the kernel.
            assert_eq!(
                d.value().to_bits(),
                f64_fn(x).to_bits(),
                "{op:?} value at {x}"
            );
            assert_eq!(
                fwd[i].to_bits(),
                f64_fn(x).to_bits(),
                "{op:?} kernel at {x}"
            );
            assert!(
                close(rev[i], d.deriv(), 1e-12, 0.0),
                "{op:?} at x = {x}: reverse rule {:e}, dual number {:e}",
                rev[i],
                d.deriv()
            );
            assert!(rev[i].is_finite(), "{op:?} at x = {x}: non-finite gradient");
        }
    }
}

#[test]
fn unary_rules_match_dual_numbers_in_f32() {
    for (op, smooth) in differentiable_unary_ops() {
        let xs: Vec<f64> = POINTS
            .iter()
            .copied()
            // f32 exp overflows beyond 88.7; x³ and x^2.5 stay well inside.
            .filter(|&x| smooth(x) && !(op == UnaryOp::Exp && x > 80.0))
            .map(|x| x as f32 as f64)
            .collect();
        let f_dual = unary_fn::<FT<f32>>(op);
        let rev = reverse_unary(op, &xs, DType::F32).unwrap().unwrap();
        for (i, &x) in xs.iter().enumerate() {
            let d = f_dual(FT::<f32>::var(x as f32));
            assert!(
                close(rev[i], d.deriv() as f64, 1e-5, 0.0),
                "{op:?} at x = {x} (f32): reverse rule {:e}, dual number {:e}",
                rev[i],
                d.deriv()
            );
        }
    }
}

#[test]
fn piecewise_constant_ops_have_zero_derivative_and_no_gradient() {
    for op in constant_unary_ops() {
        let xs: Vec<f64> = POINTS.iter().copied().filter(|x| x.abs() != 1.0).collect();
        for &x in &xs {
            assert_eq!(unary_fn::<F1>(op)(F1::var(x)).deriv(), 0.0, "{op:?} at {x}");
        }
        assert!(
            reverse_unary(op, &xs, DType::F64).unwrap().is_none(),
            "{op:?} passed a gradient"
        );
    }
}

#[test]
fn derivative_kernels_are_the_dual_derivatives() {
    // The helper kernels that the gradient rules use (Step for relu, LeakyStep for leaky
    // relu, InRange for clamp, Sign for abs) equal the dual-number derivative of the op they
    // differentiate, including the convention at the kink itself (except |x| at 0, where the
    // rule takes the subgradient 0).
    let (lo, hi) = (-0.5, 1.25);
    let mut xs: Vec<f64> = POINTS.to_vec();
    xs.extend([0.0, -0.0, lo, hi, 1.0, -1.0]);
    for &x in &xs {
        let pairs = [
            (UnaryOp::Relu, UnaryOp::Step),
            (UnaryOp::LeakyRelu(0.2), UnaryOp::LeakyStep(0.2)),
            (UnaryOp::Clamp(lo, hi), UnaryOp::InRange(lo, hi)),
            (UnaryOp::Abs, UnaryOp::Sign),
        ];
        for (op, derivative) in pairs {
            if op == UnaryOp::Abs && x == 0.0 {
                assert_eq!(unary_fn::<f64>(derivative)(x), 0.0);
                continue;
            }
            let dual = unary_fn::<F1>(op)(F1::var(x)).deriv();
            let kernel = unary_fn::<f64>(derivative)(x);
            assert_eq!(kernel, dual, "{derivative:?}({x}) vs d/dx {op:?}");
        }
    }
}

#[test]
fn sigmoid_family_is_accurate_in_the_tails() {
    // The scalar functions themselves: values against closed forms that are exact in the
    // tails, and derivatives σ' = σ(x)σ(−x), softplus' = σ, (log σ)' = σ(−x).
    for &x in &POINTS {
        let s = sigmoid(F1::var(x));
        let sp = softplus(F1::var(x));
        let ls = unary_fn::<F1>(UnaryOp::LogSigmoid)(F1::var(x));
        let (e_neg, e_pos) = ((-x).exp(), x.exp());
        let sig = if x >= 0.0 {
            1.0 / (1.0 + e_neg)
        } else {
            e_pos / (1.0 + e_pos)
        };
        let sig_neg = if x >= 0.0 {
            e_neg / (1.0 + e_neg)
        } else {
            1.0 / (1.0 + e_pos)
        };
        assert!(close(s.value(), sig, 1e-15, 0.0), "σ({x})");
        assert!(close(s.deriv(), sig * sig_neg, 1e-13, 0.0), "σ'({x})");
        let softplus_ref = x.max(0.0) + (-x.abs()).exp().ln_1p();
        assert!(close(sp.value(), softplus_ref, 1e-15, 0.0), "softplus({x})");
        assert!(close(sp.deriv(), sig, 1e-13, 0.0), "softplus'({x})");
        assert!(
            close(
                ls.value(),
                -(-x).max(0.0) - (-x.abs()).exp().ln_1p(),
                1e-15,
                0.0
            ),
            "log σ({x})"
        );
        assert!(close(ls.deriv(), sig_neg, 1e-13, 0.0), "(log σ)'({x})");
    }
}

#[test]
fn binary_rules_match_dual_numbers() {
    let mut g = Gen::new(21);
    // (op, a, b) where both partials exist.
    let mut cases: Vec<(BinaryOp, f64, f64)> = Vec::new();
    for _ in 0..25 {
        let (a, b) = (g.uniform(-3.0, 3.0), g.uniform(-3.0, 3.0));
        if (a - b).abs() > 1e-3 {
            cases.extend([
                (BinaryOp::Add, a, b),
                (BinaryOp::Sub, a, b),
                (BinaryOp::Mul, a, b),
                (BinaryOp::Maximum, a, b),
                (BinaryOp::Minimum, a, b),
            ]);
        }
        if b.abs() > 0.1 {
            cases.push((BinaryOp::Div, a, b));
        }
        cases.push((BinaryOp::Pow, g.uniform(0.05, 4.0), b));
    }
    for &(op, a, b) in &cases {
        let f = binary_fn::<F1>(op);
        let da = f(F1::var(a), F1::cst(b));
        let db = f(F1::cst(a), F1::var(b));
        assert_eq!(da.value().to_bits(), binary_fn::<f64>(op)(a, b).to_bits());
        let ta = Tensor::var_from_f64(&[a], [1], DEV).unwrap();
        let tb = Tensor::var_from_f64(&[b], [1], DEV).unwrap();
        let grads = ta
            .binary(&tb, op)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let ga = grads.get(&ta).map_or(0.0, |t| t.to_f64_vec()[0]);
        let gb = grads.get(&tb).map_or(0.0, |t| t.to_f64_vec()[0]);
        assert!(
            close(ga, da.deriv(), 1e-12, 1e-300),
            "{op:?}({a}, {b}) ∂a: {ga} vs {}",
            da.deriv()
        );
        assert!(
            close(gb, db.deriv(), 1e-12, 1e-300),
            "{op:?}({a}, {b}) ∂b: {gb} vs {}",
            db.deriv()
        );
    }
    // Negative bases with integer exponents: ∂a exists; ∂b is defined as 0 there.
    for (a, b) in [(-2.0, 3.0), (-0.5, 2.0), (-1.5, -1.0)] {
        let da = binary_fn::<F1>(BinaryOp::Pow)(F1::var(a), F1::cst(b)).deriv();
        let ta = Tensor::var_from_f64(&[a], [1], DEV).unwrap();
        let tb = Tensor::var_from_f64(&[b], [1], DEV).unwrap();
        let grads = ta.pow(&tb).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(close(
            grads.get(&ta).unwrap().to_f64_vec()[0],
            da,
            1e-12,
            0.0
        ));
        assert_eq!(grads.get(&tb).unwrap().to_f64_vec()[0], 0.0);
    }
}

// ---------------------------------------------------------------------------------------------
// Composite formulas, written once for any `Float` and differentiated by dual numbers.

fn k<T: Float>(v: f64) -> T {
    T::from(v).unwrap()
}

/// Compares the dual-number gradient of `generic` with the reverse-mode gradient of `tensor`
/// (both functions of one flat input vector), and their values.
fn cross_check(
    name: &str,
    x: &[f64],
    generic_f64: impl Fn(&[f64]) -> f64,
    generic_dual: impl Fn(&[F1]) -> F1,
    tensor: impl Fn(&Tensor) -> Result<Tensor>,
) {
    let forward = autodiff::grad(&generic_dual, x);
    let xv = Tensor::var_from_f64(x, [x.len()], DEV).unwrap();
    let y = tensor(&xv).unwrap();
    assert_eq!(y.elem_count(), 1, "{name}: not a scalar");
    let value = y.to_scalar().unwrap();
    assert!(
        close(value, generic_f64(x), 1e-12, 1e-12),
        "{name}: value {value} vs {}",
        generic_f64(x)
    );
    let reverse = y.backward().unwrap().get(&xv).unwrap().to_f64_vec();
    let scale = forward.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (r, f)) in reverse.iter().zip(&forward).enumerate() {
        assert!(
            close(*r, *f, 1e-10, 1e-13 * scale),
            "{name}: ∂/∂x[{i}] reverse {r:e}, forward (dual) {f:e}"
        );
    }
}

/// `Σ_r w_r · logsumexp(x[r, :])` for a `[rows, cols]` input, stable.
fn logsumexp_rows<T: Float>(x: &[T], cols: usize, w: &[f64]) -> T {
    let mut total = T::zero();
    for (r, row) in x.chunks(cols).enumerate() {
        let m = row.iter().fold(T::neg_infinity(), |a, &b| a.max(b));
        let s = row.iter().fold(T::zero(), |a, &v| a + (v - m).exp());
        total = total + (m + s.ln()) * k(w[r]);
    }
    total
}

#[test]
fn logsumexp_with_extreme_logits() {
    let x = [
        -80.0, 0.0, 80.0, 79.0, 3.0, -2.0, 0.5, 1.0, -30.0, -31.0, -29.5, -80.0,
    ];
    let w = [0.7, -1.3, 2.0];
    cross_check(
        "logsumexp",
        &x,
        |x| logsumexp_rows(x, 4, &w),
        |x| logsumexp_rows(x, 4, &w),
        |t| {
            let ws = Tensor::from_f64_slice(&w, [3], DType::F64, DEV)?;
            t.reshape([3, 4])?.logsumexp(1)?.mul(&ws)?.sum_all()
        },
    );
}

/// Mean cross-entropy of `[n, classes]` logits.
fn cross_entropy<T: Float>(x: &[T], classes: usize, labels: &[usize]) -> T {
    let lse_total = logsumexp_rows(x, classes, &vec![1.0; labels.len()]);
    let picked = labels
        .iter()
        .enumerate()
        .fold(T::zero(), |a, (r, &l)| a + x[r * classes + l]);
    (lse_total - picked) / k(labels.len() as f64)
}

#[test]
fn cross_entropy_matches() {
    let mut g = Gen::new(22);
    let mut x = g.vec(12, -4.0, 4.0);
    x[5] = 60.0; // a confident, large logit
    let labels = [1, 1, 3];
    cross_check(
        "cross_entropy",
        &x,
        |x| cross_entropy(x, 4, &labels),
        |x| cross_entropy(x, 4, &labels),
        |t| t.reshape([3, 4])?.cross_entropy(&labels),
    );
}

/// `Σ r · batch_norm(x; gamma, beta)` for `x: [n, c, hw]`; input is `x ++ gamma ++ beta`.
fn batch_norm_projected<T: Float>(
    v: &[T],
    n: usize,
    c: usize,
    hw: usize,
    eps: f64,
    r: &[f64],
) -> T {
    let (x, rest) = v.split_at(n * c * hw);
    let (gamma, beta) = rest.split_at(c);
    let count = k::<T>((n * hw) as f64);
    let mut total = T::zero();
    for ch in 0..c {
        let at = |b: usize, i: usize| (b * c + ch) * hw + i;
        let mut mean = T::zero();
        for b in 0..n {
            for i in 0..hw {
                mean = mean + x[at(b, i)];
            }
        }
        mean = mean / count;
        let mut var = T::zero();
        for b in 0..n {
            for i in 0..hw {
                let d = x[at(b, i)] - mean;
                var = var + d * d;
            }
        }
        var = var / count;
        let invstd = (var + k(eps)).sqrt().recip();
        for b in 0..n {
            for i in 0..hw {
                let y = (x[at(b, i)] - mean) * invstd * gamma[ch] + beta[ch];
                total = total + y * k(r[at(b, i)]);
            }
        }
    }
    total
}

#[test]
fn batch_norm_matches() {
    let (n, c, hw) = (3, 2, 4);
    let mut g = Gen::new(23);
    let mut x = g.vec(n * c * hw, -2.0, 2.0);
    x.extend(g.vec(c, 0.5, 1.5));
    x.extend(g.vec(c, -0.5, 0.5));
    let r = g.vec(n * c * hw, -1.0, 1.0);
    let eps = 1e-5;
    cross_check(
        "batch_norm",
        &x,
        |v| batch_norm_projected(v, n, c, hw, eps, &r),
        |v| batch_norm_projected(v, n, c, hw, eps, &r),
        |t| {
            let xs = t.narrow(0, 0, n * c * hw)?.reshape([n, c, 2, 2])?;
            let gamma = t.narrow(0, n * c * hw, c)?;
            let beta = t.narrow(0, n * c * hw + c, c)?;
            let rt = Tensor::from_f64_slice(&r, [n, c, 2, 2], DType::F64, DEV)?;
            xs.batch_norm_train(&gamma, &beta, eps)?
                .0
                .mul(&rt)?
                .sum_all()
        },
    );
}

/// Geometry of the convolution test.
const CONV: (usize, usize, usize, usize, usize, usize, usize, usize) = (2, 2, 5, 4, 3, 3, 2, 1);

/// `Σ r · (conv2d(x, w, stride, pad) + bias)`, 7 nested loops; input is `x ++ w ++ bias`.
fn conv_projected<T: Float>(v: &[T], r: &[f64]) -> T {
    let (b, ci, h, w, co, kk, stride, pad) = CONV;
    let (ho, wo) = (
        (h + 2 * pad - kk) / stride + 1,
        (w + 2 * pad - kk) / stride + 1,
    );
    let (x, rest) = v.split_at(b * ci * h * w);
    let (wt, bias) = rest.split_at(co * ci * kk * kk);
    let mut total = T::zero();
    for n in 0..b {
        for o in 0..co {
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut acc = bias[o];
                    for c in 0..ci {
                        for ky in 0..kk {
                            for kx in 0..kk {
                                let iy = (oy * stride + ky) as isize - pad as isize;
                                let ix = (ox * stride + kx) as isize - pad as isize;
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                    let xi = ((n * ci + c) * h + iy as usize) * w + ix as usize;
                                    let wi = ((o * ci + c) * kk + ky) * kk + kx;
                                    acc = acc + x[xi] * wt[wi];
                                }
                            }
                        }
                    }
                    total = total + acc * k(r[((n * co + o) * ho + oy) * wo + ox]);
                }
            }
        }
    }
    total
}

#[test]
fn conv2d_matches() {
    let (b, ci, h, w, co, kk, stride, pad) = CONV;
    let (ho, wo) = (
        (h + 2 * pad - kk) / stride + 1,
        (w + 2 * pad - kk) / stride + 1,
    );
    let mut g = Gen::new(24);
    let (nx, nw) = (b * ci * h * w, co * ci * kk * kk);
    let v = g.vec(nx + nw + co, -1.0, 1.0);
    let r = g.vec(b * co * ho * wo, -1.0, 1.0);
    cross_check(
        "conv2d",
        &v,
        |v| conv_projected(v, &r),
        |v| conv_projected(v, &r),
        |t| {
            let x = t.narrow(0, 0, nx)?.reshape([b, ci, h, w])?;
            let wt = t.narrow(0, nx, nw)?.reshape([co, ci, kk, kk])?;
            let bias = t.narrow(0, nx + nw, co)?;
            let rt = Tensor::from_f64_slice(&r, [b, co, ho, wo], DType::F64, DEV)?;
            x.conv2d(&wt, Some(&bias), stride, pad)?.mul(&rt)?.sum_all()
        },
    );
}

/// The halting distribution of adaptive computation time: `h_t = σ(x_t)`,
/// `p_t = h_t · Π_{s<t} (1 − h_s)`; the loss mixes the expected step count, `log p_t` through
/// `log σ` and `softplus`, over logits spanning ±80.
fn halting<T: Float>(x: &[T], steps: usize, r: &[f64]) -> T {
    let mut total = T::zero();
    for (row, xs) in x.chunks(steps).enumerate() {
        let mut survive = T::one();
        for (t, &xt) in xs.iter().enumerate() {
            let p = sigmoid(xt) * survive;
            // log p_t = log σ(x_t) + Σ_{s<t} log σ(−x_s)
            let log_p = -softplus(-xt) + xs[..t].iter().fold(T::zero(), |a, &s| a - softplus(s));
            total = total + p * k((t + 1) as f64) + log_p * k(r[row * steps + t]);
            survive = survive * sigmoid(-xt);
        }
    }
    total
}

#[test]
fn halting_distribution_with_extreme_logits() {
    let steps = 4;
    let x = [
        -80.0, -3.0, 2.0, 80.0, 0.5, 36.0, -36.0, 1.0, -10.0, 10.0, -0.25, 20.0,
    ];
    let mut g = Gen::new(25);
    let r = g.vec(x.len(), 0.5, 1.5);
    cross_check(
        "halting",
        &x,
        |x| halting(x, steps, &r),
        |x| halting(x, steps, &r),
        |t| {
            let x = t.reshape([3, steps])?;
            let h = x.sigmoid()?;
            let not_h = x.neg()?.sigmoid()?;
            // Π_{s<t}: exclusive cumulative product, built as a shifted inclusive one.
            let ones = Tensor::ones([3, 1], DType::F64, DEV);
            let survive = Tensor::concat(&[ones, not_h.narrow(1, 0, steps - 1)?], 1)?.cumprod(1)?;
            let p = h.mul(&survive)?;
            let t_weights =
                Tensor::from_f64_slice(&[1.0, 2.0, 3.0, 4.0], [steps], DType::F64, DEV)?;
            let log_not_h = x.softplus()?.neg()?;
            let zeros = Tensor::zeros([3, 1], DType::F64, DEV);
            let log_survive =
                Tensor::concat(&[zeros, log_not_h.narrow(1, 0, steps - 1)?], 1)?.cumsum(1)?;
            let log_p = x.log_sigmoid()?.add(&log_survive)?;
            let rt = Tensor::from_f64_slice(&r, [3, steps], DType::F64, DEV)?;
            p.mul(&t_weights)?.add(&log_p.mul(&rt)?)?.sum_all()
        },
    );
}

/// `Σ r · cumprod(x)` along rows.
fn cumprod_projected<T: Float>(x: &[T], len: usize, r: &[f64]) -> T {
    let mut total = T::zero();
    for (row, xs) in x.chunks(len).enumerate() {
        let mut acc = T::one();
        for (j, &v) in xs.iter().enumerate() {
            acc = acc * v;
            total = total + acc * k(r[row * len + j]);
        }
    }
    total
}

#[test]
fn cumprod_with_zero_factors_matches() {
    let x = [
        0.5, 0.0, 2.0, -1.5, 0.0, 0.0, 3.0, 1.0, 1.5, -2.0, 0.75, 0.0,
    ];
    let mut g = Gen::new(26);
    let r = g.vec(x.len(), -1.0, 1.0);
    cross_check(
        "cumprod",
        &x,
        |x| cumprod_projected(x, 4, &r),
        |x| cumprod_projected(x, 4, &r),
        |t| {
            let rt = Tensor::from_f64_slice(&r, [3, 4], DType::F64, DEV)?;
            t.reshape([3, 4])?.cumprod(1)?.mul(&rt)?.sum_all()
        },
    );
}
