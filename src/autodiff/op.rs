//! The graph node: how a tracked tensor was computed.

use super::CustomOp;
use crate::backend::ops::*;
use crate::Tensor;
use std::sync::Arc;

/// One recorded operation, holding its inputs and whatever its gradient rule needs.
#[derive(Clone)]
pub(crate) enum Op {
    Unary(Tensor, UnaryOp),
    Binary(Tensor, Tensor, BinaryOp),
    /// `cond` carries no gradient.
    Where(Tensor, Tensor, Tensor),
    /// Reduction keeping the axis (size 1).
    Reduce(Tensor, usize, ReduceOp),
    Scan(Tensor, usize, ScanOp),
    Matmul(Tensor, Tensor, MatmulDims),
    Reshape(Tensor),
    Permute(Tensor, Vec<usize>),
    BroadcastTo(Tensor),
    Narrow(Tensor, usize, usize),
    Concat(Vec<Tensor>, usize),
    IndexSelect(Tensor, usize, Arc<Vec<usize>>),
    IndexAdd(Tensor, usize, Arc<Vec<usize>>),
    Gather(Tensor, usize, Arc<Vec<usize>>),
    /// Input (shaped like the index), axis, index.
    ScatterAdd(Tensor, usize, Arc<Vec<usize>>),
    Conv2d(Tensor, Tensor, Conv2dParams),
    AvgPool2d(Tensor, Pool2dParams),
    MaxPool2d(Tensor, Pool2dParams),
    BatchNorm {
        x: Tensor,
        gamma: Tensor,
        beta: Tensor,
        mean: Tensor,
        invstd: Tensor,
        dims: NormDims,
        /// `(eps, slope)` when a leaky ReLU with that slope was fused onto the output.
        leaky: Option<(f64, f64)>,
    },
    /// Training-mode batch norm with leaky ReLU feeding a 3×3 convolution, the normalised
    /// activations never stored.
    BatchNormConv2d(Box<crate::tensor::norm_conv::BatchNormConv2d>),
    Cast(Tensor),
    /// A copy to another device (the gradient goes back to the input's device).
    ToDevice(Tensor),
    Custom(Vec<Tensor>, Arc<dyn CustomOp>),
}

impl Op {
    /// Consumes the node, returning every tensor it holds.
    pub(crate) fn into_tensors(self) -> Vec<Tensor> {
        match self {
            Op::Unary(x, _)
            | Op::Reduce(x, _, _)
            | Op::Scan(x, _, _)
            | Op::Reshape(x)
            | Op::Permute(x, _)
            | Op::BroadcastTo(x)
            | Op::Narrow(x, _, _)
            | Op::IndexSelect(x, _, _)
            | Op::IndexAdd(x, _, _)
            | Op::Gather(x, _, _)
            | Op::ScatterAdd(x, _, _)
            | Op::AvgPool2d(x, _)
            | Op::MaxPool2d(x, _)
            | Op::Cast(x)
            | Op::ToDevice(x) => vec![x],
            Op::Binary(a, b, _) | Op::Matmul(a, b, _) | Op::Conv2d(a, b, _) => vec![a, b],
            Op::Where(c, a, b) => vec![c, a, b],
            Op::Concat(xs, _) | Op::Custom(xs, _) => xs,
            Op::BatchNorm {
                x,
                gamma,
                beta,
                mean,
                invstd,
                ..
            } => vec![x, gamma, beta, mean, invstd],
            Op::BatchNormConv2d(node) => node.into_tensors(),
        }
    }

    /// The tensors this node was computed from.
    pub(crate) fn inputs(&self) -> Vec<&Tensor> {
        match self {
            Op::Unary(x, _)
            | Op::Reduce(x, _, _)
            | Op::Scan(x, _, _)
            | Op::Reshape(x)
            | Op::Permute(x, _)
            | Op::BroadcastTo(x)
            | Op::Narrow(x, _, _)
            | Op::IndexSelect(x, _, _)
            | Op::IndexAdd(x, _, _)
            | Op::Gather(x, _, _)
            | Op::ScatterAdd(x, _, _)
            | Op::AvgPool2d(x, _)
            | Op::MaxPool2d(x, _)
            | Op::Cast(x)
            | Op::ToDevice(x) => vec![x],
            Op::Binary(a, b, _) | Op::Matmul(a, b, _) | Op::Conv2d(a, b, _) => vec![a, b],
            Op::Where(_, a, b) => vec![a, b],
            Op::Concat(xs, _) | Op::Custom(xs, _) => xs.iter().collect(),
            Op::BatchNorm { x, gamma, beta, .. } => vec![x, gamma, beta],
            Op::BatchNormConv2d(node) => vec![&node.x, &node.gamma, &node.beta, &node.weight],
        }
    }
}
