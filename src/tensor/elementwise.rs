//! Elementwise arithmetic, math functions, comparisons and `where`.

use crate::autodiff::Op;
use crate::backend::ops::{BinaryOp, CmpOp, UnaryOp};
use crate::backend::Storage;
use crate::{Result, Tensor};

macro_rules! unary_methods {
    ($($(#[$doc:meta])* $name:ident => $op:expr;)*) => {
        impl Tensor {
            $($(#[$doc])* pub fn $name(&self) -> Result<Tensor> { self.unary($op) })*
        }
    };
}

unary_methods! {
    /// `−x`
    neg => UnaryOp::Neg;
    /// `eˣ`
    exp => UnaryOp::Exp;
    /// Natural logarithm.
    log => UnaryOp::Log;
    /// `log(1 + x)`, accurate near 0.
    log1p => UnaryOp::Log1p;
    /// Square root.
    sqrt => UnaryOp::Sqrt;
    /// Absolute value.
    abs => UnaryOp::Abs;
    /// `x²`
    square => UnaryOp::Square;
    /// `1/x`
    recip => UnaryOp::Recip;
    /// Logistic sigmoid `1/(1 + e^{−x})`, stable for large `|x|`.
    sigmoid => UnaryOp::Sigmoid;
    /// Hyperbolic tangent.
    tanh => UnaryOp::Tanh;
    /// `max(x, 0)`
    relu => UnaryOp::Relu;
    /// `log(1 + eˣ)`, stable for large `|x|`.
    softplus => UnaryOp::Softplus;
    /// `log σ(x)`, stable for large `|x|`.
    log_sigmoid => UnaryOp::LogSigmoid;
    /// −1, 0 or 1 (no gradient).
    sign => UnaryOp::Sign;
}

impl Tensor {
    /// Applies an elementwise [`UnaryOp`].
    pub fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        Ok(Tensor::from_op(
            self.storage().unary(op)?,
            self.shape().clone(),
            Op::Unary(self.clone(), op),
        ))
    }

    /// Leaky ReLU: `x` for `x > 0`, else `slope · x`.
    pub fn leaky_relu(&self, slope: f64) -> Result<Tensor> {
        self.unary(UnaryOp::LeakyRelu(slope))
    }

    /// `xᵖ` for a scalar exponent.
    pub fn powf(&self, p: f64) -> Result<Tensor> {
        self.unary(UnaryOp::Powf(p))
    }

    /// Clamps into `[lo, hi]` (gradient 1 inside, 0 outside).
    pub fn clamp(&self, lo: f64, hi: f64) -> Result<Tensor> {
        self.unary(UnaryOp::Clamp(lo, hi))
    }

    /// `mul · x + add`.
    pub fn affine(&self, mul: f64, add: f64) -> Result<Tensor> {
        self.unary(UnaryOp::Affine(mul, add))
    }

    /// `x + c` for a scalar.
    pub fn add_scalar(&self, c: f64) -> Result<Tensor> {
        self.affine(1.0, c)
    }

    /// `c · x` for a scalar.
    pub fn mul_scalar(&self, c: f64) -> Result<Tensor> {
        self.affine(c, 0.0)
    }

    /// Applies a [`BinaryOp`] with NumPy broadcasting.
    pub fn binary(&self, rhs: &Tensor, op: BinaryOp) -> Result<Tensor> {
        const NAME: &str = "binary op";
        self.check_compatible(rhs, NAME)?;
        let out = self.shape().broadcast(rhs.shape(), NAME)?;
        let storage = self
            .storage()
            .binary(self.shape(), rhs.storage(), rhs.shape(), &out, op)?;
        Ok(Tensor::from_op(
            storage,
            out,
            Op::Binary(self.clone(), rhs.clone(), op),
        ))
    }

    /// `self + rhs` (broadcasting).
    pub fn add(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Add)
    }

    /// `self − rhs` (broadcasting).
    pub fn sub(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Sub)
    }

    /// `self · rhs` elementwise (broadcasting).
    pub fn mul(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Mul)
    }

    /// `self / rhs` elementwise (broadcasting).
    pub fn div(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Div)
    }

    /// Elementwise maximum (broadcasting); ties send the gradient to `self`.
    pub fn maximum(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Maximum)
    }

    /// Elementwise minimum (broadcasting); ties send the gradient to `self`.
    pub fn minimum(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Minimum)
    }

    /// `self ^ rhs` elementwise (broadcasting).
    pub fn pow(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Pow)
    }

    /// 1 where `self == rhs`, else 0 (no gradient).
    pub fn eq(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Cmp(CmpOp::Eq))
    }

    /// 1 where `self != rhs`, else 0.
    pub fn ne(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Cmp(CmpOp::Ne))
    }

    /// 1 where `self < rhs`, else 0.
    pub fn lt(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Cmp(CmpOp::Lt))
    }

    /// 1 where `self <= rhs`, else 0.
    pub fn le(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Cmp(CmpOp::Le))
    }

    /// 1 where `self > rhs`, else 0.
    pub fn gt(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Cmp(CmpOp::Gt))
    }

    /// 1 where `self >= rhs`, else 0.
    pub fn ge(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(rhs, BinaryOp::Cmp(CmpOp::Ge))
    }

    /// 1 where `self op value`, else 0.
    pub fn cmp_scalar(&self, op: CmpOp, value: f64) -> Result<Tensor> {
        self.unary(UnaryOp::CmpScalar(op, value))
    }

    /// 1 where `self > value`, else 0.
    pub fn gt_scalar(&self, value: f64) -> Result<Tensor> {
        self.cmp_scalar(CmpOp::Gt, value)
    }

    /// 1 where `self >= value`, else 0.
    pub fn ge_scalar(&self, value: f64) -> Result<Tensor> {
        self.cmp_scalar(CmpOp::Ge, value)
    }

    /// 1 where `self < value`, else 0.
    pub fn lt_scalar(&self, value: f64) -> Result<Tensor> {
        self.cmp_scalar(CmpOp::Lt, value)
    }

    /// `on_true` where `cond ≠ 0`, else `on_false`; all three broadcast together. The
    /// gradient flows to the selected branch only.
    pub fn where_cond(cond: &Tensor, on_true: &Tensor, on_false: &Tensor) -> Result<Tensor> {
        const NAME: &str = "where_cond";
        on_true.check_compatible(on_false, NAME)?;
        cond.storage().same_device(on_true.storage(), NAME)?;
        let out = cond
            .shape()
            .broadcast(on_true.shape(), NAME)?
            .broadcast(on_false.shape(), NAME)?;
        let storage = Storage::where_cond(
            (cond.storage(), cond.shape()),
            (on_true.storage(), on_true.shape()),
            (on_false.storage(), on_false.shape()),
            &out,
        )?;
        Ok(Tensor::from_op(
            storage,
            out,
            Op::Where(cond.detach(), on_true.clone(), on_false.clone()),
        ))
    }
}
