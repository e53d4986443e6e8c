//! Reverse-mode automatic differentiation.
//!
//! Every op on tracked tensors records an `Op` node (`src/autodiff/op.rs`) naming its inputs. [`Tensor::backward`]
//! walks that graph once, in reverse topological order, applying the gradient rule of each
//! node; the rules all live in [`backward`], next to one another.
//!
//! - Variables are leaves made with [`Tensor::to_var`]; only their gradients are kept.
//! - [`Tensor::detach`] cuts a value from the graph.
//! - [`no_grad`] (or a [`NoGradGuard`]) evaluates without building any graph.
//! - [`Tensor::straight_through`] uses one value forward and another's gradient backward.
//! - [`CustomOp`] adds an op with its own gradient from outside the crate.
//!
//! ## Adding a built-in op
//! 1. add its kernel to [`BackendStorage`](crate::backend::BackendStorage) and the CPU backend
//!    (or compose it from existing primitives and stop here);
//! 2. add a variant to `Op` holding the inputs and whatever the gradient needs;
//! 3. write the forward method in the matching `tensor/` file, ending in `Tensor::from_op`;
//! 4. add the gradient rule to the `match` in [`backward`];
//! 5. add a finite-difference check to `tests/gradcheck.rs`.

mod accumulate;
pub mod backward;
mod custom;
mod grad_store;
mod op;

use crate::Tensor;
pub use custom::CustomOp;
pub use grad_store::GradStore;
pub(crate) use op::Op;
use std::cell::Cell;

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Whether ops on this thread currently record a graph.
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// While alive, ops on this thread build no graph (evaluation mode). Restores the previous
/// setting when dropped.
pub struct NoGradGuard {
    previous: bool,
}

impl NoGradGuard {
    /// Disables graph recording until the guard is dropped.
    pub fn new() -> Self {
        let previous = GRAD_ENABLED.with(|g| g.replace(false));
        NoGradGuard { previous }
    }
}

impl Default for NoGradGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.previous));
    }
}

/// Runs `f` without recording a graph.
///
/// ```
/// let x = pact::Tensor::var_from_f64(&[1.0], [1], pact::Device::Cpu)?;
/// let y = pact::no_grad(|| x.exp())?;
/// assert!(!y.tracks());
/// # Ok::<(), pact::Error>(())
/// ```
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let _guard = NoGradGuard::new();
    f()
}

/// Runs `f` recording a graph even inside [`no_grad`] (for library code that differentiates
/// internally, like the posterior marginals of [`FactorGraph`](crate::ppl::FactorGraph)).
pub(crate) fn with_grad<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            GRAD_ENABLED.with(|g| g.set(self.0));
        }
    }
    let _restore = Restore(GRAD_ENABLED.with(|g| g.replace(true)));
    f()
}

impl Tensor {
    /// `hard` in the forward pass, the gradient of `soft` in the backward pass:
    /// `soft + (hard − soft).detach()`.
    pub fn straight_through(hard: &Tensor, soft: &Tensor) -> crate::Result<Tensor> {
        let diff = hard.sub(soft)?.detach();
        soft.add(&diff)
    }
}
