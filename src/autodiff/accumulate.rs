//! Adding gradients together, in place when nothing else can see the sum's storage.

use crate::{Result, Tensor};

impl Tensor {
    /// `self + g` for gradient accumulation. When `self` is an untracked tensor of `g`'s
    /// shape and dtype whose storage no other tensor shares (a gradient that the backward
    /// pass holds alone), `g` is added into that storage and no new tensor is allocated;
    /// otherwise this is [`Tensor::add`].
    pub(crate) fn accumulate(mut self, g: &Tensor) -> Result<Tensor> {
        if self.tracks() || self.shape() != g.shape() || self.dtype() != g.dtype() {
            return self.add(g);
        }
        self.storage().same_device(g.storage(), "accumulate")?;
        match self.unique_storage_mut() {
            Some(storage) => {
                storage.add_assign(g.storage(), g.shape())?;
                Ok(self)
            }
            None => self.add(g),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{DType, Device, Tensor};

    #[test]
    fn accumulates_in_place_only_when_the_storage_is_unshared() {
        let a = Tensor::from_f64_slice(&[1.0, 2.0], [2], DType::F32, Device::Cpu).unwrap();
        let g = Tensor::from_f64_slice(&[10.0, 20.0], [2], DType::F32, Device::Cpu).unwrap();
        // Shared: `b` must keep its values.
        let b = a.clone();
        let sum = a.accumulate(&g).unwrap();
        assert_eq!(sum.to_f64_vec(), vec![11.0, 22.0]);
        assert_eq!(b.to_f64_vec(), vec![1.0, 2.0]);
        // A reshaped view shares the storage: it must keep its values too.
        let view = b.reshape([1, 2]).unwrap();
        let sum2 = b.accumulate(&g).unwrap();
        assert_eq!(sum2.to_f64_vec(), vec![11.0, 22.0]);
        assert_eq!(view.to_f64_vec(), vec![1.0, 2.0]);
        // Unshared: in place, same storage.
        let ptr = sum2.storage().as_cpu().unwrap().as_f32().unwrap().as_ptr();
        let sum3 = sum2.accumulate(&g).unwrap();
        assert_eq!(sum3.to_f64_vec(), vec![21.0, 42.0]);
        assert_eq!(
            sum3.storage().as_cpu().unwrap().as_f32().unwrap().as_ptr(),
            ptr
        );
        // Broadcasting falls back to `add`.
        let s = Tensor::from_f64_slice(&[1.0], [1], DType::F32, Device::Cpu).unwrap();
        assert_eq!(s.accumulate(&g).unwrap().to_f64_vec(), vec![11.0, 21.0]);
    }
}
