//! Gathering the ports of one request: groups of related ports, an exact port, ports free but
//! for TIME_WAIT, and the fair wait of a request for several.
//!
//! A request wants `groups` groups; a group is one port `p` and the ports `p + o - offsets[0]`
//! for its other offsets (a plain request has the offsets `[0]`, one port a group). Each pass
//! over the queue first takes only fully free ports; when that leaves the request short and
//! the request is not strict, a second pass also takes ports whose only obstacle is lingering
//! connections. All or none: a short pass gives everything back and waits, except for the
//! holder of the machine-wide wait token ([`WaitToken`]), who keeps whole groups and reserves
//! ports held elsewhere until it has all.
//!
//! The deadline is looked at inside passes too, and a pass over a pool whose ports are held in
//! many places stays about one look at each port: a port found refused rules out, for the rest
//! of the pass, every group that contains it. A waiting request spends at most a twentieth of
//! its time in passes.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::shape::{Bits, group_starts, too_few_fit};
use super::{DROPPED, FIRST_POLL, HELD, MAX_POLL, Pool};
use crate::claim::host::CheckAddr;
use crate::claim::transport::Transport;
use crate::claim::{Claim, Lingering, Reservations, WaitToken};
use crate::error::Error;
use crate::pool::unbindable::Unbindable;
use crate::pool::waiting::{REPORT_AFTER, report_waiting};

/// What one allocation asks the pool for, checked already by the caller.
#[derive(Debug)]
pub(crate) struct Want<'a> {
    /// The protocols each port is claimed for.
    pub(crate) transport: Transport,
    pub(crate) addrs: &'a [CheckAddr<'a>],
    /// How many groups.
    pub(crate) groups: usize,
    /// The offsets of a group's ports, distinct, so that each port of a group fits a `u16`.
    pub(crate) offsets: &'a [u16],
    /// The port of the only group's first offset, in the pool or not.
    pub(crate) exact: Option<u16>,
    /// Fully free ports only: no port in TIME_WAIT.
    pub(crate) strict: bool,
    pub(crate) timeout: Duration,
}

impl Want<'_> {
    /// How many ports in all; a count too large for a `usize` saturates (the pool then
    /// refuses it as more than it has).
    fn ports(&self) -> usize {
        self.groups.saturating_mul(self.offsets.len())
    }

    /// Whether a group is more than one port from the pool's queue, so the pool's shape limits
    /// where groups fit.
    fn pool_groups(&self) -> bool {
        self.exact.is_none() && self.offsets.len() > 1
    }

    /// The first ports of the groups that contain `port`.
    fn starts_with(&self, port: u16) -> impl Iterator<Item = u16> + '_ {
        let first = i64::from(self.offsets[0]);
        self.offsets
            .iter()
            .filter_map(move |&o| u16::try_from(i64::from(port) - i64::from(o) + first).ok())
    }

    /// The ports of the group whose first port is `first`, if they all fit a `u16`.
    fn group(&self, first: u16) -> Option<Vec<u16>> {
        let base = i64::from(first) - i64::from(self.offsets[0]);
        self.offsets
            .iter()
            .map(|&o| u16::try_from(base + i64::from(o)).ok().filter(|&p| p != 0))
            .collect()
    }
}

/// What a pass saw besides the ports it took.
#[derive(Default)]
struct Seen {
    /// Ports free but for lingering connections, left alone by a strict pass.
    lingering: usize,
    /// Ports refused for a reason other than use: dropped from the pool, named in a warning.
    unbindable: Unbindable,
    /// For an exact request, the refusal of one of its ports: waiting cannot help, so it is
    /// the request's error.
    exact_refused: Option<Error>,
}

/// How long a pass may run on past the deadline: a pass begun before it (a request with a
/// timeout of 0 makes one) looks at the whole pool when that is cheap, and still ends soon
/// after it when that is not.
const PASS_GRACE: Duration = Duration::from_millis(250);

/// A waiting request spends at most one part in this many of its time in passes: a pass that
/// cost `t` is followed by at least `(PACE - 1) * t` of waiting.
const PACE: u32 = 40;

/// When a request's wait started, read lazily: most allocations never wait, and need no clock
/// read for it.
struct Clock {
    timeout: Duration,
    start: Option<Instant>,
}

impl Clock {
    fn start(&mut self) -> Instant {
        *self.start.get_or_insert_with(Instant::now)
    }

    fn expired(&mut self) -> bool {
        self.start().elapsed() >= self.timeout
    }

    /// Whether a pass must stop: [`PASS_GRACE`] past the deadline.
    fn pass_over(&mut self) -> bool {
        self.start().elapsed() >= self.timeout.saturating_add(PASS_GRACE)
    }

    /// When the wait ends; `None` for a timeout the clock cannot add to now (such as
    /// `Duration::MAX`): a wait without end.
    fn deadline(&mut self) -> Option<Instant> {
        self.start().checked_add(self.timeout)
    }
}

/// What a request's passes share: its clock, and for groups from the pool, the pool's size
/// when its shape was last read and the first ports of the groups that lie wholly in it.
struct Search {
    clock: Clock,
    shape: Option<(usize, Bits)>,
}

impl Search {
    fn new(want: &Want<'_>) -> Search {
        let mut clock = Clock {
            timeout: want.timeout,
            start: None,
        };
        if want.ports() > 1 {
            // A pass for several ports can be long: the deadline counts from its start.
            clock.start();
        }
        Search { clock, shape: None }
    }

    /// Whether the group of `first` may lie wholly in the pool.
    fn may_start(&self, first: u16) -> bool {
        self.shape
            .as_ref()
            .is_none_or(|(_, starts)| starts.contains(first))
    }
}

/// The wait token and what its holder reserved.
struct Fair {
    token: WaitToken,
    /// The protocols reserved, those of the request.
    transport: Transport,
    /// Reserved in other processes' eyes (lock-file reservations).
    elsewhere: Vec<u16>,
    /// Reserved in this process (the pool's `reserved` set).
    here: Vec<u16>,
}

impl Fair {
    /// Reserves `port`, held by another process, unless `cap` ports are reserved already.
    fn reserve(&mut self, port: u16, cap: usize) -> Result<(), Error> {
        if self.elsewhere.len() < cap
            && !self.elsewhere.contains(&port)
            && self.token.reserve_for(self.transport, port)?
        {
            self.elsewhere.push(port);
        }
        Ok(())
    }
}

/// Where a pass's cost is measured from: the thread's CPU time where the OS tells it, so that a
/// pass the scheduler paused on a loaded machine does not count as costly (paced by wall time,
/// a 2-port request slept seconds after a pass that was only descheduled); wall time elsewhere.
struct PassCost {
    wall: Instant,
    #[cfg(unix)]
    cpu: Option<Duration>,
}

fn pass_cost_start() -> PassCost {
    PassCost {
        wall: Instant::now(),
        #[cfg(unix)]
        cpu: thread_cpu_time(),
    }
}

impl PassCost {
    /// What the pass cost since `pass_cost_start`.
    fn cost(&self) -> Duration {
        #[cfg(unix)]
        if let (Some(before), Some(now)) = (self.cpu, thread_cpu_time()) {
            return now.saturating_sub(before);
        }
        self.wall.elapsed()
    }
}

/// The CPU time of the calling thread.
#[cfg(unix)]
fn thread_cpu_time() -> Option<Duration> {
    // SAFETY: a zeroed timespec is valid for clock_gettime to fill.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid clock id and a live timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return None;
    }
    Some(Duration::new(
        u64::try_from(ts.tv_sec).ok()?,
        u32::try_from(ts.tv_nsec).ok()?,
    ))
}

/// Waits until `next_look` or `deadline`, whichever comes first: after a costly pass, a
/// release does not start the next one at once.
fn pace(next_look: Option<Instant>, deadline: Option<Instant>) {
    let Some(next) = next_look else {
        return;
    };
    let until = deadline.map_or(next, |d| d.min(next));
    if let Some(rest) = until.checked_duration_since(Instant::now()) {
        std::thread::sleep(rest);
    }
}

impl Pool {
    /// Allocates what `want` asks for, all or none, waiting up to its timeout. The ports come
    /// group by group, each group in the order of its offsets.
    pub(crate) fn allocate(&self, want: &Want<'_>) -> Result<Vec<u16>, Error> {
        let mut search = Search::new(want);
        let mut poll = FIRST_POLL;
        let mut fair: Option<Fair> = None;
        // Never more than the ports that exist: a larger request is refused below.
        let mut kept: Vec<u16> = Vec::with_capacity(want.ports().min(usize::from(u16::MAX)));
        let mut reported = false;
        let result = loop {
            // An error ends the wait below, where the kept ports and the token are given back.
            let mut seen_releases = match self.check_request(want, &mut search.shape) {
                Ok(releases) => releases,
                Err(e) => break Err(e),
            };
            let mut seen = Seen::default();
            let looked = search.clock.start.map(|_| pass_cost_start());
            if let Err(e) = self.look(want, &mut search, fair.as_mut(), &mut seen, &mut kept) {
                break Err(e);
            }
            if kept.len() == want.ports() {
                break Ok(std::mem::take(&mut kept));
            }
            let next_look = looked.and_then(|started| {
                Instant::now().checked_add(started.cost().saturating_mul(PACE - 1))
            });
            if fair.is_none() {
                // Giving back a partial claim counts as releases; they must not end this
                // thread's own wait, or it would spin until the timeout.
                seen_releases += kept.len() as u64;
                for port in kept.drain(..) {
                    self.give_back(want.transport, port, false);
                }
            }
            if search.clock.expired() {
                break Err(self.timeout_error(want, &seen));
            }
            let waited = search.clock.start().elapsed();
            if !reported && waited >= REPORT_AFTER {
                reported = true;
                self.report(want, waited);
            }
            if fair.is_none() && want.ports() > 1 {
                fair = match self.try_fair(want) {
                    Ok(token) => token,
                    Err(e) => break Err(e),
                };
            }
            if let Some(fair) = &mut fair {
                self.reserve_held_here(fair, want.ports() - kept.len(), &kept);
            }
            let deadline = search.clock.deadline();
            self.wait_to_look(seen_releases, poll, deadline);
            pace(next_look, deadline);
            poll = (poll * 2).min(MAX_POLL);
        };
        self.settle(want, result, kept, fair)
    }

    /// Takes the machine-wide wait token for `want`, if it is free.
    fn try_fair(&self, want: &Want<'_>) -> Result<Option<Fair>, Error> {
        Ok(self.claims.try_wait_token()?.map(|token| Fair {
            token,
            transport: want.transport,
            elsewhere: Vec::new(),
            here: Vec::new(),
        }))
    }

    /// Ends an allocation: the wait token and its reservations given up, then the ports of
    /// `result` marked held, or on an error the `kept` ones given back.
    fn settle(
        &self,
        want: &Want<'_>,
        result: Result<Vec<u16>, Error>,
        kept: Vec<u16>,
        fair: Option<Fair>,
    ) -> Result<Vec<u16>, Error> {
        if let Some(fair) = fair {
            self.end_fair_wait(fair);
        }
        match result {
            Ok(ports) => {
                self.mark_held(&ports);
                Ok(ports)
            }
            Err(e) => {
                for port in kept {
                    self.give_back(want.transport, port, false);
                }
                Err(e)
            }
        }
    }

    /// Fails at once when the request can never be met: more ports than the pool has, or
    /// groups its shape cannot hold (checked again, and `shape` with it, whenever the pool
    /// shrank). Returns the release count to wait on.
    fn check_request(
        &self,
        want: &Want<'_>,
        shape: &mut Option<(usize, Bits)>,
    ) -> Result<u64, Error> {
        if want.exact.is_some() {
            return Ok(self.state().releases);
        }
        let releases = self.check_can_satisfy(want.ports())?;
        let size = self.usage.size.load(Relaxed);
        if want.pool_groups() && shape.as_ref().is_none_or(|(seen, _)| *seen != size) {
            let members = Bits::from_ports(self.ports.iter().filter(|&p| !DROPPED.contains(p)));
            let starts = group_starts(&members, want.offsets);
            let too_few = too_few_fit(&members, &starts, want.offsets, want.groups);
            *shape = Some((size, starts));
            if let Some((fits, why)) = too_few {
                return Err(Error::GroupsDoNotFit {
                    groups: want.groups,
                    offsets: want.offsets.to_vec(),
                    fits,
                    why,
                    origin: self.source.clone(),
                });
            }
        }
        Ok(releases)
    }

    /// One look for the ports still missing: a pass over fully free ports, then, when that
    /// leaves the request short and it is not strict, one that also takes ports whose only
    /// obstacle is lingering connections. Each pass adds whole groups to `kept`, so on an
    /// error the caller gives back every port claimed so far.
    fn look(
        &self,
        want: &Want<'_>,
        search: &mut Search,
        mut fair: Option<&mut Fair>,
        seen: &mut Seen,
        kept: &mut Vec<u16>,
    ) -> Result<(), Error> {
        let short = |kept: &[u16]| want.groups - kept.len() / want.offsets.len();
        let mut got = self.pass(
            want,
            short(kept),
            Lingering::Refuse,
            search,
            fair.as_deref_mut(),
            seen,
            kept,
        );
        if got.is_ok() && short(kept) > 0 && !want.strict && seen.lingering > 0 {
            got = self.pass(
                want,
                short(kept),
                Lingering::Accept,
                search,
                fair,
                seen,
                kept,
            );
        }
        std::mem::take(&mut seen.unbindable).warn();
        if let Some(e) = seen.exact_refused.take() {
            return Err(e);
        }
        got
    }

    /// Says once, on standard error, that the request has waited `waited`, and for whom.
    fn report(&self, want: &Want<'_>, waited: Duration) {
        let held_here = self.state().held;
        let size = self.usage.size.load(Relaxed);
        let holders = self.holders_description(want.transport);
        report_waiting(
            waited,
            want.ports(),
            size,
            &self.source,
            held_here,
            &holders,
        );
    }

    fn timeout_error(&self, want: &Want<'_>, seen: &Seen) -> Error {
        let pool_size = self.usage.size.load(Relaxed);
        let held_here = self.state().held;
        match (want.exact, want.strict && seen.lingering > 0) {
            (Some(port), lingering) => Error::ExactPortTimeout {
                port,
                timeout: want.timeout,
                time_wait: lingering,
            },
            (None, true) => Error::StrictTimeout {
                timeout: want.timeout,
                pool_size,
                held_here,
                lingering: seen.lingering,
            },
            (None, false) => Error::Timeout {
                protocol: want.transport.name(),
                timeout: want.timeout,
                pool_size,
                held_here,
                holders: self.holders_description(want.transport),
            },
        }
    }

    /// One pass over the queue (or over the exact port), claiming up to `need` whole groups
    /// and adding their ports to `out`. On an error, the groups claimed before it stay in
    /// `out`, for the caller to give back. A port refused rules out, for the rest of the pass,
    /// every group containing it, so a pass claims about as many ports as the pool has, not
    /// pool x group; it stops [`PASS_GRACE`] past the deadline.
    #[allow(clippy::too_many_arguments)]
    fn pass(
        &self,
        want: &Want<'_>,
        need: usize,
        lingering: Lingering,
        search: &mut Search,
        mut fair: Option<&mut Fair>,
        seen: &mut Seen,
        out: &mut Vec<u16>,
    ) -> Result<(), Error> {
        let holder = fair.is_some();
        let goal = out.len() + need * want.offsets.len();
        let mut remaining = match want.exact {
            Some(_) => 1,
            None => self.circulating(),
        };
        // The first ports of groups found to contain a refused port, in this pass.
        let mut ruled_out = want.pool_groups().then(Bits::new);
        // A look at one port costs a claim; at a group, up to a claim per port.
        let check_every = if want.offsets.len() > 1 { 1 } else { 64 };
        let mut looks = 0usize;
        while out.len() < goal && remaining > 0 {
            looks += 1;
            if looks % check_every == 0 && search.clock.pass_over() {
                break;
            }
            remaining -= 1;
            let Some(first) = want.exact.or_else(|| self.take_front(holder)) else {
                break;
            };
            if !search.may_start(first) || ruled_out.as_ref().is_some_and(|r| r.contains(first)) {
                self.put_back(first);
                continue;
            }
            // A one-port group from the queue (every plain request's) is its first port,
            // taken already: nothing to build or take.
            let single = [first];
            let taken;
            let group: &[u16] = if want.offsets.len() == 1 && want.exact.is_none() {
                &single
            } else {
                match self.take_group(want, first, holder) {
                    Some(group) => {
                        taken = group;
                        &taken
                    }
                    None => continue,
                }
            };
            match self.claim_group(want, group, lingering, fair.as_deref_mut(), seen)? {
                None => out.extend_from_slice(group),
                Some(refused) => ruled_out
                    .iter_mut()
                    .for_each(|r| want.starts_with(refused).for_each(|p| r.insert(p))),
            }
        }
        Ok(())
    }

    /// Takes the ports of the group of `first` out of this process's circulation: `first` was
    /// taken from the queue already (unless exact). `None`, with everything put back, when one
    /// of them is not there: held by another thread, reserved, or not in the pool.
    fn take_group(&self, want: &Want<'_>, first: u16, reserved_ok: bool) -> Option<Vec<u16>> {
        let exact = want.exact.is_some();
        let mut taken: Vec<u16> = if exact { Vec::new() } else { vec![first] };
        let Some(group) = want.group(first) else {
            taken.into_iter().for_each(|p| self.put_back(p));
            return None;
        };
        if group.len() == taken.len() {
            // A plain one-port group: nothing more to take, so no need for the state's mutex,
            // which every waiting thread contends for.
            return Some(group);
        }
        let mut state = self.state();
        for &port in &group[taken.len()..] {
            let ok = if !reserved_ok && state.is_reserved(port) {
                false
            } else if self.take_if_free(&mut state, port) {
                true
            } else {
                // Not free here: held by a thread here, or (for an exact request only) outside
                // the pool, where `outside` keeps the threads of this process apart.
                exact && !self.is_member(port) && state.outside.insert(port)
            };
            if !ok {
                drop(state);
                // Last ports first: the group's first port goes behind the others, so each of
                // them is tried as a first port in turn, not pulled out and queued behind it
                // again and again (a busy `a` kept `b` of the group `b, c` from ever being tried).
                taken.into_iter().rev().for_each(|p| self.put_back(p));
                return None;
            }
            taken.push(port);
        }
        Some(group)
    }

    /// Claims every port of a group taken out of circulation, or none: the port refused (the
    /// group put back) when one is held elsewhere or in use. The wait token's holder reserves
    /// those held by other processes.
    fn claim_group(
        &self,
        want: &Want<'_>,
        group: &[u16],
        lingering: Lingering,
        fair: Option<&mut Fair>,
        seen: &mut Seen,
    ) -> Result<Option<u16>, Error> {
        // The wait token's holder claims the ports it reserved itself.
        let reservations = if fair.is_some() {
            Reservations::Ignore
        } else {
            Reservations::Respect
        };
        let transport = want.transport;
        for (i, &port) in group.iter().enumerate() {
            let claimed = self
                .claims
                .claim(transport, want.addrs, port, lingering, reservations)
                .inspect_err(|_| {
                    group[..i]
                        .iter()
                        .for_each(|&p| self.claims.release(transport, p));
                    group.iter().for_each(|&p| self.put_back(p));
                })?;
            if matches!(claimed, Claim::Claimed) {
                continue;
            }
            group[..i]
                .iter()
                .for_each(|&p| self.claims.release(transport, p));
            self.refused(want, group, port, claimed, fair, seen)?;
            return Ok(Some(port));
        }
        Ok(None)
    }

    /// Puts back a group refused at `port` for the reason `claimed` gives, and notes why:
    /// an unbindable port leaves the pool, a lingering one is counted, and one held by
    /// another process is reserved by the wait token's holder.
    fn refused(
        &self,
        want: &Want<'_>,
        group: &[u16],
        port: u16,
        claimed: Claim,
        fair: Option<&mut Fair>,
        seen: &mut Seen,
    ) -> Result<(), Error> {
        match claimed {
            Claim::Unbindable { host, addr, error } => {
                // Of no use to this process: it leaves the pool; the rest go back.
                group
                    .iter()
                    .filter(|&&p| p != port)
                    .for_each(|&p| self.put_back(p));
                self.drop_port(port);
                if want.exact.is_some() {
                    seen.exact_refused = Some(Error::PortCheck {
                        port,
                        host,
                        addr,
                        cause: error,
                    });
                } else {
                    seen.unbindable.add(port, &host, addr, &error);
                }
            }
            Claim::Lingering => {
                group.iter().rev().for_each(|&p| self.put_back(p));
                seen.lingering += 1;
            }
            Claim::Locked => {
                group.iter().rev().for_each(|&p| self.put_back(p));
                if let Some(fair) = fair {
                    fair.reserve(port, want.ports())?;
                }
            }
            Claim::Busy | Claim::Claimed => group.iter().rev().for_each(|&p| self.put_back(p)),
        }
        Ok(())
    }

    /// Reserves, in this process, ports other threads here hold, up to `need` reservations, so
    /// that when they come back only the token's holder takes them.
    fn reserve_held_here(&self, fair: &mut Fair, need: usize, kept: &[u16]) {
        if fair.here.len() >= need {
            return;
        }
        let mut state = self.state();
        for port in HELD.iter() {
            if fair.here.len() >= need {
                break;
            }
            if !kept.contains(&port) && state.reserved.insert(port) {
                fair.here.push(port);
            }
        }
    }

    /// Gives up the wait token and every reservation, and wakes the threads that skipped them.
    fn end_fair_wait(&self, fair: Fair) {
        for &port in &fair.elsewhere {
            fair.token.unreserve_for(fair.transport, port);
        }
        let mut state = self.state();
        for port in &fair.here {
            state.reserved.remove(port);
        }
        state.releases += 1;
        let wake = state.waiters > 0;
        drop(state);
        drop(fair);
        if wake {
            self.released.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(offsets: &[u16]) -> Want<'_> {
        Want {
            transport: Transport::Tcp,
            addrs: &[],
            groups: 2,
            offsets,
            exact: None,
            strict: false,
            timeout: Duration::ZERO,
        }
    }

    #[test]
    fn a_group_is_its_first_port_and_the_other_offsets_from_it() {
        assert_eq!(want(&[0]).group(5000), Some(vec![5000]));
        assert_eq!(want(&[0, 10000]).group(5000), Some(vec![5000, 15000]));
        assert_eq!(want(&[5, 0, 7]).group(5005), Some(vec![5005, 5000, 5007]));
        assert_eq!(want(&[0, 10000]).ports(), 4);
    }

    #[test]
    fn a_count_too_large_for_a_usize_saturates() {
        let mut huge = want(&[0, 1]);
        huge.groups = 1 << 63;
        assert_eq!(huge.ports(), usize::MAX);
        huge.groups = usize::MAX / 2;
        assert_eq!(huge.ports(), usize::MAX - 1);
    }

    #[test]
    fn a_port_lies_in_the_group_of_each_start_it_gives() {
        let starts: Vec<u16> = want(&[5, 0, 7]).starts_with(5005).collect();
        assert_eq!(starts, vec![5005, 5010, 5003]);
        for start in starts {
            assert!(want(&[5, 0, 7]).group(start).unwrap().contains(&5005));
        }
        let starts: Vec<u16> = want(&[0, 10000]).starts_with(5000).collect();
        assert_eq!(starts, vec![5000], "no group starts below port 0");
        assert!(!want(&[0]).pool_groups());
        assert!(want(&[0, 1]).pool_groups());
    }

    #[test]
    fn a_timeout_the_clock_cannot_add_is_a_wait_without_end() {
        let mut clock = Clock {
            timeout: Duration::MAX,
            start: None,
        };
        assert_eq!(clock.deadline(), None);
        assert!(!clock.expired() && !clock.pass_over());
        let mut short = Clock {
            timeout: Duration::from_secs(60),
            start: None,
        };
        let start = short.start();
        assert_eq!(short.deadline(), Some(start + Duration::from_secs(60)));
        assert!(!short.expired());
        let mut over = Clock {
            timeout: Duration::ZERO,
            start: Some(Instant::now() - Duration::from_millis(100)),
        };
        assert!(
            over.expired() && !over.pass_over(),
            "a pass may run on a little"
        );
        over.start = Some(Instant::now() - PASS_GRACE);
        assert!(over.pass_over());
    }

    #[test]
    fn a_pass_that_sleeps_costs_little_and_one_that_computes_costs_its_time() {
        let idle = pass_cost_start();
        std::thread::sleep(Duration::from_millis(100));
        let idle = idle.cost();
        let busy = pass_cost_start();
        let until = Instant::now() + Duration::from_millis(100);
        let mut spin = 0u64;
        while Instant::now() < until {
            spin = std::hint::black_box(spin.wrapping_add(1));
        }
        let busy = busy.cost();
        assert!(
            busy >= Duration::from_millis(20),
            "a busy pass cost {busy:?}"
        );
        #[cfg(unix)]
        assert!(
            idle < Duration::from_millis(50),
            "a paused pass cost {idle:?}"
        );
        #[cfg(not(unix))]
        let _ = idle;
    }

    #[test]
    fn pacing_waits_for_the_next_look_or_the_deadline_whichever_is_first() {
        let now = Instant::now();
        let soon = now + Duration::from_millis(50);
        pace(Some(soon), None);
        assert!(Instant::now() >= soon);
        let start = Instant::now();
        pace(
            Some(start + Duration::from_secs(30)),
            Some(start + Duration::from_millis(20)),
        );
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(20) && waited < Duration::from_secs(5));
        let start = Instant::now();
        pace(None, Some(start + Duration::from_secs(30)));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no pass, no pause"
        );
    }

    #[test]
    fn a_group_past_either_end_of_the_port_range_is_none() {
        assert_eq!(want(&[0, 10000]).group(60000), None);
        assert_eq!(want(&[10, 0]).group(5), None);
        assert_eq!(want(&[10, 0]).group(10), None, "port 0 is no port");
    }
}
