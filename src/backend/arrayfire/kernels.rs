//! The ArrayFire kernels, written once and instantiated for `f32` and `f64` by a macro (the
//! `arrayfire` crate's trait bounds make generic code over both element types impractical;
//! each instantiation is type-checked concretely).
//!
//! Every function takes and returns flat (1-D) arrays holding row-major elements; shapes
//! come from the caller, already checked, and plans from [`super::plan`]. Functions here may
//! panic through ArrayFire's error handler: the caller runs them inside
//! [`super::device::guard`], which turns the failure into an error.
//!
//! Which primitive runs on which ArrayFire kernel is listed in `docs/gpu.md`.

use super::af::{self, Array, Dim4, MatProp, Seq};
use super::plan::{self, BroadcastPlan, PermutePlan, ScatterPlan};
use crate::backend::ops::{BinaryOp, CmpOp, Conv2dParams, NormDims, Pool2dParams, ReduceOp};
use crate::backend::ops::{ScanOp, UnaryOp};

/// `Dim4` from an array.
pub fn d4(d: [u64; 4]) -> Dim4 {
    Dim4::new(&d)
}

/// Dims of a flat array of `n` elements.
pub fn flat_dims(n: usize) -> Dim4 {
    d4([n as u64, 1, 1, 1])
}

/// Uploads `u32` indices.
pub fn indices(idx: &[u32]) -> Array<u32> {
    Array::new(idx, flat_dims(idx.len()))
}

/// Downloads `u32` values.
pub fn download_u32(a: &Array<u32>) -> Vec<u32> {
    let mut v = vec![0u32; a.elements()];
    a.host(&mut v);
    v
}

/// Comparison of two arrays of equal dims.
macro_rules! compare {
    ($a:expr, $b:expr, $op:expr) => {
        match $op {
            CmpOp::Eq => af::eq($a, $b, false),
            CmpOp::Ne => !&af::eq($a, $b, false),
            CmpOp::Lt => af::lt($a, $b, false),
            CmpOp::Le => af::le($a, $b, false),
            CmpOp::Gt => af::gt($a, $b, false),
            CmpOp::Ge => af::ge($a, $b, false),
        }
    };
}

/// Whether `unwrap`/`wrap` cannot take the convolution's padding themselves (they require
/// `padding < window` and `window ≤ size + padding`); then the kernels pad explicitly.
pub fn explicit_padding(p: &Conv2dParams) -> bool {
    p.padding > 0
        && (p.padding >= p.k_w
            || p.padding >= p.k_h
            || p.k_w > p.w_in + p.padding
            || p.k_h > p.h_in + p.padding)
}

macro_rules! float_kernels {
    ($module:ident, $T:ty) => {
        /// The kernels for one element type.
        pub mod $module {
            use super::*;

            /// The element type.
            pub type T = $T;
            type A = Array<T>;

            /// `value` everywhere, shaped `dims`.
            fn c(value: f64, dims: Dim4) -> A {
                af::constant(value as T, dims)
            }

            /// 1 where `mask`, else 0.
            fn ones_where(mask: &Array<bool>) -> A {
                mask.cast::<T>()
            }

            /// Back to one flat dimension (and evaluated, so that no lazy expression outlives
            /// the kernel).
            fn flat(a: &A) -> A {
                let out = af::moddims(a, flat_dims(a.elements()));
                out.eval();
                out
            }

            fn view(a: &A, dims: [u64; 4]) -> A {
                af::moddims(a, d4(dims))
            }

            fn scale(a: &A, s: f64) -> A {
                af::mul(a, &c(s, a.dims()), false)
            }

            fn divide(a: &A, s: f64) -> A {
                af::div(a, &c(s, a.dims()), false)
            }

            fn reorder(a: &A, o: [u64; 4]) -> A {
                af::reorder_v2(a, o[0], o[1], Some(vec![o[2], o[3]]))
            }

            /// Uploads row-major host data as a flat array.
            pub fn upload(data: &[T]) -> A {
                Array::new(data, flat_dims(data.len()))
            }

            /// Downloads a flat array.
            pub fn download(a: &A) -> Vec<T> {
                let mut v = vec![0.0 as T; a.elements()];
                a.host(&mut v);
                v
            }

            /// `count` copies of `value`.
            pub fn full(value: f64, count: usize) -> A {
                let out = c(value, flat_dims(count));
                out.eval();
                out
            }

            fn relu(x: &A) -> A {
                // `x ≤ 0` is false for NaN, which passes through.
                af::selectl(0.0, &af::le(x, &c(0.0, x.dims()), false), x)
            }

            fn softplus(x: &A) -> A {
                // max(x, 0) + log(1 + e^−|x|): no overflow for any x.
                let tail = af::log1p(&af::exp(&scale(&af::abs(x), -1.0)));
                af::add(&relu(x), &tail, false)
            }

            /// Elementwise unary op.
            pub fn unary(x: &A, op: UnaryOp) -> A {
                let dims = x.dims();
                let zero = || c(0.0, dims);
                let out = match op {
                    UnaryOp::Neg => scale(x, -1.0),
                    UnaryOp::Exp => af::exp(x),
                    UnaryOp::Log => af::log(x),
                    UnaryOp::Log1p => af::log1p(x),
                    UnaryOp::Sqrt => af::sqrt(x),
                    UnaryOp::Abs => af::abs(x),
                    // ArrayFire's `sign` is 1 for negatives and 0 otherwise: compose instead.
                    UnaryOp::Sign => af::sub(
                        &ones_where(&af::gt(x, &zero(), false)),
                        &ones_where(&af::lt(x, &zero(), false)),
                        false,
                    ),
                    UnaryOp::Square => af::mul(x, x, false),
                    UnaryOp::Recip => af::div(&c(1.0, dims), x, false),
                    UnaryOp::Sigmoid => {
                        // e = e^−|x| ≤ 1: 1/(1+e) for x ≥ 0, e/(1+e) below, never overflowing.
                        let e = af::exp(&scale(&af::abs(x), -1.0));
                        let denom = af::add(&c(1.0, dims), &e, false);
                        let pos = af::div(&c(1.0, dims), &denom, false);
                        let neg = af::div(&e, &denom, false);
                        af::select(&pos, &af::ge(x, &zero(), false), &neg)
                    }
                    UnaryOp::Tanh => af::tanh(x),
                    UnaryOp::Relu => relu(x),
                    UnaryOp::Step => ones_where(&af::gt(x, &zero(), false)),
                    UnaryOp::LeakyRelu(a) => {
                        af::select(x, &af::gt(x, &zero(), false), &scale(x, a))
                    }
                    UnaryOp::LeakyStep(a) => {
                        af::select(&c(1.0, dims), &af::gt(x, &zero(), false), &c(a, dims))
                    }
                    UnaryOp::Softplus => softplus(x),
                    UnaryOp::LogSigmoid => scale(&softplus(&scale(x, -1.0)), -1.0),
                    UnaryOp::Powf(p) => af::pow(x, &c(p, dims), false),
                    UnaryOp::Clamp(lo, hi) => {
                        // Comparisons are false for NaN, which passes through.
                        let low = af::select(&c(lo, dims), &af::lt(x, &c(lo, dims), false), x);
                        af::select(&c(hi, dims), &af::gt(&low, &c(hi, dims), false), &low)
                    }
                    UnaryOp::InRange(lo, hi) => ones_where(&af::and(
                        &af::ge(x, &c(lo, dims), false),
                        &af::le(x, &c(hi, dims), false),
                        false,
                    )),
                    UnaryOp::Affine(m, a) => af::add(&scale(x, m), &c(a, dims), false),
                    UnaryOp::CmpScalar(op, v) => ones_where(&compare!(x, &c(v, dims), op)),
                };
                flat(&out)
            }

            /// Materialises `x` (row-major `shape`) broadcast to `target`.
            pub fn broadcast(x: &A, shape: &[usize], target: &[usize]) -> A {
                match plan::broadcast(shape, target) {
                    BroadcastPlan::Identity => x.clone(),
                    BroadcastPlan::Tile { src, reps } => flat(&af::tile(&view(x, src), d4(reps))),
                    BroadcastPlan::Gather(idx) => flat(&af::lookup(x, &indices(&idx), 0)),
                }
            }

            /// Elementwise binary op with broadcasting to `out`.
            pub fn binary(
                a: &A,
                a_shape: &[usize],
                b: &A,
                b_shape: &[usize],
                out: &[usize],
                op: BinaryOp,
            ) -> A {
                let a = broadcast(a, a_shape, out);
                let b = broadcast(b, b_shape, out);
                let (a, b) = (&a, &b);
                let r = match op {
                    BinaryOp::Add => af::add(a, b, false),
                    BinaryOp::Sub => af::sub(a, b, false),
                    BinaryOp::Mul => af::mul(a, b, false),
                    BinaryOp::Div => af::div(a, b, false),
                    // `a` where `a ≥ b` or `a` is NaN, else `b`: a NaN on either side wins.
                    BinaryOp::Maximum => {
                        af::select(a, &af::or(&af::ge(a, b, false), &af::isnan(a), false), b)
                    }
                    BinaryOp::Minimum => {
                        af::select(a, &af::or(&af::le(a, b, false), &af::isnan(a), false), b)
                    }
                    BinaryOp::Pow => af::pow(a, b, false),
                    BinaryOp::Cmp(op) => ones_where(&compare!(a, b, op)),
                };
                flat(&r)
            }

            /// `cond ≠ 0 ? t : f`, all broadcast to `out` (`cond` already of this type).
            pub fn where_cond(
                cond: (&A, &[usize]),
                t: (&A, &[usize]),
                f: (&A, &[usize]),
                out: &[usize],
            ) -> A {
                let cnd = broadcast(cond.0, cond.1, out);
                let t = broadcast(t.0, t.1, out);
                let f = broadcast(f.0, f.1, out);
                // NaN ≠ 0 is true, as on the CPU.
                let nonzero = !&af::eq(&cnd, &c(0.0, cnd.dims()), false);
                flat(&af::select(&t, &nonzero, &f))
            }

            /// Max or min along `dim`, NaN if any element is NaN (ArrayFire's own reductions
            /// do not promise that).
            fn extreme(x: &A, dim: i32, max: bool) -> A {
                let m = if max {
                    af::max(x, dim)
                } else {
                    af::min(x, dim)
                };
                let nan = af::any_true(&af::isnan(x), dim);
                af::selectl(f64::NAN, &nan, &m)
            }

            /// Index of the first maximum along `dim` (NaN counting as largest), as `u32`.
            fn first_max(x: &A, dim: i32) -> Array<u32> {
                let dims = x.dims();
                let m = extreme(x, dim, true);
                let mut reps = [1u64; 4];
                reps[dim as usize] = dims[dim as usize];
                let m = af::tile(&m, d4(reps));
                let hit = af::or(
                    &af::eq(x, &m, false),
                    &af::and(&af::isnan(x), &af::isnan(&m), false),
                    false,
                );
                let pos = af::range::<u32>(dims, dim);
                let none = af::constant(dims[dim as usize] as u32, dims);
                af::min(&af::select(&pos, &hit, &none), dim)
            }

            /// Reduction along `axis` of `(outer, n, inner)`.
            pub fn reduce(x: &A, (outer, n, inner): (usize, usize, usize), op: ReduceOp) -> A {
                let x3 = view(x, plan::around_axis(outer, n, inner));
                let r = match op {
                    ReduceOp::Sum => af::sum(&x3, 1),
                    ReduceOp::Max => extreme(&x3, 1, true),
                    ReduceOp::Min => extreme(&x3, 1, false),
                };
                flat(&r)
            }

            /// Argmax along `axis` of `(outer, n, inner)`, row-major over the other axes.
            pub fn argmax(x: &A, (outer, n, inner): (usize, usize, usize)) -> Vec<usize> {
                let x3 = view(x, plan::around_axis(outer, n, inner));
                let first = first_max(&x3, 1);
                download_u32(&first)
                    .into_iter()
                    .map(|i| i as usize)
                    .collect()
            }

            /// Inclusive scan along `axis` of `(outer, n, inner)`.
            pub fn scan(x: &A, (outer, n, inner): (usize, usize, usize), op: ScanOp) -> A {
                let x3 = view(x, plan::around_axis(outer, n, inner));
                let r = match op {
                    ScanOp::Sum => af::accum(&x3, 1),
                    ScanOp::Prod => af::scan(&x3, 1, af::BinaryOp::MUL, true),
                };
                flat(&r)
            }

            /// Batched matrix product (see [`crate::backend::MatmulDims`]).
            ///
            /// Row-major `C = A·B` is column-major `Cᵀ = Bᵀ·Aᵀ`, and a row-major buffer read
            /// column-major is the transpose: so ArrayFire multiplies `B`'s buffer by `A`'s.
            pub fn matmul(a: &A, b: &A, d: crate::backend::MatmulDims) -> A {
                let (m, k, n, batch) = (d.m as u64, d.k as u64, d.n as u64, d.batch as u64);
                let side = |x: &A, batched: bool, dims: [u64; 2], transposed: bool| {
                    let v = view(x, [dims[0], dims[1], if batched { batch } else { 1 }, 1]);
                    let v = if batch > 1 && !batched {
                        af::tile(&v, d4([1, 1, batch, 1]))
                    } else {
                        v
                    };
                    (
                        v,
                        if transposed {
                            MatProp::TRANS
                        } else {
                            MatProp::NONE
                        },
                    )
                };
                let (l, opl) = if d.rhs_transposed {
                    side(b, d.rhs_batched, [k, n], true)
                } else {
                    side(b, d.rhs_batched, [n, k], false)
                };
                let (r, opr) = if d.lhs_transposed {
                    side(a, d.lhs_batched, [m, k], true)
                } else {
                    side(a, d.lhs_batched, [k, m], false)
                };
                flat(&af::matmul(&l, &r, opl, opr))
            }

            /// Reorders axes.
            pub fn permute(x: &A, shape: &[usize], perm: &[usize]) -> A {
                match plan::permute(shape, perm) {
                    PermutePlan::Identity => x.clone(),
                    PermutePlan::Reorder { dims, order } => flat(&reorder(&view(x, dims), order)),
                    PermutePlan::Gather(idx) => flat(&af::lookup(x, &indices(&idx), 0)),
                }
            }

            fn all(n: usize) -> Seq<i32> {
                Seq::new(0, n as i32 - 1, 1)
            }

            /// Elements `start..start + len` along `axis` of `(outer, n, inner)`.
            pub fn narrow(
                x: &A,
                (outer, n, inner): (usize, usize, usize),
                start: usize,
                len: usize,
            ) -> A {
                let x3 = view(x, plan::around_axis(outer, n, inner));
                let seqs = [
                    all(inner),
                    Seq::new(start as i32, (start + len) as i32 - 1, 1),
                    all(outer),
                ];
                flat(&af::index(&x3, &seqs))
            }

            /// Joins non-empty parts, each `(data, (outer, n_i, inner))`, along the middle dim.
            pub fn concat(parts: &[(&A, (usize, usize, usize))]) -> A {
                let views: Vec<A> = parts
                    .iter()
                    .map(|(x, (o, n, i))| view(x, plan::around_axis(*o, *n, *i)))
                    .collect();
                // `join_many` takes at most 10 arrays.
                let mut joined: Vec<A> = views
                    .chunks(10)
                    .map(|chunk| af::join_many(1, chunk.iter().collect()))
                    .collect();
                while joined.len() > 1 {
                    joined = joined
                        .chunks(10)
                        .map(|chunk| af::join_many(1, chunk.iter().collect()))
                        .collect();
                }
                flat(&joined[0])
            }

            /// Entries `idx` along `axis` of `(outer, n, inner)`.
            pub fn index_select(x: &A, (outer, n, inner): (usize, usize, usize), idx: &[u32]) -> A {
                let x3 = view(x, plan::around_axis(outer, n, inner));
                flat(&af::lookup(&x3, &indices(idx), 1))
            }

            /// Adds the rows of `x2` (`[rows, cols]`, column-major) into `size` rows as planned.
            fn scatter_rows(x2: &A, cols: usize, p: &ScatterPlan) -> A {
                let zero_row = c(0.0, d4([1, cols as u64, 1, 1]));
                let rows = match &p.order {
                    None => x2.clone(),
                    Some(order) => {
                        let sorted = af::lookup(x2, &indices(order), 0);
                        af::sum_by_key(&indices(&p.keys), &sorted, 0).1
                    }
                };
                af::lookup(&af::join(0, &zero_row, &rows), &indices(&p.map), 0)
            }

            /// The adjoint of `index_select`: `size` entries along the axis.
            pub fn index_add(
                x: &A,
                (outer, n, inner): (usize, usize, usize),
                targets: &[usize],
                size: usize,
            ) -> A {
                // Rows along the axis: [inner, n, outer] → [n, inner·outer].
                let x3 = view(x, plan::around_axis(outer, n, inner));
                let rows = view(
                    &reorder(&x3, [1, 0, 2, 3]),
                    [n as u64, (inner * outer) as u64, 1, 1],
                );
                let out = scatter_rows(&rows, inner * outer, &plan::scatter(targets, size));
                let out = view(&out, [size as u64, inner as u64, outer as u64, 1]);
                flat(&reorder(&out, [1, 0, 2, 3]))
            }

            /// Gathers flat positions.
            pub fn take(x: &A, positions: &[u32]) -> A {
                flat(&af::lookup(x, &indices(positions), 0))
            }

            /// Adds every element of `src` into flat position `targets[i]` of `len` zeros.
            pub fn scatter_flat(src: &A, targets: &[usize], len: usize) -> A {
                let rows = view(src, [src.elements() as u64, 1, 1, 1]);
                flat(&scatter_rows(&rows, 1, &plan::scatter(targets, len)))
            }

            /// Zero padding of `p` on both sides of the first two dims of `x` (`[W, H, C, B]`).
            fn pad_hw(x: &A, p: u64) -> A {
                let d = x.dims();
                let zw = c(0.0, d4([p, d[1], d[2], d[3]]));
                let x = af::join_many(0, vec![&zw, x, &zw]);
                let zh = c(0.0, d4([d[0] + 2 * p, p, d[2], d[3]]));
                af::join_many(1, vec![&zh, &x, &zh])
            }

            /// The input unfolded as `[P·B, K_h·K_w·C_in]` (column-major): one row per output
            /// position and image, columns ordered like the weight's `C_in, K_h, K_w`.
            fn im2col(x: &A, p: &Conv2dParams) -> A {
                let (b, cin) = (p.batch as u64, p.c_in as u64);
                let img = view(x, [p.w_in as u64, p.h_in as u64, cin, b]);
                let (img, pad) = if explicit_padding(p) {
                    (pad_hw(&img, p.padding as u64), 0)
                } else {
                    (img, p.padding as i64)
                };
                let (s, kw, kh) = (p.stride as i64, p.k_w as i64, p.k_h as i64);
                // [P, K_h·K_w, C_in, B]: a row per window, K_w fastest within it.
                let cols = af::unwrap(&img, kw, kh, s, s, pad, pad, false);
                let positions = (p.h_out() * p.w_out()) as u64;
                let kk = (p.k_h * p.k_w) as u64;
                // → [P, B, K_h·K_w, C_in] → [P·B, K_h·K_w·C_in].
                view(
                    &reorder(&cols, [0, 3, 1, 2]),
                    [positions * b, kk * cin, 1, 1],
                )
            }

            /// The weight `[C_out, C_in, K_h, K_w]` as a column-major `[C_in·K_h·K_w, C_out]`.
            fn weight_matrix(w: &A, p: &Conv2dParams) -> A {
                view(w, [(p.c_in * p.k_h * p.k_w) as u64, p.c_out as u64, 1, 1])
            }

            /// 2-D convolution (cross-correlation, as in PyTorch): `unwrap` (im2col) and one
            /// matrix product for the whole batch.
            pub fn conv2d(x: &A, w: &A, p: &Conv2dParams) -> A {
                let y = af::matmul(
                    &im2col(x, p),
                    &weight_matrix(w, p),
                    MatProp::NONE,
                    MatProp::NONE,
                );
                let positions = (p.h_out() * p.w_out()) as u64;
                // [P·B, C_out] → [P, B, C_out] → [P, C_out, B] = row-major [B, C_out, H, W].
                let y = view(&y, [positions, p.batch as u64, p.c_out as u64, 1]);
                flat(&reorder(&y, [0, 2, 1, 3]))
            }

            /// The output gradient as a column-major `[P·B, C_out]`.
            fn grad_matrix(dy: &A, p: &Conv2dParams) -> A {
                let positions = (p.h_out() * p.w_out()) as u64;
                let (b, cout) = (p.batch as u64, p.c_out as u64);
                let g = reorder(&view(dy, [positions, cout, b, 1]), [0, 2, 1, 3]);
                view(&g, [positions * b, cout, 1, 1])
            }

            /// Gradient of [`conv2d`] with respect to its input: `dcols = dy·Wᵀ`, folded
            /// back with `wrap` (which sums overlapping windows).
            pub fn conv2d_backward_input(dy: &A, w: &A, p: &Conv2dParams) -> A {
                let dcols = af::matmul(
                    &grad_matrix(dy, p),
                    &weight_matrix(w, p),
                    MatProp::NONE,
                    MatProp::TRANS,
                );
                let positions = (p.h_out() * p.w_out()) as u64;
                let kk = (p.k_h * p.k_w) as u64;
                let (b, cin) = (p.batch as u64, p.c_in as u64);
                // [P·B, K·C_in] → [P, B, K, C_in] → [P, K, C_in, B], as `unwrap` produced.
                let dcols = reorder(&view(&dcols, [positions, b, kk, cin]), [0, 2, 3, 1]);
                let (s, kw, kh) = (p.stride as i64, p.k_w as i64, p.k_h as i64);
                let (w_in, h_in) = (p.w_in as i64, p.h_in as i64);
                let img = if explicit_padding(p) {
                    let pad = p.padding as i64;
                    let full = af::wrap(
                        &dcols,
                        w_in + 2 * pad,
                        h_in + 2 * pad,
                        kw,
                        kh,
                        s,
                        s,
                        0,
                        0,
                        false,
                    );
                    let seqs = [
                        Seq::new(pad as i32, (pad + w_in) as i32 - 1, 1),
                        Seq::new(pad as i32, (pad + h_in) as i32 - 1, 1),
                        all(p.c_in),
                        all(p.batch),
                    ];
                    af::index(&full, &seqs)
                } else {
                    let pad = p.padding as i64;
                    af::wrap(&dcols, w_in, h_in, kw, kh, s, s, pad, pad, false)
                };
                flat(&img)
            }

            /// Gradient of [`conv2d`] with respect to its weight (`x` is the input):
            /// `dW = colsᵀ·dy`, summed over the batch by the same product.
            pub fn conv2d_backward_weight(x: &A, dy: &A, p: &Conv2dParams) -> A {
                flat(&af::matmul(
                    &im2col(x, p),
                    &grad_matrix(dy, p),
                    MatProp::TRANS,
                    MatProp::NONE,
                ))
            }

            /// Pooling windows as columns: `[k·k, P, planes]`.
            fn windows(x: &A, p: &Pool2dParams) -> A {
                let img = view(x, [p.w_in as u64, p.h_in as u64, p.planes as u64, 1]);
                let (k, s) = (p.kernel as i64, p.stride as i64);
                af::unwrap(&img, k, k, s, s, 0, 0, true)
            }

            /// Spreads columns `[k·k, P, planes]` back onto the input planes, summing overlaps.
            fn unwindows(cols: &A, p: &Pool2dParams) -> A {
                let (k, s) = (p.kernel as i64, p.stride as i64);
                flat(&af::wrap(
                    cols,
                    p.w_in as i64,
                    p.h_in as i64,
                    k,
                    k,
                    s,
                    s,
                    0,
                    0,
                    true,
                ))
            }

            fn per_window(g: &A, p: &Pool2dParams) -> A {
                let positions = (p.h_out() * p.w_out()) as u64;
                let g = view(g, [1, positions, p.planes as u64, 1]);
                af::tile(&g, d4([(p.kernel * p.kernel) as u64, 1, 1, 1]))
            }

            /// Average pooling.
            pub fn avg_pool2d(x: &A, p: &Pool2dParams) -> A {
                let scale_by = 1.0 / (p.kernel * p.kernel) as T;
                flat(&scale(&af::sum(&windows(x, p), 0), scale_by as f64))
            }

            /// Gradient of average pooling.
            pub fn avg_pool2d_backward(dy: &A, p: &Pool2dParams) -> A {
                let scale_by = 1.0 / (p.kernel * p.kernel) as T;
                unwindows(&per_window(&scale(dy, scale_by as f64), p), p)
            }

            /// Max pooling (a NaN in a window wins).
            pub fn max_pool2d(x: &A, p: &Pool2dParams) -> A {
                flat(&extreme(&windows(x, p), 0, true))
            }

            /// Gradient of max pooling: to the first maximum of each window.
            pub fn max_pool2d_backward(x: &A, dy: &A, p: &Pool2dParams) -> A {
                let cols = windows(x, p);
                let dims = cols.dims();
                let first = af::tile(&first_max(&cols, 0), d4([dims[0], 1, 1, 1]));
                let onehot = ones_where(&af::eq(&af::range::<u32>(dims, 0), &first, false));
                unwindows(&af::mul(&onehot, &per_window(dy, p), false), p)
            }

            /// Per-channel sums of `[inner, C, outer]`: `[1, C, 1]`.
            fn channel_sums(x3: &A) -> A {
                af::sum(&af::sum(x3, 0), 2)
            }

            /// Spreads `[1, C, 1]` over `[inner, C, outer]`.
            fn spread(v: &A, d: &NormDims) -> A {
                af::tile(v, d4([d.inner as u64, 1, d.outer as u64, 1]))
            }

            fn channels(v: &A, d: &NormDims) -> A {
                view(v, [1, d.channels as u64, 1, 1])
            }

            /// Batch normalisation with batch statistics: `(y, mean, invstd)`.
            pub fn batch_norm(x: &A, gamma: &A, beta: &A, d: &NormDims, eps: f64) -> (A, A, A) {
                let x3 = view(x, plan::around_axis(d.outer, d.channels, d.inner));
                let count = (d.outer * d.inner) as T as f64;
                let mean = divide(&channel_sums(&x3), count);
                let centred = af::sub(&x3, &spread(&mean, d), false);
                let var = divide(&channel_sums(&af::mul(&centred, &centred, false)), count);
                let invstd = af::div(
                    &c(1.0, var.dims()),
                    &af::sqrt(&af::add(&var, &c(eps, var.dims()), false)),
                    false,
                );
                let gain = af::mul(&invstd, &channels(gamma, d), false);
                let shift = af::sub(&channels(beta, d), &af::mul(&mean, &gain, false), false);
                let y = af::add(
                    &af::mul(&x3, &spread(&gain, d), false),
                    &spread(&shift, d),
                    false,
                );
                (flat(&y), flat(&mean), flat(&invstd))
            }

            /// Gradients `(dx, dgamma, dbeta)` of [`batch_norm`].
            pub fn batch_norm_backward(
                x: &A,
                dy: &A,
                gamma: &A,
                mean: &A,
                invstd: &A,
                d: &NormDims,
            ) -> (A, A, A) {
                let dims = plan::around_axis(d.outer, d.channels, d.inner);
                let (x3, g3) = (view(x, dims), view(dy, dims));
                let count = (d.outer * d.inner) as T as f64;
                let (mean, invstd) = (channels(mean, d), channels(invstd, d));
                let xhat = af::mul(
                    &af::sub(&x3, &spread(&mean, d), false),
                    &spread(&invstd, d),
                    false,
                );
                let sum_dy = channel_sums(&g3);
                let sum_dy_xhat = channel_sums(&af::mul(&g3, &xhat, false));
                let k = divide(&af::mul(&channels(gamma, d), &invstd, false), count);
                let inner = af::sub(
                    &af::sub(&scale(&g3, count), &spread(&sum_dy, d), false),
                    &af::mul(&xhat, &spread(&sum_dy_xhat, d), false),
                    false,
                );
                let dx = af::mul(&spread(&k, d), &inner, false);
                (flat(&dx), flat(&sum_dy_xhat), flat(&sum_dy))
            }
        }
    };
}

float_kernels!(f32k, f32);
float_kernels!(f64k, f64);
