//! What a model run records at each site, and the message handlers see on the way.

use super::Relaxation;
use crate::dist::{Distribution, Draw};
use crate::{Result, Tensor};
use std::sync::Arc;

/// The kind of a site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SiteKind {
    /// A latent variable drawn from its distribution (or fixed by replay, enumeration or
    /// decoding, which keep it latent).
    Sample,
    /// An observed variable: `observe`, or a `sample` site fixed by `condition`.
    Observe,
    /// An arbitrary log-weight added to the joint.
    Factor,
    /// A learnable parameter (no log-probability).
    Param,
}

/// One plate the site sits in: a batch axis of conditionally independent elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlateFrame {
    /// The plate's name.
    pub name: String,
    /// The number of elements of the full plate.
    pub size: usize,
    /// The number of elements present in this run (`size` unless subsampled).
    pub subsample_size: usize,
    /// The batch axis, counted from the right: −1 is the last batch axis.
    pub dim: isize,
}

impl PlateFrame {
    /// `size / subsample_size`: how much each present element's log-probability counts.
    pub fn scale(&self) -> f64 {
        self.size as f64 / self.subsample_size as f64
    }

    /// The axis of this plate in a batch shape of rank `rank`, if the shape has it.
    pub fn axis(&self, rank: usize) -> Option<usize> {
        rank.checked_sub(self.dim.unsigned_abs())
    }
}

/// One `markov` context a site sits in ([`Ctx::markov`](super::Ctx::markov)): step `step` of
/// a chain whose steps depend only on the `history` steps before them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarkovFrame {
    /// Which `markov` context (numbered in the order they are entered within a run).
    pub id: usize,
    /// How many earlier steps a step may depend on.
    pub history: usize,
    /// The step, counted from 0.
    pub step: usize,
}

/// A recorded site of a [`Trace`](super::Trace).
#[derive(Clone, Debug)]
pub struct Site {
    /// The unique name within the run.
    pub name: String,
    /// What kind of site this is.
    pub kind: SiteKind,
    /// The distribution the model wrote (expanded to its plates); `None` for factors and
    /// parameters.
    pub dist: Option<Arc<dyn Distribution>>,
    /// The relaxed distribution that drew and scored the value, if the site was relaxed.
    pub relaxed: Option<Arc<dyn Distribution>>,
    /// The value, with the raw value of a relaxed draw and the (hard, soft) pair of a
    /// straight-through one. For a factor, the log-weight; for a parameter, its tensor.
    pub draw: Draw,
    /// Log-probability of the value under [`Site::scorer`] (the raw-space density for
    /// relaxed sites), shape = the batch shape, *not* multiplied by [`Site::scale`];
    /// `None` for parameters.
    pub log_prob: Option<Tensor>,
    /// Product of the subsampling scales of the site's plates.
    pub scale: f64,
    /// The plates the site sits in, outermost first.
    pub plates: Vec<PlateFrame>,
    /// The `markov` contexts the site sits in, outermost first.
    pub markov: Vec<MarkovFrame>,
    /// The relaxation used (`Exact` for unrelaxed sites).
    pub relaxation: Relaxation,
    /// Whether the value was set by `enumerate`.
    pub enumerated: bool,
    /// Whether the value was set by `decode`.
    pub decoded: bool,
    /// Whether the value was taken from another trace by `replay`.
    pub replayed: bool,
    /// The amortised posterior `q(z | x)` of a guided site ([`Ctx::sample_guided`](super::Ctx::sample_guided)),
    /// expanded to its plates: the law the value was drawn from, while [`Site::dist`] (the
    /// prior) scores it. `None` for every other site.
    pub guide: Option<Arc<dyn Distribution>>,
    /// The relaxed posterior that drew the value of a relaxed guided site.
    pub guide_relaxed: Option<Arc<dyn Distribution>>,
    /// `log q(value)` under the (relaxed) posterior of a guided site, shape = the batch shape,
    /// not multiplied by [`Site::scale`].
    pub guide_log_prob: Option<Tensor>,
    /// The mask of the [`masked`](super::Ctx::masked) contexts the site sits in, broadcast to
    /// its log-probability's shape (already applied to [`Site::log_prob`] and
    /// [`Site::guide_log_prob`]); `None` outside any.
    pub mask: Option<Tensor>,
}

impl Site {
    /// A site without a distribution (a factor or a parameter): no log-probability, scale 1,
    /// no plates.
    pub(crate) fn without_law(name: &str, kind: SiteKind, value: Tensor) -> Self {
        Site {
            name: name.to_string(),
            kind,
            dist: None,
            relaxed: None,
            draw: Draw::Exact(value),
            log_prob: None,
            scale: 1.0,
            plates: Vec::new(),
            markov: Vec::new(),
            relaxation: Relaxation::Exact,
            enumerated: false,
            decoded: false,
            replayed: false,
            guide: None,
            guide_relaxed: None,
            guide_log_prob: None,
            mask: None,
        }
    }

    /// The value the model saw.
    pub fn value(&self) -> &Tensor {
        self.draw.value()
    }

    /// The distribution that scored the value: the relaxed one if any, else the model's.
    pub fn scorer(&self) -> Option<&Arc<dyn Distribution>> {
        self.relaxed.as_ref().or(self.dist.as_ref())
    }

    /// `scale · Σ log_prob` as a rank-0 tensor, or `None` for parameters.
    pub fn scaled_log_prob(&self) -> Result<Option<Tensor>> {
        match &self.log_prob {
            Some(lp) => Ok(Some(lp.sum_all()?.mul_scalar(self.scale)?)),
            None => Ok(None),
        }
    }

    /// Whether this is an unobserved `sample` site.
    pub fn is_latent(&self) -> bool {
        self.kind == SiteKind::Sample
    }

    /// Whether this is a latent site with its amortised posterior ([`Site::guide`]).
    pub fn is_guided(&self) -> bool {
        self.is_latent() && self.guide.is_some()
    }

    /// The posterior that drew the value of a guided site: the relaxed one if any.
    pub fn guide_scorer(&self) -> Option<&Arc<dyn Distribution>> {
        self.guide_relaxed.as_ref().or(self.guide.as_ref())
    }

    /// `scale · Σ log q(value)` of a guided site as a rank-0 tensor, else `None`.
    pub fn scaled_guide_log_prob(&self) -> Result<Option<Tensor>> {
        match &self.guide_log_prob {
            Some(lq) => Ok(Some(lq.sum_all()?.mul_scalar(self.scale)?)),
            None => Ok(None),
        }
    }
}

/// A `sample` or `observe` site on its way through the handler stack. Handlers may set the
/// value, the relaxed distribution and the flags; the context then draws (if no value was
/// set), scores and records it.
#[derive(Clone, Debug)]
pub struct Message {
    /// The site's name.
    pub name: String,
    /// `Sample` or `Observe` (a handler may turn a `Sample` into an `Observe`).
    pub kind: SiteKind,
    /// The distribution the model wrote, expanded to its plates.
    pub dist: Arc<dyn Distribution>,
    /// A replacement distribution to draw from and score with (a relaxation).
    pub relaxed: Option<Arc<dyn Distribution>>,
    /// The value, if a handler fixed it.
    pub value: Option<Draw>,
    /// The plates the site sits in.
    pub plates: Vec<PlateFrame>,
    /// The `markov` contexts the site sits in.
    pub markov: Vec<MarkovFrame>,
    /// Whether the value may broadcast against the law's batch shape rather than match it
    /// (set by [`enumerate_parallel`](super::enumerate_parallel), whose enumerated values
    /// carry an axis of their own); the log-probability then has the broadcast shape.
    pub broadcast: bool,
    /// The relaxation that `relaxed` implements.
    pub relaxation: Relaxation,
    /// Set by the first (innermost) `relax` handler that decided this site.
    pub relaxation_decided: bool,
    /// Whether `enumerate` set the value.
    pub enumerated: bool,
    /// Whether `decode` set the value.
    pub decoded: bool,
    /// Whether `replay` set the value.
    pub replayed: bool,
    /// The amortised posterior of a guided site, expanded to its plates: the law the value
    /// is drawn from (see [`Site::guide`]).
    pub guide: Option<Arc<dyn Distribution>>,
    /// The relaxation of [`Message::guide`], set by `relax` with [`Message::relaxed`].
    pub guide_relaxed: Option<Arc<dyn Distribution>>,
}

impl Message {
    pub(crate) fn new(
        name: &str,
        kind: SiteKind,
        dist: Arc<dyn Distribution>,
        plates: Vec<PlateFrame>,
        value: Option<Draw>,
    ) -> Self {
        Message {
            name: name.to_string(),
            kind,
            dist,
            relaxed: None,
            value,
            plates,
            markov: Vec::new(),
            broadcast: false,
            relaxation: Relaxation::Exact,
            relaxation_decided: false,
            enumerated: false,
            decoded: false,
            replayed: false,
            guide: None,
            guide_relaxed: None,
        }
    }

    /// Whether this is an unobserved `sample` site whose value no handler has fixed yet.
    pub fn is_free(&self) -> bool {
        self.kind == SiteKind::Sample && self.value.is_none()
    }

    /// Fixes the value to an exact one and drops any relaxation (for enumerated, decoded and
    /// conditioned values, which the model's own law scores).
    pub fn fix_exact(&mut self, value: Tensor) {
        self.value = Some(Draw::Exact(value));
        self.relaxed = None;
        self.guide_relaxed = None;
        self.relaxation = Relaxation::Exact;
    }

    /// Relaxes the site as `choice` says (the model law and, for a guided site, its
    /// posterior alike) and marks the relaxation as decided.
    pub fn apply_relaxation(&mut self, choice: Relaxation) -> Result<()> {
        self.relaxed = choice.apply(&self.name, &self.dist)?;
        // A guided site's posterior gets the same relaxation: it draws, the prior scores.
        self.guide_relaxed = match &self.guide {
            Some(q) => choice.apply(&self.name, q)?,
            None => None,
        };
        self.relaxation = choice;
        self.relaxation_decided = true;
        Ok(())
    }

    /// The law a free value is drawn from: the (relaxed) posterior of a guided site, else
    /// the (relaxed) model law.
    pub fn drawer(&self) -> &Arc<dyn Distribution> {
        self.guide_relaxed
            .as_ref()
            .or(self.guide.as_ref())
            .or(self.relaxed.as_ref())
            .unwrap_or(&self.dist)
    }
}
