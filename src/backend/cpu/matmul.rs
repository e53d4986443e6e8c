//! Matrix products on the `gemm` crate (chosen by measurement: see `docs/BENCHMARKS.md`), on
//! the instruction set of [`super::isa`] (through [`super::gemm_isa`]).

use crate::backend::ops::MatmulDims;
use crate::Element;
use gemm::Parallelism;
use rayon::prelude::*;

/// A matrix operand: its size, data, and row and column strides (in elements).
#[derive(Clone, Copy)]
pub struct MatRef<'a, T> {
    /// The elements.
    pub data: &'a [T],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Stride between rows.
    pub row_stride: usize,
    /// Stride between columns.
    pub col_stride: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// A contiguous row-major `rows × cols` matrix, or its transpose when `transposed`
    /// (then the data is stored `cols × rows`).
    pub fn new(data: &'a [T], rows: usize, cols: usize, transposed: bool) -> Self {
        let (row_stride, col_stride) = if transposed { (1, rows) } else { (cols, 1) };
        MatRef {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        }
    }
}

/// How many threads a single product may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// Stay on the calling thread (the caller parallelises over something else).
    One,
    /// Use the rayon pool.
    All,
}

/// `dst (m × n, row-major) = [dst +] a (m × k) · b (k × n)`.
pub fn gemm_into<T: Element>(
    dst: &mut [T],
    accumulate: bool,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    threads: Threads,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "gemm inner dimensions differ");
    assert!(dst.len() >= m * n, "gemm destination too small");
    assert!(m == 0 || k == 0 || a.data.len() > (m - 1) * a.row_stride + (k - 1) * a.col_stride);
    assert!(k == 0 || n == 0 || b.data.len() > (k - 1) * b.row_stride + (n - 1) * b.col_stride);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].iter_mut().for_each(|v| *v = T::zero());
        }
        return;
    }
    let parallelism = match threads {
        Threads::One => Parallelism::None,
        Threads::All if m * n * k >= 1 << 15 => Parallelism::Rayon(0),
        Threads::All => Parallelism::None,
    };
    // SAFETY: the asserts above check every pointer the strides can reach; `dst` is a unique
    // borrow, so it aliases neither operand.
    unsafe {
        super::gemm_isa::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            parallelism,
        );
    }
}

/// Batched matrix product as described by `d`.
pub fn matmul<T: Element>(a: &[T], b: &[T], d: MatmulDims) -> Vec<T> {
    let MatmulDims { batch, m, k, n, .. } = d;
    let mut out = vec![T::zero(); batch * m * n];
    if out.is_empty() {
        return out;
    }
    let a_size = m * k;
    let b_size = k * n;
    let one = |(i, dst): (usize, &mut [T]), threads: Threads| {
        let a_i = if d.lhs_batched {
            &a[i * a_size..(i + 1) * a_size]
        } else {
            a
        };
        let b_i = if d.rhs_batched {
            &b[i * b_size..(i + 1) * b_size]
        } else {
            b
        };
        gemm_into(
            dst,
            false,
            MatRef::new(a_i, m, k, d.lhs_transposed),
            MatRef::new(b_i, k, n, d.rhs_transposed),
            threads,
        );
    };
    if batch == 1 {
        one((0, &mut out), Threads::All);
    } else if m * n * k >= 1 << 14 {
        out.par_chunks_mut(m * n)
            .enumerate()
            .for_each(|x| one(x, Threads::One));
    } else {
        out.chunks_mut(m * n)
            .enumerate()
            .for_each(|x| one(x, Threads::One));
    }
    out
}
