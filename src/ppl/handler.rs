//! The handler interface and per-site choices.

use super::{HaltingClaim, Message, Site};
use crate::Result;
use std::collections::{BTreeMap, BTreeSet};

/// An effect handler: sees every `sample` and `observe` site before it is drawn and scored
/// (innermost handler first) and every recorded site after (outermost first).
///
/// The built-in handlers follow one rule, so the handler closest to the model decides:
/// those that fix values ([`condition`](super::condition), [`replay`](super::replay),
/// [`enumerate`](fn@super::enumerate), [`decode`](super::decode)) leave alone a site whose
/// value an inner handler already fixed; [`relax`](super::relax) leaves alone observed,
/// enumerated and decoded sites and those an inner `relax` decided, but does relax replayed
/// sites, so that a relaxed draw from a guide is scored by the model's relaxed law.
pub trait Handler {
    /// Inspects or changes a site before the context draws and scores it.
    fn process(&mut self, msg: &mut Message) -> Result<()>;

    /// Claims a halting site ([`Ctx::halting`](super::Ctx::halting)) before its steps run:
    /// how it should run, or `None` to leave it to the other handlers (the default).
    fn halting_plan(&mut self, name: &str) -> Result<Option<HaltingClaim>> {
        let _ = name;
        Ok(None)
    }

    /// Observes a recorded site (all kinds).
    fn postprocess(&mut self, site: &Site) -> Result<()> {
        let _ = site;
        Ok(())
    }
}

/// A choice per site: a default and named exceptions.
///
/// ```
/// use pact::ppl::{Relaxation, SitePolicy};
/// let policy = SitePolicy::all(Relaxation::Concrete { temperature: 0.5 })
///     .with("k", Relaxation::Exact);
/// assert!(matches!(policy.get("k"), Relaxation::Exact));
/// assert!(matches!(policy.get("z"), Relaxation::Concrete { .. }));
/// ```
#[derive(Clone, Debug)]
pub struct SitePolicy<R> {
    default: R,
    sites: BTreeMap<String, R>,
}

impl<R> SitePolicy<R> {
    /// `choice` for every site.
    pub fn all(choice: R) -> Self {
        SitePolicy {
            default: choice,
            sites: BTreeMap::new(),
        }
    }

    /// `choice` for site `name`, builder style.
    pub fn with(mut self, name: &str, choice: R) -> Self {
        self.sites.insert(name.to_string(), choice);
        self
    }

    /// The choice for site `name`.
    pub fn get(&self, name: &str) -> &R {
        self.sites.get(name).unwrap_or(&self.default)
    }

    /// Whether `name` has a choice of its own (not the default).
    pub fn names(&self, name: &str) -> bool {
        self.sites.contains_key(name)
    }
}

impl<R> From<R> for SitePolicy<R> {
    fn from(choice: R) -> Self {
        SitePolicy::all(choice)
    }
}

/// A set of sites: all of them, only some, or all but some.
#[derive(Clone, Debug)]
pub enum Select {
    /// Every eligible site.
    All,
    /// Only the named sites (each must be eligible: naming an ineligible one is an error).
    Only(BTreeSet<String>),
    /// Every eligible site except the named ones.
    Except(BTreeSet<String>),
}

impl Select {
    /// Only the named sites.
    pub fn only<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> Self {
        Select::Only(names.into_iter().map(Into::into).collect())
    }

    /// Every site except the named ones.
    pub fn except<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> Self {
        Select::Except(names.into_iter().map(Into::into).collect())
    }

    /// Whether `name` is selected.
    pub fn contains(&self, name: &str) -> bool {
        match self {
            Select::All => true,
            Select::Only(s) => s.contains(name),
            Select::Except(s) => !s.contains(name),
        }
    }

    /// Whether `name` is selected by name (so an ineligible site is an error, not skipped).
    pub fn names(&self, name: &str) -> bool {
        matches!(self, Select::Only(s) if s.contains(name))
    }
}
