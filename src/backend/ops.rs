//! Descriptions of the primitive kernels a backend implements.
//!
//! These enums and parameter structs are the whole vocabulary between the tensor layer and a
//! backend: anything the tensor layer does is either one of these primitives or a composition
//! of them.

/// An elementwise comparison; the result is 1 where it holds and 0 elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `a == b`
    Eq,
    /// `a != b`
    Ne,
    /// `a < b`
    Lt,
    /// `a <= b`
    Le,
    /// `a > b`
    Gt,
    /// `a >= b`
    Ge,
}

impl CmpOp {
    /// Applies the comparison to two floats.
    pub fn holds<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }
}

/// An elementwise function of one tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `e^x`
    Exp,
    /// natural logarithm
    Log,
    /// `log(1 + x)`, accurate for small `x`
    Log1p,
    /// square root
    Sqrt,
    /// absolute value
    Abs,
    /// −1, 0 or 1
    Sign,
    /// `x²`
    Square,
    /// `1 / x`
    Recip,
    /// logistic sigmoid `1 / (1 + e^{−x})`, computed stably
    Sigmoid,
    /// hyperbolic tangent
    Tanh,
    /// `max(x, 0)`
    Relu,
    /// 1 where `x > 0`, else 0 (the derivative of ReLU)
    Step,
    /// `x` where `x > 0`, else `slope · x`
    LeakyRelu(f64),
    /// 1 where `x > 0`, else `slope` (the derivative of leaky ReLU)
    LeakyStep(f64),
    /// `log(1 + e^x)`, computed stably
    Softplus,
    /// `log σ(x) = −softplus(−x)`, computed stably
    LogSigmoid,
    /// `x^p`
    Powf(f64),
    /// `min(max(x, lo), hi)`
    Clamp(f64, f64),
    /// 1 where `lo ≤ x ≤ hi`, else 0 (the derivative of clamp)
    InRange(f64, f64),
    /// `mul · x + add`
    Affine(f64, f64),
    /// comparison with a scalar: 1 where `x op value`
    CmpScalar(CmpOp, f64),
}

/// An elementwise function of two tensors, with broadcasting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `a + b`
    Add,
    /// `a − b`
    Sub,
    /// `a · b`
    Mul,
    /// `a / b`
    Div,
    /// elementwise maximum
    Maximum,
    /// elementwise minimum
    Minimum,
    /// `a^b`
    Pow,
    /// comparison: 1 where it holds, else 0
    Cmp(CmpOp),
}

/// A reduction along one axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    /// sum
    Sum,
    /// maximum
    Max,
    /// minimum
    Min,
}

/// An inclusive scan along one axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanOp {
    /// cumulative sum
    Sum,
    /// cumulative product
    Prod,
}

/// A batch of matrix products `C[b] = op(A[b]) · op(B[b])`, all contiguous row-major.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulDims {
    /// Number of products.
    pub batch: usize,
    /// Rows of the result.
    pub m: usize,
    /// Shared dimension.
    pub k: usize,
    /// Columns of the result.
    pub n: usize,
    /// Whether the left operand has one matrix per batch entry (else one shared matrix).
    pub lhs_batched: bool,
    /// Whether the right operand has one matrix per batch entry (else one shared matrix).
    pub rhs_batched: bool,
    /// Whether the left operand is stored as `k × m` and used transposed.
    pub lhs_transposed: bool,
    /// Whether the right operand is stored as `n × k` and used transposed.
    pub rhs_transposed: bool,
}

/// Geometry of a 2-D convolution over NCHW inputs with OIHW weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dParams {
    /// Batch size.
    pub batch: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub h_in: usize,
    /// Input width.
    pub w_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel height.
    pub k_h: usize,
    /// Kernel width.
    pub k_w: usize,
    /// Stride (both directions).
    pub stride: usize,
    /// Zero padding (both directions, both sides).
    pub padding: usize,
}

impl Conv2dParams {
    /// Output height.
    pub fn h_out(&self) -> usize {
        (self.h_in + 2 * self.padding - self.k_h) / self.stride + 1
    }

    /// Output width.
    pub fn w_out(&self) -> usize {
        (self.w_in + 2 * self.padding - self.k_w) / self.stride + 1
    }

    /// Floating-point operations of the forward pass (`2·K_h·K_w·C_in·C_out` per output
    /// position, math §9).
    pub fn flops(&self) -> u64 {
        2 * (self.k_h * self.k_w * self.c_in * self.c_out) as u64
            * (self.h_out() * self.w_out() * self.batch) as u64
    }
}

/// Geometry of a 2-D pooling window over NCHW inputs (no padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dParams {
    /// Batch size times channels.
    pub planes: usize,
    /// Input height.
    pub h_in: usize,
    /// Input width.
    pub w_in: usize,
    /// Window size (square).
    pub kernel: usize,
    /// Stride (both directions).
    pub stride: usize,
}

impl Pool2dParams {
    /// Output height.
    pub fn h_out(&self) -> usize {
        (self.h_in - self.kernel) / self.stride + 1
    }

    /// Output width.
    pub fn w_out(&self) -> usize {
        (self.w_in - self.kernel) / self.stride + 1
    }
}

/// Layout of a batch-normalisation input `[outer, channels, inner]` (NCHW: `N, C, H·W`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NormDims {
    /// Batch size.
    pub outer: usize,
    /// Channels (one mean and variance each).
    pub channels: usize,
    /// Positions per channel and example.
    pub inner: usize,
}
