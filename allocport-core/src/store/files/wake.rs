//! Waking a process that waits for a port when another process releases one.
//!
//! A process with threads waiting for ports runs one wake listener thread, however many threads
//! wait. While armed, the listener holds shared `fcntl` locks on port `p`'s byte in the waiting
//! lane of the lock files ([`Lane::Waiting`](super::lane::Lane), `262144 + p`), for each port
//! `p` of its pool (one lock per range of the pool and file) and, on Linux, watches
//! the `wake` file in the lock directory with inotify. A process releasing port `p` asks the
//! kernel whether any other process holds a shared lock on that byte of `p`'s lock
//! file (`F_GETLK` on a
//! file already open, one system call, nothing taken; a look that found no mark in the file
//! is relied on for a few milliseconds, so the listener looks once more that long after it
//! arms) and only then writes a byte to `wake`;
//! the inotify event wakes the listener, which wakes the process's waiting threads to look
//! again. So releases of ports nobody waits for wake nobody, however busy the machine.
//!
//! The listener arms before it wakes the threads once, so a release either happens before that
//! look (and is found by it) or sees the shared lock (and writes `wake`). Where inotify is
//! missing (other systems, or an exhausted inotify limit) there is no listener and the waiting
//! threads poll, as they always may: a holder killed by a signal releases nothing, so waiting
//! threads still look again now and then (see the pool). So do they when the lock files are
//! deleted or replaced while they wait ([`super::renew`]): the marks went with the old files
//! until the listener arms again, and the inotify watch with the old `wake` file.

#[cfg(target_os = "linux")]
use std::fs::File;
use std::sync::MutexGuard;
#[cfg(target_os = "linux")]
use std::sync::OnceLock;

#[cfg(target_os = "linux")]
use super::LOCK_FILES;
use super::PortLocks;
#[cfg(target_os = "linux")]
use super::lane::Lane;
use super::slot::Slot;

/// The file releasers write to when a process waits; it exists once a process has waited.
#[cfg(target_os = "linux")]
const WAKE_FILE: &str = "wake";

/// This process's descriptor of the wake file, opened when first needed and never closed.
#[cfg(target_os = "linux")]
static WAKE: OnceLock<Option<File>> = OnceLock::new();

#[cfg(target_os = "linux")]
fn wake_file(locks: &PortLocks) -> Option<&'static File> {
    WAKE.get_or_init(
        || match super::dir::open_in_private_dir(locks.dir(), WAKE_FILE, 1) {
            Ok(file) => Some(file),
            Err(e) => {
                log::debug!("allocport: no cross-process wake-ups: {e}");
                None
            }
        },
    )
    .as_ref()
}

/// Tells processes waiting for `port` that it was released, if any waits: costs one `F_GETLK`
/// on the port's lock file when none does, and none at all while a look at that file that
/// found no waiting process is recent (see [`LOOK_LASTS`](super::LOOK_LASTS)). `slot` is the
/// port's, whose lock the caller just gave back under it.
pub(super) fn announce_release(locks: &PortLocks, slot: MutexGuard<'_, Slot>, port: u16) {
    #[cfg(target_os = "linux")]
    {
        let mut slot = slot;
        let waits = locks
            .marked_elsewhere_at(&mut slot, Lane::Waiting, port, std::time::Instant::now())
            .unwrap_or(false);
        drop(slot);
        if waits {
            if let Some(wake) = wake_file(locks) {
                sys::touch(wake);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (locks, slot, port);
}

/// Starts this process's listener thread for releases of the ports in `pool` (inclusive
/// ranges), which calls `wanted` to learn whether any thread waits (with `true`: blocking
/// until one does) and `wake` to wake them all. `false` when cross-process wake-ups are not
/// available here: the waiting threads must poll.
pub(crate) fn start_listener(
    locks: &'static PortLocks,
    pool: Vec<(u16, u16)>,
    wanted: impl Fn(bool) -> bool + Send + 'static,
    wake: impl Fn() + Send + 'static,
) -> bool {
    #[cfg(target_os = "linux")]
    {
        if wake_file(locks).is_none() {
            return false;
        }
        let inotify = match sys::Inotify::watch(&locks.dir().join(WAKE_FILE)) {
            Ok(inotify) => inotify,
            Err(e) => {
                log::debug!("allocport: no cross-process wake-ups: inotify: {e}");
                return false;
            }
        };
        let spawned = crate::background::spawn("allocport-wake", move || {
            listen(locks, &pool, inotify, wanted, wake)
        });
        spawned.is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (locks, pool, wanted, wake);
        false
    }
}

/// How long the armed listener blocks before it asks again whether anyone still waits.
#[cfg(target_os = "linux")]
const RECHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// The least time between two wake-ups of the waiting threads.
#[cfg(target_os = "linux")]
const COALESCE: std::time::Duration = std::time::Duration::from_millis(1);

/// The listener: idle while nobody waits; armed (shared lock held, inotify read) while anybody
/// does, and for up to [`RECHECK`] after, so waiters that retry and wait again keep it armed.
#[cfg(target_os = "linux")]
fn listen(
    locks: &PortLocks,
    pool: &[(u16, u16)],
    inotify: sys::Inotify,
    wanted: impl Fn(bool) -> bool,
    wake: impl Fn(),
) {
    loop {
        // Blocks until a thread waits.
        wanted(true);
        mark_waiting(locks, pool);
        inotify.drain();
        // Releases before the lock was visible announced nothing: look once more.
        wake();
        // Nor did releases by a process relying on a look at its file from before the marks
        // (for up to LOOK_LASTS): look again once that cannot be so any more.
        std::thread::sleep(super::LOOK_LASTS);
        inotify.drain();
        wake();
        loop {
            if inotify.wait(RECHECK) {
                // Releases that come in a burst wake the threads once per COALESCE, not once
                // each: every wake-up costs each waiting thread a look at the pool.
                std::thread::sleep(COALESCE);
                inotify.drain();
                wake();
            } else if !wanted(false) {
                break;
            }
        }
        unmark_waiting(locks);
    }
}

/// Marks the ports of `pool` as waited for in every lock file (opening those not open yet).
#[cfg(target_os = "linux")]
fn mark_waiting(locks: &PortLocks, pool: &[(u16, u16)]) {
    for shard in 0..LOCK_FILES as u16 {
        let Ok(slot) = locks.ready(shard) else {
            continue;
        };
        if let Some(file) = &slot.open.file {
            if let Err(e) = sys::lock_shared(file, pool) {
                log::debug!("allocport: cannot mark a waiting process: {e}");
            }
        }
    }
}

/// Withdraws this process's waiting marks from every lock file it has open.
#[cfg(target_os = "linux")]
fn unmark_waiting(locks: &PortLocks) {
    for shard in 0..LOCK_FILES as u16 {
        if let Some(file) = &locks.slot(shard).open.file {
            if let Err(e) = sys::unlock_shared(file) {
                log::debug!("allocport: cannot unmark a waiting process: {e}");
            }
        }
    }
}

#[cfg(target_os = "linux")]
mod sys {
    use std::ffi::CString;
    use std::fs::File;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::time::Duration;

    use super::Lane;

    // The record-lock calls of the lock files themselves.
    use super::super::sys::{fcntl, flock_range as flock};

    /// Takes shared locks on the waiting bytes of the ports in `pool`: "this process waits
    /// for these".
    pub(super) fn lock_shared(file: &File, pool: &[(u16, u16)]) -> io::Result<()> {
        for &(lo, hi) in pool {
            let len = u32::from(hi - lo) + 1;
            let start = i64::from(Lane::Waiting.byte(lo));
            // Nobody takes a write lock on these bytes, so F_SETLK never finds a conflict.
            fcntl(file, libc::F_SETLK, &mut flock(libc::F_RDLCK, start, len))?;
        }
        Ok(())
    }

    /// Drops every waiting mark of this process in the file: the waiting lane is the last,
    /// so a lock to the end of the file from its start is never a port's own lock.
    pub(super) fn unlock_shared(file: &File) -> io::Result<()> {
        let start = i64::from(Lane::Waiting.start());
        fcntl(file, libc::F_SETLK, &mut flock(libc::F_UNLCK, start, 0))
    }

    /// Writes byte 0 of the wake file, which every listener's inotify sees.
    pub(super) fn touch(file: &File) {
        // SAFETY: the descriptor is open and the one-byte buffer outlives the call.
        let rc = unsafe { libc::pwrite(file.as_raw_fd(), b"w".as_ptr().cast(), 1, 0) };
        if rc == -1 {
            log::debug!(
                "allocport: cannot wake waiting processes: {}",
                io::Error::last_os_error()
            );
        }
    }

    /// An inotify instance watching one file for writes.
    pub(super) struct Inotify(OwnedFd);

    impl Inotify {
        pub(super) fn watch(path: &Path) -> io::Result<Inotify> {
            // SAFETY: inotify_init1 takes flags only.
            let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
            if fd == -1 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `fd` is a new descriptor that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let path = CString::new(path.as_os_str().as_bytes())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let mask = libc::IN_MODIFY | libc::IN_DONT_FOLLOW;
            // SAFETY: `fd` is open and `path` is a NUL-terminated string that outlives the call.
            let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), mask) };
            if wd == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(Inotify(fd))
        }

        /// Blocks until an event is ready (`true`) or `timeout` passes.
        pub(super) fn wait(&self, timeout: Duration) -> bool {
            let mut pfd = libc::pollfd {
                fd: self.0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let millis = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
            // SAFETY: one valid pollfd, for the length given.
            let rc = unsafe { libc::poll(&raw mut pfd, 1, millis) };
            rc > 0 && pfd.revents & libc::POLLIN != 0
        }

        /// Reads every pending event (their content does not matter: only that one came).
        pub(super) fn drain(&self) {
            let mut buf = [0u8; 4096];
            loop {
                // SAFETY: the buffer is valid for its length; the descriptor is non-blocking.
                let n =
                    unsafe { libc::read(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    break;
                }
            }
        }
    }
}
