//! Shape and data-movement ops: reshape, permute, broadcast, narrow, concat, stack,
//! index-select, gather, scatter-add.

use crate::autodiff::Op;
use crate::backend::Storage;
use crate::{Error, Result, Shape, Tensor};
use std::sync::Arc;

impl Tensor {
    /// The same elements under a new shape with the same element count (no copy).
    pub fn reshape(&self, shape: impl Into<Shape>) -> Result<Tensor> {
        let shape = shape.into();
        if shape.elem_count() != self.elem_count() {
            return Err(Error::ShapeMismatch {
                op: "reshape",
                lhs: self.shape().clone(),
                rhs: shape,
            });
        }
        if &shape == self.shape() {
            return Ok(self.clone());
        }
        let op = Op::Reshape(self.clone());
        let op = (crate::autodiff::is_grad_enabled() && self.tracks()).then_some(op);
        Ok(self.share_storage(shape, op, false))
    }

    /// All elements as a rank-1 tensor.
    pub fn flatten_all(&self) -> Result<Tensor> {
        self.reshape([self.elem_count()])
    }

    /// Merges axes `from..` into one: `[B, C, H, W].flatten_from(1)` is `[B, C·H·W]`.
    pub fn flatten_from(&self, from: usize) -> Result<Tensor> {
        self.shape().check_axis(from, "flatten_from")?;
        let mut dims = self.dims()[..from].to_vec();
        dims.push(self.dims()[from..].iter().product());
        self.reshape(dims)
    }

    /// Inserts an axis of size 1 at `axis`.
    pub fn unsqueeze(&self, axis: usize) -> Result<Tensor> {
        if axis > self.rank() {
            return Err(Error::AxisOutOfRange {
                op: "unsqueeze",
                axis,
                rank: self.rank(),
            });
        }
        let mut dims = self.dims().to_vec();
        dims.insert(axis, 1);
        self.reshape(dims)
    }

    /// Removes axis `axis`, which must have size 1.
    pub fn squeeze(&self, axis: usize) -> Result<Tensor> {
        if self.shape().dim(axis, "squeeze")? != 1 {
            return Err(Error::invalid(
                "squeeze",
                format!(
                    "axis {axis} of shape {} has size {}",
                    self.shape(),
                    self.dims()[axis]
                ),
            ));
        }
        let mut dims = self.dims().to_vec();
        dims.remove(axis);
        self.reshape(dims)
    }

    /// Reorders axes: output axis `i` is input axis `perm[i]`.
    pub fn permute(&self, perm: &[usize]) -> Result<Tensor> {
        let mut seen = vec![false; self.rank()];
        if perm.len() != self.rank()
            || perm
                .iter()
                .any(|&p| p >= self.rank() || std::mem::replace(&mut seen[p], true))
        {
            return Err(Error::invalid(
                "permute",
                format!(
                    "{perm:?} is not a permutation of the axes of shape {}",
                    self.shape()
                ),
            ));
        }
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(self.clone());
        }
        let dims: Vec<usize> = perm.iter().map(|&p| self.dims()[p]).collect();
        Ok(Tensor::from_op(
            self.storage().permute(self.shape(), perm)?,
            Shape::new(dims),
            Op::Permute(self.clone(), perm.to_vec()),
        ))
    }

    /// Swaps two axes.
    pub fn transpose(&self, a: usize, b: usize) -> Result<Tensor> {
        self.shape().check_axis(a, "transpose")?;
        self.shape().check_axis(b, "transpose")?;
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Materialises a broadcast to `shape`.
    pub fn broadcast_as(&self, shape: &Shape) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let out = self.shape().broadcast(shape, "broadcast_as")?;
        if &out != shape {
            return Err(Error::Broadcast {
                op: "broadcast_as",
                lhs: self.shape().clone(),
                rhs: shape.clone(),
            });
        }
        Ok(Tensor::from_op(
            self.storage().broadcast_to(self.shape(), shape)?,
            shape.clone(),
            Op::BroadcastTo(self.clone()),
        ))
    }

    /// Entries `start..start + len` along `axis`.
    pub fn narrow(&self, axis: usize, start: usize, len: usize) -> Result<Tensor> {
        let size = self.shape().dim(axis, "narrow")?;
        let end = start.saturating_add(len);
        if end > size {
            return Err(Error::IndexOutOfRange {
                op: "narrow",
                index: end,
                size,
            });
        }
        if start == 0 && len == size {
            return Ok(self.clone());
        }
        Ok(Tensor::from_op(
            self.storage().narrow(self.shape(), axis, start, len)?,
            self.shape().with_dim(axis, len),
            Op::Narrow(self.clone(), axis, start),
        ))
    }

    /// Joins tensors along `axis`; all other dimensions must agree.
    pub fn concat(parts: &[Tensor], axis: usize) -> Result<Tensor> {
        let first = parts
            .first()
            .ok_or_else(|| Error::invalid("concat", "no tensors to join"))?;
        first.shape().check_axis(axis, "concat")?;
        let mut total = 0;
        for p in parts {
            first.check_compatible(p, "concat")?;
            let same_rank = p.rank() == first.rank();
            if !same_rank || (0..p.rank()).any(|i| i != axis && p.dims()[i] != first.dims()[i]) {
                return Err(Error::ShapeMismatch {
                    op: "concat",
                    lhs: first.shape().clone(),
                    rhs: p.shape().clone(),
                });
            }
            total += p.dims()[axis];
        }
        if parts.len() == 1 {
            return Ok(first.clone());
        }
        let storages: Vec<(&Storage, &Shape)> =
            parts.iter().map(|p| (p.storage(), p.shape())).collect();
        Ok(Tensor::from_op(
            Storage::concat(&storages, axis)?,
            first.shape().with_dim(axis, total),
            Op::Concat(parts.to_vec(), axis),
        ))
    }

    /// Stacks equally shaped tensors along a new axis `axis`.
    pub fn stack(parts: &[Tensor], axis: usize) -> Result<Tensor> {
        let expanded = parts
            .iter()
            .map(|p| p.unsqueeze(axis))
            .collect::<Result<Vec<_>>>()?;
        Tensor::concat(&expanded, axis)
    }

    fn check_indices(indices: &[usize], size: usize, op: &'static str) -> Result<()> {
        match indices.iter().find(|&&i| i >= size) {
            Some(&index) => Err(Error::IndexOutOfRange { op, index, size }),
            None => Ok(()),
        }
    }

    /// Entries `indices` along `axis`, in that order (repeats allowed).
    pub fn index_select(&self, axis: usize, indices: &[usize]) -> Result<Tensor> {
        let size = self.shape().dim(axis, "index_select")?;
        Self::check_indices(indices, size, "index_select")?;
        let idx = Arc::new(indices.to_vec());
        Ok(Tensor::from_op(
            self.storage().index_select(self.shape(), axis, indices)?,
            self.shape().with_dim(axis, indices.len()),
            Op::IndexSelect(self.clone(), axis, idx),
        ))
    }

    /// The adjoint of [`Tensor::index_select`]: zeros with `size` entries along `axis`, where
    /// slice `i` of `self` is added into entry `indices[i]`.
    pub fn index_add(&self, axis: usize, indices: &[usize], size: usize) -> Result<Tensor> {
        let n = self.shape().dim(axis, "index_add")?;
        if n != indices.len() {
            return Err(Error::invalid(
                "index_add",
                format!("{} indices for {n} slices", indices.len()),
            ));
        }
        Self::check_indices(indices, size, "index_add")?;
        Ok(Tensor::from_op(
            self.storage()
                .index_add(self.shape(), axis, indices, size)?,
            self.shape().with_dim(axis, size),
            Op::IndexAdd(self.clone(), axis, Arc::new(indices.to_vec())),
        ))
    }

    /// `out[.., j, ..] = self[.., index[.., j, ..], ..]` along `axis` (PyTorch `gather`);
    /// `index_shape` equals this shape except along `axis`.
    pub fn gather(&self, axis: usize, index: &[usize], index_shape: &Shape) -> Result<Tensor> {
        let size = self.shape().dim(axis, "gather")?;
        self.check_index_shape(axis, index, index_shape, "gather")?;
        Self::check_indices(index, size, "gather")?;
        Ok(Tensor::from_op(
            self.storage()
                .gather(self.shape(), axis, index, index_shape)?,
            index_shape.clone(),
            Op::Gather(self.clone(), axis, Arc::new(index.to_vec())),
        ))
    }

    /// The adjoint of [`Tensor::gather`]: zeros of shape `out` with `self` (shaped like the
    /// index) added at the indexed positions along `axis`.
    pub fn scatter_add(&self, axis: usize, index: &[usize], out: &Shape) -> Result<Tensor> {
        let size = out.dim(axis, "scatter_add")?;
        let as_index = Tensor::zeros(out.clone(), self.dtype(), self.device());
        as_index.check_index_shape(axis, index, self.shape(), "scatter_add")?;
        Self::check_indices(index, size, "scatter_add")?;
        Ok(Tensor::from_op(
            self.storage().scatter_add(index, self.shape(), axis, out)?,
            out.clone(),
            Op::ScatterAdd(self.clone(), axis, Arc::new(index.to_vec())),
        ))
    }

    fn check_index_shape(
        &self,
        axis: usize,
        index: &[usize],
        index_shape: &Shape,
        op: &'static str,
    ) -> Result<()> {
        let agrees = index_shape.rank() == self.rank()
            && (0..self.rank()).all(|i| i == axis || index_shape.dims()[i] == self.dims()[i]);
        if !agrees || index.len() != index_shape.elem_count() {
            return Err(Error::ShapeMismatch {
                op,
                lhs: self.shape().clone(),
                rhs: index_shape.clone(),
            });
        }
        Ok(())
    }

    /// Pads `axis` with `before` zeros in front and `after` zeros behind.
    pub fn pad_zeros(&self, axis: usize, before: usize, after: usize) -> Result<Tensor> {
        self.shape().check_axis(axis, "pad_zeros")?;
        let mut parts = Vec::with_capacity(3);
        if before > 0 {
            parts.push(Tensor::zeros(
                self.shape().with_dim(axis, before),
                self.dtype(),
                self.device(),
            ));
        }
        parts.push(self.clone());
        if after > 0 {
            parts.push(Tensor::zeros(
                self.shape().with_dim(axis, after),
                self.dtype(),
                self.device(),
            ));
        }
        Tensor::concat(&parts, axis)
    }
}
