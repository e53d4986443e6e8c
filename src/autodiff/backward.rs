//! The graph walk and every op's gradient rule, in one place.

use super::{GradStore, NoGradGuard, Op};
use crate::backend::ops::*;
use crate::tensor::TensorId;
use crate::{Error, Result, Shape, Tensor};
use std::collections::{HashMap, HashSet};

impl Tensor {
    /// Gradients of this tensor (summed over its elements if it has several) with respect to
    /// every variable it depends on.
    ///
    /// ```
    /// use pact::{Device, Tensor};
    /// let x = Tensor::var_from_f64(&[0.5, -1.0], [2], Device::Cpu)?;
    /// let y = x.sigmoid()?.sum_all()?;
    /// let g = y.backward()?;
    /// let s = 1.0 / (1.0 + (-0.5f64).exp());
    /// assert!((g.get(&x).unwrap().to_f64_vec()[0] - s * (1.0 - s)).abs() < 1e-12);
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn backward(&self) -> Result<GradStore> {
        let mut store = GradStore::new();
        self.backward_into(&mut store)?;
        Ok(store)
    }

    /// Like [`Tensor::backward`], but adds the gradients into `store` (gradient accumulation
    /// over several losses or minibatches).
    pub fn backward_into(&self, store: &mut GradStore) -> Result<()> {
        if !self.tracks() {
            return Err(Error::Autodiff(
                "backward() on a tensor that depends on no variable (was it computed under no_grad, or from detached values?)".into(),
            ));
        }
        let order = topological_order(self);
        let _guard = NoGradGuard::new();
        let mut pending: HashMap<TensorId, Tensor> = HashMap::new();
        pending.insert(self.id(), self.ones_like());
        for node in order.iter().rev() {
            let Some(grad) = pending.remove(&node.id()) else {
                continue;
            };
            if node.is_variable() {
                store.accumulate(node.id(), grad)?;
                continue;
            }
            let Some(op) = node.op() else { continue };
            for (input, g) in input_gradients(op, node, &grad)? {
                if !input.tracks() {
                    continue;
                }
                let summed = match pending.remove(&input.id()) {
                    Some(existing) => existing.accumulate(&g)?,
                    None => g,
                };
                pending.insert(input.id(), summed);
            }
        }
        Ok(())
    }
}

/// Tracked nodes reachable from `root`, every node after all of its inputs.
fn topological_order(root: &Tensor) -> Vec<Tensor> {
    let mut order = Vec::new();
    let mut seen: HashSet<TensorId> = HashSet::new();
    // Iterative post-order DFS: (node, children already pushed).
    let mut stack: Vec<(Tensor, bool)> = vec![(root.clone(), false)];
    while let Some((node, expanded)) = stack.pop() {
        if expanded {
            order.push(node);
            continue;
        }
        if !seen.insert(node.id()) {
            continue;
        }
        stack.push((node.clone(), true));
        if let Some(op) = node.op() {
            for input in op.inputs() {
                if input.tracks() && !seen.contains(&input.id()) {
                    stack.push((input.clone(), false));
                }
            }
        }
    }
    order
}

/// The gradient for each input of `op`, given the gradient `g` of its output `out`.
fn input_gradients(op: &Op, out: &Tensor, g: &Tensor) -> Result<Vec<(Tensor, Tensor)>> {
    let one = |x: &Tensor, gx: Tensor| Ok(vec![(x.clone(), gx)]);
    match op {
        Op::Unary(x, u) => match unary_gradient(*u, x, out, g)? {
            Some(gx) => one(x, gx),
            None => Ok(vec![]),
        },
        Op::Binary(a, b, bop) => binary_gradients(*bop, a, b, out, g),
        Op::Where(cond, a, b) => {
            let zero = g.zeros_like();
            Ok(vec![
                (
                    a.clone(),
                    Tensor::where_cond(cond, g, &zero)?.sum_to(a.shape())?,
                ),
                (
                    b.clone(),
                    Tensor::where_cond(cond, &zero, g)?.sum_to(b.shape())?,
                ),
            ])
        }
        Op::Reduce(x, axis, rop) => {
            let gb = g.broadcast_as(x.shape())?;
            match rop {
                ReduceOp::Sum => one(x, gb),
                ReduceOp::Max | ReduceOp::Min => {
                    let mask = x.eq(&out.broadcast_as(x.shape())?)?;
                    let count = mask.sum_keepdim(*axis)?;
                    one(x, gb.mul(&mask)?.div(&count)?)
                }
            }
        }
        Op::Scan(x, axis, ScanOp::Sum) => {
            // Reverse cumulative sum: total − cumsum + g.
            let total = g.sum_keepdim(*axis)?;
            one(x, total.sub(&g.cumsum(*axis)?)?.add(g)?)
        }
        Op::Scan(x, axis, ScanOp::Prod) => one(x, cumprod_backward(x, g, *axis)?),
        Op::Matmul(a, b, d) => matmul_gradients(a, b, *d, g),
        Op::Reshape(x) | Op::Cast(x) => {
            let gx = g.reshape(x.shape().clone())?.to_dtype(x.dtype());
            one(x, gx)
        }
        Op::ToDevice(x) => one(x, g.to_device(x.device())?),
        Op::Permute(x, perm) => {
            let mut inverse = vec![0; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                inverse[p] = i;
            }
            one(x, g.permute(&inverse)?)
        }
        Op::BroadcastTo(x) => one(x, g.sum_to(x.shape())?),
        Op::Narrow(x, axis, start) => {
            let len = g.dim(*axis)?;
            let size = x.dim(*axis)?;
            let mut parts = Vec::new();
            if *start > 0 {
                parts.push(Tensor::zeros(
                    x.shape().with_dim(*axis, *start),
                    g.dtype(),
                    g.device(),
                ));
            }
            parts.push(g.clone());
            if start + len < size {
                parts.push(Tensor::zeros(
                    x.shape().with_dim(*axis, size - start - len),
                    g.dtype(),
                    g.device(),
                ));
            }
            one(x, Tensor::concat(&parts, *axis)?)
        }
        Op::Concat(xs, axis) => {
            let mut start = 0;
            let mut result = Vec::with_capacity(xs.len());
            for x in xs {
                let len = x.dim(*axis)?;
                // Untracked parts (the zeros of `pad_zeros`) need no slice of the gradient.
                if x.tracks() {
                    result.push((x.clone(), g.narrow(*axis, start, len)?));
                }
                start += len;
            }
            Ok(result)
        }
        Op::IndexSelect(x, axis, idx) => one(x, g.index_add(*axis, idx, x.dim(*axis)?)?),
        Op::IndexAdd(x, axis, idx) => one(x, g.index_select(*axis, idx)?),
        Op::Gather(x, axis, idx) => one(x, g.scatter_add(*axis, idx, x.shape())?),
        Op::ScatterAdd(x, axis, idx) => one(x, g.gather(*axis, idx, x.shape())?),
        Op::Conv2d(x, w, p) => {
            let gx = g.storage().conv2d_backward_input(w.storage(), *p)?;
            let gw = x.storage().conv2d_backward_weight(g.storage(), *p)?;
            Ok(vec![
                (x.clone(), Tensor::build(gx, x.shape().clone(), None, false)),
                (w.clone(), Tensor::build(gw, w.shape().clone(), None, false)),
            ])
        }
        Op::AvgPool2d(x, p) => {
            let gx = g.storage().avg_pool2d_backward(*p)?;
            one(x, Tensor::build(gx, x.shape().clone(), None, false))
        }
        Op::MaxPool2d(x, p) => {
            let gx = x.storage().max_pool2d_backward(g.storage(), *p)?;
            one(x, Tensor::build(gx, x.shape().clone(), None, false))
        }
        Op::BatchNorm {
            x,
            gamma,
            beta,
            mean,
            invstd,
            dims,
            leaky,
        } => {
            let (dx, dgamma, dbeta) = match leaky {
                None => x.storage().batch_norm_backward(
                    g.storage(),
                    gamma.storage(),
                    mean.storage(),
                    invstd.storage(),
                    *dims,
                )?,
                Some(eps_slope) => x.storage().batch_norm_leaky_backward(
                    g.storage(),
                    (gamma.storage(), beta.storage()),
                    (mean.storage(), invstd.storage()),
                    *dims,
                    *eps_slope,
                )?,
            };
            Ok(vec![
                (x.clone(), Tensor::build(dx, x.shape().clone(), None, false)),
                (
                    gamma.clone(),
                    Tensor::build(dgamma, gamma.shape().clone(), None, false),
                ),
                (
                    beta.clone(),
                    Tensor::build(dbeta, beta.shape().clone(), None, false),
                ),
            ])
        }
        Op::BatchNormConv2d(node) => node.gradients(g),
        Op::Custom(xs, custom) => {
            let grads = custom.backward(xs, out, g)?;
            if grads.len() != xs.len() {
                return Err(Error::Autodiff(format!(
                    "custom op {} returned {} gradients for {} inputs",
                    custom.name(),
                    grads.len(),
                    xs.len()
                )));
            }
            let mut result = Vec::new();
            for (x, gx) in xs.iter().zip(grads) {
                if let Some(gx) = gx {
                    gx.expect_shape(x.dims(), custom.name())?;
                    result.push((x.clone(), gx));
                }
            }
            Ok(result)
        }
    }
}

/// The gradient reaching `x` of a unary op (`g · d out / d x` elementwise), or `None` for
/// piecewise-constant ops.
fn unary_gradient(op: UnaryOp, x: &Tensor, out: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
    let d = match op {
        UnaryOp::Neg => x.full_like(-1.0),
        UnaryOp::Exp => out.clone(),
        UnaryOp::Log => x.recip()?,
        UnaryOp::Log1p => x.affine(1.0, 1.0)?.recip()?,
        UnaryOp::Sqrt => out.recip()?.affine(0.5, 0.0)?,
        UnaryOp::Abs => x.unary(UnaryOp::Sign)?,
        UnaryOp::Square => x.affine(2.0, 0.0)?,
        UnaryOp::Recip => out.square()?.neg()?,
        // σ'(x) = σ(x)·σ(−x): accurate in both tails, where 1 − σ(x) would cancel to 0.
        UnaryOp::Sigmoid => out.mul(&x.neg()?.sigmoid()?)?,
        UnaryOp::Tanh => out.square()?.affine(-1.0, 1.0)?,
        // ReLU and leaky ReLU: one fused pass instead of building the derivative and
        // multiplying by it.
        UnaryOp::Relu => return leaky_relu_gradient(x, g, 0.0).map(Some),
        UnaryOp::LeakyRelu(a) => return leaky_relu_gradient(x, g, a).map(Some),
        UnaryOp::Softplus => x.sigmoid()?,
        UnaryOp::LogSigmoid => x.neg()?.sigmoid()?,
        UnaryOp::Powf(p) => x.powf(p - 1.0)?.affine(p, 0.0)?,
        UnaryOp::Clamp(lo, hi) => x.unary(UnaryOp::InRange(lo, hi))?,
        UnaryOp::Affine(m, _) => x.full_like(m),
        UnaryOp::Sign
        | UnaryOp::Step
        | UnaryOp::LeakyStep(_)
        | UnaryOp::InRange(..)
        | UnaryOp::CmpScalar(..) => return Ok(None),
    };
    g.mul(&d).map(Some)
}

/// `g` where `x > 0`, else `slope · g`, in one backend pass.
fn leaky_relu_gradient(x: &Tensor, g: &Tensor, slope: f64) -> Result<Tensor> {
    let gx = x
        .storage()
        .leaky_relu_backward(g.storage(), x.shape(), slope)?;
    Ok(Tensor::build(gx, x.shape().clone(), None, false))
}

fn binary_gradients(
    op: BinaryOp,
    a: &Tensor,
    b: &Tensor,
    out: &Tensor,
    g: &Tensor,
) -> Result<Vec<(Tensor, Tensor)>> {
    let (ga, gb) = match op {
        BinaryOp::Add => (g.clone(), g.clone()),
        BinaryOp::Sub => (g.clone(), g.neg()?),
        BinaryOp::Mul => (g.mul(b)?, g.mul(a)?),
        BinaryOp::Div => (g.div(b)?, g.mul(out)?.div(b)?.neg()?),
        BinaryOp::Maximum | BinaryOp::Minimum => {
            let cmp = if op == BinaryOp::Maximum {
                CmpOp::Ge
            } else {
                CmpOp::Le
            };
            let mask = a.binary(b, BinaryOp::Cmp(cmp))?;
            (g.mul(&mask)?, g.mul(&mask.affine(-1.0, 1.0)?)?)
        }
        BinaryOp::Pow => {
            // d/da a^b = b a^(b−1); d/db a^b = a^b ln a (taken as 0 where a ≤ 0).
            let da = b.mul(&a.binary(&b.affine(1.0, -1.0)?, BinaryOp::Pow)?)?;
            let positive = a.gt_scalar(0.0)?;
            let safe_a = Tensor::where_cond(&positive, a, &a.ones_like())?;
            let db = out.mul(&safe_a.log()?)?.mul(&positive)?;
            (g.mul(&da)?, g.mul(&db)?)
        }
        BinaryOp::Cmp(_) => return Ok(vec![]),
    };
    Ok(vec![
        (a.clone(), ga.sum_to(a.shape())?),
        (b.clone(), gb.sum_to(b.shape())?),
    ])
}

fn matmul_gradients(
    a: &Tensor,
    b: &Tensor,
    d: MatmulDims,
    g: &Tensor,
) -> Result<Vec<(Tensor, Tensor)>> {
    let MatmulDims { batch, m, k, n, .. } = d;
    let dev = g.storage();
    // dA[b] = dC[b] · B[b]ᵀ
    let ga = if d.lhs_batched || batch == 1 {
        let s = dev.matmul(
            b.storage(),
            MatmulDims {
                rhs_transposed: true,
                k: n,
                n: k,
                ..d
            },
        )?;
        Tensor::build(s, a.shape().clone(), None, false)
    } else {
        let s = dev.matmul(
            b.storage(),
            MatmulDims {
                rhs_transposed: true,
                k: n,
                n: k,
                lhs_batched: true,
                ..d
            },
        )?;
        Tensor::build(s, Shape::new([batch, m, k]), None, false)
            .sum(0)?
            .reshape(a.shape().clone())?
    };
    // dB[b] = A[b]ᵀ · dC[b]; a shared B sums over the batch, which is one product of the
    // batch-flattened matrices.
    let gb = if d.rhs_batched || batch == 1 {
        let s = a.storage().matmul(
            dev,
            MatmulDims {
                lhs_transposed: true,
                m: k,
                k: m,
                ..d
            },
        )?;
        Tensor::build(s, b.shape().clone(), None, false)
    } else if d.lhs_batched {
        let s = a.storage().matmul(
            dev,
            MatmulDims {
                batch: 1,
                m: k,
                k: batch * m,
                n,
                lhs_batched: false,
                rhs_batched: false,
                lhs_transposed: true,
                rhs_transposed: false,
            },
        )?;
        Tensor::build(s, b.shape().clone(), None, false)
    } else {
        return Err(Error::Autodiff(
            "matmul with neither operand batched but batch > 1".into(),
        ));
    };
    Ok(vec![(a.clone(), ga), (b.clone(), gb)])
}

/// Gradient of an inclusive cumulative product, exact even where some factors are zero:
/// `dx_j = Σ_{i ≥ j} g_i · Π_{k ≤ i, k ≠ j} x_k`. Computed on the host in `f64`; the
/// scanned axes in `pact` are short (units of a block), so the `O(n²)` rule is cheap.
fn cumprod_backward(x: &Tensor, g: &Tensor, axis: usize) -> Result<Tensor> {
    let (outer, n, inner) = x.shape().split_at_axis(axis);
    let xs = x.to_f64_vec();
    let gs = g.to_f64_vec();
    let mut dx = vec![0.0; xs.len()];
    let at = |o: usize, j: usize, i: usize| (o * n + j) * inner + i;
    for o in 0..outer {
        for i in 0..inner {
            let mut prefix = 1.0; // Π_{k < j} x_k
            for j in 0..n {
                let mut acc = 0.0;
                let mut running = prefix; // Π_{k ≤ l, k ≠ j} x_k for l = j, j+1, …
                for l in j..n {
                    if l > j {
                        running *= xs[at(o, l, i)];
                    }
                    acc += gs[at(o, l, i)] * running;
                }
                dx[at(o, j, i)] = acc;
                prefix *= xs[at(o, j, i)];
            }
        }
    }
    Tensor::from_f64_slice(&dx, x.shape().clone(), x.dtype(), x.device())
}
