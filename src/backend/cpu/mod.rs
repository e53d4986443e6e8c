//! The default backend: host memory, kernels on ndarray, rayon and `gemm`.
//!
//! Every kernel is written once, generically over [`Element`], in the
//! submodule named after its kind; [`CpuStorage`] only dispatches on the element type.

pub mod conv;
pub mod elementwise;
mod fill;
pub mod gemm_isa;
pub mod isa;
pub mod layout;
pub mod matmul;
pub mod norm;
pub mod pool;
pub mod reduce;
pub mod weighted;

use super::ops::*;
use super::{BackendStorage, Device};
use crate::{DType, Element, Result, Shape};

/// Elements of a tensor in host memory.
#[derive(Clone, Debug, PartialEq)]
pub enum CpuStorage {
    /// 32-bit floats.
    F32(Vec<f32>),
    /// 64-bit floats.
    F64(Vec<f64>),
}

/// Applies a generic expression to the vector inside, keeping the dtype (the CPU backend
/// never fails, so the result is always `Ok`).
macro_rules! map1 {
    ($s:expr, $v:ident => $e:expr) => {
        Ok(match $s {
            CpuStorage::F32($v) => CpuStorage::F32($e),
            CpuStorage::F64($v) => CpuStorage::F64($e),
        })
    };
}

/// Applies a generic expression to the vector inside, returning its result as is.
macro_rules! with1 {
    ($s:expr, $v:ident => $e:expr) => {
        match $s {
            CpuStorage::F32($v) => $e,
            CpuStorage::F64($v) => $e,
        }
    };
}

/// The `f32` or `f64` vector of a second operand whose dtype the tensor layer has already
/// checked against the first.
trait Same<T> {
    fn same(&self) -> &[T];
}

impl Same<f32> for CpuStorage {
    fn same(&self) -> &[f32] {
        match self {
            CpuStorage::F32(v) => v,
            CpuStorage::F64(_) => unreachable!("dtype checked by the tensor layer"),
        }
    }
}

impl Same<f64> for CpuStorage {
    fn same(&self) -> &[f64] {
        match self {
            CpuStorage::F64(v) => v,
            CpuStorage::F32(_) => unreachable!("dtype checked by the tensor layer"),
        }
    }
}

impl CpuStorage {
    /// The elements as an `f32` slice, if that is the dtype.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match self {
            CpuStorage::F32(v) => Some(v),
            CpuStorage::F64(_) => None,
        }
    }

    /// The elements as an `f64` slice, if that is the dtype.
    pub fn as_f64(&self) -> Option<&[f64]> {
        match self {
            CpuStorage::F64(v) => Some(v),
            CpuStorage::F32(_) => None,
        }
    }
}

fn to_vec_of<T: Element, U: Element>(v: &[T]) -> Vec<U> {
    v.iter()
        .map(|&x| U::from_f64_lossy(x.to_f64_exact()))
        .collect()
}

impl CpuStorage {
    /// [`norm::batch_norm`] on either element type; `slope` fuses a leaky ReLU.
    fn norm_forward(
        &self,
        gamma: &Self,
        beta: &Self,
        d: NormDims,
        eps: f64,
        slope: Option<f64>,
    ) -> (Self, Self, Self) {
        macro_rules! forward {
            ($x:expr, $wrap:path) => {{
                let (y, m, s) = norm::batch_norm($x, gamma.same(), beta.same(), d, eps, slope);
                ($wrap(y), $wrap(m), $wrap(s))
            }};
        }
        match self {
            CpuStorage::F32(x) => forward!(x, CpuStorage::F32),
            CpuStorage::F64(x) => forward!(x, CpuStorage::F64),
        }
    }

    /// [`norm::batch_norm_backward`] on either element type; `leaky = Some((beta, slope))`
    /// for the forward pass that fused a leaky ReLU.
    fn norm_backward(
        &self,
        grad_out: &Self,
        gamma: &Self,
        (mean, invstd): (&Self, &Self),
        d: NormDims,
        leaky: Option<(&Self, f64)>,
    ) -> (Self, Self, Self) {
        macro_rules! backward {
            ($x:expr, $wrap:path) => {{
                let (a, b, c) = norm::batch_norm_backward(
                    $x,
                    grad_out.same(),
                    gamma.same(),
                    mean.same(),
                    invstd.same(),
                    d,
                    leaky.map(|(beta, slope)| (beta.same(), slope)),
                );
                ($wrap(a), $wrap(b), $wrap(c))
            }};
        }
        match self {
            CpuStorage::F32(x) => backward!(x, CpuStorage::F32),
            CpuStorage::F64(x) => backward!(x, CpuStorage::F64),
        }
    }
}

impl BackendStorage for CpuStorage {
    type Location = ();

    fn from_f64_slice(data: &[f64], dtype: DType, _: ()) -> Result<Self> {
        Ok(match dtype {
            DType::F32 => CpuStorage::F32(data.iter().map(|&v| v as f32).collect()),
            DType::F64 => CpuStorage::F64(data.to_vec()),
        })
    }

    fn from_f32_vec(data: Vec<f32>, _: ()) -> Result<Self> {
        Ok(CpuStorage::F32(data))
    }

    fn from_f64_vec(data: Vec<f64>, _: ()) -> Result<Self> {
        Ok(CpuStorage::F64(data))
    }

    fn full(value: f64, count: usize, dtype: DType, _: ()) -> Result<Self> {
        Ok(match dtype {
            DType::F32 => CpuStorage::F32(vec![value as f32; count]),
            DType::F64 => CpuStorage::F64(vec![value; count]),
        })
    }

    fn dtype(&self) -> DType {
        match self {
            CpuStorage::F32(_) => DType::F32,
            CpuStorage::F64(_) => DType::F64,
        }
    }

    fn device(&self) -> Device {
        Device::Cpu
    }

    fn elem_count(&self) -> usize {
        with1!(self, v => v.len())
    }

    fn to_f64_vec(&self) -> Result<Vec<f64>> {
        Ok(with1!(self, v => to_vec_of(v)))
    }

    fn to_f32_vec(&self) -> Result<Vec<f32>> {
        Ok(match self {
            CpuStorage::F32(v) => v.clone(),
            CpuStorage::F64(v) => to_vec_of(v),
        })
    }

    fn cast(&self, dtype: DType) -> Result<Self> {
        Ok(match (self, dtype) {
            (CpuStorage::F32(v), DType::F32) => CpuStorage::F32(v.clone()),
            (CpuStorage::F64(v), DType::F64) => CpuStorage::F64(v.clone()),
            (v, DType::F32) => CpuStorage::F32(with1!(v, x => to_vec_of(x))),
            (v, DType::F64) => CpuStorage::F64(with1!(v, x => to_vec_of(x))),
        })
    }

    fn unary(&self, op: UnaryOp) -> Result<Self> {
        map1!(self, v => elementwise::unary(v, op))
    }

    fn binary(
        &self,
        shape: &Shape,
        rhs: &Self,
        rhs_shape: &Shape,
        out: &Shape,
        op: BinaryOp,
    ) -> Result<Self> {
        map1!(self, v => elementwise::binary(v, shape, rhs.same(), rhs_shape, out, op))
    }

    fn where_cond(
        cond: (&Self, &Shape),
        on_true: (&Self, &Shape),
        on_false: (&Self, &Shape),
        out: &Shape,
    ) -> Result<Self> {
        // The condition may have either dtype; bring it to the values' dtype.
        let cond_same = cond.0.cast(on_true.0.dtype())?;
        map1!(on_true.0, t => elementwise::where_cond(
            (cond_same.same(), cond.1),
            (t, on_true.1),
            (on_false.0.same(), on_false.1),
            out,
        ))
    }

    fn batch_norm_leaky(
        &self,
        gamma: &Self,
        beta: &Self,
        d: NormDims,
        eps: f64,
        slope: f64,
    ) -> Result<(Self, Self, Self)> {
        Ok(self.norm_forward(gamma, beta, d, eps, Some(slope)))
    }

    fn batch_norm_leaky_backward(
        &self,
        grad_out: &Self,
        (gamma, beta): (&Self, &Self),
        (mean, invstd): (&Self, &Self),
        d: NormDims,
        (_eps, slope): (f64, f64),
    ) -> Result<(Self, Self, Self)> {
        Ok(self.norm_backward(grad_out, gamma, (mean, invstd), d, Some((beta, slope))))
    }

    fn leaky_relu_backward(&self, grad: &Self, _shape: &Shape, slope: f64) -> Result<Self> {
        map1!(self, x => elementwise::leaky_relu_backward(x, grad.same(), slope))
    }

    fn add_assign(&mut self, rhs: &Self, _shape: &Shape) -> Result<()> {
        match self {
            CpuStorage::F32(a) => elementwise::add_assign(a, rhs.same()),
            CpuStorage::F64(a) => elementwise::add_assign(a, rhs.same()),
        }
        Ok(())
    }

    fn broadcast_to(&self, shape: &Shape, target: &Shape) -> Result<Self> {
        map1!(self, v => elementwise::broadcast_to(v, shape, target))
    }

    fn reduce(&self, shape: &Shape, axis: usize, op: ReduceOp) -> Result<Self> {
        map1!(self, v => reduce::reduce(v, shape, axis, op))
    }

    fn argmax(&self, shape: &Shape, axis: usize) -> Result<Vec<usize>> {
        Ok(with1!(self, v => reduce::argmax(v, shape, axis)))
    }

    fn scan(&self, shape: &Shape, axis: usize, op: ScanOp) -> Result<Self> {
        map1!(self, v => reduce::scan(v, shape, axis, op))
    }

    fn matmul(&self, rhs: &Self, dims: MatmulDims) -> Result<Self> {
        map1!(self, v => matmul::matmul(v, rhs.same(), dims))
    }

    fn permute(&self, shape: &Shape, perm: &[usize]) -> Result<Self> {
        map1!(self, v => layout::permute(v, shape, perm))
    }

    fn narrow(&self, shape: &Shape, axis: usize, start: usize, len: usize) -> Result<Self> {
        map1!(self, v => layout::narrow(v, shape, axis, start, len))
    }

    fn concat(parts: &[(&Self, &Shape)], axis: usize) -> Result<Self> {
        Ok(match parts.first().map(|p| p.0.dtype()) {
            Some(DType::F64) => {
                let p: Vec<(&[f64], &Shape)> =
                    parts.iter().map(|(s, sh)| (s.same(), *sh)).collect();
                CpuStorage::F64(layout::concat(&p, axis))
            }
            _ => {
                let p: Vec<(&[f32], &Shape)> =
                    parts.iter().map(|(s, sh)| (s.same(), *sh)).collect();
                CpuStorage::F32(layout::concat(&p, axis))
            }
        })
    }

    fn index_select(&self, shape: &Shape, axis: usize, indices: &[usize]) -> Result<Self> {
        map1!(self, v => layout::index_select(v, shape, axis, indices))
    }

    fn index_add(
        &self,
        shape: &Shape,
        axis: usize,
        indices: &[usize],
        size: usize,
    ) -> Result<Self> {
        map1!(self, v => layout::index_add(v, shape, axis, indices, size))
    }

    fn gather(
        &self,
        shape: &Shape,
        axis: usize,
        index: &[usize],
        index_shape: &Shape,
    ) -> Result<Self> {
        map1!(self, v => layout::gather(v, shape, axis, index, index_shape))
    }

    fn scatter_add(
        &self,
        index: &[usize],
        index_shape: &Shape,
        axis: usize,
        out: &Shape,
    ) -> Result<Self> {
        map1!(self, v => layout::scatter_add(v, index, index_shape, axis, out))
    }

    fn conv2d(&self, weight: &Self, p: Conv2dParams) -> Result<Self> {
        map1!(self, v => conv::conv2d(v, weight.same(), p))
    }

    fn conv2d_backward_input(&self, weight: &Self, p: Conv2dParams) -> Result<Self> {
        map1!(self, v => conv::conv2d_backward_input(v, weight.same(), p))
    }

    fn conv2d_backward_weight(&self, grad_out: &Self, p: Conv2dParams) -> Result<Self> {
        map1!(self, v => conv::conv2d_backward_weight(v, grad_out.same(), p))
    }

    fn avg_pool2d(&self, p: Pool2dParams) -> Result<Self> {
        map1!(self, v => pool::avg_pool2d(v, p))
    }

    fn avg_pool2d_backward(&self, p: Pool2dParams) -> Result<Self> {
        map1!(self, v => pool::avg_pool2d_backward(v, p))
    }

    fn max_pool2d(&self, p: Pool2dParams) -> Result<Self> {
        map1!(self, v => pool::max_pool2d(v, p))
    }

    fn max_pool2d_backward(&self, grad_out: &Self, p: Pool2dParams) -> Result<Self> {
        map1!(self, v => pool::max_pool2d_backward(v, grad_out.same(), p))
    }

    fn batch_norm(
        &self,
        gamma: &Self,
        beta: &Self,
        d: NormDims,
        eps: f64,
    ) -> Result<(Self, Self, Self)> {
        Ok(self.norm_forward(gamma, beta, d, eps, None))
    }

    fn batch_norm_backward(
        &self,
        grad_out: &Self,
        gamma: &Self,
        mean: &Self,
        invstd: &Self,
        d: NormDims,
    ) -> Result<(Self, Self, Self)> {
        Ok(self.norm_backward(grad_out, gamma, (mean, invstd), d, None))
    }
}
