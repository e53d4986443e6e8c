//! Per-element results of an exact enumeration over a plate.

use super::enumerate::{split_terms, Enumeration};
use super::{PlateFrame, Site, Values};
use crate::{Error, Result, Shape, Tensor};

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
    pub fn argmax(&self, site: &str) -> Result<Vec<usize>> {
        let p = self
            .posterior
            .get(site)
            .ok_or_else(|| Error::site(site, "not an enumerated site of this plate"))?;
        p.argmax(p.rank() - 1)
    }
}

impl<T> Enumeration<T> {
    /// Per-element results for a model whose enumerated sites all sit in the same plates
    /// (local sites, as in a mixture): per element, the log marginal of the terms inside
    /// those plates, the posterior probability of each value of each enumerated site, and
    /// each site's value in the element's most probable configuration. Shapes are those of
    /// the plate axes (`[n]` for one plate); see [`PerElement`].
    ///
    /// ```
    /// use pact::dist::{Bernoulli, Normal};
    /// use pact::nn::ParamStore;
    /// use pact::ppl::{enumerate, run, Ctx, Select};
    /// use pact::{DType, Device, Result, Rng, Tensor};
    /// let s = |v: f64| Tensor::scalar(v, DType::F64, Device::Cpu);
    /// let x = Tensor::from_f64_slice(&[-0.2, 3.1], [2], DType::F64, Device::Cpu)?;
    /// let model = move |ctx: &mut Ctx| -> Result<()> {
    ///     ctx.plate("data", 2, |ctx| {
    ///         let z = ctx.sample("z", Bernoulli::from_probs(s(0.5))?)?;
    ///         ctx.observe("x", Normal::new(z.mul_scalar(3.0)?, s(1.0))?, &x).map(|_| ())
    ///     })
    /// };
    /// let params = ParamStore::new(DType::F64, Device::Cpu);
    /// let (e, _) = run(&enumerate(Select::All, model), &params, &mut Rng::seed(0))?;
    /// let per = e.per_element()?;
    /// assert_eq!(per.best.get("z").unwrap().to_f64_vec(), vec![0.0, 1.0]);
    /// assert_eq!(per.argmax("z")?, vec![0, 1]);
    /// let total: f64 = per.log_marginal.to_f64_vec().iter().sum();
    /// assert!((total - e.log_marginal.to_scalar()?).abs() < 1e-12);
    /// # Ok::<(), pact::Error>(())
    /// ```
    pub fn per_element(&self) -> Result<PerElement> {
        let first = self
            .runs
            .first()
            .ok_or_else(|| Error::invalid("per_element", "no runs"))?;
        let sites: Vec<&Site> = first.trace.iter().filter(|s| s.enumerated).collect();
        let frames = sites
            .first()
            .map(|s| s.plates.clone())
            .ok_or_else(|| Error::invalid("per_element", "no enumerated sites"))?;
        if let Some(s) = sites
            .iter()
            .find(|s| s.plates.is_empty() || s.plates != frames)
        {
            return Err(Error::site(
                &s.name,
                "per-element results need every enumerated site in the same plates",
            ));
        }
        let local_scale: f64 = frames.iter().map(PlateFrame::scale).product();
        let mut locals = Vec::with_capacity(self.runs.len());
        for r in &self.runs {
            let (_, local) = split_terms(&r.trace, &frames, local_scale)?;
            locals.push(local.ok_or_else(|| Error::invalid("per_element", "no local terms"))?);
        }
        let shape = locals.iter().try_fold(Shape::scalar(), |acc, l| {
            acc.broadcast(l.shape(), "per_element")
        })?;
        let locals = locals
            .iter()
            .map(|l| l.broadcast_as(&shape))
            .collect::<Result<Vec<_>>>()?;
        let joint = Tensor::stack(&locals, 0)?;
        let log_marginal = joint.logsumexp(0)?;
        let post = crate::no_grad(|| joint.sub(&log_marginal)?.exp())?.to_f64_vec();
        let best = joint.argmax(0)?;
        let elements = shape.elem_count();
        let mut posterior = Values::new();
        let mut best_values = Values::new();
        for (j, site) in sites.iter().enumerate() {
            let k = site
                .dist
                .as_ref()
                .and_then(|d| d.support().size())
                .ok_or_else(|| Error::site(&site.name, "no finite support"))?;
            let mut p = vec![0.0; elements * k];
            for (r, run) in self.runs.iter().enumerate() {
                let index = run.indices.get(j).copied().unwrap_or(0);
                for e in 0..elements {
                    p[e * k + index] += post[r * elements + e];
                }
            }
            let mut dims = shape.dims().to_vec();
            dims.push(k);
            let like = site.value();
            posterior.insert(
                &site.name,
                Tensor::from_f64_slice(&p, dims, like.dtype(), like.device())?,
            );
            // The value of the best run at each element (all elements share a run's value).
            let event = site
                .dist
                .as_ref()
                .map_or(1, |d| d.event_shape().elem_count());
            let mut v = Vec::with_capacity(elements * event);
            for (e, &r) in best.iter().enumerate() {
                let run_value = self.runs[r].assignment[j].1.to_f64_vec();
                v.extend_from_slice(&run_value[e * event..(e + 1) * event]);
            }
            best_values.insert(
                &site.name,
                Tensor::from_f64_slice(&v, like.shape().clone(), like.dtype(), like.device())?,
            );
        }
        Ok(PerElement {
            plate: frames
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(","),
            log_marginal,
            posterior,
            best: best_values,
        })
    }
}
