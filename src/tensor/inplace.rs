//! In-place updates for evaluation without a graph: a fused per-channel scale and shift with
//! leaky ReLU (eval-mode batch norm and its activation), and `self += α · src[row]`.
//!
//! Tensors are immutable to everyone who can see them, so these ops only write into a
//! tensor's storage when nobody else can: this handle is its only owner, the storage is
//! shared with no other tensor (no reshaped view of it is alive), it records no graph and it
//! lives on the CPU. Otherwise they compute the same values out of place with the ordinary
//! ops (and allocate like them). Either way the arithmetic is the ordinary ops' own: the
//! result is bit for bit that of `x.mul(scale).add(shift).leaky_relu(slope)` and of
//! `self.add(&src.narrow(0, row, 1)?.mul_scalar(α)?)`.
//!
//! ```
//! use pact::{DType, Device, Tensor};
//! let x = Tensor::from_f64_slice(&[1.0, -2.0, 3.0, -4.0], [1, 2, 2], DType::F32, Device::Cpu)?;
//! let scale = Tensor::from_f64_slice(&[2.0, 1.0], [2], DType::F32, Device::Cpu)?;
//! let shift = Tensor::from_f64_slice(&[0.0, 1.0], [2], DType::F32, Device::Cpu)?;
//! let y = x.scale_shift_leaky_relu(&scale, &shift, 0.1)?;
//! assert_eq!(y.to_f64_vec(), vec![2.0, -0.4000000059604645, 4.0, -0.30000001192092896]);
//! # Ok::<(), pact::Error>(())
//! ```

use crate::backend::cpu::elementwise::leaky_gain;
use crate::backend::cpu::CpuStorage;
use crate::backend::Storage;
use crate::{Element, Error, Result, Tensor};
use std::sync::Arc;

impl Tensor {
    /// The CPU elements of this tensor for writing, when this handle is the storage's only
    /// owner and no graph is recorded through it.
    fn unique_cpu_mut(&mut self) -> Option<&mut CpuStorage> {
        if self.tracks() {
            return None;
        }
        let inner = Arc::get_mut(&mut self.0)?;
        match Arc::get_mut(&mut inner.storage)? {
            Storage::Cpu(cpu) => Some(cpu),
            #[cfg(any(feature = "arrayfire", feature = "arrayfire-emulator"))]
            _ => None,
        }
    }

    /// `leaky_relu(x · scale[c] + shift[c])` along axis 1 (the channels of `[N, C, ..]`):
    /// eval-mode batch norm fused with its activation. Consumes `self` and writes into its
    /// storage when it may (see the module docs); a tensor that records a graph gets the
    /// ordinary, differentiable ops.
    pub fn scale_shift_leaky_relu(
        mut self,
        scale: &Tensor,
        shift: &Tensor,
        slope: f64,
    ) -> Result<Tensor> {
        const NAME: &str = "scale_shift_leaky_relu";
        let channels = self.dim(1)?;
        scale.expect_shape(&[channels], NAME)?;
        shift.expect_shape(&[channels], NAME)?;
        self.check_compatible(scale, NAME)?;
        self.check_compatible(shift, NAME)?;
        let inner: usize = self.dims()[2..].iter().product();
        let scale_host = (!scale.tracks() && !shift.tracks())
            .then(|| (scale.storage().as_cpu(), shift.storage().as_cpu()));
        if let Some((Some(sc), Some(sh))) = scale_host {
            if let Some(data) = self.unique_cpu_mut() {
                match (data, sc, sh) {
                    (CpuStorage::F32(x), CpuStorage::F32(a), CpuStorage::F32(b)) => {
                        scale_shift_leaky(x, a, b, inner, slope)
                    }
                    (CpuStorage::F64(x), CpuStorage::F64(a), CpuStorage::F64(b)) => {
                        scale_shift_leaky(x, a, b, inner, slope)
                    }
                    _ => return Err(Error::invalid(NAME, "mixed dtypes")),
                }
                return Ok(self);
            }
        }
        let mut shape = vec![1; self.rank()];
        shape[1] = channels;
        self.mul(&scale.reshape(shape.clone())?)?
            .add(&shift.reshape(shape)?)?
            .leaky_relu(slope)
    }

    /// `self += alpha · src[row]`, where `src[row]` is entry `row` of `src` along axis 0 and has
    /// as many elements as `self` (e.g. `self` is `[1, C, H, W]` and `src` is `[B, C, H, W]`).
    /// Writes into `self`'s storage when it may (see the module docs), else replaces `self`
    /// by the sum computed with the ordinary ops.
    pub fn add_scaled_row_in_place(&mut self, src: &Tensor, row: usize, alpha: f64) -> Result<()> {
        const NAME: &str = "add_scaled_row_in_place";
        self.check_compatible(src, NAME)?;
        let rows = src.dim(0)?;
        if row >= rows {
            return Err(Error::IndexOutOfRange {
                op: NAME,
                index: row,
                size: rows,
            });
        }
        let len = self.elem_count();
        if src.elem_count() != rows * len {
            return Err(Error::ShapeMismatch {
                op: NAME,
                lhs: self.shape().clone(),
                rhs: src.shape().clone(),
            });
        }
        let range = row * len..(row + 1) * len;
        if !src.tracks() {
            if let Some(source) = src.storage().as_cpu() {
                if let Some(data) = self.unique_cpu_mut() {
                    match (data, source) {
                        (CpuStorage::F32(x), CpuStorage::F32(s)) => add_scaled(x, &s[range], alpha),
                        (CpuStorage::F64(x), CpuStorage::F64(s)) => add_scaled(x, &s[range], alpha),
                        _ => return Err(Error::invalid(NAME, "mixed dtypes")),
                    }
                    return Ok(());
                }
            }
        }
        let term = src
            .narrow(0, row, 1)?
            .reshape(self.shape().clone())?
            .mul_scalar(alpha)?;
        *self = self.add(&term)?;
        Ok(())
    }
}

/// `x ← leaky(x · a[c] + b[c])` over planes of `inner` elements, channel `c` cycling.
fn scale_shift_leaky<T: Element>(x: &mut [T], a: &[T], b: &[T], inner: usize, slope: f64) {
    let slope = T::from_f64_lossy(slope);
    let channels = a.len();
    if inner == 0 || channels == 0 {
        return;
    }
    for (p, plane) in x.chunks_mut(inner).enumerate() {
        let (a, b) = (a[p % channels], b[p % channels]);
        for v in plane {
            // The ordinary ops round after the product and after the sum, as here (no FMA).
            let y = *v * a + b;
            *v = y * leaky_gain(y, slope);
        }
    }
}

/// `x ← x + α · s`, the product rounded before the sum as the ordinary ops do.
fn add_scaled<T: Element>(x: &mut [T], s: &[T], alpha: f64) {
    let alpha = T::from_f64_lossy(alpha);
    for (v, &s) in x.iter_mut().zip(s) {
        *v += s * alpha;
    }
}
