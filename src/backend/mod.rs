//! Backends: where tensor data lives and the primitive kernels that compute on it.
//!
//! [`BackendStorage`] is the contract: a storage type plus every primitive kernel of
//! [`ops`]. The tensor layer above only ever calls these primitives, so adding a backend means
//! implementing this one trait and passing the shared conformance suite
//! (`tests/backend_conformance.rs`). The CPU backend ([`cpu::CpuStorage`]) is the default;
//! the ArrayFire backend (`backend::arrayfire`) sits behind the `arrayfire` cargo feature (see
//! `docs/gpu.md`).

#[cfg(any(feature = "arrayfire", feature = "arrayfire-emulator"))]
pub mod arrayfire;
pub mod cpu;
pub mod ops;

// The ArrayFire backend's layout planning is plain Rust: compiled, and unit-tested, in every
// build.
#[cfg_attr(
    not(any(feature = "arrayfire", feature = "arrayfire-emulator")),
    allow(dead_code)
)]
#[path = "arrayfire/plan.rs"]
pub(crate) mod af_plan;

#[cfg(any(feature = "arrayfire", feature = "arrayfire-emulator"))]
pub use self::arrayfire::{AfBackend, AfDevice};
use crate::{DType, Error, Result, Shape};
pub use ops::*;
use std::fmt;
use std::str::FromStr;

/// Whether this build of pact has the ArrayFire backend (the `arrayfire` cargo feature, or
/// its test-only host emulation `arrayfire-emulator`).
pub const ARRAYFIRE_COMPILED: bool =
    cfg!(any(feature = "arrayfire", feature = "arrayfire-emulator"));

/// Where a tensor lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Device {
    /// Host memory, computed by the CPU backend (ndarray, rayon, gemm).
    #[default]
    Cpu,
    /// A device of ArrayFire (CUDA, OpenCL or ArrayFire's CPU backend); see
    /// [`Device::arrayfire`] and `docs/gpu.md`.
    #[cfg(any(feature = "arrayfire", feature = "arrayfire-emulator"))]
    ArrayFire(AfDevice),
}

impl Device {
    /// An ArrayFire device, checked to exist: `backend` [`AfBackend::Default`] picks the
    /// first of CUDA, OpenCL and CPU that has a device; `index` counts from 0 within the
    /// backend. Fails with [`Error::BackendUnavailable`] and the reason (no backend library,
    /// no such device) otherwise.
    ///
    /// ```no_run
    /// # #[cfg(feature = "arrayfire")] {
    /// use pact::backend::AfBackend;
    /// use pact::{DType, Device, Tensor};
    /// let gpu = Device::arrayfire(AfBackend::Cuda, 0)?;
    /// let x = Tensor::ones([2, 3], DType::F32, gpu);
    /// assert_eq!(x.sum_all()?.to_scalar()?, 6.0);
    /// # }
    /// # Ok::<(), pact::Error>(())
    /// ```
    #[cfg(any(feature = "arrayfire", feature = "arrayfire-emulator"))]
    pub fn arrayfire(backend: AfBackend, index: usize) -> Result<Device> {
        arrayfire::resolve(AfDevice { backend, index })
            .map(Device::ArrayFire)
            .map_err(Error::BackendUnavailable)
    }

    /// Waits until the device has finished the work queued so far (devices compute
    /// asynchronously; the CPU returns at once). For timing.
    pub fn synchronize(self) -> Result<()> {
        match self {
            Device::Cpu => Ok(()),
            #[cfg(any(feature = "arrayfire", feature = "arrayfire-emulator"))]
            Device::ArrayFire(d) => arrayfire::synchronize(d),
        }
    }

    /// Checks that the device can be used, and names it exactly: the CPU is always usable;
    /// for ArrayFire, its backend library must be loaded and the device must exist, and
    /// `AfBackend::Default` becomes the backend ArrayFire would pick. Fails with
    /// [`Error::BackendUnavailable`] and the reason otherwise.
    pub fn resolve(self) -> Result<Device> {
        match self {
            Device::Cpu => Ok(Device::Cpu),
            #[cfg(any(feature = "arrayfire", feature = "arrayfire-emulator"))]
            Device::ArrayFire(d) => Device::arrayfire(d.backend, d.index),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            #[cfg(any(feature = "arrayfire", feature = "arrayfire-emulator"))]
            Device::ArrayFire(d) => write!(f, "{d}"),
        }
    }
}

/// Why a device name names ArrayFire in a build without it.
const NO_ARRAYFIRE: &str = "this build of pact has no ArrayFire backend: enable the `arrayfire` \
     cargo feature (see docs/gpu.md)";

/// Parses `cpu` or `arrayfire[:BACKEND][:INDEX]` (`BACKEND` one of `cuda`, `opencl`, `cpu`;
/// `INDEX` the device within it, default 0). Does not check that the device exists (see
/// [`Device::resolve`]); a backend left out stays `AfBackend::Default`.
impl FromStr for Device {
    type Err = Error;

    fn from_str(s: &str) -> Result<Device> {
        let lower = s.trim().to_ascii_lowercase();
        let mut parts = lower.split(':');
        let bad = || {
            Error::invalid(
                "device",
                format!(
                    "unknown device `{s}`: expected cpu or arrayfire[:cuda|opencl|cpu][:INDEX]"
                ),
            )
        };
        match parts.next() {
            Some("cpu") if parts.next().is_none() => Ok(Device::Cpu),
            Some("arrayfire") | Some("af") => {
                if !ARRAYFIRE_COMPILED {
                    return Err(Error::BackendUnavailable(NO_ARRAYFIRE.to_string()));
                }
                #[cfg(any(feature = "arrayfire", feature = "arrayfire-emulator"))]
                {
                    let mut dev = AfDevice::default();
                    let rest: Vec<&str> = parts.collect();
                    if rest.len() > 2 {
                        return Err(bad());
                    }
                    for (i, part) in rest.iter().enumerate() {
                        if let Ok(index) = part.parse::<usize>() {
                            dev.index = index;
                        } else if i == 0 {
                            dev.backend = part.parse().map_err(|_| bad())?;
                        } else {
                            return Err(bad());
                        }
                    }
                    Ok(Device::ArrayFire(dev))
                }
                #[cfg(not(any(feature = "arrayfire", feature = "arrayfire-emulator")))]
                unreachable!("checked above")
            }
            _ => Err(bad()),
        }
    }
}

/// Storage for one tensor's elements (contiguous, row-major) and the primitive kernels over it.
///
/// Shapes are passed in by the caller, which has already checked them; kernels may assume
/// that element counts match the shapes they are given. Every kernel returns a `Result`: the
/// CPU backend never fails, a device backend reports its library's failures (out of memory,
/// no `f64` support, …) as [`crate::Error::Backend`].
pub trait BackendStorage: Sized + Clone + Send + Sync + fmt::Debug {
    /// Where a storage of this backend is placed: `()` for the CPU, the device for
    /// ArrayFire.
    type Location: Copy;

    /// Uploads host data, converting to `dtype`.
    fn from_f64_slice(data: &[f64], dtype: DType, at: Self::Location) -> Result<Self>;
    /// Uploads host `f32` data without conversion.
    fn from_f32_vec(data: Vec<f32>, at: Self::Location) -> Result<Self>;
    /// Uploads host `f64` data without conversion.
    fn from_f64_vec(data: Vec<f64>, at: Self::Location) -> Result<Self>;
    /// `count` copies of `value`.
    fn full(value: f64, count: usize, dtype: DType, at: Self::Location) -> Result<Self>;

    /// The element type.
    fn dtype(&self) -> DType;
    /// The device.
    fn device(&self) -> Device;
    /// Number of elements.
    fn elem_count(&self) -> usize;
    /// Downloads the elements as `f64`.
    fn to_f64_vec(&self) -> Result<Vec<f64>>;
    /// Downloads the elements as `f32`.
    fn to_f32_vec(&self) -> Result<Vec<f32>>;
    /// Converts to another element type.
    fn cast(&self, dtype: DType) -> Result<Self>;

    /// Elementwise function of one tensor.
    fn unary(&self, op: UnaryOp) -> Result<Self>;
    /// Elementwise function of two tensors broadcast to `out`.
    fn binary(
        &self,
        shape: &Shape,
        rhs: &Self,
        rhs_shape: &Shape,
        out: &Shape,
        op: BinaryOp,
    ) -> Result<Self>;
    /// `cond ≠ 0 ? on_true : on_false`, all broadcast to `out`.
    fn where_cond(
        cond: (&Self, &Shape),
        on_true: (&Self, &Shape),
        on_false: (&Self, &Shape),
        out: &Shape,
    ) -> Result<Self>;
    /// Materialises a broadcast to `target`.
    fn broadcast_to(&self, shape: &Shape, target: &Shape) -> Result<Self>;

    /// Reduction along `axis`; the result keeps the axis with size 1.
    fn reduce(&self, shape: &Shape, axis: usize, op: ReduceOp) -> Result<Self>;
    /// Index of the largest element along `axis` (first on ties), row-major over the others.
    fn argmax(&self, shape: &Shape, axis: usize) -> Result<Vec<usize>>;
    /// Inclusive scan along `axis`.
    fn scan(&self, shape: &Shape, axis: usize, op: ScanOp) -> Result<Self>;

    /// Batched matrix product.
    fn matmul(&self, rhs: &Self, dims: MatmulDims) -> Result<Self>;

    /// Reorders the axes: output axis `i` is input axis `perm[i]`.
    fn permute(&self, shape: &Shape, perm: &[usize]) -> Result<Self>;
    /// The elements `start..start + len` along `axis`.
    fn narrow(&self, shape: &Shape, axis: usize, start: usize, len: usize) -> Result<Self>;
    /// Joins tensors along `axis`.
    fn concat(parts: &[(&Self, &Shape)], axis: usize) -> Result<Self>;
    /// Selects entries `indices` along `axis` (repeats allowed).
    fn index_select(&self, shape: &Shape, axis: usize, indices: &[usize]) -> Result<Self>;
    /// The adjoint of `index_select`: a tensor with `size` entries along `axis`, zero except
    /// that entry `indices[i]` accumulates slice `i` of `self`.
    fn index_add(&self, shape: &Shape, axis: usize, indices: &[usize], size: usize)
        -> Result<Self>;
    /// `out[.., i, ..] = self[.., index[.., i, ..], ..]` along `axis`; `index` has shape
    /// `index_shape`, equal to `shape` except along `axis`.
    fn gather(
        &self,
        shape: &Shape,
        axis: usize,
        index: &[usize],
        index_shape: &Shape,
    ) -> Result<Self>;
    /// The adjoint of `gather`: zeros of shape `out` into which `self` (shaped like the
    /// index) is added at the indexed positions along `axis`.
    fn scatter_add(
        &self,
        index: &[usize],
        index_shape: &Shape,
        axis: usize,
        out: &Shape,
    ) -> Result<Self>;

    /// 2-D convolution, input NCHW, weight OIHW, no bias.
    fn conv2d(&self, weight: &Self, p: Conv2dParams) -> Result<Self>;
    /// Gradient of [`BackendStorage::conv2d`] with respect to its input (`self` is the output gradient).
    fn conv2d_backward_input(&self, weight: &Self, p: Conv2dParams) -> Result<Self>;
    /// Gradient of [`BackendStorage::conv2d`] with respect to its weight (`self` is the input).
    fn conv2d_backward_weight(&self, grad_out: &Self, p: Conv2dParams) -> Result<Self>;

    /// Average pooling.
    fn avg_pool2d(&self, p: Pool2dParams) -> Result<Self>;
    /// Gradient of average pooling (`self` is the output gradient).
    fn avg_pool2d_backward(&self, p: Pool2dParams) -> Result<Self>;
    /// Max pooling.
    fn max_pool2d(&self, p: Pool2dParams) -> Result<Self>;
    /// Gradient of max pooling (`self` is the input; the gradient goes to the first maximum).
    fn max_pool2d_backward(&self, grad_out: &Self, p: Pool2dParams) -> Result<Self>;

    /// Batch normalisation with batch statistics: returns `(y, mean, invstd)` where
    /// `y = (x − mean) · invstd · gamma + beta` per channel and `invstd = 1/√(var + eps)`
    /// with the biased variance.
    fn batch_norm(
        &self,
        gamma: &Self,
        beta: &Self,
        d: NormDims,
        eps: f64,
    ) -> Result<(Self, Self, Self)>;
    /// Gradients `(dx, dgamma, dbeta)` of [`BackendStorage::batch_norm`]; `self` is `x`.
    fn batch_norm_backward(
        &self,
        grad_out: &Self,
        gamma: &Self,
        mean: &Self,
        invstd: &Self,
        d: NormDims,
    ) -> Result<(Self, Self, Self)>;

    /// [`BackendStorage::batch_norm`] followed by a leaky ReLU with `slope`: returns
    /// `(leaky_relu(y), mean, invstd)`. Provided as the two kernels; a backend may fuse them.
    fn batch_norm_leaky(
        &self,
        gamma: &Self,
        beta: &Self,
        d: NormDims,
        eps: f64,
        slope: f64,
    ) -> Result<(Self, Self, Self)> {
        let (y, mean, invstd) = self.batch_norm(gamma, beta, d, eps)?;
        Ok((y.unary(UnaryOp::LeakyRelu(slope))?, mean, invstd))
    }

    /// Gradients `(dx, dgamma, dbeta)` of [`BackendStorage::batch_norm_leaky`] (`self` is
    /// `x`, `grad_out` the gradient of its output) for the `(eps, slope)` it ran with.
    /// Provided as the normalisation recomputed, the activation's gradient and
    /// [`BackendStorage::batch_norm_backward`]; a backend may fuse them.
    fn batch_norm_leaky_backward(
        &self,
        grad_out: &Self,
        (gamma, beta): (&Self, &Self),
        (mean, invstd): (&Self, &Self),
        d: NormDims,
        (eps, slope): (f64, f64),
    ) -> Result<(Self, Self, Self)> {
        let (z, _, _) = self.batch_norm(gamma, beta, d, eps)?;
        let shape = Shape::new([d.outer, d.channels, d.inner]);
        let dz = z.leaky_relu_backward(grad_out, &shape, slope)?;
        self.batch_norm_backward(&dz, gamma, mean, invstd, d)
    }

    /// The gradient of a leaky ReLU with `slope` at `self` (shape `shape`) for the output
    /// gradient `grad`: `grad` where `self > 0`, else `slope · grad` (ReLU is `slope = 0`).
    /// Provided as the two primitives it composes; a backend may fuse them.
    fn leaky_relu_backward(&self, grad: &Self, shape: &Shape, slope: f64) -> Result<Self> {
        grad.binary(
            shape,
            &self.unary(UnaryOp::LeakyStep(slope))?,
            shape,
            shape,
            BinaryOp::Mul,
        )
    }

    /// `self += rhs` for equal shapes `shape` (gradient accumulation). Provided as a
    /// [`BackendStorage::binary`] add; a backend may add in place.
    fn add_assign(&mut self, rhs: &Self, shape: &Shape) -> Result<()> {
        *self = self.binary(shape, rhs, shape, shape, BinaryOp::Add)?;
        Ok(())
    }
}

/// The storage of a tensor on whichever backend it lives.
#[derive(Clone, Debug)]
pub enum Storage {
    /// On the CPU backend.
    Cpu(cpu::CpuStorage),
    /// On an ArrayFire device.
    #[cfg(any(feature = "arrayfire", feature = "arrayfire-emulator"))]
    ArrayFire(arrayfire::ArrayFireStorage),
}

/// A backend's storage as one variant of [`Storage`].
trait Variant: BackendStorage {
    /// The storage of another operand, if it is on this backend.
    fn of(s: &Storage) -> Option<&Self>;
    /// Wraps into [`Storage`].
    fn wrap(self) -> Storage;
}

impl Variant for cpu::CpuStorage {
    fn of(s: &Storage) -> Option<&Self> {
        match s {
            Storage::Cpu(c) => Some(c),
            #[cfg(any(feature = "arrayfire", feature = "arrayfire-emulator"))]
            _ => None,
        }
    }
    fn wrap(self) -> Storage {
        Storage::Cpu(self)
    }
}

#[cfg(any(feature = "arrayfire", feature = "arrayfire-emulator"))]
impl Variant for arrayfire::ArrayFireStorage {
    fn of(s: &Storage) -> Option<&Self> {
        match s {
            Storage::ArrayFire(a) => Some(a),
            _ => None,
        }
    }
    fn wrap(self) -> Storage {
        Storage::ArrayFire(self)
    }
}

/// The storage of a further operand of a kernel whose first operand is `_first`: the tensor
/// layer has checked that all operands share a device, so a mismatch is reported, not
/// assumed away.
fn same<'a, B: Variant>(first: &B, other: &'a Storage, op: &'static str) -> Result<&'a B> {
    B::of(other).ok_or_else(|| Error::DeviceMismatch {
        op,
        lhs: first.device().to_string(),
        rhs: other.device().to_string(),
    })
}

fn wrap<B: Variant>(r: Result<B>) -> Result<Storage> {
    r.map(Variant::wrap)
}

fn wrap3<B: Variant>(r: Result<(B, B, B)>) -> Result<(Storage, Storage, Storage)> {
    r.map(|(a, b, c)| (a.wrap(), b.wrap(), c.wrap()))
}

/// Dispatches on the backend of one storage; `$body` is compiled once per backend, with
/// `$b` bound to that backend's storage.
macro_rules! on_backend {
    ($s:expr, $b:ident => $body:expr) => {
        match $s {
            Storage::Cpu($b) => $body,
            #[cfg(any(feature = "arrayfire", feature = "arrayfire-emulator"))]
            Storage::ArrayFire($b) => $body,
        }
    };
}

impl Storage {
    /// The device the storage lives on.
    pub fn device(&self) -> Device {
        on_backend!(self, s => s.device())
    }

    /// The CPU storage, if that is where the data lives.
    pub fn as_cpu(&self) -> Option<&cpu::CpuStorage> {
        cpu::CpuStorage::of(self)
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
    pub fn from_f64_slice_on(data: &[f64], dtype: DType, device: Device) -> Result<Self> {
        match device {
            Device::Cpu => wrap(cpu::CpuStorage::from_f64_slice(data, dtype, ())),
            #[cfg(any(feature = "arrayfire", feature = "arrayfire-emulator"))]
            Device::ArrayFire(d) => {
                wrap(arrayfire::ArrayFireStorage::from_f64_slice(data, dtype, d))
            }
        }
    }

    /// Uploads host `f32` data to `device`.
    pub fn from_f32_vec_on(data: Vec<f32>, device: Device) -> Result<Self> {
        match device {
            Device::Cpu => wrap(cpu::CpuStorage::from_f32_vec(data, ())),
            #[cfg(any(feature = "arrayfire", feature = "arrayfire-emulator"))]
            Device::ArrayFire(d) => wrap(arrayfire::ArrayFireStorage::from_f32_vec(data, d)),
        }
    }

    /// Uploads host `f64` data to `device`.
    pub fn from_f64_vec_on(data: Vec<f64>, device: Device) -> Result<Self> {
        match device {
            Device::Cpu => wrap(cpu::CpuStorage::from_f64_vec(data, ())),
            #[cfg(any(feature = "arrayfire", feature = "arrayfire-emulator"))]
            Device::ArrayFire(d) => wrap(arrayfire::ArrayFireStorage::from_f64_vec(data, d)),
        }
    }

    /// `count` copies of `value` on `device`.
    pub fn full_on(value: f64, count: usize, dtype: DType, device: Device) -> Result<Self> {
        match device {
            Device::Cpu => wrap(cpu::CpuStorage::full(value, count, dtype, ())),
            #[cfg(any(feature = "arrayfire", feature = "arrayfire-emulator"))]
            Device::ArrayFire(d) => wrap(arrayfire::ArrayFireStorage::full(value, count, dtype, d)),
        }
    }

    /// A storage that only remembers a failure: returned by the infallible constructors of
    /// the tensor layer ([`crate::Tensor::full`], [`crate::Tensor::to_dtype`], …) when a
    /// device cannot hold the result. Every kernel on it returns the error; the CPU never
    /// produces one.
    pub(crate) fn failed(error: Error, count: usize, dtype: DType, device: Device) -> Self {
        match device {
            // CPU constructors never fail, so this is never asked for; NaNs keep it total.
            Device::Cpu => {
                drop(error);
                Storage::Cpu(match dtype {
                    DType::F32 => cpu::CpuStorage::F32(vec![f32::NAN; count]),
                    DType::F64 => cpu::CpuStorage::F64(vec![f64::NAN; count]),
                })
            }
            #[cfg(any(feature = "arrayfire", feature = "arrayfire-emulator"))]
            Device::ArrayFire(d) => {
                Storage::ArrayFire(arrayfire::ArrayFireStorage::failed(error, count, dtype, d))
            }
        }
    }

    /// The error a failed storage remembers (see `Storage::failed`).
    pub fn error(&self) -> Option<Error> {
        match self {
            Storage::Cpu(_) => None,
            #[cfg(any(feature = "arrayfire", feature = "arrayfire-emulator"))]
            Storage::ArrayFire(s) => s.error(),
        }
    }
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
    pub fn try_to_f64_vec(&self) -> Result<Vec<f64>> {
        on_backend!(self, s => s.to_f64_vec())
    }
    /// See [`BackendStorage::to_f32_vec`].
    pub fn try_to_f32_vec(&self) -> Result<Vec<f32>> {
        on_backend!(self, s => s.to_f32_vec())
    }
    /// Downloads the elements as `f64`.
    ///
    /// # Panics
    /// If a device backend fails to download (the CPU never does); use
    /// [`Storage::try_to_f64_vec`] to get the error instead.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        self.try_to_f64_vec()
            .unwrap_or_else(|e| panic!("downloading a tensor from {}: {e}", self.device()))
    }
    /// Downloads the elements as `f32`.
    ///
    /// # Panics
    /// If a device backend fails to download (the CPU never does); use
    /// [`Storage::try_to_f32_vec`] to get the error instead.
    pub fn to_f32_vec(&self) -> Vec<f32> {
        self.try_to_f32_vec()
            .unwrap_or_else(|e| panic!("downloading a tensor from {}: {e}", self.device()))
    }
    /// See [`BackendStorage::cast`].
    pub fn cast(&self, dtype: DType) -> Result<Self> {
        on_backend!(self, s => wrap(s.cast(dtype)))
    }
    /// See [`BackendStorage::unary`].
    pub fn unary(&self, op: UnaryOp) -> Result<Self> {
        on_backend!(self, s => wrap(s.unary(op)))
    }
    /// See [`BackendStorage::binary`].
    pub fn binary(
        &self,
        shape: &Shape,
        rhs: &Self,
        rhs_shape: &Shape,
        out: &Shape,
        op: BinaryOp,
    ) -> Result<Self> {
        on_backend!(self, s => wrap(s.binary(shape, same(s, rhs, "binary")?, rhs_shape, out, op)))
    }
    /// See [`BackendStorage::where_cond`].
    pub fn where_cond(
        cond: (&Self, &Shape),
        on_true: (&Self, &Shape),
        on_false: (&Self, &Shape),
        out: &Shape,
    ) -> Result<Self> {
        on_backend!(cond.0, c => wrap(BackendStorage::where_cond(
            (c, cond.1),
            (same(c, on_true.0, "where_cond")?, on_true.1),
            (same(c, on_false.0, "where_cond")?, on_false.1),
            out,
        )))
    }
    /// See [`BackendStorage::broadcast_to`].
    pub fn broadcast_to(&self, shape: &Shape, target: &Shape) -> Result<Self> {
        on_backend!(self, s => wrap(s.broadcast_to(shape, target)))
    }
    /// See [`BackendStorage::reduce`].
    pub fn reduce(&self, shape: &Shape, axis: usize, op: ReduceOp) -> Result<Self> {
        on_backend!(self, s => wrap(s.reduce(shape, axis, op)))
    }
    /// See [`BackendStorage::argmax`].
    pub fn argmax(&self, shape: &Shape, axis: usize) -> Result<Vec<usize>> {
        on_backend!(self, s => s.argmax(shape, axis))
    }
    /// See [`BackendStorage::scan`].
    pub fn scan(&self, shape: &Shape, axis: usize, op: ScanOp) -> Result<Self> {
        on_backend!(self, s => wrap(s.scan(shape, axis, op)))
    }
    /// See [`BackendStorage::matmul`].
    pub fn matmul(&self, rhs: &Self, dims: MatmulDims) -> Result<Self> {
        on_backend!(self, s => wrap(s.matmul(same(s, rhs, "matmul")?, dims)))
    }
    /// See [`BackendStorage::permute`].
    pub fn permute(&self, shape: &Shape, perm: &[usize]) -> Result<Self> {
        on_backend!(self, s => wrap(s.permute(shape, perm)))
    }
    /// See [`BackendStorage::narrow`].
    pub fn narrow(&self, shape: &Shape, axis: usize, start: usize, len: usize) -> Result<Self> {
        on_backend!(self, s => wrap(s.narrow(shape, axis, start, len)))
    }
    /// See [`BackendStorage::concat`].
    pub fn concat(parts: &[(&Self, &Shape)], axis: usize) -> Result<Self> {
        let Some((first, _)) = parts.first() else {
            return Err(Error::invalid("concat", "no tensors to join"));
        };
        on_backend!(first, f => {
            let parts = parts
                .iter()
                .map(|(s, sh)| Ok((same(f, s, "concat")?, *sh)))
                .collect::<Result<Vec<_>>>()?;
            wrap(BackendStorage::concat(&parts, axis))
        })
    }
    /// See [`BackendStorage::index_select`].
    pub fn index_select(&self, shape: &Shape, axis: usize, indices: &[usize]) -> Result<Self> {
        on_backend!(self, s => wrap(s.index_select(shape, axis, indices)))
    }
    /// See [`BackendStorage::index_add`].
    pub fn index_add(
        &self,
        shape: &Shape,
        axis: usize,
        indices: &[usize],
        size: usize,
    ) -> Result<Self> {
        on_backend!(self, s => wrap(s.index_add(shape, axis, indices, size)))
    }
    /// See [`BackendStorage::gather`].
    pub fn gather(
        &self,
        shape: &Shape,
        axis: usize,
        index: &[usize],
        index_shape: &Shape,
    ) -> Result<Self> {
        on_backend!(self, s => wrap(s.gather(shape, axis, index, index_shape)))
    }
    /// See [`BackendStorage::scatter_add`].
    pub fn scatter_add(
        &self,
        index: &[usize],
        index_shape: &Shape,
        axis: usize,
        out: &Shape,
    ) -> Result<Self> {
        on_backend!(self, s => wrap(s.scatter_add(index, index_shape, axis, out)))
    }
    /// See [`BackendStorage::conv2d`].
    pub fn conv2d(&self, weight: &Self, p: Conv2dParams) -> Result<Self> {
        on_backend!(self, s => wrap(s.conv2d(same(s, weight, "conv2d")?, p)))
    }
    /// See [`BackendStorage::conv2d_backward_input`].
    pub fn conv2d_backward_input(&self, weight: &Self, p: Conv2dParams) -> Result<Self> {
        on_backend!(self, s => wrap(s.conv2d_backward_input(same(s, weight, "conv2d")?, p)))
    }
    /// See [`BackendStorage::conv2d_backward_weight`].
    pub fn conv2d_backward_weight(&self, grad_out: &Self, p: Conv2dParams) -> Result<Self> {
        on_backend!(self, s => wrap(s.conv2d_backward_weight(same(s, grad_out, "conv2d")?, p)))
    }
    /// See [`BackendStorage::avg_pool2d`].
    pub fn avg_pool2d(&self, p: Pool2dParams) -> Result<Self> {
        on_backend!(self, s => wrap(s.avg_pool2d(p)))
    }
    /// See [`BackendStorage::avg_pool2d_backward`].
    pub fn avg_pool2d_backward(&self, p: Pool2dParams) -> Result<Self> {
        on_backend!(self, s => wrap(s.avg_pool2d_backward(p)))
    }
    /// See [`BackendStorage::max_pool2d`].
    pub fn max_pool2d(&self, p: Pool2dParams) -> Result<Self> {
        on_backend!(self, s => wrap(s.max_pool2d(p)))
    }
    /// See [`BackendStorage::max_pool2d_backward`].
    pub fn max_pool2d_backward(&self, grad_out: &Self, p: Pool2dParams) -> Result<Self> {
        on_backend!(self, s => wrap(s.max_pool2d_backward(same(s, grad_out, "max_pool2d")?, p)))
    }
    /// See [`BackendStorage::batch_norm`].
    pub fn batch_norm(
        &self,
        gamma: &Self,
        beta: &Self,
        d: NormDims,
        eps: f64,
    ) -> Result<(Self, Self, Self)> {
        on_backend!(self, s => wrap3(s.batch_norm(
            same(s, gamma, "batch_norm")?,
            same(s, beta, "batch_norm")?,
            d,
            eps,
        )))
    }
    /// See [`BackendStorage::batch_norm_backward`].
    pub fn batch_norm_backward(
        &self,
        grad_out: &Self,
        gamma: &Self,
        mean: &Self,
        invstd: &Self,
        d: NormDims,
    ) -> Result<(Self, Self, Self)> {
        on_backend!(self, s => wrap3(s.batch_norm_backward(
            same(s, grad_out, "batch_norm")?,
            same(s, gamma, "batch_norm")?,
            same(s, mean, "batch_norm")?,
            same(s, invstd, "batch_norm")?,
            d,
        )))
    }
    /// See [`BackendStorage::batch_norm_leaky`].
    pub fn batch_norm_leaky(
        &self,
        gamma: &Self,
        beta: &Self,
        d: NormDims,
        eps: f64,
        slope: f64,
    ) -> Result<(Self, Self, Self)> {
        on_backend!(self, s => wrap3(s.batch_norm_leaky(
            same(s, gamma, "batch_norm")?,
            same(s, beta, "batch_norm")?,
            d,
            eps,
            slope,
        )))
    }
    /// See [`BackendStorage::batch_norm_leaky_backward`].
    pub fn batch_norm_leaky_backward(
        &self,
        grad_out: &Self,
        (gamma, beta): (&Self, &Self),
        (mean, invstd): (&Self, &Self),
        d: NormDims,
        eps_slope: (f64, f64),
    ) -> Result<(Self, Self, Self)> {
        on_backend!(self, s => wrap3(s.batch_norm_leaky_backward(
            same(s, grad_out, "batch_norm")?,
            (same(s, gamma, "batch_norm")?, same(s, beta, "batch_norm")?),
            (same(s, mean, "batch_norm")?, same(s, invstd, "batch_norm")?),
            d,
            eps_slope,
        )))
    }
    /// See [`BackendStorage::leaky_relu_backward`].
    pub fn leaky_relu_backward(&self, grad: &Self, shape: &Shape, slope: f64) -> Result<Self> {
        on_backend!(self, s => wrap(s.leaky_relu_backward(
            same(s, grad, "leaky_relu_backward")?,
            shape,
            slope,
        )))
    }
    /// See [`BackendStorage::add_assign`].
    pub fn add_assign(&mut self, rhs: &Self, shape: &Shape) -> Result<()> {
        match self {
            Storage::Cpu(s) => s.add_assign(same(s, rhs, "add_assign")?, shape),
            #[cfg(any(feature = "arrayfire", feature = "arrayfire-emulator"))]
            Storage::ArrayFire(s) => {
                let r = same(s, rhs, "add_assign")?;
                s.add_assign(r, shape)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names() {
        assert_eq!("cpu".parse::<Device>().unwrap(), Device::Cpu);
        assert_eq!(" CPU ".parse::<Device>().unwrap(), Device::Cpu);
        assert_eq!(Device::Cpu.to_string(), "cpu");
        for bad in ["", "gpu", "cpu:0", "cuda"] {
            assert!(
                matches!(bad.parse::<Device>(), Err(Error::InvalidArgument { .. })),
                "{bad:?}"
            );
        }
    }

    #[cfg(not(any(feature = "arrayfire", feature = "arrayfire-emulator")))]
    #[test]
    fn arrayfire_names_say_the_feature_is_missing() {
        for name in ["arrayfire", "arrayfire:cuda", "arrayfire:opencl:1"] {
            match name.parse::<Device>() {
                Err(Error::BackendUnavailable(m)) => assert!(m.contains("`arrayfire`"), "{m}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
