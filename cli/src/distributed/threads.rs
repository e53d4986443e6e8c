//! How many threads each process computes with, so that ranks × threads fill the cores a
//! process was given without oversubscribing them.

/// Where the thread count came from, for the start-up line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadChoice {
    /// Threads of this process.
    pub threads: usize,
    /// Why that many.
    pub reason: String,
}

/// The thread count of a process that shares its node with `local_ranks` processes of the
/// same run (itself included), from, in order:
///
/// 1. `RAYON_NUM_THREADS`, if set (the user's choice);
/// 2. `SLURM_CPUS_PER_TASK`, if set (the cores SLURM gave each task);
/// 3. the cores this process may run on, if the launcher bound it to fewer than the node
///    has (`mpirun --bind-to`, `srun --cpu-bind`): all of them;
/// 4. otherwise the node's cores divided among the local ranks (at least one each).
///
/// `node_cores` is the number of online cores of the node, `allowed` the number this
/// process may run on (its affinity mask).
pub fn choose(
    local_ranks: usize,
    node_cores: usize,
    allowed: usize,
    env: impl Fn(&str) -> Option<String>,
) -> ThreadChoice {
    let positive = |name: &str| {
        env(name)
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
    };
    if let Some(n) = positive("RAYON_NUM_THREADS") {
        return ThreadChoice {
            threads: n,
            reason: "RAYON_NUM_THREADS".into(),
        };
    }
    if let Some(n) = positive("SLURM_CPUS_PER_TASK") {
        return ThreadChoice {
            threads: n,
            reason: "SLURM_CPUS_PER_TASK".into(),
        };
    }
    let allowed = allowed.max(1);
    if allowed < node_cores {
        return ThreadChoice {
            threads: allowed,
            reason: format!("the {allowed} core(s) this process is bound to"),
        };
    }
    let local = local_ranks.max(1);
    ThreadChoice {
        threads: (node_cores / local).max(1),
        reason: format!("{node_cores} core(s) shared by {local} process(es) on this node"),
    }
}

/// The node's online cores (Linux: `/sys/devices/system/cpu/online`, such as `0-15,32-47`),
/// or `fallback` where that cannot be read.
pub fn node_cores(fallback: usize) -> usize {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|list| count_cpu_list(&list))
        .unwrap_or(fallback)
}

/// The number of CPUs in a Linux CPU list (`0-3,8,10-11` → 7).
fn count_cpu_list(list: &str) -> Option<usize> {
    let mut n = 0;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        n += match part.split_once('-') {
            Some((a, b)) => b.trim().parse::<usize>().ok()? + 1 - a.trim().parse::<usize>().ok()?,
            None => {
                part.trim().parse::<usize>().ok()?;
                1
            }
        };
    }
    (n > 0).then_some(n)
}

/// Sets the size of the global thread pool to `threads` (before any parallel work).
pub fn apply(threads: usize) {
    // An error means the pool already exists (a second command in one process): keep it.
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .ok();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_users_and_slurms_counts_come_first() {
        let env = |k: &str| (k == "RAYON_NUM_THREADS").then(|| "3".to_string());
        assert_eq!(choose(2, 16, 16, env).threads, 3);
        let env = |k: &str| (k == "SLURM_CPUS_PER_TASK").then(|| "4".to_string());
        assert_eq!(choose(2, 16, 16, env).threads, 4);
    }

    #[test]
    fn bound_processes_use_their_cores_and_unbound_ones_share_the_node() {
        assert_eq!(choose(2, 2, 1, none).threads, 1);
        assert_eq!(choose(4, 16, 4, none).threads, 4);
        assert_eq!(choose(2, 16, 16, none).threads, 8);
        assert_eq!(choose(3, 2, 2, none).threads, 1);
        assert_eq!(choose(1, 2, 2, none).threads, 2);
    }

    #[test]
    fn cpu_lists_are_counted() {
        assert_eq!(count_cpu_list("0-1\n"), Some(2));
        assert_eq!(count_cpu_list("0-3,8,10-11"), Some(7));
        assert_eq!(count_cpu_list("x"), None);
    }
}
