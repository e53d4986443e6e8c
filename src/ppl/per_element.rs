//! Per-element results of an exact enumeration over a plate.

use super::Values;
use crate::Tensor;

/// What exact enumeration says about each element of a plate whose elements are independent
/// given the rest of the model (a mixture's data points, an HMM's sequences): from
/// [`FactorGraph::per_element`](super::FactorGraph::per_element) (parallel enumeration) and
/// [`Enumeration::per_element`](super::Enumeration::per_element) (run by run).
#[derive(Clone, Debug)]
pub struct PerElement {
    /// The plate.
    pub plate: String,
    /// Per element `n`, `log Σ_{z_n} Π (terms of element n)`: the log marginal likelihood of
    /// the element (terms outside the plate are left out), not scaled by subsampling.
    /// Shape `[n]`.
    pub log_marginal: Tensor,
    /// Per enumerated site in the plate, the posterior probability of each of its values, per
    /// element: shape = the site's plate axes ++ `[K]` (`[n, K]` for a site in one plate).
    pub posterior: Values,
    /// Per enumerated site in the plate, its value in the most probable configuration: shape
    /// = the site's plate axes ++ its event shape.
    pub best: Values,
}

impl PerElement {
    /// The index of the most probable value of `site` per element, from
    /// [`PerElement::posterior`] (the per-element marginal mode, which for a site alone in
    /// its element is also its value in [`PerElement::best`]).
    pub fn argmax(&self, site: &str) -> crate::Result<Vec<usize>> {
        let p = self
            .posterior
            .get(site)
            .ok_or_else(|| crate::Error::site(site, "not an enumerated site of this plate"))?;
        p.argmax(p.rank() - 1)
    }
}
