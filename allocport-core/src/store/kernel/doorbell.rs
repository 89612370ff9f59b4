//! Waking processes that wait for a port, in the kernel store: doorbells.
//!
//! A process with threads waiting for ports binds a datagram socket to the lowest free
//! doorbell name (`\0P/doorbell/<i>`, `i` from 0 to 63). A process that releases a port it
//! held sends a datagram of the port's two bytes (big-endian), without blocking, to doorbell
//! 0, 1, 2, ... and stops at the first nobody has bound (`ECONNREFUSED`): with nobody waiting
//! that is one system call. A full queue (`EAGAIN`) means the bell is ringing already. The
//! watcher, a thread that runs only once a thread of this process has waited, wakes the
//! waiting threads when a port of their pool was released (or a ring names no port): the
//! releases of other suites' pools wake only the watcher.
//!
//! A waiter that leaves opens a gap below later ones, which then miss rings: each bound
//! watcher moves to a lower free number whenever it looks again, and waiting threads still
//! look again now and then, as they must for holders that die (a killed holder rings
//! nothing).

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use super::names::{DOORBELLS, Name};
use super::{KernelStore, address, bind_abstract, unix_socket};

/// How long the watcher blocks before it asks again whether anyone still waits, and tries a
/// lower doorbell.
const RECHECK: Duration = Duration::from_millis(100);

/// The least time between two wake-ups of the waiting threads: every wake-up costs each
/// waiting thread a look at the pool, and releases come in bursts.
const COALESCE: Duration = Duration::from_millis(1);

/// How often the waiting threads are woken to look again when no doorbell is free.
const NO_BELL_POLL: Duration = Duration::from_millis(50);

/// Rings every bound doorbell: after a release of `port`, which was held.
pub(crate) fn ring(store: &KernelStore, port: u16) {
    let Some(sender) = store.datagram_sender() else {
        return;
    };
    let message = port.to_be_bytes();
    for i in 0..DOORBELLS {
        let (addr, len) = address(store.prefix(), Name::Doorbell(i));
        // SAFETY: a valid socket, a buffer of its length, and a sockaddr_un of `len` bytes.
        let rc = unsafe {
            libc::sendto(
                sender.as_raw_fd(),
                message.as_ptr().cast(),
                message.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                (&raw const addr).cast(),
                len,
            )
        };
        if rc == -1 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EAGAIN) {
            // ECONNREFUSED: nobody has this number, so none above (but for a gap).
            return;
        }
    }
}

/// A doorbell bound by this process, and its number.
struct Bell {
    fd: OwnedFd,
    number: u8,
}

impl Bell {
    /// Binds the lowest free doorbell below `below`.
    fn bind_lowest(store: &KernelStore, below: u8) -> Option<Bell> {
        (0..below).find_map(|number| {
            let fd = unix_socket(libc::SOCK_DGRAM | libc::SOCK_NONBLOCK).ok()?;
            bind_abstract(&fd, store.prefix(), Name::Doorbell(number)).ok()?;
            Some(Bell { fd, number })
        })
    }

    /// Moves to a lower free number, if one is free.
    fn move_lower(self, store: &KernelStore) -> Bell {
        Bell::bind_lowest(store, self.number).unwrap_or(self)
    }

    /// Blocks until a ring (`true`) or `timeout`.
    fn wait(&self, timeout: Duration) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd, for the length given.
        let rc = unsafe { libc::poll(&raw mut pfd, 1, millis) };
        rc > 0 && pfd.revents & libc::POLLIN != 0
    }

    /// Reads every ring that came; whether one was for a port of `pool` (inclusive ranges,
    /// sorted) or named no port.
    fn drain(&self, pool: &[(u16, u16)]) -> bool {
        let mut relevant = false;
        let mut buf = [0u8; 16];
        loop {
            // SAFETY: a valid buffer of its length; the socket does not block.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            let Ok(n) = usize::try_from(n) else {
                return relevant;
            };
            relevant = relevant || n != 2 || in_pool(pool, u16::from_be_bytes([buf[0], buf[1]]));
        }
    }
}

/// Starts the watcher thread: `wanted` tells whether any thread waits (with `true`: blocking
/// until one does), `wake` wakes them all. `false` if no thread can be started: the waiting
/// threads then poll.
pub(crate) fn start_watcher(
    store: &'static KernelStore,
    mut pool: Vec<(u16, u16)>,
    wanted: impl Fn(bool) -> bool + Send + 'static,
    wake: impl Fn() + Send + 'static,
) -> bool {
    pool.sort_unstable();
    crate::background::spawn("allocport-bell", move || watch(store, &pool, wanted, wake)).is_ok()
}

/// Whether `port` lies in one of the sorted inclusive ranges of `pool`.
fn in_pool(pool: &[(u16, u16)], port: u16) -> bool {
    let i = pool.partition_point(|&(lo, _)| lo <= port);
    i > 0 && port <= pool[i - 1].1
}

/// The watcher: idle, with no doorbell bound, while nobody waits.
fn watch(store: &KernelStore, pool: &[(u16, u16)], wanted: impl Fn(bool) -> bool, wake: impl Fn()) {
    loop {
        wanted(true);
        let Some(mut bell) = Bell::bind_lowest(store, DOORBELLS) else {
            // Every number is taken: wake the waiters to look now and then instead.
            while wanted(false) {
                std::thread::sleep(NO_BELL_POLL);
                wake();
            }
            continue;
        };
        // Releases before the bell was bound rang nobody: look once more.
        wake();
        loop {
            if bell.wait(RECHECK) {
                std::thread::sleep(COALESCE);
                if bell.drain(pool) {
                    wake();
                }
            } else if !wanted(false) {
                break;
            } else {
                bell = bell.move_lower(store);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_is_in_the_pool_when_a_range_holds_it() {
        let pool = [(10, 20), (30, 30), (40, 65535)];
        for port in [10, 15, 20, 30, 40, 65535] {
            assert!(in_pool(&pool, port), "{port}");
        }
        for port in [0, 9, 21, 29, 31, 39] {
            assert!(!in_pool(&pool, port), "{port}");
        }
        assert!(!in_pool(&[], 5));
    }
}
