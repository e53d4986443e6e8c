//! Matrix products.

use crate::autodiff::Op;
use crate::backend::ops::MatmulDims;
use crate::{Error, Result, Shape, Tensor};

impl Tensor {
    /// Matrix product over the last two axes: `[.., m, k] · [.., k, n] → [.., m, n]`.
    ///
    /// Leading (batch) axes must agree, or one operand may be a plain matrix shared across the
    /// batch (e.g. a `[B, T, in]` input times an `[in, out]` weight).
    ///
    /// ```
    /// use pact::{DType, Device, Tensor};
    /// let a = Tensor::from_f64_slice(&[1., 2., 3., 4.], [2, 2], DType::F64, Device::Cpu)?;
    /// let i = Tensor::from_f64_slice(&[1., 0., 0., 1.], [2, 2], DType::F64, Device::Cpu)?;
    /// assert_eq!(a.matmul(&i)?.to_f64_vec(), a.to_f64_vec());
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        const NAME: &str = "matmul";
        self.check_compatible(rhs, NAME)?;
        let mismatch = || Error::ShapeMismatch {
            op: NAME,
            lhs: self.shape().clone(),
            rhs: rhs.shape().clone(),
        };
        if self.rank() < 2 || rhs.rank() < 2 {
            return Err(mismatch());
        }
        let (ad, bd) = (self.dims(), rhs.dims());
        let (m, k) = (ad[ad.len() - 2], ad[ad.len() - 1]);
        let (k2, n) = (bd[bd.len() - 2], bd[bd.len() - 1]);
        if k != k2 {
            return Err(mismatch());
        }
        let a_batch = &ad[..ad.len() - 2];
        let b_batch = &bd[..bd.len() - 2];
        let batch_dims: Vec<usize> = match (a_batch.is_empty(), b_batch.is_empty()) {
            (true, _) => b_batch.to_vec(),
            (_, true) => a_batch.to_vec(),
            _ if a_batch == b_batch => a_batch.to_vec(),
            _ => return Err(mismatch()),
        };
        let batch = batch_dims.iter().product::<usize>();
        let dims = MatmulDims {
            batch,
            m,
            k,
            n,
            lhs_batched: !a_batch.is_empty(),
            rhs_batched: !b_batch.is_empty(),
            lhs_transposed: false,
            rhs_transposed: false,
        };
        let mut out = batch_dims;
        out.extend([m, n]);
        Ok(Tensor::from_op(
            self.storage().matmul(rhs.storage(), dims)?,
            Shape::new(out),
            Op::Matmul(self.clone(), rhs.clone(), dims),
        ))
    }
}
