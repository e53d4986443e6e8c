//! [`ThreadGroup`]: `K` replicas as threads of one process, meeting at a rendezvous.

use super::Collective;
use crate::{Error, Result};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One member of a group of replicas that are threads of one process (made together by
/// [`ThreadGroup::new`]; move each into its own thread).
///
/// Every operation is a rendezvous: each member deposits its contribution, the last to
/// arrive publishes all of them, and each member computes its result from the same
/// contributions in rank order (so sums agree bit for bit). Once a member is dropped, or one
/// waited longer than the group's timeout, the operations that cannot complete fail instead
/// of waiting for ever.
pub struct ThreadGroup {
    shared: Arc<Shared>,
    rank: usize,
}

struct Shared {
    size: usize,
    timeout: Duration,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// The operation being gathered (counts completed ones).
    round: u64,
    /// Contributions to the current round, by rank.
    slots: Vec<Option<Vec<u8>>>,
    filled: usize,
    /// Every contribution of the finished round, until each member has taken it.
    published: Option<Arc<Vec<Vec<u8>>>>,
    readers_left: usize,
    /// Why the group cannot go on.
    broken: Option<String>,
}

impl ThreadGroup {
    /// The `size` members of a new group, by rank, giving up on an operation after two
    /// minutes.
    pub fn new(size: usize) -> Vec<ThreadGroup> {
        Self::with_timeout(size, Duration::from_secs(120))
    }

    /// The `size` members of a new group whose operations fail after waiting `timeout` for
    /// the other members.
    pub fn with_timeout(size: usize, timeout: Duration) -> Vec<ThreadGroup> {
        let shared = Arc::new(Shared {
            size,
            timeout,
            state: Mutex::new(State {
                slots: vec![None; size],
                ..State::default()
            }),
            changed: Condvar::new(),
        });
        (0..size)
            .map(|rank| ThreadGroup {
                shared: shared.clone(),
                rank,
            })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits on the condition variable until `done(state)`, failing if the group breaks or
    /// the timeout passes (which breaks it for the others too).
    fn wait_until<'a>(
        &self,
        mut state: MutexGuard<'a, State>,
        what: &str,
        done: impl Fn(&State) -> bool,
    ) -> Result<MutexGuard<'a, State>> {
        let deadline = Instant::now() + self.shared.timeout;
        loop {
            // A result already there is taken even if a member left since.
            if done(&state) {
                return Ok(state);
            }
            if let Some(why) = &state.broken {
                return Err(Error::Collective(why.clone()));
            }
            let now = Instant::now();
            if now >= deadline {
                let missing: Vec<String> = state
                    .slots
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.is_none())
                    .map(|(r, _)| r.to_string())
                    .collect();
                let why = format!(
                    "replica {} waited {:?} {what}; no contribution from replica(s) {}",
                    self.rank,
                    self.shared.timeout,
                    missing.join(", ")
                );
                state.broken = Some(why.clone());
                self.shared.changed.notify_all();
                return Err(Error::Collective(why));
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    /// Every member's `mine`, by rank.
    fn exchange(&self, mine: Vec<u8>) -> Result<Arc<Vec<Vec<u8>>>> {
        let state = self.lock();
        // The previous round may still be read by slower members.
        let mut state = self.wait_until(state, "for the previous operation to finish", |s| {
            s.published.is_none()
        })?;
        let round = state.round;
        state.slots[self.rank] = Some(mine);
        state.filled += 1;
        if state.filled == self.shared.size {
            let all: Vec<Vec<u8>> = state.slots.iter_mut().filter_map(Option::take).collect();
            state.published = Some(Arc::new(all));
            state.readers_left = self.shared.size;
            state.filled = 0;
            self.shared.changed.notify_all();
        }
        let mut state = self.wait_until(state, "for the other replicas", |s| {
            s.round == round && s.published.is_some()
        })?;
        let all = state
            .published
            .clone()
            .ok_or_else(|| Error::Collective("rendezvous without a result".into()))?;
        state.readers_left -= 1;
        if state.readers_left == 0 {
            state.published = None;
            state.round += 1;
            self.shared.changed.notify_all();
        }
        Ok(all)
    }
}

impl Drop for ThreadGroup {
    /// A member that leaves breaks the group: the others' operations that need it fail
    /// instead of waiting (results already published are still taken).
    fn drop(&mut self) {
        let mut state = self.lock();
        if state.broken.is_none() {
            state.broken = Some(format!("replica {} left the group", self.rank));
            self.shared.changed.notify_all();
        }
    }
}

fn check_len(all: &[Vec<u8>], expected: usize) -> Result<()> {
    if let Some((rank, v)) = all.iter().enumerate().find(|(_, v)| v.len() != expected) {
        return Err(Error::Collective(format!(
            "replica {rank} contributed {} bytes to a sum of {expected}",
            v.len()
        )));
    }
    Ok(())
}

impl Collective for ThreadGroup {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.shared.size
    }

    fn allreduce_sum_f64(&self, values: &mut [f64]) -> Result<()> {
        let mine: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let all = self.exchange(mine)?;
        check_len(&all, values.len() * 8)?;
        values.fill(0.0);
        for contribution in all.iter() {
            for (v, c) in values.iter_mut().zip(contribution.chunks_exact(8)) {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                *v += f64::from_le_bytes(b);
            }
        }
        Ok(())
    }

    fn allreduce_sum_f32(&self, values: &mut [f32]) -> Result<()> {
        let mine: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let all = self.exchange(mine)?;
        check_len(&all, values.len() * 4)?;
        values.fill(0.0);
        for contribution in all.iter() {
            for (v, c) in values.iter_mut().zip(contribution.chunks_exact(4)) {
                *v += f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        Ok(())
    }

    fn broadcast_bytes(&self, bytes: &mut Vec<u8>, root: usize) -> Result<()> {
        if root >= self.shared.size {
            return Err(Error::Collective(format!(
                "broadcast from replica {root} in a group of {}",
                self.shared.size
            )));
        }
        let mine = if self.rank == root {
            std::mem::take(bytes)
        } else {
            Vec::new()
        };
        let all = self.exchange(mine)?;
        *bytes = all[root].clone();
        Ok(())
    }

    fn allgather_bytes(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
        Ok(self.exchange(mine.to_vec())?.as_ref().clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_threads<T: Send>(
        members: Vec<ThreadGroup>,
        f: impl Fn(ThreadGroup) -> T + Sync,
    ) -> Vec<T> {
        std::thread::scope(|s| {
            let f = &f;
            let handles: Vec<_> = members.into_iter().map(|m| s.spawn(move || f(m))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    #[test]
    fn many_rounds_of_every_operation_agree() {
        let out = on_threads(ThreadGroup::new(3), |m| {
            let mut seen = Vec::new();
            for round in 0..50 {
                let mut v = vec![m.rank() as f32 + round as f32; 4];
                m.allreduce_sum_f32(&mut v).unwrap();
                seen.push(v[0] as f64);
                let mut b = if m.rank() == 1 {
                    vec![round as u8]
                } else {
                    vec![]
                };
                m.broadcast_bytes(&mut b, 1).unwrap();
                seen.push(b[0] as f64);
                let g = m.allgather_bytes(&[m.rank() as u8]).unwrap();
                assert_eq!(g, vec![vec![0], vec![1], vec![2]]);
            }
            seen
        });
        let expected: Vec<f64> = (0..50)
            .flat_map(|r| [3.0 + 3.0 * r as f64, r as f64])
            .collect();
        assert!(out.iter().all(|s| s == &expected));
    }

    #[test]
    fn a_missing_member_is_an_error_naming_it() {
        let mut members = ThreadGroup::with_timeout(2, Duration::from_millis(200));
        let lonely = members.remove(0);
        let absent = members.remove(0);
        let err = lonely.allreduce_sum_f64(&mut [1.0]).unwrap_err();
        assert!(err.to_string().contains("replica(s) 1"), "{err}");
        drop(absent);
    }

    #[test]
    fn a_member_leaving_mid_operation_breaks_the_group() {
        let mut members = ThreadGroup::new(2);
        let waiting = members.remove(0);
        let leaving = members.remove(0);
        let err = std::thread::scope(|s| {
            let h = s.spawn(move || waiting.allreduce_sum_f64(&mut [1.0]));
            // Let the first member deposit, then leave without contributing.
            while leaving.lock().filled == 0 {
                std::thread::yield_now();
            }
            drop(leaving);
            h.join().unwrap().unwrap_err()
        });
        assert!(err.to_string().contains("replica 1 left"), "{err}");
    }
}
