//! Independent pieces of work side by side on the CPU's worker threads, with the caller's
//! graph setting.

use crate::{Device, Result};
use rayon::prelude::*;

/// Runs `work` on every item and returns the results in the items' order: side by side on
/// the CPU's worker threads when `device` is the CPU and there are several items and
/// threads, one after another otherwise (another device orders its own work). Each item's
/// work is the same arithmetic either way, so the results do not depend on the thread count,
/// and it runs with the caller's graph setting ([`crate::no_grad`] holds per thread, and the
/// worker threads get the caller's). The chunked evaluation runs its chunks this way.
///
/// ```
/// use pact::ppl::map_side_by_side;
/// use pact::{DType, Device, Tensor};
/// let chunks: Vec<Tensor> = (0..4)
///     .map(|k| Tensor::full(k as f64, [2, 3], DType::F32, Device::Cpu))
///     .collect();
/// let sums = pact::no_grad(|| map_side_by_side(Device::Cpu, chunks, |c| c.sum_all()))?;
/// let sums: Vec<f64> = sums.iter().map(|s| s.to_f64_vec()[0]).collect();
/// assert_eq!(sums, vec![0.0, 6.0, 12.0, 18.0]);
/// # Ok::<(), pact::Error>(())
/// ```
pub fn map_side_by_side<I: Send, O: Send>(
    device: Device,
    items: Vec<I>,
    work: impl Fn(I) -> Result<O> + Sync,
) -> Result<Vec<O>> {
    if items.len() < 2 || rayon::current_num_threads() < 2 || device != Device::Cpu {
        return items.into_iter().map(work).collect();
    }
    let grad = crate::autodiff::is_grad_enabled();
    items
        .into_par_iter()
        .map(|item| match grad {
            true => work(item),
            false => crate::no_grad(|| work(item)),
        })
        .collect()
}
