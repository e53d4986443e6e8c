//! The [`Tensor`] type: an n-dimensional array on a device that records the operations that
//! made it, so that gradients can flow back through them.
//!
//! Tensors are immutable and cheap to clone (reference counted). Every op returns a
//! `Result`: shape, dtype and device mismatches are errors, never panics. The op set is split
//! by kind: [`elementwise`], [`reduce`], [`layout`], [`linalg`], [`nn_ops`], [`random`].

pub mod elementwise;
pub mod inplace;
pub use inplace::ScaleShiftLeaky;
pub mod layout;
pub mod linalg;
pub mod nn_ops;
pub(crate) mod norm_conv;
pub mod random;
pub mod reduce;
pub mod special;
pub(crate) mod weighted;

use crate::autodiff::{self, Op};
use crate::backend::Storage;
use crate::{DType, Device, Error, Result, Shape};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A unique identity for every tensor node, used to key gradients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(u64);

impl TensorId {
    fn fresh() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        TensorId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

pub(crate) struct Inner {
    id: TensorId,
    storage: Arc<Storage>,
    shape: Shape,
    op: Option<Op>,
    is_variable: bool,
}

impl Drop for Inner {
    /// Releases the storage from the memory accounting when this is its last owner, and
    /// dismantles the graph behind this node iteratively: the default recursive drop of a
    /// long chain of ops (a recurrent net unrolled over many steps) overflows the stack.
    fn drop(&mut self) {
        if Arc::strong_count(&self.storage) == 1 {
            crate::memory::freed(self.storage.elem_count() * self.storage.dtype().size_in_bytes());
        }
        let Some(op) = self.op.take() else { return };
        let mut pending = vec![op];
        while let Some(op) = pending.pop() {
            for t in op.into_tensors() {
                // Only nodes this graph owns alone are taken apart here; shared ones are
                // dropped (the same way) by their last owner.
                if let Ok(mut inner) = Arc::try_unwrap(t.0) {
                    pending.extend(inner.op.take());
                }
            }
        }
    }
}

/// An n-dimensional array of `f32` or `f64` on a [`Device`], with reverse-mode autodiff.
///
/// ```
/// use pact::{DType, Device, Tensor};
/// let a = Tensor::from_f64_slice(&[1.0, 2.0, 3.0, 4.0], [2, 2], DType::F32, Device::Cpu)?;
/// let b = a.mul(&a)?.sum(1)?;
/// assert_eq!(b.to_f64_vec(), vec![5.0, 25.0]);
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<Inner>);

/// `op` if gradients are enabled and any of its inputs is tracked, else nothing to record.
fn recorded(op: Op) -> Option<Op> {
    (autodiff::is_grad_enabled() && op.inputs().iter().any(|t| t.tracks())).then_some(op)
}

impl Tensor {
    /// Builds a tensor from computed storage, recording `op` if gradients are enabled and
    /// any of its inputs is tracked.
    pub(crate) fn from_op(storage: Storage, shape: Shape, op: Op) -> Tensor {
        Tensor::build(storage, shape, recorded(op), false)
    }

    /// `out`'s values as the output of `op`, sharing its storage (no copy), with `op`
    /// recorded as [`Tensor::from_op`] records it.
    pub(crate) fn from_op_sharing(out: &Tensor, op: Op) -> Tensor {
        out.share_storage(out.shape().clone(), recorded(op), false)
    }

    pub(crate) fn build(
        storage: Storage,
        shape: Shape,
        op: Option<Op>,
        is_variable: bool,
    ) -> Tensor {
        debug_assert_eq!(storage.elem_count(), shape.elem_count());
        crate::memory::allocated(storage.elem_count() * storage.dtype().size_in_bytes());
        Tensor(Arc::new(Inner {
            id: TensorId::fresh(),
            storage: Arc::new(storage),
            shape,
            op,
            is_variable,
        }))
    }

    /// A tensor with new shape sharing this one's storage (no copy).
    pub(crate) fn share_storage(&self, shape: Shape, op: Option<Op>, is_variable: bool) -> Tensor {
        Tensor(Arc::new(Inner {
            id: TensorId::fresh(),
            storage: self.0.storage.clone(),
            shape,
            op,
            is_variable,
        }))
    }

    fn check_len(len: usize, shape: &Shape, op: &'static str) -> Result<()> {
        if len == shape.elem_count() {
            Ok(())
        } else {
            Err(Error::invalid(
                op,
                format!(
                    "{len} values do not fill shape {shape} ({} elements)",
                    shape.elem_count()
                ),
            ))
        }
    }

    /// A constant `f32` tensor from host data in row-major order.
    pub fn from_f32_vec(data: Vec<f32>, shape: impl Into<Shape>, device: Device) -> Result<Tensor> {
        let shape = shape.into();
        Self::check_len(data.len(), &shape, "from_f32_vec")?;
        Ok(Tensor::build(
            Storage::from_f32_vec_on(data, device)?,
            shape,
            None,
            false,
        ))
    }

    /// A constant `f64` tensor from host data in row-major order.
    pub fn from_f64_vec(data: Vec<f64>, shape: impl Into<Shape>, device: Device) -> Result<Tensor> {
        let shape = shape.into();
        Self::check_len(data.len(), &shape, "from_f64_vec")?;
        Ok(Tensor::build(
            Storage::from_f64_vec_on(data, device)?,
            shape,
            None,
            false,
        ))
    }

    /// A constant tensor of `dtype` from host `f64` data.
    pub fn from_f64_slice(
        data: &[f64],
        shape: impl Into<Shape>,
        dtype: DType,
        device: Device,
    ) -> Result<Tensor> {
        let shape = shape.into();
        Self::check_len(data.len(), &shape, "from_f64_slice")?;
        Ok(Tensor::build(
            Storage::from_f64_slice_on(data, dtype, device)?,
            shape,
            None,
            false,
        ))
    }

    /// A variable (a leaf that gradients are computed for) of dtype `f64` from host data.
    pub fn var_from_f64(data: &[f64], shape: impl Into<Shape>, device: Device) -> Result<Tensor> {
        Ok(Tensor::from_f64_slice(data, shape, DType::F64, device)?.to_var())
    }

    /// A tensor filled with `value`.
    ///
    /// On a device that cannot hold it (out of memory, no `f64` support), the tensor
    /// remembers the failure: every op on it returns the error (as does
    /// [`Tensor::try_to_f64_vec`]; [`Tensor::to_f64_vec`] panics with it).
    pub fn full(value: f64, shape: impl Into<Shape>, dtype: DType, device: Device) -> Tensor {
        let shape = shape.into();
        let n = shape.elem_count();
        let storage = Storage::full_on(value, n, dtype, device)
            .unwrap_or_else(|e| Storage::failed(e, n, dtype, device));
        Tensor::build(storage, shape, None, false)
    }

    /// A tensor of zeros.
    pub fn zeros(shape: impl Into<Shape>, dtype: DType, device: Device) -> Tensor {
        Tensor::full(0.0, shape, dtype, device)
    }

    /// A tensor of ones.
    pub fn ones(shape: impl Into<Shape>, dtype: DType, device: Device) -> Tensor {
        Tensor::full(1.0, shape, dtype, device)
    }

    /// A rank-0 tensor holding `value`.
    pub fn scalar(value: f64, dtype: DType, device: Device) -> Tensor {
        Tensor::full(value, Shape::scalar(), dtype, device)
    }

    /// `0, 1, …, n − 1`.
    pub fn arange(n: usize, dtype: DType, device: Device) -> Tensor {
        let data: Vec<f64> = (0..n).map(|i| i as f64).collect();
        Tensor::build(
            Storage::from_f64_slice_on(&data, dtype, device)
                .unwrap_or_else(|e| Storage::failed(e, n, dtype, device)),
            Shape::new([n]),
            None,
            false,
        )
    }

    /// A tensor like this one (shape, dtype, device) filled with `value`.
    pub fn full_like(&self, value: f64) -> Tensor {
        Tensor::full(value, self.shape().clone(), self.dtype(), self.device())
    }

    /// Zeros like this tensor.
    pub fn zeros_like(&self) -> Tensor {
        self.full_like(0.0)
    }

    /// Ones like this tensor.
    pub fn ones_like(&self) -> Tensor {
        self.full_like(1.0)
    }

    /// A scalar of this tensor's dtype and device.
    pub fn scalar_like(&self, value: f64) -> Tensor {
        Tensor::scalar(value, self.dtype(), self.device())
    }

    /// This tensor's values as a new variable: a leaf that gradients are computed for.
    pub fn to_var(&self) -> Tensor {
        self.share_storage(self.shape().clone(), None, true)
    }

    /// The same values cut from the graph: no gradient flows through the result.
    pub fn detach(&self) -> Tensor {
        if !self.tracks() {
            return self.clone();
        }
        self.share_storage(self.shape().clone(), None, false)
    }

    /// The tensor's identity.
    pub fn id(&self) -> TensorId {
        self.0.id
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.0.shape
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        self.0.shape.dims()
    }

    /// Size of dimension `axis`.
    pub fn dim(&self, axis: usize) -> Result<usize> {
        self.0.shape.dim(axis, "dim")
    }

    /// The number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.shape.rank()
    }

    /// The number of elements.
    pub fn elem_count(&self) -> usize {
        self.0.shape.elem_count()
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.0.storage.dtype()
    }

    /// The device.
    pub fn device(&self) -> Device {
        self.0.storage.device()
    }

    /// The storage (backend data).
    pub fn storage(&self) -> &Storage {
        &self.0.storage
    }

    pub(crate) fn op(&self) -> Option<&Op> {
        self.0.op.as_ref()
    }

    /// The storage, writable, if this handle is the only owner of both the tensor node and
    /// its storage (no clone, no view shares it), so that writing cannot be observed.
    pub(crate) fn unique_storage_mut(&mut self) -> Option<&mut Storage> {
        Arc::get_mut(&mut self.0).and_then(|inner| Arc::get_mut(&mut inner.storage))
    }

    /// Whether this is a variable (a leaf that gradients are computed for).
    pub fn is_variable(&self) -> bool {
        self.0.is_variable
    }

    /// Whether gradients can flow to a variable through this tensor.
    pub fn tracks(&self) -> bool {
        self.0.is_variable || self.0.op.is_some()
    }

    /// The elements as `f64`, row-major.
    ///
    /// # Panics
    /// If a device backend cannot download them (never on the CPU); see
    /// [`Tensor::try_to_f64_vec`].
    pub fn to_f64_vec(&self) -> Vec<f64> {
        self.0.storage.to_f64_vec()
    }

    /// The elements as `f32`, row-major.
    ///
    /// # Panics
    /// If a device backend cannot download them (never on the CPU); see
    /// [`Tensor::try_to_f32_vec`].
    pub fn to_f32_vec(&self) -> Vec<f32> {
        self.0.storage.to_f32_vec()
    }

    /// The elements as `f64`, row-major, or the device backend's error.
    pub fn try_to_f64_vec(&self) -> Result<Vec<f64>> {
        self.0.storage.try_to_f64_vec()
    }

    /// The elements as `f32`, row-major, or the device backend's error.
    pub fn try_to_f32_vec(&self) -> Result<Vec<f32>> {
        self.0.storage.try_to_f32_vec()
    }

    /// The same values on `device` (a copy through host memory; differentiable: the gradient
    /// goes back to this tensor's device).
    ///
    /// ```
    /// use pact::{DType, Device, Tensor};
    /// let x = Tensor::ones([2], DType::F32, Device::Cpu);
    /// assert_eq!(x.to_device(Device::Cpu)?.to_f64_vec(), vec![1.0, 1.0]);
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn to_device(&self, device: Device) -> Result<Tensor> {
        if device == self.device() {
            return Ok(self.clone());
        }
        let storage = match self.dtype() {
            DType::F32 => Storage::from_f32_vec_on(self.try_to_f32_vec()?, device)?,
            DType::F64 => Storage::from_f64_vec_on(self.try_to_f64_vec()?, device)?,
        };
        Ok(Tensor::from_op(
            storage,
            self.shape().clone(),
            Op::ToDevice(self.clone()),
        ))
    }

    /// The single value of a one-element tensor.
    pub fn to_scalar(&self) -> Result<f64> {
        if self.elem_count() != 1 {
            return Err(Error::invalid(
                "to_scalar",
                format!(
                    "tensor of shape {} has {} elements",
                    self.shape(),
                    self.elem_count()
                ),
            ));
        }
        Ok(self.try_to_f64_vec()?[0])
    }

    /// Converts to another element type (differentiable).
    ///
    /// On a device that cannot convert (no `f64` support), the result remembers the failure
    /// like [`Tensor::full`] does.
    pub fn to_dtype(&self, dtype: DType) -> Tensor {
        if dtype == self.dtype() {
            return self.clone();
        }
        let storage = self
            .storage()
            .cast(dtype)
            .unwrap_or_else(|e| Storage::failed(e, self.elem_count(), dtype, self.device()));
        Tensor::from_op(storage, self.shape().clone(), Op::Cast(self.clone()))
    }

    /// Checks that `other` has this tensor's dtype and device.
    pub(crate) fn check_compatible(&self, other: &Tensor, op: &'static str) -> Result<()> {
        if self.dtype() != other.dtype() {
            return Err(Error::DTypeMismatch {
                op,
                lhs: self.dtype(),
                rhs: other.dtype(),
            });
        }
        self.storage().same_device(other.storage(), op)
    }

    /// Checks that the tensor has exactly `shape`.
    pub fn expect_shape(&self, shape: &[usize], op: &'static str) -> Result<()> {
        if self.dims() == shape {
            Ok(())
        } else {
            Err(Error::ShapeMismatch {
                op,
                lhs: self.shape().clone(),
                rhs: Shape::new(shape),
            })
        }
    }

    /// Checks that every element is finite; the error names `what`.
    pub fn check_finite(&self, what: &str) -> Result<()> {
        if self.try_to_f64_vec()?.iter().all(|v| v.is_finite()) {
            Ok(())
        } else {
            Err(Error::NonFinite(what.to_string()))
        }
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values = self.to_f64_vec();
        let shown: Vec<f64> = values.iter().take(8).copied().collect();
        write!(
            f,
            "Tensor[{}; {:?}; {}] {:?}{}",
            self.shape(),
            self.dtype(),
            self.device(),
            shown,
            if values.len() > 8 { " …" } else { "" }
        )
    }
}
