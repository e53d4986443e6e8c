//! Tensor shapes and broadcasting rules.

use crate::{Error, Result};
use std::fmt;

/// The dimensions of a tensor, outermost first (row-major, as in PyTorch).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(Vec<usize>);

impl Shape {
    /// A shape from its dimensions.
    pub fn new(dims: impl Into<Vec<usize>>) -> Self {
        Shape(dims.into())
    }

    /// The shape of a scalar (rank 0, one element).
    pub fn scalar() -> Self {
        Shape(Vec::new())
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// The number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// The number of elements.
    pub fn elem_count(&self) -> usize {
        self.0.iter().product()
    }

    /// Size of dimension `axis`, or an error naming `op`.
    pub fn dim(&self, axis: usize, op: &'static str) -> Result<usize> {
        self.0.get(axis).copied().ok_or(Error::AxisOutOfRange {
            op,
            axis,
            rank: self.rank(),
        })
    }

    /// Checks that `axis` is a valid axis and returns it.
    pub fn check_axis(&self, axis: usize, op: &'static str) -> Result<usize> {
        self.dim(axis, op).map(|_| axis)
    }

    /// Row-major strides, in elements.
    pub fn strides(&self) -> Vec<usize> {
        let mut strides = vec![1; self.rank()];
        for i in (0..self.rank().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * self.0[i + 1];
        }
        strides
    }

    /// The shape with dimension `axis` set to `size`.
    pub fn with_dim(&self, axis: usize, size: usize) -> Shape {
        let mut dims = self.0.clone();
        dims[axis] = size;
        Shape(dims)
    }

    /// Product of the dimensions before `axis`, the size of `axis`, and the product after it.
    pub fn split_at_axis(&self, axis: usize) -> (usize, usize, usize) {
        let outer = self.0[..axis].iter().product();
        let inner = self.0[axis + 1..].iter().product();
        (outer, self.0[axis], inner)
    }

    /// The shape both operands broadcast to (NumPy rules: align trailing dimensions; a
    /// dimension of size 1 stretches).
    pub fn broadcast(&self, other: &Shape, op: &'static str) -> Result<Shape> {
        let rank = self.rank().max(other.rank());
        let mut dims = vec![0; rank];
        for (i, d) in dims.iter_mut().enumerate() {
            let a = dim_from_end(self, rank - 1 - i);
            let b = dim_from_end(other, rank - 1 - i);
            *d = match (a, b) {
                (a, b) if a == b => a,
                (1, b) => b,
                (a, 1) => a,
                _ => {
                    return Err(Error::Broadcast {
                        op,
                        lhs: self.clone(),
                        rhs: other.clone(),
                    })
                }
            };
        }
        Ok(Shape(dims))
    }

    /// Axes of `target` along which a tensor of this shape is broadcast (stretched or added),
    /// i.e. the axes a gradient must be summed over to come back to this shape.
    pub fn broadcast_axes(&self, target: &Shape) -> Vec<usize> {
        let offset = target.rank() - self.rank();
        (0..target.rank())
            .filter(|&i| i < offset || (self.0[i - offset] == 1 && target.0[i] != 1))
            .collect()
    }
}

fn dim_from_end(shape: &Shape, from_end: usize) -> usize {
    if from_end < shape.rank() {
        shape.0[shape.rank() - 1 - from_end]
    } else {
        1
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl From<&[usize]> for Shape {
    fn from(d: &[usize]) -> Self {
        Shape(d.to_vec())
    }
}

impl From<Vec<usize>> for Shape {
    fn from(d: Vec<usize>) -> Self {
        Shape(d)
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(d: [usize; N]) -> Self {
        Shape(d.to_vec())
    }
}

impl From<&Shape> for Shape {
    fn from(s: &Shape) -> Self {
        s.clone()
    }
}

impl From<()> for Shape {
    fn from(_: ()) -> Self {
        Shape::scalar()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_follows_numpy_rules() {
        let a = Shape::new([4, 1, 3]);
        let b = Shape::new([5, 1]);
        assert_eq!(a.broadcast(&b, "t").unwrap(), Shape::new([4, 5, 3]));
        assert!(Shape::new([2, 3]).broadcast(&Shape::new([4]), "t").is_err());
        assert_eq!(b.broadcast_axes(&Shape::new([4, 5, 3])), vec![0, 2]);
    }

    #[test]
    fn strides_are_row_major() {
        assert_eq!(Shape::new([2, 3, 4]).strides(), vec![12, 4, 1]);
        assert_eq!(Shape::scalar().elem_count(), 1);
    }
}
