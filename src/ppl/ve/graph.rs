//! [`FactorGraph`]: the log-factors of one run under parallel enumeration, and the exact
//! queries on them.

use super::backtrack::{backtrack, Assigned, Choose};
use super::execute::{execute, Layout, Semiring};
use super::handler::{Factor, State, Var};
use super::plan::{plan, Plan, Structure};
use crate::ppl::{PerElement, PlateFrame, Trace, Values};
use crate::{Error, Result, Rng, Shape, Tensor};

/// The result of [`enumerate_parallel`](super::enumerate_parallel): one run of the model in
/// which every enumerated site held all its values at once, along an axis of its own, and
/// the log-probabilities of all sites as factors over the enumerated sites they depend on.
///
/// `log_marginal` is computed when the graph is made; the other queries contract the
/// factors again, each at the cost of one pass of variable elimination (linear in the
/// length of a `markov` chain).
#[derive(Clone, Debug)]
pub struct FactorGraph<T> {
    /// The model's output (its tensors carry the enumeration axes).
    pub output: T,
    /// The trace of the run; enumerated sites hold their whole support along their axes.
    pub trace: Trace,
    /// `log Σ_z p(x, z)` over the enumerated sites (rank 0, differentiable).
    pub log_marginal: Tensor,
    vars: Vec<Var>,
    plates: Vec<PlateFrame>,
    factors: Vec<Factor>,
    nesting: usize,
    max_table: usize,
    plan: Plan,
}

/// The most probable configuration of the enumerated sites ([`FactorGraph::map`]).
#[derive(Clone, Debug)]
pub struct MapEstimate {
    /// Per enumerated site, its value: shape = the site's plate axes (`[]` outside plates,
    /// `[n]` in one plate) ++ its event shape.
    pub values: Values,
    /// The log joint `log p(x, z*)` of that configuration (rank 0).
    pub log_joint: Tensor,
}

impl<T> FactorGraph<T> {
    /// Plans the contraction (refusing a table over the limit before any work) and computes
    /// the log marginal.
    pub(super) fn new(output: T, trace: Trace, state: State) -> Result<Self> {
        let State {
            nesting,
            max_table,
            vars,
            plates,
            factors,
            ..
        } = state;
        let mut graph = FactorGraph {
            output,
            trace,
            log_marginal: Tensor::scalar(0.0, crate::DType::F64, crate::Device::Cpu),
            vars,
            plates,
            factors,
            nesting,
            max_table,
            plan: Plan {
                instrs: Vec::new(),
                factor_vars: Vec::new(),
                roots: Vec::new(),
                largest: 1,
            },
        };
        let all: Vec<usize> = (0..graph.factors.len()).collect();
        graph.plan = plan(&graph.structure(), &all, None, max_table)?;
        if let Some(first) = graph.factors.first() {
            let (dtype, device) = (first.tensor.dtype(), first.tensor.device());
            graph.log_marginal = Tensor::scalar(0.0, dtype, device);
            let initial = graph.tensors(false);
            let done = execute(
                &graph.plan,
                &graph.layout().view(),
                &initial,
                Semiring::Sum,
                false,
            )?;
            graph.log_marginal = done.total.sum_all()?;
        }
        Ok(graph)
    }

    fn structure(&self) -> Structure {
        structure_of(&self.vars, &self.plates, &self.factors)
    }

    fn tensors(&self, detach: bool) -> Vec<Tensor> {
        self.factors
            .iter()
            .map(|f| {
                if detach {
                    f.tensor.detach()
                } else {
                    f.tensor.clone()
                }
            })
            .collect()
    }

    fn layout(&self) -> OwnedLayout {
        OwnedLayout::new(&self.vars, &self.plates, self.nesting)
    }

    /// The names of the enumerated sites, in execution order.
    pub fn enumerated_sites(&self) -> Vec<&str> {
        self.vars.iter().map(|v| v.name.as_str()).collect()
    }

    /// The number of entries of the largest table the contraction builds (its cost).
    pub fn largest_table(&self) -> usize {
        self.plan.largest
    }

    /// The plate axes the enumeration was set up for (`max_plate_nesting`); enumeration
    /// axes are the dims left of them.
    pub fn plate_nesting(&self) -> usize {
        self.nesting
    }

    /// The most probable configuration of the enumerated sites given everything else in the
    /// model (max-product variable elimination and its backtrace: Viterbi on a chain), with
    /// its log joint. Ties go to the first value.
    pub fn map(&self) -> Result<MapEstimate> {
        let initial = self.tensors(false);
        let done = execute(
            &self.plan,
            &self.layout().view(),
            &initial,
            Semiring::Max,
            true,
        )?;
        let values = crate::no_grad(|| {
            backtrack(
                &self.plan,
                &done.tables,
                self.vars.len(),
                self.nesting,
                Choose::Best,
                &mut Rng::seed(0),
            )
        })?;
        Ok(MapEstimate {
            values: self.values(&values, |_| true)?,
            log_joint: done.total.sum_all()?,
        })
    }

    /// One draw of every enumerated site from the exact posterior `p(z | x)` (sum-product
    /// forward, sampling backward: forward filtering, backward sampling on a chain).
    pub fn sample(&self, rng: &mut Rng) -> Result<Values> {
        let values = crate::no_grad(|| -> Result<_> {
            let initial = self.tensors(true);
            let done = execute(
                &self.plan,
                &self.layout().view(),
                &initial,
                Semiring::Sum,
                true,
            )?;
            backtrack(
                &self.plan,
                &done.tables,
                self.vars.len(),
                self.nesting,
                Choose::Draw,
                rng,
            )
        })?;
        self.values(&values, |_| true)
    }

    /// Per enumerated site, its posterior marginal `p(z_site = k | x)` for every element of
    /// its plates: shape = the site's plate axes ++ `[K]` (no gradient). Computed as the
    /// gradient of the log marginal with respect to a zero added to each site's factor.
    pub fn marginals(&self) -> Result<Values> {
        self.marginals_where(|_| true)
    }

    fn marginals_where(&self, keep: impl Fn(&Var) -> bool) -> Result<Values> {
        let mut out = Values::new();
        if self.vars.is_empty() {
            return Ok(out);
        }
        let mut initial = self.tensors(true);
        crate::autodiff::with_grad(|| -> Result<()> {
            let mut probes = Vec::new();
            for (v, var) in self.vars.iter().enumerate() {
                let home = var.home.ok_or_else(|| {
                    Error::site(&var.name, "an enumerated site without its own factor")
                })?;
                let factor = &self.factors[home];
                let mut dims: Vec<usize> = factor
                    .vars
                    .iter()
                    .map(|&u| if u == v { var.size } else { 1 })
                    .collect();
                dims.extend_from_slice(&factor.tensor.dims()[factor.vars.len()..]);
                let like = &factor.tensor;
                let probe = Tensor::zeros(dims, like.dtype(), like.device()).to_var();
                initial[home] = initial[home].add(&probe)?;
                probes.push((v, probe));
            }
            let done = execute(
                &self.plan,
                &self.layout().view(),
                &initial,
                Semiring::Sum,
                false,
            )?;
            let grads = done.total.sum_all()?.backward()?;
            for (v, probe) in probes {
                let var = &self.vars[v];
                if !keep(var) {
                    continue;
                }
                let scale: f64 = var.plates.iter().map(|&p| self.plates[p].scale()).product();
                let g = grads
                    .get(&probe)
                    .cloned()
                    .unwrap_or_else(|| probe.zeros_like())
                    .detach();
                let g = if scale != 1.0 {
                    g.mul_scalar(1.0 / scale)?
                } else {
                    g
                };
                // [1.., K, ..1] ++ plates → plates ++ [K], trimmed to the site's plate axes.
                let n = self.nesting;
                let mut flat = vec![var.size];
                flat.extend_from_slice(&g.dims()[g.rank() - n..]);
                let g = g.reshape(flat)?;
                let mut perm: Vec<usize> = (1..=n).collect();
                perm.push(0);
                let g = g.permute(&perm)?;
                let mut natural = g.dims()[n - var.depth..n].to_vec();
                natural.push(var.size);
                out.insert(&var.name, g.reshape(natural)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Per-element results over the plate `plate`: for each element, the log marginal of the
    /// terms in that plate, the posterior marginals and the MAP values of the enumerated sites
    /// in it. The plate's elements must be independent given the rest: an enumerated site
    /// outside the plate that terms inside it depend on is an error. Terms outside the plate
    /// are left out of the per-element log marginal.
    pub fn per_element(&self, plate: &str) -> Result<PerElement> {
        let pid = self
            .plates
            .iter()
            .position(|p| p.name == plate)
            .ok_or_else(|| {
                Error::invalid(
                    "per_element",
                    format!("no enumerated term sits in a plate {plate:?}"),
                )
            })?;
        let included: Vec<usize> = (0..self.factors.len())
            .filter(|&f| self.factors[f].plates.contains(&pid))
            .collect();
        let kept = plan(&self.structure(), &included, Some(pid), self.max_table)?;
        let initial = self.tensors(false);
        let done = execute(&kept, &self.layout().view(), &initial, Semiring::Sum, false)?;
        let size = self.plates[pid].subsample_size;
        let log_marginal = done.total.broadcast_as(&self.plate_axis_shape(pid))?;
        let log_marginal = log_marginal.reshape([size])?;
        let inside = |v: &Var| v.plates.contains(&pid);
        let posterior = self.marginals_where(inside)?;
        let best_all = self.map()?.values;
        let mut best = Values::new();
        for var in self.vars.iter().filter(|v| inside(v)) {
            if let Some(value) = best_all.get(&var.name) {
                best.insert(&var.name, value.clone());
            }
        }
        Ok(PerElement {
            plate: plate.to_string(),
            log_marginal,
            posterior,
            best,
        })
    }

    /// The plate layout with only plate `pid` at its size.
    fn plate_axis_shape(&self, pid: usize) -> Shape {
        let n = self.nesting;
        let mut dims = vec![1; n];
        let axis = (n as isize + self.plates[pid].dim) as usize;
        dims[axis] = self.plates[pid].subsample_size;
        Shape::new(dims)
    }

    /// Values in the sites' own shapes from per-element indices.
    fn values(&self, assigned: &[Option<Assigned>], keep: impl Fn(&Var) -> bool) -> Result<Values> {
        let mut out = Values::new();
        for (var, a) in self.vars.iter().zip(assigned) {
            if !keep(var) {
                continue;
            }
            let a = a
                .as_ref()
                .ok_or_else(|| Error::site(&var.name, "an enumerated site left undecided"))?;
            let mut dims = a.dims[self.nesting - var.depth..].to_vec();
            dims.extend_from_slice(&var.support.dims()[1..]);
            let value = var.support.index_select(0, &a.index)?.reshape(dims)?;
            out.insert(&var.name, value);
        }
        Ok(out)
    }
}

/// The structure (no tensors) of a factor graph.
pub(super) fn structure_of(vars: &[Var], plates: &[PlateFrame], factors: &[Factor]) -> Structure {
    Structure {
        var_sizes: vars.iter().map(|v| v.size).collect(),
        var_plates: vars.iter().map(|v| v.plates.clone()).collect(),
        var_names: vars.iter().map(|v| v.name.clone()).collect(),
        plate_sizes: plates.iter().map(|p| p.subsample_size).collect(),
        plate_names: plates.iter().map(|p| p.name.clone()).collect(),
        factors: factors
            .iter()
            .map(|f| (f.vars.clone(), f.plates.clone()))
            .collect(),
    }
}

/// [`Layout`] with owned parts.
pub(super) struct OwnedLayout {
    var_sizes: Vec<usize>,
    plate_dims: Vec<isize>,
    plate_scales: Vec<f64>,
    nesting: usize,
}

impl OwnedLayout {
    pub(super) fn new(vars: &[Var], plates: &[PlateFrame], nesting: usize) -> Self {
        OwnedLayout {
            var_sizes: vars.iter().map(|v| v.size).collect(),
            plate_dims: plates.iter().map(|p| p.dim).collect(),
            plate_scales: plates.iter().map(PlateFrame::scale).collect(),
            nesting,
        }
    }

    pub(super) fn view(&self) -> Layout<'_> {
        Layout {
            var_sizes: &self.var_sizes,
            plate_dims: &self.plate_dims,
            plate_scales: &self.plate_scales,
            nesting: self.nesting,
        }
    }
}
