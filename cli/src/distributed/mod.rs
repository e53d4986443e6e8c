//! Beyond one process: the group of processes a command runs on (`mpirun -np K pact …`),
//! how many threads each takes, and the start-up check that they were started alike.
//!
//! A `pact` built with `--features mpi` and started by an MPI launcher (Open MPI's `mpirun`,
//! MPICH's `mpiexec`, SLURM's `srun --mpi=…`) joins the job's world communicator
//! (`mpi.rs`); otherwise it is a group of one ([`SingleProcess`]) and none of this costs
//! anything. Everything above the [`Collective`] trait (sharding, bucketed gradient sums,
//! batch-norm statistics, the sweep's schedule) is the same code either way, and is tested
//! on threads ([`pact::collective::ThreadGroup`]) without MPI.

pub mod check;
#[cfg(test)]
mod equivalence_tests;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod threads;

use crate::{CliError, Result};
use pact::collective::{Collective, SingleProcess};
use std::sync::Arc;

/// How this process was started.
#[derive(Clone, Debug)]
pub struct Launch {
    /// This process's rank.
    pub rank: usize,
    /// The number of processes.
    pub size: usize,
    /// The processes of the job on this node (this one included).
    pub local_ranks: usize,
    /// This process's number among them, `0..local_ranks`.
    pub local_rank: usize,
    /// Whether more than one thread may make MPI calls (needed by the sweep's dispatcher).
    pub threaded: bool,
    /// The communication library.
    pub library: String,
}

/// The processes a command runs on.
pub struct World {
    /// Their collective operations.
    pub group: Arc<dyn Collective>,
    /// How this process was started.
    pub launch: Launch,
    /// The thread count chosen for this process.
    pub threads: threads::ThreadChoice,
    /// The MPI world, when there is one (for point-to-point messages and aborting).
    #[cfg(feature = "mpi")]
    pub mpi: Option<mpi::MpiWorld>,
    #[cfg(feature = "mpi")]
    _session: Option<mpi::Session>,
}

impl World {
    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.launch.rank
    }

    /// The number of processes.
    pub fn size(&self) -> usize {
        self.launch.size
    }

    /// Whether this is rank 0, the one that prints and writes.
    pub fn is_root(&self) -> bool {
        self.launch.rank == 0
    }

    /// One line saying how the command runs: processes and threads.
    pub fn describe(&self) -> String {
        let l = &self.launch;
        if l.size == 1 {
            format!(
                "1 process × {} thread(s) ({})",
                self.threads.threads, self.threads.reason
            )
        } else {
            format!(
                "{} processes ({} on this node; {}) × {} thread(s) each ({})",
                l.size, l.local_ranks, l.library, self.threads.threads, self.threads.reason
            )
        }
    }

    /// Ends a command that ran on these processes with its `result`. A single process
    /// returns it. In a job of several, an error that every rank found alike
    /// ([`CliError::Agreed`]) is returned by rank 0 while the others end quietly (status 0,
    /// so that the launcher waits for rank 0's report), after MPI is finalised; any other error is printed with its rank and ends the whole job at
    /// once, so that no rank waits for ever on one that has gone.
    pub fn conclude(self, result: Result<()>) -> Result<()> {
        let Err(error) = result else {
            return Ok(());
        };
        if self.launch.size == 1 {
            return Err(error);
        }
        if let CliError::Agreed(_) = error {
            let root = self.is_root();
            drop(self);
            if root {
                return Err(error);
            }
            // Rank 0 reports it and fails the job; a failing status here would let the
            // launcher end rank 0 before it has printed.
            std::process::exit(0);
        }
        #[cfg(feature = "mpi")]
        if let Some(m) = &self.mpi {
            eprintln!(
                "error (rank {} of {}): {error}",
                self.launch.rank, self.launch.size
            );
            m.abort(1);
        }
        Err(error)
    }
}

/// The number of processes an MPI launcher started, from its environment: Open MPI
/// (`OMPI_COMM_WORLD_SIZE`), MPICH and Intel MPI (`PMI_SIZE`), SLURM's `srun` with PMIx or
/// PMI-2 (`PMIX_RANK` or `PMI_RANK` with `SLURM_STEP_NUM_TASKS`).
pub fn launched_size(env: impl Fn(&str) -> Option<String>) -> Option<usize> {
    let number = |name: &str| env(name).and_then(|v| v.trim().parse::<usize>().ok());
    number("OMPI_COMM_WORLD_SIZE")
        .or_else(|| number("PMI_SIZE"))
        .or_else(|| {
            (env("PMIX_RANK").is_some() || env("PMI_RANK").is_some())
                .then(|| number("SLURM_STEP_NUM_TASKS").unwrap_or(1))
        })
}

/// The tasks of a SLURM job step started by `srun` without MPI, if more than one.
fn srun_tasks_without_mpi(env: impl Fn(&str) -> Option<String>) -> Option<usize> {
    env("SLURM_PROCID")?;
    let n = env("SLURM_STEP_NUM_TASKS")?.trim().parse::<usize>().ok()?;
    (n > 1).then_some(n)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Joins the processes this one was started with (MPI, when built with it and started by a
/// launcher; else a group of one) and sizes the thread pool (see [`threads::choose`]).
/// `what` names the command in messages.
pub fn start(what: &str) -> Result<World> {
    let launched = launched_size(env);
    if launched.is_none() {
        if let Some(n) = srun_tasks_without_mpi(env) {
            return Err(CliError::Usage(format!(
                "{what}: started as one of {n} tasks by srun, but without MPI: each task would \
                 do the whole work alone; start it with `srun --mpi=pmix` (or pmi2) and a pact \
                 built with `--features mpi`, or as a single task"
            )));
        }
    }
    #[cfg(feature = "mpi")]
    if launched.is_some() {
        let (session, world, launch) = mpi::start()?;
        let threads = choose_threads(launch.local_ranks);
        return Ok(World {
            group: Arc::new(world),
            launch,
            threads,
            mpi: Some(world),
            _session: Some(session),
        });
    }
    if let Some(n) = launched.filter(|&n| n > 1) {
        return Err(CliError::Usage(format!(
            "{what}: started by an MPI launcher as one of {n} processes, but this pact was \
             built without MPI, so each would run alone; build it with `cargo build --release \
             --features mpi`"
        )));
    }
    Ok(World {
        group: Arc::new(SingleProcess),
        launch: Launch {
            rank: 0,
            size: 1,
            local_ranks: 1,
            local_rank: 0,
            threaded: true,
            library: "none".into(),
        },
        threads: choose_threads(1),
        #[cfg(feature = "mpi")]
        mpi: None,
        #[cfg(feature = "mpi")]
        _session: None,
    })
}

/// The device of a rank that is `local_rank` on its node: the CPU as given; with ArrayFire,
/// the device `INDEX + local_rank` of the given backend (one rank per device:
/// `mpirun -np 4 pact --backend arrayfire:cuda train …` puts a node's ranks on its devices 0
/// to 3). An index beyond the backend's devices is refused.
pub fn device_for_rank(device: pact::Device, local_rank: usize) -> Result<pact::Device> {
    if device == pact::Device::Cpu || local_rank == 0 {
        return Ok(device);
    }
    let given = device.to_string();
    let shifted = offset_index(&given, local_rank)
        .ok_or_else(|| CliError::Usage(format!("--backend {given}: no device index to offset")))?;
    crate::backend::parse(&shifted).map_err(|e| {
        CliError::Usage(format!(
            "--backend {given}: rank {local_rank} of this node would use {shifted}: {e}"
        ))
    })
}

/// The device without its index (`arrayfire:cuda` for `arrayfire:cuda:2`; `cpu`).
pub fn device_kind(device: pact::Device) -> String {
    let text = device.to_string();
    match text.rsplit_once(':') {
        Some((head, index)) if index.parse::<usize>().is_ok() => head.to_string(),
        _ => text,
    }
}

/// `BACKEND:INDEX` with `k` added to the index.
fn offset_index(device: &str, k: usize) -> Option<String> {
    let (head, index) = device.rsplit_once(':')?;
    let index: usize = index.parse().ok()?;
    Some(format!("{head}:{}", index + k))
}

/// Chooses and applies this process's thread count.
fn choose_threads(local_ranks: usize) -> threads::ThreadChoice {
    let allowed = std::thread::available_parallelism().map_or(1, |n| n.get());
    let choice = threads::choose(local_ranks, threads::node_cores(allowed), allowed, env);
    threads::apply(choice.threads);
    choice
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn ranks_of_a_node_take_consecutive_devices() {
        assert_eq!(
            offset_index("arrayfire:cuda:1", 2).as_deref(),
            Some("arrayfire:cuda:3")
        );
        assert_eq!(offset_index("cpu", 1), None);
        assert_eq!(
            device_for_rank(pact::Device::Cpu, 3).unwrap(),
            pact::Device::Cpu
        );
    }

    #[test]
    fn launchers_are_recognised_by_their_environment() {
        assert_eq!(launched_size(env_of(&[])), None);
        assert_eq!(
            launched_size(env_of(&[("OMPI_COMM_WORLD_SIZE", "3")])),
            Some(3)
        );
        assert_eq!(launched_size(env_of(&[("PMI_SIZE", "2")])), Some(2));
        assert_eq!(
            launched_size(env_of(&[("PMIX_RANK", "0"), ("SLURM_STEP_NUM_TASKS", "4")])),
            Some(4)
        );
        assert_eq!(
            srun_tasks_without_mpi(env_of(&[
                ("SLURM_PROCID", "1"),
                ("SLURM_STEP_NUM_TASKS", "4")
            ])),
            Some(4)
        );
        assert_eq!(
            srun_tasks_without_mpi(env_of(&[("SLURM_STEP_NUM_TASKS", "4")])),
            None
        );
    }
}
