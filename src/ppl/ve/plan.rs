//! The elimination plan: in which order the enumerated variables are summed (or maximised)
//! out and the plates multiplied out, worked out on the structure alone, before any tensor
//! is touched, so that a plan whose largest table is too big is refused up front.
//!
//! Plates are handled as in Pyro's `contract_tensor_tree`: the factors are grouped by their
//! *ordinal* (the set of plates they sit in); ordinals are processed from the most plates to
//! the fewest; at an ordinal the variables that sit in exactly its plates are eliminated
//! (greedily, smallest table first, ties in execution order: forward along a chain), then
//! each remaining factor is multiplied out over the plates that none of its variables needs
//! and handed to the ordinal of those variables' plates.

use crate::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};

/// A factor graph without its tensors.
pub(super) struct Structure {
    /// Number of values of each variable.
    pub var_sizes: Vec<usize>,
    /// The plates (ids, sorted) of each variable.
    pub var_plates: Vec<Vec<usize>>,
    /// Site name of each variable.
    pub var_names: Vec<String>,
    /// Number of elements of each plate.
    pub plate_sizes: Vec<usize>,
    /// Name of each plate.
    pub plate_names: Vec<String>,
    /// Per factor: its variables (in the order of its tensor's leading axes) and its plates
    /// (ids, sorted).
    pub factors: Vec<(Vec<usize>, Vec<usize>)>,
}

/// One step of a plan. Each step makes one new factor, numbered after the initial ones in
/// the order of the steps.
#[derive(Clone, Debug)]
pub(super) enum Instr {
    /// Combine the factors `inputs` (aligned to the variables `vars`, whose first one is
    /// `var`) and reduce away `var`.
    Eliminate {
        /// The variable eliminated.
        var: usize,
        /// The factors combined.
        inputs: Vec<usize>,
        /// The variables of the combined table: `var` first, then the others ascending.
        vars: Vec<usize>,
    },
    /// Multiply the factor `input` out over `plates` (a sum of logs over their axes).
    ReducePlates {
        /// The factor.
        input: usize,
        /// The plates (ids).
        plates: Vec<usize>,
    },
}

/// The steps, the variables of every factor (initial ones first), and the factors left at
/// the end (no variables; their plates are at most the kept one).
#[derive(Clone, Debug)]
pub(super) struct Plan {
    pub instrs: Vec<Instr>,
    pub factor_vars: Vec<Vec<usize>>,
    pub roots: Vec<usize>,
    /// Entries of the largest table the plan builds.
    pub largest: usize,
}

impl Structure {
    fn table_size(&self, vars: &[usize], ordinal: &[usize]) -> usize {
        vars.iter()
            .map(|&v| self.var_sizes[v])
            .chain(ordinal.iter().map(|&p| self.plate_sizes[p]))
            .fold(1usize, |a, b| a.saturating_mul(b))
    }

    fn plate_list(&self, plates: &[usize]) -> String {
        let names: Vec<&str> = plates
            .iter()
            .map(|&p| self.plate_names[p].as_str())
            .collect();
        format!("{names:?}")
    }
}

/// Plans the contraction of the factors `included` (all of them: `0..n`). With `keep`, that
/// plate is never multiplied out: the result is one value per element of it, and every
/// included factor and variable must sit in it.
pub(super) fn plan(
    s: &Structure,
    included: &[usize],
    keep: Option<usize>,
    limit: usize,
) -> Result<Plan> {
    let root: Vec<usize> = keep.into_iter().collect();
    let mut out = Plan {
        instrs: Vec::new(),
        factor_vars: s.factors.iter().map(|f| f.0.clone()).collect(),
        roots: Vec::new(),
        largest: 1,
    };
    let mut by_ordinal: BTreeMap<Vec<usize>, Vec<usize>> = BTreeMap::new();
    for &id in included {
        let (vars, ordinal) = &s.factors[id];
        if let Some(k) = keep {
            if let Some(&v) = vars.iter().find(|&&v| !s.var_plates[v].contains(&k)) {
                return Err(Error::site(
                    &s.var_names[v],
                    format!(
                        "the elements of plate {:?} are coupled by this enumerated site outside it: they have no separate marginals",
                        s.plate_names[k]
                    ),
                ));
            }
        }
        by_ordinal.entry(ordinal.clone()).or_default().push(id);
    }
    loop {
        // The ordinal with the most plates next (a factor only ever moves to fewer plates).
        let next = by_ordinal
            .iter()
            .filter(|(_, ids)| !ids.is_empty())
            .max_by_key(|(o, _)| (o.len(), (*o).clone()))
            .map(|(o, _)| o.clone());
        let Some(ordinal) = next else { break };
        let ids = by_ordinal.remove(&ordinal).unwrap_or_default();
        let remaining = eliminate_locals(s, &ordinal, ids, &mut out, limit)?;
        for f in remaining {
            let mut parent: BTreeSet<usize> = root.iter().copied().collect();
            for &v in &out.factor_vars[f] {
                parent.extend(s.var_plates[v].iter().copied());
            }
            let parent: Vec<usize> = parent.into_iter().collect();
            if parent == ordinal {
                if ordinal == root {
                    out.roots.push(f);
                    continue;
                }
                return Err(crossing(s, &out.factor_vars[f], &ordinal));
            }
            let plates: Vec<usize> = ordinal
                .iter()
                .copied()
                .filter(|p| !parent.contains(p))
                .collect();
            out.instrs.push(Instr::ReducePlates { input: f, plates });
            let vars = out.factor_vars[f].clone();
            out.factor_vars.push(vars);
            by_ordinal
                .entry(parent)
                .or_default()
                .push(out.factor_vars.len() - 1);
        }
    }
    Ok(out)
}

/// The error for variables of different plates that meet in a factor of both.
fn crossing(s: &Structure, vars: &[usize], ordinal: &[usize]) -> Error {
    let described: Vec<String> = vars
        .iter()
        .map(|&v| {
            format!(
                "{:?} (plates {})",
                s.var_names[v],
                s.plate_list(&s.var_plates[v])
            )
        })
        .collect();
    Error::invalid(
        "enumerate_parallel",
        format!(
            "the enumerated sites {} meet in a factor in plates {}: exact enumeration across plates that cross is not supported",
            described.join(", "),
            s.plate_list(ordinal)
        ),
    )
}

/// Eliminates, greedily, the variables whose plates are exactly `ordinal` from the factors
/// `ids`; returns the factors left.
fn eliminate_locals(
    s: &Structure,
    ordinal: &[usize],
    ids: Vec<usize>,
    out: &mut Plan,
    limit: usize,
) -> Result<Vec<usize>> {
    let mut active: BTreeSet<usize> = ids.into_iter().collect();
    let mut var_factors: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for &f in &active {
        for &v in &out.factor_vars[f] {
            if s.var_plates[v] == ordinal {
                var_factors.entry(v).or_default().insert(f);
            }
        }
    }
    let neighbours = |v: usize, var_factors: &BTreeMap<usize, BTreeSet<usize>>, out: &Plan| {
        let mut union = BTreeSet::new();
        for &f in var_factors.get(&v).into_iter().flatten() {
            union.extend(out.factor_vars[f].iter().copied());
        }
        union.remove(&v);
        union
    };
    let cost = |v: usize, union: &BTreeSet<usize>| {
        union
            .iter()
            .map(|&u| s.var_sizes[u])
            .fold(s.var_sizes[v], |a, b| a.saturating_mul(b))
    };
    let mut costs: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue: BTreeSet<(usize, usize)> = BTreeSet::new();
    for &v in var_factors.keys() {
        let c = cost(v, &neighbours(v, &var_factors, out));
        costs.insert(v, c);
        queue.insert((c, v));
    }
    while let Some((_, v)) = queue.pop_first() {
        costs.remove(&v);
        let union = neighbours(v, &var_factors, out);
        let inputs: Vec<usize> = var_factors
            .remove(&v)
            .unwrap_or_default()
            .into_iter()
            .collect();
        let mut vars = vec![v];
        vars.extend(union.iter().copied());
        let size = s.table_size(&vars, ordinal);
        if size > limit {
            return Err(too_big(s, &vars, ordinal, size, limit));
        }
        out.largest = out.largest.max(size);
        out.instrs.push(Instr::Eliminate {
            var: v,
            inputs: inputs.clone(),
            vars: vars.clone(),
        });
        out.factor_vars.push(vars[1..].to_vec());
        let new = out.factor_vars.len() - 1;
        for f in &inputs {
            active.remove(f);
        }
        active.insert(new);
        for u in union {
            let Some(fs) = var_factors.get_mut(&u) else {
                continue;
            };
            for f in &inputs {
                fs.remove(f);
            }
            fs.insert(new);
            let c = cost(u, &neighbours(u, &var_factors, out));
            if let Some(old) = costs.insert(u, c) {
                queue.remove(&(old, u));
            }
            queue.insert((c, u));
        }
    }
    Ok(active.into_iter().collect())
}

/// The error for a table over the limit, naming its size and what it spans.
fn too_big(s: &Structure, vars: &[usize], ordinal: &[usize], size: usize, limit: usize) -> Error {
    let mut parts: Vec<String> = vars
        .iter()
        .take(8)
        .map(|&v| format!("{} ({})", s.var_names[v], s.var_sizes[v]))
        .collect();
    if vars.len() > 8 {
        parts.push(format!("… {} sites in all", vars.len()));
    }
    Error::invalid(
        "enumerate_parallel",
        format!(
            "exact enumeration would build a table of {size} entries, over the sites {} in plates {}, and the limit is {limit}: declare the model's independence with plates and markov, or raise the limit with ParallelEnum::max_table_size",
            parts.join(", "),
            s.plate_list(ordinal)
        ),
    )
}
