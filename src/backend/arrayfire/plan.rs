//! Host-side planning for the ArrayFire kernels: how a row-major pact tensor of any rank is
//! seen as an ArrayFire array of at most four column-major dimensions.
//!
//! Every ArrayFire storage is one flat (1-D) array holding the row-major elements. A
//! row-major shape `[d0, …, d(r−1)]` over that buffer is exactly the column-major shape
//! `[d(r−1), …, d0]`, so a kernel reshapes (`moddims`, free) to the reversed dims, works, and
//! reshapes back. Kernels along one axis use `[inner, n, outer]` (the reverse of the CPU
//! kernels' `split_at_axis`). Layout ops of higher rank first merge the axes that move
//! together; what still needs more than four dimensions becomes a gather with indices computed
//! here, on the host.
//!
//! Nothing in this file calls ArrayFire, so it is tested on every machine.

/// Column-major ArrayFire dims `[inner, n, outer, 1]` of a tensor seen around one axis.
pub fn around_axis(outer: usize, n: usize, inner: usize) -> [u64; 4] {
    [inner as u64, n as u64, outer as u64, 1]
}

/// The column-major dims of a row-major shape of rank at most 4 (reversed, padded with 1).
pub fn column_major(dims: &[usize]) -> Option<[u64; 4]> {
    if dims.len() > 4 {
        return None;
    }
    let mut out = [1u64; 4];
    for (i, &d) in dims.iter().rev().enumerate() {
        out[i] = d as u64;
    }
    Some(out)
}

/// How to materialise a broadcast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BroadcastPlan {
    /// Nothing to do: the source already has the target's elements in order.
    Identity,
    /// Reshape the source to `src` (column-major) and tile it `reps` times.
    Tile {
        /// Column-major dims of the source.
        src: [u64; 4],
        /// Repetitions along each column-major dim.
        reps: [u64; 4],
    },
    /// More than four alternating runs of kept and stretched axes: gather these flat source
    /// indices (one per target element, in target order).
    Gather(Vec<u32>),
}

/// Plans the broadcast of a row-major `shape` to `target` (NumPy rules, already checked).
pub fn broadcast(shape: &[usize], target: &[usize]) -> BroadcastPlan {
    let offset = target.len() - shape.len();
    // Runs of axes with the same kind: `true` for kept (source size = target size), `false`
    // for stretched (source size 1, target size > 1). Axes of target size 1 are dropped.
    let mut runs: Vec<(usize, bool)> = Vec::new();
    for (i, &t) in target.iter().enumerate() {
        if t == 1 {
            continue;
        }
        let s = if i < offset { 1 } else { shape[i - offset] };
        let kept = s == t;
        match runs.last_mut() {
            Some((size, k)) if *k == kept => *size *= t,
            _ => runs.push((t, kept)),
        }
    }
    if runs.iter().all(|&(_, kept)| kept) {
        return BroadcastPlan::Identity;
    }
    if runs.len() <= 4 {
        let mut src = [1u64; 4];
        let mut reps = [1u64; 4];
        for (j, &(size, kept)) in runs.iter().rev().enumerate() {
            if kept {
                src[j] = size as u64;
            } else {
                reps[j] = size as u64;
            }
        }
        return BroadcastPlan::Tile { src, reps };
    }
    BroadcastPlan::Gather(broadcast_indices(shape, target))
}

/// Flat source index of every target element of a broadcast (row-major).
pub fn broadcast_indices(shape: &[usize], target: &[usize]) -> Vec<u32> {
    let offset = target.len() - shape.len();
    // Source stride of each target axis (0 where stretched or added).
    let mut strides = vec![0usize; target.len()];
    let mut stride = 1;
    for i in (0..target.len()).rev() {
        if i >= offset {
            let s = shape[i - offset];
            if s == target[i] {
                strides[i] = stride;
            }
            stride *= s;
        }
    }
    row_major_walk(target, &strides)
}

/// For every element of a row-major array of shape `dims` (in order), `Σ index_i · strides_i`.
fn row_major_walk(dims: &[usize], strides: &[usize]) -> Vec<u32> {
    let n: usize = dims.iter().product();
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    let mut idx = vec![0usize; dims.len()];
    let mut pos = 0usize;
    for _ in 0..n {
        out.push(pos as u32);
        // Increment the multi-index, last axis fastest.
        for a in (0..dims.len()).rev() {
            idx[a] += 1;
            pos += strides[a];
            if idx[a] < dims[a] {
                break;
            }
            pos -= strides[a] * dims[a];
            idx[a] = 0;
        }
    }
    out
}

/// How to permute axes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PermutePlan {
    /// The permutation leaves the element order unchanged.
    Identity,
    /// Reshape to `dims` (column-major) and call `reorder` with `order`.
    Reorder {
        /// Column-major dims of the input.
        dims: [u64; 4],
        /// ArrayFire's reorder: output dim `j` is input dim `order[j]`.
        order: [u64; 4],
    },
    /// More than four axes still move independently: gather these flat input indices.
    Gather(Vec<u32>),
}

/// Plans `permute(shape, perm)` (output axis `i` is input axis `perm[i]`).
pub fn permute(shape: &[usize], perm: &[usize]) -> PermutePlan {
    // Drop axes of size 1 and renumber the rest.
    let kept: Vec<usize> = (0..shape.len()).filter(|&a| shape[a] != 1).collect();
    let renumber = |a: usize| kept.iter().position(|&k| k == a);
    let p: Vec<usize> = perm.iter().filter_map(|&a| renumber(a)).collect();
    let s: Vec<usize> = kept.iter().map(|&a| shape[a]).collect();
    // Merge output-adjacent axes that are also input-adjacent and in order.
    let mut groups: Vec<(usize, usize)> = Vec::new(); // (first input axis, last input axis)
    for &a in &p {
        match groups.last_mut() {
            Some((_, last)) if *last + 1 == a => *last = a,
            _ => groups.push((a, a)),
        }
    }
    let mut by_input: Vec<usize> = (0..groups.len()).collect();
    by_input.sort_by_key(|&g| groups[g].0);
    // Reduced input shape (in input order) and the reduced permutation.
    let rs: Vec<usize> = by_input
        .iter()
        .map(|&g| (groups[g].0..=groups[g].1).map(|a| s[a]).product())
        .collect();
    let rp: Vec<usize> = (0..groups.len())
        .map(|g| {
            by_input
                .iter()
                .position(|&x| x == g)
                .expect("every group is listed")
        })
        .collect();
    let r = rs.len();
    if rp.iter().enumerate().all(|(i, &a)| i == a) {
        return PermutePlan::Identity;
    }
    if r <= 4 {
        let dims = column_major(&rs).expect("rank checked");
        let mut order = [0u64, 1, 2, 3];
        for (j, o) in order.iter_mut().enumerate().take(r) {
            *o = (r - 1 - rp[r - 1 - j]) as u64;
        }
        return PermutePlan::Reorder { dims, order };
    }
    PermutePlan::Gather(permute_indices(shape, perm))
}

/// Flat input index of every output element of a permutation.
pub fn permute_indices(shape: &[usize], perm: &[usize]) -> Vec<u32> {
    let mut in_strides = vec![0usize; shape.len()];
    let mut stride = 1;
    for a in (0..shape.len()).rev() {
        in_strides[a] = stride;
        stride *= shape[a];
    }
    let out_dims: Vec<usize> = perm.iter().map(|&a| shape[a]).collect();
    let out_strides: Vec<usize> = perm.iter().map(|&a| in_strides[a]).collect();
    row_major_walk(&out_dims, &out_strides)
}

/// Flat input index of every output element of `gather` along `axis` (see
/// [`crate::backend::BackendStorage::gather`]).
pub fn gather_indices(
    (_, n, inner): (usize, usize, usize),
    index: &[usize],
    (outer, m, _): (usize, usize, usize),
) -> Vec<u32> {
    let mut out = Vec::with_capacity(index.len());
    for o in 0..outer {
        for j in 0..m {
            for i in 0..inner {
                let k = index[(o * m + j) * inner + i];
                out.push(((o * n + k) * inner + i) as u32);
            }
        }
    }
    out
}

/// How to add rows of a `[rows, cols]` array into `size` target rows, several rows possibly
/// going to the same target: a stable sort by target, `sum_by_key` over equal targets, then a
/// gather that also inserts zero rows where nothing arrives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScatterPlan {
    /// Source rows in order of their target (stable), when some target repeats; `None` when
    /// every target is distinct (no sort and no summing needed).
    pub order: Option<Vec<u32>>,
    /// The targets in sorted order (the keys of `sum_by_key`); empty when `order` is `None`.
    pub keys: Vec<u32>,
    /// For every target row: 0 if nothing arrives, else 1 + the row of the reduced (or, with
    /// distinct targets, the source) array that lands there. Row 0 of the gathered array is a
    /// row of zeros.
    pub map: Vec<u32>,
}

/// Plans a scatter-add of rows `0..targets.len()` into rows `targets[i]` of `size` rows.
pub fn scatter(targets: &[usize], size: usize) -> ScatterPlan {
    let mut seen = vec![false; size];
    let distinct = targets
        .iter()
        .all(|&t| !std::mem::replace(&mut seen[t], true));
    let mut map = vec![0u32; size];
    if distinct {
        for (j, &t) in targets.iter().enumerate() {
            map[t] = j as u32 + 1;
        }
        return ScatterPlan {
            order: None,
            keys: Vec::new(),
            map,
        };
    }
    let mut order: Vec<u32> = (0..targets.len() as u32).collect();
    order.sort_by_key(|&j| targets[j as usize]); // stable
    let keys: Vec<u32> = order.iter().map(|&j| targets[j as usize] as u32).collect();
    let mut unique = 0u32;
    for (i, &k) in keys.iter().enumerate() {
        if i == 0 || keys[i - 1] != k {
            unique += 1;
            map[k as usize] = unique;
        }
    }
    ScatterPlan {
        order: Some(order),
        keys,
        map,
    }
}

/// Flat output position of every source element of `scatter_add` along `axis`.
pub fn scatter_targets(
    index: &[usize],
    (outer, m, _): (usize, usize, usize),
    (_, n, inner): (usize, usize, usize),
) -> Vec<usize> {
    let mut out = Vec::with_capacity(index.len());
    for o in 0..outer {
        for j in 0..m {
            for i in 0..inner {
                out.push((o * n + index[(o * m + j) * inner + i]) * inner + i);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strides(dims: &[usize]) -> Vec<usize> {
        let mut s = vec![1; dims.len()];
        for a in (0..dims.len().saturating_sub(1)).rev() {
            s[a] = s[a + 1] * dims[a + 1];
        }
        s
    }

    fn unravel(mut i: usize, dims: &[usize]) -> Vec<usize> {
        let mut idx = vec![0; dims.len()];
        for a in (0..dims.len()).rev() {
            idx[a] = i % dims[a];
            i /= dims[a];
        }
        idx
    }

    /// ArrayFire's `tile` on a column-major buffer.
    fn tile_cm(data: &[f64], src: [u64; 4], reps: [u64; 4]) -> Vec<f64> {
        let s: Vec<usize> = src.iter().map(|&d| d as usize).collect();
        let o: Vec<usize> = (0..4).map(|j| s[j] * reps[j] as usize).collect();
        let mut out = Vec::with_capacity(o.iter().product());
        for i3 in 0..o[3] {
            for i2 in 0..o[2] {
                for i1 in 0..o[1] {
                    for i0 in 0..o[0] {
                        let (a, b, c, d) = (i0 % s[0], i1 % s[1], i2 % s[2], i3 % s[3]);
                        out.push(data[a + s[0] * (b + s[1] * (c + s[2] * d))]);
                    }
                }
            }
        }
        out
    }

    /// ArrayFire's `reorder` on a column-major buffer.
    fn reorder_cm(data: &[f64], dims: [u64; 4], order: [u64; 4]) -> Vec<f64> {
        let d: Vec<usize> = dims.iter().map(|&x| x as usize).collect();
        let od: Vec<usize> = order.iter().map(|&j| d[j as usize]).collect();
        let mut out = Vec::with_capacity(data.len());
        for i3 in 0..od[3] {
            for i2 in 0..od[2] {
                for i1 in 0..od[1] {
                    for i0 in 0..od[0] {
                        let oi = [i0, i1, i2, i3];
                        let mut ii = [0usize; 4];
                        for j in 0..4 {
                            ii[order[j] as usize] = oi[j];
                        }
                        out.push(data[ii[0] + d[0] * (ii[1] + d[1] * (ii[2] + d[2] * ii[3]))]);
                    }
                }
            }
        }
        out
    }

    fn naive_broadcast(x: &[f64], shape: &[usize], target: &[usize]) -> Vec<f64> {
        let offset = target.len() - shape.len();
        let n: usize = target.iter().product();
        let st = strides(shape);
        (0..n)
            .map(|i| {
                let idx = unravel(i, target);
                let src: usize = (0..shape.len())
                    .map(|a| {
                        if shape[a] == 1 {
                            0
                        } else {
                            idx[a + offset] * st[a]
                        }
                    })
                    .sum();
                x[src]
            })
            .collect()
    }

    fn apply_broadcast(x: &[f64], shape: &[usize], target: &[usize]) -> Vec<f64> {
        match broadcast(shape, target) {
            BroadcastPlan::Identity => x.to_vec(),
            BroadcastPlan::Tile { src, reps } => {
                assert_eq!(src.iter().product::<u64>() as usize, x.len());
                tile_cm(x, src, reps)
            }
            BroadcastPlan::Gather(idx) => idx.iter().map(|&i| x[i as usize]).collect(),
        }
    }

    #[test]
    fn broadcast_plans_match_numpy_rules() {
        let cases: Vec<(Vec<usize>, Vec<usize>)> = vec![
            (vec![], vec![2, 3]),
            (vec![1], vec![2, 3]),
            (vec![3], vec![2, 3]),
            (vec![2, 1], vec![2, 3]),
            (vec![2, 3], vec![2, 3]),
            (vec![1, 3, 1, 1], vec![2, 3, 4, 5]),
            (vec![3, 1, 1], vec![2, 3, 4, 5]),
            (vec![1, 4], vec![3, 4]),
            (vec![2, 1, 3], vec![2, 4, 3]),
            (vec![1, 3, 1, 5, 1], vec![2, 3, 4, 5, 6]),
            (vec![2, 1, 3, 1, 2, 1], vec![2, 2, 3, 2, 2, 2]),
            (vec![1, 1, 3], vec![2, 2, 3]),
            (vec![4, 1, 1], vec![4, 1, 5]),
        ];
        for (shape, target) in cases {
            let x: Vec<f64> = (0..shape.iter().product::<usize>())
                .map(|i| i as f64)
                .collect();
            assert_eq!(
                apply_broadcast(&x, &shape, &target),
                naive_broadcast(&x, &shape, &target),
                "{shape:?} → {target:?}"
            );
        }
        assert!(matches!(
            broadcast(&[2, 1, 3, 1, 2, 1], &[2, 2, 3, 2, 2, 2]),
            BroadcastPlan::Gather(_)
        ));
        assert_eq!(broadcast(&[4, 1], &[4, 1]), BroadcastPlan::Identity);
    }

    fn naive_permute(x: &[f64], shape: &[usize], perm: &[usize]) -> Vec<f64> {
        let od: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let st = strides(shape);
        (0..x.len())
            .map(|i| {
                let oi = unravel(i, &od);
                x[perm
                    .iter()
                    .enumerate()
                    .map(|(a, &p)| oi[a] * st[p])
                    .sum::<usize>()]
            })
            .collect()
    }

    fn permutations(n: usize) -> Vec<Vec<usize>> {
        if n == 0 {
            return vec![vec![]];
        }
        let mut out = Vec::new();
        for p in permutations(n - 1) {
            for pos in 0..n {
                let mut q = p.clone();
                q.insert(pos, n - 1);
                out.push(q);
            }
        }
        out
    }

    #[test]
    fn permute_plans_match_naive_permutation() {
        for shape in [
            vec![2, 3, 4],
            vec![2, 3, 4, 5],
            vec![2, 1, 3, 2, 2],
            vec![2, 3, 1, 2, 3],
            vec![3, 2, 2, 2, 2],
            vec![1, 1, 4],
        ] {
            let x: Vec<f64> = (0..shape.iter().product::<usize>())
                .map(|i| i as f64)
                .collect();
            for perm in permutations(shape.len()) {
                let want = naive_permute(&x, &shape, &perm);
                let got = match permute(&shape, &perm) {
                    PermutePlan::Identity => x.clone(),
                    PermutePlan::Reorder { dims, order } => reorder_cm(&x, dims, order),
                    PermutePlan::Gather(idx) => idx.iter().map(|&i| x[i as usize]).collect(),
                };
                assert_eq!(got, want, "{shape:?} {perm:?}");
            }
        }
        // Rank 6 with every axis moving: a gather.
        assert!(matches!(
            permute(&[2, 2, 2, 2, 2, 2], &[5, 3, 1, 4, 2, 0]),
            PermutePlan::Gather(_)
        ));
        // Merged axes keep rank-6 permutations on `reorder`.
        assert!(matches!(
            permute(&[2, 2, 2, 2, 2, 2], &[4, 5, 0, 1, 2, 3]),
            PermutePlan::Reorder { .. }
        ));
    }

    #[test]
    fn scatter_plans_sum_repeated_targets() {
        let targets = [2, 0, 2, 3, 0, 2];
        let p = scatter(&targets, 5);
        let order = p.order.clone().expect("repeats need sorting");
        assert_eq!(order, vec![1, 4, 0, 2, 5, 3]);
        assert_eq!(p.keys, vec![0, 0, 2, 2, 2, 3]);
        assert_eq!(p.map, vec![1, 0, 2, 3, 0]);
        // Emulate: sort, sum by key, gather with a zero row in front.
        let rows = [1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0];
        let sorted: Vec<f64> = order.iter().map(|&j| rows[j as usize]).collect();
        let mut sums = vec![0.0];
        for (i, &v) in sorted.iter().enumerate() {
            if i == 0 || p.keys[i] != p.keys[i - 1] {
                sums.push(0.0);
            }
            *sums.last_mut().unwrap() += v;
        }
        let out: Vec<f64> = p.map.iter().map(|&m| sums[m as usize]).collect();
        let mut want = [0.0; 5];
        for (j, &t) in targets.iter().enumerate() {
            want[t] += rows[j];
        }
        assert_eq!(out, want);
        let d = scatter(&[3, 1], 4);
        assert_eq!((d.order, d.map), (None, vec![0, 2, 0, 1]));
    }

    #[test]
    fn gather_and_scatter_positions() {
        // x: [2, 3] gathered along axis 1 with index [2, 2]: [[0, 2], [1, 1]].
        let idx = gather_indices((2, 3, 1), &[0, 2, 1, 1], (2, 2, 1));
        assert_eq!(idx, vec![0, 2, 4, 4]);
        let t = scatter_targets(&[0, 2, 1, 1], (2, 2, 1), (2, 3, 1));
        assert_eq!(t, vec![0, 2, 4, 4]);
        // Along axis 0 of [3, 2] with index [1, 2]: out[0, i] = x[index[0, i], i].
        assert_eq!(gather_indices((1, 3, 2), &[2, 0], (1, 1, 2)), vec![4, 1]);
    }

    #[test]
    fn column_major_dims_reverse_the_shape() {
        assert_eq!(column_major(&[2, 3, 4]), Some([4, 3, 2, 1]));
        assert_eq!(column_major(&[]), Some([1, 1, 1, 1]));
        assert_eq!(column_major(&[1, 2, 3, 4, 5]), None);
        assert_eq!(around_axis(2, 3, 4), [4, 3, 2, 1]);
    }
}
