//! Element types: `f32` for models, `f64` for checks.

use std::fmt::Debug;

/// The element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// 32-bit float: the type models train in.
    F32,
    /// 64-bit float: the type gradient checks and exact computations use.
    F64,
}

impl DType {
    /// Size of one element in bytes.
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F64 => 8,
        }
    }

    /// The name used in safetensors files and messages (`F32`, `F64`).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "F32",
            DType::F64 => "F64",
        }
    }
}

/// A floating-point element a backend can store and compute with.
pub trait Element:
    num_traits::Float
    + num_traits::FromPrimitive
    + num_traits::NumAssign
    + std::iter::Sum
    + Default
    + Debug
    + Send
    + Sync
    + 'static
{
    /// The matching [`DType`].
    const DTYPE: DType;

    /// Converts from `f64` (rounding for `f32`).
    fn from_f64_lossy(v: f64) -> Self;

    /// Converts to `f64` exactly.
    fn to_f64_exact(self) -> f64;
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;

    fn from_f64_lossy(v: f64) -> Self {
        v as f32
    }

    fn to_f64_exact(self) -> f64 {
        self as f64
    }
}

impl Element for f64 {
    const DTYPE: DType = DType::F64;

    fn from_f64_lossy(v: f64) -> Self {
        v
    }

    fn to_f64_exact(self) -> f64 {
        self
    }
}
