//! Shared helpers of the numeric test suites: a tiny deterministic generator for test data,
//! a finite-difference gradient checker, and tolerant comparisons.

#![allow(dead_code)]

use pact::{DType, Device, GradStore, Shape, Tensor};

/// The device the CPU suites run on.
pub const DEV: Device = Device::Cpu;

/// SplitMix64: a small deterministic generator for test data (independent of `pact::Rng`,
/// so that the data of a test never depends on the code under test).
#[derive(Clone, Debug)]
pub struct Gen(u64);

impl Gen {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Gen(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform on `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform on `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// A uniform integer in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A fair coin.
    pub fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }

    /// `n` uniform values on `[lo, hi)`.
    pub fn vec(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }

    /// `n` values with magnitude in `[lo, hi)` and a random sign (away from the kink at 0).
    pub fn away_from_zero(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n)
            .map(|_| {
                let v = self.uniform(lo, hi);
                if self.coin() {
                    v
                } else {
                    -v
                }
            })
            .collect()
    }

    /// `n` distinct values at least `gap` apart, in random order, centred on 0 (no ties, so
    /// max/min/max-pool are differentiable with a margin).
    pub fn distinct(&mut self, n: usize, gap: f64) -> Vec<f64> {
        let mut v: Vec<f64> = (0..n)
            .map(|i| (i as f64 - n as f64 / 2.0) * 2.0 * gap + self.uniform(0.0, gap / 2.0))
            .collect();
        for i in (1..n).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
        v
    }

    /// `n` indices below `size`.
    pub fn indices(&mut self, n: usize, size: usize) -> Vec<usize> {
        (0..n).map(|_| self.below(size)).collect()
    }
}

/// A seed derived from a shape, so projections are reproducible.
fn shape_seed(dims: &[usize]) -> u64 {
    dims.iter().fold(0xA5A5_u64, |h, &d| {
        h.wrapping_mul(31).wrapping_add(d as u64 + 1)
    })
}

/// One input of a gradient check: `f64` values and their shape.
#[derive(Clone, Debug)]
pub struct Input {
    /// Row-major values.
    pub data: Vec<f64>,
    /// The shape.
    pub shape: Vec<usize>,
}

/// An input from values and a shape.
pub fn input(data: Vec<f64>, shape: &[usize]) -> Input {
    assert_eq!(
        data.len(),
        shape.iter().product::<usize>(),
        "test data does not fill {shape:?}"
    );
    Input {
        data,
        shape: shape.to_vec(),
    }
}

/// Tolerances of a finite-difference check: the autodiff gradient `a` and the central
/// difference `d` agree when `|a − d| ≤ atol + rtol · max(|a|, |d|)`.
#[derive(Clone, Copy, Debug)]
pub struct Tol {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// The finite-difference step (a power of two, so `x ± h` is exact for moderate `x`).
    pub step: f64,
}

/// The default tolerances: `h = 2⁻¹⁷ ≈ 7.6e-6`, `rtol = 1e-6`, `atol = 1e-7`. In `f64` the
/// central difference errs by about `h²·|f'''|/6 + ε·|f|/h ≈ 1e-10` on these small problems,
/// while a wrong rule is off by O(1).
pub const TOL: Tol = Tol {
    rtol: 1e-6,
    atol: 1e-7,
    step: 1.0 / 131072.0,
};

/// Checks the gradients of `f` at `inputs` against central finite differences.
///
/// The scalar checked is a random projection `Σ r ⊙ f(x)` (fixed `r`, drawn per output
/// shape), which catches errors that a plain sum would cancel out.
pub fn check_grad(
    f: impl Fn(&[Tensor]) -> pact::Result<Tensor>,
    inputs: &[Input],
) -> Result<(), String> {
    check_grad_with(&f, &f, inputs, TOL)
}

/// Like [`check_grad`] with explicit tolerances.
pub fn check_grad_tol(
    f: impl Fn(&[Tensor]) -> pact::Result<Tensor>,
    inputs: &[Input],
    tol: Tol,
) -> Result<(), String> {
    check_grad_with(&f, &f, inputs, tol)
}

/// The projected loss of `out`, in `f64`.
fn project(out: &Tensor) -> pact::Result<Tensor> {
    let mut g = Gen::new(shape_seed(out.dims()));
    let r: Vec<f64> = g.vec(out.elem_count(), -1.5, 1.5);
    let r = Tensor::from_f64_slice(&r, out.shape().clone(), DType::F64, DEV)?;
    out.to_dtype(DType::F64).mul(&r)?.sum_all()
}

/// Gradient check where autodiff runs on `f_ad` and the finite differences on `f_fd` (they
/// differ only for surrogate-gradient ops such as straight-through).
pub fn check_grad_with(
    f_ad: &dyn Fn(&[Tensor]) -> pact::Result<Tensor>,
    f_fd: &dyn Fn(&[Tensor]) -> pact::Result<Tensor>,
    inputs: &[Input],
    tol: Tol,
) -> Result<(), String> {
    let err = |e: pact::Error| format!("op failed: {e}");
    let vars: Vec<Tensor> = inputs
        .iter()
        .map(|i| Tensor::var_from_f64(&i.data, i.shape.clone(), DEV))
        .collect::<pact::Result<_>>()
        .map_err(err)?;
    let out = f_ad(&vars).map_err(err)?;
    if !out.to_f64_vec().iter().all(|v| v.is_finite()) {
        return Err(format!("non-finite output {out:?}"));
    }
    let loss = project(&out).map_err(err)?;
    let grads: GradStore = loss.backward().map_err(err)?;
    let eval = |xs: &[Vec<f64>]| -> Result<f64, String> {
        pact::no_grad(|| {
            let consts: Vec<Tensor> = xs
                .iter()
                .zip(inputs)
                .map(|(x, i)| Tensor::from_f64_slice(x, i.shape.clone(), DType::F64, DEV))
                .collect::<pact::Result<_>>()?;
            project(&f_fd(&consts)?)?.to_scalar()
        })
        .map_err(err)
    };
    let mut failures = Vec::new();
    let mut data: Vec<Vec<f64>> = inputs.iter().map(|i| i.data.clone()).collect();
    for (k, var) in vars.iter().enumerate() {
        let ad = match grads.get(var) {
            Some(g) => {
                if g.dims() != var.dims() || g.dtype() != DType::F64 {
                    return Err(format!(
                        "input {k}: gradient {:?} {:?} for a variable of shape {:?}",
                        g.dims(),
                        g.dtype(),
                        var.dims()
                    ));
                }
                g.to_f64_vec()
            }
            None => vec![0.0; var.elem_count()],
        };
        for j in 0..data[k].len() {
            let x0 = data[k][j];
            data[k][j] = x0 + tol.step;
            let up = eval(&data)?;
            data[k][j] = x0 - tol.step;
            let down = eval(&data)?;
            data[k][j] = x0;
            let fd = (up - down) / (2.0 * tol.step);
            let a = ad[j];
            let agree = (a - fd).abs() <= tol.atol + tol.rtol * a.abs().max(fd.abs());
            if !agree {
                failures.push(format!(
                    "input {k} {:?} element {j} (x = {x0}): autodiff {a:.10e}, finite difference {fd:.10e}",
                    inputs[k].shape
                ));
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        let n = failures.len();
        failures.truncate(8);
        Err(format!(
            "{n} gradient entries disagree:\n{}",
            failures.join("\n")
        ))
    }
}

/// Whether `a` and `b` agree to `|a − b| ≤ atol + rtol·|b|`, treating equal infinities and
/// two NaNs as equal.
pub fn close(a: f64, b: f64, rtol: f64, atol: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    (a - b).abs() <= atol + rtol * b.abs()
}

/// Asserts that `got` matches `want` elementwise (see [`close`]).
#[track_caller]
pub fn assert_close(got: &[f64], want: &[f64], rtol: f64, atol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (&a, &b)) in got.iter().zip(want).enumerate() {
        assert!(
            close(a, b, rtol, atol),
            "{what}: element {i}: got {a:e}, want {b:e} (rtol {rtol:e}, atol {atol:e})"
        );
    }
}

/// A constant `f64` tensor.
pub fn t64(data: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_f64_slice(data, Shape::new(shape), DType::F64, DEV).unwrap()
}
