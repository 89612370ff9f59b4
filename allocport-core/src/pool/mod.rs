//! The pool and its waiting: order, port sets, timeouts, statistics and reports; here, the
//! process-global pool: its never-used ports in a shuffled order evaluated lazily, then a
//! queue of given-back ports used least-recently-released first, and the waiting when none
//! can be had.
//!
//! Exclusion between threads comes from membership: a port is either fresh (not yet taken
//! from the order), in the queue, or taken out by exactly one thread (being claimed, or held).
//! Exclusion between processes is the claim layer's ([`crate::claim`]), asked before a port
//! counts as held here.

use std::collections::VecDeque;
use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::claim::Claims;
use crate::claim::transport::Transport;
use crate::env::{self, ALLOCPORT_STATS, Env};
use crate::error::Error;
use crate::pool::order::{Order, nextest_run, nextest_slot};
use crate::pool::portset::{Lane, PortSet};
use crate::pool::stats::PortAllocationStats;
use crate::pool::waiting::{describe_holders, describe_reservations};
use crate::ports::exclude::is_excluded;
use crate::ports::port_ranges::PortRanges;
use crate::ports::server_ports::server_ranges;
use crate::ports::source::PortSource;

pub(crate) mod exit_report;
mod gather;
pub(crate) mod order;
pub(crate) mod portset;
mod shape;
pub(crate) mod stats;
pub(crate) mod timeout;
pub(crate) mod unbindable;
pub(crate) mod waiting;
pub(crate) use gather::Want;

/// How often a waiting allocation looks again for ports that other processes may have freed
/// without waking this process: it starts short and backs off to the maximum. Where releases
/// in other processes wake this one (the claim layer's watcher,
/// [`Claims::watch_releases`]), only a holder that died is left to poll for, and the maximum
/// is longer, so that many waiting threads cost next to nothing.
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
    /// The last description of who holds the pool's ports, and when it was made: a scan of
    /// the lock files per timeout would cost every one of many threads timing out together a
    /// system call per port.
    holders_seen: Mutex<Option<(Instant, String)>>,
}

struct State {
    /// How many ports of `order` have been taken from it: the rest have never been used, so
    /// they come first, before any in `queue`.
    fresh: usize,
    /// Ports taken from `order` and given back (released, or found busy), least recently
    /// first: only these are listed, so the pool starts without a pass over its ports.
    queue: VecDeque<u16>,
    held: usize,
    /// Bumped by every release, so a waiter can tell whether it missed one.
    releases: u64,
    /// Threads in `wait_for_release`: with none, a release skips the wake-up system call.
    waiters: usize,
    /// Ports outside the pool (asked for exactly) that a thread here holds or is claiming.
    outside: PortHashSet,
    /// Ports this process's multi-port waiter reserved: other threads leave them alone.
    reserved: PortHashSet,
    /// When a waiting thread last looked for ports without being woken by a release.
    last_look: Option<Instant>,
}

impl State {
    /// Adds `port` to or removes it from one of the pool's port sets ([`HELD`], [`QUEUED`],
    /// [`DROPPED`], [`DRAWN`]); whether it was there. They change only here, so only under
    /// the state's mutex (a `&mut State` is had from its guard alone), which is what lets
    /// them change by plain stores.
    fn mark(&mut self, set: &PortSet, port: u16, member: bool) -> bool {
        set.set_exclusively(port, member)
    }

    /// Whether this process's multi-port waiter reserved `port`. The sets are empty but for
    /// such waits and exact requests, and every pass asks of each port: no hashing then.
    fn is_reserved(&self, port: u16) -> bool {
        !self.reserved.is_empty() && self.reserved.contains(&port)
    }

    /// Forgets `port` if it is one outside the pool; whether it was.
    fn forget_outside(&mut self, port: u16) -> bool {
        !self.outside.is_empty() && self.outside.remove(&port)
    }
}

/// A set of ports with a fixed hash key: a random one would cost every process a
/// `getrandom` at start-up, and nobody outside chooses these ports to collide.
type PortHashSet = std::collections::HashSet<u16, BuildHasherDefault<DefaultHasher>>;

static POOL: OnceLock<Pool> = OnceLock::new();

/// The statistics' figures: changed only under the state's mutex, read without it, so that
/// the report at exit takes no lock.
struct Usage {
    /// Ports still in circulation: queued, being claimed or held.
    size: AtomicUsize,
    peak: AtomicUsize,
    total: AtomicU64,
}

/// Ports this process holds, for introspection without taking the pool's mutex. Changed only
/// under it.
static HELD: PortSet = PortSet::of(Lane::Held);

// The pool's port sets: lanes of the process's table of port sets, as there is one pool per
// process, so that they cost nothing until used and a port's bits share a page (see
// `portset`). Allocated at start-up, they cost every test process an allocation, and
// built on the stack a loop of stores in an unoptimised build.

/// The ports in the pool's queue, for taking a given port out without a search when it is
/// not there. Changed only under the state's mutex.
static QUEUED: PortSet = PortSet::of(Lane::Queued);
/// Ports of the pool's that left it (excluded or unbindable). Changed only under the state's
/// mutex.
static DROPPED: PortSet = PortSet::of(Lane::Dropped);
/// Fresh ports taken out of turn (by a group that needed them): skipped when the order comes
/// to them. Changed only under the state's mutex.
static DRAWN: PortSet = PortSet::of(Lane::Drawn);

/// The pool, built on first use. Building reads the environment and the OS, so an error here
/// is a configuration error, returned at once and again on each call until it is fixed.
pub(crate) fn pool() -> Result<&'static Pool, Error> {
    if let Some(pool) = POOL.get() {
        return Ok(pool);
    }
    let server = server_ranges()?;
    let claims = Claims::open()?;
    Ok(POOL.get_or_init(|| {
        let pool = Pool::new(server, claims, &env::process);
        if pool.report_at_exit {
            exit_report::print_stats_at_exit(|| {
                existing_pool().map(Pool::stats).unwrap_or_default()
            });
        }
        pool
    }))
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
        let order = Order::new(ports.len(), nextest_slot(env), nextest_run(env).as_deref());
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
            outside: PortHashSet::default(),
            reserved: PortHashSet::default(),
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
            holders_seen: Mutex::new(None),
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
        if !state.forget_outside(port) {
            // Under the state's mutex, as every change of the figures.
            self.usage.size.fetch_sub(1, Relaxed);
            state.mark(&DROPPED, port, true);
        }
    }

    /// Who holds the pool's ports in other processes, for a report or a timeout error: read
    /// from the lock files at most once a second, however many threads ask.
    fn holders_description(&self, transport: Transport) -> String {
        const FRESH_FOR: Duration = Duration::from_secs(1);
        let mut seen = self
            .holders_seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, text)) = seen.as_ref().filter(|(at, _)| at.elapsed() < FRESH_FOR) {
            return text.clone();
        }
        let [holders, reserved] = self
            .claims
            .holders_and_reservations(transport, self.ports.iter());
        let mut text = describe_holders(holders);
        if let Ok(reserved) = reserved {
            text += &describe_reservations(&reserved);
        }
        *seen = Some((Instant::now(), text.clone()));
        text
    }

    /// Whether `port` is one of the pool's (it may be held).
    fn is_member(&self, port: u16) -> bool {
        self.ports.rank(port).is_some() && !DROPPED.contains(port)
    }

    /// Whether `port` is a pool port never taken from the order yet.
    fn is_fresh(&self, state: &State, port: u16) -> bool {
        self.ports.rank(port).is_some_and(|rank| {
            self.order.position(rank) >= state.fresh
                && !DRAWN.contains(port)
                && !DROPPED.contains(port)
        })
    }

    /// Takes `port` out of circulation if it is free here (fresh or queued): `false` if a
    /// thread here has it, or it is not the pool's.
    fn take_if_free(&self, state: &mut State, port: u16) -> bool {
        if QUEUED.contains(port) {
            if let Some(at) = state.queue.iter().position(|&p| p == port) {
                state.queue.remove(at);
            }
            state.mark(&QUEUED, port, false);
            return true;
        }
        if self.is_fresh(state, port) {
            state.mark(&DRAWN, port, true);
            return true;
        }
        false
    }

    /// How many ports one pass may look at: the fresh ones left and the queued ones.
    fn circulating(&self) -> usize {
        let state = self.state();
        state.queue.len() + (self.order.len() - state.fresh)
    }

    /// The next port never used, skipping those taken out of turn; `None` when none is left.
    fn next_fresh(&self, state: &mut State) -> Option<u16> {
        while state.fresh < self.order.len() {
            state.fresh += 1;
            let port = self.ports.nth(self.order.index(state.fresh - 1));
            if !state.mark(&DRAWN, port, false) {
                return Some(port);
            }
        }
        None
    }

    /// Takes the next never-used port, or else the least recently released one, dropping
    /// excluded ones. A port reserved by this process's multi-port waiter is skipped (sent to
    /// the back of the queue) unless `reserved_ok`; `None` after one look at each port.
    fn take_front(&self, reserved_ok: bool) -> Option<u16> {
        let mut state = self.state();
        let mut left = state.queue.len();
        loop {
            let port = match self.next_fresh(&mut state) {
                Some(port) => port,
                None if left == 0 => return None,
                None => {
                    left -= 1;
                    let port = state.queue.pop_front()?;
                    state.mark(&QUEUED, port, false);
                    port
                }
            };
            if is_excluded(port) {
                // Under the state's mutex, as every change of the figures.
                self.usage.size.fetch_sub(1, Relaxed);
                state.mark(&DROPPED, port, true);
            } else if !reserved_ok && state.is_reserved(port) {
                state.queue.push_back(port);
                state.mark(&QUEUED, port, true);
            } else {
                return Some(port);
            }
        }
    }

    /// Returns a port that was found busy to the back of the queue (or, outside the pool,
    /// forgets it), with no wake-up: nothing new became free.
    fn put_back(&self, port: u16) {
        let mut state = self.state();
        if !state.forget_outside(port) {
            state.queue.push_back(port);
            state.mark(&QUEUED, port, true);
        }
    }

    fn mark_held(&self, ports: &[u16]) {
        let mut state = self.state();
        ports.iter().for_each(|&p| {
            state.mark(&HELD, p, true);
        });
        state.held += ports.len();
        // Written only under the state's mutex: plain stores, no read-modify-write (each of
        // those a locked instruction on every allocation).
        if state.held > self.usage.peak.load(Relaxed) {
            self.usage.peak.store(state.held, Relaxed);
        }
        let total = self.usage.total.load(Relaxed);
        self.usage.total.store(total + ports.len() as u64, Relaxed);
    }

    /// Releases a held port: the cross-process lock goes first, so no thread of this process
    /// can take the port from the queue while this process still holds its lock.
    pub(crate) fn release(&self, transport: Transport, port: u16) {
        self.give_back(transport, port, true);
    }

    /// Unlocks a claimed port, returns it to the back of the queue and wakes the waiters (in
    /// other processes too, for a port that was held).
    fn give_back(&self, transport: Transport, port: u16, was_held: bool) {
        if was_held {
            self.claims.release_held(transport, port);
        } else {
            self.claims.release(transport, port);
        }
        let mut state = self.state();
        if was_held {
            state.mark(&HELD, port, false);
        }
        state.held -= usize::from(was_held);
        if !state.forget_outside(port) {
            state.queue.push_back(port);
            state.mark(&QUEUED, port, true);
        }
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

    /// Waits for a release, or for this thread's turn to look for ports that no release
    /// announces (a dead holder's), until `deadline` (`None`: no end).
    fn wait_to_look(&self, seen_releases: u64, poll: Duration, deadline: Option<Instant>) {
        let watching = self.watching();
        loop {
            let now = Instant::now();
            let left = deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(now));
            if left.is_zero() {
                return;
            }
            // Released ports wake this thread: it looks again only for dead holders' ports.
            let wait = if watching { MAX_POLL_WATCHED } else { poll };
            let woken = self.wait_for_release(seen_releases, wait.min(left));
            // A dead holder's ports need only one look per poll, by whichever waiting thread
            // comes first; a thread that does not look keeps its count of releases, so one
            // that came meanwhile still wakes it.
            if woken || !watching || self.take_turn_to_look() {
                return;
            }
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
