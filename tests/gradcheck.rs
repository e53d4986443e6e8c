//! Every differentiable op checked against central finite differences in `f64`.
//!
//! Each check differentiates a random projection `Σ r ⊙ f(x)` of the op's output (see
//! `common::check_grad`); tolerances: `|autodiff − fd| ≤ 1e-7 + 1e-6·max(|autodiff|, |fd|)`
//! with step `h = 2⁻¹⁷`. Inputs keep away from kinks (0 for relu/abs, ties for max/min,
//! the bounds of clamp) so that finite differences are meaningful.

mod common;

use common::{check_grad, check_grad_tol, check_grad_with, input, Gen, Input, Tol, DEV, TOL};
use pact::autodiff::CustomOp;
use pact::{DType, Result, Shape, Tensor};
use proptest::prelude::*;
use std::sync::Arc;

type Op1 = fn(&Tensor) -> Result<Tensor>;
type Op2 = fn(&Tensor, &Tensor) -> Result<Tensor>;
type BoxedOp1 = Box<dyn Fn(&Tensor) -> Result<Tensor>>;

/// Where the inputs of a unary op are drawn from.
#[derive(Clone, Copy)]
enum Domain {
    /// Uniform on an interval.
    Range(f64, f64),
    /// Magnitude in an interval, either sign.
    AwayFromZero(f64, f64),
    /// Uniform on an interval, nudged away from the given kinks.
    Avoiding(f64, f64, [f64; 2]),
}

impl Domain {
    fn draw(self, g: &mut Gen, n: usize) -> Vec<f64> {
        match self {
            Domain::Range(lo, hi) => g.vec(n, lo, hi),
            Domain::AwayFromZero(lo, hi) => g.away_from_zero(n, lo, hi),
            Domain::Avoiding(lo, hi, kinks) => g
                .vec(n, lo, hi)
                .into_iter()
                .map(|mut v| {
                    for k in kinks {
                        if (v - k).abs() < 0.05 {
                            v = k + 0.1 * (v - k).signum();
                        }
                    }
                    v
                })
                .collect(),
        }
    }
}

fn unary_ops() -> Vec<(&'static str, Op1, Domain)> {
    use Domain::*;
    vec![
        ("neg", |x| x.neg(), Range(-2.0, 2.0)),
        ("exp", |x| x.exp(), Range(-2.0, 2.0)),
        ("log", |x| x.log(), Range(0.2, 3.0)),
        ("log1p", |x| x.log1p(), Range(-0.7, 2.0)),
        ("sqrt", |x| x.sqrt(), Range(0.2, 3.0)),
        ("abs", |x| x.abs(), AwayFromZero(0.05, 2.0)),
        ("square", |x| x.square(), Range(-2.0, 2.0)),
        ("recip", |x| x.recip(), AwayFromZero(0.3, 2.0)),
        ("sigmoid", |x| x.sigmoid(), Range(-6.0, 6.0)),
        ("tanh", |x| x.tanh(), Range(-3.0, 3.0)),
        ("relu", |x| x.relu(), AwayFromZero(0.05, 2.0)),
        ("leaky_relu", |x| x.leaky_relu(0.1), AwayFromZero(0.05, 2.0)),
        ("softplus", |x| x.softplus(), Range(-8.0, 8.0)),
        ("log_sigmoid", |x| x.log_sigmoid(), Range(-8.0, 8.0)),
        ("powf 2.5", |x| x.powf(2.5), Range(0.2, 2.0)),
        ("powf -1.5", |x| x.powf(-1.5), Range(0.3, 2.0)),
        ("powf 3", |x| x.powf(3.0), Range(-2.0, 2.0)),
        (
            "clamp",
            |x| x.clamp(-0.5, 0.7),
            Avoiding(-1.5, 1.5, [-0.5, 0.7]),
        ),
        ("affine", |x| x.affine(2.5, -1.0), Range(-2.0, 2.0)),
        ("add_scalar", |x| x.add_scalar(0.75), Range(-2.0, 2.0)),
        ("mul_scalar", |x| x.mul_scalar(-1.25), Range(-2.0, 2.0)),
        // sign and comparisons carry no gradient: only the second factor does.
        ("sign · x", |x| x.sign()?.mul(x), AwayFromZero(0.05, 2.0)),
        (
            "[x > 0.3] · x",
            |x| x.gt_scalar(0.3)?.mul(x),
            Avoiding(-1.0, 1.0, [0.3, 0.3]),
        ),
    ]
}

/// A rank-1 to rank-3 shape with small dimensions.
fn small_shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..=4, 1..=3)
}

/// Two shapes that broadcast together, derived from an output shape: each operand drops
/// some leading axes and sets some others to 1.
fn broadcast_pair(out: &[usize], g: &mut Gen) -> (Vec<usize>, Vec<usize>) {
    let operand = |g: &mut Gen| -> Vec<usize> {
        let drop = g.below(out.len() + 1);
        out[drop..]
            .iter()
            .map(|&d| if g.below(3) == 0 { 1 } else { d })
            .collect()
    };
    (operand(g), operand(g))
}

fn fail(name: &str, e: String) -> TestCaseError {
    TestCaseError::fail(format!("{name}: {e}"))
}

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn unary_ops_match_finite_differences(shape in small_shape(), seed in any::<u64>()) {
        let mut g = Gen::new(seed);
        for (name, op, domain) in unary_ops() {
            let x = input(domain.draw(&mut g, numel(&shape)), &shape);
            check_grad(|v| op(&v[0]), &[x]).map_err(|e| fail(name, e))?;
        }
    }

    #[test]
    fn binary_ops_broadcast_both_ways(out in small_shape(), seed in any::<u64>()) {
        let mut g = Gen::new(seed);
        let (sa, sb) = broadcast_pair(&out, &mut g);
        for (name, op, a, b) in binary_cases(&mut g, &sa, &sb) {
            check_grad(|v| op(&v[0], &v[1]), &[a.clone(), b.clone()])
                .map_err(|e| fail(&format!("{name} {sa:?} {sb:?}"), e))?;
            // And with the operands' shapes swapped.
            check_grad(|v| op(&v[1], &v[0]), &[b, a])
                .map_err(|e| fail(&format!("{name} swapped {sb:?} {sa:?}"), e))?;
        }
    }

    #[test]
    fn where_cond_broadcasts(out in small_shape(), seed in any::<u64>()) {
        let mut g = Gen::new(seed);
        let (sa, sb) = broadcast_pair(&out, &mut g);
        let (sc, _) = broadcast_pair(&out, &mut g);
        // Non-zero values other than 1 also count as true.
        let cond: Vec<f64> = (0..numel(&sc)).map(|_| [0.0, 1.0, -2.0][g.below(3)]).collect();
        let cond = Tensor::from_f64_slice(&cond, sc.clone(), DType::F64, DEV).unwrap();
        let a = input(g.vec(numel(&sa), -2.0, 2.0), &sa);
        let b = input(g.vec(numel(&sb), -2.0, 2.0), &sb);
        check_grad(|v| Tensor::where_cond(&cond, &v[0], &v[1]), &[a, b])
            .map_err(|e| fail("where_cond", e))?;
    }

    #[test]
    fn reductions_and_scans_along_any_axis(shape in small_shape(), seed in any::<u64>()) {
        let mut g = Gen::new(seed);
        let n = numel(&shape);
        for axis in 0..shape.len() {
            let plain = input(g.vec(n, -2.0, 2.0), &shape);
            let distinct = input(g.distinct(n, 0.1), &shape);
            let cases: Vec<(&str, BoxedOp1, &Input)> = vec![
                ("sum", Box::new(move |x| x.sum(axis)), &plain),
                ("sum_keepdim", Box::new(move |x| x.sum_keepdim(axis)), &plain),
                ("mean", Box::new(move |x| x.mean(axis)), &plain),
                ("mean_keepdim", Box::new(move |x| x.mean_keepdim(axis)), &plain),
                ("max", Box::new(move |x| x.max(axis)), &distinct),
                ("max_keepdim", Box::new(move |x| x.max_keepdim(axis)), &distinct),
                ("min", Box::new(move |x| x.min(axis)), &distinct),
                ("min_keepdim", Box::new(move |x| x.min_keepdim(axis)), &distinct),
                ("logsumexp", Box::new(move |x| x.logsumexp(axis)), &plain),
                ("logsumexp_keepdim", Box::new(move |x| x.logsumexp_keepdim(axis)), &plain),
                ("softmax", Box::new(move |x| x.softmax(axis)), &plain),
                ("log_softmax", Box::new(move |x| x.log_softmax(axis)), &plain),
                ("cumsum", Box::new(move |x| x.cumsum(axis)), &plain),
                ("cumprod", Box::new(move |x| x.cumprod(axis)), &plain),
            ];
            for (name, f, x) in cases {
                check_grad(|v| f(&v[0]), std::slice::from_ref(x))
                    .map_err(|e| fail(&format!("{name} axis {axis} of {shape:?}"), e))?;
            }
        }
        let x = input(g.vec(n, -2.0, 2.0), &shape);
        check_grad(|v| v[0].sum_all(), std::slice::from_ref(&x)).map_err(|e| fail("sum_all", e))?;
        check_grad(|v| v[0].mean_all(), &[x]).map_err(|e| fail("mean_all", e))?;
    }

    #[test]
    fn cumprod_is_exact_with_zero_factors(len in 2usize..=5, rows in 1usize..=3, seed in any::<u64>()) {
        let mut g = Gen::new(seed);
        let mut data = g.vec(rows * len, -2.0, 2.0);
        // One or two zeros per row, at random positions.
        for r in 0..rows {
            for _ in 0..=g.below(2) {
                data[r * len + g.below(len)] = 0.0;
            }
        }
        let x = input(data.clone(), &[rows, len]);
        check_grad(|v| v[0].cumprod(1), &[x]).map_err(|e| fail("cumprod rows", e))?;
        // The same along the leading axis.
        let x = input(data, &[len, rows]);
        check_grad(|v| v[0].cumprod(0), &[x]).map_err(|e| fail("cumprod columns", e))?;
    }

    #[test]
    fn matmul_in_every_batching(m in 1usize..=3, k in 1usize..=3, n in 1usize..=3,
                                batch in 1usize..=3, seed in any::<u64>()) {
        let mut g = Gen::new(seed);
        let shapes: [(&str, Vec<usize>, Vec<usize>); 5] = [
            ("2-D", vec![m, k], vec![k, n]),
            ("batched", vec![batch, m, k], vec![batch, k, n]),
            ("shared lhs", vec![m, k], vec![batch, k, n]),
            ("shared rhs", vec![batch, m, k], vec![k, n]),
            ("rank-4 batch, shared rhs", vec![2, batch, m, k], vec![k, n]),
        ];
        for (name, sa, sb) in shapes {
            let a = input(g.vec(numel(&sa), -1.5, 1.5), &sa);
            let b = input(g.vec(numel(&sb), -1.5, 1.5), &sb);
            check_grad(|v| v[0].matmul(&v[1]), &[a, b])
                .map_err(|e| fail(&format!("matmul {name} {sa:?}·{sb:?}"), e))?;
        }
    }

    #[test]
    fn permute_and_transpose(shape in prop::collection::vec(1usize..=3, 3..=3), seed in any::<u64>()) {
        let mut g = Gen::new(seed);
        let x = input(g.vec(numel(&shape), -1.0, 1.0), &shape);
        for perm in [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]] {
            check_grad(|v| v[0].permute(&perm), std::slice::from_ref(&x))
                .map_err(|e| fail(&format!("permute {perm:?}"), e))?;
        }
        check_grad(|v| v[0].transpose(0, 2), &[x]).map_err(|e| fail("transpose", e))?;
    }
}

fn binary_cases(g: &mut Gen, sa: &[usize], sb: &[usize]) -> Vec<(&'static str, Op2, Input, Input)> {
    let (na, nb) = (numel(sa), numel(sb));
    // Values on two interleaved grids, at least 0.4 apart: no ties for maximum/minimum.
    let grid = |g: &mut Gen, n: usize, offset: f64| -> Vec<f64> {
        (0..n)
            .map(|_| (g.below(7) as f64 - 3.0) + offset + g.uniform(-0.05, 0.05))
            .collect()
    };
    let any = |g: &mut Gen, n| g.vec(n, -2.0, 2.0);
    vec![
        (
            "add",
            |a, b| a.add(b),
            input(any(g, na), sa),
            input(any(g, nb), sb),
        ),
        (
            "sub",
            |a, b| a.sub(b),
            input(any(g, na), sa),
            input(any(g, nb), sb),
        ),
        (
            "mul",
            |a, b| a.mul(b),
            input(any(g, na), sa),
            input(any(g, nb), sb),
        ),
        (
            "div",
            |a, b| a.div(b),
            input(g.away_from_zero(na, 0.5, 2.0), sa),
            input(g.away_from_zero(nb, 0.5, 2.0), sb),
        ),
        (
            "maximum",
            |a, b| a.maximum(b),
            input(grid(g, na, 0.25), sa),
            input(grid(g, nb, 0.75), sb),
        ),
        (
            "minimum",
            |a, b| a.minimum(b),
            input(grid(g, na, 0.25), sa),
            input(grid(g, nb, 0.75), sb),
        ),
        (
            "pow",
            |a, b| a.pow(b),
            input(g.vec(na, 0.3, 2.0), sa),
            input(g.vec(nb, -2.0, 2.0), sb),
        ),
    ]
}

#[test]
fn binary_ops_on_fixed_broadcast_patterns() {
    let mut g = Gen::new(11);
    let pairs: [(&[usize], &[usize]); 8] = [
        (&[2, 3], &[3]),
        (&[3], &[2, 3]),
        (&[2, 1], &[1, 3]),
        (&[2, 3, 4], &[3, 1]),
        (&[1, 3, 1], &[2, 1, 4]),
        (&[], &[2, 3]),
        (&[2, 3], &[]),
        (&[2, 3], &[2, 3]),
    ];
    for (sa, sb) in pairs {
        for (name, op, a, b) in binary_cases(&mut g, sa, sb) {
            check_grad(|v| op(&v[0], &v[1]), &[a, b])
                .unwrap_or_else(|e| panic!("{name} {sa:?} {sb:?}: {e}"));
        }
    }
}

#[test]
fn pow_is_differentiable_in_both_operands_with_integer_exponents() {
    // Negative bases with integer exponents: d/da is defined, d/db is taken as 0 (a^b ln a is
    // not real), so only the base is checked.
    let a = input(vec![-1.5, -0.5, 0.7, 1.3], &[4]);
    let b = t_const(&[2.0, 3.0, 2.0, -1.0], &[4]);
    check_grad(|v| v[0].pow(&b), &[a]).unwrap();
}

fn t_const(data: &[f64], shape: &[usize]) -> Tensor {
    common::t64(data, shape)
}

#[test]
fn matmul_with_batch_of_one() {
    let mut g = Gen::new(3);
    let cases: [(&[usize], &[usize]); 3] = [
        (&[1, 2, 3], &[3, 2]),
        (&[2, 3], &[1, 3, 4]),
        (&[1, 2, 3], &[1, 3, 1]),
    ];
    for (sa, sb) in cases {
        let a = input(g.vec(numel(sa), -1.0, 1.0), sa);
        let b = input(g.vec(numel(sb), -1.0, 1.0), sb);
        check_grad(|v| v[0].matmul(&v[1]), &[a, b])
            .unwrap_or_else(|e| panic!("{sa:?}·{sb:?}: {e}"));
    }
}

#[test]
fn reshape_family() {
    let mut g = Gen::new(4);
    let x = input(g.vec(12, -1.0, 1.0), &[2, 3, 2]);
    let fs: [(&str, Op1); 6] = [
        ("reshape", |x| x.reshape([3, 4])),
        ("flatten_all", |x| x.flatten_all()),
        ("flatten_from", |x| x.flatten_from(1)),
        ("unsqueeze", |x| x.unsqueeze(1)),
        ("squeeze", |x| x.unsqueeze(3)?.squeeze(3)?.mul(x)),
        ("reshape then op", |x| {
            x.reshape([6, 2])?.exp()?.reshape([12])
        }),
    ];
    for (name, f) in fs {
        check_grad(|v| f(&v[0]), std::slice::from_ref(&x))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn broadcast_as_and_sum_to() {
    let mut g = Gen::new(5);
    let cases: [(&[usize], &[usize]); 5] = [
        (&[3, 1], &[2, 3, 4]),
        (&[], &[2, 2]),
        (&[1], &[3]),
        (&[2, 1, 3], &[2, 4, 3]),
        (&[4], &[2, 3, 4]),
    ];
    for (from, to) in cases {
        let x = input(g.vec(numel(from), -1.0, 1.0), from);
        let target = Shape::new(to);
        check_grad(|v| v[0].broadcast_as(&target), &[x])
            .unwrap_or_else(|e| panic!("broadcast {from:?} → {to:?}: {e}"));
        // sum_to is the adjoint: differentiable the other way.
        let y = input(g.vec(numel(to), -1.0, 1.0), to);
        let back = Shape::new(from);
        check_grad(|v| v[0].sum_to(&back), &[y])
            .unwrap_or_else(|e| panic!("sum_to {to:?} → {from:?}: {e}"));
    }
}

#[test]
fn narrow_concat_stack_pad() {
    let mut g = Gen::new(6);
    let x = input(g.vec(24, -1.0, 1.0), &[2, 3, 4]);
    for (axis, start, len) in [
        (0, 1, 1),
        (1, 0, 2),
        (1, 1, 2),
        (2, 1, 3),
        (2, 3, 1),
        (2, 0, 4),
    ] {
        check_grad(|v| v[0].narrow(axis, start, len), std::slice::from_ref(&x))
            .unwrap_or_else(|e| panic!("narrow({axis}, {start}, {len}): {e}"));
    }
    for axis in 0..3 {
        let mut a_shape = vec![2, 3, 2];
        let mut b_shape = a_shape.clone();
        let mut c_shape = a_shape.clone();
        a_shape[axis] = 1;
        b_shape[axis] = 3;
        c_shape[axis] = 2;
        let a = input(g.vec(numel(&a_shape), -1.0, 1.0), &a_shape);
        let b = input(g.vec(numel(&b_shape), -1.0, 1.0), &b_shape);
        let c = input(g.vec(numel(&c_shape), -1.0, 1.0), &c_shape);
        check_grad(|v| Tensor::concat(v, axis), &[a, b, c.clone()])
            .unwrap_or_else(|e| panic!("concat axis {axis}: {e}"));
        // A constant part among tracked ones.
        let k = common::t64(&g.vec(numel(&c_shape), -1.0, 1.0), &c_shape);
        check_grad(
            |v| Tensor::concat(&[v[0].clone(), k.clone(), v[0].exp()?], axis),
            &[c],
        )
        .unwrap_or_else(|e| panic!("concat with a constant, axis {axis}: {e}"));
    }
    for axis in 0..=2 {
        let a = input(g.vec(6, -1.0, 1.0), &[2, 3]);
        let b = input(g.vec(6, -1.0, 1.0), &[2, 3]);
        check_grad(|v| Tensor::stack(v, axis), &[a, b])
            .unwrap_or_else(|e| panic!("stack {axis}: {e}"));
    }
    for (axis, before, after) in [(0, 1, 0), (1, 0, 2), (2, 1, 1)] {
        check_grad(
            |v| v[0].pad_zeros(axis, before, after),
            std::slice::from_ref(&x),
        )
        .unwrap_or_else(|e| panic!("pad_zeros({axis}, {before}, {after}): {e}"));
    }
}

#[test]
fn index_select_and_index_add_with_repeats() {
    let mut g = Gen::new(7);
    let x = input(g.vec(24, -1.0, 1.0), &[2, 3, 4]);
    for (axis, idx) in [
        (0, vec![1, 0, 1, 1]),
        (1, vec![2, 2, 0]),
        (2, vec![3, 0, 3, 1, 3]),
        (1, vec![]),
    ] {
        check_grad(|v| v[0].index_select(axis, &idx), std::slice::from_ref(&x))
            .unwrap_or_else(|e| panic!("index_select({axis}, {idx:?}): {e}"));
    }
    // index_add: 4 slices into 3 entries, entry 1 hit twice, entry 2 never.
    let y = input(g.vec(16, -1.0, 1.0), &[2, 4, 2]);
    check_grad(|v| v[0].index_add(1, &[1, 0, 1, 0], 3), &[y])
        .unwrap_or_else(|e| panic!("index_add: {e}"));
    let z = input(g.vec(6, -1.0, 1.0), &[3, 2]);
    check_grad(|v| v[0].index_add(0, &[4, 4, 0], 5)?.exp(), &[z])
        .unwrap_or_else(|e| panic!("index_add axis 0: {e}"));
}

#[test]
fn gather_and_scatter_add_with_collisions() {
    let mut g = Gen::new(8);
    let x = input(g.vec(12, -1.0, 1.0), &[3, 4]);
    // Along axis 1: 3 rows, 5 picks each (repeats).
    let idx1: Vec<usize> = g.indices(15, 4);
    let sh1 = Shape::new([3, 5]);
    check_grad(|v| v[0].gather(1, &idx1, &sh1), std::slice::from_ref(&x)).unwrap();
    // Along axis 0: 2 picks per column.
    let idx0: Vec<usize> = g.indices(8, 3);
    let sh0 = Shape::new([2, 4]);
    check_grad(|v| v[0].gather(0, &idx0, &sh0), std::slice::from_ref(&x)).unwrap();
    // scatter_add: src shaped like the index, collisions accumulate.
    let src = input(g.vec(15, -1.0, 1.0), &[3, 5]);
    let out = Shape::new([3, 4]);
    check_grad(|v| v[0].scatter_add(1, &idx1, &out), &[src]).unwrap();
    let src0 = input(g.vec(8, -1.0, 1.0), &[2, 4]);
    check_grad(|v| v[0].scatter_add(0, &idx0, &out)?.square(), &[src0]).unwrap();
    // Rank 3, middle axis.
    let x3 = input(g.vec(24, -1.0, 1.0), &[2, 3, 4]);
    let idx: Vec<usize> = g.indices(16, 3);
    let sh = Shape::new([2, 2, 4]);
    check_grad(|v| v[0].gather(1, &idx, &sh), &[x3]).unwrap();
}

/// `(batch, c_in, h, w, c_out, k_h, k_w, stride, padding, bias)`
type ConvCase = (
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    bool,
);

#[test]
fn conv2d_input_weight_and_bias() {
    let cases: [ConvCase; 9] = [
        (1, 1, 4, 5, 2, 3, 3, 1, 0, false),
        (2, 2, 5, 4, 3, 3, 3, 1, 1, true),
        (1, 2, 6, 5, 2, 3, 3, 2, 1, true),
        (3, 1, 5, 5, 2, 2, 2, 2, 0, false),
        (2, 3, 3, 4, 2, 1, 1, 1, 0, true),
        (1, 2, 5, 4, 3, 1, 1, 2, 0, false),
        (1, 2, 4, 4, 2, 1, 1, 1, 1, true),
        (1, 1, 3, 3, 1, 3, 3, 1, 1, true),
        (2, 2, 4, 5, 2, 2, 3, 2, 1, false),
    ];
    let mut g = Gen::new(9);
    for (b, ci, h, w, co, kh, kw, stride, pad, bias) in cases {
        let x = input(g.vec(b * ci * h * w, -1.0, 1.0), &[b, ci, h, w]);
        let wt = input(g.vec(co * ci * kh * kw, -1.0, 1.0), &[co, ci, kh, kw]);
        let case = format!(
            "conv2d x {:?} w {:?} stride {stride} padding {pad}",
            x.shape, wt.shape
        );
        if bias {
            let bs = input(g.vec(co, -1.0, 1.0), &[co]);
            check_grad(
                |v| v[0].conv2d(&v[1], Some(&v[2]), stride, pad),
                &[x, wt, bs],
            )
        } else {
            check_grad(|v| v[0].conv2d(&v[1], None, stride, pad), &[x, wt])
        }
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    }
}

#[test]
fn pooling() {
    let mut g = Gen::new(10);
    for (shape, kernel, stride) in [
        ([1, 1, 4, 4], 2, 2),
        ([2, 2, 5, 4], 3, 1),
        ([1, 2, 4, 5], 2, 1),
        ([3, 1, 5, 6], 3, 2),
    ] {
        let n = numel(&shape);
        let x = input(g.vec(n, -1.0, 1.0), &shape);
        check_grad(|v| v[0].avg_pool2d(kernel, stride), &[x])
            .unwrap_or_else(|e| panic!("avg_pool2d {shape:?} k{kernel} s{stride}: {e}"));
        let x = input(g.distinct(n, 0.05), &shape);
        check_grad(|v| v[0].max_pool2d(kernel, stride), &[x])
            .unwrap_or_else(|e| panic!("max_pool2d {shape:?} k{kernel} s{stride}: {e}"));
    }
    let x = input(g.vec(2 * 3 * 3 * 2, -1.0, 1.0), &[2, 3, 3, 2]);
    check_grad(|v| v[0].global_avg_pool2d(), &[x]).unwrap();
}

#[test]
fn batch_norm_train_in_x_gamma_and_beta() {
    let mut g = Gen::new(12);
    for shape in [vec![4, 3], vec![2, 3, 2, 2], vec![1, 2, 3, 3], vec![5, 1]] {
        let c = shape[1];
        let x = input(g.vec(numel(&shape), -2.0, 2.0), &shape);
        let gamma = input(g.vec(c, 0.5, 1.5), &[c]);
        let beta = input(g.vec(c, -0.5, 0.5), &[c]);
        check_grad(
            |v| Ok(v[0].batch_norm_train(&v[1], &v[2], 1e-3)?.0),
            &[x, gamma, beta],
        )
        .unwrap_or_else(|e| panic!("batch_norm {shape:?}: {e}"));
    }
}

#[test]
fn batch_norm_with_fused_leaky_relu_in_x_gamma_and_beta() {
    let mut g = Gen::new(14);
    for shape in [vec![4, 3], vec![2, 3, 2, 2], vec![1, 2, 3, 3]] {
        let c = shape[1];
        let x = input(g.vec(numel(&shape), -2.0, 2.0), &shape);
        // β away from 0 so that few normalised values sit near the kink.
        let gamma = input(g.vec(c, 0.5, 1.5), &[c]);
        let beta = input(g.vec(c, 0.2, 0.6), &[c]);
        check_grad(
            |v| Ok(v[0].batch_norm_train_leaky_relu(&v[1], &v[2], 1e-3, 0.1)?.0),
            &[x, gamma, beta],
        )
        .unwrap_or_else(|e| panic!("batch_norm + leaky_relu {shape:?}: {e}"));
    }
}

/// In `f64` the fused op is the two ops; its `f32` path (the direct kernels, the normalised
/// activations never stored) equals them bit for bit, gradients included (`tests/norm_conv.rs`).
#[test]
fn batch_norm_leaky_relu_and_convolution_as_one_op() {
    let mut g = Gen::new(15);
    for (shape, c_out, stride) in [([2, 3, 4, 5], 2, 1), ([3, 2, 4, 4], 3, 2)] {
        let c = shape[1];
        let x = input(g.vec(numel(&shape), -2.0, 2.0), &shape);
        let gamma = input(g.vec(c, 0.5, 1.5), &[c]);
        let beta = input(g.vec(c, 0.2, 0.6), &[c]);
        let w = input(g.vec(c_out * c * 9, -1.0, 1.0), &[c_out, c, 3, 3]);
        check_grad(
            |v| {
                let (y, _, _) = v[0].batch_norm_train_leaky_relu_conv2d(
                    &v[1], &v[2], 1e-3, 0.1, &v[3], stride, 1,
                )?;
                Ok(y)
            },
            &[x, gamma, beta, w],
        )
        .unwrap_or_else(|e| panic!("batch_norm + leaky_relu + conv2d {shape:?}: {e}"));
    }
}

/// The weighted sum of a block's states (one fused op on the CPU for weights `[B, L]`), in the
/// states and the weights, for states of rank 1 to 4.
#[test]
fn weighted_states_in_the_states_and_the_weights() {
    let mut g = Gen::new(16);
    for shape in [vec![3], vec![2, 5], vec![3, 2, 2, 3]] {
        let steps = 3;
        let mut inputs: Vec<Input> = (0..steps)
            .map(|_| input(g.vec(numel(&shape), -2.0, 2.0), &shape))
            .collect();
        inputs.push(input(g.vec(shape[0] * steps, 0.0, 1.0), &[shape[0], steps]));
        check_grad(
            |v| pact::ppl::weighted_states(&v[..steps], &v[steps]),
            &inputs,
        )
        .unwrap_or_else(|e| panic!("weighted_states {shape:?}: {e}"));
    }
}

#[test]
fn softmax_family_and_cross_entropy() {
    let mut g = Gen::new(13);
    let x = input(g.vec(24, -3.0, 3.0), &[2, 3, 4]);
    for axis in 0..3 {
        check_grad(|v| v[0].softmax(axis), std::slice::from_ref(&x)).unwrap();
        check_grad(|v| v[0].log_softmax(axis), std::slice::from_ref(&x)).unwrap();
    }
    let logits = input(g.vec(15, -3.0, 3.0), &[3, 5]);
    let labels = [4, 0, 4];
    check_grad(
        |v| v[0].cross_entropy(&labels),
        std::slice::from_ref(&logits),
    )
    .unwrap();
    check_grad(|v| v[0].nll_per_example(&labels), &[logits]).unwrap();
    // Large logits: still stable.
    let big = input(g.vec(8, -60.0, 60.0), &[2, 4]);
    check_grad(|v| v[0].cross_entropy(&[1, 3]), &[big]).unwrap();
}

#[test]
fn to_dtype_round_trip_through_f32() {
    // Dyadic values and step: x ± h and 3·(x ± h) are exact in f32, so the finite difference is
    // exact; the f32 gradient rounds the projection weights (relative error ≤ 6e-8).
    let mut g = Gen::new(14);
    let data: Vec<f64> = (0..6).map(|_| g.below(129) as f64 / 64.0 - 1.0).collect();
    let x = input(data, &[2, 3]);
    check_grad(
        |v| {
            Ok(v[0]
                .to_dtype(DType::F32)
                .mul_scalar(3.0)?
                .to_dtype(DType::F64))
        },
        &[x],
    )
    .unwrap();
}

#[test]
fn straight_through_takes_the_surrogate_gradient() {
    let mut g = Gen::new(15);
    let x = input(g.away_from_zero(6, 0.1, 2.0), &[2, 3]);
    let hard = |v: &[Tensor]| v[0].gt_scalar(0.0);
    let soft = |v: &[Tensor]| v[0].mul_scalar(2.0)?.sigmoid();
    let st = |v: &[Tensor]| Tensor::straight_through(&hard(v)?, &soft(v)?);
    // Forward: the hard value.
    let xv = Tensor::var_from_f64(&x.data, x.shape.clone(), DEV).unwrap();
    let y = st(std::slice::from_ref(&xv)).unwrap();
    let want: Vec<f64> = x.data.iter().map(|&v| f64::from(v > 0.0)).collect();
    common::assert_close(
        &y.to_f64_vec(),
        &want,
        0.0,
        1e-15,
        "straight-through forward",
    );
    // Backward: the gradient of the soft value.
    check_grad_with(&st, &soft, &[x], TOL).unwrap();
}

/// `a · exp(b)`, with its gradient written by hand.
struct MulExp;

impl CustomOp for MulExp {
    fn name(&self) -> &'static str {
        "mul_exp"
    }
    fn forward(&self, inputs: &[Tensor]) -> Result<Tensor> {
        inputs[0].mul(&inputs[1].exp()?)
    }
    fn backward(
        &self,
        inputs: &[Tensor],
        out: &Tensor,
        grad: &Tensor,
    ) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![
            Some(grad.mul(&inputs[1].exp()?)?),
            Some(grad.mul(out)?),
        ])
    }
}

#[test]
fn apply_custom_routes_gradients_to_its_inputs() {
    let mut g = Gen::new(16);
    let a = input(g.vec(6, -1.0, 1.0), &[2, 3]);
    let b = input(g.vec(6, -1.0, 1.0), &[2, 3]);
    // The custom op inside a larger graph, with one input used twice.
    check_grad(
        |v| {
            let y = Tensor::apply_custom(Arc::new(MulExp), &[v[0].clone(), v[1].clone()])?;
            y.mul(&v[0])?.add(&v[1].square()?)
        },
        &[a, b],
    )
    .unwrap();
}

#[test]
fn shared_subgraphs_accumulate() {
    let mut g = Gen::new(17);
    let x = input(g.vec(6, -1.0, 1.0), &[2, 3]);
    let w = input(g.vec(12, -1.0, 1.0), &[3, 4]);
    // A diamond and a deep chain: x feeds several paths that meet again.
    check_grad(
        |v| {
            let h = v[0].matmul(&v[1])?.tanh()?;
            let a = h.sigmoid()?.mul(&h)?;
            let b = h.exp()?.sum_keepdim(1)?;
            a.div(&b)?.add(&v[0].sum_all()?)?.mul(&h)
        },
        &[x, w],
    )
    .unwrap();
}

#[test]
fn tolerances_would_catch_a_wrong_rule() {
    // The checker itself: a function whose declared gradient is wrong (a custom op claiming
    // d/dx x³ = 2x²) must be rejected.
    struct WrongCube;
    impl CustomOp for WrongCube {
        fn name(&self) -> &'static str {
            "wrong_cube"
        }
        fn forward(&self, inputs: &[Tensor]) -> Result<Tensor> {
            inputs[0].powf(3.0)
        }
        fn backward(
            &self,
            inputs: &[Tensor],
            _: &Tensor,
            grad: &Tensor,
        ) -> Result<Vec<Option<Tensor>>> {
            Ok(vec![Some(grad.mul(&inputs[0].square()?.mul_scalar(2.0)?)?)])
        }
    }
    let x = input(vec![0.5, 1.0, -1.5], &[3]);
    let result = check_grad(
        |v| Tensor::apply_custom(Arc::new(WrongCube), v),
        std::slice::from_ref(&x),
    );
    assert!(result.is_err(), "a wrong gradient passed the check");
    // And a looser tolerance does not hide it either.
    let loose = Tol {
        rtol: 1e-3,
        atol: 1e-4,
        ..TOL
    };
    assert!(check_grad_tol(
        |v| Tensor::apply_custom(Arc::new(WrongCube), v),
        &[x],
        loose
    )
    .is_err());
}

#[test]
fn conventions_at_kinks_and_ties() {
    // Where finite differences are undefined, the documented conventions hold.
    let grad = |f: &dyn Fn(&Tensor) -> Result<Tensor>, x: &[f64]| -> Vec<f64> {
        let v = Tensor::var_from_f64(x, [x.len()], DEV).unwrap();
        let g = f(&v).unwrap().sum_all().unwrap().backward().unwrap();
        g.get(&v).map_or(vec![0.0; x.len()], |g| g.to_f64_vec())
    };
    assert_eq!(grad(&|x| x.relu(), &[0.0, -1.0, 1.0]), vec![0.0, 0.0, 1.0]);
    assert_eq!(grad(&|x| x.abs(), &[0.0, -1.0, 1.0]), vec![0.0, -1.0, 1.0]);
    assert_eq!(grad(&|x| x.leaky_relu(0.1), &[0.0]), vec![0.1]);
    assert_eq!(
        grad(&|x| x.clamp(-1.0, 1.0), &[-1.0, 1.0, 2.0]),
        vec![1.0, 1.0, 0.0]
    );
    // max/min reductions share the gradient among ties.
    assert_eq!(grad(&|x| x.max(0), &[1.0, 3.0, 3.0]), vec![0.0, 0.5, 0.5]);
    assert_eq!(
        grad(&|x| x.min(0), &[2.0, 2.0, 2.0, 5.0]),
        vec![1.0 / 3.0; 3]
            .into_iter()
            .chain([0.0])
            .collect::<Vec<_>>()
    );
    // maximum/minimum send a tie to the left operand.
    let a = Tensor::var_from_f64(&[1.0, 2.0], [2], DEV).unwrap();
    let b = Tensor::var_from_f64(&[1.0, 2.0], [2], DEV).unwrap();
    for y in [a.maximum(&b).unwrap(), a.minimum(&b).unwrap()] {
        let g = y.sum_all().unwrap().backward().unwrap();
        assert_eq!(g.get(&a).unwrap().to_f64_vec(), vec![1.0, 1.0]);
        assert_eq!(g.get(&b).unwrap().to_f64_vec(), vec![0.0, 0.0]);
    }
    // Max pooling sends a tie to the first maximum of the window.
    assert_eq!(
        grad(
            &|x| x.reshape([1, 1, 2, 2])?.max_pool2d(2, 2),
            &[0.5, 2.0, 2.0, 2.0]
        ),
        vec![0.0, 1.0, 0.0, 0.0]
    );
}
