//! The record of one model run, and named values to condition on.

use super::{Site, SiteKind};
use crate::{DType, Device, Error, Result, Tensor};
use std::collections::{BTreeMap, HashMap};

/// Every site of one run of a model, in execution order.
///
/// The per-site log-probabilities are in [`Site::log_prob`]; the sums an objective needs are
/// [`Trace::log_joint`] (everything), [`Trace::log_prob_sum`] by kind, and the shorthands
/// [`Trace::latent_log_prob`] and [`Trace::observed_log_prob`]. All are differentiable:
/// gradients flow to parameters and through reparameterised (relaxed) values.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    sites: Vec<Site>,
    index: HashMap<String, usize>,
}

impl Trace {
    /// An empty trace.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a site; a name already present is an [`Error::DuplicateSite`].
    pub fn push(&mut self, site: Site) -> Result<()> {
        if self.index.contains_key(&site.name) {
            return Err(Error::DuplicateSite(site.name));
        }
        self.index.insert(site.name.clone(), self.sites.len());
        self.sites.push(site);
        Ok(())
    }

    /// The site called `name`.
    pub fn get(&self, name: &str) -> Option<&Site> {
        self.index.get(name).map(|&i| &self.sites[i])
    }

    /// Whether a site called `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The sites in execution order.
    pub fn sites(&self) -> &[Site] {
        &self.sites
    }

    /// Iterates over the sites in execution order.
    pub fn iter(&self) -> std::slice::Iter<'_, Site> {
        self.sites.iter()
    }

    /// The site names in execution order.
    pub fn names(&self) -> Vec<&str> {
        self.sites.iter().map(|s| s.name.as_str()).collect()
    }

    /// The number of sites.
    pub fn len(&self) -> usize {
        self.sites.len()
    }

    /// Whether no site was recorded.
    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }

    /// The value of site `name`.
    pub fn value(&self, name: &str) -> Result<&Tensor> {
        self.get(name)
            .map(Site::value)
            .ok_or_else(|| Error::site(name, "no such site in the trace"))
    }

    /// `Σ scale · log_prob` over every site with a log-probability (samples, observations,
    /// factors): the log joint density of this run, as a rank-0 tensor.
    pub fn log_joint(&self) -> Result<Tensor> {
        self.sum_where(|_| true)
    }

    /// `Σ scale · log_prob` over the sites of one kind.
    pub fn log_prob_sum(&self, kind: SiteKind) -> Result<Tensor> {
        self.sum_where(|s| s.kind == kind)
    }

    /// The latent (`Sample`) part of the log joint: `log q(z)` for a guide, `log p(z)` for a
    /// model.
    pub fn latent_log_prob(&self) -> Result<Tensor> {
        self.log_prob_sum(SiteKind::Sample)
    }

    /// The observed (`Observe`) part of the log joint: the log-likelihood.
    pub fn observed_log_prob(&self) -> Result<Tensor> {
        self.log_prob_sum(SiteKind::Observe)
    }

    /// The values of the latent sites, to condition another model on.
    pub fn latent_values(&self) -> Values {
        let mut v = Values::new();
        for s in self.sites.iter().filter(|s| s.is_latent()) {
            v.insert(&s.name, s.value().clone());
        }
        v
    }

    fn sum_where(&self, keep: impl Fn(&Site) -> bool) -> Result<Tensor> {
        let mut total: Option<Tensor> = None;
        for site in self.sites.iter().filter(|s| keep(s)) {
            if let Some(term) = site.scaled_log_prob()? {
                total = Some(match total {
                    Some(t) => t.add(&term)?,
                    None => term,
                });
            }
        }
        Ok(match total {
            Some(t) => t,
            None => {
                let (dtype, device) = self
                    .sites
                    .first()
                    .map(|s| (s.value().dtype(), s.value().device()))
                    .unwrap_or((DType::F64, Device::Cpu));
                Tensor::scalar(0.0, dtype, device)
            }
        })
    }
}

impl<'a> IntoIterator for &'a Trace {
    type Item = &'a Site;
    type IntoIter = std::slice::Iter<'a, Site>;
    fn into_iter(self) -> Self::IntoIter {
        self.sites.iter()
    }
}

/// Values by site name, for [`condition`](super::condition).
///
/// ```
/// use pact::ppl::Values;
/// use pact::{DType, Device, Tensor};
/// let v = Values::new().with("z", Tensor::scalar(1.0, DType::F64, Device::Cpu));
/// assert!(v.get("z").is_some() && v.get("w").is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Values(BTreeMap<String, Tensor>);

impl Values {
    /// No values.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the value of `name`, builder style.
    pub fn with(mut self, name: &str, value: Tensor) -> Self {
        self.insert(name, value);
        self
    }

    /// Adds (or replaces) the value of `name`.
    pub fn insert(&mut self, name: &str, value: Tensor) {
        self.0.insert(name.to_string(), value);
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.0.get(name)
    }

    /// Iterates over `(name, value)` sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
