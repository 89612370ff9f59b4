//! The process-global pool: a shuffled queue of free ports used least-recently-released first.
//!
//! Exclusion between threads comes from queue membership: a port is either in the queue, or
//! taken out by exactly one thread (being checked, or held). Exclusion between processes comes
//! from the lock files ([`crate::lock`]), taken before a port counts as held here.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::host::{Check, CheckAddr, check_port};
use crate::lock::{PortLocks, port_locks};
use crate::portset::PortSet;
use crate::server_ports::{ServerPorts, is_excluded, server_tcp_ports_with_source};
use crate::stats::PortAllocationStats;
use crate::timeout::allocation_timeout;

/// How often a waiting allocation looks again for ports that other processes may have freed
/// (their releases cannot wake this process): it starts short and backs off to the maximum.
const FIRST_POLL: Duration = Duration::from_millis(1);
const MAX_POLL: Duration = Duration::from_millis(50);

pub(crate) struct Pool {
    state: Mutex<State>,
    released: Condvar,
    /// Where the ports came from, for the message when exclusions empty the pool.
    source: String,
}

struct State {
    /// Free ports, least recently released first.
    queue: VecDeque<u16>,
    /// Ports still in circulation: queued, being checked or held.
    size: usize,
    held: usize,
    peak: usize,
    total: u64,
    /// Bumped by every release, so a waiter can tell whether it missed one.
    releases: u64,
    /// Threads in `wait_for_release`: with none, a release skips the wake-up system call.
    waiters: usize,
}

static POOL: OnceLock<Pool> = OnceLock::new();

/// Ports this process holds, for introspection without taking the pool's mutex.
static HELD: PortSet = PortSet::with(&[]);

/// The pool, built on first use. Building reads the environment and the OS, so an error here
/// is a configuration error, returned at once and again on each call until it is fixed.
pub(crate) fn pool() -> Result<&'static Pool, Error> {
    if let Some(pool) = POOL.get() {
        return Ok(pool);
    }
    let server = server_tcp_ports_with_source()?;
    Ok(POOL.get_or_init(|| Pool::new(server)))
}

/// The pool if it has been built; statistics and introspection must not build it.
pub(crate) fn existing_pool() -> Option<&'static Pool> {
    POOL.get()
}

pub(crate) fn is_held_here(port: u16) -> bool {
    HELD.contains(port)
}

pub(crate) fn held_here() -> Vec<u16> {
    HELD.iter().collect()
}

impl Pool {
    fn new(ServerPorts { mut ports, source }: ServerPorts) -> Pool {
        arrange(&mut ports, nextest_slot());
        let size = ports.len();
        let state = State {
            queue: ports.into(),
            size,
            held: 0,
            peak: 0,
            total: 0,
            releases: 0,
            waiters: 0,
        };
        Pool {
            state: Mutex::new(state),
            released: Condvar::new(),
            source: source.to_string(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave State inconsistent (each update is a few plain
        // assignments), so a poisoned lock is still safe to use.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn stats(&self) -> PortAllocationStats {
        let state = self.state();
        PortAllocationStats {
            pool_size: state.size,
            peak_allocated: state.peak,
            lifetime_total_allocated: state.total,
        }
    }

    /// Allocates `n` distinct ports free on every address in `addrs`, all or none, waiting up
    /// to the allocation timeout. All-or-none keeps two tests that each want several ports from
    /// holding part each and waiting for each other.
    pub(crate) fn allocate(&self, addrs: &[CheckAddr], n: usize) -> Result<Vec<u16>, Error> {
        let locks = port_locks()?;
        let timeout = allocation_timeout()?;
        let start = Instant::now();
        let mut poll = FIRST_POLL;
        loop {
            let mut seen_releases = self.check_can_satisfy(n)?;
            let claimed = self.claim(locks, addrs, n)?;
            if claimed.len() == n {
                self.mark_held(&claimed);
                return Ok(claimed);
            }
            // Giving back a partial claim counts as releases; they must not end this thread's
            // own wait, or it would spin until the timeout.
            seen_releases += claimed.len() as u64;
            for port in claimed {
                self.give_back(locks, port, false);
            }
            let waited = start.elapsed();
            if waited >= timeout {
                let state = self.state();
                return Err(Error::Timeout {
                    timeout,
                    pool_size: state.size,
                    held_here: state.held,
                });
            }
            self.wait_for_release(seen_releases, poll.min(timeout - waited));
            poll = (poll * 2).min(MAX_POLL);
        }
    }

    /// Fails at once when `n` ports can never be had; returns the release count to wait on.
    fn check_can_satisfy(&self, n: usize) -> Result<u64, Error> {
        let state = self.state();
        if state.size == 0 {
            return Err(Error::EmptyPool {
                source_desc: self.source.clone(),
            });
        }
        if n > state.size {
            return Err(Error::TooManyPorts {
                requested: n,
                pool_size: state.size,
            });
        }
        Ok(state.releases)
    }

    /// One pass over the queue, claiming up to `n` ports; returns what it claimed.
    fn claim(&self, locks: &PortLocks, addrs: &[CheckAddr], n: usize) -> Result<Vec<u16>, Error> {
        let mut claimed = Vec::with_capacity(n);
        let mut remaining = self.state().queue.len();
        while claimed.len() < n && remaining > 0 {
            remaining -= 1;
            let Some(port) = self.take_front() else { break };
            match claim_port(locks, addrs, port) {
                Ok(true) => claimed.push(port),
                Ok(false) => self.put_back(port),
                Err(e) => {
                    self.put_back(port);
                    claimed
                        .into_iter()
                        .for_each(|p| self.give_back(locks, p, false));
                    return Err(e);
                }
            }
        }
        Ok(claimed)
    }

    /// Takes the least recently released port out of the queue, dropping excluded ones.
    fn take_front(&self) -> Option<u16> {
        let mut state = self.state();
        while let Some(port) = state.queue.pop_front() {
            if !is_excluded(port) {
                return Some(port);
            }
            state.size -= 1;
        }
        None
    }

    /// Returns a port that was found busy to the back of the queue, with no wake-up: nothing
    /// new became free.
    fn put_back(&self, port: u16) {
        self.state().queue.push_back(port);
    }

    fn mark_held(&self, ports: &[u16]) {
        ports.iter().for_each(|&p| HELD.insert(p));
        let mut state = self.state();
        state.held += ports.len();
        state.peak = state.peak.max(state.held);
        state.total += ports.len() as u64;
    }

    /// Releases a held port: the cross-process lock goes first, so no thread of this process
    /// can take the port from the queue while this process still holds its lock.
    pub(crate) fn release(&self, port: u16) {
        HELD.remove(port);
        // Holding a port implies its lock file was opened, so this cannot fail.
        if let Ok(locks) = port_locks() {
            self.give_back(locks, port, true);
        }
    }

    /// Unlocks a claimed port, returns it to the back of the queue and wakes the waiters.
    fn give_back(&self, locks: &PortLocks, port: u16, was_held: bool) {
        locks.unlock(port);
        let mut state = self.state();
        state.held -= usize::from(was_held);
        state.queue.push_back(port);
        state.releases += 1;
        let wake = state.waiters > 0;
        drop(state);
        if wake {
            self.released.notify_all();
        }
    }

    fn wait_for_release(&self, seen_releases: u64, timeout: Duration) {
        let mut state = self.state();
        state.waiters += 1;
        let (mut state, _) = self
            .released
            .wait_timeout_while(state, timeout, |s| s.releases == seen_releases)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.waiters -= 1;
    }
}

/// Takes the cross-process lock of `port`, then checks it can be bound on every address.
fn claim_port(locks: &PortLocks, addrs: &[CheckAddr], port: u16) -> Result<bool, Error> {
    if !locks.try_lock(port)? {
        return Ok(false);
    }
    for addr in addrs {
        match check_port(addr, port) {
            Ok(Check::Free) => {}
            Ok(Check::InUse) => {
                locks.unlock(port);
                return Ok(false);
            }
            Err(e) => {
                locks.unlock(port);
                return Err(e);
            }
        }
    }
    Ok(true)
}

/// cargo-nextest's `NEXTEST_TEST_GLOBAL_SLOT`: a number unique among the tests running now.
fn nextest_slot() -> Option<u64> {
    std::env::var("NEXTEST_TEST_GLOBAL_SLOT")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Puts the ports in allocation order. Without a nextest slot: a fresh random shuffle per
/// process. With one: the same shuffle in every process, each starting at its own offset
/// spread by the golden ratio, so concurrent tests walk different parts of the pool and rarely
/// contend for a port.
fn arrange(ports: &mut [u16], slot: Option<u64>) {
    let seed = match slot {
        Some(_) => ports.len() as u64 ^ 0x5eed_a110_c0de_0001,
        None => RandomState::new().hash_one(std::process::id()),
    };
    shuffle(ports, seed);
    if let Some(slot) = slot {
        const GOLDEN: f64 = 0.618_033_988_749_894_9;
        let offset = ((slot as f64 * GOLDEN).fract() * ports.len() as f64) as usize;
        ports.rotate_left(offset.min(ports.len().saturating_sub(1)));
    }
}

/// Fisher-Yates with splitmix64: the pool needs an unpredictable order, not a secure one.
pub(crate) fn shuffle(ports: &mut [u16], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for i in (1..ports.len()).rev() {
        // Multiply-shift instead of `%`: no division, and no modulo bias.
        let j = ((u128::from(next()) * (i as u128 + 1)) >> 64) as usize;
        ports.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(mut v: Vec<u16>) -> Vec<u16> {
        v.sort_unstable();
        v
    }

    #[test]
    fn shuffle_is_a_permutation_and_moves_ports() {
        let original: Vec<u16> = (1000..2000).collect();
        let mut ports = original.clone();
        shuffle(&mut ports, 42);
        assert_ne!(ports, original);
        assert_eq!(sorted(ports), original);
    }

    #[test]
    fn slots_start_at_different_places_of_one_order() {
        let original: Vec<u16> = (1000..2000).collect();
        let arranged: Vec<Vec<u16>> = (0..8)
            .map(|slot| {
                let mut ports = original.clone();
                arrange(&mut ports, Some(slot));
                ports
            })
            .collect();
        let firsts: std::collections::BTreeSet<u16> = arranged.iter().map(|p| p[0]).collect();
        assert_eq!(firsts.len(), 8);
        for ports in &arranged {
            assert_eq!(sorted(ports.clone()), original);
        }
        // The same cyclic order: slot 1's sequence is slot 0's, rotated.
        let pos = arranged[0]
            .iter()
            .position(|&p| p == arranged[1][0])
            .unwrap();
        let mut rotated = arranged[0].clone();
        rotated.rotate_left(pos);
        assert_eq!(rotated, arranged[1]);
    }

    #[test]
    fn single_port_pool_arranges() {
        let mut ports = vec![5000];
        arrange(&mut ports, Some(3));
        arrange(&mut ports, None);
        assert_eq!(ports, vec![5000]);
    }
}
