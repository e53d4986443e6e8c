//! Backends: where tensor data lives and the primitive kernels that compute on it.
//!
//! [`BackendStorage`] is the contract: a storage type plus every primitive kernel of
//! [`ops`]. The tensor layer above only ever calls these primitives, so adding a backend means
//! implementing this one trait and passing the shared conformance suite
//! (`tests/backend_conformance.rs`). The CPU backend ([`cpu::CpuStorage`]) is the default;
//! the ArrayFire backend sits behind the `arrayfire` cargo feature.

pub mod cpu;
pub mod ops;

use crate::{DType, Result, Shape};
pub use ops::*;
use std::fmt;

/// Where a tensor lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Device {
    /// Host memory, computed by the CPU backend (ndarray, rayon, gemm).
    #[default]
    Cpu,
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
        }
    }
}

/// Storage for one tensor's elements (contiguous, row-major) and the primitive kernels over it.
///
/// Shapes are passed in by the caller, which has already checked them; kernels may assume
/// that element counts match the shapes they are given.
pub trait BackendStorage: Sized + Clone + Send + Sync + fmt::Debug {
    /// Uploads host data, converting to `dtype`.
    fn from_f64_slice(data: &[f64], dtype: DType) -> Self;
    /// Uploads host `f32` data without conversion.
    fn from_f32_vec(data: Vec<f32>) -> Self;
    /// Uploads host `f64` data without conversion.
    fn from_f64_vec(data: Vec<f64>) -> Self;
    /// `count` copies of `value`.
    fn full(value: f64, count: usize, dtype: DType) -> Self;

    /// The element type.
    fn dtype(&self) -> DType;
    /// The device.
    fn device(&self) -> Device;
    /// Number of elements.
    fn elem_count(&self) -> usize;
    /// Downloads the elements as `f64`.
    fn to_f64_vec(&self) -> Vec<f64>;
    /// Downloads the elements as `f32`.
    fn to_f32_vec(&self) -> Vec<f32>;
    /// Converts to another element type.
    fn cast(&self, dtype: DType) -> Self;

    /// Elementwise function of one tensor.
    fn unary(&self, op: UnaryOp) -> Self;
    /// Elementwise function of two tensors broadcast to `out`.
    fn binary(
        &self,
        shape: &Shape,
        rhs: &Self,
        rhs_shape: &Shape,
        out: &Shape,
        op: BinaryOp,
    ) -> Self;
    /// `cond ≠ 0 ? on_true : on_false`, all broadcast to `out`.
    fn where_cond(
        cond: (&Self, &Shape),
        on_true: (&Self, &Shape),
        on_false: (&Self, &Shape),
        out: &Shape,
    ) -> Self;
    /// Materialises a broadcast to `target`.
    fn broadcast_to(&self, shape: &Shape, target: &Shape) -> Self;

    /// Reduction along `axis`; the result keeps the axis with size 1.
    fn reduce(&self, shape: &Shape, axis: usize, op: ReduceOp) -> Self;
    /// Index of the largest element along `axis` (first on ties), row-major over the others.
    fn argmax(&self, shape: &Shape, axis: usize) -> Vec<usize>;
    /// Inclusive scan along `axis`.
    fn scan(&self, shape: &Shape, axis: usize, op: ScanOp) -> Self;

    /// Batched matrix product.
    fn matmul(&self, rhs: &Self, dims: MatmulDims) -> Self;

    /// Reorders the axes: output axis `i` is input axis `perm[i]`.
    fn permute(&self, shape: &Shape, perm: &[usize]) -> Self;
    /// The elements `start..start + len` along `axis`.
    fn narrow(&self, shape: &Shape, axis: usize, start: usize, len: usize) -> Self;
    /// Joins tensors along `axis`.
    fn concat(parts: &[(&Self, &Shape)], axis: usize) -> Self;
    /// Selects entries `indices` along `axis` (repeats allowed).
    fn index_select(&self, shape: &Shape, axis: usize, indices: &[usize]) -> Self;
    /// The adjoint of `index_select`: a tensor with `size` entries along `axis`, zero except
    /// that entry `indices[i]` accumulates slice `i` of `self`.
    fn index_add(&self, shape: &Shape, axis: usize, indices: &[usize], size: usize) -> Self;
    /// `out[.., i, ..] = self[.., index[.., i, ..], ..]` along `axis`; `index` has shape
    /// `index_shape`, equal to `shape` except along `axis`.
    fn gather(&self, shape: &Shape, axis: usize, index: &[usize], index_shape: &Shape) -> Self;
    /// The adjoint of `gather`: zeros of shape `out` into which `self` (shaped like the
    /// index) is added at the indexed positions along `axis`.
    fn scatter_add(&self, index: &[usize], index_shape: &Shape, axis: usize, out: &Shape) -> Self;

    /// 2-D convolution, input NCHW, weight OIHW, no bias.
    fn conv2d(&self, weight: &Self, p: Conv2dParams) -> Self;
    /// Gradient of [`BackendStorage::conv2d`] with respect to its input (`self` is the output gradient).
    fn conv2d_backward_input(&self, weight: &Self, p: Conv2dParams) -> Self;
    /// Gradient of [`BackendStorage::conv2d`] with respect to its weight (`self` is the input).
    fn conv2d_backward_weight(&self, grad_out: &Self, p: Conv2dParams) -> Self;

    /// Average pooling.
    fn avg_pool2d(&self, p: Pool2dParams) -> Self;
    /// Gradient of average pooling (`self` is the output gradient).
    fn avg_pool2d_backward(&self, p: Pool2dParams) -> Self;
    /// Max pooling.
    fn max_pool2d(&self, p: Pool2dParams) -> Self;
    /// Gradient of max pooling (`self` is the input; the gradient goes to the first maximum).
    fn max_pool2d_backward(&self, grad_out: &Self, p: Pool2dParams) -> Self;

    /// Batch normalisation with batch statistics: returns `(y, mean, invstd)` where
    /// `y = (x − mean) · invstd · gamma + beta` per channel and `invstd = 1/√(var + eps)`
    /// with the biased variance.
    fn batch_norm(&self, gamma: &Self, beta: &Self, d: NormDims, eps: f64) -> (Self, Self, Self);
    /// Gradients `(dx, dgamma, dbeta)` of [`BackendStorage::batch_norm`]; `self` is `x`.
    fn batch_norm_backward(
        &self,
        grad_out: &Self,
        gamma: &Self,
        mean: &Self,
        invstd: &Self,
        d: NormDims,
    ) -> (Self, Self, Self);
}

/// The storage of a tensor on whichever backend it lives.
#[derive(Clone, Debug)]
pub enum Storage {
    /// On the CPU backend.
    Cpu(cpu::CpuStorage),
}

impl Storage {
    /// The device the storage lives on.
    pub fn device(&self) -> Device {
        match self {
            Storage::Cpu(_) => Device::Cpu,
        }
    }

    /// The CPU storage, if that is where the data lives.
    pub fn as_cpu(&self) -> Option<&cpu::CpuStorage> {
        match self {
            Storage::Cpu(s) => Some(s),
        }
    }

    /// Checks that `self` and `other` live on the same device.
    pub fn same_device(&self, other: &Storage, op: &'static str) -> Result<()> {
        if self.device() == other.device() {
            Ok(())
        } else {
            Err(crate::Error::DeviceMismatch {
                op,
                lhs: self.device().to_string(),
                rhs: other.device().to_string(),
            })
        }
    }

    /// Uploads host data to `device`, converting to `dtype`.
    pub fn from_f64_slice_on(data: &[f64], dtype: DType, device: Device) -> Self {
        match device {
            Device::Cpu => Storage::Cpu(cpu::CpuStorage::from_f64_slice(data, dtype)),
        }
    }

    /// Uploads host `f32` data to `device`.
    pub fn from_f32_vec_on(data: Vec<f32>, device: Device) -> Self {
        match device {
            Device::Cpu => Storage::Cpu(cpu::CpuStorage::from_f32_vec(data)),
        }
    }

    /// Uploads host `f64` data to `device`.
    pub fn from_f64_vec_on(data: Vec<f64>, device: Device) -> Self {
        match device {
            Device::Cpu => Storage::Cpu(cpu::CpuStorage::from_f64_vec(data)),
        }
    }

    /// `count` copies of `value` on `device`.
    pub fn full_on(value: f64, count: usize, dtype: DType, device: Device) -> Self {
        match device {
            Device::Cpu => Storage::Cpu(cpu::CpuStorage::full(value, count, dtype)),
        }
    }
}

/// Dispatches a method on one storage to the backend it lives on.
macro_rules! on_backend {
    ($s:expr, $b:ident => $body:expr) => {
        match $s {
            Storage::Cpu($b) => $body,
        }
    };
}

/// Unwraps a storage that the tensor layer has already checked to share the device of the
/// first operand.
macro_rules! same_backend {
    ($s:expr, Cpu) => {
        match $s {
            Storage::Cpu(b) => b,
        }
    };
}

/// Dispatch over devices. Operands of a multi-tensor kernel are checked for a common device
/// by the tensor layer before any kernel runs.
impl Storage {
    /// See [`BackendStorage::dtype`].
    pub fn dtype(&self) -> DType {
        on_backend!(self, s => s.dtype())
    }
    /// See [`BackendStorage::elem_count`].
    pub fn elem_count(&self) -> usize {
        on_backend!(self, s => s.elem_count())
    }
    /// See [`BackendStorage::to_f64_vec`].
    pub fn to_f64_vec(&self) -> Vec<f64> {
        on_backend!(self, s => s.to_f64_vec())
    }
    /// See [`BackendStorage::to_f32_vec`].
    pub fn to_f32_vec(&self) -> Vec<f32> {
        on_backend!(self, s => s.to_f32_vec())
    }
    /// See [`BackendStorage::cast`].
    pub fn cast(&self, dtype: DType) -> Self {
        on_backend!(self, s => Storage::Cpu(s.cast(dtype)))
    }
    /// See [`BackendStorage::unary`].
    pub fn unary(&self, op: UnaryOp) -> Self {
        on_backend!(self, s => Storage::Cpu(s.unary(op)))
    }
    /// See [`BackendStorage::binary`].
    pub fn binary(
        &self,
        shape: &Shape,
        rhs: &Self,
        rhs_shape: &Shape,
        out: &Shape,
        op: BinaryOp,
    ) -> Self {
        on_backend!(self, s => Storage::Cpu(s.binary(shape, same_backend!(rhs, Cpu), rhs_shape, out, op)))
    }
    /// See [`BackendStorage::where_cond`].
    pub fn where_cond(
        cond: (&Self, &Shape),
        on_true: (&Self, &Shape),
        on_false: (&Self, &Shape),
        out: &Shape,
    ) -> Self {
        on_backend!(cond.0, c => Storage::Cpu(cpu::CpuStorage::where_cond(
            (c, cond.1),
            (same_backend!(on_true.0, Cpu), on_true.1),
            (same_backend!(on_false.0, Cpu), on_false.1),
            out,
        )))
    }
    /// See [`BackendStorage::broadcast_to`].
    pub fn broadcast_to(&self, shape: &Shape, target: &Shape) -> Self {
        on_backend!(self, s => Storage::Cpu(s.broadcast_to(shape, target)))
    }
    /// See [`BackendStorage::reduce`].
    pub fn reduce(&self, shape: &Shape, axis: usize, op: ReduceOp) -> Self {
        on_backend!(self, s => Storage::Cpu(s.reduce(shape, axis, op)))
    }
    /// See [`BackendStorage::argmax`].
    pub fn argmax(&self, shape: &Shape, axis: usize) -> Vec<usize> {
        on_backend!(self, s => s.argmax(shape, axis))
    }
    /// See [`BackendStorage::scan`].
    pub fn scan(&self, shape: &Shape, axis: usize, op: ScanOp) -> Self {
        on_backend!(self, s => Storage::Cpu(s.scan(shape, axis, op)))
    }
    /// See [`BackendStorage::matmul`].
    pub fn matmul(&self, rhs: &Self, dims: MatmulDims) -> Self {
        on_backend!(self, s => Storage::Cpu(s.matmul(same_backend!(rhs, Cpu), dims)))
    }
    /// See [`BackendStorage::permute`].
    pub fn permute(&self, shape: &Shape, perm: &[usize]) -> Self {
        on_backend!(self, s => Storage::Cpu(s.permute(shape, perm)))
    }
    /// See [`BackendStorage::narrow`].
    pub fn narrow(&self, shape: &Shape, axis: usize, start: usize, len: usize) -> Self {
        on_backend!(self, s => Storage::Cpu(s.narrow(shape, axis, start, len)))
    }
    /// See [`BackendStorage::concat`].
    pub fn concat(parts: &[(&Self, &Shape)], axis: usize) -> Self {
        let cpu: Vec<(&cpu::CpuStorage, &Shape)> = parts
            .iter()
            .map(|(s, sh)| (same_backend!(s, Cpu), *sh))
            .collect();
        Storage::Cpu(cpu::CpuStorage::concat(&cpu, axis))
    }
    /// See [`BackendStorage::index_select`].
    pub fn index_select(&self, shape: &Shape, axis: usize, indices: &[usize]) -> Self {
        on_backend!(self, s => Storage::Cpu(s.index_select(shape, axis, indices)))
    }
    /// See [`BackendStorage::index_add`].
    pub fn index_add(&self, shape: &Shape, axis: usize, indices: &[usize], size: usize) -> Self {
        on_backend!(self, s => Storage::Cpu(s.index_add(shape, axis, indices, size)))
    }
    /// See [`BackendStorage::gather`].
    pub fn gather(&self, shape: &Shape, axis: usize, index: &[usize], index_shape: &Shape) -> Self {
        on_backend!(self, s => Storage::Cpu(s.gather(shape, axis, index, index_shape)))
    }
    /// See [`BackendStorage::scatter_add`].
    pub fn scatter_add(
        &self,
        index: &[usize],
        index_shape: &Shape,
        axis: usize,
        out: &Shape,
    ) -> Self {
        on_backend!(self, s => Storage::Cpu(s.scatter_add(index, index_shape, axis, out)))
    }
    /// See [`BackendStorage::conv2d`].
    pub fn conv2d(&self, weight: &Self, p: Conv2dParams) -> Self {
        on_backend!(self, s => Storage::Cpu(s.conv2d(same_backend!(weight, Cpu), p)))
    }
    /// See [`BackendStorage::conv2d_backward_input`].
    pub fn conv2d_backward_input(&self, weight: &Self, p: Conv2dParams) -> Self {
        on_backend!(self, s => Storage::Cpu(s.conv2d_backward_input(same_backend!(weight, Cpu), p)))
    }
    /// See [`BackendStorage::conv2d_backward_weight`].
    pub fn conv2d_backward_weight(&self, grad_out: &Self, p: Conv2dParams) -> Self {
        on_backend!(self, s => Storage::Cpu(s.conv2d_backward_weight(same_backend!(grad_out, Cpu), p)))
    }
    /// See [`BackendStorage::avg_pool2d`].
    pub fn avg_pool2d(&self, p: Pool2dParams) -> Self {
        on_backend!(self, s => Storage::Cpu(s.avg_pool2d(p)))
    }
    /// See [`BackendStorage::avg_pool2d_backward`].
    pub fn avg_pool2d_backward(&self, p: Pool2dParams) -> Self {
        on_backend!(self, s => Storage::Cpu(s.avg_pool2d_backward(p)))
    }
    /// See [`BackendStorage::max_pool2d`].
    pub fn max_pool2d(&self, p: Pool2dParams) -> Self {
        on_backend!(self, s => Storage::Cpu(s.max_pool2d(p)))
    }
    /// See [`BackendStorage::max_pool2d_backward`].
    pub fn max_pool2d_backward(&self, grad_out: &Self, p: Pool2dParams) -> Self {
        on_backend!(self, s => Storage::Cpu(s.max_pool2d_backward(same_backend!(grad_out, Cpu), p)))
    }
    /// See [`BackendStorage::batch_norm`].
    pub fn batch_norm(
        &self,
        gamma: &Self,
        beta: &Self,
        d: NormDims,
        eps: f64,
    ) -> (Self, Self, Self) {
        on_backend!(self, s => {
            let (y, m, v) = s.batch_norm(same_backend!(gamma, Cpu), same_backend!(beta, Cpu), d, eps);
            (Storage::Cpu(y), Storage::Cpu(m), Storage::Cpu(v))
        })
    }
    /// See [`BackendStorage::batch_norm_backward`].
    pub fn batch_norm_backward(
        &self,
        grad_out: &Self,
        gamma: &Self,
        mean: &Self,
        invstd: &Self,
        d: NormDims,
    ) -> (Self, Self, Self) {
        on_backend!(self, s => {
            let (dx, dg, db) = s.batch_norm_backward(
                same_backend!(grad_out, Cpu),
                same_backend!(gamma, Cpu),
                same_backend!(mean, Cpu),
                same_backend!(invstd, Cpu),
                d,
            );
            (Storage::Cpu(dx), Storage::Cpu(dg), Storage::Cpu(db))
        })
    }
}
