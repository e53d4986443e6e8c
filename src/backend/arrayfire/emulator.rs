//! A host emulator of the part of the `arrayfire` crate's API that the kernels use, for the
//! `arrayfire-emulator` feature: it runs the ArrayFire backend's kernel code — its layout
//! plans, column-major reshapes, `unwrap`/`wrap` convolutions, NaN handling, scatter plans —
//! on machines without ArrayFire, through the shared conformance suite.
//!
//! The signatures mirror the `arrayfire` 3.8 crate for the types used (`f32`, `f64`, `u32`,
//! `bool`), so the kernels compile unchanged against either. The semantics follow the
//! ArrayFire documentation and its reference CPU kernels (`unwrap`, `wrap`); where ArrayFire
//! leaves NaN handling unspecified the emulator picks the least helpful choice (max and min
//! reductions skip NaN), so the kernels' own NaN handling is what the suite checks.
//!
//! It is a test instrument, not a backend: single-threaded, unoptimised, and only as faithful
//! as the documentation it was written from.

#![allow(missing_docs)]

use std::fmt::Debug;
use std::ops::Index;
use std::sync::Arc;

/// Element types of emulated arrays.
pub trait Elem: Copy + Default + PartialEq + PartialOrd + Debug + Send + Sync + 'static {
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
}

impl Elem for f32 {
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl Elem for f64 {
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
}

impl Elem for u32 {
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> Self {
        v as u32
    }
}

impl Elem for bool {
    fn to_f64(self) -> f64 {
        if self {
            1.0
        } else {
            0.0
        }
    }
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
}

/// Floating-point element types.
pub trait Float: Elem {
    fn map(self, f: fn(f64) -> f64) -> Self {
        Self::from_f64(f(self.to_f64()))
    }
}

impl Float for f32 {}
impl Float for f64 {}

/// Four dimensions, column-major (dim 0 fastest).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dim4([u64; 4]);

impl Dim4 {
    pub fn new(dims: &[u64; 4]) -> Self {
        Dim4(*dims)
    }
    pub fn get(&self) -> &[u64; 4] {
        &self.0
    }
    pub fn elements(&self) -> u64 {
        self.0.iter().product()
    }
}

impl Index<usize> for Dim4 {
    type Output = u64;
    fn index(&self, i: usize) -> &u64 {
        &self.0[i]
    }
}

fn ud(d: Dim4) -> [usize; 4] {
    d.0.map(|x| x as usize)
}

fn at(d: [usize; 4], i: [usize; 4]) -> usize {
    i[0] + d[0] * (i[1] + d[1] * (i[2] + d[2] * i[3]))
}

fn each(d: [usize; 4], mut f: impl FnMut([usize; 4])) {
    for i3 in 0..d[3] {
        for i2 in 0..d[2] {
            for i1 in 0..d[1] {
                for i0 in 0..d[0] {
                    f([i0, i1, i2, i3]);
                }
            }
        }
    }
}

/// An emulated array: column-major elements and four dims.
#[derive(Clone, Debug)]
pub struct Array<T> {
    dims: Dim4,
    data: Arc<Vec<T>>,
}

impl<T: Elem> Array<T> {
    pub fn new(values: &[T], dims: Dim4) -> Self {
        assert_eq!(
            values.len() as u64,
            dims.elements(),
            "emulator: data does not fill the dims"
        );
        Array {
            dims,
            data: Arc::new(values.to_vec()),
        }
    }

    fn from_vec(data: Vec<T>, dims: Dim4) -> Self {
        assert_eq!(
            data.len() as u64,
            dims.elements(),
            "emulator: size mismatch"
        );
        Array {
            dims,
            data: Arc::new(data),
        }
    }

    pub fn dims(&self) -> Dim4 {
        self.dims
    }

    pub fn elements(&self) -> usize {
        self.data.len()
    }

    pub fn host(&self, out: &mut [T]) {
        assert_eq!(out.len(), self.data.len(), "emulator: host buffer size");
        out.copy_from_slice(&self.data);
    }

    pub fn eval(&self) {}

    pub fn cast<O: Elem>(&self) -> Array<O> {
        Array::from_vec(
            self.data.iter().map(|v| O::from_f64(v.to_f64())).collect(),
            self.dims,
        )
    }

    fn map<O: Elem>(&self, f: impl Fn(T) -> O) -> Array<O> {
        Array::from_vec(self.data.iter().map(|&v| f(v)).collect(), self.dims)
    }

    fn zip<U: Elem, O: Elem>(&self, other: &Array<U>, f: impl Fn(T, U) -> O) -> Array<O> {
        assert_eq!(self.dims, other.dims, "emulator: elementwise dims differ");
        Array::from_vec(
            self.data
                .iter()
                .zip(other.data.iter())
                .map(|(&a, &b)| f(a, b))
                .collect(),
            self.dims,
        )
    }
}

/// `MatProp` of the `arrayfire` crate (only the two values used).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::upper_case_acronyms)]
pub enum MatProp {
    NONE,
    TRANS,
}

/// `BinaryOp` of the `arrayfire` crate (the scan operations used).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::upper_case_acronyms)]
pub enum BinaryOp {
    MUL,
}

/// An index range `begin..=end` with a step (`arrayfire::Seq`).
#[derive(Clone, Copy, Debug)]
pub struct Seq<T> {
    begin: T,
    end: T,
    step: T,
}

impl Seq<i32> {
    pub fn new(begin: i32, end: i32, step: i32) -> Self {
        Seq { begin, end, step }
    }
}

pub fn constant<T: Elem>(value: T, dims: Dim4) -> Array<T> {
    Array::from_vec(vec![value; dims.elements() as usize], dims)
}

pub fn range<T: Elem>(dims: Dim4, seq_dim: i32) -> Array<T> {
    let d = ud(dims);
    let mut out = Vec::with_capacity(dims.elements() as usize);
    each(d, |i| out.push(T::from_f64(i[seq_dim as usize] as f64)));
    Array::from_vec(out, dims)
}

pub fn moddims<T: Elem>(a: &Array<T>, dims: Dim4) -> Array<T> {
    assert_eq!(a.dims.elements(), dims.elements(), "emulator: moddims size");
    Array {
        dims,
        data: a.data.clone(),
    }
}

pub fn tile<T: Elem>(a: &Array<T>, reps: Dim4) -> Array<T> {
    let s = ud(a.dims);
    let r = ud(reps);
    let o = [s[0] * r[0], s[1] * r[1], s[2] * r[2], s[3] * r[3]];
    let mut out = Vec::with_capacity(o.iter().product());
    each(o, |i| {
        out.push(a.data[at(s, [i[0] % s[0], i[1] % s[1], i[2] % s[2], i[3] % s[3]])])
    });
    Array::from_vec(out, Dim4(o.map(|x| x as u64)))
}

pub fn reorder_v2<T: Elem>(
    a: &Array<T>,
    new_axis0: u64,
    new_axis1: u64,
    next_axes: Option<Vec<u64>>,
) -> Array<T> {
    let mut order = [new_axis0 as usize, new_axis1 as usize, 2, 3];
    if let Some(rest) = next_axes {
        for (k, &v) in rest.iter().enumerate() {
            order[2 + k] = v as usize;
        }
    }
    let mut sorted = order;
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [0, 1, 2, 3],
        "emulator: reorder is not a permutation"
    );
    let d = ud(a.dims);
    let od = order.map(|j| d[j]);
    let mut out = Vec::with_capacity(a.data.len());
    each(od, |oi| {
        let mut ii = [0; 4];
        for j in 0..4 {
            ii[order[j]] = oi[j];
        }
        out.push(a.data[at(d, ii)]);
    });
    Array::from_vec(out, Dim4(od.map(|x| x as u64)))
}

pub fn join_many<T: Elem>(dim: i32, inputs: Vec<&Array<T>>) -> Array<T> {
    assert!(
        !inputs.is_empty() && inputs.len() <= 10,
        "emulator: join_many takes 1 to 10 arrays"
    );
    let dim = dim as usize;
    let mut od = ud(inputs[0].dims);
    od[dim] = 0;
    for a in &inputs {
        let d = ud(a.dims);
        for k in 0..4 {
            assert!(k == dim || d[k] == od[k], "emulator: join dims differ");
        }
        od[dim] += d[dim];
    }
    let mut out = vec![T::default(); od.iter().product()];
    let mut offset = 0;
    for a in &inputs {
        let d = ud(a.dims);
        each(d, |i| {
            let mut o = i;
            o[dim] += offset;
            out[at(od, o)] = a.data[at(d, i)];
        });
        offset += d[dim];
    }
    Array::from_vec(out, Dim4(od.map(|x| x as u64)))
}

pub fn join<T: Elem>(dim: i32, first: &Array<T>, second: &Array<T>) -> Array<T> {
    join_many(dim, vec![first, second])
}

pub fn index<T: Elem>(a: &Array<T>, seqs: &[Seq<i32>]) -> Array<T> {
    let d = ud(a.dims);
    let mut ranges: Vec<Vec<usize>> = (0..4).map(|k| (0..d[k]).collect()).collect();
    for (k, s) in seqs.iter().enumerate() {
        assert!(s.step > 0, "emulator: only forward sequences");
        assert!(
            s.begin >= 0 && s.end >= s.begin && (s.end as usize) < d[k],
            "emulator: sequence out of range"
        );
        ranges[k] = (s.begin as usize..=s.end as usize)
            .step_by(s.step as usize)
            .collect();
    }
    let od = [
        ranges[0].len(),
        ranges[1].len(),
        ranges[2].len(),
        ranges[3].len(),
    ];
    let mut out = Vec::with_capacity(od.iter().product());
    each(od, |i| {
        out.push(
            a.data[at(
                d,
                [
                    ranges[0][i[0]],
                    ranges[1][i[1]],
                    ranges[2][i[2]],
                    ranges[3][i[3]],
                ],
            )],
        )
    });
    Array::from_vec(out, Dim4(od.map(|x| x as u64)))
}

pub fn lookup<T: Elem, I: Elem>(a: &Array<T>, indices: &Array<I>, seq_dim: i32) -> Array<T> {
    let dim = seq_dim as usize;
    let d = ud(a.dims);
    let idx: Vec<usize> = indices.data.iter().map(|v| v.to_f64() as usize).collect();
    let mut od = d;
    od[dim] = idx.len();
    let mut out = Vec::with_capacity(od.iter().product());
    each(od, |i| {
        let mut s = i;
        s[dim] = idx[i[dim]];
        assert!(s[dim] < d[dim], "emulator: lookup index out of range");
        out.push(a.data[at(d, s)]);
    });
    Array::from_vec(out, Dim4(od.map(|x| x as u64)))
}

pub fn select<T: Elem>(a: &Array<T>, cond: &Array<bool>, b: &Array<T>) -> Array<T> {
    assert!(
        a.dims == b.dims && a.dims == cond.dims,
        "emulator: select dims"
    );
    let data = (0..a.data.len())
        .map(|i| if cond.data[i] { a.data[i] } else { b.data[i] })
        .collect();
    Array::from_vec(data, a.dims)
}

pub fn selectl<T: Elem>(a: f64, cond: &Array<bool>, b: &Array<T>) -> Array<T> {
    cond.zip(b, |c, y| if c { T::from_f64(a) } else { y })
}

macro_rules! binary_arith {
    ($($name:ident => $f:expr),* $(,)?) => {
        $(
            pub fn $name<T: Float>(a: &Array<T>, b: &Array<T>, _batch: bool) -> Array<T> {
                let f: fn(f64, f64) -> f64 = $f;
                a.zip(b, |x, y| T::from_f64(f(x.to_f64(), y.to_f64())))
            }
        )*
    };
}

// Computed in f64 and rounded, which is what a correctly rounded f32 operation gives for
// + − × ÷ (and close enough for pow).
binary_arith! {
    add => |x, y| x + y,
    sub => |x, y| x - y,
    mul => |x, y| x * y,
    div => |x, y| x / y,
    pow => f64::powf,
}

macro_rules! compare {
    ($($name:ident => $op:tt),* $(,)?) => {
        $(
            pub fn $name<T: Elem>(a: &Array<T>, b: &Array<T>, _batch: bool) -> Array<bool> {
                a.zip(b, |x, y| x $op y)
            }
        )*
    };
}

compare! { eq => ==, lt => <, le => <=, gt => >, ge => >= }

pub fn and(a: &Array<bool>, b: &Array<bool>, _batch: bool) -> Array<bool> {
    a.zip(b, |x, y| x && y)
}

pub fn or(a: &Array<bool>, b: &Array<bool>, _batch: bool) -> Array<bool> {
    a.zip(b, |x, y| x || y)
}

impl std::ops::Not for &Array<bool> {
    type Output = Array<bool>;
    fn not(self) -> Array<bool> {
        self.map(|x| !x)
    }
}

pub fn isnan<T: Float>(a: &Array<T>) -> Array<bool> {
    a.map(|x| x.to_f64().is_nan())
}

macro_rules! unary_math {
    ($($name:ident => $f:expr),* $(,)?) => {
        $(
            pub fn $name<T: Float>(a: &Array<T>) -> Array<T> {
                a.map(|x| x.map($f))
            }
        )*
    };
}

unary_math! {
    exp => f64::exp,
    log => f64::ln,
    log1p => f64::ln_1p,
    sqrt => f64::sqrt,
    abs => f64::abs,
    tanh => f64::tanh,
}

/// A reduction along `dim`, skipping NaN for max and min.
fn reduce<T: Elem>(a: &Array<T>, dim: i32, init: f64, f: fn(f64, f64) -> f64) -> Array<T> {
    let dim = dim as usize;
    let d = ud(a.dims);
    let mut od = d;
    od[dim] = 1;
    let mut out = vec![init; od.iter().product()];
    each(d, |i| {
        let mut o = i;
        o[dim] = 0;
        let k = at(od, o);
        out[k] = f(out[k], a.data[at(d, i)].to_f64());
    });
    Array::from_vec(
        out.into_iter().map(T::from_f64).collect(),
        Dim4(od.map(|x| x as u64)),
    )
}

pub fn sum<T: Float>(a: &Array<T>, dim: i32) -> Array<T> {
    reduce(a, dim, 0.0, |acc, v| acc + v)
}

pub fn max<T: Elem>(a: &Array<T>, dim: i32) -> Array<T> {
    reduce(a, dim, f64::NEG_INFINITY, f64::max)
}

pub fn min<T: Elem>(a: &Array<T>, dim: i32) -> Array<T> {
    reduce(a, dim, f64::INFINITY, f64::min)
}

pub fn any_true(a: &Array<bool>, dim: i32) -> Array<bool> {
    reduce(
        a,
        dim,
        0.0,
        |acc, v| if acc != 0.0 || v != 0.0 { 1.0 } else { 0.0 },
    )
}

fn scan_with<T: Float>(a: &Array<T>, dim: i32, f: fn(f64, f64) -> f64) -> Array<T> {
    let dim = dim as usize;
    let d = ud(a.dims);
    let mut out: Vec<f64> = a.data.iter().map(|v| v.to_f64()).collect();
    each(d, |i| {
        if i[dim] > 0 {
            let mut p = i;
            p[dim] -= 1;
            out[at(d, i)] = f(out[at(d, p)], out[at(d, i)]);
        }
    });
    Array::from_vec(out.into_iter().map(T::from_f64).collect(), a.dims)
}

pub fn accum<T: Float>(a: &Array<T>, dim: i32) -> Array<T> {
    scan_with(a, dim, |p, c| p + c)
}

pub fn scan<T: Float>(a: &Array<T>, dim: i32, op: BinaryOp, inclusive: bool) -> Array<T> {
    assert!(inclusive, "emulator: only inclusive scans");
    match op {
        BinaryOp::MUL => scan_with(a, dim, |p, c| p * c),
    }
}

pub fn matmul<T: Float>(lhs: &Array<T>, rhs: &Array<T>, optl: MatProp, optr: MatProp) -> Array<T> {
    let (l, r) = (ud(lhs.dims), ud(rhs.dims));
    assert!(
        l[2] == r[2] && l[3] == r[3],
        "emulator: matmul batch dims differ"
    );
    let (m, k) = match optl {
        MatProp::NONE => (l[0], l[1]),
        MatProp::TRANS => (l[1], l[0]),
    };
    let (k2, n) = match optr {
        MatProp::NONE => (r[0], r[1]),
        MatProp::TRANS => (r[1], r[0]),
    };
    assert_eq!(k, k2, "emulator: matmul inner dims differ");
    let get_l = |b: usize, i: usize, p: usize| match optl {
        MatProp::NONE => lhs.data[i + l[0] * p + l[0] * l[1] * b],
        MatProp::TRANS => lhs.data[p + l[0] * i + l[0] * l[1] * b],
    };
    let get_r = |b: usize, p: usize, j: usize| match optr {
        MatProp::NONE => rhs.data[p + r[0] * j + r[0] * r[1] * b],
        MatProp::TRANS => rhs.data[j + r[0] * p + r[0] * r[1] * b],
    };
    let batch = l[2] * l[3];
    let mut out = Vec::with_capacity(m * n * batch);
    for b in 0..batch {
        for j in 0..n {
            for i in 0..m {
                let mut acc = 0.0;
                for p in 0..k {
                    acc += get_l(b, i, p).to_f64() * get_r(b, p, j).to_f64();
                }
                out.push(T::from_f64(acc));
            }
        }
    }
    Array::from_vec(out, Dim4([m as u64, n as u64, l[2] as u64, l[3] as u64]))
}

/// `unwrap` as in ArrayFire's reference CPU kernel (`src/backend/cpu/kernel/unwrap.hpp`),
/// including its argument checks.
#[allow(clippy::too_many_arguments)]
pub fn unwrap<T: Elem>(
    input: &Array<T>,
    wx: i64,
    wy: i64,
    sx: i64,
    sy: i64,
    px: i64,
    py: i64,
    is_column: bool,
) -> Array<T> {
    let d = ud(input.dims);
    assert!(wx > 0 && wx <= d[0] as i64 + px, "emulator: unwrap wx");
    assert!(wy > 0 && wy <= d[1] as i64 + py, "emulator: unwrap wy");
    assert!(sx > 0 && sy > 0, "emulator: unwrap strides");
    assert!(
        (0..wx).contains(&px) && (0..wy).contains(&py),
        "emulator: unwrap padding"
    );
    let nx = ((d[0] as i64 + 2 * px - wx) / sx + 1) as usize;
    let ny = ((d[1] as i64 + 2 * py - wy) / sy + 1) as usize;
    let (win, patches) = ((wx * wy) as usize, nx * ny);
    let od = if is_column {
        [win, patches, d[2], d[3]]
    } else {
        [patches, win, d[2], d[3]]
    };
    let mut out = vec![T::default(); od.iter().product()];
    for w in 0..d[3] {
        for z in 0..d[2] {
            for col in 0..patches {
                let spx = (col % nx) as i64 * sx - px;
                let spy = (col / nx) as i64 * sy - py;
                for y in 0..wy {
                    for x in 0..wx {
                        let (xx, yy) = (spx + x, spy + y);
                        let e = (y * wx + x) as usize;
                        let o = if is_column {
                            [e, col, z, w]
                        } else {
                            [col, e, z, w]
                        };
                        if xx >= 0 && xx < d[0] as i64 && yy >= 0 && yy < d[1] as i64 {
                            out[at(od, o)] = input.data[at(d, [xx as usize, yy as usize, z, w])];
                        }
                    }
                }
            }
        }
    }
    Array::from_vec(out, Dim4(od.map(|x| x as u64)))
}

/// `wrap` as in ArrayFire's reference CPU kernel (`src/backend/cpu/kernel/wrap.hpp`):
/// overlapping patches are summed.
#[allow(clippy::too_many_arguments)]
pub fn wrap<T: Float>(
    input: &Array<T>,
    ox: i64,
    oy: i64,
    wx: i64,
    wy: i64,
    sx: i64,
    sy: i64,
    px: i64,
    py: i64,
    is_column: bool,
) -> Array<T> {
    let d = ud(input.dims);
    assert!(
        wx > 0 && wx <= ox + px && wy > 0 && wy <= oy + py,
        "emulator: wrap window"
    );
    assert!(
        (0..wx).contains(&px) && (0..wy).contains(&py),
        "emulator: wrap padding"
    );
    let nx = ((ox + 2 * px - wx) / sx + 1) as usize;
    let ny = ((oy + 2 * py - wy) / sy + 1) as usize;
    let (win, patches) = ((wx * wy) as usize, nx * ny);
    let expect = if is_column {
        [win, patches]
    } else {
        [patches, win]
    };
    assert_eq!([d[0], d[1]], expect, "emulator: wrap input dims");
    let od = [ox as usize, oy as usize, d[2], d[3]];
    let mut out = vec![0.0f64; od.iter().product()];
    for w in 0..d[3] {
        for z in 0..d[2] {
            for col in 0..patches {
                let spx = (col % nx) as i64 * sx - px;
                let spy = (col / nx) as i64 * sy - py;
                for y in 0..wy {
                    for x in 0..wx {
                        let (xx, yy) = (spx + x, spy + y);
                        let e = (y * wx + x) as usize;
                        let i = if is_column {
                            [e, col, z, w]
                        } else {
                            [col, e, z, w]
                        };
                        if xx >= 0 && xx < ox && yy >= 0 && yy < oy {
                            out[at(od, [xx as usize, yy as usize, z, w])] +=
                                input.data[at(d, i)].to_f64();
                        }
                    }
                }
            }
        }
    }
    Array::from_vec(
        out.into_iter().map(T::from_f64).collect(),
        Dim4(od.map(|x| x as u64)),
    )
}

/// `sum_by_key` along dim 0: runs of equal consecutive keys are summed.
pub fn sum_by_key<T: Float>(
    keys: &Array<u32>,
    vals: &Array<T>,
    dim: i32,
) -> (Array<u32>, Array<T>) {
    assert_eq!(dim, 0, "emulator: sum_by_key along dim 0 only");
    let d = ud(vals.dims);
    assert_eq!(keys.data.len(), d[0], "emulator: one key per row");
    let mut starts = Vec::new();
    for (i, k) in keys.data.iter().enumerate() {
        if i == 0 || keys.data[i - 1] != *k {
            starts.push(i);
        }
    }
    let u = starts.len();
    let od = [u, d[1], d[2], d[3]];
    let mut out = vec![0.0f64; od.iter().product()];
    // The run (output row) of every input row.
    let mut run = Vec::with_capacity(d[0]);
    let mut r = 0;
    for i in 0..d[0] {
        if r + 1 < u && starts[r + 1] == i {
            r += 1;
        }
        run.push(r);
    }
    each(d, |i| {
        out[at(od, [run[i[0]], i[1], i[2], i[3]])] += vals.data[at(d, i)].to_f64();
    });
    let out_keys: Vec<u32> = starts.iter().map(|&s| keys.data[s]).collect();
    (
        Array::from_vec(out_keys, Dim4([u as u64, 1, 1, 1])),
        Array::from_vec(
            out.into_iter().map(T::from_f64).collect(),
            Dim4(od.map(|x| x as u64)),
        ),
    )
}
