//! The ArrayFire backend: tensors on CUDA, OpenCL or CPU devices through ArrayFire 3.8 (the
//! `arrayfire` cargo feature; installation and limits in `docs/gpu.md`).
//!
//! - **Layout.** Every storage is one flat ArrayFire array holding the row-major elements.
//!   Row-major dims `[d0, …, dk]` over a buffer are column-major dims `[dk, …, d0]`, so kernels
//!   reshape (free) to the reversed dims and never transpose data just to change convention;
//!   the rank limit of ArrayFire (4) only matters inside a kernel, where shapes are folded to
//!   `[inner, n, outer]` around an axis or merged by [`plan`].
//! - **Kernels** ([`kernels`]) use ArrayFire's own where it has one (matmul, `unwrap`/`wrap`
//!   for convolution and pooling, reductions, scans, `lookup`, `sum_by_key`, `reorder`,
//!   `tile`, `join`, `select`) and compose the rest (see `docs/gpu.md` for the table).
//! - **Errors.** ArrayFire failures become [`Error::Backend`] (see [`device`]); nothing
//!   panics across this module's API.
//! - **Random numbers** are drawn on the host by [`crate::Rng`] and uploaded, like every
//!   backend, so a seed gives the same numbers on the CPU and on any device.
//! - **Empty tensors** hold no ArrayFire array; kernels whose output is empty return at
//!   once, and the few whose inputs are empty but output is not (a sum over an empty axis, a
//!   product with `k = 0`, …) run the CPU kernel on the (empty) inputs and upload its result.

mod device;
mod kernels;

#[cfg(feature = "arrayfire")]
pub(crate) use ::arrayfire as af;
#[cfg(all(feature = "arrayfire-emulator", not(feature = "arrayfire")))]
pub(crate) mod emulator;
#[cfg(all(feature = "arrayfire-emulator", not(feature = "arrayfire")))]
pub(crate) use emulator as af;

pub(crate) use super::af_plan as plan;
pub use device::{
    allocated_bytes, available, devices, free_cached_memory, resolve, supports_f64, synchronize,
    version, AfBackend, AfDevice, DeviceInfo, EMULATED,
};

use super::cpu::CpuStorage;
use super::ops::*;
use super::{BackendStorage, Device};
use crate::{DType, Error, Result, Shape};
use af::Array;
use device::guard;
use kernels::{f32k, f64k};
use std::fmt;
use std::mem::ManuallyDrop;
use std::sync::Arc;

/// An ArrayFire array that is released with its own device active (ArrayFire requires it;
/// the last owner of a tensor may drop it on any thread).
struct Held<T: ElemOf> {
    array: ManuallyDrop<Array<T>>,
    device: AfDevice,
}

impl<T: ElemOf> Drop for Held<T> {
    fn drop(&mut self) {
        // SAFETY: taken once, here, and never used again.
        let array = unsafe { ManuallyDrop::take(&mut self.array) };
        device::quietly(self.device, move || drop(array));
    }
}

/// The element types ArrayFire storages hold.
#[cfg(feature = "arrayfire")]
trait ElemOf: af::HasAfEnum {}
/// The element types ArrayFire storages hold.
#[cfg(all(feature = "arrayfire-emulator", not(feature = "arrayfire")))]
trait ElemOf: af::Elem {}
impl ElemOf for f32 {}
impl ElemOf for f64 {}

#[derive(Clone)]
enum Data {
    F32(Arc<Held<f32>>),
    F64(Arc<Held<f64>>),
    /// No elements: no ArrayFire array is made for empty tensors.
    Empty,
    /// A failure that the infallible constructor which made this storage could not report
    /// ([`crate::Tensor::full`], [`crate::Tensor::to_dtype`]); every use returns it.
    Failed(Arc<str>),
}

/// Elements of a tensor on an ArrayFire device.
#[derive(Clone)]
pub struct ArrayFireStorage {
    device: AfDevice,
    dtype: DType,
    len: usize,
    data: Data,
}

impl fmt::Debug for ArrayFireStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.data {
            Data::Failed(e) => format!(", failed: {e}"),
            _ => String::new(),
        };
        write!(
            f,
            "ArrayFireStorage({}, {:?}, {} elements{state})",
            self.device, self.dtype, self.len
        )
    }
}

/// Dispatches on the element type: `$k` is the kernel module, `$x` the input array.
macro_rules! per_dtype {
    ($s:expr, $x:ident, $k:ident => $body:expr) => {
        match &$s.data {
            Data::F32(h) => {
                use f32k as $k;
                let $x: &Array<f32> = &h.array;
                $body
            }
            Data::F64(h) => {
                use f64k as $k;
                let $x: &Array<f64> = &h.array;
                $body
            }
            Data::Empty => unreachable!("empty inputs are handled before dispatch"),
            Data::Failed(e) => Err(Error::Backend(e.to_string())),
        }
    };
}

/// The array of a further operand with the element type of the first.
trait Operand<T: ElemOf> {
    fn array(&self) -> Result<&Array<T>>;
}

impl Operand<f32> for ArrayFireStorage {
    fn array(&self) -> Result<&Array<f32>> {
        match &self.data {
            Data::F32(h) => Ok(&h.array),
            _ => Err(self.not_operand(DType::F32)),
        }
    }
}

impl Operand<f64> for ArrayFireStorage {
    fn array(&self) -> Result<&Array<f64>> {
        match &self.data {
            Data::F64(h) => Ok(&h.array),
            _ => Err(self.not_operand(DType::F64)),
        }
    }
}

/// Wraps kernel output of either element type.
trait IntoData: Sized {
    fn into_data(self, device: AfDevice) -> Data;
}

impl IntoData for Array<f32> {
    fn into_data(self, device: AfDevice) -> Data {
        Data::F32(Arc::new(Held {
            array: ManuallyDrop::new(self),
            device,
        }))
    }
}

impl IntoData for Array<f64> {
    fn into_data(self, device: AfDevice) -> Data {
        Data::F64(Arc::new(Held {
            array: ManuallyDrop::new(self),
            device,
        }))
    }
}

impl ArrayFireStorage {
    /// The ArrayFire device.
    pub fn af_device(&self) -> AfDevice {
        self.device
    }

    /// The failure this storage remembers, if it is one (see [`crate::Tensor::full`]).
    pub fn error(&self) -> Option<Error> {
        match &self.data {
            Data::Failed(e) => Some(Error::Backend(e.to_string())),
            _ => None,
        }
    }

    pub(crate) fn failed(error: Error, len: usize, dtype: DType, device: AfDevice) -> Self {
        let message = match error {
            Error::Backend(m) => m,
            other => other.to_string(),
        };
        ArrayFireStorage {
            device,
            dtype,
            len,
            data: Data::Failed(message.into()),
        }
    }

    fn empty(dtype: DType, device: AfDevice) -> Self {
        ArrayFireStorage {
            device,
            dtype,
            len: 0,
            data: Data::Empty,
        }
    }

    fn not_operand(&self, want: DType) -> Error {
        match &self.data {
            Data::Failed(e) => Error::Backend(e.to_string()),
            _ => Error::Backend(format!(
                "internal: operand {self:?} where a non-empty {want:?} array was expected"
            )),
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self.data, Data::Empty)
    }

    /// Checks that `other` is on this storage's device.
    fn same_device(&self, other: &Self) -> Result<()> {
        if self.device == other.device {
            Ok(())
        } else {
            Err(Error::DeviceMismatch {
                op: "ArrayFire kernel",
                lhs: self.device.to_string(),
                rhs: other.device.to_string(),
            })
        }
    }

    /// Runs a kernel on this storage's device and wraps its output of `len` elements.
    fn run<A: IntoData>(&self, len: usize, f: impl FnOnce() -> A) -> Result<Self> {
        Ok(self.output(guard(self.device, f)?, len))
    }

    /// Runs the CPU kernel on host copies of `inputs` and uploads its result: only for
    /// kernels with an empty input but a non-empty output, where there is nothing to compute
    /// on the device.
    fn via_host(
        &self,
        inputs: &[&Self],
        f: impl FnOnce(&[CpuStorage]) -> Result<CpuStorage>,
    ) -> Result<Self> {
        let host = inputs
            .iter()
            .map(|s| s.to_host())
            .collect::<Result<Vec<_>>>()?;
        Self::upload(&f(&host)?, self.device)
    }

    fn via_host3(
        &self,
        inputs: &[&Self],
        f: impl FnOnce(&[CpuStorage]) -> Result<(CpuStorage, CpuStorage, CpuStorage)>,
    ) -> Result<(Self, Self, Self)> {
        let host = inputs
            .iter()
            .map(|s| s.to_host())
            .collect::<Result<Vec<_>>>()?;
        let (a, b, c) = f(&host)?;
        Ok((
            Self::upload(&a, self.device)?,
            Self::upload(&b, self.device)?,
            Self::upload(&c, self.device)?,
        ))
    }

    fn to_host(&self) -> Result<CpuStorage> {
        match self.dtype {
            DType::F32 => CpuStorage::from_f32_vec(self.to_f32_vec()?, ()),
            DType::F64 => CpuStorage::from_f64_vec(self.to_f64_vec()?, ()),
        }
    }

    fn upload(host: &CpuStorage, device: AfDevice) -> Result<Self> {
        match host {
            CpuStorage::F32(v) => Self::from_f32_vec(v.clone(), device),
            CpuStorage::F64(v) => Self::from_f64_vec(v.clone(), device),
        }
    }

    /// Wraps a kernel output of `len` elements.
    fn output<A: IntoData>(&self, a: A, len: usize) -> Self {
        ArrayFireStorage {
            device: self.device,
            dtype: self.dtype,
            len,
            data: a.into_data(self.device),
        }
    }
}

fn dims(s: &Shape) -> &[usize] {
    s.dims()
}

fn to_u32(v: &[usize]) -> Vec<u32> {
    v.iter().map(|&i| i as u32).collect()
}

impl BackendStorage for ArrayFireStorage {
    type Location = AfDevice;

    fn from_f64_slice(data: &[f64], dtype: DType, at: AfDevice) -> Result<Self> {
        match dtype {
            DType::F32 => Self::from_f32_vec(data.iter().map(|&v| v as f32).collect(), at),
            DType::F64 => Self::from_f64_vec(data.to_vec(), at),
        }
    }

    fn from_f32_vec(data: Vec<f32>, at: AfDevice) -> Result<Self> {
        if data.is_empty() {
            return Ok(Self::empty(DType::F32, at));
        }
        let len = data.len();
        let data = guard(at, || f32k::upload(&data))?.into_data(at);
        Ok(ArrayFireStorage {
            device: at,
            dtype: DType::F32,
            len,
            data,
        })
    }

    fn from_f64_vec(data: Vec<f64>, at: AfDevice) -> Result<Self> {
        if data.is_empty() {
            return Ok(Self::empty(DType::F64, at));
        }
        let len = data.len();
        let data = guard(at, || f64k::upload(&data))?.into_data(at);
        Ok(ArrayFireStorage {
            device: at,
            dtype: DType::F64,
            len,
            data,
        })
    }

    fn full(value: f64, count: usize, dtype: DType, at: AfDevice) -> Result<Self> {
        if count == 0 {
            return Ok(Self::empty(dtype, at));
        }
        let data = match dtype {
            DType::F32 => guard(at, || f32k::full(value, count))?.into_data(at),
            DType::F64 => guard(at, || f64k::full(value, count))?.into_data(at),
        };
        Ok(ArrayFireStorage {
            device: at,
            dtype,
            len: count,
            data,
        })
    }

    fn dtype(&self) -> DType {
        self.dtype
    }

    fn device(&self) -> Device {
        Device::ArrayFire(self.device)
    }

    fn elem_count(&self) -> usize {
        self.len
    }

    fn to_f64_vec(&self) -> Result<Vec<f64>> {
        match &self.data {
            Data::F32(h) => Ok(guard(self.device, || f32k::download(&h.array))?
                .into_iter()
                .map(f64::from)
                .collect()),
            Data::F64(h) => guard(self.device, || f64k::download(&h.array)),
            Data::Empty => Ok(Vec::new()),
            Data::Failed(e) => Err(Error::Backend(e.to_string())),
        }
    }

    fn to_f32_vec(&self) -> Result<Vec<f32>> {
        match &self.data {
            Data::F32(h) => guard(self.device, || f32k::download(&h.array)),
            Data::F64(h) => Ok(guard(self.device, || f64k::download(&h.array))?
                .into_iter()
                .map(|v| v as f32)
                .collect()),
            Data::Empty => Ok(Vec::new()),
            Data::Failed(e) => Err(Error::Backend(e.to_string())),
        }
    }

    fn cast(&self, dtype: DType) -> Result<Self> {
        if self.is_empty() {
            return Ok(Self::empty(dtype, self.device));
        }
        let device = self.device;
        let data = match (&self.data, dtype) {
            (Data::F32(_), DType::F32) | (Data::F64(_), DType::F64) => self.data.clone(),
            (Data::F32(h), DType::F64) => guard(device, || {
                let a = h.array.cast::<f64>();
                a.eval();
                a
            })?
            .into_data(device),
            (Data::F64(h), DType::F32) => guard(device, || {
                let a = h.array.cast::<f32>();
                a.eval();
                a
            })?
            .into_data(device),
            (Data::Failed(e), _) => return Err(Error::Backend(e.to_string())),
            (Data::Empty, _) => unreachable!("handled above"),
        };
        Ok(ArrayFireStorage {
            device,
            dtype,
            len: self.len,
            data,
        })
    }

    fn unary(&self, op: UnaryOp) -> Result<Self> {
        if self.is_empty() {
            return Ok(self.clone());
        }
        per_dtype!(self, x, k => self.run(self.len, || k::unary(x, op)))
    }

    fn binary(
        &self,
        shape: &Shape,
        rhs: &Self,
        rhs_shape: &Shape,
        out: &Shape,
        op: BinaryOp,
    ) -> Result<Self> {
        self.same_device(rhs)?;
        let n = out.elem_count();
        if n == 0 {
            return Ok(Self::empty(self.dtype, self.device));
        }
        per_dtype!(self, x, k => {
            let y = rhs.array()?;
            self.run(n, || k::binary(x, dims(shape), y, dims(rhs_shape), dims(out), op))
        })
    }

    fn where_cond(
        cond: (&Self, &Shape),
        on_true: (&Self, &Shape),
        on_false: (&Self, &Shape),
        out: &Shape,
    ) -> Result<Self> {
        let t = on_true.0;
        t.same_device(cond.0)?;
        t.same_device(on_false.0)?;
        let n = out.elem_count();
        if n == 0 {
            return Ok(Self::empty(t.dtype, t.device));
        }
        // The condition may have either dtype; bring it to the values' dtype.
        let c = cond.0.cast(t.dtype)?;
        per_dtype!(t, x, k => {
            let (cv, fv) = (c.array()?, on_false.0.array()?);
            t.run(n, || {
                k::where_cond((cv, dims(cond.1)), (x, dims(on_true.1)), (fv, dims(on_false.1)), dims(out))
            })
        })
    }

    fn broadcast_to(&self, shape: &Shape, target: &Shape) -> Result<Self> {
        let n = target.elem_count();
        if n == 0 {
            return Ok(Self::empty(self.dtype, self.device));
        }
        per_dtype!(self, x, k => self.run(n, || k::broadcast(x, dims(shape), dims(target))))
    }

    fn reduce(&self, shape: &Shape, axis: usize, op: ReduceOp) -> Result<Self> {
        let (outer, n, inner) = shape.split_at_axis(axis);
        if outer * inner == 0 {
            return Ok(Self::empty(self.dtype, self.device));
        }
        if n == 0 {
            return self.via_host(&[self], |h| h[0].reduce(shape, axis, op));
        }
        per_dtype!(self, x, k => self.run(outer * inner, || k::reduce(x, (outer, n, inner), op)))
    }

    fn argmax(&self, shape: &Shape, axis: usize) -> Result<Vec<usize>> {
        let (outer, n, inner) = shape.split_at_axis(axis);
        if outer * inner == 0 {
            return Ok(Vec::new());
        }
        if n == 0 {
            return self.to_host()?.argmax(shape, axis);
        }
        per_dtype!(self, x, k => guard(self.device, || k::argmax(x, (outer, n, inner))))
    }

    fn scan(&self, shape: &Shape, axis: usize, op: ScanOp) -> Result<Self> {
        if self.is_empty() {
            return Ok(self.clone());
        }
        let split = shape.split_at_axis(axis);
        per_dtype!(self, x, k => self.run(self.len, || k::scan(x, split, op)))
    }

    fn matmul(&self, rhs: &Self, d: MatmulDims) -> Result<Self> {
        self.same_device(rhs)?;
        let n = d.batch * d.m * d.n;
        if n == 0 {
            return Ok(Self::empty(self.dtype, self.device));
        }
        if self.is_empty() || rhs.is_empty() {
            return self.via_host(&[self, rhs], |h| h[0].matmul(&h[1], d));
        }
        per_dtype!(self, x, k => {
            let y = rhs.array()?;
            self.run(n, || k::matmul(x, y, d))
        })
    }

    fn permute(&self, shape: &Shape, perm: &[usize]) -> Result<Self> {
        if self.is_empty() {
            return Ok(self.clone());
        }
        per_dtype!(self, x, k => self.run(self.len, || k::permute(x, dims(shape), perm)))
    }

    fn narrow(&self, shape: &Shape, axis: usize, start: usize, len: usize) -> Result<Self> {
        let (outer, n, inner) = shape.split_at_axis(axis);
        let count = outer * len * inner;
        if count == 0 {
            return Ok(Self::empty(self.dtype, self.device));
        }
        per_dtype!(self, x, k => self.run(count, || k::narrow(x, (outer, n, inner), start, len)))
    }

    fn concat(parts: &[(&Self, &Shape)], axis: usize) -> Result<Self> {
        let Some(&(first, _)) = parts.first() else {
            return Err(Error::invalid("concat", "no tensors to join"));
        };
        for (p, _) in parts {
            first.same_device(p)?;
        }
        let total: usize = parts.iter().map(|(p, _)| p.len).sum();
        let nonempty: Vec<&(&Self, &Shape)> = parts.iter().filter(|(p, _)| !p.is_empty()).collect();
        let Some(&&(lead, _)) = nonempty.first() else {
            return Ok(Self::empty(first.dtype, first.device));
        };
        per_dtype!(lead, _x, k => {
            let arrays = nonempty
                .iter()
                .map(|(p, sh)| Ok((p.array()?, sh.split_at_axis(axis))))
                .collect::<Result<Vec<_>>>()?;
            lead.run(total, || k::concat(&arrays))
        })
    }

    fn index_select(&self, shape: &Shape, axis: usize, indices: &[usize]) -> Result<Self> {
        let (outer, n, inner) = shape.split_at_axis(axis);
        let count = outer * indices.len() * inner;
        if count == 0 {
            return Ok(Self::empty(self.dtype, self.device));
        }
        let idx = to_u32(indices);
        per_dtype!(self, x, k => self.run(count, || k::index_select(x, (outer, n, inner), &idx)))
    }

    fn index_add(
        &self,
        shape: &Shape,
        axis: usize,
        indices: &[usize],
        size: usize,
    ) -> Result<Self> {
        let (outer, n, inner) = shape.split_at_axis(axis);
        let count = outer * size * inner;
        if count == 0 {
            return Ok(Self::empty(self.dtype, self.device));
        }
        if self.is_empty() {
            return self.via_host(&[self], |h| h[0].index_add(shape, axis, indices, size));
        }
        per_dtype!(self, x, k => {
            self.run(count, || k::index_add(x, (outer, n, inner), &indices[..n], size))
        })
    }

    fn gather(
        &self,
        shape: &Shape,
        axis: usize,
        index: &[usize],
        index_shape: &Shape,
    ) -> Result<Self> {
        if index.is_empty() {
            return Ok(Self::empty(self.dtype, self.device));
        }
        let positions = plan::gather_indices(
            shape.split_at_axis(axis),
            index,
            index_shape.split_at_axis(axis),
        );
        per_dtype!(self, x, k => self.run(index.len(), || k::take(x, &positions)))
    }

    fn scatter_add(
        &self,
        index: &[usize],
        index_shape: &Shape,
        axis: usize,
        out: &Shape,
    ) -> Result<Self> {
        let count = out.elem_count();
        if count == 0 {
            return Ok(Self::empty(self.dtype, self.device));
        }
        if self.is_empty() {
            return self.via_host(&[self], |h| h[0].scatter_add(index, index_shape, axis, out));
        }
        let targets = plan::scatter_targets(
            index,
            index_shape.split_at_axis(axis),
            out.split_at_axis(axis),
        );
        per_dtype!(self, x, k => self.run(count, || k::scatter_flat(x, &targets, count)))
    }

    fn conv2d(&self, weight: &Self, p: Conv2dParams) -> Result<Self> {
        self.same_device(weight)?;
        let count = p.batch * p.c_out * p.h_out() * p.w_out();
        if count == 0 {
            return Ok(Self::empty(self.dtype, self.device));
        }
        if self.is_empty() || weight.is_empty() {
            return self.via_host(&[self, weight], |h| h[0].conv2d(&h[1], p));
        }
        per_dtype!(self, x, k => {
            let w = weight.array()?;
            self.run(count, || k::conv2d(x, w, &p))
        })
    }

    fn conv2d_backward_input(&self, weight: &Self, p: Conv2dParams) -> Result<Self> {
        self.same_device(weight)?;
        let count = p.batch * p.c_in * p.h_in * p.w_in;
        if count == 0 {
            return Ok(Self::empty(self.dtype, self.device));
        }
        if self.is_empty() || weight.is_empty() {
            return self.via_host(&[self, weight], |h| h[0].conv2d_backward_input(&h[1], p));
        }
        per_dtype!(self, g, k => {
            let w = weight.array()?;
            self.run(count, || k::conv2d_backward_input(g, w, &p))
        })
    }

    fn conv2d_backward_weight(&self, grad_out: &Self, p: Conv2dParams) -> Result<Self> {
        self.same_device(grad_out)?;
        let count = p.c_out * p.c_in * p.k_h * p.k_w;
        if count == 0 {
            return Ok(Self::empty(self.dtype, self.device));
        }
        if self.is_empty() || grad_out.is_empty() {
            return self.via_host(&[self, grad_out], |h| h[0].conv2d_backward_weight(&h[1], p));
        }
        per_dtype!(self, x, k => {
            let g = grad_out.array()?;
            self.run(count, || k::conv2d_backward_weight(x, g, &p))
        })
    }

    fn avg_pool2d(&self, p: Pool2dParams) -> Result<Self> {
        let count = p.planes * p.h_out() * p.w_out();
        if count == 0 {
            return Ok(Self::empty(self.dtype, self.device));
        }
        per_dtype!(self, x, k => self.run(count, || k::avg_pool2d(x, &p)))
    }

    fn avg_pool2d_backward(&self, p: Pool2dParams) -> Result<Self> {
        let count = p.planes * p.h_in * p.w_in;
        if count == 0 {
            return Ok(Self::empty(self.dtype, self.device));
        }
        if self.is_empty() {
            return self.via_host(&[self], |h| h[0].avg_pool2d_backward(p));
        }
        per_dtype!(self, g, k => self.run(count, || k::avg_pool2d_backward(g, &p)))
    }

    fn max_pool2d(&self, p: Pool2dParams) -> Result<Self> {
        let count = p.planes * p.h_out() * p.w_out();
        if count == 0 {
            return Ok(Self::empty(self.dtype, self.device));
        }
        per_dtype!(self, x, k => self.run(count, || k::max_pool2d(x, &p)))
    }

    fn max_pool2d_backward(&self, grad_out: &Self, p: Pool2dParams) -> Result<Self> {
        self.same_device(grad_out)?;
        let count = p.planes * p.h_in * p.w_in;
        if count == 0 {
            return Ok(Self::empty(self.dtype, self.device));
        }
        if self.is_empty() || grad_out.is_empty() {
            return self.via_host(&[self, grad_out], |h| h[0].max_pool2d_backward(&h[1], p));
        }
        per_dtype!(self, x, k => {
            let g = grad_out.array()?;
            self.run(count, || k::max_pool2d_backward(x, g, &p))
        })
    }

    fn batch_norm(
        &self,
        gamma: &Self,
        beta: &Self,
        d: NormDims,
        eps: f64,
    ) -> Result<(Self, Self, Self)> {
        self.same_device(gamma)?;
        self.same_device(beta)?;
        if self.is_empty() || gamma.is_empty() {
            return self.via_host3(&[self, gamma, beta], |h| {
                h[0].batch_norm(&h[1], &h[2], d, eps)
            });
        }
        per_dtype!(self, x, k => {
            let (g, b) = (gamma.array()?, beta.array()?);
            let (y, m, s) = guard(self.device, || k::batch_norm(x, g, b, &d, eps))?;
            let c = d.channels;
            Ok((self.output(y, self.len), self.output(m, c), self.output(s, c)))
        })
    }

    fn batch_norm_backward(
        &self,
        grad_out: &Self,
        gamma: &Self,
        mean: &Self,
        invstd: &Self,
        d: NormDims,
    ) -> Result<(Self, Self, Self)> {
        for other in [grad_out, gamma, mean, invstd] {
            self.same_device(other)?;
        }
        if self.is_empty() || gamma.is_empty() {
            return self.via_host3(&[self, grad_out, gamma, mean, invstd], |h| {
                h[0].batch_norm_backward(&h[1], &h[2], &h[3], &h[4], d)
            });
        }
        per_dtype!(self, x, k => {
            let (g, ga, m, s) = (grad_out.array()?, gamma.array()?, mean.array()?, invstd.array()?);
            let (dx, dg, db) = guard(self.device, || k::batch_norm_backward(x, g, ga, m, s, &d))?;
            let c = d.channels;
            Ok((self.output(dx, self.len), self.output(dg, c), self.output(db, c)))
        })
    }
}
