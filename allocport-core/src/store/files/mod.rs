//! Exclusion between processes: one byte-range lock per port, on a few lock files.
//! [`dir`] says where the files live; `unix.rs` and `windows.rs` hold the system calls.
//!
//! The files live in a private per-user directory and stay open for the life of the process,
//! so holding a port costs no file descriptor of its own, and the kernel drops every lock of a
//! process that dies, even by `SIGKILL`: nothing is left to clean up. Port `p`'s locks lie in
//! file `ports-<p % 64>.lock`, one lane of bytes per kind ([`lane`]: TCP and UDP claims, a fair
//! wait's reservations, see [`fair`], and the marks of waiting processes, see [`wake`]), so no
//! two kinds ever block each other. The files hold one byte, the mark of a trusted file (see
//! [`renew`]); locks lie beyond the end.
//! The kernel walks every lock on a file on each lock and unlock, so one file for all ports
//! made an allocation cost grow with the ports held machine-wide (5x at 4,000 held); 64 files
//! keep each list short while a process still needs at most 64 descriptors.
//!
//! Unix uses POSIX `fcntl` record locks; they belong to the process, so exclusion between
//! threads of one process is the pool's job. Closing *any* descriptor of a lock file drops
//! every lock the process holds on it, so each file is opened once per process, under its
//! slot's mutex, and closed only after the file at its path has been deleted or replaced:
//! [`renew`] then opens the new one and takes this process's locks again (closing the old one
//! a little later, for claimers that have not looked yet), and [`keeper`] notices such a change
//! promptly while this process holds ports. Every kind of lock (TCP, UDP, reservation) is
//! taken again, as each stands for a port held or reserved here.

use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::{Mutex, MutexGuard, Once, OnceLock};
use std::time::Instant;

use super::Taken;
use crate::error::Error;

mod dir;
mod fair;
mod keeper;
mod lane;
mod renew;
mod slot;
#[cfg(unix)]
#[path = "unix.rs"]
mod sys;
#[cfg(windows)]
#[path = "windows.rs"]
mod sys;
mod timing;
pub(crate) mod wake;

use dir::ensure_private_dir;
pub use dir::lock_dir;
pub(crate) use fair::WaitToken;
use lane::Lane;
pub use renew::lock_files_renewed;
use slot::Slot;

/// Another process's lock on a port: Unix names that process, Windows cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Holder {
    pub(crate) pid: Option<u32>,
}

/// Which of a port's locks: claims for TCP and for UDP are kept apart, and so are a fair
/// waiter's reservations of either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lock {
    Tcp,
    Udp,
    Reservation,
    UdpReservation,
}

impl Lock {
    /// The lane of the lock files that holds this kind of lock.
    fn lane(self) -> Lane {
        match self {
            Lock::Tcp => Lane::Tcp,
            Lock::Udp => Lane::Udp,
            Lock::Reservation => Lane::Reservation,
            Lock::UdpReservation => Lane::UdpReservation,
        }
    }

    /// The byte of the lock in its file (see [`Lane`]).
    fn byte(self, port: u16) -> u32 {
        self.lane().byte(port)
    }

    /// The reservation that steers claims of this kind.
    pub(crate) fn reservation(self) -> Lock {
        match self {
            Lock::Udp | Lock::UdpReservation => Lock::UdpReservation,
            Lock::Tcp | Lock::Reservation => Lock::Reservation,
        }
    }
}

/// Whether a claim steps aside from a port another process reserved (see [`fair`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reservations {
    /// It does: a plain claim, which must not take a fair waiter's port.
    Heed,
    /// It does not: the fair waiter's own claims and reservations.
    Ignore,
}

/// What a release tells other processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Release {
    /// Nothing: a reservation ended, or a claim given back unused (two multi-port waiters
    /// would wake each other for ever).
    Quiet,
    /// That the port is free, to processes waiting for it ([`wake::announce_release`]), under
    /// the same slot's mutex.
    Announce,
}

/// Which lock files a [`PortLocks::refresh`] looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Files {
    /// Every file this process has open: before a claim or a look at holders trusts them.
    Open,
    /// Those in which it holds or lately claimed ports: the keeper's round.
    InUse,
}

/// How many lock files the ports are spread over.
const LOCK_FILES: usize = 64;

/// How long a look at a lock file's reservations ([`fair`]) or waiting marks ([`wake`]) that
/// found none is relied on, so that a busy claimer does not ask on every claim and release.
/// The processes that make them allow for it: a reservation binds others from this long after
/// it is made, and a waiting process looks once more this long after it marks its ports.
const LOOK_LASTS: std::time::Duration = std::time::Duration::from_millis(5);

// The timing rules between the store's constants, each with its reason (see `renew` and
// `keeper` for the whole argument).
const _: () = {
    use keeper::{TICK, TOUCH};
    use timing::{GRACE, IN_USE, KEEP_REPLACED, SEEN_LASTS};
    // The keeper's round renews the look at a file in use before it lapses, so busy claimers
    // need not look at the path themselves.
    assert!(TICK.as_millis() < SEEN_LASTS.as_millis());
    // A holder re-takes its locks on a new file within a look's life plus a round: the grace
    // allows that three times over, for a loaded machine.
    assert!(GRACE.as_millis() >= 3 * (SEEN_LASTS.as_millis() + TICK.as_millis()));
    // A claim relying on a look at the old file still meets the locks kept there.
    assert!(KEEP_REPLACED.as_millis() > SEEN_LASTS.as_millis());
    // The keeper looks at a file longer after a claim than the claim's look lasts.
    assert!(IN_USE.as_millis() > SEEN_LASTS.as_millis());
    // Times are set in the keeper's round, which cannot come more often than a tick.
    assert!(TOUCH.as_millis() >= TICK.as_millis());
};

/// What a look at one kind of mark in a lock file found, for one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Windows cannot list a file's locks, so its look always says `Elsewhere`.
#[cfg_attr(windows, allow(dead_code))]
enum Marks {
    /// No other process has any mark of that kind in the file.
    None,
    /// Another process marked this port.
    Port,
    /// Another process marked some port of the file: look at this one by itself.
    Elsewhere,
}

/// The lock files of this process. Each slot is opened on first use and kept open; it is
/// opened again (see [`renew`]) only when the file at its path is no longer the one opened.
pub(crate) struct PortLocks {
    /// Set once the directory has been checked: until then no file is opened.
    dir: OnceLock<PathBuf>,
    /// One per lock file; its mutex also keeps two threads from opening one file twice and
    /// dropping a copy (which would silently drop the other's locks).
    slots: [Mutex<Slot>; LOCK_FILES],
    /// How many locks this process has taken, over all files: the keeper runs while any.
    locked: AtomicUsize,
    /// Set once every file has been opened because one was new, so that new files' graces
    /// run at once; in a store in use, each file is opened at its first use only.
    opened: Once,
}

/// A constant, not built at the first claim: built there, the 64 slots went through the
/// stack of a debug build several times (a dozen stack pages touched by every test process).
static LOCKS: PortLocks = PortLocks {
    dir: OnceLock::new(),
    slots: [const { Mutex::new(Slot::EMPTY) }; LOCK_FILES],
    locked: AtomicUsize::new(0),
    opened: Once::new(),
};

/// The process's lock files, their directory checked on the first call. An unusable directory
/// is an error every time it is asked for, never a silent fallback to no locking.
pub(crate) fn port_locks() -> Result<&'static PortLocks, Error> {
    if LOCKS.dir.get().is_some() {
        return Ok(&LOCKS);
    }
    let dir = lock_dir()?;
    ensure_private_dir(&dir, 100).map_err(|reason| Error::LockDir {
        dir: dir.clone(),
        reason,
    })?;
    // Two threads may both get here; the directory they checked is the same one.
    LOCKS.dir.get_or_init(|| dir);
    Ok(&LOCKS)
}

/// The lock files, if a claim has opened the store; the keeper works on nothing else.
fn existing_locks() -> Option<&'static PortLocks> {
    LOCKS.dir.get().map(|_| &LOCKS)
}

fn lock_file_name(port: u16) -> String {
    format!("ports-{:02}.lock", usize::from(port) % LOCK_FILES)
}

impl PortLocks {
    /// The lock directory: set before any other use of the store.
    fn dir(&self) -> &std::path::Path {
        self.dir.get().expect("port_locks sets the directory first")
    }

    fn slot(&self, port: u16) -> MutexGuard<'_, Slot> {
        self.slot_at(usize::from(port) % LOCK_FILES)
    }

    fn slot_at(&self, index: usize) -> MutexGuard<'_, Slot> {
        // Each change of a slot is a few assignments: a poisoned one is still consistent.
        self.slots[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn error(&self, reason: String) -> Error {
        Error::LockDir {
            dir: self.dir().to_path_buf(),
            reason,
        }
    }

    /// The slot of `port`, its file open, current and trusted (see [`renew`]): waits out a
    /// new file's grace with the slot's mutex released.
    fn ready(&self, port: u16) -> Result<MutexGuard<'_, Slot>, Error> {
        let mut slot = self.slot(port);
        loop {
            if slot.open.file.is_none() {
                self.renew(&mut slot, port)?;
            }
            match slot.grace_left_now() {
                Some(wait) => {
                    drop(slot);
                    // A new file: the others are most likely new too (a new or emptied
                    // store), so open them all now and let their graces run together.
                    self.opened.call_once(|| self.open_all());
                    std::thread::sleep(wait);
                    slot = self.slot(port);
                }
                None => return Ok(slot),
            }
        }
    }

    /// Takes the `kind` lock of `port` if no other process holds it; `false` if one does.
    ///
    /// The lock is trusted only if the file at the lock path is still the one locked: a lock
    /// on a deleted or replaced file excludes nobody, so the file is opened again and the lock
    /// taken there. A look at the path within [`timing::SEEN_LASTS`] (the file's opening, the
    /// keeper's round) stands for one after the lock.
    pub(crate) fn try_lock_at(&self, kind: Lock, port: u16) -> Result<bool, Error> {
        Ok(matches!(
            self.try_lock(kind, port, Reservations::Ignore)?,
            Taken::Yes
        ))
    }

    /// [`try_lock_at`](Self::try_lock_at), and with `reservations`, also whether another
    /// process reserved `port` for its multi-port wait (see [`fair`]): the lock is then given
    /// back at once.
    pub(crate) fn try_lock_unreserved(
        &self,
        kind: Lock,
        port: u16,
        reservations: bool,
    ) -> Result<Taken, Error> {
        let reservations = if reservations {
            Reservations::Heed
        } else {
            Reservations::Ignore
        };
        self.try_lock(kind, port, reservations)
    }

    /// Takes the `kind` lock of `port`, and with [`Reservations::Heed`] gives it back if
    /// another process reserved `port`: one look under the slot's mutex that took the lock,
    /// with the same clock reading, as every claim of a plain allocation asks both.
    fn try_lock(&self, kind: Lock, port: u16, reservations: Reservations) -> Result<Taken, Error> {
        let byte = kind.byte(port);
        loop {
            let mut slot = self.ready(port)?;
            let file = slot.open.file.as_ref().expect("ready opens the file");
            let locked = sys::try_lock(file, byte)
                .map_err(|e| self.error(format!("locking {}: {e}", Lane::describe(byte))))?;
            // A refusal needs no check: on a replaced file it comes from a holder that takes
            // its lock again on the new one, so the port is busy either way. Only a lock this
            // process got must be on the file at the path.
            if !locked {
                return Ok(Taken::Held);
            }
            let now = Instant::now();
            if slot.trust.seen_current_at(now) || self.is_current(&mut slot, port) {
                if reservations == Reservations::Heed
                    && self.reserved_in(&mut slot, kind, port, now, byte)?
                {
                    return Ok(Taken::Reserved);
                }
                slot.held.bytes.push(byte);
                slot.held.claimed = Some(now);
                drop(slot);
                // SeqCst: paired with the keeper's going to sleep (see `keeper::nudge`).
                if self.locked.fetch_add(1, SeqCst) == 0 {
                    keeper::nudge();
                }
                return Ok(Taken::Yes);
            }
            if let Some(file) = &slot.open.file {
                let _ = sys::unlock(file, byte);
            }
            // Most often the whole directory went: open every changed file again at once, so
            // that their graces run together.
            drop(slot);
            self.refresh(Files::Open)?;
        }
    }

    /// Whether another process reserved `port`, asked with the `byte` this process just
    /// locked in `slot`'s file, which is given back if so, or if the look fails. On Windows
    /// this process's own reservations count too; only the token's holder makes them, and it
    /// never asks. A look that found no reservation in the file is relied on for
    /// [`LOOK_LASTS`], so a reservation binds other processes from that long after it is
    /// made: a fair wait lasts far longer.
    fn reserved_in(
        &self,
        slot: &mut Slot,
        kind: Lock,
        port: u16,
        now: Instant,
        byte: u32,
    ) -> Result<bool, Error> {
        let lane = kind.reservation().lane();
        let look = self.marked_elsewhere_at(slot, lane, port, now);
        if matches!(look, Ok(false)) {
            return Ok(false);
        }
        if let Some(file) = &slot.open.file {
            let _ = sys::unlock(file, byte);
        }
        look.map_err(|e| {
            let what = Lane::describe(lane.byte(port));
            self.error(format!("reading the lock of {what}: {e}"))
        })
    }

    /// Gives the `kind` lock of `port` back; its file is open, since the port was locked.
    pub(crate) fn unlock_at(&self, kind: Lock, port: u16) {
        self.unlock(kind, port, Release::Quiet);
    }

    /// [`unlock_at`](Self::unlock_at), and with `announce`, tells processes waiting for
    /// `port` that it is free (see [`Release::Announce`]).
    pub(crate) fn unlock_announcing(&self, kind: Lock, port: u16, announce: bool) {
        let release = if announce {
            Release::Announce
        } else {
            Release::Quiet
        };
        self.unlock(kind, port, release);
    }

    fn unlock(&self, kind: Lock, port: u16, release: Release) {
        let byte = kind.byte(port);
        let mut slot = self.slot(port);
        if let Some(i) = slot.held.bytes.iter().position(|&b| b == byte) {
            slot.held.bytes.swap_remove(i);
            self.locked.fetch_sub(1, Relaxed);
        }
        let unlocked = match &slot.open.file {
            Some(file) => sys::unlock(file, byte)
                .map_err(|e| self.error(format!("unlocking {}: {e}", Lane::describe(byte)))),
            None => Ok(()),
        };
        if let Err(e) = unlocked {
            // Not reachable in practice; the lock dies with the process anyway.
            log::warn!("allocport: {e}");
        }
        if release == Release::Announce {
            wake::announce_release(self, slot, port);
        }
    }

    /// Which of `ports` other processes hold the `kind` lock of, and who, read from the files
    /// now at the lock paths.
    pub(crate) fn holders(
        &self,
        kind: Lock,
        ports: impl IntoIterator<Item = u16>,
    ) -> Result<Vec<(u16, Holder)>, Error> {
        self.refresh(Files::Open)?;
        let mut wanted = vec![false; 1 << 16];
        let mut files = [false; LOCK_FILES];
        for port in ports {
            wanted[usize::from(port)] = true;
            files[usize::from(port) % LOCK_FILES] = true;
        }
        let base = kind.byte(0);
        let mut holders = Vec::new();
        for index in (0..LOCK_FILES as u16).filter(|&i| files[usize::from(i)]) {
            let slot = self.ready(index)?;
            let file = slot.open.file.as_ref().expect("ready opens the file");
            let found = sys::holders_in(file, base, index).map_err(|e| {
                self.error(format!(
                    "reading the locks of {}: {e}",
                    lock_file_name(index)
                ))
            })?;
            holders.extend(found.into_iter().filter(|&(p, _)| wanted[usize::from(p)]));
        }
        Ok(holders)
    }

    /// Whether another process holds a mark of `lane` on `port`, relying for [`LOOK_LASTS`] on
    /// a look at the file that found none in that lane.
    fn marked_elsewhere_at(
        &self,
        slot: &mut Slot,
        lane: Lane,
        port: u16,
        now: Instant,
    ) -> std::io::Result<bool> {
        if slot.looks.none_until(lane).is_some_and(|until| now < until) {
            return Ok(false);
        }
        let Some(file) = &slot.open.file else {
            return Ok(false);
        };
        match sys::marks(file, lane.start(), lane.byte(port))? {
            Marks::None => {
                *slot.looks.none_until(lane) = Some(now + LOOK_LASTS);
                Ok(false)
            }
            Marks::Port => Ok(true),
            Marks::Elsewhere => Ok(sys::holder(file, lane.byte(port))?.is_some()),
        }
    }
}
