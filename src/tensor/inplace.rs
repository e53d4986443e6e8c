//! In-place updates for evaluation without a graph: a fused per-channel scale and shift with
//! leaky ReLU (eval-mode batch norm and its activation), and `self += α · src[row]`.
//!
//! Tensors are immutable to everyone who can see them, so these ops only write into a
//! tensor's storage when nobody else can: this handle is its only owner, the storage is
//! shared with no other tensor (no reshaped view of it is alive), it records no graph and it
//! lives on the CPU. Otherwise they compute the same values out of place: the scale and
//! shift in one pass into fresh storage (on the CPU, without a graph), anything else with the
//! ordinary ops (allocating like them). Either way the arithmetic is the ordinary ops' own: the
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

use crate::backend::cpu::conv::direct::{self, InputMap};
use crate::backend::cpu::elementwise::{self, PAR_THRESHOLD};
use crate::backend::cpu::CpuStorage;
use crate::backend::Storage;
use crate::{Element, Error, Result, Shape, Tensor};
use rayon::prelude::*;
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
                        scale_shift_leaky(x, None, a, b, inner, slope)
                    }
                    (CpuStorage::F64(x), CpuStorage::F64(a), CpuStorage::F64(b)) => {
                        scale_shift_leaky(x, None, a, b, inner, slope)
                    }
                    _ => return Err(Error::invalid(NAME, "mixed dtypes")),
                }
                return Ok(self);
            }
            // Shared storage: the same values in one pass into fresh storage.
            if let (false, Some(src)) = (self.tracks(), self.storage().as_cpu()) {
                let storage = match (src, sc, sh) {
                    (CpuStorage::F32(x), CpuStorage::F32(a), CpuStorage::F32(b)) => {
                        let mut out = vec![0.0; x.len()];
                        scale_shift_leaky(&mut out, Some(x), a, b, inner, slope);
                        CpuStorage::F32(out)
                    }
                    (CpuStorage::F64(x), CpuStorage::F64(a), CpuStorage::F64(b)) => {
                        let mut out = vec![0.0; x.len()];
                        scale_shift_leaky(&mut out, Some(x), a, b, inner, slope);
                        CpuStorage::F64(out)
                    }
                    _ => return Err(Error::invalid(NAME, "mixed dtypes")),
                };
                return Ok(Tensor::build(
                    Storage::Cpu(storage),
                    self.shape().clone(),
                    None,
                    false,
                ));
            }
        }
        let mut shape = vec![1; self.rank()];
        shape[1] = channels;
        self.mul(&scale.reshape(shape.clone())?)?
            .add(&shift.reshape(shape)?)?
            .leaky_relu(slope)
    }

    /// `conv2d(leaky_relu(x · scale[c] + shift[c]), weight)` without a bias, `x` being `self`
    /// (`[B, C_in, H, W]`): evaluation-mode batch norm and its activation followed by a
    /// convolution, bit for bit what `self.clone().scale_shift_leaky_relu(scale, shift,
    /// slope)?.conv2d(weight, None, stride, padding)` computes. When those ops would record no
    /// graph, in `f32` on the CPU where the direct convolution kernels run, the map is applied
    /// as each image is copied for the kernels, so the normalised input is neither stored nor
    /// passed over; otherwise it is those two ops.
    ///
    /// ```
    /// use pact::{DType, Device, Rng, Tensor};
    /// let mut rng = Rng::seed(0);
    /// let x = Tensor::randn([2, 3, 8, 8], DType::F32, Device::Cpu, &mut rng)?;
    /// let w = Tensor::randn([4, 3, 3, 3], DType::F32, Device::Cpu, &mut rng)?;
    /// let scale = Tensor::from_f64_slice(&[0.5, 1.0, 2.0], [3], DType::F32, Device::Cpu)?;
    /// let shift = Tensor::from_f64_slice(&[0.0, -0.1, 0.3], [3], DType::F32, Device::Cpu)?;
    /// let fused = x.scale_shift_leaky_relu_conv2d(&scale, &shift, 0.1, &w, 1, 1)?;
    /// let composed = x
    ///     .clone()
    ///     .scale_shift_leaky_relu(&scale, &shift, 0.1)?
    ///     .conv2d(&w, None, 1, 1)?;
    /// assert_eq!(fused.dims(), [2, 4, 8, 8]);
    /// assert_eq!(fused.to_f64_vec(), composed.to_f64_vec());
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn scale_shift_leaky_relu_conv2d(
        &self,
        scale: &Tensor,
        shift: &Tensor,
        slope: f64,
        weight: &Tensor,
        stride: usize,
        padding: usize,
    ) -> Result<Tensor> {
        const NAME: &str = "scale_shift_leaky_relu_conv2d";
        let p = self.conv2d_params(weight, stride, padding, NAME)?;
        scale.expect_shape(&[p.c_in], NAME)?;
        shift.expect_shape(&[p.c_in], NAME)?;
        let map = ScaleShiftLeaky {
            scale,
            shift,
            slope,
        };
        let no_graph = records_no_graph(&[self, scale, shift, weight]);
        let slices = (f32_of(self), f32_of(weight), map.kernel_map());
        if let (true, (Some(x), Some(w), Some(map))) = (no_graph, slices) {
            if let Some(y) = direct::forward_mapped(x, w, p, Some(&map)) {
                let shape = Shape::new([p.batch, p.c_out, p.h_out(), p.w_out()]);
                let storage = Storage::Cpu(CpuStorage::F32(y));
                return Ok(Tensor::build(storage, shape, None, false));
            }
        }
        self.clone()
            .scale_shift_leaky_relu(scale, shift, slope)?
            .conv2d(weight, None, stride, padding)
    }

    /// `self += conv2d(map(input), weight)` without a bias, `self` of the convolution's output
    /// shape and `map` evaluation-mode batch norm with leaky ReLU (none: `input` itself): a
    /// residual unit's last convolution added to its states. Bit for bit
    /// `self.add(&map(input).conv2d(weight, None, stride, padding)?)`, `map` computed by
    /// [`Tensor::scale_shift_leaky_relu`]. When those ops would record no graph and `self` may
    /// be written (see the module docs), in `f32` with the direct convolution kernels, the map
    /// is applied as the kernels copy the input and each sum is added to `self` as they store
    /// it: no intermediate tensor and no pass of its own. Otherwise `self` is replaced by that
    /// sum computed with the ordinary ops.
    ///
    /// ```
    /// use pact::tensor::ScaleShiftLeaky;
    /// use pact::{DType, Device, Rng, Tensor};
    /// let mut rng = Rng::seed(0);
    /// let z = Tensor::randn([2, 3, 8, 8], DType::F32, Device::Cpu, &mut rng)?;
    /// let w = Tensor::randn([4, 3, 3, 3], DType::F32, Device::Cpu, &mut rng)?;
    /// let x = Tensor::randn([2, 4, 8, 8], DType::F32, Device::Cpu, &mut rng)?;
    /// let scale = Tensor::from_f64_slice(&[0.5, 1.0, 2.0], [3], DType::F32, Device::Cpu)?;
    /// let shift = Tensor::from_f64_slice(&[0.0, -0.1, 0.3], [3], DType::F32, Device::Cpu)?;
    /// let normed = z.clone().scale_shift_leaky_relu(&scale, &shift, 0.1)?;
    /// let expected = x.add(&normed.conv2d(&w, None, 1, 1)?)?;
    /// let mut states = x.mul_scalar(1.0)?;
    /// let map = ScaleShiftLeaky { scale: &scale, shift: &shift, slope: 0.1 };
    /// states.add_conv2d_in_place(&z, Some(map), &w, 1, 1)?;
    /// assert_eq!(states.to_f64_vec(), expected.to_f64_vec());
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn add_conv2d_in_place(
        &mut self,
        input: &Tensor,
        map: Option<ScaleShiftLeaky<'_>>,
        weight: &Tensor,
        stride: usize,
        padding: usize,
    ) -> Result<()> {
        const NAME: &str = "add_conv2d_in_place";
        let p = input.conv2d_params(weight, stride, padding, NAME)?;
        self.expect_shape(&[p.batch, p.c_out, p.h_out(), p.w_out()], NAME)?;
        self.check_compatible(input, NAME)?;
        if let Some(m) = &map {
            m.scale.expect_shape(&[p.c_in], NAME)?;
            m.shift.expect_shape(&[p.c_in], NAME)?;
        }
        let mut operands = vec![input, weight];
        operands.extend(map.iter().flat_map(|m| [m.scale, m.shift]));
        // The kernels' map: none, or the map's `f32` scale and shift on the CPU.
        let kernel_map = match &map {
            None => Some(None),
            Some(m) => m.kernel_map().map(Some),
        };
        let slices = (f32_of(input), f32_of(weight), kernel_map);
        if let (true, (Some(x), Some(w), Some(kernel_map))) = (records_no_graph(&operands), slices)
        {
            if let Some(CpuStorage::F32(y)) = self.unique_cpu_mut() {
                if direct::forward_accumulate(x, w, p, kernel_map.as_ref(), y) {
                    return Ok(());
                }
            }
        }
        let conv = match map {
            Some(m) => input.scale_shift_leaky_relu_conv2d(
                m.scale, m.shift, m.slope, weight, stride, padding,
            )?,
            None => input.conv2d(weight, None, stride, padding)?,
        };
        *self = self.add(&conv)?;
        Ok(())
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

/// Evaluation-mode batch norm and its leaky ReLU as one map of a convolution's input
/// channels, `leaky_relu(x · scale[c] + shift[c], slope)` (see
/// [`Tensor::add_conv2d_in_place`]).
#[derive(Clone, Copy, Debug)]
pub struct ScaleShiftLeaky<'a> {
    /// Per input channel, `[C_in]`.
    pub scale: &'a Tensor,
    /// Per input channel, `[C_in]`.
    pub shift: &'a Tensor,
    /// Leaky ReLU's slope for negative values.
    pub slope: f64,
}

impl<'a> ScaleShiftLeaky<'a> {
    /// The map for the convolution kernels: its scale and shift as `f32` on the CPU.
    fn kernel_map(&self) -> Option<InputMap<'a>> {
        Some(InputMap {
            scale: f32_of(self.scale)?,
            shift: f32_of(self.shift)?,
            slope: self.slope as f32,
        })
    }
}

/// Whether the ordinary ops on `operands` would record no graph: none is enabled, or no
/// operand tracks one.
pub(super) fn records_no_graph(operands: &[&Tensor]) -> bool {
    !crate::autodiff::is_grad_enabled() || !operands.iter().any(|t| t.tracks())
}

/// The elements of a CPU `f32` tensor.
pub(super) fn f32_of(t: &Tensor) -> Option<&[f32]> {
    t.storage().as_cpu().and_then(|c| c.as_f32())
}

/// Elements per work unit of the in-place kernels when they run in parallel (tensors of at
/// least [`PAR_THRESHOLD`] elements): whole planes, about this many elements each.
const WORK_UNIT: usize = 1 << 13;

/// `x ← leaky(f · a[c] + b[c])` over planes of `inner` elements, channel `c` cycling, where
/// `f` is `from` (of `x`'s length) or else `x` itself; in parallel over groups of planes for
/// large tensors (each element is computed the same way either way).
fn scale_shift_leaky<T: Element>(
    x: &mut [T],
    from: Option<&[T]>,
    a: &[T],
    b: &[T],
    inner: usize,
    slope: f64,
) {
    let slope = T::from_f64_lossy(slope);
    let channels = a.len();
    if inner == 0 || channels == 0 {
        return;
    }
    let planes = |first: usize, group: &mut [T], from: Option<&[T]>| {
        for (p, plane) in group.chunks_mut(inner).enumerate() {
            let c = (first + p) % channels;
            let (a, b) = (a[c], b[c]);
            // Rounded as the ordinary ops round it.
            let map = |v: T| elementwise::scale_shift_leaky(v, a, b, slope);
            match from {
                Some(f) => {
                    let f = &f[p * inner..p * inner + plane.len()];
                    plane.iter_mut().zip(f).for_each(|(v, &f)| *v = map(f));
                }
                None => plane.iter_mut().for_each(|v| *v = map(*v)),
            }
        }
    };
    if x.len() < PAR_THRESHOLD {
        return planes(0, x, from);
    }
    let per_group = (WORK_UNIT / inner).max(1);
    let len = per_group * inner;
    x.par_chunks_mut(len).enumerate().for_each(|(g, group)| {
        let from = from.map(|f| &f[g * len..g * len + group.len()]);
        planes(g * per_group, group, from)
    });
}

/// `x ← x + α · s`, the product rounded before the sum as the ordinary ops do; in parallel
/// for large tensors.
fn add_scaled<T: Element>(x: &mut [T], s: &[T], alpha: f64) {
    let alpha = T::from_f64_lossy(alpha);
    let add = |x: &mut [T], s: &[T]| {
        for (v, &s) in x.iter_mut().zip(s) {
            *v += s * alpha;
        }
    };
    if x.len() < PAR_THRESHOLD {
        return add(x, s);
    }
    x.par_chunks_mut(WORK_UNIT)
        .zip(s.par_chunks(WORK_UNIT))
        .for_each(|(x, s)| add(x, s));
}
