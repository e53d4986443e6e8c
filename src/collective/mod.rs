//! Collective communication between the replicas of a data-parallel run.
//!
//! A data-parallel run trains one model on `K` replicas (processes, or threads): each holds a
//! copy of the parameters and computes on its shard of every batch; the replicas agree
//! through the few operations of [`Collective`] (sum, gather, broadcast). This module holds
//! the abstraction and the implementations that need nothing outside this crate:
//! [`SingleProcess`] (one replica: every operation is the identity) and [`ThreadGroup`]
//! (`K` replicas as threads of one process). The `pact` binary adds one over MPI.
//!
//! While a step runs under [`with_replicas`], the layers that mix examples of a batch
//! consult the group: [`BatchNorm`](crate::nn::BatchNorm) normalises with the statistics
//! of the whole global batch, through the differentiable [`Tensor::allreduce_sum`], and a
//! loop that stops when every example of the batch is done asks [`all_replicas`].
//!
//! ```
//! use pact::collective::{Collective, ThreadGroup};
//! let members = ThreadGroup::new(3);
//! let sums: Vec<Vec<f64>> = std::thread::scope(|s| {
//!     let handles: Vec<_> = members
//!         .iter()
//!         .map(|m| s.spawn(move || {
//!             let mut v = vec![m.rank() as f64, 1.0];
//!             m.allreduce_sum_f64(&mut v).map(|_| v)
//!         }))
//!         .collect();
//!     handles.into_iter().map(|h| h.join().unwrap().unwrap()).collect()
//! });
//! assert!(sums.iter().all(|v| v == &[3.0, 3.0]));
//! ```

mod thread_group;

pub use thread_group::ThreadGroup;

use crate::autodiff::CustomOp;
use crate::{Error, Result, Tensor};
use std::cell::RefCell;
use std::sync::Arc;

/// The collective operations a data-parallel run needs, over a fixed group of `size()`
/// replicas numbered `0..size()`.
///
/// Every replica must call the same operations in the same order with buffers of the same
/// length; the result of a sum is the same, bit for bit, on every replica.
pub trait Collective: Send + Sync {
    /// This replica's number, `0..size()`.
    fn rank(&self) -> usize;
    /// The number of replicas.
    fn size(&self) -> usize;
    /// Replaces `values` by their elementwise sum over the replicas.
    fn allreduce_sum_f64(&self, values: &mut [f64]) -> Result<()>;
    /// Replaces `values` by their elementwise sum over the replicas (half the bytes of
    /// [`Collective::allreduce_sum_f64`]; gradients of `f32` models travel this way).
    fn allreduce_sum_f32(&self, values: &mut [f32]) -> Result<()>;
    /// Replaces `bytes` on every replica by those of replica `root`.
    fn broadcast_bytes(&self, bytes: &mut Vec<u8>, root: usize) -> Result<()>;
    /// Every replica's `mine`, by rank.
    fn allgather_bytes(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>>;
}

/// One replica alone: every collective operation leaves its input as it is.
///
/// ```
/// use pact::collective::{Collective, SingleProcess};
/// let mut v = vec![1.0, 2.0];
/// SingleProcess.allreduce_sum_f64(&mut v)?;
/// assert_eq!(v, [1.0, 2.0]);
/// # Ok::<(), pact::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleProcess;

impl Collective for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn allreduce_sum_f64(&self, _values: &mut [f64]) -> Result<()> {
        Ok(())
    }
    fn allreduce_sum_f32(&self, _values: &mut [f32]) -> Result<()> {
        Ok(())
    }
    fn broadcast_bytes(&self, _bytes: &mut Vec<u8>, root: usize) -> Result<()> {
        if root != 0 {
            return Err(Error::Collective(format!(
                "broadcast from replica {root} in a group of 1"
            )));
        }
        Ok(())
    }
    fn allgather_bytes(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
        Ok(vec![mine.to_vec()])
    }
}

thread_local! {
    static REPLICAS: RefCell<Option<Arc<dyn Collective>>> = const { RefCell::new(None) };
}

/// Restores the previous group of this thread when a [`with_replicas`] scope ends.
struct Restore(Option<Arc<dyn Collective>>);

impl Drop for Restore {
    fn drop(&mut self) {
        let previous = self.0.take();
        REPLICAS.with(|r| *r.borrow_mut() = previous);
    }
}

/// Runs `f` with `group` as this thread's replica group: inside, [`replicas`] returns it
/// (if it has more than one replica) and batch-mixing layers synchronise through it.
/// Scopes nest; the previous group is back when `f` returns or panics.
pub fn with_replicas<T>(group: &Arc<dyn Collective>, f: impl FnOnce() -> T) -> T {
    let previous = REPLICAS.with(|r| r.borrow_mut().replace(group.clone()));
    let _restore = Restore(previous);
    f()
}

/// The replica group of the enclosing [`with_replicas`] scope, if there is one with more
/// than one replica (a group of one needs no synchronisation).
pub fn replicas() -> Option<Arc<dyn Collective>> {
    REPLICAS.with(|r| r.borrow().clone().filter(|g| g.size() > 1))
}

/// Whether `local` holds on every replica of the current group (just `local` outside a
/// group): lets a loop that stops once every example of the batch is done stop at the same
/// iteration on every replica, as one process with the whole batch would.
pub fn all_replicas(local: bool) -> Result<bool> {
    match replicas() {
        None => Ok(local),
        Some(group) => {
            let mut failing = [if local { 0.0 } else { 1.0 }];
            group.allreduce_sum_f64(&mut failing)?;
            Ok(failing[0] == 0.0)
        }
    }
}

/// Sums `values` over the replicas of the current group (leaves them as they are outside a
/// group): for a statistic of the whole batch, such as a sum of per-example losses.
pub fn sum_over_replicas(values: &mut [f64]) -> Result<()> {
    match replicas() {
        None => Ok(()),
        Some(group) => group.allreduce_sum_f64(values),
    }
}

/// The differentiable sum over replicas: every replica's output is the sum of every
/// replica's input, so the gradient of an input is the sum of every replica's output
/// gradient (the same operation again).
struct AllReduceSum(Arc<dyn Collective>);

impl AllReduceSum {
    fn sum(&self, t: &Tensor) -> Result<Tensor> {
        let mut values = t.to_f64_vec();
        self.0.allreduce_sum_f64(&mut values)?;
        Tensor::from_f64_slice(&values, t.shape().clone(), t.dtype(), t.device())
    }
}

impl CustomOp for AllReduceSum {
    fn name(&self) -> &'static str {
        "allreduce_sum"
    }
    fn forward(&self, inputs: &[Tensor]) -> Result<Tensor> {
        self.sum(&inputs[0])
    }
    fn backward(
        &self,
        _inputs: &[Tensor],
        _output: &Tensor,
        grad: &Tensor,
    ) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(self.sum(grad)?)])
    }
}

impl Tensor {
    /// The elementwise sum of this tensor over the replicas of `group` (each replica passes
    /// its own tensor of the same shape), differentiable: the backward pass sums the output
    /// gradients over the replicas in the same way. Summed in `f64`.
    ///
    /// ```
    /// use pact::collective::{Collective, SingleProcess};
    /// use pact::{Device, Tensor};
    /// use std::sync::Arc;
    /// let group: Arc<dyn Collective> = Arc::new(SingleProcess);
    /// let x = Tensor::var_from_f64(&[1.0, 2.0], [2], Device::Cpu)?;
    /// let y = x.allreduce_sum(&group)?;
    /// assert_eq!(y.to_f64_vec(), [1.0, 2.0]);
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn allreduce_sum(&self, group: &Arc<dyn Collective>) -> Result<Tensor> {
        Tensor::apply_custom(
            Arc::new(AllReduceSum(group.clone())),
            std::slice::from_ref(self),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Device;

    #[test]
    fn scopes_nest_and_restore() {
        let two: Arc<dyn Collective> = Arc::new(ThreadGroup::new(2).remove(0));
        let one: Arc<dyn Collective> = Arc::new(SingleProcess);
        assert!(replicas().is_none());
        with_replicas(&two, || {
            assert_eq!(replicas().map(|g| g.size()), Some(2));
            with_replicas(&one, || assert!(replicas().is_none()));
            assert_eq!(replicas().map(|g| g.size()), Some(2));
        });
        assert!(replicas().is_none());
        assert!(all_replicas(true).unwrap());
        assert!(!all_replicas(false).unwrap());
    }

    #[test]
    fn allreduce_sum_sums_values_and_gradients_over_threads() {
        let members = ThreadGroup::new(3);
        let results: Vec<(Vec<f64>, Vec<f64>)> = std::thread::scope(|s| {
            let handles: Vec<_> = members
                .into_iter()
                .map(|m| {
                    s.spawn(move || {
                        let group: Arc<dyn Collective> = Arc::new(m);
                        let r = group.rank() as f64;
                        let x = Tensor::var_from_f64(&[r, 1.0], [2], Device::Cpu).unwrap();
                        let y = x.allreduce_sum(&group).unwrap();
                        // Replica r's loss weighs the sum by (r + 1): the gradient of x on
                        // every replica is the sum of the weights, 1 + 2 + 3.
                        let w = Tensor::from_f64_slice(
                            &[r + 1.0, r + 1.0],
                            [2],
                            crate::DType::F64,
                            Device::Cpu,
                        )
                        .unwrap();
                        let g = y.mul(&w).unwrap().sum_all().unwrap().backward().unwrap();
                        (y.to_f64_vec(), g.get(&x).unwrap().to_f64_vec())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (y, g) in results {
            assert_eq!(y, [3.0, 3.0]);
            assert_eq!(g, [6.0, 6.0]);
        }
    }
}
