//! The process-global pool: its never-used ports in a shuffled order evaluated lazily, then a
//! queue of given-back ports used least-recently-released first, and the waiting when none
//! can be had.
//!
//! Exclusion between threads comes from queue membership: a port is either not yet taken from
//! the order, in the queue, or taken out by exactly one thread (being claimed, or held). Exclusion between processes is
//! the claim layer's ([`crate::claim`]), asked before a port counts as held here.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::claim::Claims;
use crate::env::{self, ALLOCPORT_STATS, Env};
use crate::error::Error;
use crate::exclude::is_excluded;
use crate::host::CheckAddr;
use crate::order::{Order, nextest_slot};
use crate::port_ranges::PortRanges;
use crate::portset::PortSet;
use crate::server_ports::server_ranges;
use crate::source::PortSource;
use crate::stats::PortAllocationStats;
use crate::timeout::allocation_timeout;

/// How often a waiting allocation looks again for ports that other processes may have freed
/// without waking this process: it starts short and backs off to the maximum. Where releases
/// in other processes wake this one (the watcher, [`crate::lock::wake`]), only a holder that
/// died is left to poll for, and the maximum is longer, so that many waiting threads cost
/// next to nothing.
const FIRST_POLL: Duration = Duration::from_millis(1);
const MAX_POLL: Duration = Duration::from_millis(50);
const MAX_POLL_WATCHED: Duration = Duration::from_millis(250);

pub(crate) struct Pool {
    state: Mutex<State>,
    /// Whether this process's watcher of other processes' releases runs; started by the first
    /// wait.
    watcher: OnceLock<bool>,
    /// Wakes the watcher when a thread starts waiting.
    wanted: Condvar,
    /// The pool's ports, and the order their first use follows (see [`State::fresh`]).
    ports: PortRanges,
    order: Order,
    released: Condvar,
    claims: Claims,
    usage: Usage,
    /// Where the ports came from, for the message when exclusions empty the pool.
    source: PortSource,
    /// `ALLOCPORT_STATS`, read with the rest of the configuration, so that the report at exit
    /// reads no environment.
    report_at_exit: bool,
}

struct State {
    /// How many ports of `order` have been handed out of it: the rest have never been taken,
    /// so they come first, before any in `queue`.
    fresh: usize,
    /// Ports taken from `order` and given back (released, or found busy), least recently
    /// first: only these are listed, so the pool starts without a pass over its ports.
    queue: VecDeque<u16>,
    held: usize,
    /// Bumped by every release, so a waiter can tell whether it missed one.
    releases: u64,
    /// Threads in `wait_for_release`: with none, a release skips the wake-up system call.
    waiters: usize,
    /// When a waiting thread last looked for ports without being woken by a release.
    last_look: Option<Instant>,
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
    let server = server_ranges()?;
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
    fn new((ports, source): (PortRanges, PortSource), claims: Claims, env: Env<'_>) -> Pool {
        let order = Order::new(ports.len(), nextest_slot(env));
        let usage = Usage {
            size: AtomicUsize::new(ports.len()),
            peak: AtomicUsize::new(0),
            total: AtomicU64::new(0),
        };
        let state = State {
            fresh: 0,
            queue: VecDeque::new(),
            held: 0,
            releases: 0,
            waiters: 0,
            last_look: None,
        };
        Pool {
            state: Mutex::new(state),
            watcher: OnceLock::new(),
            wanted: Condvar::new(),
            ports,
            order,
            released: Condvar::new(),
            claims,
            usage,
            source,
            report_at_exit: env::flag(env, ALLOCPORT_STATS),
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

    /// Allocates `n` distinct ports free on every address in `addrs`, all or none, waiting up
    /// to the allocation timeout. All-or-none keeps two tests that each want several ports from
    /// holding part each and waiting for each other.
    pub(crate) fn allocate(&self, addrs: &[CheckAddr], n: usize) -> Result<Vec<u16>, Error> {
        let timeout = allocation_timeout()?;
        let start = Instant::now();
        let mut poll = FIRST_POLL;
        let (mut seen_releases, mut look) = (0, true);
        loop {
            if look {
                seen_releases = self.check_can_satisfy(n)?;
                let claimed = self.claim(addrs, n)?;
                if claimed.len() == n {
                    self.mark_held(&claimed);
                    return Ok(claimed);
                }
                // Giving back a partial claim counts as releases; they must not end this
                // thread's own wait, or it would spin until the timeout.
                seen_releases += claimed.len() as u64;
                for port in claimed {
                    self.give_back(port, false);
                }
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(Error::Timeout {
                    timeout,
                    pool_size: self.usage.size.load(Relaxed),
                    held_here: self.state().held,
                });
            }
            let watching = self.watching();
            if watching {
                // Released ports wake this thread: look again only for dead holders' ports.
                poll = MAX_POLL_WATCHED;
            }
            let woken = self.wait_for_release(seen_releases, poll.min(timeout - waited));
            poll = (poll * 2).min(MAX_POLL);
            // A release wakes every waiting thread to look; a dead holder's ports need only
            // one look per poll, by whichever waiting thread comes first. A thread that does
            // not look keeps its count of releases, so one that came meanwhile still wakes it.
            look = woken || !watching || self.take_turn_to_look();
        }
    }

    /// Whether no other waiting thread looked for dead holders' ports within the last poll;
    /// if so, this thread's look counts as the next one.
    fn take_turn_to_look(&self) -> bool {
        let mut state = self.state();
        let now = Instant::now();
        if state
            .last_look
            .is_some_and(|at| now.duration_since(at) < MAX_POLL_WATCHED)
        {
            return false;
        }
        state.last_look = Some(now);
        true
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

    /// One pass over the queue, claiming up to `n` ports; returns what it claimed.
    fn claim(&self, addrs: &[CheckAddr], n: usize) -> Result<Vec<u16>, Error> {
        let mut claimed = Vec::with_capacity(n);
        let mut remaining = {
            let state = self.state();
            state.queue.len() + (self.order.len() - state.fresh)
        };
        while claimed.len() < n && remaining > 0 {
            remaining -= 1;
            let Some(port) = self.take_front() else { break };
            match self.claims.claim(addrs, port) {
                Ok(true) => claimed.push(port),
                Ok(false) => self.put_back(port),
                Err(e) => {
                    self.put_back(port);
                    claimed.into_iter().for_each(|p| self.give_back(p, false));
                    return Err(e);
                }
            }
        }
        Ok(claimed)
    }

    /// Takes the next never-used port, or else the least recently released one, dropping
    /// excluded ones.
    fn take_front(&self) -> Option<u16> {
        let mut state = self.state();
        loop {
            let port = if state.fresh < self.order.len() {
                state.fresh += 1;
                self.ports.nth(self.order.index(state.fresh - 1))
            } else {
                state.queue.pop_front()?
            };
            if !is_excluded(port) {
                return Some(port);
            }
            // Under the state's mutex, as every change of the figures.
            self.usage.size.fetch_sub(1, Relaxed);
        }
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
        self.usage.peak.fetch_max(state.held, Relaxed);
        self.usage.total.fetch_add(ports.len() as u64, Relaxed);
    }

    /// Releases a held port: the cross-process lock goes first, so no thread of this process
    /// can take the port from the queue while this process still holds its lock.
    pub(crate) fn release(&self, port: u16) {
        HELD.remove(port);
        self.give_back(port, true);
        self.claims.announce_release(port);
    }

    /// Unlocks a claimed port, returns it to the back of the queue and wakes the waiters.
    fn give_back(&self, port: u16, was_held: bool) {
        self.claims.release(port);
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

    /// Waits until a release after `seen_releases`, or `timeout`; whether a release came.
    fn wait_for_release(&self, seen_releases: u64, timeout: Duration) -> bool {
        let mut state = self.state();
        state.waiters += 1;
        if state.waiters == 1 && self.watcher.get() == Some(&true) {
            self.wanted.notify_one();
        }
        let (mut state, _) = self
            .released
            .wait_timeout_while(state, timeout, |s| s.releases == seen_releases)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.waiters -= 1;
        state.releases != seen_releases
    }

    /// Whether other processes' releases wake this one; the first call starts the watcher.
    fn watching(&self) -> bool {
        *self.watcher.get_or_init(|| {
            self.claims.watch_releases(
                self.ports.spans().to_vec(),
                |block| existing_pool().is_some_and(|pool| pool.anyone_waits(block)),
                || {
                    if let Some(pool) = existing_pool() {
                        pool.wake_all();
                    }
                },
            )
        })
    }

    /// For the watcher: whether a thread waits; with `block`, waits until one does.
    fn anyone_waits(&self, block: bool) -> bool {
        let mut state = self.state();
        while block && state.waiters == 0 {
            state = self
                .wanted
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        state.waiters > 0
    }

    /// For the watcher: another process released a port, so every waiting thread looks again.
    fn wake_all(&self) {
        let mut state = self.state();
        state.releases += 1;
        let wake = state.waiters > 0;
        drop(state);
        if wake {
            self.released.notify_all();
        }
    }
}
