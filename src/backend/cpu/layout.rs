//! Data-movement kernels: permute, narrow, concat, index-select, gather and their adjoints.

use crate::{Element, Shape};
use ndarray::{ArrayViewD, IxDyn};

/// Reorders axes: output axis `i` is input axis `perm[i]`.
pub fn permute<T: Element>(x: &[T], shape: &Shape, perm: &[usize]) -> Vec<T> {
    let v = ArrayViewD::from_shape(IxDyn(shape.dims()), x).expect("storage matches its shape");
    let p = v.permuted_axes(IxDyn(perm));
    match p.as_slice() {
        Some(s) => s.to_vec(),
        None => p.iter().copied().collect(),
    }
}

/// Elements `start..start + len` along `axis`.
pub fn narrow<T: Element>(x: &[T], shape: &Shape, axis: usize, start: usize, len: usize) -> Vec<T> {
    let (outer, n, inner) = shape.split_at_axis(axis);
    let mut out = Vec::with_capacity(outer * len * inner);
    for o in 0..outer {
        let base = (o * n + start) * inner;
        out.extend_from_slice(&x[base..base + len * inner]);
    }
    out
}

/// Joins along `axis`.
pub fn concat<T: Element>(parts: &[(&[T], &Shape)], axis: usize) -> Vec<T> {
    let Some((_, first)) = parts.first() else {
        return Vec::new();
    };
    let (outer, _, _) = first.split_at_axis(axis);
    let total: usize = parts.iter().map(|(d, _)| d.len()).sum();
    let mut out = Vec::with_capacity(total);
    for o in 0..outer {
        for (data, shape) in parts {
            let (_, n, inner) = shape.split_at_axis(axis);
            out.extend_from_slice(&data[o * n * inner..(o + 1) * n * inner]);
        }
    }
    out
}

/// Selects `indices` along `axis`.
pub fn index_select<T: Element>(x: &[T], shape: &Shape, axis: usize, indices: &[usize]) -> Vec<T> {
    let (outer, n, inner) = shape.split_at_axis(axis);
    let mut out = Vec::with_capacity(outer * indices.len() * inner);
    for o in 0..outer {
        for &i in indices {
            let base = (o * n + i) * inner;
            out.extend_from_slice(&x[base..base + inner]);
        }
    }
    out
}

/// Adjoint of `index_select`: accumulates slice `i` into entry `indices[i]` of a zero tensor
/// with `size` entries along `axis`.
pub fn index_add<T: Element>(
    x: &[T],
    shape: &Shape,
    axis: usize,
    indices: &[usize],
    size: usize,
) -> Vec<T> {
    let (outer, n, inner) = shape.split_at_axis(axis);
    let mut out = vec![T::zero(); outer * size * inner];
    for o in 0..outer {
        for (j, &i) in indices.iter().enumerate().take(n) {
            let src = &x[(o * n + j) * inner..(o * n + j + 1) * inner];
            let dst = &mut out[(o * size + i) * inner..(o * size + i + 1) * inner];
            for (d, &s) in dst.iter_mut().zip(src) {
                *d += s;
            }
        }
    }
    out
}

/// `out[o, j, i] = x[o, index[o, j, i], i]` around `axis`.
pub fn gather<T: Element>(
    x: &[T],
    shape: &Shape,
    axis: usize,
    index: &[usize],
    index_shape: &Shape,
) -> Vec<T> {
    let (_, n, inner) = shape.split_at_axis(axis);
    let (outer, m, _) = index_shape.split_at_axis(axis);
    let mut out = Vec::with_capacity(index.len());
    for o in 0..outer {
        for j in 0..m {
            for i in 0..inner {
                let k = index[(o * m + j) * inner + i];
                out.push(x[(o * n + k) * inner + i]);
            }
        }
    }
    out
}

/// Adjoint of `gather`: zeros of shape `out_shape` with `src[o, j, i]` added at
/// `[o, index[o, j, i], i]`.
pub fn scatter_add<T: Element>(
    src: &[T],
    index: &[usize],
    index_shape: &Shape,
    axis: usize,
    out_shape: &Shape,
) -> Vec<T> {
    let (_, n, inner) = out_shape.split_at_axis(axis);
    let (outer, m, _) = index_shape.split_at_axis(axis);
    let mut out = vec![T::zero(); out_shape.elem_count()];
    for o in 0..outer {
        for j in 0..m {
            for i in 0..inner {
                let pos = (o * m + j) * inner + i;
                out[(o * n + index[pos]) * inner + i] += src[pos];
            }
        }
    }
    out
}
