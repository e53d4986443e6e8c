//! The MPI communicator (the rsmpi bindings over the system's MPI library), for `pact`
//! built with `--features mpi` and started by an MPI launcher (`mpirun`, `srun`).

use super::Launch;
use crate::{CliError, Result};
use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Count;
use pact::collective::Collective;
use std::time::Duration;

/// MPI, initialised; finalised when dropped.
pub struct Session {
    _universe: Universe,
}

/// The world communicator of this process's MPI job, as a [`Collective`].
///
/// Every call makes a fresh handle on `MPI_COMM_WORLD` (a constant), so the value is `Send`
/// and `Sync`; MPI was initialised for calls from more than one thread, never at once (the
/// sweep's dispatcher thread calls while the main thread does not).
#[derive(Clone, Copy, Debug)]
pub struct MpiWorld {
    rank: usize,
    size: usize,
}

fn world() -> SimpleCommunicator {
    SimpleCommunicator::world()
}

fn count(n: usize, what: &str) -> pact::Result<Count> {
    Count::try_from(n).map_err(|_| {
        pact::Error::Collective(format!(
            "{what} of {n} elements is more than MPI can send at once"
        ))
    })
}

/// Initialises MPI (asking for calls from several threads); the session, the world and the
/// number of its processes on this node.
pub fn start() -> Result<(Session, MpiWorld, Launch)> {
    let (universe, level) = mpi::initialize_with_threading(mpi::Threading::Multiple)
        .ok_or_else(|| CliError::Usage("MPI was already initialised".into()))?;
    let w = universe.world();
    let (rank, size) = (w.rank() as usize, w.size() as usize);
    let node = w.split_shared(w.rank());
    let (local, local_rank) = (node.size() as usize, node.rank() as usize);
    let threaded = matches!(level, mpi::Threading::Serialized | mpi::Threading::Multiple);
    let launch = Launch {
        rank,
        size,
        local_ranks: local,
        local_rank,
        threaded,
        // The first words of the first line (`Open MPI v4.1.4, package: …`).
        library: mpi::environment::library_version()
            .ok()
            .and_then(|v| v.split([',', '\n']).next().map(|s| s.trim().to_string()))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "MPI".into()),
    };
    Ok((
        Session {
            _universe: universe,
        },
        MpiWorld { rank, size },
        launch,
    ))
}

impl MpiWorld {
    /// Ends the whole job at once (every rank), with `code` as its exit status.
    pub fn abort(&self, code: i32) -> ! {
        world().abort(code)
    }

    /// Sends `value` to `rank` with `tag`.
    pub fn send(&self, rank: usize, tag: i32, value: u64) {
        world()
            .process_at_rank(rank as i32)
            .send_with_tag(&value, tag);
    }

    /// Receives a value with `tag` from `rank`, polling every `poll` (a blocking receive
    /// would keep a core busy).
    pub fn receive_from(&self, rank: usize, tag: i32, poll: Duration) -> u64 {
        let w = world();
        let p = w.process_at_rank(rank as i32);
        while p.immediate_probe_with_tag(tag).is_none() {
            std::thread::sleep(poll);
        }
        p.receive_with_tag::<u64>(tag).0
    }

    /// Receives a value with `tag` from any rank, polling every `poll`; the value and its
    /// sender.
    pub fn receive_any(&self, tag: i32, poll: Duration) -> (u64, usize) {
        let w = world();
        let any = w.any_process();
        while any.immediate_probe_with_tag(tag).is_none() {
            std::thread::sleep(poll);
        }
        let (v, status) = any.receive_with_tag::<u64>(tag);
        (v, status.source_rank() as usize)
    }
}

impl Collective for MpiWorld {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn allreduce_sum_f64(&self, values: &mut [f64]) -> pact::Result<()> {
        count(values.len(), "a sum")?;
        let send = values.to_vec();
        world().all_reduce_into(&send[..], values, SystemOperation::sum());
        Ok(())
    }

    fn allreduce_sum_f32(&self, values: &mut [f32]) -> pact::Result<()> {
        count(values.len(), "a sum")?;
        let send = values.to_vec();
        world().all_reduce_into(&send[..], values, SystemOperation::sum());
        Ok(())
    }

    fn broadcast_bytes(&self, bytes: &mut Vec<u8>, root: usize) -> pact::Result<()> {
        if root >= self.size {
            return Err(pact::Error::Collective(format!(
                "broadcast from rank {root} in a job of {}",
                self.size
            )));
        }
        let w = world();
        let p = w.process_at_rank(root as i32);
        let mut len = bytes.len() as u64;
        p.broadcast_into(&mut len);
        count(len as usize, "a broadcast")?;
        bytes.resize(len as usize, 0);
        p.broadcast_into(&mut bytes[..]);
        Ok(())
    }

    fn allgather_bytes(&self, mine: &[u8]) -> pact::Result<Vec<Vec<u8>>> {
        let w = world();
        let own = count(mine.len(), "a gather")?;
        let mut counts: Vec<Count> = vec![0; self.size];
        w.all_gather_into(&own, &mut counts[..]);
        let mut displs = Vec::with_capacity(self.size);
        let mut total: usize = 0;
        for &c in &counts {
            displs.push(count(total, "a gather")?);
            total += c as usize;
        }
        let mut buf = vec![0u8; total];
        {
            let mut partition = PartitionMut::new(&mut buf[..], &counts[..], &displs[..]);
            w.all_gather_varcount_into(mine, &mut partition);
        }
        Ok(counts
            .iter()
            .zip(&displs)
            .map(|(&c, &d)| buf[d as usize..(d + c) as usize].to_vec())
            .collect())
    }
}
