//! User-defined ops with their own gradient.

use super::Op;
use crate::{Result, Tensor};
use std::sync::Arc;

/// An op defined outside the crate, with its forward computation and gradient rule.
///
/// Both methods run without graph recording, so they may use any tensor op freely.
///
/// ```
/// use pact::autodiff::CustomOp;
/// use pact::{Device, Result, Tensor};
/// use std::sync::Arc;
///
/// /// `x³`, with its gradient `3x²`.
/// struct Cube;
/// impl CustomOp for Cube {
///     fn name(&self) -> &'static str { "cube" }
///     fn forward(&self, inputs: &[Tensor]) -> Result<Tensor> {
///         inputs[0].powf(3.0)
///     }
///     fn backward(&self, inputs: &[Tensor], _out: &Tensor, grad: &Tensor) -> Result<Vec<Option<Tensor>>> {
///         Ok(vec![Some(grad.mul(&inputs[0].square()?.affine(3.0, 0.0)?)?)])
///     }
/// }
/// let x = Tensor::var_from_f64(&[2.0], [1], Device::Cpu)?;
/// let y = Tensor::apply_custom(Arc::new(Cube), &[x.clone()])?;
/// let g = y.sum_all()?.backward()?;
/// assert_eq!(g.get(&x).unwrap().to_f64_vec(), vec![12.0]);
/// # Ok::<(), pact::Error>(())
/// ```
pub trait CustomOp: Send + Sync {
    /// A name for error messages and graph dumps.
    fn name(&self) -> &'static str;
    /// Computes the output from the inputs.
    fn forward(&self, inputs: &[Tensor]) -> Result<Tensor>;
    /// Given the gradient of the output, returns one gradient per input (`None` where none flows).
    fn backward(
        &self,
        inputs: &[Tensor],
        output: &Tensor,
        grad: &Tensor,
    ) -> Result<Vec<Option<Tensor>>>;
}

impl Tensor {
    /// Applies a [`CustomOp`], recording it for differentiation.
    pub fn apply_custom(op: Arc<dyn CustomOp>, inputs: &[Tensor]) -> Result<Tensor> {
        let out = crate::no_grad(|| op.forward(inputs))?;
        // The output's storage is shared, not copied.
        Ok(Tensor::from_op_sharing(
            &out,
            Op::Custom(inputs.to_vec(), op),
        ))
    }
}
