//! Who runs which grid point. One process runs them all in order; the ranks of an MPI job
//! each take the next one whenever they finish one: rank 0 deals them out from a thread
//! that answers the other ranks' requests (polling, so that it leaves rank 0's cores to
//! training), and runs points itself too.

use std::collections::VecDeque;

/// The order in which one process gets its grid points.
pub enum Schedule {
    /// Every pending point, here, in order.
    Local(VecDeque<usize>),
    /// Rank 0 of an MPI job: deals points to the other ranks and takes its own.
    #[cfg(feature = "mpi")]
    Root(mpi_schedule::Root),
    /// Another rank of an MPI job: asks rank 0 for each point.
    #[cfg(feature = "mpi")]
    Worker(mpi_schedule::Worker),
}

impl Schedule {
    /// The next point to run, or `None` when there is none left or this process is
    /// `stopping` (interrupted): then it takes no more.
    pub fn next(&mut self, stopping: bool) -> Option<usize> {
        match self {
            Schedule::Local(queue) => {
                if stopping {
                    queue.clear();
                }
                queue.pop_front()
            }
            #[cfg(feature = "mpi")]
            Schedule::Root(root) => root.next(stopping),
            #[cfg(feature = "mpi")]
            Schedule::Worker(worker) => worker.next(stopping),
        }
    }

    /// Waits until every process has finished its points (so that no rank idles in MPI's
    /// finalisation, which may keep a core busy, while others still train).
    pub fn finish(self) {
        match self {
            Schedule::Local(_) => {}
            #[cfg(feature = "mpi")]
            Schedule::Root(root) => root.finish(),
            #[cfg(feature = "mpi")]
            Schedule::Worker(worker) => worker.finish(),
        }
    }
}

#[cfg(feature = "mpi")]
pub mod mpi_schedule {
    //! The MPI schedule: tagged point-to-point messages of one `u64`.
    use crate::distributed::mpi::MpiWorld;
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::thread::JoinHandle;
    use std::time::Duration;

    /// A rank asks for a point (`WANT`) or says it stops (`STOPPING`).
    const REQUEST: i32 = 7301;
    /// Rank 0's answer: a point, or `NONE`.
    const ASSIGN: i32 = 7302;
    /// Rank 0 to every rank: every rank has finished.
    const DONE: i32 = 7303;
    const WANT: u64 = 0;
    const STOPPING: u64 = 1;
    const NONE: u64 = u64::MAX;
    /// How often a waiting rank looks for a message.
    const POLL: Duration = Duration::from_millis(50);

    /// Rank 0's side.
    pub struct Root {
        world: MpiWorld,
        queue: Arc<Mutex<VecDeque<usize>>>,
        stop: Arc<AtomicBool>,
        dealer: Option<JoinHandle<()>>,
    }

    impl Root {
        /// Starts dealing `pending` to the other ranks of `world`.
        pub fn new(world: MpiWorld, pending: VecDeque<usize>) -> Root {
            use pact::collective::Collective;
            let queue = Arc::new(Mutex::new(pending));
            let stop = Arc::new(AtomicBool::new(false));
            let others = world.size() - 1;
            let (q, s) = (queue.clone(), stop.clone());
            let dealer = std::thread::spawn(move || {
                let mut finished = 0;
                while finished < others {
                    let (request, from) = world.receive_any(REQUEST, POLL);
                    if request == STOPPING {
                        finished += 1;
                        continue;
                    }
                    let point = if s.load(Ordering::SeqCst) {
                        None
                    } else {
                        q.lock().unwrap_or_else(|p| p.into_inner()).pop_front()
                    };
                    world.send(from, ASSIGN, point.map_or(NONE, |p| p as u64));
                    if point.is_none() {
                        finished += 1;
                    }
                }
            });
            Root {
                world,
                queue,
                stop,
                dealer: Some(dealer),
            }
        }

        pub(super) fn next(&mut self, stopping: bool) -> Option<usize> {
            if stopping {
                self.stop.store(true, Ordering::SeqCst);
                return None;
            }
            self.queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front()
        }

        pub(super) fn finish(mut self) {
            use pact::collective::Collective;
            if let Some(dealer) = self.dealer.take() {
                // It ends once every other rank has been told there is nothing left.
                dealer.join().ok();
            }
            for rank in 1..self.world.size() {
                self.world.send(rank, DONE, 0);
            }
        }
    }

    /// Another rank's side.
    pub struct Worker {
        world: MpiWorld,
        done: bool,
    }

    impl Worker {
        /// A rank that asks rank 0 of `world` for its points.
        pub fn new(world: MpiWorld) -> Worker {
            Worker { world, done: false }
        }

        pub(super) fn next(&mut self, stopping: bool) -> Option<usize> {
            if self.done {
                return None;
            }
            if stopping {
                self.world.send(0, REQUEST, STOPPING);
                self.done = true;
                return None;
            }
            self.world.send(0, REQUEST, WANT);
            let point = self.world.receive_from(0, ASSIGN, POLL);
            if point == NONE {
                self.done = true;
                return None;
            }
            Some(point as usize)
        }

        pub(super) fn finish(mut self) {
            if !self.done {
                self.world.send(0, REQUEST, STOPPING);
                self.done = true;
            }
            self.world.receive_from(0, DONE, POLL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_process_takes_every_point_in_order_until_stopped() {
        let mut s = Schedule::Local(VecDeque::from([3, 5, 8]));
        assert_eq!(s.next(false), Some(3));
        assert_eq!(s.next(false), Some(5));
        assert_eq!(s.next(true), None);
        assert_eq!(s.next(false), None);
        s.finish();
    }
}
