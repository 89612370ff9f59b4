//! The process-global pool: a shuffled queue of free ports used least-recently-released
//! first, and the waiting when none can be had.
//!
//! Exclusion between threads comes from queue membership: a port is either in the queue, or
//! taken out by exactly one thread (being claimed, or held). Exclusion between processes is
//! the claim layer's ([`crate::claim`]), asked before a port counts as held here.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use crate::claim::Claims;
use crate::env::{self, ALLOCPORT_STATS, Env};
use crate::error::Error;
use crate::exclude::is_excluded;
use crate::order::{arrange, nextest_run, nextest_slot};
use crate::portset::PortSet;
use crate::server_ports::{ServerPorts, server_tcp_ports_with_source};
use crate::source::PortSource;
use crate::stats::PortAllocationStats;
use crate::transport::Transport;

mod gather;
pub(crate) use gather::Want;

/// How often a waiting allocation looks again for ports that other processes may have freed
/// (their releases cannot wake this process): it starts short and backs off to the maximum.
const FIRST_POLL: Duration = Duration::from_millis(1);
const MAX_POLL: Duration = Duration::from_millis(50);

pub(crate) struct Pool {
    state: Mutex<State>,
    released: Condvar,
    claims: Claims,
    usage: Usage,
    /// Where the ports came from, for the message when exclusions empty the pool.
    source: PortSource,
    /// `ALLOCPORT_STATS`, read with the rest of the configuration, so that the report at exit
    /// reads no environment.
    report_at_exit: bool,
    /// The ports in `state.queue`, for taking a given port out without a search when it is
    /// not there. Changed only under the state's mutex.
    queued: Box<PortSet>,
    /// Every port of the pool, queued or not (excluded and unbindable ones leave it).
    members: Box<PortSet>,
}

struct State {
    /// Free ports, least recently released first.
    queue: VecDeque<u16>,
    held: usize,
    /// Bumped by every release, so a waiter can tell whether it missed one.
    releases: u64,
    /// Threads in `wait_for_release`: with none, a release skips the wake-up system call.
    waiters: usize,
    /// Ports outside the pool (asked for exactly) that a thread here holds or is claiming.
    outside: HashSet<u16>,
    /// Ports this process's multi-port waiter reserved: other threads leave them alone.
    reserved: HashSet<u16>,
}

static POOL: OnceLock<Pool> = OnceLock::new();

/// The statistics' figures: changed only under the state's mutex, read without it, so that
/// the report at exit takes no lock.
struct Usage {
    /// Ports still in circulation: queued, being claimed or held.
    size: AtomicUsize,
    peak: AtomicUsize,
    total: AtomicU64,
}

/// Ports this process holds, for introspection without taking the pool's mutex.
static HELD: PortSet = PortSet::with(&[]);

/// The pool, built on first use. Building reads the environment and the OS, so an error here
/// is a configuration error, returned at once and again on each call until it is fixed.
pub(crate) fn pool() -> Result<&'static Pool, Error> {
    if let Some(pool) = POOL.get() {
        return Ok(pool);
    }
    let server = server_tcp_ports_with_source()?;
    let claims = Claims::open()?;
    Ok(POOL.get_or_init(|| Pool::new(server, claims, &env::process)))
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
    fn new(ServerPorts { mut ports, source }: ServerPorts, claims: Claims, env: Env<'_>) -> Pool {
        arrange(&mut ports, nextest_slot(env), nextest_run(env).as_deref());
        let queued = Box::new(PortSet::with(&[]));
        let members = Box::new(PortSet::with(&[]));
        for &port in &ports {
            queued.insert(port);
            members.insert(port);
        }
        let usage = Usage {
            size: AtomicUsize::new(ports.len()),
            peak: AtomicUsize::new(0),
            total: AtomicU64::new(0),
        };
        let state = State {
            queue: ports.into(),
            held: 0,
            releases: 0,
            waiters: 0,
            outside: HashSet::new(),
            reserved: HashSet::new(),
        };
        Pool {
            state: Mutex::new(state),
            released: Condvar::new(),
            claims,
            usage,
            source,
            report_at_exit: env::flag(env, ALLOCPORT_STATS),
            queued,
            members,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave State inconsistent (each update is a few plain
        // assignments), so a poisoned lock is still safe to use.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The figures so far, without taking a lock.
    pub(crate) fn stats(&self) -> PortAllocationStats {
        PortAllocationStats {
            pool_size: self.usage.size.load(Relaxed),
            peak_allocated: self.usage.peak.load(Relaxed),
            lifetime_total_allocated: self.usage.total.load(Relaxed),
        }
    }

    /// Whether `ALLOCPORT_STATS` asked for the statistics at exit.
    pub(crate) fn report_at_exit(&self) -> bool {
        self.report_at_exit
    }

    /// Fails at once when `n` ports can never be had; returns the release count to wait on.
    fn check_can_satisfy(&self, n: usize) -> Result<u64, Error> {
        let state = self.state();
        let size = self.usage.size.load(Relaxed);
        if size == 0 {
            return Err(Error::EmptyPool {
                origin: self.source.clone(),
            });
        }
        if n > size {
            return Err(Error::TooManyPorts {
                requested: n,
                pool_size: size,
            });
        }
        Ok(state.releases)
    }

    /// Takes a port that was taken from the queue out of circulation for good (a port outside
    /// the pool, asked for exactly, is only forgotten).
    fn drop_port(&self, port: u16) {
        let mut state = self.state();
        if !state.outside.remove(&port) {
            // Under the state's mutex, as every change of the figures.
            self.usage.size.fetch_sub(1, Relaxed);
            self.members.remove(port);
        }
    }

    /// Takes the least recently released port out of the queue, dropping excluded ones.
    /// A port reserved by this process's multi-port waiter is skipped (sent to the back)
    /// unless `reserved_ok`; `None` after one look at each queued port.
    fn take_front(&self, reserved_ok: bool) -> Option<u16> {
        let mut state = self.state();
        let mut left = state.queue.len();
        while let Some(port) = state.queue.pop_front() {
            if is_excluded(port) {
                // Under the state's mutex, as every change of the figures.
                self.usage.size.fetch_sub(1, Relaxed);
                self.queued.remove(port);
                self.members.remove(port);
            } else if !reserved_ok && state.reserved.contains(&port) {
                state.queue.push_back(port);
            } else {
                self.queued.remove(port);
                return Some(port);
            }
            left -= 1;
            if left == 0 {
                break;
            }
        }
        None
    }

    /// Returns a port that was found busy to the back of the queue (or, outside the pool,
    /// forgets it), with no wake-up: nothing new became free.
    fn put_back(&self, port: u16) {
        let mut state = self.state();
        if !state.outside.remove(&port) {
            state.queue.push_back(port);
            self.queued.insert(port);
        }
    }

    fn mark_held(&self, ports: &[u16]) {
        ports.iter().for_each(|&p| HELD.insert(p));
        let mut state = self.state();
        state.held += ports.len();
        self.usage.peak.fetch_max(state.held, Relaxed);
        self.usage.total.fetch_add(ports.len() as u64, Relaxed);
    }

    /// Releases a held port: the cross-process lock goes first, so no thread of this process
    /// can take the port from the queue while this process still holds its lock.
    pub(crate) fn release(&self, transport: Transport, port: u16) {
        HELD.remove(port);
        self.give_back(transport, port, true);
    }

    /// Unlocks a claimed port, returns it to the back of the queue and wakes the waiters.
    fn give_back(&self, transport: Transport, port: u16, was_held: bool) {
        self.claims.release(transport, port);
        let mut state = self.state();
        state.held -= usize::from(was_held);
        if !state.outside.remove(&port) {
            state.queue.push_back(port);
            self.queued.insert(port);
        }
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
